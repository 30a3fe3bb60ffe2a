"""Per-row reference definitions of the text measures that pairforge.pipeline.text computes vectorised
(repeated_ngram_ratios, word_jaccards); the equivalence tests compare the two."""


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
