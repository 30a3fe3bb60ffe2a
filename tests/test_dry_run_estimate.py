"""The dry run's time estimate (pipeline/gen_estimate.py): a sample of fixed size whatever the job's
size, and arithmetic that reproduces the build's generation time on a backend whose cost is known.
The backend's cost runs on a fake clock (no wall time is measured or asserted)."""

import json
import random

import pytest

from conftest import tiny_recipe
from pairforge.backends.base import Completion
from pairforge.pipeline import gen_estimate
from pairforge.pipeline.build import run_build
from pairforge.pipeline.dry_run import run_dry_run
from pairforge.recipe import recipe_from_dict


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


class Clocked:
    """Each call costs PREFILL a padded input token a sequence (its prompt; a continuation's prompt
    and answer so far) plus (A + B x width) a decode step, on the fake clock; answers never end by
    themselves (every one runs to its budget). Counts the prompts it is given."""

    name, model_name, context_length, schedules_itself = "fake", "fake", None, False
    A, B, PREFILL, PROMPT = 0.020, 0.003, 0.0008, 5

    def __init__(self, clock):
        self.clock, self.prompts, self.continued = clock, 0, 0

    def prompt_token_counts(self, prompts):
        return [self.PROMPT] * len(prompts)

    def token_counts(self, texts):
        return [len(t.split()) for t in texts]

    def _answers(self, budgets, inputs):
        self.clock.t += self.PREFILL * len(budgets) * max(inputs) + max(budgets) * (self.A + self.B * len(budgets))
        return [Completion(" ".join(f"t{j}" for j in range(b)), "length", b) for b in budgets]

    def generate(self, prompts, seeds, max_tokens):
        self.prompts += len(prompts)
        return [[c] for c in self._answers(max_tokens, [self.PROMPT])]

    def continue_answers(self, prompts, answers, seeds, max_tokens):
        self.continued += len(prompts)
        return self._answers(max_tokens, [self.PROMPT + len(a.split()) for a in answers])


def _source(path, rows):
    with open(path, "w") as f:
        for i in range(rows):
            chosen = " ".join(f"c{i}x{j}" for j in range(20 + (i * 7) % 60))  # budgets 64 .. 136
            f.write(json.dumps({"messages": [{"role": "user", "content": f"question {i} " + "abcdefgh"[i % 8] * (i % 5 + 1)},
                                             {"role": "assistant", "content": chosen}]}) + "\n")
    return str(path)


def _data(tiny_model, tmp_path, rows, rounds):
    return tiny_recipe(tiny_model, {"path": _source(tmp_path / f"sft{rows}.jsonl", rows)}, tmp_path / f"out{rows}-{rounds}",
                       weak_model={"sampling": {"max_tokens": "auto"}, "continuation": {"rounds": rounds}},
                       dedupe={"near": {"enabled": False}}, filters={"repetition": {"enabled": False}})


@pytest.fixture
def fake(monkeypatch):
    clock = Clock()
    made = []

    def make(cfg):
        made.append(Clocked(clock))
        return made[-1]

    monkeypatch.setattr(gen_estimate, "clock", clock)
    monkeypatch.setattr("pairforge.backends.make_backend", make)
    return clock, made


def _dry(data, clock, made, **kw):
    report = run_dry_run(recipe_from_dict(data), quiet=True, **kw)
    return report, made[-1]


def _real_seconds(data, clock, made, tmp_path):
    start = clock.t
    run_build(recipe_from_dict({**data, "output": {"dir": str(tmp_path / "real")}}), quiet=True)
    return clock.t - start


def test_the_sample_is_bounded_whatever_the_job_size(tiny_model, tmp_path, fake):
    clock, made = fake
    counts = []
    for rows in (40, 400):
        for sample in (0, 3):
            report, backend = _dry(_data(tiny_model, tmp_path, rows, rounds=1), clock, made, sample=sample)
            assert report["prompts_to_send"] == rows and report["estimate"]["sample"]["prompts"] == sample
            counts.append((backend.prompts, backend.continued))
    # warm-up 1 + the first batch (batch_size 8) twice + an eighth of it once (+ 3 answered in full,
    # and their 3 continuations)
    assert counts == [(1 + 8 + 8 + 1, 0), (1 + 8 + 8 + 1 + 3, 3)] * 2


@pytest.mark.parametrize("rounds,sample", [(0, 0), (0, 3), (1, 3)])
def test_the_upper_bound_reproduces_a_known_cost(tiny_model, tmp_path, fake, rounds, sample):
    """Every answer runs to its budget: the calls' cost is then known exactly, and it is the upper
    bound's (every answer cut). Without continuation the bound is the build's cost to rounding; with
    it, the continued width is every answer, as here. The estimate is below the bound (the prior: half
    the answers cut) and, once a sample shows every answer cut, near it."""
    clock, made = fake
    data = _data(tiny_model, tmp_path, 45, rounds)
    report, _ = _dry(data, clock, made, sample=sample)
    actual = _real_seconds(data, clock, made, tmp_path)
    estimate = report["estimate"]
    assert made[-1].continued == (45 if rounds else 0)
    if rounds == 0:
        assert estimate["seconds_upper_bound"] == pytest.approx(actual, abs=0.1)
    else:
        assert estimate["seconds_upper_bound"] == pytest.approx(actual, rel=0.1)
        without = _dry(_data(tiny_model, tmp_path, 45, 0), clock, made, sample=3)[0]["estimate"]["seconds"]
        assert estimate["seconds"] > without * 1.3  # the continuation round is costed
    assert estimate["seconds"] <= estimate["seconds_upper_bound"]
    if sample:
        assert estimate["seconds"] == pytest.approx(actual, rel=0.1)


class PriorClocked(Clocked):
    """Clocked, but an answer is cut at its budget half the time and else ends anywhere in it (seeded
    by the row's seed): the answers the estimate's prior describes. A call costs its longest answer."""

    def generate(self, prompts, seeds, max_tokens):
        self.prompts += len(prompts)
        outs = []
        for seed, b in zip(seeds, max_tokens):
            rng = random.Random(seed)
            cut = rng.random() < 0.5
            n = b if cut else rng.randint(1, b)
            outs.append([Completion(" ".join(f"t{j}" for j in range(n)), "length" if cut else "stop", n)])
        steps = max(c.tokens for out in outs for c in out)
        self.clock.t += self.PREFILL * len(prompts) * self.PROMPT + steps * (self.A + self.B * len(prompts))
        return outs


def test_the_estimate_meets_a_build_whose_answers_follow_its_prior(tiny_model, tmp_path, monkeypatch):
    """Where the answers are as the prior says (half cut, the rest ending anywhere in the budget), the
    default estimate (no prompt answered in full) comes within 10 % of the build, and nearer it than
    costing every call at its largest budget (the old estimate, now the upper bound)."""
    clock = Clock()
    monkeypatch.setattr(gen_estimate, "clock", clock)
    monkeypatch.setattr("pairforge.backends.make_backend", lambda cfg: PriorClocked(clock))
    data = _data(tiny_model, tmp_path, 200, 0)
    estimate = run_dry_run(recipe_from_dict(data), quiet=True, sample=0)["estimate"]
    start = clock.t
    run_build(recipe_from_dict({**data, "output": {"dir": str(tmp_path / "real")}}), quiet=True)
    actual = clock.t - start
    assert estimate["seconds"] == pytest.approx(actual, rel=0.1)
    assert abs(estimate["seconds"] - actual) < abs(estimate["seconds_upper_bound"] - actual)


def test_progress_is_shown(tiny_model, tmp_path, fake, capsys):
    clock, made = fake
    run_dry_run(recipe_from_dict(_data(tiny_model, tmp_path, 20, 1)), sample=2, quiet=False)
    err = capsys.readouterr().err
    assert "dry run: timing the build's first batch (8 prompts)" in err
    assert "dry run: answering 2 sample prompts in full" in err and "dry run: sample done in" in err
    run_dry_run(recipe_from_dict(_data(tiny_model, tmp_path, 20, 1)), sample=2, quiet=True)
    assert "dry run:" not in capsys.readouterr().err


@pytest.mark.parametrize("budgets,cut,used,nudge", [
    ([100] * 8, 0.5, 1.0, None), ([64, 80, 120, 300], 0.5, 1.0, None), ([64, 80, 120, 300] * 6, 0.3, 0.6, None),
    ([64, 80, 120, 300], 0.5, 1.0, (0.5, 1.3)), ([200] * 24, 0.5, 1.0, (0.5, 1.3)), ([90, 250], 0.2, 0.8, (0.7, 1.1)),
])
def test_expected_steps_is_the_mean_longest_answer_of_its_model(budgets, cut, used, nudge):
    """expected_steps against a simulation of the answers it describes: cut at the budget (share
    `cut`) or ending evenly over (0, used x budget]; with the nudge, an answer past its start ends at
    each next token with the even chance over the rest of its budget times factor ** k."""
    import numpy as np

    rng, trials = np.random.default_rng(0), 40_000
    longest = np.zeros(trials)
    for b in budgets:
        x = np.where(rng.random(trials) < cut, b, np.ceil(rng.random(trials) * used * b))
        if nudge:
            start = np.ceil(nudge[0] * b)
            k = np.arange(1, int(b - start) + 1)
            survive = np.cumprod(1 - np.minimum(1.0, nudge[1] ** k / max(b - start, 1)))
            end = start + np.searchsorted(-survive, -rng.random(trials)) + 1  # first k the survival falls below
            x = np.where(x > start, np.minimum(end, b), x)
        longest = np.maximum(longest, x)
    assert gen_estimate.expected_steps(budgets, cut, used, nudge) == pytest.approx(longest.mean(), rel=0.01)
    if nudge:  # the nudge shortens the call
        assert gen_estimate.expected_steps(budgets, cut, used, nudge) < gen_estimate.expected_steps(budgets, cut, used)


def test_a_nudged_recipe_is_costed_with_its_nudge(tiny_model, tmp_path, fake):
    clock, made = fake
    plain = _data(tiny_model, tmp_path, 40, 0)
    nudged = {**plain, "weak_model": {**plain["weak_model"],
                                      "sampling": {**plain["weak_model"]["sampling"], "end_nudge": {"enabled": True}}}}
    a, b = (_dry(d, clock, made, sample=0)[0]["estimate"] for d in (plain, nudged))
    assert b["seconds"] < a["seconds"] * 0.9  # answers end soon after half their budget
    assert b["seconds_upper_bound"] == a["seconds_upper_bound"]  # the bound: every answer to its budget
