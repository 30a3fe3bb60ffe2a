"""A build never deletes or overwrites the user's files: an input inside what a build replaces,
output.dir inside an input folder, or an existing folder pairforge never built is refused with
one Error line, and the user's files stay byte-identical."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.cli import cli
from pairforge.pipeline.build import run_build
from pairforge.pipeline.publish import verify
from pairforge.recipe import recipe_from_dict

DEMO = (REPO / "pairforge" / "demo" / "sft.jsonl").read_bytes()


def snapshot(root: Path) -> dict:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def refused(tmp_path, recipe: dict, *expect: str) -> str:
    res = CliRunner().invoke(cli, ["build", str(write_recipe(tmp_path / "r.yaml", recipe))])
    lines = res.output.strip().splitlines()
    assert res.exit_code in (1, 2) and len(lines) == 1 and lines[0].startswith("Error: "), res.output
    assert "Traceback" not in res.output
    for e in expect:
        assert e in lines[0], lines[0]
    return lines[0]


def test_a_source_file_in_out_data_is_refused_and_left_alone(tiny_model, tmp_path):
    """A real model: before the fix this build ran, deleted sft.jsonl and replaced README.md."""
    proj = tmp_path / "proj"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "sft.jsonl").write_bytes(DEMO)
    (proj / "README.md").write_text("# my project\n")
    before = snapshot(proj)
    line = refused(tmp_path, tiny_recipe(tiny_model, {"path": str(proj / "data" / "sft.jsonl")}, proj),
                   "source.path", str(proj / "data" / "sft.jsonl"), "output.dir", str(proj))
    assert "data" in line and "move it out" in line
    assert snapshot(proj) == before


def test_relative_paths_as_in_the_report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "proj" / "data").mkdir(parents=True)
    (tmp_path / "proj" / "data" / "sft.jsonl").write_bytes(DEMO)
    before = snapshot(tmp_path / "proj")
    recipe = tiny_recipe("unused-model", {"path": "proj/data/sft.jsonl"}, Path("proj"))
    with pytest.raises(Exception, match=r"source.path: proj/data/sft.jsonl is inside output.dir proj"):
        run_build(recipe_from_dict(recipe), quiet=True)
    assert snapshot(tmp_path / "proj") == before


def test_output_dir_equal_to_a_source_folder_is_refused(tiny_model, tmp_path):
    proj = tmp_path / "proj2"
    (proj / "data").mkdir(parents=True)
    (proj / "data" / "train.jsonl").write_bytes(DEMO)
    before = snapshot(proj)
    refused(tmp_path, tiny_recipe(tiny_model, {"path": str(proj / "data")}, proj), str(proj / "data"))
    refused(tmp_path, tiny_recipe("unused-model", {"path": str(proj)}, proj), "inside the source folder")
    assert snapshot(proj) == before


def test_a_local_hub_folder_and_eval_sets_are_inputs_too(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    (out / ".pairforge_work").mkdir(parents=True)  # a pairforge folder: the foreign-folder check passes
    (out / ".pairforge_work" / "train.jsonl").write_bytes(DEMO)
    (out / "_work").mkdir()  # the work folder's old name: a build replaces it too
    (out / "_work" / "train.jsonl").write_bytes(DEMO)
    (out / "stats.json").write_text("{}")
    before = snapshot(out)
    src = tmp_path / "src.jsonl"
    src.write_bytes(DEMO)
    refused(tmp_path, tiny_recipe("unused-model", {"hub": "out/.pairforge_work"}, out), "source.hub: out/.pairforge_work")
    refused(tmp_path, tiny_recipe("unused-model", {"hub": "out/_work"}, out), "source.hub: out/_work")
    refused(tmp_path, tiny_recipe("unused-model", {"path": str(src)}, out,
                                  decontaminate={"sets": [{"path": str(out / "stats.json")}]}),
            "decontaminate.sets[0].path", "stats.json")
    refused(tmp_path, tiny_recipe("unused-model", {"path": str(src)}, out, decontaminate={"sets": [str(tmp_path)]}),
            "inside the source folder")
    assert snapshot(out) == before


def test_a_folder_pairforge_never_built_is_not_replaced(tiny_model, tmp_path):
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "notes.txt").write_text("keep me")
    (mine / "README.md").write_text("# mine\n")
    (mine / "recipe.yaml").write_text("mine: true\n")
    src = tmp_path / "sft.jsonl"
    src.write_bytes(DEMO)
    before = snapshot(mine)
    refused(tmp_path, tiny_recipe(tiny_model, {"path": str(src)}, mine),
            str(mine), "data, recipe.yaml, README.md", "not a pairforge build folder")
    res = CliRunner().invoke(cli, ["build", str(tmp_path / "r.yaml"), "--fresh"])
    assert res.exit_code == 1 and "not a pairforge build folder" in res.output
    assert snapshot(mine) == before


def test_a_source_beside_the_published_names_builds_and_is_kept(tiny_model, tmp_path):
    """Inputs inside output.dir but outside what a build replaces are fine, and so is a rebuild."""
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "sft.jsonl").write_bytes(DEMO)
    (proj / "notes.txt").write_text("mine")
    recipe = recipe_from_dict(tiny_recipe(tiny_model, {"path": str(proj / "sft.jsonl"), "limit": 6}, proj))
    run_build(recipe, quiet=True)
    run_build(recipe, fresh=True, quiet=True)
    verify(proj)
    assert (proj / "sft.jsonl").read_bytes() == DEMO and (proj / "notes.txt").read_text() == "mine"
    assert json.loads((proj / "stats.json").read_text())["rows_read"] == 6


@pytest.mark.parametrize("work", ["file", "folder"])
def test_a_users_own_work_named_file_or_folder_makes_no_build_folder(tmp_path, work):
    """`_work` was the work folder's name before it was hidden: only a `_work/` holding pairforge's shard
    manifest is a build's (and adopted); a user's `_work` file or folder (a CI runner's, say) neither
    lets a build replace their data/ and README.md nor is moved or deleted."""
    mine = tmp_path / "mine"
    (mine / "data").mkdir(parents=True)
    (mine / "data" / "precious.txt").write_text("mine")
    (mine / "README.md").write_text("my notes")
    if work == "file":
        (mine / "_work").write_text("")
    else:
        (mine / "_work").mkdir()
        (mine / "_work" / "job.txt").write_text("runner state")
    before = snapshot(mine)
    src = tmp_path / "src.jsonl"
    src.write_bytes(DEMO)
    refused(tmp_path, tiny_recipe("unused-model", {"path": str(src)}, mine), "is not a pairforge build folder")
    assert snapshot(mine) == before
