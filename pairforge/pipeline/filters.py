"""Filter stages: checks that need no generated text run before generation (no GPU time on rows
that will be dropped); checks on the weak model's answer run after it. Vectorised with
pyarrow.compute; repetition and similarity hash each row's words and count in NumPy
(word_hashes.py), with the results of the per-row definitions in tests/reference_text.py."""

from __future__ import annotations

from ..recipe import Bounds, Filters, Lengths
from .stage import Reasons
from .text import filled, normalised, prompt_texts
from .word_hashes import repeated_ngram_ratios, word_hashes, word_jaccards

DEFAULT_REFUSALS = [
    r"\bI(?:'m| am) sorry\b",
    r"\bI apologi[sz]e\b",
    r"\bI (?:can(?:'|no)t|cannot|am unable to|'m unable to|am not able to|'m not able to)\b",
    r"\bas an? (?:AI|artificial intelligence|language model|large language model)\b",
    r"\bI(?:'m| am) (?:just )?an? (?:AI|language model)\b",
    r"\bI don't have (?:personal|the ability|access)\b",
    r"\bI(?:'m| am) not (?:programmed|allowed) to\b",
]


def _bounds(reasons: Reasons, name: str, chars, tokens, b: Bounds) -> None:
    import pyarrow.compute as pc

    if chars is not None:
        if b.min_chars is not None:
            reasons.flag(pc.less(chars, b.min_chars), f"{name}_too_short")
        if b.max_chars is not None:
            reasons.flag(pc.greater(chars, b.max_chars), f"{name}_too_long")
    if tokens is not None:
        if b.min_tokens is not None:
            reasons.flag(pc.less(tokens, b.min_tokens), f"{name}_too_few_tokens")
        if b.max_tokens is not None:
            reasons.flag(pc.greater(tokens, b.max_tokens), f"{name}_too_many_tokens")


def blank(arr):
    """Whether each text is empty or whitespace only: what trimming Unicode whitespace leaves empty
    (utf8_is_space's characters are utf8_trim_whitespace's, tested over every code point), without
    the trimmed copy (0.04 against 0.11 us a row). A null text is not blank (False). Nulls are
    filled first: a null's slot may hold any bytes, which utf8_is_space would read and reject."""
    import pyarrow.compute as pc

    text = filled(arr, "")
    out = pc.or_(pc.utf8_is_space(text), pc.equal(pc.binary_length(text), 0))
    return out if arr.null_count == 0 else pc.and_(pc.is_valid(arr), out)


class PreFilter:
    """Prompt and chosen length bounds (characters), and the chosen answer's minimum length."""

    name = "filter_pre"

    def __init__(self, cfg: Filters):
        self.cfg = cfg

    def __call__(self, table):
        import pyarrow.compute as pc

        f = self.cfg
        r = Reasons(table.num_rows)
        chosen_chars = pc.utf8_length(pc.utf8_trim_whitespace(table["chosen"]))
        if f.min_chosen_chars:
            r.flag(pc.less(chosen_chars, f.min_chosen_chars), "chosen_too_short")
        _bounds(r, "prompt", pc.utf8_length(prompt_texts(table)), None, f.lengths.prompt)
        _bounds(r, "chosen", chosen_chars, None, f.lengths.chosen)
        return r.split(table)


class PostFilter:
    """Checks on the weak model's answer against the chosen one."""

    name = "filter_post"

    def __init__(self, cfg: Filters):
        self.cfg = cfg
        rf = cfg.refusals
        pats = (DEFAULT_REFUSALS if rf.default_patterns else []) + list(rf.patterns)
        self.refusal_re = "(?i)(?:" + "|".join(f"(?:{p})" for p in pats) + ")" if rf.enabled and pats else None

    def __call__(self, table):
        import pyarrow.compute as pc

        f = self.cfg
        r = Reasons(table.num_rows)
        rejected = table["rejected"]
        stats = self._word_stats(table) if f.identical or f.repetition.enabled or f.max_similarity is not None else None
        if f.empty:
            r.flag(blank(filled(rejected, "")), "rejected_empty")  # no answer: empty
            r.flag(blank(table["chosen"]), "chosen_empty")
        if f.truncated == "drop":
            r.flag(pc.equal(table["rejected_finish_reason"], "length"), "rejected_truncated")
        if f.identical:
            r.flag(self._identical(table, stats[0]), "rejected_identical_to_chosen")
        _bounds(r, "rejected", pc.utf8_length(rejected), table["rejected_tokens"], f.lengths.rejected)
        if self.refusal_re:
            r.flag(pc.match_substring_regex(rejected, self.refusal_re), "rejected_refusal")
        if f.repetition.enabled or f.max_similarity is not None:
            self._word_checks(table, r, *stats)
        return r.split(table)

    def _word_stats(self, table):
        """(Jaccard of the word sets or None, repeated n-gram ratio or None) per row, as words() /
        the per-row definitions (tests/reference_text.py) give them, from hashed words (word_hashes.py)."""
        f = self.cfg
        rejected = word_hashes(table["rejected"])
        ratio = repeated_ngram_ratios(rejected, f.repetition.ngram) if f.repetition.enabled else None
        compared = f.identical or f.max_similarity is not None
        return word_jaccards(rejected, word_hashes(table["chosen"])) if compared else None, ratio

    @staticmethod
    def _identical(table, jaccard):
        """normalised(rejected) == normalised(chosen), compared only where it can hold: two ASCII
        texts (Arrow's and Python's lower case and whitespace agree there) with equal normalised
        forms have equal word sets, so only rows with a Jaccard of 1 or any non-ASCII text."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        rejected, chosen = table["rejected"], table["chosen"]
        ascii_both = pc.and_(pc.string_is_ascii(filled(rejected, "")), pc.string_is_ascii(filled(chosen, "")))
        rows = np.flatnonzero(~np.asarray(ascii_both, dtype=bool) | (jaccard == 1.0))
        same = np.zeros(table.num_rows, dtype=bool)
        if len(rows):
            idx = pa.array(rows)
            equal = pc.equal(normalised(rejected.take(idx)), normalised(chosen.take(idx)))
            same[rows] = np.asarray(pc.fill_null(equal, False), dtype=bool)
        return same

    def _word_checks(self, table, r: Reasons, jaccard, ratio) -> None:
        """Repetition, then similarity; rows without an answer are never flagged by either."""
        import numpy as np
        import pyarrow.compute as pc

        rep, sim = self.cfg.repetition, self.cfg.max_similarity
        answered = np.asarray(pc.is_valid(table["rejected"]), dtype=bool)
        if rep.enabled:
            r.flag(answered & (ratio > rep.max_ratio), "rejected_repetitive")
        if sim is not None:
            r.flag(answered & (jaccard > sim), "rejected_too_similar")


def token_bounds_check(lengths: Lengths):
    """Prompt and chosen token bounds, checked in the generation stage before any prompt is sent
    (they need the weak model's tokenizer, not its answers). Returns check(prompt, chosen) -> reason."""

    def out_of(n, b, name):
        if b.min_tokens is not None and n < b.min_tokens:
            return f"{name}_too_few_tokens"
        if b.max_tokens is not None and n > b.max_tokens:
            return f"{name}_too_many_tokens"
        return None

    def check(prompt_tokens: int, chosen_tokens: int):
        return out_of(prompt_tokens, lengths.prompt, "prompt") or out_of(chosen_tokens, lengths.chosen, "chosen")

    return check
