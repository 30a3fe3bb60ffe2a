"""Near-dedupe with its index on disk (buckets, pairs, keep-first) drops the same rows as the in-memory
index it replaced (tests/reference_neardup.py), streamed over batches, and the two-pass runner gives
the build the rows, funnel and excluded rows a one-pass run gave."""

import random

import pyarrow as pa
import pytest

from pairforge.data.schemas import pair_schema
from pairforge.pipeline import buckets, neardup_pairs, spill
from pairforge.pipeline.build import pre_generation_stages
from pairforge.pipeline.dedupe import NearDedupe
from pairforge.pipeline.stage import run_stages
from pairforge.pipeline.stats import Stats
from pairforge.recipe import recipe_from_dict
from reference_neardup import ReferenceNearDedupe


def prompts(rng: random.Random, n: int) -> list[str]:
    """Random prompts with planted near-duplicates, chains of edits (a row near only a dropped row),
    exact repeats, short and empty prompts."""
    vocab = [f"w{i}" for i in range(400)]
    out: list[str] = []
    for _ in range(n):
        r = rng.random()
        if out and r < 0.25:  # an earlier prompt with 1-3 words replaced (an edit of an edit: a chain)
            words = rng.choice(out[-50:]).split() or ["x"]
            for _ in range(rng.randint(1, 3)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            out.append(" ".join(words))
        elif out and r < 0.3:
            out.append(rng.choice(out).upper())
        elif r < 0.33:
            out.append(rng.choice(["", "hi", "hello there", "w1 w2"]))
        else:
            out.append(" ".join(rng.choices(vocab, k=rng.randint(3, 30))))
    return out


def table(texts: list[str], start: int):
    rows = [{"id": f"r{start + i}", "source_index": start + i, "turn_index": 0,
             "prompt": [{"role": "user", "content": t}], "chosen": "c"} for i, t in enumerate(texts)]
    return pa.Table.from_pylist(rows, schema=pair_schema())


def cfg(**kw):
    return recipe_from_dict({"source": {"path": "x.jsonl"}, "dedupe": {"near": kw}}).dedupe.near


@pytest.mark.parametrize("settings", [{}, {"threshold": 0.3, "bands": 64}, {"num_perm": 64, "bands": 8}])
def test_same_removals_as_the_in_memory_index(settings, monkeypatch):
    monkeypatch.setattr(buckets, "FLUSH", 97)  # small pieces: every flush, split and chunk path runs
    monkeypatch.setattr(neardup_pairs, "PAIR_LIMIT", 5)
    monkeypatch.setattr(neardup_pairs, "COMPACT", 11)
    monkeypatch.setattr(neardup_pairs, "VERIFY_CHUNK", 7)
    rng = random.Random(str(settings))
    texts = prompts(rng, 1500)
    sizes = [0, 1, 300, 7, 0, 600, 592]
    batches, start = [], 0
    for n in sizes:
        batches.append(table(texts[start : start + n], start))
        start += n
    old, new = ReferenceNearDedupe(cfg(**settings)), NearDedupe(cfg(**settings))
    expected = [old(t)[1]["id"].to_pylist() for t in batches]
    for t in batches:
        new.observe(t)
    new.resolve()
    got = [new(t) for t in batches]
    assert [d["id"].to_pylist() for _, d in got] == expected
    assert sum(len(e) for e in expected) > 100  # the planted near-duplicates were found
    assert all(set(d["reason"].to_pylist()) <= {"near_duplicate_prompt"} for _, d in got)
    assert [k.num_rows + d.num_rows for k, d in got] == sizes


def test_a_row_near_only_a_dropped_row_stays():
    a = "the quick brown fox jumps over the lazy dog near the river bank today"
    b = a.replace("river", "lake")  # near a: dropped
    c = b.replace("quick", "slow").replace("today", "now").replace("lazy", "tired")  # near b, not near a
    stage = NearDedupe(cfg())
    kept, dropped = stage(table([a, b, c], 0))
    assert ReferenceNearDedupe(cfg())(table([a, b, c], 0))[1]["id"].to_pylist() == ["r1"]
    assert dropped["id"].to_pylist() == ["r1"] and kept["id"].to_pylist() == ["r0", "r2"]


def test_rows_handed_back_must_be_the_rows_observed():
    stage = NearDedupe(cfg())
    stage.observe(table(["a b c", "d e f"], 0))
    stage.resolve()
    with pytest.raises(ValueError, match="3 rows handed in, 2 observed"):
        stage(table(["a b c", "d e f", "g"], 0))


def test_buckets_hand_back_each_bucket_in_the_order_added_across_runs(tmp_path, monkeypatch):
    import numpy as np

    monkeypatch.setattr(buckets, "FLUSH", 40)  # many runs in the file
    rng = np.random.default_rng(0)
    store, keys, rows = buckets.Buckets(tmp_path / "b", bits=3), [], []
    for size in (0, 7, 100, 1, 33, 250, *[13] * 20):
        k = rng.integers(0, 2**64 - 1, size, dtype=np.uint64, endpoint=True)
        k[: size // 3] = k[:1]  # a repeated key: its records share a bucket, in the order added
        r = np.arange(len(rows), len(rows) + size, dtype=np.uint32)
        store.add(k, r)
        keys += k.tolist()
        rows += r.tolist()
    got = [(int(b["key"][0] >> 61), rec) for b in store for rec in zip(b["key"].tolist(), b["row"].tolist())]
    expected = sorted(((k >> 61, (k, r)) for k, r in zip(keys, rows)), key=lambda x: x[0])  # stable: added order
    assert got == expected
    assert len(store.runs) > 5
    with open(store.path, "r+b") as f:  # the file loses its tail: an error, not short buckets
        f.truncate(store.path.stat().st_size - 5)
    with pytest.raises(OSError, match="bytes read of bucket"):
        list(store)


class Excluded:
    def __init__(self):
        self.rows = {}

    def add(self, stage, dropped, stats):
        self.rows.setdefault(stage, []).extend(zip(dropped["id"].to_pylist(), dropped["reason"].to_pylist()))


def test_two_pass_gives_the_rows_funnel_and_exclusions_of_one_pass(tmp_path):
    rng = random.Random(5)
    texts = prompts(rng, 2500)
    batches = [table(texts[i : i + 1000], i) for i in range(0, len(texts), 1000)]
    r = recipe_from_dict({"source": {"path": "x.jsonl"}})
    one = [s if s.name != "dedupe_near" else ReferenceNearDedupe(r.dedupe.near) for s in pre_generation_stages(r)]
    stats_one, ex_one = Stats(), Excluded()
    out_one = [run_stages(b, one, stats_one, ex_one) for b in batches]
    stats_two, ex_two = Stats(), Excluded()
    out_two = list(spill.run_two_pass(iter(batches), pre_generation_stages(r), stats_two, ex_two, tmp_path))
    ids = lambda tables: [i for t in tables for i in t["id"].to_pylist()]  # noqa: E731
    assert ids(out_two) == ids(out_one)
    assert stats_two.to_dict()["funnel"] == stats_one.to_dict()["funnel"]
    assert ex_two.rows == ex_one.rows and len(ex_one.rows["dedupe_near"]) > 50
    assert list(tmp_path.iterdir()) == []  # the spill folder is removed


def test_second_pass_reads_the_spilled_rows_back_in_bounded_memory(tmp_path):
    """run_two_pass hands back the rows kept so far from its Parquet spill file (~150 MB of distinct
    answers here, which Parquet stores plain, not as a dictionary), in 1000-row tables. Arrow's
    allocation stays within a few row groups of it: ParquetFile.iter_batches kept what it had read
    allocated (+87 MiB here, in steps as it went), so a build's memory grew with its rows after the first pass."""
    rng = random.Random(0)
    vocab = [f"w{i:05d}" for i in range(30_000)]

    def batches():
        for b in range(25):
            rows = [{"id": f"r{b}-{i}", "source_index": b * 10_000 + i, "turn_index": 0,
                     "prompt": [{"role": "user", "content": f"question {b} {i}"}],
                     "chosen": " ".join(rng.choices(vocab, k=100))} for i in range(10_000)]
            yield pa.Table.from_pylist(rows, schema=pair_schema())

    stages = pre_generation_stages(recipe_from_dict({"source": {"path": "x.jsonl"}}))[1:2]  # exact dedupe
    base, peak, sizes, ids = None, 0, [], []
    for t in spill.run_two_pass(batches(), stages, Stats(), Excluded(), tmp_path):
        base = pa.total_allocated_bytes() if base is None else base
        peak = max(peak, pa.total_allocated_bytes())
        sizes.append(t.num_rows)
        ids += t["id"].to_pylist()
    assert ids == [f"r{b}-{i}" for b in range(25) for i in range(10_000)]  # every row, in order
    assert sizes == [1000] * 250
    assert peak - base < 24 * 2**20, f"Arrow's allocation grew by {(peak - base) / 2**20:.0f} MiB"
