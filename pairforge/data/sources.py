"""The recipe's SFT source: loaded through data/load.py (or, for .json/.jsonl, data/jsonrows.py,
which keeps each row's own types), shuffled and limited, with a digest of its content for the
fingerprint. Batches carry each row's original index (for excluded/).

A folder's (or a local source.hub folder's) .json/.jsonl data files go through jsonrows too, one file
after another in the order `datasets` resolves them; CSV columns are read as the text written.

Streaming (`source.streaming`, or automatically with a `limit` and no `shuffle`: for a local file
or folder over AUTO_STREAM_BYTES, and for a Hub dataset always): rows are read as they are needed,
in order; memory stays flat, and a Hub dataset's files are fetched only as far as the rows used."""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import DataError
from ..recipe import Recipe
from .load import builder_for, first_line, hub_json_files, load_hub, load_local, plain_json_files
from .schemas import ROW_BAD, ROW_DETAIL, ROW_JSON, SOURCE_INDEX

AUTO_STREAM_BYTES = 64 << 20  # a limited read of a local file larger than this streams
COLUMN_SAMPLE = 1000  # the columns of JSON rows are the keys seen in the first rows used


@dataclass
class Loaded:
    column_names: list[str]
    description: str
    digest: str  # identifies the data's content (for the fingerprint)
    make_batches: Callable  # size -> Arrow batches, each with the SOURCE_INDEX column
    info: dict = field(default_factory=dict)  # for stats.json `source`
    counter: object = None  # bytes read by the last pass (JSON sources)

    def batches(self, size: int):
        yield from self.make_batches(size)

    def stats(self) -> dict:
        out = dict(self.info)
        if self.counter is not None:
            out["bytes_read"] = self.counter.bytes_read
        return out


def load_source(recipe: Recipe) -> Loaded:
    """Load the recipe's source, apply shuffle and limit."""
    s = recipe.source
    if s.hub:
        return _hub_source(s)
    path = recipe.resolve_path(s.path)
    if not path.exists():
        raise DataError(f"source.path: {s.path}: no such file or folder (looked in {recipe.base_dir} and the working directory)")
    streaming = _streams(s, path)
    files = [path] if not path.is_dir() and builder_for(path) == "json" else None
    if path.is_dir():
        files = plain_json_files(path, s.split, "source.path")
    if files:
        return _json_source(s, files, path, streaming, "source.path")
    ds = load_local(path, s.split, "source.path", streaming=streaming, text_csv=True)
    if streaming and not isinstance(ds, _dataset_type()):
        return _iterable_loaded(ds, s, str(path), _digest_path(path), f"source.path: {path}")
    return _dataset_loaded(ds, s, str(path), _digest_path(path), f"source.path: {path}")


def _streams(s, path: Path) -> bool:
    if s.streaming is not None:
        return s.streaming
    if s.limit is None or s.shuffle:
        return False
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return size > AUTO_STREAM_BYTES


def _dataset_type():
    import datasets

    return datasets.Dataset


def _order(n: int, s) -> list[int]:
    indices = list(range(n))
    if s.shuffle:
        import random

        random.Random(s.seed).shuffle(indices)
    return indices[: s.limit] if s.limit is not None else indices


def _dataset_loaded(ds, s, desc: str, digest: str, where: str, info: dict | None = None) -> Loaded:
    import pyarrow as pa

    if len(ds) == 0:
        raise DataError(f"{where} has no rows")
    indices = _order(len(ds), s)
    if len(indices) != len(ds) or s.shuffle:
        ds = ds.select(indices)

    def batches(size: int):
        pos = 0
        for batch in ds.with_format("arrow").iter(batch_size=size):
            n = batch.num_rows
            yield batch.append_column(SOURCE_INDEX, pa.array(indices[pos : pos + n], pa.int64()))
            pos += n

    return Loaded(list(ds.column_names), desc, digest, batches, {"streaming": False, **(info or {})})


def _iterable_loaded(ds, s, desc: str, digest: str, where: str, info: dict | None = None) -> Loaded:
    """A `datasets.IterableDataset`: rows in order, up to `limit` (counted here: `take()` reads one
    chunk past the limit, on the Hub the next file); nothing cached."""
    import pyarrow as pa

    def batches(size: int):
        pos, limit = 0, s.limit if s.limit is not None else float("inf")
        try:
            for batch in ds.with_format("arrow").iter(batch_size=size):
                n = min(batch.num_rows, limit - pos)
                yield batch.slice(0, n).append_column(SOURCE_INDEX, pa.array(range(pos, pos + n), pa.int64()))
                pos += n
                if pos >= limit:
                    return
        except Exception as e:  # datasets raises many types for unreadable files
            raise DataError(f"{where}: cannot be read: {first_line(e)}") from None

    first = next(batches(1), None)
    if first is None:
        raise DataError(f"{where} has no rows")
    columns = [c for c in first.column_names if c != SOURCE_INDEX]
    return Loaded(columns, desc, digest, batches, {"streaming": True, **(info or {})})


def _json_source(s, files, path, streaming: bool, what: str, desc: str | None = None,
                 digest: str | None = None, info: dict | None = None) -> Loaded:
    """JSON rows (a file, or a folder's data files in order) read by jsonrows, each with its own types."""
    from .jsonrows import Counter, prefix_digest, read_files

    counter = Counter(None)
    if streaming:
        if digest is None:
            digest = prefix_digest(files, s.on_bad_lines, what, s.limit) if s.limit else _digest_path(path)

        def records():
            counter.bytes_read = 0
            numbers = range(s.limit) if s.limit is not None else itertools.count()
            return zip(numbers, read_files(files, s.on_bad_lines, what, counter))
    else:
        every = list(read_files(files, s.on_bad_lines, what, counter))
        digest, order = digest or _digest_path(path), _order(len(every), s)

        def records():
            return ((i, every[i]) for i in order)

    head = list(itertools.islice(records(), COLUMN_SAMPLE))
    if not head:
        raise DataError(f"{what}: {path} has no rows")
    return Loaded(_keys(head), desc or str(path), digest, lambda size: _json_batches(records(), size),
                  {"streaming": streaming, **(info or {})}, counter)


def _keys(head: list) -> list[str]:
    import json

    seen: dict[str, None] = {}
    for _, (text, _bad, _detail) in head:
        row = json.loads(text) if text is not None else None
        if isinstance(row, dict):
            seen.update(dict.fromkeys(row))
    return list(seen)


def _json_batches(records, size: int):
    import pyarrow as pa

    while chunk := list(itertools.islice(records, size)):
        yield pa.table({
            ROW_JSON: pa.array([r[0] for _, r in chunk], pa.string()),
            ROW_BAD: pa.array([r[1] for _, r in chunk], pa.string()),
            ROW_DETAIL: pa.array([r[2] for _, r in chunk], pa.string()),
            SOURCE_INDEX: pa.array([i for i, _ in chunk], pa.int64()),
        })


def hub_commit(repo: str, revision: str | None, what: str = "source.hub") -> tuple[str, dict]:
    """The commit sha a Hub dataset's revision (branch, tag or sha) points at now, and what
    stats.json records of it ({"commit": sha, "license": the card's license, where it has one})."""
    from huggingface_hub import HfApi

    from ..hub.licenses import card_license

    try:
        info = HfApi().dataset_info(repo, revision=revision)
    except Exception as e:  # huggingface_hub raises many types (HTTP, not found, gated)
        raise DataError(f"{what}: cannot resolve {repo!r} at revision {revision or 'main'}: {first_line(e)}") from None
    lic = card_license(info)
    return info.sha, {"commit": info.sha, **({"license": lic} if lic else {})}


def _hub_source(s) -> Loaded:
    local = Path(s.hub).expanduser()
    where, desc = f"source.hub: {s.hub}", s.hub + (f"@{s.revision}" if s.revision else "")
    if local.is_dir():  # a Hub-style dataset repo checked out locally: its files are its identity
        sha, info, digest, streaming = None, {}, f"hub-folder:{s.config}:{s.split}:{_digest_path(local)}", _streams(s, local)
        files = plain_json_files(local, s.split, "source.hub", s.config)
        if files:
            return _json_source(s, files, local, streaming, "source.hub", desc=s.hub, digest=digest)
    else:  # a limited, ordered read streams: only the files (and bytes) that hold its rows are fetched
        from ..hub.errors import hub_token

        hub_token(None)  # a token HTTP cannot carry: one line that never shows it, before any request
        sha, info = hub_commit(s.hub, s.revision)
        digest = f"hub:{s.hub}:{s.config}:{s.split}:{sha}"
        streaming = s.streaming if s.streaming is not None else (s.limit is not None and not s.shuffle)
        names = hub_json_files(s.hub, s.config, s.split, sha, "source.hub")
        if names:
            return _json_source(s, _HubFiles(s.hub, sha, names), s.hub, streaming, "source.hub", desc, digest, info)
    ds = load_hub(s.hub, "source.hub", s.config, s.split, sha or s.revision, streaming=streaming, text_csv=True)
    if streaming and not isinstance(ds, _dataset_type()):
        return _iterable_loaded(ds, s, desc, digest, where, info)
    return _dataset_loaded(ds, s, desc, digest, where, info)


class _HubFiles:
    """A Hub dataset's JSON data files at a commit, each downloaded (once, to the cache) when reached."""

    def __init__(self, repo: str, sha: str, names: list[str]):
        self.repo, self.sha, self.names = repo, sha, names

    def __iter__(self):
        from huggingface_hub import hf_hub_download

        for name in self.names:
            try:
                yield Path(hf_hub_download(self.repo, name, repo_type="dataset", revision=self.sha))
            except Exception as e:  # huggingface_hub raises many types (HTTP, disk)
                raise DataError(f"source.hub: {self.repo}: cannot download {name} at {self.sha}: {first_line(e)}") from None


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
