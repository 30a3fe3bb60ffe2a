"""Text views of pair rows shared by the filters, dedupe and decontamination stages."""

from __future__ import annotations

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
    """Lower case, whitespace collapsed and trimmed (Arrow string array in and out): normalised_words
    joined by single spaces."""
    import pyarrow as pa
    import pyarrow.compute as pc

    words = normalised_words(arr)
    return pc.binary_join(words, pa.scalar(" ", words.type.value_type))  # a large_string array: a large_string " "


def normalised_words(arr):
    """Each text lower-cased, trimmed and split at whitespace (an Arrow list array; "" splits to one
    empty word): what normalised() joins and near-dedupe shingles. Text of plain ASCII (no byte past
    127, none of \\x1c-\\x1f, which Arrow's UTF-8 kernels count as whitespace and its ASCII ones do
    not) takes the ASCII kernels, with the same result: normalised() 0.96 against 1.45 us a row
    (split_whitespace is most of it) on the quality benchmark's prompts."""
    import pyarrow.compute as pc

    if _plain_ascii(arr):
        return pc.ascii_split_whitespace(pc.ascii_trim_whitespace(pc.ascii_lower(arr)))
    return pc.utf8_split_whitespace(pc.utf8_trim_whitespace(pc.utf8_lower(arr)))


def _plain_ascii(arr) -> bool:
    """Whether every byte of an Arrow string array's texts is below 128 and none is \\x1c-\\x1f, in
    chunks whose values start at the start of their data: pyarrow 26's ascii_lower returns zero
    bytes for an array whose first offset is not 0 (one made by from_buffers; a slice is fine),
    where utf8_lower does not."""
    import numpy as np
    import pyarrow as pa

    chunks = arr.chunks if isinstance(arr, pa.ChunkedArray) else [arr]
    for chunk in chunks:
        if not (pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type)):
            return False
        offsets = _offsets(chunk)
        if chunk.offset == 0 and offsets[0]:
            return False
        body = string_bytes(chunk, offsets)[1]
        if len(body) and (body.max() > 127 or ((body - np.uint8(28)) < 4).any()):
            return False
    return True


def _offsets(arr):
    """An Arrow string array's value offsets, as stored (int64)."""
    import numpy as np
    import pyarrow as pa

    wide = pa.types.is_large_string(arr.type)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64 if wide else np.int32)
    return offsets[arr.offset : arr.offset + len(arr) + 1].astype(np.int64)


def string_bytes(arr, offsets=None):
    """(offsets rebased to 0 as int64, the bytes they index as uint8) of an Arrow string array
    (`offsets`: its _offsets(), where already read)."""
    import numpy as np

    offsets = _offsets(arr) if offsets is None else offsets
    data = arr.buffers()[2]
    body = np.frombuffer(data, dtype=np.uint8)[offsets[0] : offsets[-1]] if data is not None else np.zeros(0, np.uint8)
    return offsets - offsets[0], body


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
    words = normalised_words(filled(arr, ""))
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
