"""Errors that name the cause, not the symptom: a Hub without Xet storage (the upload failed as a
"dropped connection"), a dataset name that is neither a folder here nor a dataset on the Hub (it
failed after 25 s of retries, naming a README.md request)."""

import importlib.util
import os
import subprocess
import sys
import uuid

import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe
from pairforge.cli import cli
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def pf(*args, env=None):
    full = {**os.environ, **(env or {})}
    full = {k: v for k, v in full.items() if v is not None}
    return subprocess.run([sys.executable, "-m", "pairforge.cli", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, env=full, timeout=300)


def one_error(res) -> str:
    assert res.returncode != 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
    lines = [line for line in res.stderr.splitlines() if line.strip() and "Processing Files" not in line
             and "New Data Upload" not in line]  # hf_xet's own progress lines, before the failure
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr[-3000:]
    return lines[0]


@pytest.fixture(scope="module")
def built(tiny_model, tmp_path_factory):
    out = tmp_path_factory.mktemp("causes") / "pairs"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 8}, out)), quiet=True)
    return out


@pytest.mark.skipif(importlib.util.find_spec("hf_xet") is None, reason="huggingface_hub uploads through Xet only with hf_xet")
def test_a_hub_without_xet_is_named_with_the_fix(hub, built):
    out = built
    repo = f"alice/xet-{uuid.uuid4().hex[:6]}"
    line = one_error(pf("push", out, "--repo", repo, "--token", ALICE, env={"HF_HUB_DISABLE_XET": None}))
    assert "has no Xet storage endpoint" in line and "set HF_HUB_DISABLE_XET=1" in line, line
    assert "connection" not in line  # not the symptom
    remote = hub.state.repos.get(("dataset", repo))
    head = remote.resolve("main") if remote else None
    assert head is None or not any(p.startswith("data/") for p in head.files)  # nothing was committed


def test_a_dataset_that_is_no_folder_and_not_on_the_hub(hub, tmp_path):
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", "alice/no-such-pairs", "--model", "m",
                                   "--output-dir", str(tmp_path / "m"), "--token", ALICE])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith("Error: dataset: no folder 'alice/no-such-pairs' here, and the Hub at ")
    assert "has no dataset alice/no-such-pairs (404)" in res.output


def test_a_dataset_name_with_the_hub_unreachable_fails_at_once(tmp_path):
    line = one_error(pf("train-ipo", "--dataset", "someone/pairs", "--model", "m", "--output-dir", tmp_path / "m",
                        env={"HF_ENDPOINT": "http://127.0.0.1:9"}))
    assert line.startswith("Error: dataset: no folder 'someone/pairs' here, and cannot reach the Hub at "
                           "http://127.0.0.1:9"), line


@pytest.mark.parametrize("flag, where", [("--model", "model"), ("--set", "ref_model")])
def test_train_models_are_named_by_their_own_key(built, tiny_model, tmp_path, flag, where):
    """train-ipo's --model and ref_model were blamed on the build recipe's weak_model.model."""
    (tmp_path / "weights.bin").write_text("not a model folder")
    model, extra = (tmp_path / "weights.bin", []) if flag == "--model" else (tiny_model, ["--set", "ref_model=./no-such"])
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(built), "--model", str(model), *extra,
                                   "--output-dir", str(tmp_path / "m"), "--set", "max_steps=1"])
    assert res.exit_code == 1 and len(res.output.strip().splitlines()) == 1, res.output
    assert res.output.startswith(f"Error: {where}: ") and "weak_model" not in res.output, res.output
