"""Disk-backed records for the whole-source stages (exact and near dedupe): `Buckets`, records grouped by
their key's top bits (datatrove's MinHash buckets) and appended to a file in sorted runs, so a bucket
is read and sorted alone: memory is a bucket, not the index; `read_rows`, fixed-width rows of a file."""

from __future__ import annotations

import os
from pathlib import Path

RECORD = [("key", "<u8"), ("row", "<u4")]
FLUSH = 1 << 18  # records buffered before they are written as a run (3 MiB; 1 << 20: near-dedupe peak RSS +46 MiB at 100k rows)


class Buckets:
    """(uint64 key, uint32 row) records, bucketed by the key's top `bits` bits. Each full buffer is
    sorted by bucket (stably) and appended to one file as a run; each run's bucket bounds are kept
    (2**bits + 1 int64s a run of FLUSH records: 4 KiB, 5 MB for 10M near-dedupe rows), so a bucket
    is read alone, a slice of each run, and its records come in the order they were added.

    One file of runs rather than a file per bucket (datatrove's layout, this class's first one): a
    flush of near-dedupe's records opened, appended to and closed 512 files; that thread took 0.96 s
    for the near-dup benchmark's 100k rows, holding the GIL between its calls, and the first pass
    waited 0.33 s on it (0.04 s now). Near-dedupe of those rows: 1.79-1.91 s, now 1.52-1.58 s
    (in one process, 3 runs each)."""

    def __init__(self, folder: Path, bits: int = 9):
        if not 0 < bits <= 16:
            raise ValueError("Buckets: bits must be 1..16")
        self.folder, self.bits, self.pending, self.buffered = Path(folder), bits, [], 0
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path, self.runs = self.folder / "runs.bin", []  # runs: each one's bucket bounds, byte offsets in the file
        self.behind = None  # the sorting and writing of a full buffer, on a thread (parallel.WriteBehind)

    def add(self, keys, rows) -> None:
        import numpy as np

        rec = np.empty(len(keys), dtype=RECORD)
        rec["key"], rec["row"] = keys, rows
        self.pending.append(rec)
        self.buffered += len(rec)
        if self.buffered >= FLUSH:
            self._hand_off()

    def _hand_off(self) -> None:
        """The buffered records to the writer thread (one buffer waits at most: 2 x FLUSH records held)."""
        import numpy as np

        from .parallel import WriteBehind

        if self.pending:
            self.behind = self.behind or WriteBehind(self._write, ahead=1)
            self.behind.put(np.concatenate(self.pending))
            self.pending, self.buffered = [], 0

    def flush(self) -> None:
        """Every record added is in the file."""
        self._hand_off()
        if self.behind is not None:
            behind, self.behind = self.behind, None
            behind.close()

    def _write(self, rec) -> None:
        import numpy as np

        bucket = (rec["key"] >> np.uint64(64 - self.bits)).astype(np.uint16)  # bits <= 16
        rec = rec[np.argsort(bucket, kind="stable")]  # stable: rows stay in order; on uint16 a radix sort (x6)
        bounds = np.zeros((1 << self.bits) + 1, dtype=np.int64)
        np.cumsum(np.bincount(bucket, minlength=1 << self.bits), out=bounds[1:])
        with open(self.path, "ab") as f:
            f.write(memoryview(rec).cast("B"))
        self.runs.append((self.runs[-1][-1] if self.runs else 0) + bounds * rec.itemsize)

    def __iter__(self):
        """Each non-empty bucket's records, as one NumPy record array (read-only; one pread a run)."""
        import numpy as np

        self.flush()
        if not self.runs:
            return
        runs = np.stack(self.runs)  # (runs, buckets + 1)
        fd = os.open(self.path, os.O_RDONLY)
        try:
            for b in range(1 << self.bits):
                start, n = runs[:, b], runs[:, b + 1] - runs[:, b]
                if n.any():
                    has = n > 0
                    data = b"".join(os.pread(fd, k, o) for o, k in zip(start[has].tolist(), n[has].tolist()))
                    if len(data) != n.sum():  # the file lost what was written to it
                        raise OSError(f"{self.path}: {len(data)} bytes read of bucket {b}'s {n.sum()}")
                    yield np.frombuffer(data, dtype=RECORD)
        finally:
            os.close(fd)


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
