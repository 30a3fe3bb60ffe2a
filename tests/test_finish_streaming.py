"""The finalise keeps, per row, only 8-byte split keys and NumPy length chunks: the split and the
length figures must equal their plain definitions (all ids in a set, all lengths in lists)."""

import hashlib
import math
import random

import pyarrow as pa
from hypothesis import given, settings, strategies as st

from pairforge.pipeline.stats import Column, length_stats
from pairforge.pipeline.writers import IdSplit


def reference_test_ids(ids: set[str], test_size: float, seed: int) -> set[str]:
    if test_size <= 0 or len(ids) < 2:
        return set()
    n_test = min(len(ids) - 1, max(1, math.ceil(test_size * len(ids))))
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(ranked[:n_test])


def reference_length_stats(values: list[int]) -> dict:
    if not values:
        return {"count": 0}
    v, n = sorted(values), len(values)
    q = lambda p: v[min(n - 1, int(p * (n - 1) + 0.5))]  # noqa: E731
    return {"count": n, "total": sum(v), "mean": round(sum(v) / n, 1), "min": v[0], "p50": q(0.5), "p90": q(0.9),
            "max": v[-1]}


@settings(max_examples=200, deadline=None)
@given(ids=st.lists(st.text(min_size=1, max_size=12), max_size=80), repeats=st.integers(0, 5),
       test_size=st.sampled_from([0.0, 0.05, 0.1, 0.5, 0.9]), seed=st.integers(0, 5), shards=st.integers(1, 4))
def test_split_by_keys_equals_the_sorted_digest_definition(ids, repeats, test_size, seed, shards):
    rng = random.Random(seed)
    rows = ids + rng.sample(ids, min(len(ids), repeats))  # samples of one prompt share its id
    rng.shuffle(rows)
    split = IdSplit(test_size, seed)
    for k in range(shards):
        split.add(rows[k::shards])
    split.close()
    got = {i for i, t in zip(rows, split.is_test(rows).to_pylist()) if t}
    assert got == reference_test_ids(set(rows), test_size, seed)


@settings(max_examples=200, deadline=None)
@given(chunks=st.lists(st.lists(st.one_of(st.none(), st.integers(0, 10**6)), max_size=30), max_size=5))
def test_length_columns_equal_the_list_definition(chunks):
    col = Column()
    for c in chunks:
        col.add(pa.array(c, pa.int64()))
    flat = [v for c in chunks for v in c if v is not None]
    got = length_stats(col.values())
    assert got == reference_length_stats(flat)
    assert all(type(v) in (int, float) for v in got.values())  # JSON-serialisable Python numbers
    assert col.nulls == sum(v is None for c in chunks for v in c)
