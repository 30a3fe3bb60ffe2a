"""`pairforge spin`: the self-play loop on the tiny model; killed between iterations and rerun,
it ends with the same lineage as an uninterrupted loop."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.lineage import LINEAGE_FILE, local_label

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
TRAIN = ["--train-set", "max_steps=2", "--train-set", "max_length=128", "--train-set", "learning_rate=0.001",
         "--train-set", "per_device_train_batch_size=4"]


def spin_cmd(tiny_model, recipe, out, iterations=2, extra=()):
    return [sys.executable, "-m", "pairforge.cli", "spin", str(recipe), "--model", tiny_model, "-k", str(iterations),
            "--output-dir", str(out), *TRAIN, *extra]


def recipe_file(tiny_model, tmp_path):
    r = tiny_recipe(tiny_model, {"path": DEMO, "limit": 12}, tmp_path / "unused", split={"test_size": 0.25})
    return write_recipe(tmp_path / "spin.yaml", r)


def lineages(out, tiny_model):
    """Each iteration's model lineage and its pairs' lineage, with content digests masked (two runs
    train to the same structure; a kill must not change it)."""
    rows = []
    for i in (1, 2):
        lin = (out / f"iter-{i}" / "model" / "pairforge_lineage.json").read_text()
        stats = json.loads((out / f"iter-{i}" / "pairs" / "stats.json").read_text())
        text = json.dumps([json.loads(lin), stats.get("lineage")])
        for path in (str(out), tiny_model, str(Path(tiny_model).parent)):  # published: never a local path
            assert path not in text and path not in (out / f"iter-{i}" / "pairs" / "README.md").read_text(), path
        rows.append(json.loads(re.sub(r"sha256 [0-9a-f]{16}", "sha256 D", text)))
    return rows


def test_spin_killed_between_iterations_resumes_with_the_same_lineage(tiny_model, tmp_path):
    recipe = recipe_file(tiny_model, tmp_path)
    ref = tmp_path / "ref"
    res = subprocess.run(spin_cmd(tiny_model, recipe, ref, extra=["--eval"]), capture_output=True, text=True,
                         cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    expected = lineages(ref, tiny_model)
    assert [x[0]["iteration"] for x in expected] == [1, 2]
    assert expected[0][1] is None  # iteration 1's weak model is the start model: no parent
    it1, it2 = json.loads((ref / "iter-1" / "model" / LINEAGE_FILE).read_text()), \
        json.loads((ref / "iter-2" / "model" / LINEAGE_FILE).read_text())
    assert it1["dataset"] == local_label(ref / "iter-1" / "pairs") and it1["base_model"] == local_label(tiny_model)
    assert it2["dataset"] == local_label(ref / "iter-2" / "pairs") and it2["base_model"] == local_label(ref / "iter-1" / "model")
    pairs2 = json.loads((ref / "iter-2" / "pairs" / "stats.json").read_text())["lineage"]
    assert pairs2 == {"iteration": 1, "parent_dataset": it1["dataset"], "parent_model": it1["base_model"],
                      "weak_model": local_label(ref / "iter-1" / "model")}
    card = (ref / "iter-2" / "pairs" / "README.md").read_text()
    assert f"| Parent dataset | {it1['dataset']} |" in card and f"| Parent model | {it1['base_model']} |" in card
    assert (ref / "spin_eval.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (ref / "spin_eval.md").read_text()
    assert table.count("\n") == 4 and "| 2 |" in table

    out = tmp_path / "killed"
    proc = subprocess.Popen(spin_cmd(tiny_model, recipe, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            cwd=REPO, env={**os.environ, "OMP_NUM_THREADS": "1"})
    state = out / "spin.json"
    deadline = time.time() + 600
    while proc.poll() is None and time.time() < deadline:
        if state.is_file() and "train:1" in json.loads(state.read_text())["done"]:
            break
        time.sleep(0.05)
    assert proc.poll() is None, "the loop ended before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "iter-2" / "model" / "train_summary.json").exists()
    res = subprocess.run(spin_cmd(tiny_model, recipe, out), capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-2000:]
    assert "iteration 1: trained" in res.stderr
    assert lineages(out, tiny_model) == expected
    assert json.loads(state.read_text())["done"] == ["build:1", "train:1", "build:2", "train:2"]


def test_spin_refuses_another_loop_in_the_same_folder(tiny_model, tmp_path):
    out = tmp_path / "o"
    out.mkdir()
    (out / "spin.json").write_text(json.dumps({"model": "other", "recipe": None, "done": []}))
    res = subprocess.run(spin_cmd(tiny_model, recipe_file(tiny_model, tmp_path), out), capture_output=True,
                         text=True, cwd=REPO)
    assert res.returncode == 1 and res.stderr.strip().startswith("Error:") and "another --output-dir" in res.stderr
    assert "Traceback" not in res.stderr


def test_spin_refuses_a_rerun_with_other_settings(tmp_path):
    """A finished step is skipped on rerun: changing a setting it depended on would mix iterations."""
    import pytest

    from pairforge.errors import PairforgeError
    from pairforge.spin.loop import SpinPlan, _mark, _state

    recipe = tmp_path / "r.yaml"
    recipe.write_text("source: {path: x.jsonl}\n")
    plan = SpinPlan(str(recipe), "m", 2, tmp_path / "o", ["source.limit=8"], None, ["max_steps=2"])
    plan.out.mkdir()
    _mark(plan, _state(plan), "build:1")
    assert _state(plan)["done"] == ["build:1"]  # the same settings resume
    assert _state(SpinPlan(str(recipe), "m", 5, plan.out, ["source.limit=8"], None, ["max_steps=2"]))  # more iterations
    for other, what in ((SpinPlan(str(recipe), "m", 2, plan.out, ["source.limit=9"], None, ["max_steps=2"]),
                         "build_overrides"),
                        (SpinPlan(str(recipe), "m", 2, plan.out, ["source.limit=8"], None, ["max_steps=3"]),
                         "train_overrides")):
        with pytest.raises(PairforgeError, match=f"other settings \\({what} changed"):
            _state(other)
    recipe.write_text("source: {path: y.jsonl}\n")  # the recipe file's content, not just its name
    with pytest.raises(PairforgeError, match="recipe_sha256 changed"):
        _state(plan)


def test_spin_redoes_a_recorded_step_whose_outputs_are_gone(tmp_path):
    """spin.json says iteration 1 was built and trained, but iter-1/ was deleted: the loop builds and
    trains it again (and what came after it), instead of failing on the missing files."""
    from pairforge.spin.loop import STATE, SpinPlan, _forget_lost_steps, _mark, _state

    plan = SpinPlan(None, "m", 2, tmp_path / "o")
    plan.out.mkdir()
    state = _state(plan)
    for step in ("build:1", "train:1", "build:2"):
        _mark(plan, state, step)
    it1 = plan.out / "iter-1"
    (it1 / "pairs").mkdir(parents=True)
    (it1 / "pairs" / "stats.json").write_text("{}")
    _forget_lost_steps(plan, state, 1, it1 / "pairs", it1 / "model")  # trained model gone: train:1 on is redone
    assert state["done"] == ["build:1"] == json.loads((plan.out / STATE).read_text())["done"]
    (it1 / "pairs" / "stats.json").unlink()
    _forget_lost_steps(plan, state, 1, it1 / "pairs", it1 / "model")
    assert state["done"] == [] == json.loads((plan.out / STATE).read_text())["done"]
