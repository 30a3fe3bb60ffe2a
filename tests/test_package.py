"""pairforge as an installed package: the wheel carries the shipped recipes and card templates, and
the commands find the shipped recipes by name from any directory."""

import shutil
import subprocess
import sys
import zipfile

import pytest
import yaml
from click.testing import CliRunner

from conftest import REPO
from pairforge.cli import cli
from pairforge.errors import RecipeError
from pairforge.recipe import load_recipe
from pairforge.shipped import EXAMPLE, find_recipe, shipped
from pairforge.train.config import load_train_config


def test_the_wheel_ships_the_recipes_demo_data_and_card_templates(tmp_path):
    # from a clean copy: setuptools may reuse a stale build/ folder of the checkout
    src = tmp_path / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=shutil.ignore_patterns(
        ".venv*", "build", "out", ".git", "__pycache__", "*.egg-info", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w",
                    str(tmp_path), str(src)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("pairforge-*.whl")
    zf = zipfile.ZipFile(wheel)
    names = set(zf.namelist())
    assert zf.read("pairforge/cli.py") == (REPO / "pairforge" / "cli.py").read_bytes()
    for f in ("demo/recipe.yaml", "demo/ipo.yaml", "demo/example.yaml", "demo/sft.jsonl",
              "hub/templates/dataset_card.md.j2", "hub/templates/layout_usage.md.j2", "hub/templates/model_card.md.j2"):
        assert f"pairforge/{f}" in names, f


def test_shipped_recipes_are_found_by_name_from_any_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for arg in ("ipo", "ipo.yaml", "recipes/ipo.yaml"):
        assert find_recipe(arg, "train-ipo") == shipped("train-ipo", "ipo")
    cfg = load_train_config("ipo", ["max_steps=3"], dataset="d", model="m")
    assert cfg.loss_type == ["ipo"] and cfg.max_steps == 3 and cfg.lora.enabled
    assert load_recipe("demo").to_dict() == load_recipe(None).to_dict()
    # the repository's recipes/ are links to the shipped files, so both read the same text
    assert (REPO / "recipes" / "ipo.yaml").read_text() == shipped("train-ipo", "ipo").read_text()
    (tmp_path / "ipo.yaml").write_text("beta: 0.2\n")  # a file of that name here wins
    assert load_train_config("ipo.yaml", [], dataset="d", model="m").beta == 0.2


@pytest.mark.parametrize("args, command", [(["build", "nope.yaml"], "build"), (["train-ipo", "recipes/nope.yaml"], "train-ipo"),
                                           (["build", "dmeo.yml"], "build")])
def test_a_missing_recipe_names_the_shipped_ones(tmp_path, monkeypatch, args, command):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and res.output.startswith(f"Error: file not found: {args[1]} ("), res.output
    assert ("'demo'" if command == "build" else "'ipo'") in res.output and len(res.output.splitlines()) == 1
    # the build hint names the command that writes a build recipe; train-ipo's never sends there
    assert ("pairforge recipe > my_recipe.yaml" in res.output) == (command == "build")
    assert ("did you mean 'demo'?" in res.output) == (args[1] == "dmeo.yml")
    with pytest.raises(RecipeError, match="not a file"):
        find_recipe(tmp_path, command)


@pytest.mark.parametrize("args, other", [(["build", "ipo"], "pairforge train-ipo ipo"),
                                         (["train-ipo", "recipes/demo.yaml"], "pairforge build demo")])
def test_another_commands_recipe_is_named_as_such(tmp_path, monkeypatch, args, other):
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 2 and len(res.output.splitlines()) == 1, res.output
    assert f"is the shipped {other.split()[1]} recipe, not a {args[0]} one ({other})" in res.output


def test_recipe_without_a_flag_prints_the_annotated_example_which_builds_a_valid_recipe(tmp_path):
    res = CliRunner().invoke(cli, ["recipe"])
    assert res.exit_code == 0 and res.output == EXAMPLE.read_text()
    assert sum(line.lstrip().startswith("#") or " # " in line for line in res.output.splitlines()) > 20
    (tmp_path / "my_recipe.yaml").write_text(res.output)
    (tmp_path / "data.jsonl").write_text('{"instruction": "Say hi.", "input": "", "output": "Hi."}\n')
    r = load_recipe(tmp_path / "my_recipe.yaml")
    assert r.resolve_path(r.source.path) == tmp_path / "data.jsonl"
    assert yaml.safe_load(res.output)["output"]["format"] == r.output.format == "conversational"


def test_lora_without_peft_is_one_error_line(monkeypatch):
    from pairforge.errors import PairforgeError
    from pairforge.train.ipo import _peft_config

    monkeypatch.setitem(sys.modules, "peft", None)  # `import peft` raises ImportError
    cfg = load_train_config("ipo", [], dataset="d", model="m")
    with pytest.raises(PairforgeError, match=r"^lora.enabled: LoRA needs peft: pip install 'pairforge\[lora\]'"):
        _peft_config(cfg.lora)
