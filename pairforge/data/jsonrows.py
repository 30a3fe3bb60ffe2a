"""Read a .json/.jsonl source row by row (a file, or a folder's or Hub dataset's data files one
after another), keeping each row's own Python types.

The `datasets` json loader unifies a column's type across rows, so one row with `"input": 5`
turned every other row's text into JSON text (`'"abc"'`). Here each row stays as written: the
row's JSON text goes on to the Normalise stage, whose per-row checks decide. JSON Lines are read
a line at a time (stdlib json); a top-level array is read an item at a time (ijson events, built
into values here). A record is `(text, None, None)` for a row, or `(None, reason, detail)` for a
line that cannot be read, or a row nested deeper than MAX_DEPTH (`too_deep`, whatever
on_bad_lines says: the JSON is valid, the row is not usable). A lone surrogate escape ("\\ud800")
is kept as written in both kinds, for Normalise to drop the row (non_utf8_text): the C ijson
backend would turn it into "?", so an array that holds one is read again with the Python backend.
"""

from __future__ import annotations

import hashlib
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Iterator

from ..errors import DataError

CHUNK = 1 << 16
MAX_DEPTH = 256  # a row nested deeper (arrays and objects) is dropped as too_deep

# The bytes up to the first lone surrogate escape (\uD800-\uDFFF not half of a pair): each escape
# is a pair, a non-\u one, or \u and four characters that do not start a surrogate. _PART: the
# start of an escape cut by the end of a chunk (the next chunk says what it is).
_HEX = rb"[0-9a-fA-F]"
_UP_TO_LONE = re.compile(rb"(?:[^\\]+|\\(?:u[dD][89abAB]" + _HEX * 2 + rb"\\u[dD][c-fC-F]" + _HEX * 2
                         + rb"|[^u]|u(?![dD][89a-fA-F])[\s\S]{4}))*")
_PART = re.compile(rb"\\(?:u(?:" + _HEX + rb"{0,3}|[dD][89abAB]" + _HEX * 2
                   + rb"(?:\\(?:u(?:[dD](?:[c-fC-F]" + _HEX + rb"?)?)?)?)?))?")


class Counter:
    """A binary file wrapper that counts (and optionally hashes) the bytes read through it; the
    first `hashed` bytes are not hashed (an earlier pass over the same file hashed them)."""

    def __init__(self, fh, digest=None, hashed: int = 0):
        self.fh, self.digest, self.bytes_read, self.hashed = fh, digest, 0, hashed

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        start = self.bytes_read
        self.bytes_read += len(data)
        if self.digest is not None and self.bytes_read > self.hashed:
            self.digest.update(data[max(0, self.hashed - start):])
            self.hashed = self.bytes_read
        return data


class _LoneSurrogate(Exception):
    def __init__(self, read: int):
        super().__init__(read)
        self.read = read  # the bytes read (and hashed) when it was seen


class _Watch(Counter):
    """A Counter that raises _LoneSurrogate before passing on bytes that hold a lone surrogate
    escape, which the C ijson backend would turn into "?" (or, in a key, fail on)."""

    tail = b""

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        buf = self.tail + data
        rest = buf[_UP_TO_LONE.match(buf).end():]
        if rest and not _PART.fullmatch(rest):
            raise _LoneSurrogate(self.bytes_read)
        self.tail = rest
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
                value = json.loads(line)
            except RecursionError:
                value = _TOO_DEEP
            except ValueError as e:
                detail = f"line {lineno}: not JSON ({e}): {line.strip()[:200]}"
                yield _bad(path, "bad_json_line", detail, on_bad_lines, what)
                continue
            if value is _TOO_DEEP or (line.count("[") + line.count("{") > MAX_DEPTH and _too_deep(value)):
                yield None, "too_deep", f"line {lineno}: nested deeper than {MAX_DEPTH} levels"
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


class _TooDeep:
    """An item (or line) nested deeper than MAX_DEPTH."""


_TOO_DEEP = _TooDeep()
_OPEN = {"start_map": dict, "start_array": list}
_CLOSE = {"end_map", "end_array"}


def _too_deep(value) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        inner = v.values() if isinstance(v, dict) else v
        stack += [(x, depth + 1) for x in inner if isinstance(x, (dict, list))]
    return False


def _array_records(path: Path, what: str, counter: Counter) -> Iterator[tuple]:
    """The array's items: read with the C backend, or, from the first lone surrogate escape on,
    again from the start with the Python one (which keeps it), past the items already given."""
    done, before = 0, counter.bytes_read
    try:
        for record in _items(path, what, counter, before):
            done += 1
            yield record
    except _LoneSurrogate as e:
        yield from _items(path, what, counter, before, skip=done, hashed=e.read)


def _items(path: Path, what: str, counter: Counter, before: int, skip: int | None = None,
           hashed: int = 0) -> Iterator[tuple]:
    import ijson

    backend = ijson if skip is None else ijson.get_backend("python")
    with open(path, "rb") as fh:
        wrapped = _Watch(fh, counter.digest) if skip is None else Counter(fh, counter.digest, hashed)
        bom = fh.read(3) == b"\xef\xbb\xbf"
        fh.seek(0)
        if bom:  # ijson refuses a UTF-8 BOM: read (counted, hashed), not parsed
            wrapped.read(3)
        try:  # not use_float=True: with it the C backend overflows on an int past int64
            events = backend.basic_parse(wrapped, buf_size=CHUNK)
            for n, item in enumerate(_array_items(events)):
                counter.bytes_read = before + wrapped.bytes_read
                if n < (skip or 0):  # given by the first pass
                    continue
                if item is _TOO_DEEP:
                    yield None, "too_deep", f"item {n + 1}: nested deeper than {MAX_DEPTH} levels"
                else:  # a lone surrogate stays escaped, for Normalise to drop the row (non_utf8_text)
                    yield json.dumps(item, ensure_ascii=skip is not None), None, None
        except (ijson.JSONError, UnicodeDecodeError) as e:
            raise DataError(f"{what}: {path}: not valid JSON at {_locate(path, wrapped.bytes_read)} "
                            f"({_first(e)}); source.on_bad_lines: skip applies to JSON Lines only") from None


def _array_items(events) -> Iterator:
    """Each item of the top-level array (its first event), built from the parser's events: the
    value (numbers as json.loads gives them: int, else float), or _TOO_DEEP (its content not
    kept) for one nested deeper than MAX_DEPTH."""
    stack, key, deep = [], None, 0
    next(events, None)
    for ev, val in events:
        if deep:  # inside a too-deep item: only where it ends matters
            deep += 1 if ev in _OPEN else -1 if ev in _CLOSE else 0
            if not deep:
                yield _TOO_DEEP
            continue
        if ev == "map_key":
            key = val
            continue
        if ev in _CLOSE:
            value = stack.pop() if stack else None
            if len(stack) == 0 and value is not None:
                yield value
            continue
        if ev in _OPEN and len(stack) >= MAX_DEPTH:
            deep, stack = len(stack) + 1, []
            continue
        value = _OPEN[ev]() if ev in _OPEN else float(val) if type(val) is Decimal else val  # as json.loads
        if stack:
            if type(stack[-1]) is list:
                stack[-1].append(value)
            else:
                stack[-1][key] = value
        elif ev not in _OPEN:
            yield value
        if ev in _OPEN:
            stack.append(value)


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
        except RecursionError:
            pass
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
