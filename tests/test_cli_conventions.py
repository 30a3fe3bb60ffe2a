"""The command line's conventions, through the real CLI in a subprocess: `--json` prints one JSON
object on stdout (progress and messages on stderr) with the documented keys; `-q` silences progress
bars and info messages but keeps warnings and errors; an error under `--json` is one `Error:` line."""

import json
import os
import subprocess
import sys
import uuid

import pytest

from conftest import ALICE, REPO, tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
BARS = ("%|", "it/s", "s/it")  # what a tqdm progress bar writes
LOUD = {"HF_HUB_DISABLE_PROGRESS_BARS": None, "HF_DATASETS_DISABLE_PROGRESS_BARS": None, "TQDM_DISABLE": None}  # unset, as on a terminal


def pf(*args, env=None, cwd=REPO):
    full_env = {**os.environ, **(env or {})}
    for k, v in list(full_env.items()):
        if v is None:
            full_env.pop(k)
    return subprocess.run([sys.executable, "-m", "pairforge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=600)


def one_json(res) -> dict:
    assert res.returncode == 0, res.stderr[-3000:]
    obj = json.loads(res.stdout)  # the whole of stdout is one JSON object
    assert isinstance(obj, dict)
    return obj


def no_bars(text: str) -> bool:
    return not any(b in text for b in BARS)


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    """A build with an unused `context` column (a warning -q must keep), pushed to the local Hub."""
    folder = tmp_path_factory.mktemp("conventions")
    rows = [json.loads(line) for line in open(DEMO)]
    data = folder / "sft.jsonl"
    data.write_text("".join(json.dumps({"prompt": r["messages"][-2]["content"], "response": r["messages"][-1]["content"],
                                        "context": "unused"}) + "\n" for r in rows))
    recipe = tiny_recipe(tiny_model, {"path": str(data), "format": "plain",
                                      "columns": {"prompt": "prompt", "response": "response"}},
                         folder / "pairs", split={"test_size": 0.2})
    path = folder / "recipe.json"
    path.write_text(json.dumps(recipe))
    run_build(recipe_from_dict(recipe), quiet=True)
    repo = f"alice/conv-{uuid.uuid4().hex[:6]}"
    one_json(pf("push", folder / "pairs", "--repo", repo, "--token", ALICE, "--json"))
    return folder, path, repo


def test_build_json_and_quiet_keep_the_warning(built):
    folder, recipe, _ = built
    res = pf("build", recipe, "--json", "-q", "--set", f"output.dir={folder / 'again'}", env=LOUD)
    s = one_json(res)
    assert {"rows_written", "splits", "funnel", "drops", "fingerprint", "output_dir"} <= set(s)
    assert res.stderr.strip().splitlines() == [l for l in res.stderr.strip().splitlines() if l.startswith("warning:")]
    assert "warning: source columns context are not used" in res.stderr


def test_push_json_and_quiet(built):
    folder, _, repo = built
    again = one_json(pf("push", folder / "pairs", "--repo", repo, "--token", ALICE, "--json"))
    assert again["commit"] is None and again["repo_id"] == repo and "card" not in again
    assert {"revision", "upload", "unchanged", "delete", "dry_run", "pr_url", "load_revision"} <= set(again)
    other = f"alice/conv-q-{uuid.uuid4().hex[:6]}"
    res = pf("push", folder / "pairs", "--repo", other, "--token", ALICE, "-q", env=LOUD)
    assert res.returncode == 0 and res.stdout.startswith("Pushed ") and res.stderr == "", res.stderr


def test_inspect_json_and_quiet(built):
    folder, _, repo = built
    local = one_json(pf("inspect", folder / "pairs", "--json", "-n", "2"))
    assert local["target"] == str(folder / "pairs") and len(local["samples"]) == 2
    assert {"split", "rows_read", "rows_written", "splits", "funnel", "drops", "drops_total", "lengths"} <= set(local)
    quiet = pf("inspect", repo, "--token", ALICE, "-n", "1", "-q", env={**LOUD, "HF_HOME": str(folder / "hf")})
    assert quiet.returncode == 0 and quiet.stderr == "" and "Funnel" in quiet.stdout, quiet.stderr


def test_train_ipo_json_and_quiet(built, tiny_model, tmp_path):
    folder, _, _ = built
    args = ["train-ipo", "--dataset", folder / "pairs", "--model", tiny_model, "--set", "max_steps=2",
            "--set", "max_length=128", "--set", "logging_steps=1"]
    loud = pf(*args, "--output-dir", tmp_path / "m1", "--json", env=LOUD)
    s = one_json(loud)
    assert s["steps"] == 2 and {"train_pairs", "eval_pairs", "train_loss", "train_seconds", "preference_before",
                                "preference_after", "lineage", "output_dir", "total_seconds"} <= set(s)
    assert "'loss'" in loud.stderr and not no_bars(loud.stderr)  # what -q removes is there without it
    quiet = pf(*args, "--output-dir", tmp_path / "m2", "-q", env=LOUD)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert "'loss'" not in quiet.stderr and no_bars(quiet.stderr) and "Next self-play" not in quiet.stderr
    assert quiet.stdout.startswith("Trained 2 steps")


def test_spin_json_and_quiet_keep_the_warning(built, tiny_model, tmp_path):
    _, recipe, _ = built
    res = pf("spin", recipe, "--model", tiny_model, "-k", "1", "--train-set", "max_steps=1", "--train-set",
             "max_length=128", "--output-dir", tmp_path / "s1", "--json", "-q", env=LOUD)
    s = one_json(res)
    assert s["output_dir"] == str(tmp_path / "s1") and s["report"] is None
    assert [r["iteration"] for r in s["iterations"]] == [1] and s["iterations"][0]["steps"] == 1
    assert "iteration 1: built" not in res.stderr and "'loss'" not in res.stderr and no_bars(res.stderr)
    assert "warning: source columns context are not used" in res.stderr


@pytest.mark.parametrize("args", [
    ["train-ipo", "--dataset", "no/such/folder/here", "--json"],
    ["inspect", "./no-such-build", "--json"],
    ["build", "no-such-recipe.yaml", "--json"],
])
def test_an_error_under_json_is_one_line_on_stderr(args, tmp_path):
    res = pf(*args, cwd=tmp_path)
    assert res.returncode in (1, 2) and res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr
