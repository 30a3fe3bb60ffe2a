"""Text views of pair rows shared by the filters, dedupe and decontamination stages."""

from __future__ import annotations

import functools
import re
import string

_WORD = re.compile(r"\w+")
JOIN_LIMIT = 2**31 - 1  # bytes a string array holds (32-bit offsets); shingle_lists joins in large strings beyond
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def filled(arr, value):
    """pc.fill_null, skipped where there is no null (it copies the whole array: 0.23 s of the post
    filter's 3 s on the quality benchmark's 200k rows)."""
    import pyarrow.compute as pc

    return arr if arr.null_count == 0 else pc.fill_null(arr, value)


def normalised(arr):
    """Lower case, whitespace collapsed and trimmed (Arrow string array in and out)."""
    import pyarrow.compute as pc

    return pc.binary_join(pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.utf8_lower(arr))), " ")


def prompt_texts(table):
    """Each row's prompt as one string (every message's content, joined by newlines)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    prompts = table["prompt"].combine_chunks()
    contents = pc.struct_field(prompts.flatten(), "content")
    lists = pa.ListArray.from_arrays(prompts.offsets, contents)
    return pc.binary_join(lists, "\n")


def user_texts(table):
    """Each row's user messages only, joined by newlines (a row without one: its whole prompt)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    prompts = table["prompt"].combine_chunks()
    flat = prompts.flatten()
    is_user = pc.equal(pc.struct_field(flat, "role"), "user")
    parents = pc.list_parent_indices(prompts).filter(is_user).to_numpy()
    counts = np.bincount(parents, minlength=len(prompts))
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    joined = pc.binary_join(pa.ListArray.from_arrays(offsets, pc.struct_field(flat, "content").filter(is_user)), "\n")
    if counts.all():  # every row has a user message: no whole prompt to fall back on (0.05 s a 100k rows)
        return joined
    return pc.if_else(pa.array(counts > 0), joined, prompt_texts(table))


def dedupe_texts(table, key: str):
    """What dedupe compares (`dedupe.key`): user_turns, prompt (every message) or prompt_and_chosen."""
    import pyarrow.compute as pc

    if key == "user_turns":
        return user_texts(table)
    if key == "prompt_and_chosen":
        return pc.binary_join_element_wise(prompt_texts(table), table["chosen"], "\n")
    return prompt_texts(table)


def shingles(text: str, size: int) -> list[str]:
    """Runs of `size` words (zip over shifted word lists: x1.3 faster than slicing); a shorter text is one shingle."""
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else [""]
    return [" ".join(g) for g in zip(*(words[i:] for i in range(size)))]


def shingle_lists(arr, size: int) -> list[list[bytes]]:
    """[shingles(t, size) for t in normalised(arr)] in UTF-8, the words split and joined by Arrow,
    only the shingles made Python objects (5.2 against 8.4 us a row on the near-dup benchmark's
    prompts, as str); bytes, made x1.5 faster than str, which rensa hashes alike (by their UTF-8
    bytes: the same digests). A null text counts as empty."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
    words = pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.utf8_lower(filled(arr, ""))))
    flat, off = words.flatten(), np.asarray(words.offsets, dtype=np.int64)  # "" splits to one empty word
    if flat.nbytes * size >= JOIN_LIMIT:  # the shingles could overflow a string array's 32-bit offsets
        flat = flat.cast(pa.large_string())
    n = np.diff(off)
    whole = n >= size  # rows of at least `size` words: their runs of `size` words; the others: all their words
    cut, space = len(flat) - size + 1, pa.scalar(" ", flat.type)  # large_string text: a large_string separator
    runs = []
    if cut > 0 and whole.any():
        joined = pc.binary_join_element_wise(*(flat.slice(i, cut) for i in range(size)), space)
        inside = np.arange(cut) + size <= np.repeat(off[1:], n)[:cut]  # the run ends in its first word's row
        runs = joined.filter(pa.array(inside)).cast(pa.large_binary()).to_pylist()
    space = pa.scalar(" ", words.type.value_type)
    short = pc.binary_join(words.filter(pa.array(~whole)), space).cast(pa.large_binary()) if not whole.all() else []
    short = iter(short.to_pylist() if len(short) else [])
    out, lo = [], 0
    for w, hi in zip(whole.tolist(), np.cumsum(np.where(whole, n - size + 1, 0)).tolist()):
        out.append(runs[lo:hi] if w else [next(short)])
        lo = hi
    return out


def ngrams(text: str, n: int) -> set[int]:
    """Hashes of the word n-grams of a text (the whole text when it is shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {hash(" ".join(words))} if words else set()
    return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation ignored."""
    return text.lower().translate(_PUNCT).split()


# ------------------------------------------------------------------ vectorised word views
def _string_bytes(arr):
    """(offsets rebased to 0 as int64, the bytes they index as uint8) of an Arrow string array."""
    import numpy as np
    import pyarrow as pa

    wide = pa.types.is_large_string(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32)
    offsets = offsets[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)
    data = arr.buffers()[2]
    body = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], body


@functools.lru_cache(maxsize=1)
def _ascii_tables():
    """Byte translation tables for ASCII text (bytes.translate: one C pass, far faster than a NumPy
    lookup, which first widens every byte to an index): lower case, and 1 where words() keeps the
    byte in a word (not Python's whitespace, which for str.split includes \x1c-\x1f, nor
    string.punctuation), else 0."""
    lower = bytes(c + 32 if 65 <= c <= 90 else c for c in range(256))
    gaps = {ord(c) for c in "\t\n\x0b\x0c\r \x1c\x1d\x1e\x1f" + string.punctuation}
    return lower, bytes(0 if c in gaps else 1 for c in range(256))


def _ascii_words(arr, is_ascii):
    """words() of the ASCII rows, from the bytes: (Arrow string array of words, row of each)."""
    import numpy as np
    import pyarrow as pa

    offsets, body = _string_bytes(arr)
    lower, in_word = _ascii_tables()
    raw = body.tobytes()
    keep = np.frombuffer(raw.translate(in_word), dtype=bool)
    if not is_ascii.all():
        keep = keep & np.repeat(is_ascii, np.diff(offsets))
    cuts = offsets[(offsets > 0) & (offsets < len(body))]  # a word never runs across rows
    before, after = np.zeros(len(body), dtype=bool), np.zeros(len(body), dtype=bool)
    before[1:], after[:-1] = keep[:-1], keep[1:]
    before[cuts], after[cuts - 1] = False, False
    first, end = np.flatnonzero(keep & ~before), np.flatnonzero(keep & ~after) + 1
    word_offsets = np.zeros(len(first) + 1, dtype=np.int64)
    np.cumsum(end - first, out=word_offsets[1:])
    wide = word_offsets[-1] >= 2**31
    text = np.frombuffer(raw.translate(lower), dtype=np.uint8)[keep]
    typ = pa.large_string() if wide else pa.string()
    word_offsets = word_offsets if wide else word_offsets.astype(np.int32)
    words_arr = pa.Array.from_buffers(typ, len(first), [None, pa.py_buffer(word_offsets), pa.py_buffer(text)])
    per_row = np.diff(np.searchsorted(first, offsets))  # words starting in each row (rows << words)
    return words_arr, np.repeat(np.arange(len(arr)), per_row)


def word_lists(arr):
    """words() of every row, vectorised: (flat Arrow string array of words, NumPy row of each
    word). A row's words are contiguous and in order. ASCII rows are split from their bytes;
    any other row goes through words() itself (Python's Unicode lower case and whitespace)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    arr = filled(arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr, "")
    is_ascii = np.asarray(pc.string_is_ascii(arr), dtype=bool)
    flat, rows = _ascii_words(arr, is_ascii)
    parts, rows = [flat.cast(pa.large_string())], [rows]
    if not is_ascii.all():
        other = [words(t) for t in arr.filter(pa.array(~is_ascii)).to_pylist()]
        parts.append(pa.array([w for ws in other for w in ws], pa.large_string()))
        rows.append(np.repeat(np.flatnonzero(~is_ascii), [len(ws) for ws in other]))
    return pa.concat_arrays(parts), np.concatenate(rows)


def word_ids(*arrays):
    """word_lists() of each string array, with one integer id per distinct word shared by all of
    them: [(ids, rows), ...] as NumPy int64 arrays."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    lists = [word_lists(a) for a in arrays]
    flat = pa.concat_arrays([w for w, _ in lists])
    ids = np.asarray(pc.dictionary_encode(flat).indices, dtype=np.int64)
    out, start = [], 0
    for w, rows in lists:
        out.append((ids[start : start + len(w)], rows))
        start += len(w)
    return out


def _densify(key, bound: int, factor: int):
    """Keys renumbered 0.. in the same order when key * factor could overflow int64."""
    import numpy as np

    if bound * factor < 2**62:
        return key, bound
    order = np.argsort(key, kind="stable")  # np.unique is far slower than a sort here
    ranks = np.zeros(len(key), dtype=np.int64)
    ranks[1:] = np.cumsum(key[order][1:] != key[order][:-1])
    dense = np.empty(len(key), dtype=np.int64)
    dense[order] = ranks
    return dense, int(ranks[-1]) + 1 if len(key) else 1


def repeated_ngram_ratios(ids, rows, n_rows: int, n: int):
    """The share of each row's word n-grams that repeat an earlier one (0: none, near 1: a loop; tests/reference_text.py has the per-row definition), from word_ids() output (NumPy float64 per row)."""
    import numpy as np

    counts = np.bincount(rows, minlength=n_rows)
    total = counts - n + 1
    m = len(ids) - n + 1
    distinct = np.zeros(n_rows, dtype=np.int64)
    if m > 0:
        valid = rows[:m] == rows[n - 1 :]  # a row's words are contiguous: same row at both ends
        start = np.flatnonzero(valid)
        vocab = int(ids.max()) + 1
        key, bound = rows[start], n_rows  # the row is the most significant part of the key
        for j in range(n):
            key, bound = _densify(key, bound, vocab)
            key, bound = key * vocab + ids[start + j], bound * vocab
        key = np.sort(key, kind="stable")  # see _sorted_set
        first = np.ones(len(key), dtype=bool)
        first[1:] = key[1:] != key[:-1]
        owner = rows[start]  # the sorted keys are grouped by row, rows ascending
        owner = owner if np.all(owner[1:] >= owner[:-1]) else np.sort(owner)
        distinct = np.bincount(owner[first], minlength=n_rows)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = 1.0 - distinct / total
    return np.where(total < 2, 0.0, ratio)


def _sorted_set(keys):
    """np.unique(keys), by a sort (NumPy 2.3's np.unique is much slower on int64 here). The keys
    come grouped by row (row * vocab + word): the stable sort (timsort) merges those runs, ~3x
    faster than the default quicksort on them (measured on 450k keys)."""
    import numpy as np

    s = np.sort(keys, kind="stable")
    return s[np.append(True, s[1:] != s[:-1])] if len(s) else s


def word_jaccards(a, b, n_rows: int):
    """Jaccard similarity of every row's two word sets (per-row definition: tests/reference_text.py), from word_ids() output (NumPy float64)."""
    import numpy as np

    (ids_a, rows_a), (ids_b, rows_b) = a, b
    vocab = int(max(ids_a.max(initial=-1), ids_b.max(initial=-1))) + 1
    ua, ub = _sorted_set(rows_a * vocab + ids_a), _sorted_set(rows_b * vocab + ids_b)
    size_a = np.bincount(ua // vocab, minlength=n_rows) if vocab else np.zeros(n_rows, dtype=np.int64)
    size_b = np.bincount(ub // vocab, minlength=n_rows) if vocab else np.zeros(n_rows, dtype=np.int64)
    both = np.sort(np.concatenate([ua, ub]), kind="stable")  # two sorted runs: one merge
    both = both[:-1][both[1:] == both[:-1]]  # in both sets: each set has a key at most once
    inter = np.bincount(both // vocab, minlength=n_rows) if vocab else np.zeros(n_rows, dtype=np.int64)
    union = size_a + size_b - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union == 0, 1.0, inter / union)

