"""Crash-safe generation shards: each finished shard is one Parquet file written atomically
(temp file + fsync + rename) followed by a completion marker. A rerun skips shards whose marker
exists; a rerun with another fingerprint refuses to mix outputs."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from .errors import PairforgeError

WORK = "_work"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    _atomic_write_bytes(path, text.encode())


def _atomic_write_parquet(path: Path, table) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    _atomic_write_bytes(path, sink.getvalue().to_pybytes())


class ShardStore:
    def __init__(self, out_dir: Path, fingerprint: str, fresh: bool = False):
        self.out_dir = out_dir
        self.fingerprint = fingerprint
        self.dir = out_dir / WORK / "shards"
        manifest = out_dir / WORK / "manifest.json"
        if fresh and (out_dir / WORK).exists():
            shutil.rmtree(out_dir / WORK)
        if manifest.exists():
            old = json.loads(manifest.read_text()).get("fingerprint")
            if old != fingerprint:
                raise PairforgeError(
                    f"output.dir {out_dir} holds shards of another recipe (fingerprint {old}, this one is "
                    f"{fingerprint}); rerun with --fresh to delete them, or set another output.dir"
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        for stale in self.dir.glob(".*.tmp-*"):  # left by a killed run
            stale.unlink()
        if not manifest.exists():
            atomic_write_text(manifest, json.dumps({"fingerprint": fingerprint}))

    @classmethod
    def attach(cls, out_dir: Path, fingerprint: str) -> "ShardStore":
        """The store of a running build, opened by a worker (no cleanup, no manifest writes)."""
        store = cls.__new__(cls)
        store.out_dir, store.fingerprint = out_dir, fingerprint
        store.dir = out_dir / WORK / "shards"
        return store

    def input_path(self, index: int) -> Path:
        return self.out_dir / WORK / "input" / f"shard-{index:06d}.parquet"

    def write_input(self, index: int, table) -> None:
        """A shard's rows before generation, for workers elsewhere (Ray executor)."""
        path = self.input_path(index)
        path.parent.mkdir(parents=True, exist_ok=True)
        _atomic_write_parquet(path, table)

    def path(self, index: int) -> Path:
        return self.dir / f"shard-{index:06d}.parquet"

    def marker(self, index: int) -> Path:
        return self.dir / f"shard-{index:06d}.done"

    def is_done(self, index: int) -> bool:
        return self.marker(index).exists() and self.path(index).exists()

    def write(self, index: int, table, info: dict) -> None:
        _atomic_write_parquet(self.path(index), table)
        atomic_write_text(self.marker(index), json.dumps(info))

    def info(self, index: int) -> dict:
        return json.loads(self.marker(index).read_text())

    def done_indices(self) -> list[int]:
        return sorted(int(p.stem.split("-")[1]) for p in self.dir.glob("shard-*.done"))

    def read(self, index: int):
        import pyarrow.parquet as pq

        return pq.read_table(self.path(index))
