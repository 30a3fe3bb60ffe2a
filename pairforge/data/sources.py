"""The recipe's SFT source: loaded through data/load.py, shuffled and limited, with a digest of
its content for the fingerprint. Batches carry each row's original index (for excluded/)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import DataError
from ..recipe import Recipe
from .load import load_hub, load_local
from .schemas import SOURCE_INDEX


@dataclass
class Loaded:
    dataset: object  # datasets.Dataset, already shuffled / limited
    indices: list[int]  # original row index of each row of `dataset`
    description: str
    digest: str  # identifies the data's content (for the fingerprint)

    def batches(self, size: int):
        """Arrow batches of the rows, each with the SOURCE_INDEX column appended."""
        import pyarrow as pa

        pos = 0
        for batch in self.dataset.with_format("arrow").iter(batch_size=size):
            n = batch.num_rows
            yield batch.append_column(SOURCE_INDEX, pa.array(self.indices[pos : pos + n], pa.int64()))
            pos += n


def load_source(recipe: Recipe) -> Loaded:
    """Load the recipe's source, apply shuffle and limit."""
    s = recipe.source
    if s.path:
        path = recipe.resolve_path(s.path)
        if not path.exists():
            raise DataError(f"source.path: {s.path}: no such file or folder (looked in {recipe.base_dir} and the working directory)")
        ds = load_local(path, s.split, "source.path")
        desc, digest = str(path), _digest_path(path)
    else:
        ds = load_hub(s.hub, "source.hub", s.config, s.split, s.revision)
        desc = s.hub + (f"@{s.revision}" if s.revision else "")
        digest = f"hub:{s.hub}:{s.config}:{s.split}:{s.revision or ds._fingerprint}"
    indices = list(range(len(ds)))
    if s.shuffle:
        import random

        random.Random(s.seed).shuffle(indices)
    if s.limit is not None:
        indices = indices[: s.limit]
    if len(indices) != len(ds) or s.shuffle:
        ds = ds.select(indices)
    return Loaded(ds, indices, desc, digest)


def _digest_path(path: Path) -> str:
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(str(f.relative_to(path)).encode())
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]
