"""IFEval instruction families: the phrasing appended to a prompt, the checker, and a rewriter.

A constraint spec is a JSON-able dict {"family", "id", "kwargs", "extra"}: `id` and `kwargs` are
exactly what IFEval's checker (from `if-verifiable`) takes; `extra` holds what the rewriter needs
beyond that (a title taken from the prompt). The phrasing is the checker's own description, so the
wording is IFEval's. The rewriter turns a real answer into one that satisfies the constraints;
`verify` runs the library's checker, never a copy of it.

    prompt_text, specs = attach_constraints(prompt, random.Random(0))
    answer = rewrite(real_answer, specs)
    assert all(verify(answer, specs))
"""

from __future__ import annotations

import json
import random
import re

from . import textops as T
from .checkers import describe, verify  # noqa: F401  (verify is part of this module's API)

# IFEval's wording is "...exact phrase {ender}. No other...": phrases that end in "?" or "!" read well
END_PHRASES = ("Any other questions?", "Is there anything else I can help with?", "Peace!",
               "Does this answer your question?")
FIRST_WORDS = ("overall", "notably", "essentially", "importantly", "indeed", "basically")
POSTSCRIPTS = ("I hope this helps.", "Feel free to ask for more detail.", "Thanks for the question.")
KEYWORD_FILL = ("That is the short of it on {kw}.", "This is what matters about {kw}.",
                "Keep {kw} in mind here.")
FALLBACK_KEYWORDS = ("answer", "detail", "example", "point")
_STOP = set("""about above after again against also because been before being below between both could
describe does doing down during each explain following from further give given have having here into
itself just more most other over provide same should some such than that their them then there these
they this those through under until very what when where which while whom would write your with""".split())

# family -> (IFEval instruction id, stage); stages run in this order in `rewrite`
FAMILIES = {
    "number_words": ("length_constraints:number_words", 0),
    "keyword_frequency": ("keywords:frequency", 1),
    "bullets": ("detectable_format:number_bullet_lists", 2),
    "paragraphs": ("length_constraints:number_paragraphs", 2),
    "first_word": ("length_constraints:nth_paragraph_first_word", 2),
    "title": ("detectable_format:title", 3),
    "postscript": ("detectable_content:postscript", 4),
    "end_phrase": ("startend:end_checker", 5),
    "lowercase": ("change_case:english_lowercase", 6),
    "uppercase": ("change_case:english_capital", 6),
    "no_comma": ("punctuation:no_comma", 7),
    "json": ("detectable_format:json_format", 8),
    "quotation": ("startend:quotation", 9),
}
_LAYOUT = {"bullets", "paragraphs", "first_word", "json"}
CONFLICTS = {frozenset(p) for p in [
    *[(a, b) for a in _LAYOUT for b in _LAYOUT if a < b],
    ("lowercase", "uppercase"), ("title", "first_word"), ("bullets", "quotation"),
    *[("json", f) for f in ("end_phrase", "uppercase", "title", "postscript", "quotation")],
]}


def _keyword(prompt: str, rng: random.Random) -> str:
    words = sorted({w.lower() for w in re.findall(r"[A-Za-z]{5,}", prompt)} - _STOP)
    return rng.choice(words) if words else rng.choice(FALLBACK_KEYWORDS)


# Word limits drawn like IFEval's; the short-answer regime (answers cut to ~40 words, decided
# within ~100 tokens) draws limits such answers can meet.
WORD_LIMITS = {False: ([40, 60, 80, 120, 150], [20, 30, 50, 80]), True: ([25, 40, 60], [10, 15, 20])}


def _kwargs(family: str, prompt: str, rng: random.Random, short: bool = False) -> tuple[dict, dict]:
    """(checker kwargs, rewriter extras) for one family, drawn like IFEval's parameters."""
    if family == "number_words":
        below, above = WORD_LIMITS[short]
        if rng.random() < 0.5:
            return {"num_words": rng.choice(below), "relation": "less than"}, {}
        return {"num_words": rng.choice(above), "relation": "at least"}, {}
    if family == "keyword_frequency":
        return {"keyword": _keyword(prompt, rng), "frequency": rng.randint(1, 3), "relation": "at least"}, {}
    if family == "bullets":
        return {"num_bullets": rng.randint(2, 5)}, {}
    if family == "paragraphs":
        return {"num_paragraphs": rng.randint(2, 4)}, {}
    if family == "first_word":
        n = rng.randint(2, 4)
        return {"num_paragraphs": n, "nth_paragraph": rng.randint(1, n), "first_word": rng.choice(FIRST_WORDS)}, {}
    if family == "title":
        return {}, {"title": T.title_from(prompt)}
    if family == "postscript":
        return {"postscript_marker": rng.choice(["P.S.", "P.P.S"])}, {"text": rng.choice(POSTSCRIPTS)}
    if family == "end_phrase":
        return {"end_phrase": rng.choice(END_PHRASES)}, {}
    return {}, {}


def spec(family: str, prompt: str, rng: random.Random, short: bool = False) -> dict:
    kwargs, extra = _kwargs(family, prompt, rng, short)
    return {"family": family, "id": FAMILIES[family][0], "kwargs": kwargs, "extra": extra}


def compatible(families: list[str]) -> bool:
    return len(set(families)) == len(families) and not any(
        frozenset((a, b)) in CONFLICTS for i, a in enumerate(families) for b in families[i + 1:])


def attach_constraints(prompt: str, rng: random.Random, max_constraints: int = 2,
                       short: bool = False) -> tuple[str, list[dict]]:
    """One or two compatible constraints for `prompt`; their IFEval wording is appended to it."""
    names = sorted(FAMILIES)
    chosen = [rng.choice(names)]
    if max_constraints > 1 and rng.random() < 0.5:
        chosen.append(rng.choice([f for f in names if compatible(chosen + [f])]))
    specs = [spec(f, prompt, rng, short) for f in chosen]
    text = prompt.rstrip() + " " + " ".join(describe(s["id"], s["kwargs"]) for s in specs)
    return text, specs


# ---- rewriters: (text, spec, all families) -> text ----------------------------------------------

def _number_words(text, s, fams, cap=None):
    k = s["kwargs"]
    if k["relation"] == "less than":
        return T.truncate_words(text, cap if cap is not None else k["num_words"] - 1)
    return text  # "at least": a real answer is never padded; a short one fails and is dropped


def _keyword_frequency(text, s, fams):
    kw, need = s["kwargs"]["keyword"], s["kwargs"]["frequency"]
    have = len(re.findall(kw, text, flags=re.IGNORECASE))
    fill = [KEYWORD_FILL[i % len(KEYWORD_FILL)].format(kw=kw) for i in range(max(0, need - have))]
    return " ".join([text] + fill) if fill else text


def _blocks(text, n, sep, fmt=lambda b: b):
    blocks = T.into_n_blocks(re.sub(r"\*{3,}", "**", text), n)
    return text if blocks is None else sep.join(fmt(re.sub(r"\n\s*\n", "\n", b)) for b in blocks)


def _bullets(text, s, fams):
    pieces = T.group(T.units(text), s["kwargs"]["num_bullets"])
    return text if pieces is None else "\n".join("* " + p for p in pieces)


def _first_word(text, s, fams):
    k = s["kwargs"]
    blocks = T.into_n_blocks(text, k["num_paragraphs"])
    if blocks is None:
        return text
    blocks = [re.sub(r"\n\s*\n", "\n", b) for b in blocks]
    i, word = k["nth_paragraph"] - 1, k["first_word"]
    if re.split(r"[\s.,?!'\"]", blocks[i].lower(), maxsplit=1)[0] != word:
        b = blocks[i]
        rest = b[0].lower() + b[1:] if len(b) > 1 and b[1].islower() else b
        blocks[i] = f"{word.capitalize()}, {rest}"
    return "\n\n".join(blocks)


def _sep(fams):
    """Decorations go on a new line; a blank line would add a paragraph where they are counted."""
    return "\n" if "first_word" in fams else "\n\n"


def _json(text, s, fams):
    return "```json\n" + json.dumps({"response": text}, ensure_ascii=False) + "\n```"


REWRITERS = {
    "number_words": _number_words,
    "keyword_frequency": _keyword_frequency,
    "bullets": _bullets,
    "paragraphs": lambda t, s, f: _blocks(t, s["kwargs"]["num_paragraphs"], "\n\n***\n\n"),
    "first_word": _first_word,
    "title": lambda t, s, f: f"<<{s['extra']['title']}>>{_sep(f)}{t}",
    "postscript": lambda t, s, f: f"{t}{_sep(f)}{s['kwargs']['postscript_marker']} {s['extra']['text']}",
    "end_phrase": lambda t, s, f: f"{t}{_sep(f)}{s['kwargs']['end_phrase']}",
    "lowercase": lambda t, s, f: t.lower(),
    "uppercase": lambda t, s, f: t.upper(),
    "no_comma": lambda t, s, f: T.remove_commas(t),
    "json": _json,
    "quotation": lambda t, s, f: f'"{t}"',
}


def _apply(text: str, specs: list[dict], cap: int | None) -> str:
    fams = [s["family"] for s in specs]
    for s in sorted(specs, key=lambda s: FAMILIES[s["family"]][1]):
        if s["family"] == "number_words":
            text = _number_words(text, s, fams, cap)
        else:
            text = REWRITERS[s["family"]](text, s, fams)
    return text


def rewrite(answer: str, specs: list[dict]) -> str:
    """A deterministic rewrite of `answer` meant to satisfy every spec (check it with `verify`).
    A word limit is met by cutting the answer at a sentence boundary; the cut is tightened until
    the decorated, reformatted text fits."""
    text = T.normalise(answer)
    limit = next((s["kwargs"]["num_words"] for s in specs
                  if s["family"] == "number_words" and s["kwargs"]["relation"] == "less than"), None)
    cap = None if limit is None else limit - 1
    out = _apply(text, specs, cap)
    while limit is not None and T.count_words(out) >= limit and cap > 1:
        cap = max(1, cap - (T.count_words(out) - limit + 1))
        out = _apply(text, specs, cap)
    return out


def dumps(specs: list[dict]) -> str:
    return json.dumps(specs, sort_keys=True)
