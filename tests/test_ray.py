"""The Ray executor: same rows as the local executor for the same recipe and seed, whatever the
number of workers; a killed Ray build resumes without duplicates."""

import os
import signal
import subprocess
import sys
import time

import datasets
import pytest

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

ray = pytest.importorskip("ray")
DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
    yield
    ray.shutdown()


def recipe(tiny_model, out, workers=2):
    r = tiny_recipe(tiny_model, {"path": DEMO}, out, generation={"shard_size": 6, "ray": {"concurrency": workers}},
                    weak_model={"model": tiny_model, "device": "cpu", "batch_size": 4,
                                "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 16, "n": 1, "seed": 3}})
    return r


def rows(out):
    dd = datasets.load_dataset(str(out))
    return {s: sorted((r["id"], r["rejected"][0]["content"], r["rejected_tokens"]) for r in dd[s]) for s in dd}


def test_ray_equals_local_for_any_worker_count(local_ray, tiny_model, tmp_path):
    local = run_build(recipe_from_dict(recipe(tiny_model, tmp_path / "local")), quiet=True)
    for workers in (1, 2):
        out = tmp_path / f"ray{workers}"
        s = run_build(recipe_from_dict(recipe(tiny_model, out, workers)), quiet=True, executor="ray")
        assert s["generation"]["executor"] == "ray"
        assert rows(out) == rows(tmp_path / "local")
        assert s["funnel"] == local["funnel"] and s["splits"] == local["splits"]
        assert s["fingerprint"] == local["fingerprint"]  # the worker count is not part of the output


def test_killed_ray_build_resumes_without_duplicates(tiny_model, tmp_path):
    ref = tmp_path / "ref"
    run_build(recipe_from_dict(recipe(tiny_model, ref)), quiet=True)
    out = tmp_path / "killed"
    rf = write_recipe(tmp_path / "r.yaml", recipe(tiny_model, out))
    cmd = [sys.executable, "-m", "pairforge.cli", "build", str(rf), "-q", "--executor", "ray"]
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    shards = out / ".pairforge_work" / "shards"
    deadline = time.time() + 240
    while time.time() < deadline and proc.poll() is None and len(list(shards.glob("*.done"))) < 2:
        time.sleep(0.05)
    killed = proc.poll() is None
    os.killpg(proc.pid, signal.SIGKILL)  # the driver; the Ray daemons it started die with it
    proc.wait()
    assert killed, "the Ray build finished before it could be killed"
    done_before = len(list(shards.glob("*.done")))
    assert 0 < done_before < 8
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]
    assert f"{done_before} of 8 shards resumed" in res.stdout or "shards resumed" in res.stdout
    got = rows(out)
    assert got == rows(ref)
    ids = [r[0] for split in got.values() for r in split]
    assert len(ids) == len(set(ids))
