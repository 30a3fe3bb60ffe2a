"""Per-table stages on threads (pipeline/parallel.py): order, errors, early close, and the same rows,
funnel and drops as one thread."""

import os
import platform
import random
import threading
import time

import pyarrow as pa
import pytest

from pairforge.pipeline import parallel
from pairforge.pipeline.parallel import WriteBehind, ordered_map, prefetch


def slow_square(x):
    time.sleep(random.Random(x).random() / 200)
    return x * x


def test_ordered_map_keeps_the_order_the_items_came_in():
    assert list(ordered_map(slow_square, range(60), workers=4)) == [x * x for x in range(60)]


def test_ordered_map_bounds_the_items_in_flight():
    taken, in_flight = [], []

    def items():
        for x in range(40):
            taken.append(x)
            yield x

    for k, _ in enumerate(ordered_map(slow_square, items(), workers=3, ahead=5)):
        in_flight.append(len(taken) - k)
    assert max(in_flight) <= 5


def test_a_workers_error_is_raised_when_its_result_is_due_after_the_earlier_results():
    def fn(x):
        if x == 7:
            raise ValueError("row 7 is bad")
        return x

    got = []
    with pytest.raises(ValueError, match="row 7"):
        for y in ordered_map(fn, range(20), workers=3):
            got.append(y)
    assert got == list(range(7))


def test_closing_ordered_map_early_starts_nothing_more():
    started = []

    def fn(x):
        started.append(x)
        time.sleep(0.01)
        return x

    gen = ordered_map(fn, range(1000), workers=2, ahead=4)
    assert [next(gen) for _ in range(3)] == [0, 1, 2]
    gen.close()
    n = len(started)
    time.sleep(0.05)
    assert len(started) == n <= 10


def test_prefetch_yields_every_item_in_order_and_raises_the_sources_error_in_place():
    def source():
        yield from range(10)
        raise OSError("disk gone after row 9")

    got = []
    with pytest.raises(OSError, match="disk gone"):
        for x in prefetch(source(), ahead=2):
            got.append(x)
    assert got == list(range(10))


def test_closing_prefetch_stops_the_reader_and_runs_the_sources_cleanup():
    closed, read = threading.Event(), []

    def source():
        try:
            for x in range(10_000):
                read.append(x)
                yield x
        finally:
            closed.set()

    gen = prefetch(source(), ahead=3)
    assert next(gen) == 0
    gen.close()
    assert closed.wait(2)
    assert len(read) <= 6  # the one taken, 3 queued, one waiting to be put (and not more)


def test_write_behind_writes_in_order_and_raises_a_writes_error():
    out = []
    w = WriteBehind(out.append, ahead=2)
    for x in range(50):
        w.put(x)
    w.close()
    assert out == list(range(50))

    def bad(x):
        if x == 3:
            raise OSError("No space left on device")

    w = WriteBehind(bad, ahead=2)
    with pytest.raises(OSError, match="No space"):
        for x in range(100):
            w.put(x)
        w.close()


def _stages_run(workers, monkeypatch, tmp_path):
    """The quality stages (pre filter, exact + near dedupe, post filter) over rows with duplicates."""
    from pairforge.pipeline.build import post_generation_stages, pre_generation_stages
    from pairforge.pipeline.parallel import run_stages_threaded
    from pairforge.pipeline.spill import run_two_pass
    from pairforge.pipeline.stats import Stats
    from pairforge.recipe import recipe_from_dict

    monkeypatch.setattr(parallel, "threads", lambda: workers)
    tmp_path.mkdir()
    rng = random.Random(0)
    words = [f"w{i}" for i in range(300)]
    base = [" ".join(rng.choices(words, k=12)) for _ in range(400)]
    rows = []
    for i in range(3000):
        p, u = " ".join(rng.choices(words, k=12)), rng.random()
        if u < 0.4:  # an exact copy, or one with its last word changed (a near duplicate)
            p = rng.choice(base) if u < 0.2 else rng.choice(base).rsplit(" ", 1)[0] + " " + rng.choice(words)
        rows.append({"id": str(i), "source_index": i, "turn_index": 0, "prompt": [{"role": "user", "content": p}],
                     "chosen": " ".join(rng.choices(words, k=20)), "sample_index": 0,
                     "rejected": " ".join(rng.choices(words, k=rng.randint(0, 20))), "rejected_model": "m",
                     "rejected_finish_reason": rng.choice(["stop", "length"]), "prompt_tokens": 5,
                     "chosen_tokens": 20, "rejected_tokens": 9})
    from pairforge.data.schemas import generated_schema

    table = pa.Table.from_pylist(rows, schema=generated_schema())
    r = recipe_from_dict({"source": {"path": "x"}, "dedupe": {"near": {"enabled": True}}})
    stats, dropped = Stats(), {}

    class Excluded:
        def add(self, stage, d, stats):
            for reason in d["reason"].to_pylist():
                stats.drop(stage, reason, 1)
            dropped.setdefault(stage, []).extend(d.to_pylist())  # excluded/ has a file a stage

    batches = (table.slice(lo, 250) for lo in range(0, 3000, 250))
    left = run_two_pass(batches, pre_generation_stages(r), stats, Excluded(), tmp_path)
    kept = pa.concat_tables(run_stages_threaded(left, post_generation_stages(r), stats, Excluded()))
    return kept.to_pylist(), stats.to_dict()["funnel"], stats.drops, dropped


def test_threads_give_the_rows_funnel_and_drops_of_one_thread(monkeypatch, tmp_path):
    one = _stages_run(1, monkeypatch, tmp_path / "one")
    four = _stages_run(4, monkeypatch, tmp_path / "four")
    assert one[0] and one[2]["dedupe_exact"] and one[2]["dedupe_near"]  # the rows exercise every stage
    assert four == one


def test_malloc_arenas_are_capped_on_glibc_unless_the_user_set_them():
    import subprocess
    import sys

    code = "from pairforge.pipeline.process_memory import cap_malloc_arenas; print(cap_malloc_arenas())"
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    capped = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert capped.stdout.strip() == ("True" if platform.libc_ver()[0] == "glibc" else "False")
    kept = subprocess.run([sys.executable, "-c", code], env={**env, "MALLOC_ARENA_MAX": "4"}, capture_output=True,
                          text=True, check=True)
    assert kept.stdout.strip() == "False"


def test_arrow_uses_a_lean_pool_unless_the_user_chose_one(tmp_path):
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    code = ("from pairforge.pipeline.process_memory import arrow_lean_pool; print(arrow_lean_pool()); "
            "import os, pyarrow as pa; pa.array([1]); print(pa.default_memory_pool().backend_name, "
            "os.environ['ARROW_DEFAULT_MEMORY_POOL'])")
    run = lambda code, env: subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                           check=True).stdout.split()
    name, backend, inherited = run(code, env)
    assert name in ("jemalloc", "system") and backend == inherited == name  # not pyarrow's mimalloc default
    assert run(code, {**env, "ARROW_DEFAULT_MEMORY_POOL": "mimalloc"}) == ["None", "mimalloc", "mimalloc"]
    cli = ("import os, sys; sys.argv = ['pairforge', 'inspect', %r]; from pairforge.cli import main\n"
           "try:\n    main()\nexcept SystemExit:\n    pass\nprint(os.environ['ARROW_DEFAULT_MEMORY_POOL'])"
           % str(tmp_path / "missing"))
    assert run(cli, env)[-1] == name  # a command's work starts with the setting
