"""Paired comparisons of two arms scored on the same prompts: the difference in pass rate, its
95 % interval, and an exact two-sided McNemar p-value (a binomial test on the discordant prompts);
over several training seeds, the per-prompt mean difference with a t interval and a sign-flip
permutation p-value. Standard library and NumPy only."""

from __future__ import annotations

import math


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p: P(X <= min(b, c)) * 2 for X ~ Binomial(b + c, 1/2), capped at 1."""
    n = b + c
    if n == 0:
        return 1.0
    k = min(b, c)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired(a: list[bool], b: list[bool]) -> dict:
    """Arm a against arm b on the same prompts: rates, a - b, its 95 % interval (the paired Wald
    interval for a difference of proportions), discordant counts and the exact McNemar p."""
    if len(a) != len(b) or not a:
        raise ValueError(f"paired comparison needs equal, non-empty prompt lists ({len(a)} vs {len(b)})")
    n = len(a)
    only_a = sum(x and not y for x, y in zip(a, b))
    only_b = sum(y and not x for x, y in zip(a, b))
    diff = (only_a - only_b) / n
    se = math.sqrt(max(0.0, (only_a + only_b) - (only_a - only_b) ** 2 / n)) / n
    return {"n": n, "rate_a": sum(a) / n, "rate_b": sum(b) / n, "diff": diff,
            "ci95": [diff - 1.96 * se, diff + 1.96 * se], "only_a": only_a, "only_b": only_b,
            "p_mcnemar": mcnemar_exact(only_a, only_b)}


def pooled(a_runs: list[list[bool]], b_runs: list[list[bool]], draws: int = 100_000, seed: int = 0) -> dict:
    """Several seeds of each arm (or one run of b, e.g. the base model): d_i is the mean over a's
    runs minus the mean over b's runs on prompt i; the mean of d, a t interval (normal quantile at
    n >= 200), and a two-sided sign-flip permutation p-value (`draws` random flips, seeded)."""
    import numpy as np

    a = np.mean(np.asarray(a_runs, dtype=float), axis=0)
    b = np.mean(np.asarray(b_runs, dtype=float), axis=0)
    d = a - b
    n = d.size
    mean = float(d.mean())
    se = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    rng = np.random.default_rng(seed)
    observed = abs(d.sum())
    hits = 0
    for start in range(0, draws, 10_000):
        signs = rng.choice([-1.0, 1.0], size=(min(10_000, draws - start), n))
        hits += int((np.abs(signs @ d) >= observed - 1e-12).sum())
    return {"n": n, "runs_a": len(a_runs), "runs_b": len(b_runs), "rate_a": float(a.mean()),
            "rate_b": float(b.mean()), "diff": mean, "ci95": [mean - 1.96 * se, mean + 1.96 * se],
            "p_permutation": (hits + 1) / (draws + 1)}
