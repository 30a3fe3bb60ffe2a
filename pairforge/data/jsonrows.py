"""Read a .json/.jsonl source row by row (a file, or a folder's or Hub dataset's data files one
after another), keeping each row's own Python types.

The `datasets` json loader unifies a column's type across rows, so one row with `"input": 5`
turned every other row's text into JSON text (`'"abc"'`). Here each row stays as written: the
row's JSON text goes on to the Normalise stage, whose per-row checks decide. JSON Lines are read
a line at a time (stdlib json); a top-level array is read an item at a time (ijson). A record is
`(text, None, None)` for a row, or `(None, reason, detail)` for a line that cannot be read.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Iterator

from ..errors import DataError

CHUNK = 1 << 16


class Counter:
    """A binary file wrapper that counts (and optionally hashes) the bytes read through it."""

    def __init__(self, fh, digest=None):
        self.fh, self.digest, self.bytes_read = fh, digest, 0

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        self.bytes_read += len(data)
        if self.digest is not None:
            self.digest.update(data)
        return data


def _first_byte(path: Path) -> bytes:
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            if not chunk:
                return b""
            chunk = chunk.removeprefix(b"\xef\xbb\xbf").lstrip()
            if chunk:
                return chunk[:1]


def read_files(paths: list[Path], on_bad_lines: str, what: str, counter: Counter) -> Iterator[tuple]:
    """Every record of the files, one file after another (a folder's data files, in their order)."""
    for path in paths:
        yield from read_records(path, on_bad_lines, what, counter)


def read_records(path: Path, on_bad_lines: str, what: str, counter: Counter) -> Iterator[tuple]:
    """Every record of the file in order; raises DataError on the first bad one unless skipping."""
    if _first_byte(path) == b"[":
        yield from _array_records(path, what, counter)
    else:
        yield from _line_records(path, on_bad_lines, what, counter)


def _line_records(path: Path, on_bad_lines: str, what: str, counter: Counter) -> Iterator[tuple]:
    offset = 0
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(iter(lambda: _readline(fh, counter), b""), start=1):
            start, offset = offset, offset + len(raw)
            if lineno == 1:
                raw = raw.removeprefix(b"\xef\xbb\xbf")
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                detail = f"line {lineno} (byte {start + e.start}): not UTF-8 ({raw[max(0, e.start - 20):e.start + 5]!r})"
                yield _bad(path, "bad_utf8", detail, on_bad_lines, what)
                continue
            if not line.strip():
                continue
            try:
                json.loads(line)
            except ValueError as e:
                detail = f"line {lineno}: not JSON ({e}): {line.strip()[:200]}"
                yield _bad(path, "bad_json_line", detail, on_bad_lines, what)
                continue
            yield line.strip(), None, None


def _readline(fh, counter: Counter) -> bytes:
    line = fh.readline()
    counter.bytes_read += len(line)
    if counter.digest is not None:
        counter.digest.update(line)
    return line


def _bad(path: Path, reason: str, detail: str, on_bad_lines: str, what: str) -> tuple:
    if on_bad_lines != "skip":
        raise DataError(f"{what}: {path}: {detail}; fix the file, or set source.on_bad_lines: skip "
                        f"to drop such lines (recorded in excluded/normalise.parquet as {reason})")
    return None, reason, detail


def _array_records(path: Path, what: str, counter: Counter) -> Iterator[tuple]:
    import ijson

    with open(path, "rb") as fh:
        wrapped, before = Counter(fh, counter.digest), counter.bytes_read
        try:
            for item in ijson.items(wrapped, "item", use_float=True, buf_size=CHUNK):
                counter.bytes_read = before + wrapped.bytes_read
                yield json.dumps(item, ensure_ascii=False), None, None
        except ijson.JSONError as e:
            raise DataError(f"{what}: {path}: not valid JSON at {_locate(path, wrapped.bytes_read)} "
                            f"({_first(e)}); source.on_bad_lines: skip applies to JSON Lines only") from None


def _first(e: BaseException) -> str:
    text = e.args[0] if e.args else str(e)
    text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return text.strip().splitlines()[0] if text.strip() else type(e).__name__


def _locate(path: Path, read_upto: int) -> str:
    """Where a JSON document goes wrong: the first non-UTF-8 byte, else the JSON error's byte."""
    import codecs

    dec, offset = codecs.getincrementaldecoder("utf-8")(), 0
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            try:
                dec.decode(chunk)
            except UnicodeDecodeError as e:
                return f"byte {offset + e.start} (not UTF-8)"
            offset += len(chunk)
    if path.stat().st_size <= 64 << 20:
        try:
            text = path.read_text("utf-8-sig")
            json.loads(text)
        except ValueError as e:
            pos = getattr(e, "pos", None)
            if pos is not None:
                return f"byte {len(text[:pos].encode())} (line {e.lineno}, column {e.colno})"
    return f"or before byte {read_upto}"


def prefix_digest(paths: list[Path], on_bad_lines: str, what: str, limit: int) -> str:
    """A digest of the bytes that hold the first `limit` records: all a limited stream reads."""
    counter = Counter(None, hashlib.sha256())
    for n, _ in enumerate(read_files(paths, on_bad_lines, what, counter), start=1):
        if n >= limit:
            break
    counter.digest.update(f"|limit={limit}".encode())
    return "prefix:" + counter.digest.hexdigest()[:16]
