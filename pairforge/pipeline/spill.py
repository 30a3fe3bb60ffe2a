"""Disk-backed pieces for stages that see the whole source before deciding (near-dedupe).

`Buckets`: records appended to one file per bucket of their key's top bits (datatrove's MinHash
buckets), so a bucket is read and sorted alone: memory is a bucket, not the index. `run_two_pass`:
runs the pre-generation stages with such a stage in them: first pass, the stages before it and its
`observe` (the rows kept so far go to a Parquet file); then its `resolve`; second pass over that file,
it and the stages after it, each a plain stage (table in, kept and dropped-with-reason out).
"""

from __future__ import annotations

import os
from pathlib import Path

RECORD = [("key", "<u8"), ("row", "<u4")]
FLUSH = 1 << 20  # records buffered before they are written to their buckets (12 MiB)
SPILL_BATCH = 1000  # rows per table on the second pass (a build reads 1000 at a time)


class Buckets:
    """(uint64 key, uint32 row) records, bucketed by the key's top `bits` bits, one file each.
    Within a bucket, records keep the order they were added in."""

    def __init__(self, folder: Path, bits: int = 9):
        self.folder, self.bits, self.pending, self.buffered = Path(folder), bits, [], 0
        self.folder.mkdir(parents=True, exist_ok=True)

    def add(self, keys, rows) -> None:
        import numpy as np

        rec = np.empty(len(keys), dtype=RECORD)
        rec["key"], rec["row"] = keys, rows
        self.pending.append(rec)
        self.buffered += len(rec)
        if self.buffered >= FLUSH:
            self.flush()

    def flush(self) -> None:
        import numpy as np

        if not self.pending:
            return
        rec = np.concatenate(self.pending)
        self.pending, self.buffered = [], 0
        bucket = (rec["key"] >> np.uint64(64 - self.bits)).astype(np.int64)
        rec = rec[np.argsort(bucket, kind="stable")]  # stable: rows stay in the order they came
        ends = np.cumsum(np.bincount(bucket, minlength=1 << self.bits))
        for b, (lo, hi) in enumerate(zip(np.concatenate([[0], ends[:-1]]), ends)):
            if hi > lo:
                with open(self.folder / f"{b:04d}.bin", "ab") as f:
                    f.write(rec[lo:hi].tobytes())

    def __iter__(self):
        """Each non-empty bucket's records, as one NumPy record array."""
        import numpy as np

        self.flush()
        for b in range(1 << self.bits):
            path = self.folder / f"{b:04d}.bin"
            if path.exists():
                yield np.fromfile(path, dtype=RECORD)


def read_rows(path: Path, rows, width: int):
    """Fixed-width rows `rows` (sorted, unique) of a binary file, as a (len(rows), width) uint8
    array: one pread each, so only what is read is held (a memory map would count every page it
    touches in the process's resident memory)."""
    import numpy as np

    fd = os.open(path, os.O_RDONLY)
    try:
        data = b"".join(os.pread(fd, width, int(r) * width) for r in rows.tolist())
    finally:
        os.close(fd)
    return np.frombuffer(data, dtype=np.uint8).reshape(len(rows), width)


def counted(batches, stats):
    """The source batches, each counted in stats.rows_read as it is read."""
    for batch in batches:
        stats.rows_read += batch.num_rows
        yield batch


def two_pass_at(stages: list) -> int | None:
    """The index of the stage that must see every row before deciding (it has `observe`), if any."""
    at = [k for k, s in enumerate(stages) if hasattr(s, "observe")]
    if len(at) > 1:
        raise ValueError("at most one stage may see the whole source first")
    return at[0] if at else None


def run_two_pass(batches, stages: list, stats, excluded, workdir=None):
    """Yield the rows left after `stages`, a table at a time, for source `batches` (see the module
    docstring). Without a whole-source stage, one pass: a table per batch."""
    import tempfile

    import pyarrow as pa
    import pyarrow.parquet as pq

    from .stage import run_stages

    at = two_pass_at(stages)
    if at is None:
        for batch in batches:
            yield run_stages(batch, stages, stats, excluded)
        return
    head, barrier, tail = stages[:at], stages[at], stages[at:]
    with tempfile.TemporaryDirectory(prefix="pairforge-spill-", dir=workdir) as tmp:
        path, writer, table = Path(tmp) / "rows.parquet", None, None
        barrier.spill_dir = Path(tmp)
        for batch in batches:
            table = run_stages(batch, head, stats, excluded)
            with stats.timed(barrier.name):
                barrier.observe(table)
                if table.num_rows:
                    writer = writer or pq.ParquetWriter(str(path), table.schema)
                    writer.write_table(table)
        if writer is None:  # no row reached it: the later stages still record their (empty) funnel
            if table is not None:
                yield run_stages(table, tail, stats, excluded)
            return
        writer.close()
        with stats.timed(barrier.name):
            barrier.resolve()
        for b in pq.ParquetFile(str(path)).iter_batches(batch_size=SPILL_BATCH):
            yield run_stages(pa.Table.from_batches([b]), tail, stats, excluded)
