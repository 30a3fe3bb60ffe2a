"""Stages that see the whole source before deciding (exact and near dedupe), and their two passes.

`WholeSource` (its index on disk: buckets.py): such a stage's first pass (`observe`), decision
(`resolve`) and second pass (`__call__`, a plain stage: table in, kept and dropped-with-reason out). `run_two_pass` runs the pre-generation stages
with such stages in them (consecutive): first pass, the stages before them and their `observe` (the
rows kept so far go to an uncompressed Arrow IPC file); then each one's `resolve`, a later one not seeing the rows an
earlier one drops; second pass over that file, them and the stages after them.
"""

from __future__ import annotations

from pathlib import Path

SPILL_BATCH = 1000  # rows per table on the second pass (a build reads 1000 at a time)
SPILL_PREFIX = "pairforge-spill-"  # the first pass's folder (a build's own is removed by its next run if killed)


class WholeSource:
    """A stage that decides once it has seen every row: subclasses sign a table's rows in
    `_sign(table)` (pure), keep the signatures in `_observe(signed, first_row)` and name the rows to
    drop in `_decide(absent)` (global row numbers, ascending; the
    `absent` rows, dropped by an earlier stage, are neither compared nor dropped). Called on a table
    it has not observed, it observes and decides it first (a one-off call; rows it decided before
    get the same decisions again, so calls batch by batch drop what one pass would)."""

    name = reason = ""

    def __init__(self):
        import numpy as np

        self.spill_dir, self._tmp = None, None
        self.n = self.served = self.resolved = 0  # rows observed, handed back, decided
        self.global_drops = self.drops = np.zeros(0, dtype=np.int64)  # ascending: all rows, rows handed in

    def folder(self) -> Path:
        """Where this stage spills (spill_dir, set by run_two_pass, or a temporary folder of its own)."""
        import tempfile

        if self.spill_dir is None and self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix=SPILL_PREFIX)
        folder = Path(self.spill_dir or self._tmp.name) / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def observe(self, table) -> None:
        """Keep the table's rows' signatures."""
        if self.n + table.num_rows > 2**32:
            raise ValueError(f"{self.name} holds at most 2**32 rows")
        self._observe(self._sign(table), self.n)
        self.n += table.num_rows

    def resolve(self, absent=None) -> None:
        import numpy as np

        absent = np.zeros(0, dtype=np.int64) if absent is None else absent
        self.global_drops = self._decide(absent)
        self.drops = self.global_drops - np.searchsorted(absent, self.global_drops)  # numbered as handed in
        self.resolved = self.n - len(absent)

    def __call__(self, table):
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        from .stage import split_by_reason

        if self.served == self.resolved == self.n:  # nothing observed waits: a one-off call
            self.observe(table)
            self.resolve()
        if self.served + table.num_rows > self.resolved:
            raise ValueError(f"{self.name}: {table.num_rows} rows handed in, {self.resolved - self.served} observed")
        lo, hi = np.searchsorted(self.drops, [self.served, self.served + table.num_rows])
        drop = np.zeros(table.num_rows, dtype=bool)
        drop[self.drops[lo:hi] - self.served] = True
        self.served += table.num_rows
        return split_by_reason(table, pc.if_else(pa.array(drop), self.reason, pa.scalar(None, pa.string())))


def counted(batches, stats):
    """The source batches, each counted in stats.rows_read as it is read."""
    for batch in batches:
        stats.rows_read += batch.num_rows
        yield batch


def whole_source_at(stages: list) -> list[int]:
    """The indices of the stages that see the whole source first (consecutive)."""
    at = [k for k, s in enumerate(stages) if isinstance(s, WholeSource)]
    if at and at != list(range(at[0], at[-1] + 1)):
        raise ValueError("stages that see the whole source first must follow one another")
    return at


def run_two_pass(batches, stages: list, stats, excluded, workdir=None):
    """Yield the rows left after `stages`, a table at a time, for source `batches` (see the module
    docstring). Without a whole-source stage, one pass: a table per batch. The source is read
    ahead on a thread of its own and the first pass's rows are written behind on another
    (parallel.py); the first pass's own work (the stages before the whole-source ones, signing,
    observing) runs in this thread, and the stages after them run on the stage threads.

    Why the first pass has no stage threads (measured, benchmarks/quality.py's 200k rows, 6 runs
    interleaved): with them, pre filter + exact signing took 1.02 s (median; runs from 0.73 to
    1.43 s as the threads contended for the GIL with the reader and the writer) against 0.74 s
    (0.70-0.77) in this thread; with near-dedupe's signing (rensa holds the GIL) 4.95 vs 4.93 s."""
    import tempfile

    import numpy as np

    from .parallel import prefetch, run_stages_threaded
    from .stage import run_stages

    at = whole_source_at(stages)
    if not at:
        yield from run_stages_threaded(batches, stages, stats, excluded)
        return
    head, whole, rest = stages[: at[0]], stages[at[0] : at[-1] + 1], stages[at[-1] + 1 :]

    with tempfile.TemporaryDirectory(prefix=SPILL_PREFIX, dir=workdir) as tmp:
        path, spill, table = Path(tmp) / "rows.arrow", _Spill(Path(tmp) / "rows.arrow"), None
        for s in whole:
            s.spill_dir = Path(tmp)
        try:
            for batch in prefetch(batches):
                table = run_stages(batch, head, stats, excluded)
                for s in whole:
                    with stats.timed(s.name):
                        s.observe(table)
                if table.num_rows:
                    spill.behind.put(table)
        except BaseException:
            spill.close(failed=True)
            raise
        spill.close()
        if not spill.rows:  # no row reached them: the later stages still record their (empty) funnel
            if table is not None:
                yield run_stages(table, whole + rest, stats, excluded)
            return
        absent = np.zeros(0, dtype=np.int64)
        for s in whole:
            with stats.timed(s.name):
                s.resolve(absent)
            absent = np.union1d(absent, s.global_drops)
        decided = (run_stages(t, whole, stats, excluded) for t in read_back(path, SPILL_BATCH))
        yield from run_stages_threaded(decided, rest, stats, excluded)


class _Spill:
    """The first pass's rows, written behind the stages (parallel.WriteBehind) to an Arrow IPC file."""

    def __init__(self, path: Path):
        from .parallel import WriteBehind

        self.path, self.writer, self.rows = path, None, 0
        self.behind = WriteBehind(self._write)

    def _write(self, table) -> None:
        import pyarrow as pa

        self.writer = self.writer or pa.ipc.new_file(str(self.path), table.schema, options=spill_options())
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self, failed: bool = False) -> None:
        """Wait for the writes and close the file; `failed`: the pass already failed, so a write's
        own error is not raised over it."""
        try:
            self.behind.close()
        except Exception:
            if not failed:
                raise
        finally:
            if self.writer is not None:
                self.writer.close()


def spill_options():
    """The spill file: Arrow IPC, uncompressed (as `datasets` keeps its own cache). Measured on the
    quality benchmark's 200k rows (163 MB in memory): Parquet (snappy) wrote 1.57 s / read 0.26 s /
    102 MB; IPC + zstd 0.67 CPU s / 0.22 / 64 MB; IPC + lz4 0.43 / 0.10 / 106 MB; IPC uncompressed
    0.07 / 0.02 / 163 MB, and filters + exact dedupe 2.34 s (3.67 CPU s) against 2.60 s (4.29) with
    zstd (medians of 5, interleaved). The file lives for one build's first pass; its disk is the
    source's size in Arrow, what `datasets` takes to load the same rows."""
    import pyarrow as pa

    return pa.ipc.IpcWriteOptions(compression=None)


def read_back(path: Path, size: int):
    """The rows of an Arrow IPC file in tables of `size` rows (the last one shorter), one record
    batch read at a time (from the file, not a memory map: a map would count every page read in the
    process's resident memory)."""
    import pyarrow as pa

    rest = None
    with pa.OSFile(str(path)) as f:
        reader = pa.ipc.open_file(f)
        for g in range(reader.num_record_batches):
            group = pa.Table.from_batches([reader.get_batch(g)])
            table = pa.concat_tables([rest, group]) if rest is not None else group
            whole = table.num_rows - table.num_rows % size
            for lo in range(0, whole, size):
                yield table.slice(lo, size).combine_chunks()
            rest = table.slice(whole)
    if rest is not None and rest.num_rows:
        yield rest.combine_chunks()
