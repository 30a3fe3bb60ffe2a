"""Every row's words (text.words()) as 64-bit hashes, vectorised, and the post filter's two word
measures on them: the Jaccard similarity of two texts' word sets and the share of repeated word
n-grams (tests/reference_text.py has their per-row definitions).

Why hashes: both measures compare words within one row only, so a word needs no id shared by the
table, only one that two different words in a row do not share. This replaced words made into an
Arrow string array and numbered by pc.dictionary_encode: on the quality benchmark's 1000-row tables,
splitting and numbering both texts took 6.2 us a row and hashing takes 3.1; with both measures, 9.6
against 5.2 (medians of 5 interleaved runs in one process, one thread, when this replaced it).
Hashes are made from the text's bytes by NumPy, keyed per process (span_hashes): a word of at most
7 bytes is its bytes and its length, mixed by a bijection (no two such words share a hash); a longer
one mixes 8 bytes at a time. The measures compare the top 62 (Jaccard) or 63 (n-grams) bits, so two
different words (n-grams) of one row merge with a chance of about k*k / 2**63 for k distinct ones in
the row (1e-15 for 80 words; exact dedupe's 64-bit prompt hashes take the same kind of risk), and
the keys keep an input from being built to merge them. A merge would move one
row's measure by about one word; equal words always stay equal, so a Jaccard of 1 (which the
identical-answer check relies on) is never lost.
"""

from __future__ import annotations

import functools
import os
import string
from typing import Any, NamedTuple

from . import text

PAD = 2**64 - 1  # fills the lines of _rows_sorted's matrices; no value they sort has the top bit set
_NGRAM = 0x100000001B3  # n-gram hashes: (previous * this + next word's hash), mixed


def _mix(x):
    """The splitmix64 finalizer, in place on a NumPy uint64 array: a bijection of 64-bit values."""
    import numpy as np

    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


@functools.lru_cache(maxsize=1)
def _tables():
    """(masks of the low 0..8 bytes of a uint64, the byte table that marks with 1 a byte words()
    keeps in a word: not Python's whitespace, which for str.split includes \\x1c-\\x1f, nor
    string.punctuation), an Arrow int8 array that pc.take reads by each byte. pc.take releases the
    GIL, bytes.translate holds it: on the post filter's two threads, word_hashes of both texts took
    1.8 us a row against 2.0 with bytes.translate (1000-row tables, 4 interleaved rounds; 2.4 against
    2.1 on one thread)."""
    import numpy as np
    import pyarrow as pa

    masks = np.array([(1 << (8 * n)) - 1 for n in range(8)] + [2**64 - 1], dtype=np.uint64)
    gaps = {ord(c) for c in "\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f" + string.punctuation}
    seeds = np.frombuffer(os.urandom(16), dtype=np.uint64)  # (short words', long words') keys: see span_hashes
    return masks, pa.array([0 if c in gaps else 1 for c in range(256)], pa.int8()), seeds


def span_hashes(buf, starts, lengths):
    """The hash of each byte span buf[s : s + n] (buf: a NumPy uint8 array with 8 spare bytes at its
    end). A span of at most 7 bytes: (its bytes | its length << 56) xor a key, mixed (a bijection: no
    two such spans share a hash); a longer one: its first 8 bytes xor another key, mixed, then each
    further 8 bytes (the last ones masked) xored in and mixed, then its length. The keys are drawn
    per process, as Python keys its str hash: without them two long words could be built to share
    a hash (the second 8 bytes chosen to cancel the first's mix), and a text could be made to look
    repetitive or similar that is not."""
    import numpy as np

    masks, _, (key_short, key_long) = _tables()
    lengths = lengths.astype(np.int64)
    at = np.ndarray(shape=(max(0, len(buf) - 8),), dtype="<u8", buffer=buf, strides=(1,))  # 8 bytes from any byte
    h = at[starts] & masks[np.minimum(lengths, 8)] if len(starts) else np.zeros(0, np.uint64)
    short = lengths < 8
    h = _mix(np.where(short, (h | (lengths.astype(np.uint64) << np.uint64(56))) ^ key_short, h ^ key_long))
    long_ = np.flatnonzero(~short)
    todo, j = long_, 8
    while len(todo):
        todo = todo[lengths[todo] > j]
        if len(todo):
            part = at[starts[todo] + j] & masks[np.minimum(lengths[todo] - j, 8)]
            h[todo] = _mix(h[todo] ^ part)
        j += 8
    if len(long_):
        h[long_] = _mix(h[long_] ^ lengths[long_].astype(np.uint64))
    return h


def word_hash(word: str) -> int:
    """The hash word_hashes gives `word` (one of words()'s words): for tests and checks."""
    import numpy as np

    raw = np.frombuffer(word.encode() + bytes(8), dtype=np.uint8)
    return int(span_hashes(raw, np.zeros(1, np.int64), np.array([len(raw) - 8]))[0])


def _ascii_spans(offsets, body, is_ascii):
    """(start, end) of every word of the ASCII rows (None: all are), from the bytes: runs of kept
    bytes, cut where a row ends (a word never runs across rows)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    _, in_word, _ = _tables()
    keep = pc.take(in_word, pa.array(body)).to_numpy()
    if is_ascii is not None:
        keep = keep & np.repeat(is_ascii, np.diff(offsets)).view(np.int8)
    edges = np.flatnonzero(np.diff(keep, prepend=np.int8(0), append=np.int8(0)) != 0)  # starts and ends, alternating
    cuts = offsets[1:-1]
    cuts = cuts[(cuts > 0) & (cuts < len(body)) & (cuts != offsets[2:])]  # once each: an empty row's end is the next row's
    inside = cuts[(keep[cuts - 1] & keep[cuts]).astype(bool)]  # a row ends inside a run: an end and a start there
    if len(inside):
        edges = np.insert(edges, np.repeat(np.searchsorted(edges, inside), 2), np.repeat(inside, 2))
    return edges[0::2], edges[1::2]


def _lowered(body):
    """ASCII lower case of the bytes (other bytes unchanged), with 8 spare zero bytes (span_hashes)."""
    import numpy as np

    out = np.zeros(len(body) + 8, dtype=np.uint8)
    np.add(body, ((body - np.uint8(65)) < 26).view(np.uint8) << np.uint8(5), out=out[: len(body)])
    return out


class Words(NamedTuple):
    """word_hashes() of a string array: each word's hash (NumPy uint64) and row (int64; a row's words
    contiguous and in order), and each row's number of words (int64)."""

    hashes: Any
    rows: Any
    counts: Any


def word_hashes(arr) -> Words:
    """words() of every row of an Arrow string array, hashed (Words). ASCII rows are split from their
    bytes; any other row goes through words() itself (Python's Unicode lower case and whitespace),
    its words hashed by their UTF-8 bytes, as an ASCII row's are. A null text has no words."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = text.filled(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr, "")
    offsets, body = text.string_bytes(arr)
    is_ascii = None if not len(body) or body.max() < 128 else np.asarray(pc.string_is_ascii(arr), dtype=bool)
    starts, ends = _ascii_spans(offsets, body, is_ascii)
    hashes = span_hashes(_lowered(body), starts, ends - starts)
    counts = np.diff(np.searchsorted(starts, offsets))
    if is_ascii is None or is_ascii.all():
        return Words(hashes, np.repeat(np.arange(len(arr)), counts), counts)
    other = [text.words(t) for t in arr.filter(pa.array(~is_ascii)).to_pylist()]
    o, b = text.string_bytes(pa.array([w for ws in other for w in ws], pa.large_string()))  # past 2 GiB too
    buf = np.zeros(len(b) + 8, dtype=np.uint8)
    buf[: len(b)] = b
    counts[~is_ascii] = [len(ws) for ws in other]
    rows_other = np.repeat(np.flatnonzero(~is_ascii), counts[~is_ascii])
    return Words(np.concatenate([hashes, span_hashes(buf, o[:-1], np.diff(o))]),
                 np.concatenate([np.repeat(np.arange(len(arr)), counts * is_ascii), rows_other]), counts)


def _rows_sorted(parts, n_rows: int):
    """Each row's values from `parts` ((NumPy uint64 values, rows, each row's count) triples; a row's
    values contiguous within a part) laid out one row per line of a matrix, sorted along the line:
    rows whose value count rounds up to the same power of two share a matrix, padded with PAD (the
    largest value, so it sorts last). [(row ids, sorted matrix, whether each of those rows is
    padded)]. Sorting many short lines is what NumPy's SIMD sort is fast at: 1.4 ns a value against
    16 for one stable sort of (row, value) keys, which this replaced (measured on the quality
    benchmark's tables)."""
    import numpy as np

    total = sum(count for _, _, count in parts)
    width = np.where(total > 0, 1 << np.ceil(np.log2(np.maximum(total, 1))).astype(np.int64), 0)
    order = np.argsort(width, kind="stable")
    w_sorted = width[order]
    base = np.zeros(n_rows, dtype=np.int64)  # where each row's line starts in `flat`
    base[order] = np.cumsum(w_sorted) - w_sorted
    flat = np.full(int(w_sorted.sum()), PAD, dtype=np.uint64)
    for values, rows, count in parts:
        if len(rows):
            first = np.flatnonzero(np.diff(rows, prepend=rows[0] - 1) != 0)  # each row's first value in the part
            at = base.copy()
            at[rows[first]] -= first
            flat[at[rows] + np.arange(len(rows))] = values
        base += count  # the next part's values go after this part's, on each line
    out, start = [], 0
    edges = np.flatnonzero(np.diff(w_sorted, prepend=-1, append=-1))
    for lo, hi in zip(edges[:-1].tolist(), edges[1:].tolist()):
        w = int(w_sorted[lo])
        if w:
            m = flat[start : start + (hi - lo) * w].reshape(hi - lo, w)
            m.sort(axis=1)
            out.append((order[lo:hi], m, total[order[lo:hi]] < w))
            start += (hi - lo) * w
    return out


def _count(mask):
    """True values per line of a boolean matrix (summed as bytes: faster than count_nonzero's axis)."""
    import numpy as np

    return mask.view(np.uint8).sum(1, dtype=np.int64)


def word_jaccards(a: Words, b: Words):
    """Jaccard similarity of every row's two word sets, from word_hashes() of each text (NumPy
    float64). Each word is its hash's top 62 bits and a bit for its side: sorted along a row, a word
    in both sets is the one step of exactly 1 between neighbours, and each step of more than 1
    starts another word of the union."""
    import numpy as np

    one, two, n_rows = np.uint64(1), np.uint64(2), len(a.counts)
    inter, union = np.zeros(n_rows, dtype=np.int64), np.zeros(n_rows, dtype=np.int64)
    parts = [((a.hashes >> two) << one, a.rows, a.counts), (((b.hashes >> two) << one) | one, b.rows, b.counts)]
    for ids, m, padded in _rows_sorted(parts, n_rows):
        step = m[:, 1:] ^ m[:, :-1]  # no value is PAD or PAD - 1: the top bit is 0
        inter[ids] = _count(step == one)
        union[ids] = _count(step > one) + 1 - padded  # the first word, and not the step to the padding
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union == 0, 1.0, inter / union)


def repeated_ngram_ratios(w: Words, n: int):
    """The share of each row's word n-grams that repeat an earlier one (0: none, near 1: a loop),
    from word_hashes() output (NumPy float64 per row)."""
    import numpy as np

    total = w.counts - n + 1
    m = len(w.hashes) - n + 1
    distinct = np.zeros(len(total), dtype=np.int64)
    if m > 0:
        start = np.flatnonzero(w.rows[:m] == w.rows[n - 1 :])  # a row's words are contiguous: same row at both ends
        g = w.hashes[start]
        for j in range(1, n):
            g = _mix(g * np.uint64(_NGRAM) + w.hashes[start + j])
        part = (g >> np.uint64(1), w.rows[start], np.maximum(total, 0))  # >> 1: below PAD
        for ids, lines, padded in _rows_sorted([part], len(total)):
            distinct[ids] = _count(lines[:, 1:] != lines[:, :-1]) + 1 - padded
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 1.0 - distinct / total
    return np.where(total < 2, 0.0, ratio)
