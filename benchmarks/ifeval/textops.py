"""Deterministic text surgery used by the rewriters: units, truncation, grouping."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+")
_BOUNDARY = re.compile(r"(?<=[.!?])\s+|\s*\n+\s*")
_MARKER = re.compile(r"^\s*(?:[-*+•]|\d+[.)]|[a-zA-Z][.)])\s+")


def count_words(text: str) -> int:
    """The checkers' word count (nltk's RegexpTokenizer(r"\\w+"), same pattern)."""
    return len(_WORD.findall(text))


def normalise(text: str) -> str:
    """Strip, unify newlines, at most one blank line in a row, no trailing spaces on lines."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = "\n".join(line.rstrip() for line in text.strip().split("\n"))
    return re.sub(r"\n{3,}", "\n\n", text)


def units(text: str) -> list[str]:
    """Sentence-like pieces: split at sentence ends and line breaks, list markers removed."""
    out = []
    for piece in _BOUNDARY.split(text):
        piece = _MARKER.sub("", piece).strip()
        if piece:
            out.append(piece)
    return out


def split_to(pieces: list[str], n: int) -> list[str] | None:
    """At least n pieces, splitting the longest at a word boundary; None if too few words."""
    pieces = list(pieces)
    while len(pieces) < n:
        i = max(range(len(pieces)), key=lambda k: len(pieces[k].split())) if pieces else -1
        words = pieces[i].split() if pieces else []
        if len(words) < 2:
            return None
        half = len(words) // 2
        pieces[i:i + 1] = [" ".join(words[:half]), " ".join(words[half:])]
    return pieces


def group(pieces: list[str], n: int, sep: str = " ") -> list[str] | None:
    """Exactly n non-empty groups of consecutive pieces, balanced by count."""
    pieces = split_to(pieces, n)
    if pieces is None:
        return None
    out, start = [], 0
    for g in range(n):
        end = round((g + 1) * len(pieces) / n)
        out.append(sep.join(pieces[start:end]))
        start = end
    return out


def paragraphs(text: str) -> list[str]:
    return [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]


def into_n_blocks(text: str, n: int) -> list[str] | None:
    """n blocks of the text: its own paragraphs when it has at least n, else its sentence units."""
    paras = paragraphs(text)
    if len(paras) >= n:
        return group(paras, n, sep="\n")
    return group(units(text), n)


def truncate_words(text: str, cap: int) -> str:
    """The longest prefix ending at a sentence or line boundary with at most `cap` words;
    failing that, the longest word prefix (ended with a full stop)."""
    if count_words(text) <= cap:
        return text
    best = ""
    for m in _BOUNDARY.finditer(text):
        prefix = text[:m.start()].rstrip()
        if count_words(prefix) > cap:
            break
        best = prefix
    if best and count_words(best) > 0:
        return best
    kept = []
    for w in text.split():
        if count_words(" ".join(kept + [w])) > cap:
            break
        kept.append(w)
    cut = " ".join(kept).rstrip(",;:")
    return cut + ("" if cut.endswith((".", "!", "?")) or not cut else ".")


def remove_commas(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3}\b)", "", text)  # 1,000 -> 1000
    text = re.sub(r",[ \t]*(?=\n)", "", text)  # a comma at a line end: dropped, the line break kept
    text = re.sub(r",[ \t]*", " ", text)
    return re.sub(r"(?<=\S)[ \t]{2,}", " ", text)


def title_from(prompt: str, max_words: int = 6) -> str:
    """A short title from a prompt's first line: its first words, capitalised, no punctuation."""
    first = prompt.strip().split("\n")[0]
    words = re.findall(r"[A-Za-z0-9']+", first)[:max_words]
    return " ".join(w[:1].upper() + w[1:] for w in words) or "Answer"
