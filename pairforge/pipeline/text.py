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
