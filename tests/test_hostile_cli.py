"""Hostile inputs through the real CLI in a subprocess: each one is exactly one `Error:` line and a
non-zero exit, never a traceback."""

import os
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe, write_recipe
from pairforge.cli import cli
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def pf(*args, env=None):
    return subprocess.run([sys.executable, "-m", "pairforge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env={**os.environ, **(env or {})}, timeout=300)


def assert_one_error(res):
    text = res.stdout + res.stderr
    assert res.returncode != 0, text
    assert "Traceback" not in text, text
    assert sum(line.startswith("Error:") for line in text.splitlines()) == 1, text
    return text


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("hostile") / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out)), quiet=True)
    return out


def _recipe(tmp_path, tiny_model, out, **sections):
    return write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, out, **sections))


def case_output_is_a_file(tmp_path, tiny_model, built):
    (tmp_path / "f").write_text("x")
    return ["build", _recipe(tmp_path, tiny_model, tmp_path / "f")], "is a file"


def case_output_under_a_file(tmp_path, tiny_model, built):  # unwritable even for root
    (tmp_path / "f").write_text("x")
    return ["build", _recipe(tmp_path, tiny_model, tmp_path / "f" / "out")], "cannot write there"


def case_output_inside_source_folder(tmp_path, tiny_model, built):
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.jsonl").write_text((REPO / "pairforge" / "demo" / "sft.jsonl").read_text())
    r = tiny_recipe(tiny_model, {"path": str(src)}, src / "out")
    return ["build", write_recipe(tmp_path / "r.yaml", r)], "inside the source folder"


def case_greedy_with_n_samples(tmp_path, tiny_model, built):
    return ["build", _recipe(tmp_path, tiny_model, tmp_path / "o"), "--set", "weak_model.sampling.temperature=0",
            "--set", "weak_model.sampling.n=3"], "temperature 0"


def case_invalid_repo_id(tmp_path, tiny_model, built):
    return ["push", built, "--repo", "bad id!", "--token", ALICE], "not a valid Hub repo id"


def case_train_missing_model(tmp_path, tiny_model, built):
    return ["train-ipo", "--dataset", built, "--model", tmp_path / "no-such-model", "--output-dir",
            tmp_path / "ipo"], "no such folder"


def case_train_incomplete_folder(tmp_path, tiny_model, built):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(built, copy)
    (copy / "pairforge.manifest.json").unlink()
    return ["train-ipo", "--dataset", copy, "--model", tiny_model, "--output-dir", tmp_path / "ipo"], "pairforge build"


def case_inspect_wrong_split(tmp_path, tiny_model, built):
    return ["inspect", built, "--split", "nope"], "split 'nope'"


def case_inspect_missing_local_folder(tmp_path, tiny_model, built):
    return ["inspect", tmp_path / "no" / "such" / "folder"], "no such folder"


def case_inspect_relative_missing_folder(tmp_path, tiny_model, built):
    return ["inspect", "./out/never-built"], "no such folder"


CASES = [case_output_is_a_file, case_output_under_a_file, case_output_inside_source_folder, case_greedy_with_n_samples,
         case_invalid_repo_id, case_train_missing_model, case_train_incomplete_folder, case_inspect_wrong_split,
         case_inspect_missing_local_folder, case_inspect_relative_missing_folder]


@pytest.mark.parametrize("case", CASES, ids=[c.__name__[5:] for c in CASES])
def test_hostile_input_is_one_error_line(case, tmp_path, tiny_model, built):
    args, expected = case(tmp_path, tiny_model, built)
    text = assert_one_error(pf(*args))
    assert expected in text


@pytest.mark.parametrize("when,landed", [("before", False), ("after", True)])
def test_connection_drop_during_commit_says_whether_it_landed(hub, built, when, landed):
    repo = f"alice/drop-{uuid.uuid4().hex[:8]}"
    hub.state.drop_commit = when
    res = CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE])
    hub.state.drop_commit = None
    assert res.exit_code == 1 and "Traceback" not in res.output
    lines = [l for l in res.output.splitlines() if l.startswith("Error:")]
    assert len(lines) == 1 and "connection to the Hub dropped" in lines[0], res.output
    state = hub.state.repos[("dataset", repo)]
    assert (len(state.commits) == 2) is landed  # the repo's initial commit, plus ours if it landed
    assert ("landed anyway" in lines[0]) is landed and ("nothing was committed" in lines[0]) is not landed
    if not landed:  # the fix the message names works
        assert CliRunner().invoke(cli, ["push", str(built), "--repo", repo, "--token", ALICE]).exit_code == 0


def test_dry_run_offline_touches_nothing_and_still_renders(built):
    res = pf("push", built, "--repo", "alice/offline", "--dry-run", env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert res.returncode == 0, res.stderr
    assert "<!-- pairforge:begin -->" in res.stdout and "could not read the remote" in res.stderr
    res = pf("push", built, "--repo", "alice/offline", "--token", ALICE, env={"HF_ENDPOINT": "http://127.0.0.1:9"})
    assert "cannot reach the Hub" in assert_one_error(res)
