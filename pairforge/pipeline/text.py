"""Text views of pair rows shared by the filters, dedupe and decontamination stages."""

from __future__ import annotations

import re
import string

_WORD = re.compile(r"\w+")
_PUNCT = str.maketrans({c: " " for c in string.punctuation})


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


def shingles(text: str, size: int) -> list[str]:
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else [""]
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


def ngrams(text: str, n: int) -> set[int]:
    """Hashes of the word n-grams of a text (the whole text when it is shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {hash(" ".join(words))} if words else set()
    return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


def words(text: str) -> list[str]:
    """Lower-cased words, punctuation ignored."""
    return text.lower().translate(_PUNCT).split()


def repeated_ngram_ratio(words: list[str], n: int) -> float:
    """Share of a text's word n-grams that repeat an earlier one (0: none, near 1: a loop)."""
    total = len(words) - n + 1
    if total < 2:
        return 0.0
    return 1.0 - len(set(zip(*(words[i:] for i in range(n))))) / total


def word_jaccard(a: list[str], b: list[str]) -> float:
    """Jaccard similarity of two texts' word sets."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)
