"""A build's result is published whole (manifest last); a killed build's folder is refused by push,
train-ipo and inspect; one build per folder (flock); a batch whose every row is dropped."""

import json
import os
import signal
import subprocess
import sys
import time
import uuid

import pytest
from click.testing import CliRunner

from conftest import ALICE, REPO, tiny_recipe, write_recipe
from pairforge.cli import cli
from pairforge.pipeline.build import run_build
from pairforge.pipeline.publish import LOCK, MANIFEST, KILL_ENV, verify
from pairforge.pipeline.shards import WORK
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def build_cli(recipe, *args, env=None, check=False):
    return subprocess.run([sys.executable, "-m", "pairforge.cli", "build", str(recipe), "-q", *args],
                          capture_output=True, text=True, check=check, cwd=REPO, env={**os.environ, **(env or {})})


def remote_state(hub, repo):
    state = hub.state.repos[("dataset", repo)]
    return dict(state.refs), len(state.commits), sorted(state.commits[state.refs["main"]].files)


@pytest.mark.parametrize("point", ["finalise", "publish:data", "publish:stats.json"])
def test_killed_rebuild_is_refused_then_a_rerun_publishes(hub, tiny_model, tmp_path, point):
    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, out))
    build_cli(recipe, check=True)
    verify(out)
    repo = f"alice/kill-{uuid.uuid4().hex[:8]}"
    assert CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE]).exit_code == 0
    before = remote_state(hub, repo)
    assert "data/test-00000-of-00001.parquet" in before[2]

    # a changed rebuild (--fresh), killed while its result is being published
    killed = build_cli(recipe, "--fresh", "--set", "split.test_size=0.5", env={KILL_ENV: point})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert not (out / MANIFEST).exists()
    res = CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE])
    assert res.exit_code == 1 and "pairforge build" in res.output and "Traceback" not in res.output
    assert remote_state(hub, repo) == before  # nothing uploaded, nothing deleted
    res = CliRunner().invoke(cli, ["train-ipo", "--dataset", str(out), "--model", tiny_model,
                                   "--output-dir", str(tmp_path / "ipo"), "--set", "max_steps=1"])
    assert res.exit_code == 1 and MANIFEST in res.output, res.output
    assert CliRunner().invoke(cli, ["inspect", str(out)]).exit_code == 1

    done = build_cli(recipe, "--set", "split.test_size=0.5")
    assert done.returncode == 0, done.stderr
    manifest = verify(out)
    assert set(manifest["files"]) >= {"stats.json", "recipe.yaml", "README.md", "data/train-00000-of-00001.parquet"}
    assert not (out / ".pairforge_work" / "publish").exists()
    stats = json.loads((out / "stats.json").read_text())
    assert stats["fingerprint"] == manifest["fingerprint"]
    assert CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE]).exit_code == 0
    assert MANIFEST in remote_state(hub, repo)[2]


def test_tampered_folder_is_refused(built_folder):
    (built_folder / "data" / "extra-00000-of-00001.parquet").write_bytes(b"x")
    with pytest.raises(Exception, match="extra-00000-of-00001.parquet is not in the manifest"):
        verify(built_folder)
    (built_folder / "data" / "extra-00000-of-00001.parquet").unlink()
    verify(built_folder)
    stats = built_folder / "stats.json"
    stats.write_text(stats.read_text().replace('"rows_read"', '"rows_read" ', 1))
    with pytest.raises(Exception, match="stats.json changed since the build"):
        verify(built_folder)
    (built_folder / MANIFEST).write_text("{not json")
    with pytest.raises(Exception, match="unreadable"):
        verify(built_folder)


@pytest.fixture
def built_folder(tiny_model, tmp_path):
    out = tmp_path / "b"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out)), quiet=True)
    return out


def test_push_deletes_only_what_its_previous_manifest_listed(hub, tiny_model, tmp_path):
    out = tmp_path / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out)), quiet=True)
    repo = f"alice/del-{uuid.uuid4().hex[:8]}"
    from huggingface_hub import HfApi

    api = HfApi(token=ALICE)
    api.create_repo(repo, repo_type="dataset")
    api.upload_file(path_or_fileobj=b"mine", path_in_repo="data/owner-notes.parquet", repo_id=repo, repo_type="dataset")
    assert CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE]).exit_code == 0
    # a rebuild without a test split: the old test file (listed by the pushed manifest) goes, the owner's stays
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, out, split={"test_size": 0.0})), fresh=True,
              quiet=True)
    res = CliRunner().invoke(cli, ["push", str(out), "--repo", repo, "--token", ALICE, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["delete"] == ["data/test-00000-of-00001.parquet"]
    files = set(api.list_repo_files(repo, repo_type="dataset"))
    assert "data/owner-notes.parquet" in files and "data/test-00000-of-00001.parquet" not in files


def test_second_build_into_a_locked_folder_is_refused_and_a_killed_holder_leaves_no_lock(tiny_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, out))
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from pathlib import Path; "
                               "from pairforge.pipeline.publish import lock_output\n"
                               f"with lock_output(Path({str(out)!r})):\n print('locked', flush=True); time.sleep(600)"],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout.readline().strip() == "locked"
        res = build_cli(recipe)
        assert res.returncode == 1 and "Traceback" not in res.stderr
        assert f"in use by another pairforge build (pid {holder.pid})" in res.stderr
        assert not (out / ".pairforge_work").exists()  # refused before touching anything
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert (out / LOCK).exists()
    assert build_cli(recipe).returncode == 0  # the OS released the dead holder's lock
    verify(out)


def test_batch_where_every_row_is_dropped(tiny_model, tmp_path):
    """One short prompt among over-long ones, one prompt per shard: the all-dropped shards used to
    crash the post filter (ArrowInvalid: Invalid null value)."""
    src = tmp_path / "s.jsonl"
    rows = [{"prompt": "hi there", "response": "hello"}] + [
        {"prompt": f"word {i} " * 200, "response": "ok"} for i in range(3)]
    src.write_text("\n".join(json.dumps(r) for r in rows))
    r = tiny_recipe(tiny_model, {"path": str(src)}, tmp_path / "out", generation={"shard_size": 1},
                    weak_model={"max_prompt_tokens": 50, "batch_size": 1}, dedupe={"near": {"enabled": False}})
    s = run_build(recipe_from_dict(r), quiet=True)
    assert s["drops"]["generate"] == {"prompt_too_long": 3}
    assert s["rows_written"] == 1
    import pyarrow.parquet as pq

    ex = pq.read_table(tmp_path / "out" / "excluded" / "generate.parquet")
    assert ex["reason"].to_pylist() == ["prompt_too_long"] * 3


def test_server_refusing_every_prompt_of_a_shard(tiny_model, tmp_path):
    from fakeopenai import FakeOpenAI

    server = FakeOpenAI()
    try:
        src = tmp_path / "s.jsonl"
        rows = [{"prompt": "fine prompt", "response": "an answer here"}] + [
            {"prompt": f"REFUSE number {i}", "response": "ok"} for i in range(3)]
        src.write_text("\n".join(json.dumps(r) for r in rows))
        r = tiny_recipe(tiny_model, {"path": str(src)}, tmp_path / "out", generation={"shard_size": 1},
                        weak_model={"model": "served", "backend": "openai",
                                    "openai": {"base_url": server.url, "max_retries": 0}},
                        dedupe={"near": {"enabled": False}}, filters={"max_similarity": None})
        s = run_build(recipe_from_dict(r), quiet=True)
    finally:
        server.stop()
    assert s["drops"]["generate"] == {"server_refused": 3} and s["rows_written"] == 1


def _published(out):
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*"))
            if p.is_file() and ".pairforge_work" not in p.relative_to(out).parts and p.name != LOCK}


def test_a_failed_rebuild_leaves_the_published_result_valid(tiny_model, tmp_path):
    """A re-finish that drops every pair, and a --fresh rebuild that fails on a bad input, both
    used to remove the manifest (and --fresh the files) first: the intact old result was refused."""
    from pairforge.errors import PairforgeError

    out = tmp_path / "out"
    base = tiny_recipe(tiny_model, {"path": DEMO}, out)
    run_build(recipe_from_dict(base), quiet=True)
    manifest, files = verify(out), _published(out)
    drop_all = tiny_recipe(tiny_model, {"path": DEMO}, out, filters={"lengths": {"rejected": {"min_chars": 100000}}})
    with pytest.raises(PairforgeError, match="no pairs left to write"):
        run_build(recipe_from_dict(drop_all), quiet=True)
    assert verify(out) == manifest and _published(out) == files
    (tmp_path / "hdr.csv").write_text("question,answer\n")
    bad = tiny_recipe(tiny_model, {"path": DEMO}, out, decontaminate={"sets": [{"path": str(tmp_path / "hdr.csv")}]})
    with pytest.raises(PairforgeError, match="has no rows"):
        run_build(recipe_from_dict(bad), fresh=True, quiet=True)
    assert verify(out) == manifest and _published(out) == files
    res = CliRunner().invoke(cli, ["inspect", str(out)])
    assert res.exit_code == 0, res.output


def test_symlinked_build_folders_are_refused_and_never_followed(built_folder, tiny_model, tmp_path):
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "keep.txt").write_text("mine")
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, built_folder))
    for name in ("data", "excluded", ".pairforge_work"):
        real = built_folder / name
        real.rename(tmp_path / f"{name}.real")
        real.symlink_to(victim, target_is_directory=True)
        res = CliRunner().invoke(cli, ["build", str(recipe), "--fresh", "-q"])
        lines = res.output.strip().splitlines()
        assert res.exit_code == 1 and len(lines) == 1 and "Traceback" not in res.output, res.output
        assert lines[0].startswith("Error:") and f"{real} is a symbolic link" in lines[0]
        assert sorted(p.name for p in victim.iterdir()) == ["keep.txt"]
        real.unlink()
        (tmp_path / f"{name}.real").rename(real)
    verify(built_folder)


def test_an_os_error_while_writing_is_one_error_line_and_repairable(tiny_model, tmp_path, monkeypatch):
    from pairforge.pipeline import writers

    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, out))

    def full(self):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:  # the first build: nothing published, the folder refused
        m.setattr(writers.SplitWriter, "close", full)
        res = CliRunner().invoke(cli, ["build", str(recipe), "-q"])
    assert res.exit_code == 1 and "Traceback" not in res.output, res.output
    assert res.output.startswith("Error:") and "No space left on device" in res.output and str(out) in res.output
    with pytest.raises(Exception, match="not a finished pairforge build"):
        verify(out)
    assert CliRunner().invoke(cli, ["build", str(recipe), "-q"]).exit_code == 0  # a rerun repairs it
    manifest, files = verify(out), _published(out)
    with monkeypatch.context() as m:  # a rebuild that fails before the swap keeps the old result
        m.setattr(writers.SplitWriter, "close", full)
        res = CliRunner().invoke(cli, ["build", str(recipe), "-q", "--set", "split.test_size=0.5"])
    assert res.exit_code == 1 and "No space left on device" in res.output
    assert verify(out) == manifest and _published(out) == files
    from pairforge.pipeline import publish

    with monkeypatch.context() as m:  # failing during the swap (the manifest write): refused, then repaired
        m.setattr(publish, "atomic_write_json", lambda *a, **k: full(None))
        res = CliRunner().invoke(cli, ["build", str(recipe), "-q", "--set", "split.test_size=0.5"])
    assert res.exit_code == 1 and "No space left on device" in res.output and "Traceback" not in res.output
    with pytest.raises(Exception, match="not a finished pairforge build"):
        verify(out)
    assert CliRunner().invoke(cli, ["build", str(recipe), "-q", "--set", "split.test_size=0.5"]).exit_code == 0
    assert verify(out) != manifest


def test_no_local_path_is_published(tiny_model, tmp_path):
    """rejected_model, stats.json's weak_model name/upstream and source.description named the weak
    model and the source file by their local paths (and push uploads them)."""
    import pyarrow.parquet as pq

    src = tmp_path / "mine" / "sft.jsonl"
    src.parent.mkdir()
    src.write_bytes((REPO / "pairforge" / "demo" / "sft.jsonl").read_bytes())
    out = tmp_path / "out"
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": str(src)}, out)), quiet=True)
    stats = json.loads((out / "stats.json").read_text())
    digest = stats["weak_model"]["digest"].split(":", 1)[1]
    name = f"{os.path.basename(tiny_model)} (local folder, sha256 {digest})"
    assert stats["weak_model"]["name"] == stats["weak_model"]["upstream"] == name
    assert stats["source"]["description"] == f"sft.jsonl (local file, sha256 {stats['source']['digest']})"
    for f in [*(out / "data").glob("*.parquet"), *(out / "excluded").glob("*.parquet")]:
        rows = pq.read_table(f).to_pylist()
        assert not [r for r in rows if str(tmp_path.parent) in json.dumps(r, ensure_ascii=False)], f
        if f.parent.name == "data":
            assert {r["rejected_model"] for r in rows} == {name}
    for f in ("stats.json", "README.md"):
        text = (out / f).read_text()
        assert str(tmp_path.parent) not in text and tiny_model not in text, f


def test_load_dataset_on_a_build_killed_before_its_first_publish_finds_no_split(tiny_model, tmp_path):
    """The working files live in a hidden folder that `datasets.load_dataset(folder)` skips: a build killed
    before its first publish is no dataset (it once loaded `_work/input` as a prompts-only train split)."""
    import datasets

    out = tmp_path / "out"
    recipe = write_recipe(tmp_path / "r.yaml", tiny_recipe(tiny_model, {"path": DEMO}, out))
    killed = build_cli(recipe, env={KILL_ENV: "finalise"})  # staged, nothing swapped in yet
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert list((out / WORK / "input").glob("*.parquet"))  # the shards' inputs are there
    with pytest.raises(Exception) as e:
        datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))
    assert "doesn't contain any data files" in str(e.value) or "Unable to find" in str(e.value), e.value
    assert build_cli(recipe).returncode == 0  # the rerun publishes
    assert datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache"))["train"].num_rows > 0


def test_a_folder_built_under_the_old_work_name_resumes_its_shards(tiny_model, tmp_path):
    out = tmp_path / "out"
    recipe = tiny_recipe(tiny_model, {"path": DEMO}, out)
    first = run_build(recipe_from_dict(recipe), quiet=True)
    (out / ".pairforge_work").rename(out / "_work")  # as pairforge wrote it before the rename
    again = run_build(recipe_from_dict(recipe), quiet=True)
    g = again["generation"]
    assert g["shards"] == g["shards_resumed"] == first["generation"]["shards"] > 0 and g["prompts_sent"] == 0
    assert not (out / "_work").exists()
    verify(out)


def test_reading_a_folder_a_build_holds_names_the_running_build(built_folder, tiny_model, tmp_path):
    """inspect, push and train-ipo on a folder whose build is still running say so (with its pid), not
    'no stats.json' or 'not a pairforge build folder'."""
    from pairforge.pipeline.publish import lock_output

    fresh = tmp_path / "fresh"
    fresh.mkdir()
    for folder in (built_folder, fresh):
        with lock_output(folder):
            for args in (["inspect", str(folder)], ["push", str(folder), "--repo", "alice/x", "--token", ALICE],
                         ["train-ipo", "--dataset", str(folder), "--model", tiny_model,
                          "--output-dir", str(tmp_path / "ipo")]):
                if args[0] == "train-ipo" and folder == fresh:
                    continue  # an empty folder is no dataset to train-ipo at all
                res = CliRunner().invoke(cli, args)
                lines = res.output.strip().splitlines()
                assert res.exit_code == 1 and len(lines) == 1, res.output
                assert f"a pairforge build is running there (pid {os.getpid()})" in lines[0], (args, lines)
    assert CliRunner().invoke(cli, ["inspect", str(built_folder)]).exit_code == 0  # the lock is gone: readable
