"""Writing the dataset folder: the deterministic split, Parquet splits under data/, excluded rows.
The published columns (the output layouts) are made in output_layouts.py."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path


SPLIT_FILE = "data/{split}-00000-of-00001.parquet"


def split_keys(ids, seed: int):
    """Each id's rank key for the split: the first 8 bytes of sha256(f"{seed}:{id}") as a big-endian
    uint64 (the order of the hex digests, 8 bytes an id instead of the id strings)."""
    import numpy as np

    digest = b"".join(hashlib.sha256(f"{seed}:{i}".encode()).digest()[:8] for i in ids)
    return np.frombuffer(digest, dtype=">u8").astype(np.uint64)


def split_ids(table, turns: str) -> list[str]:
    """What the split is decided by, per row: the pair's id (all samples of a prompt share it); with
    `source.turns: each`, the conversation's opening (everything up to its first user turn), which
    every pair cut from one conversation shares: one conversation's turns never straddle the splits
    (a test answer would be history in a train prompt)."""
    if turns != "each":
        return table["id"].to_pylist()
    keys = []
    for prompt in table["prompt"].to_pylist():
        first = next((i for i, m in enumerate(prompt) if m["role"] == "user"), len(prompt) - 1)
        opening = json.dumps([[m["role"], m["content"]] for m in prompt[:first + 1]], ensure_ascii=False)
        keys.append("conversation:" + hashlib.sha256(opening.encode()).hexdigest())
    return keys


class IdSplit:
    """Deterministic split by id: the same ids give the same test set, whatever their order or shards.

    All samples of a prompt share its id, so they land in the same split (no leakage). Ids are
    added shard by shard and kept as their rank keys; the test set is the lowest-ranked ids.
    """

    def __init__(self, test_size: float, seed: int):
        self.test_size, self.seed, self.keys, self.cut = test_size, seed, [], None

    def add(self, ids) -> None:
        import numpy as np

        self.keys.append(np.unique(split_keys(ids, self.seed)))

    def close(self) -> None:
        import numpy as np

        keys = np.unique(np.concatenate(self.keys)) if self.keys else np.zeros(0, np.uint64)
        self.keys = []
        if self.test_size > 0 and len(keys) >= 2:
            n_test = min(len(keys) - 1, max(1, math.ceil(self.test_size * len(keys))))
            self.cut = keys[n_test - 1]

    def is_test(self, ids):
        """A boolean Arrow array: which of `ids` are in the test split (after close())."""
        import pyarrow as pa

        if self.cut is None:
            return pa.array([False] * len(ids), pa.bool_())
        return pa.array(split_keys(ids, self.seed) <= self.cut, pa.bool_())


class SplitWriter:
    """Streams output tables into data/<split>-00000-of-00001.parquet."""

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.writers = {}
        self.counts = {}
        (out_dir / "data").mkdir(parents=True, exist_ok=True)
        for old in (out_dir / "data").glob("*.parquet"):
            old.unlink()

    def write(self, split: str, table) -> None:
        import pyarrow.parquet as pq

        if table.num_rows == 0:
            return
        if split not in self.writers:
            path = self.out_dir / SPLIT_FILE.format(split=split)
            self.writers[split] = pq.ParquetWriter(str(path) + ".tmp", table.schema)
            self.counts[split] = 0
        self.writers[split].write_table(table)
        self.counts[split] += table.num_rows

    def close(self) -> dict:
        for split, w in self.writers.items():
            w.close()
            path = self.out_dir / SPLIT_FILE.format(split=split)
            os.replace(str(path) + ".tmp", path)
        return dict(self.counts)


class ExcludedWriter:
    """Every dropped row, with its stage and reason, in excluded/<stage>.parquet."""

    def __init__(self, out_dir: Path):
        self.dir = out_dir / "excluded"
        self.dir.mkdir(parents=True, exist_ok=True)
        for old in self.dir.glob("*.parquet"):
            old.unlink()
        self.writers = {}

    def add(self, stage: str, dropped, stats) -> None:
        """dropped: an Arrow table with `reason` and, where known, id / source_index."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        from ..data.schemas import excluded_schema

        if dropped is None or dropped.num_rows == 0:
            return
        reasons = dropped["reason"].to_pylist()
        for r in set(reasons):
            stats.drop(stage, r, reasons.count(r))
        n = dropped.num_rows
        names = dropped.column_names
        detail_cols = [c for c in names if c not in ("reason", "id", "source_index")]
        details = [json.dumps(row, ensure_ascii=False, default=str)[:4000] for row in dropped.select(detail_cols).to_pylist()]
        t = pa.table({
            "stage": pa.array([stage] * n, pa.string()),
            "reason": dropped["reason"],
            "id": dropped["id"] if "id" in names else pa.nulls(n, pa.string()),
            "source_index": dropped["source_index"] if "source_index" in names else pa.nulls(n, pa.int64()),
            "detail": pa.array(details, pa.string()),
        }, schema=excluded_schema())
        if stage not in self.writers:
            self.writers[stage] = pq.ParquetWriter(str(self.dir / f"{stage}.parquet"), excluded_schema())
        self.writers[stage].write_table(t)

    def close(self) -> None:
        for w in self.writers.values():
            w.close()

