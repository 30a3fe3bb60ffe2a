"""Filter stages: checks that need no generated text run before generation (no GPU time on rows
that will be dropped); checks on the weak model's answer run after it. Vectorised with
pyarrow.compute; repetition and similarity turn words into integer ids and count in NumPy
(text.word_ids), with the same results as text.repeated_ngram_ratio / word_jaccard per row."""

from __future__ import annotations

from ..recipe import Bounds, Filters, Lengths
from .stage import Reasons
from .text import normalised, prompt_texts, repeated_ngram_ratios, word_ids, word_jaccards

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
        if f.empty:
            r.flag(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(rejected, ""))), 0), "rejected_empty")
            r.flag(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table["chosen"])), 0), "chosen_empty")
        if f.truncated == "drop":
            r.flag(pc.equal(table["rejected_finish_reason"], "length"), "rejected_truncated")
        if f.identical:
            r.flag(pc.equal(normalised(rejected), normalised(table["chosen"])), "rejected_identical_to_chosen")
        _bounds(r, "rejected", pc.utf8_length(rejected), table["rejected_tokens"], f.lengths.rejected)
        if self.refusal_re:
            r.flag(pc.match_substring_regex(rejected, self.refusal_re), "rejected_refusal")
        if f.repetition.enabled or f.max_similarity is not None:
            self._per_row(table, r)
        return r.split(table)

    def _per_row(self, table, r: Reasons) -> None:
        """Repetition and similarity, only on rows no vectorised check has dropped already:
        words as integer ids (text.word_ids), then per-row counts in NumPy."""
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc

        rep, sim = self.cfg.repetition, self.cfg.max_similarity
        alive = np.asarray(pc.and_(pc.is_null(r.reason), pc.is_valid(table["rejected"])), dtype=bool)
        rows = np.flatnonzero(alive)
        repetitive, similar = np.zeros(table.num_rows, dtype=bool), np.zeros(table.num_rows, dtype=bool)
        if len(rows):
            cols = ["rejected"] + (["chosen"] if sim is not None else [])
            views = word_ids(*(table[c].take(pa.array(rows)) for c in cols))
            if rep.enabled:
                repetitive[rows] = repeated_ngram_ratios(*views[0], len(rows), rep.ngram) > rep.max_ratio
            if sim is not None:
                similar[rows] = word_jaccards(views[0], views[1], len(rows)) > sim
        r.flag(pa.array(repetitive, pa.bool_()), "rejected_repetitive")
        r.flag(pa.array(similar, pa.bool_()), "rejected_too_similar")


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
