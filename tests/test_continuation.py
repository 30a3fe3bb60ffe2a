"""Truncated rejections are continued (weak_model.continuation), not thrown away: a cut answer gains
a piece of `share` x its budget, up to `rounds` times, within the context; an answer that ended by
itself is byte for byte what it was without continuation; the shard info counts what it cost."""

import pyarrow as pa
import pytest

from pairforge.backends.base import Completion
from pairforge.data.schemas import pair_schema
from pairforge.pipeline.generate import generate_shard
from pairforge.recipe import recipe_from_dict


class Rambler:
    """Prompt q<k> writes an answer of 10*k tokens; a piece continues it by 10 tokens a call."""

    name, model_name, schedules_itself = "fake", "fake", False

    def __init__(self, context_length=4096):
        self.context_length, self.continued = context_length, []

    def prompt_token_counts(self, prompts):
        return [10] * len(prompts)

    def token_counts(self, texts):
        return [20] * len(texts)  # auto budget: max(64, 1.5 * 20 + 16) = 64

    def _answer(self, prompt, used, budget):
        want = 10 * int(prompt[-1]["content"][1:]) - used
        n = min(want, budget)
        return Completion(text="w " * n, finish_reason="stop" if n == want else "length", tokens=n)

    def generate(self, prompts, seeds, max_tokens):
        return [[self._answer(p, 0, b)] for p, b in zip(prompts, max_tokens)]

    def continue_answers(self, prompts, answers, seeds, max_tokens):
        self.continued.append(list(max_tokens))
        return [self._answer(p, len(a.split()), b) for p, a, b in zip(prompts, answers, max_tokens)]


def shard(ks):
    rows = [{"id": f"r{k}", "source_index": k, "turn_index": 0, "chosen": "c",
             "prompt": [{"role": "user", "content": f"q{k}"}]} for k in ks]
    return pa.Table.from_pylist(rows, schema=pair_schema())


def cfg(max_tokens="auto", **continuation):
    return recipe_from_dict({"source": {"path": "x.jsonl"}, "weak_model": {
        "continuation": continuation, "sampling": {"max_tokens": max_tokens}}}).weak_model


def answers(kept):
    return {r["id"]: (r["rejected_tokens"], r["rejected_finish_reason"]) for r in kept.to_pylist()}


def test_cut_answers_are_continued_within_their_rounds():
    backend = Rambler()
    kept, _, info = generate_shard(shard([2, 6, 8, 12]), backend, cfg())  # 20, 60, 80, 120 tokens wanted
    assert answers(kept) == {"r2": (20, "stop"), "r6": (60, "stop"), "r8": (80, "stop"), "r12": (96, "length")}
    assert backend.continued == [[32, 32]]  # one round, half the budget of 64, for the two cut answers
    assert info["continued"] == 2 and info["tokens_continued"] == 16 + 32
    assert info["tokens_generated"] == 20 + 60 + 80 + 96
    kept, _, info = generate_shard(shard([12]), Rambler(), cfg(rounds=2))
    assert answers(kept) == {"r12": (120, "stop")} and info["continued"] == 2


def test_continuation_stops_at_the_context():
    backend = Rambler(context_length=10 + 64 + 5)
    kept, _, info = generate_shard(shard([12]), backend, cfg(rounds=3))
    assert backend.continued == [[5]] and answers(kept) == {"r12": (69, "length")}


@pytest.mark.parametrize("ks", [[1, 2, 3, 6], [2, 8, 12]])
def test_answers_that_ended_by_themselves_are_unchanged(ks):
    on, off = (generate_shard(shard(ks), Rambler(), cfg(rounds=r))[0] for r in (1, 0))
    ended = [i for i, r in enumerate(off["rejected_finish_reason"].to_pylist()) if r == "stop"]
    assert ended and all(on.slice(i, 1).equals(off.slice(i, 1)) for i in ended)
    assert off.column_names == on.column_names


def test_a_backend_that_cannot_continue_gives_the_rows_of_before():
    class Server(Rambler):
        continue_answers = None

    kept, _, info = generate_shard(shard([12]), Server(), cfg())
    assert answers(kept) == {"r12": (64, "length")} and info["continued"] == 0


def test_an_integer_max_tokens_is_a_cap_never_continued():
    """A fixed max_tokens gives the rows of before, byte for byte, cut answers included."""
    on, off = (generate_shard(shard([2, 8, 12]), Rambler(), cfg(64, rounds=r))[0] for r in (1, 0))
    assert on.equals(off) and answers(on)["r12"] == (64, "length")
