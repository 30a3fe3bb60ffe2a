"""Quality stages: filters, exact and near-duplicate dedupe, decontamination.

Each stage is a callable `stage(table) -> (kept, dropped)` over Arrow tables, `dropped` carrying
a `reason` column. Stages that need no generated text run before generation (no GPU time is
spent on rows that will be dropped); the rest run on the generated shards. Vectorised checks use
pyarrow.compute; the few that are inherently per row (repetition, similarity, n-grams) are plain
Python over one batch at a time, so memory does not grow with the dataset.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field

from .recipe import Bounds, Recipe
from .tables import split_by_reason

DEFAULT_REFUSALS = [
    r"\bI(?:'m| am) sorry\b",
    r"\bI apologi[sz]e\b",
    r"\bI (?:can(?:'|no)t|cannot|am unable to|'m unable to|am not able to|'m not able to)\b",
    r"\bas an? (?:AI|artificial intelligence|language model|large language model)\b",
    r"\bI(?:'m| am) (?:just )?an? (?:AI|language model)\b",
    r"\bI don't have (?:personal|the ability|access)\b",
    r"\bI(?:'m| am) not (?:programmed|allowed) to\b",
]


class Reasons:
    """First-failing-check-wins reason per row, built from boolean masks."""

    def __init__(self, n: int):
        import pyarrow as pa

        self.reason = pa.nulls(n, pa.string())

    def flag(self, mask, reason: str) -> None:
        import pyarrow.compute as pc

        mask = pc.fill_null(mask, False)
        self.reason = pc.if_else(pc.and_(mask, pc.is_null(self.reason)), reason, self.reason)

    def split(self, table):
        import pyarrow.compute as pc

        drop = pc.is_valid(self.reason)
        dropped = table.filter(drop).append_column("reason", self.reason.filter(drop))
        return table.filter(pc.invert(drop)), dropped


def _norm(arr):
    """Lower case, whitespace collapsed and trimmed."""
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


# --------------------------------------------------------------------------------- before generation


@dataclass
class PreFilter:
    """Prompt and chosen length bounds (characters), and the chosen answer's minimum length."""

    recipe: Recipe
    name: str = "filter_pre"

    def __call__(self, table):
        import pyarrow.compute as pc

        f = self.recipe.filters
        r = Reasons(table.num_rows)
        chosen_chars = pc.utf8_length(pc.utf8_trim_whitespace(table["chosen"]))
        if f.min_chosen_chars:
            r.flag(pc.less(chosen_chars, f.min_chosen_chars), "chosen_too_short")
        _bounds(r, "prompt", pc.utf8_length(prompt_texts(table)), None, f.lengths.prompt)
        _bounds(r, "chosen", chosen_chars, None, f.lengths.chosen)
        return r.split(table)


@dataclass
class ExactDedupe:
    """Drop a row whose normalised prompt was seen before; the first in source order stays."""

    name: str = "dedupe_exact"
    seen: set = field(default_factory=set)

    def __call__(self, table):
        keys = _norm(prompt_texts(table)).to_pylist()
        reasons = []
        seen = self.seen
        for k in keys:
            h = hash(k)  # a 64-bit hash per prompt: the set stays small as the data grows
            if h in seen:
                reasons.append("duplicate_prompt")
            else:
                seen.add(h)
                reasons.append(None)
        return split_by_reason(table, reasons)


def shingles(text: str, size: int) -> list[str]:
    words = text.split()
    if len(words) <= size:
        return [" ".join(words)] if words else [""]
    return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]


@dataclass
class NearDedupe:
    """MinHash (rensa) + banded LSH over word shingles of the normalised prompt; the first seen stays.

    The LSH index is compact: per kept row, one uint64 key and one int32 row id per band, in
    sorted NumPy segments (merged as they accumulate), plus a 1-byte-per-permutation copy of the
    signature (b-bit minwise hashing) to verify candidates against the threshold. Band matches
    only propose candidates, so a loose band setting keeps recall high without false drops.
    Queries are vectorised per batch; Python only loops over rows that have candidates.
    """

    threshold: float
    num_perm: int
    bands: int
    shingle: int
    seed: int
    name: str = "dedupe_near"

    def __post_init__(self):
        import numpy as np
        import rensa

        self._rensa = rensa
        self.rows_per_band = self.num_perm // self.bands
        self.sigs = np.zeros((1024, self.num_perm), dtype=np.uint8)
        self.n = 0
        self.segments: list = []  # [(sorted uint64 keys, int32 row ids)]

    # -------------------------------------------------------------- index
    def _band_keys(self, digests):
        import numpy as np

        d = digests.reshape(len(digests), self.bands, self.rows_per_band).astype(np.uint64)
        h = np.broadcast_to(np.arange(self.bands, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15),
                            d.shape[:2]).copy()
        with np.errstate(over="ignore"):
            for j in range(self.rows_per_band):
                h = (h ^ d[:, :, j]) * np.uint64(0x100000001B3)
        return h  # (rows, bands)

    def _add_segment(self, keys, rows) -> None:
        import numpy as np

        order = np.argsort(keys, kind="stable")
        self.segments.append((keys[order], rows[order]))
        while len(self.segments) > 1 and len(self.segments[-1][0]) * 2 >= len(self.segments[-2][0]):
            (k2, r2), (k1, r1) = self.segments.pop(), self.segments.pop()
            k, r = np.concatenate([k1, k2]), np.concatenate([r1, r2])
            order = np.argsort(k, kind="stable")
            self.segments.append((k[order], r[order]))

    def _existing_candidates(self, keys):
        """{batch row: set of kept row ids sharing a band key} from the index."""
        import numpy as np

        flat = keys.reshape(-1)
        owner = np.repeat(np.arange(len(keys)), self.bands)
        found: dict[int, set] = {}
        for seg_keys, seg_rows in self.segments:
            pos = np.searchsorted(seg_keys, flat)
            pos_c = np.minimum(pos, len(seg_keys) - 1)
            hit = (pos < len(seg_keys)) & (seg_keys[pos_c] == flat)
            for o, r in zip(owner[hit].tolist(), seg_rows[pos_c[hit]].tolist()):
                found.setdefault(o, set()).add(r)
        return found

    def _similar(self, digest, candidates) -> bool:
        import numpy as np

        match = (self.sigs[np.fromiter(candidates, dtype=np.int64)] == digest).mean(axis=1)
        jaccard = (match - 1 / 256) / (1 - 1 / 256)  # bytes match by chance 1 time in 256
        return bool((jaccard >= self.threshold).any())

    def __call__(self, table):
        import numpy as np

        RMinHash = self._rensa.RMinHash
        texts = _norm(prompt_texts(table)).to_pylist()
        digests = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        for i, text in enumerate(texts):
            mh = RMinHash(self.num_perm, self.seed)
            mh.update(shingles(text, self.shingle))
            digests[i] = mh.digest()
        keys = self._band_keys(digests)
        small = digests.astype(np.uint8)
        found = self._existing_candidates(keys)
        # rows of this batch that share a band key with an earlier row of the batch
        in_batch: dict[int, set] = {}
        flat = keys.reshape(-1)
        order = np.argsort(flat, kind="stable")
        sorted_keys = flat[order]
        dup = np.flatnonzero(sorted_keys[1:] == sorted_keys[:-1]) + 1
        for pos in dup.tolist():
            first = pos
            while first > 0 and sorted_keys[first - 1] == sorted_keys[pos]:
                first -= 1
            later, earlier = int(order[pos]) // self.bands, int(order[first]) // self.bands
            if later != earlier:
                in_batch.setdefault(later, set()).add(earlier)
        need = max(self.n + len(texts), 1)
        if need > len(self.sigs):
            grown = np.zeros((max(need, 2 * len(self.sigs)), self.num_perm), dtype=np.uint8)
            grown[: self.n] = self.sigs[: self.n]
            self.sigs = grown
        kept_rows, kept_ids, reasons, batch_id = [], [], [], {}
        for i in range(len(texts)):
            cands = set(found.get(i, ()))
            cands.update(batch_id[j] for j in in_batch.get(i, ()) if j in batch_id)
            if cands and self._similar(small[i], cands):
                reasons.append("near_duplicate_prompt")
                continue
            reasons.append(None)
            batch_id[i] = self.n
            self.sigs[self.n] = small[i]
            kept_rows.append(i)
            kept_ids.append(self.n)
            self.n += 1
        if kept_rows:
            self._add_segment(keys[kept_rows].reshape(-1),
                              np.repeat(np.asarray(kept_ids, dtype=np.int32), self.bands))
        return split_by_reason(table, reasons)


_WORD = re.compile(r"\w+")


def ngrams(text: str, n: int) -> set[int]:
    """Hashes of the word n-grams of a normalised text (the whole text when it is shorter)."""
    words = _WORD.findall(text.lower())
    if len(words) < n:
        return {hash(" ".join(words))} if words else set()
    return {hash(" ".join(words[i : i + n])) for i in range(len(words) - n + 1)}


@dataclass
class Decontaminate:
    """Drop rows whose prompt shares a word n-gram with any text of an evaluation set."""

    index: dict  # n-gram hash -> evaluation set name
    n: int
    name: str = "decontaminate"

    def __call__(self, table):
        reasons = []
        for text in prompt_texts(table).to_pylist():
            hit = next((self.index[g] for g in ngrams(text, self.n) if g in self.index), None)
            reasons.append(None if hit is None else f"contaminated:{hit}")
        return split_by_reason(table, reasons)


def build_decontamination_index(recipe: Recipe) -> dict:
    from .evalsets import eval_texts

    index = {}
    for ev in recipe.decontaminate.sets:
        name, texts = eval_texts(ev, recipe)
        for t in texts:
            for g in ngrams(t, recipe.decontaminate.ngram):
                index.setdefault(g, name)
    return index


# --------------------------------------------------------------------------------- after generation


_PUNCT = str.maketrans({c: " " for c in string.punctuation})


def _words(text: str) -> list[str]:
    return text.lower().translate(_PUNCT).split()


def repeated_ngram_ratio(words: list[str], n: int) -> float:
    """Share of a text's word n-grams that repeat an earlier one (0: none, near 1: a loop)."""
    total = len(words) - n + 1
    if total < 2:
        return 0.0
    return 1.0 - len(set(zip(*(words[i:] for i in range(n))))) / total


def word_jaccard(a: list[str], b: list[str]) -> float:
    """Jaccard similarity of two texts' word sets (lower-cased, punctuation ignored)."""
    sa, sb = set(a), set(b)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


@dataclass
class PostFilter:
    """Checks on the weak model's answer against the chosen one."""

    recipe: Recipe
    name: str = "filter_post"

    def __post_init__(self):
        rf = self.recipe.filters.refusals
        pats = (DEFAULT_REFUSALS if rf.default_patterns else []) + list(rf.patterns)
        self.refusal_re = "(?i)(?:" + "|".join(f"(?:{p})" for p in pats) + ")" if rf.enabled and pats else None

    def __call__(self, table):
        import pyarrow as pa
        import pyarrow.compute as pc

        f = self.recipe.filters
        r = Reasons(table.num_rows)
        rejected = table["rejected"]
        if f.empty:
            r.flag(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(rejected, ""))), 0), "rejected_empty")
            r.flag(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(table["chosen"])), 0), "chosen_empty")
        if f.truncated == "drop":
            r.flag(pc.equal(table["rejected_finish_reason"], "length"), "rejected_truncated")
        if f.identical:
            r.flag(pc.equal(_norm(rejected), _norm(table["chosen"])), "rejected_identical_to_chosen")
        _bounds(r, "rejected", pc.utf8_length(rejected), table["rejected_tokens"], f.lengths.rejected)
        if self.refusal_re:
            r.flag(pc.match_substring_regex(rejected, self.refusal_re), "rejected_refusal")
        rep, sim = f.repetition, f.max_similarity
        if rep.enabled or sim is not None:
            # per-row checks, only on rows no vectorised check has dropped already
            alive = pc.is_null(r.reason).to_pylist()
            texts, chosen = rejected.to_pylist(), table["chosen"].to_pylist()
            repetitive, similar = [False] * len(texts), [False] * len(texts)
            for i, ok in enumerate(alive):
                if not ok or texts[i] is None:
                    continue
                words = _words(texts[i])
                if rep.enabled:
                    repetitive[i] = repeated_ngram_ratio(words, rep.ngram) > rep.max_ratio
                if sim is not None:
                    similar[i] = word_jaccard(words, _words(chosen[i])) > sim
            r.flag(pa.array(repetitive), "rejected_repetitive")
            r.flag(pa.array(similar), "rejected_too_similar")
        return r.split(table)


def token_bounds_check(recipe: Recipe):
    """Prompt and chosen token bounds, checked in the generation stage before any prompt is sent
    (they need the weak model's tokenizer, not its answers). Returns check(prompt, chosen) -> reason."""
    lengths = recipe.filters.lengths

    def out_of(n, b, name):
        if b.min_tokens is not None and n < b.min_tokens:
            return f"{name}_too_few_tokens"
        if b.max_tokens is not None and n > b.max_tokens:
            return f"{name}_too_many_tokens"
        return None

    def check(prompt_tokens: int, chosen_tokens: int):
        return out_of(prompt_tokens, lengths.prompt, "prompt") or out_of(chosen_tokens, lengths.chosen, "chosen")

    return check


def pre_generation_stages(recipe: Recipe) -> list:
    stages = [PreFilter(recipe)]
    if recipe.dedupe.exact:
        stages.append(ExactDedupe())
    near = recipe.dedupe.near
    if near.enabled:
        stages.append(NearDedupe(near.threshold, near.num_perm, near.bands, near.shingle, near.seed))
    if recipe.decontaminate.sets:
        stages.append(Decontaminate(build_decontamination_index(recipe), recipe.decontaminate.ngram))
    return stages


def post_generation_stages(recipe: Recipe) -> list:
    return [PostFilter(recipe)]
