"""Kill a build with SIGKILL at several moments, rerun it: the final dataset equals an
uninterrupted run with the same seed — no row lost, none doubled."""

import json
import os
import signal
import subprocess
import sys
import time

import datasets

from conftest import REPO, tiny_recipe, write_recipe

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def recipe_file(tiny_model, tmp_path, out):
    r = tiny_recipe(tiny_model, {"path": DEMO}, out, generation={"shard_size": 3},
                    weak_model={"model": tiny_model, "device": "cpu", "batch_size": 3,
                                "sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 40, "n": 2, "seed": 7}})
    return write_recipe(tmp_path / f"{out.name}.yaml", r)


def run(recipe, check=True):
    return subprocess.run([sys.executable, "-m", "pairforge.cli", "build", str(recipe), "-q"],
                          capture_output=True, text=True, check=check, cwd=REPO)


def start(recipe):
    return subprocess.Popen([sys.executable, "-m", "pairforge.cli", "build", str(recipe), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)


def markers(out):
    d = out / ".pairforge_work" / "shards"
    return len(list(d.glob("*.done"))) if d.is_dir() else 0


def kill_when(proc, out, done, extra_delay):
    deadline = time.time() + 120
    while markers(out) < done and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    time.sleep(extra_delay)  # 0: right after a marker; > 0: in the middle of the next shard
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return True
    return False


def table(out):
    dd = datasets.load_dataset(str(out))
    return {s: sorted(((r["id"], r["sample_index"]), r["rejected"][0]["content"], r["rejected_tokens"])
                      for r in dd[s]) for s in dd}


def test_sigkill_at_several_points_then_resume_equals_uninterrupted(tiny_model, tmp_path):
    ref_out = tmp_path / "ref"
    run(recipe_file(tiny_model, tmp_path, ref_out))
    expected = table(ref_out)
    assert sum(len(v) for v in expected.values()) > 40

    out = tmp_path / "killed"
    recipe = recipe_file(tiny_model, tmp_path, out)
    kills = 0
    for done, delay in ((1, 0.0), (4, 0.15), (8, 0.05)):
        proc = start(recipe)
        kills += kill_when(proc, out, done, delay)
        # a killed run leaves no half-written shard behind a marker
        for m in (out / ".pairforge_work" / "shards").glob("*.done"):
            assert m.with_suffix(".parquet").is_file()
    assert kills >= 2, "the build finished before it could be killed; make shards slower"
    assert 0 < markers(out) < 15
    stale = out / ".pairforge_work" / "shards" / ".shard-000099.parquet.tmp-1234"  # as a kill mid-write leaves
    stale.write_bytes(b"partial")
    done = {int(m.name.split("-")[1].split(".")[0]) for m in (out / ".pairforge_work" / "shards").glob("*.done")}
    sent = {int(m.name.split("-")[1].split(".")[0]): json.loads(m.read_text())["prompts_sent"]
            for m in (ref_out / ".pairforge_work" / "shards").glob("*.done")}  # what each shard sends, from the uninterrupted run
    res = run(recipe)
    assert not stale.exists()
    # exactly the finished shards were resumed, and only the others' prompts were sent
    expected_sent = sum(n for i, n in sent.items() if i not in done)
    assert f"({len(done)} of {len(sent)} shards resumed; {expected_sent} prompts sent)" in res.stdout, res.stdout
    assert 0 < expected_sent < sum(sent.values())
    got = table(out)
    assert got == expected
    ids = [k for rows in got.values() for k, *_ in rows]
    assert len(ids) == len(set(ids))  # none doubled


def test_a_first_pass_spill_a_killed_build_left_is_removed_by_the_next_run(tmp_path):
    """The first pass spills the source's rows (uncompressed Arrow: the source's size) to a folder in
    .pairforge_work that a SIGKILL leaves behind; the next build opens its shard store (under the
    build's lock) and removes it, and nothing else there."""
    import pyarrow as pa

    from pairforge.pipeline.shards import ShardStore

    out = tmp_path / "out"
    first = ShardStore.open(out, "fp")
    first.write_input(0, pa.table({"x": [1]}))
    stale = out / ".pairforge_work" / "pairforge-spill-killed"
    (stale / "dedupe_exact" / "buckets").mkdir(parents=True)
    (stale / "rows.arrow").write_bytes(b"\0" * 4096)
    store = ShardStore.open(out, "fp")
    assert not stale.exists()
    assert store.read_input(0).to_pydict() == {"x": [1]}
