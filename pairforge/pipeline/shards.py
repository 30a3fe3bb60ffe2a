"""Crash-safe generation shards under `<output.dir>/_work/`.

Each shard's input rows are written before generation (`input/`), so any worker (here or on a
Ray node) can run it. A finished shard is its kept and dropped rows, each written atomically,
then a completion marker: a rerun skips shards whose marker exists, and a rerun with another
fingerprint refuses to mix outputs. `finished/` holds each shard after the post-generation
stages, for the split writer.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import PairforgeError
from ..io import atomic_write_parquet, atomic_write_text

WORK = "_work"
LAYOUT = 2  # the shard files' layout; a store of another layout is not resumed


class ShardStore:
    def __init__(self, out_dir: Path):
        self.out_dir = Path(out_dir)
        self.work = self.out_dir / WORK
        self.dir = self.work / "shards"

    @classmethod
    def open(cls, out_dir: Path, fingerprint: str, fresh: bool = False) -> "ShardStore":
        """The store of a new or resumed build: refuses shards of another recipe, cleans temp files."""
        store = cls(out_dir)
        manifest = store.work / "manifest.json"
        if fresh and store.work.exists():
            shutil.rmtree(store.work)
        if manifest.exists():
            old = json.loads(manifest.read_text())
            if old.get("fingerprint") != fingerprint or old.get("layout") != LAYOUT:
                raise PairforgeError(
                    f"output.dir {out_dir} holds shards of another recipe (fingerprint {old.get('fingerprint')}, "
                    f"this one is {fingerprint}); rerun with --fresh to delete them, or set another output.dir"
                )
        for sub in ("shards", "input", "finished"):
            (store.work / sub).mkdir(parents=True, exist_ok=True)
            for stale in (store.work / sub).glob(".*.tmp-*"):  # left by a killed run
                stale.unlink()
        if not manifest.exists():
            atomic_write_text(manifest, json.dumps({"fingerprint": fingerprint, "layout": LAYOUT}))
        return store

    def _file(self, sub: str, index: int, suffix: str = ".parquet") -> Path:
        return self.work / sub / f"shard-{index:06d}{suffix}"

    def write_input(self, index: int, table) -> None:
        atomic_write_parquet(self._file("input", index), table)

    def read_input(self, index: int):
        import pyarrow.parquet as pq

        return pq.read_table(self._file("input", index))

    def is_done(self, index: int) -> bool:
        return all(self._file("shards", index, s).exists() for s in (".done", ".parquet", ".dropped.parquet"))

    def write(self, index: int, kept, dropped, info: dict) -> None:
        atomic_write_parquet(self._file("shards", index), kept)
        atomic_write_parquet(self._file("shards", index, ".dropped.parquet"), dropped)
        atomic_write_text(self._file("shards", index, ".done"), json.dumps(info))

    def info(self, index: int) -> dict:
        return json.loads(self._file("shards", index, ".done").read_text())

    def read(self, index: int):
        """(kept, dropped) of a finished shard."""
        import pyarrow.parquet as pq

        return (pq.read_table(self._file("shards", index)),
                pq.read_table(self._file("shards", index, ".dropped.parquet")))

    def write_finished(self, index: int, table) -> None:
        atomic_write_parquet(self._file("finished", index), table)

    def read_finished(self, index: int):
        import pyarrow.parquet as pq

        return pq.read_table(self._file("finished", index))
