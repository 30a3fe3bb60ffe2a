"""Writing the dataset folder: the deterministic split, Parquet splits under data/, excluded rows.
The published columns (the output layouts) are made in layouts.py."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path


SPLIT_FILE = "data/{split}-00000-of-00001.parquet"


def test_ids(ids: set[str], test_size: float, seed: int) -> set[str]:
    """Deterministic split by id: the same ids give the same test set, whatever their order.

    All samples of a prompt share its id, so they land in the same split (no leakage).
    """
    if test_size <= 0 or len(ids) < 2:
        return set()
    n_test = min(len(ids) - 1, max(1, math.ceil(test_size * len(ids))))
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(ranked[:n_test])


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

