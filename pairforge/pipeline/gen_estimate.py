"""The dry run's generation-time estimate: a small timed sample of fixed size, then arithmetic over
the calls the build will make.

Why not time a share of the job: a backend call costs its prefill plus its decode steps (the longest
answer in it, up to its largest budget) times the cost of one step at its width. A few prompts
answered in full therefore cost nearly what a whole batch costs (the old sample, 8 of the demo's 45
prompts, took 64 % of the build's time). distilabel's dry run pushes one batch through its
pipeline; here the sample is bounded by constants and batch_size, whatever the job's size:

  probe    the build's first call (its width, its prompts) for 1 and then 1 + PROBE_STEPS tokens:
           the prefill, and the cost of one decode step at full width; then an eighth of it for
           1 + PROBE_STEPS tokens: the cost of a step at a small width;
  answers  only if asked (--dry-run-sample N): N prompts spread over the job through generate_shard
           itself (budgets and continuation as the build runs them): the share of answers cut at
           their budget and of continued answers cut again. It is not the default because any
           answer in full costs about its budget in decode steps, and a step at a small width costs
           about half one at full width on a CPU: 4 prompts so answered cost a third of the demo's
           build (measured), while the shares change the estimate little (see `call`).

Every call the build will make (generate_shard's order and batching, shard by shard, then its
continuation rounds) is then costed as prefill + steps x step(width): width in sequences (prompts
x n); prefill per padded input token when token counts are known (a continuation reads its prompt
and the answer so far, about its budget), else per sequence; step(width) on the line through the
two measured widths; steps the expected longest answer of the call (`expected_steps`: each answer
cut at its budget with the cut share, else ending anywhere up to the share of its budget the
longest finished sample answer used; with the end nudge, ending sooner past its start). Loading the model is measured apart (paid once).
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from time import perf_counter as clock  # a test drives its own clock

PROBE_STEPS = 16
PRIOR_CUT = 0.5  # share of answers cut at their budget, when no prompt is answered in full


@dataclass
class Call:
    kind: str  # generate | continue
    sequences: int
    steps: int  # decode steps run: the longest answer's tokens
    seconds: float
    cut: int  # answers cut at their budget
    used: float | None  # the largest share of its budget a finished answer used


class Recorder:
    """Wraps a backend and records each generation call; everything else is the backend's."""

    def __init__(self, backend):
        self._b, self.calls = backend, []

    def __getattr__(self, name):
        if name == "continue_answers" and getattr(self._b, name, None) is not None:
            return self._continue
        return getattr(self._b, name)

    def generate(self, prompts, seeds, max_tokens=None):
        t0 = clock()
        outs = self._b.generate(prompts, seeds=seeds, max_tokens=max_tokens)
        self._record("generate", [(c, b) for out, b in zip(outs, max_tokens or [None] * len(outs)) for c in out], t0)
        return outs

    def _continue(self, prompts, answers, seeds, max_tokens):
        t0 = clock()
        outs = self._b.continue_answers(prompts, answers, seeds=seeds, max_tokens=max_tokens)
        self._record("continue", list(zip(outs, max_tokens)), t0)
        return outs

    def _record(self, kind: str, pairs: list, t0: float) -> None:
        seconds = clock() - t0
        done = [c.tokens / b for c, b in pairs if c.finish_reason != "length" and b]
        self.calls.append(Call(kind, len(pairs), max((c.tokens for c, _ in pairs), default=0), seconds,
                               sum(c.finish_reason == "length" for c, _ in pairs), max(done, default=None)))


def planned_calls(n_rows: int, shard_size: int, refused: dict, p_tokens, budget, backend, cfg) -> list[list[list[int]]]:
    """Per shard, the row indices of each generation call the build makes (generate_shard's order)."""
    from .generate import call_batches, send_order

    shards = []
    for s in range(0, n_rows, shard_size):
        idx = list(range(s, min(n_rows, s + shard_size)))
        local = send_order(len(idx), {k - s: v for k, v in refused.items() if s <= k < s + shard_size},
                           [p_tokens[i] for i in idx], [budget[i] for i in idx])
        shards.append(call_batches([idx[i] for i in local], backend, cfg))
    return shards


def _smoothed(cut: int, of: int) -> float:
    return (cut + 0.5) / (of + 1)  # a sample of 4 with no cut answer does not say "never cut"


@dataclass
class CostModel:
    """What the sample measured; `seconds` costs the build's calls with it."""

    width: int  # the probe's sequences
    prefill: float  # seconds, at `width`
    step: float  # seconds per decode step at `width`
    small_width: int
    small_step: float
    cut: float  # share of answers cut at their budget
    cut_again: float  # share of continued answers cut again
    used: float  # share of its budget the longest finished answer used
    prefill_token: float | None = None  # seconds a sequence a prompt token (padded), when token counts are known

    def step_at(self, w: float) -> float:
        if self.width == self.small_width:
            return self.step
        slope = (self.step - self.small_step) / (self.width - self.small_width)
        return max(self.small_step + slope * (w - self.small_width), 0.5 * min(self.step, self.small_step))

    def call(self, w: float, budgets: list[int], cut: float, length: int | None = None, nudge=None) -> float:
        """A call of width w (its sequences' `budgets`): its prefill (per padded token when `length`, the
        call's longest input in tokens, and the per-token cost are known, else per sequence) and its
        decode steps, the expected longest answer (expected_steps)."""
        prefill = self.prefill_token * w * length if self.prefill_token and length else self.prefill * w / self.width
        return prefill + expected_steps(budgets, cut, self.used, nudge) * self.step_at(w)

    def seconds(self, shards, budget, cfg, n: int, continues: bool, p_tokens=None, upper: bool = False) -> float:
        """Every planned call costed; a continuation reads its prompt and the answer so far (about the
        budget: it was cut there). `upper`: every answer runs to its budget, nudged or not."""
        total, c, e = 0.0, cfg.continuation, cfg.sampling.end_nudge
        nudge = (e.start, e.factor) if e.enabled and not upper else None
        batch, known = cfg.batch_size * n, p_tokens is not None and None not in p_tokens
        for calls in shards:
            for idx in calls:
                total += self.call(len(idx) * n, [budget[i] for i in idx for _ in range(n)], self.cut,
                                   max(p_tokens[i] for i in idx) if known else None, nudge)
            sent = sum(len(idx) for idx in calls) * n
            top = max((budget[i] for idx in calls for i in idx), default=0)
            length = max((p_tokens[i] for idx in calls for i in idx), default=0) + top if known else None
            width = sent * self.cut
            for r in range(c.rounds if continues and sent else 0):
                piece = math.ceil(c.share * top)
                for part in range(math.ceil(width / batch) if width >= 0.5 else 0):
                    w = min(batch, width - part * batch)
                    total += self.call(w, [piece] * max(1, round(w)), self.cut_again, length + r * piece if known else None,
                                       nudge)
                width *= self.cut_again
        return total


def expected_steps(budgets: list[int], cut: float, used: float, nudge: tuple[float, float] | None = None) -> float:
    """The expected decode steps of a call: the expected longest of its answers, each independently
    cut at its budget b (share `cut`) or else ending anywhere in (0, used * b] alike. A call runs until
    its longest answer ends, so where budgets differ the largest budget counts only as often as its
    answer is cut: sum over t < max(b) of P(longest > t), from each budget's P(answer <= t) (equal
    budgets counted once, as a power). With the end nudge (start, factor: sampling.end_nudge), an
    answer still going k tokens past its start ends at the next token with the chance of an answer
    spread evenly over the rest of its budget, times factor ** k (the odds the nudge gives it)."""
    import numpy as np

    if not budgets:
        return 0.0
    b, count = np.unique(np.asarray(budgets, dtype=np.float64), return_counts=True)
    b = b[:, None]
    t = np.arange(int(b.max()), dtype=np.float64)[None, :]
    below = (1 - cut) * np.minimum(1.0, t / np.maximum(used * b, 1e-9))  # P(answer <= t), no nudge
    if nudge is not None:
        start = np.ceil(nudge[0] * b)
        k = np.clip(t - start, 0, 400)  # tokens past the start (the chance is 1 long before 400)
        hazard = np.where(k > 0, np.minimum(1.0, nudge[1] ** k / np.maximum(b - start, 1.0)), 0.0)
        with np.errstate(divide="ignore"):
            survive = np.exp(np.cumsum(np.log1p(-hazard), axis=1))  # not ended by the nudge by t
        at_start = np.take_along_axis(below, np.minimum(start, t.shape[1] - 1).astype(int), axis=1)
        below = np.where(t > start, 1 - (1 - at_start) * survive, below)
    below = np.where(t >= b, 1.0, below)
    with np.errstate(divide="ignore"):
        log_all = (count[:, None] * np.log(below)).sum(axis=0)
    return float((1 - np.exp(log_all)).sum())


def fit(probe: list[Call], sample: list[Call], probe_tokens: int | None = None) -> CostModel:
    """The cost model from the probe's calls (full width for 1 and 1 + PROBE_STEPS tokens, then a small
    width for 1 + PROBE_STEPS) and the calls of the prompts answered in full, if any. Without those,
    the shares are priors: half the answers cut, a finished answer ending anywhere in its budget."""
    one, many, small = probe
    step = max(many.seconds - one.seconds, 1e-9) / max(1, many.steps - one.steps)
    prefill = max(one.seconds - step, 0.0)
    main = [x for x in sample if x.kind == "generate"]
    cont = [x for x in sample if x.kind == "continue"]
    small_step = max(small.seconds - prefill * small.sequences / one.sequences, 1e-9) / max(1, small.steps)
    per_token = prefill / (one.sequences * probe_tokens) if probe_tokens else None
    if not main:
        return CostModel(one.sequences, prefill, step, small.sequences, small_step, PRIOR_CUT, PRIOR_CUT, 1.0, per_token)
    used = max((x.used for x in main if x.used is not None), default=1.0)
    cut = _smoothed(sum(x.cut for x in main), sum(x.sequences for x in main))
    cut_again = _smoothed(sum(x.cut for x in cont), sum(x.sequences for x in cont)) if cont else cut
    return CostModel(one.sequences, prefill, step, small.sequences, small_step, cut, cut_again, used, per_token)


def say(quiet: bool, text: str) -> None:
    """The dry run's progress, on stderr (nothing with --quiet)."""
    if not quiet:
        print(f"dry run: {text}", file=sys.stderr, flush=True)
