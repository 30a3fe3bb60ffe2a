"""weak_model.sampling.end_nudge: length-controlled sampling. Past ceil(start x budget) new tokens,
each row's end-token logits gain k x ln(factor) (a start per row, rows repeated n times), so an
answer ends before it is cut; stats and card count the answers that ended after their nudge began;
backends that cannot run it are refused in one line; off, nothing changes (fingerprints included)."""

import math

import pytest
import torch

from conftest import REPO, tiny_recipe, write_recipe
from pairforge.backends.transformers_backend import _EndNudge
from pairforge.errors import RecipeError
from pairforge.recipe import fingerprint, recipe_from_dict
from test_cli_conventions import pf
from test_continuation import shard

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
EOS = [3, 7]


def test_each_row_starts_at_its_own_step_and_only_end_logits_rise():
    torch.manual_seed(0)
    scores = torch.randn(4, 10)
    scores[0, 3] = float("-inf")  # a banned end token stays banned
    nudge = _EndNudge([2, 5], 1.5, n=2, width=6, eos_ids=EOS, device="cpu")  # rows 0-1 start at 2, rows 2-3 at 5
    assert torch.equal(nudge(torch.zeros(4, 6 + 2, dtype=torch.long), scores), scores)  # at the start: no change yet
    out = nudge(torch.zeros(4, 6 + 4, dtype=torch.long), scores)  # 4 new tokens: rows 0-1 are 2 past their start
    assert torch.equal(out[2:], scores[2:])  # not yet at their start
    others = [t for t in range(10) if t not in EOS]
    assert torch.equal(out[:, others], scores[:, others])  # only end tokens change
    assert out[0, 3] == float("-inf") and torch.allclose(out[0, 7], scores[0, 7] + 2 * math.log(1.5))
    assert torch.allclose(out[1, EOS], scores[1, EOS] + 2 * math.log(1.5))  # odds of ending x1.5 a token past the start
    later = nudge(torch.zeros(4, 6 + 9, dtype=torch.long), scores)  # rows 2-3 now 4 past theirs
    assert torch.allclose(later[2:, EOS], scores[2:, EOS] + 4 * math.log(1.5))


def _weak(tiny_model, tmp_path, **nudge):
    sampling = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 12, "n": 2, "seed": 0, "end_nudge": nudge}
    return recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "out",
                                        weak_model={"sampling": sampling})).weak_model


def test_a_strong_nudge_ends_answers_the_random_model_would_run_past(tiny_model, tmp_path):
    """The tiny random model never ends within 12 tokens; nudged from token 3 it ends every answer
    between the start and the budget, and each one is counted."""
    from pairforge.backends import make_backend
    from pairforge.pipeline.generate import generate_shard

    table = shard([1, 2, 3])
    off = _weak(tiny_model, tmp_path)
    plain, _, info = generate_shard(table, backend := make_backend(off), off)
    assert {r["rejected_finish_reason"] for r in plain.to_pylist()} == {"length"} and info["ended_after_nudge"] == 0
    on = _weak(tiny_model, tmp_path, enabled=True, start=0.25, factor=10.0)
    backend.cfg = on
    kept, _, info = generate_shard(table, backend, on)
    rows = kept.to_pylist()
    assert len(rows) == 6 and {r["rejected_finish_reason"] for r in rows} == {"stop"}
    assert all(3 + 2 <= r["rejected_tokens"] < 12 for r in rows)  # ended after the nudge began, before the budget
    assert info["ended_after_nudge"] == 6 and info["tokens_generated"] < 6 * 12


def test_settings_are_checked_and_fingerprinted_only_when_on(tmp_path):
    def fp(**nudge):
        return fingerprint(_weak_recipe(tmp_path, nudge), "src", "model")

    from pairforge.recipe import recipe_schema

    schema = recipe_schema()["$defs"]  # what `pairforge recipe --schema` prints
    assert schema["Sampling"]["properties"]["end_nudge"]["$ref"] == "#/$defs/EndNudge"
    assert set(schema["EndNudge"]["properties"]) == {"enabled", "start", "factor"}
    assert schema["EndNudge"]["additionalProperties"] is False
    assert fp() == fp(start=0.7)  # off: the settings do not matter (and earlier builds keep theirs)
    assert len({fp(), fp(enabled=True), fp(enabled=True, start=0.7), fp(enabled=True, factor=1.5)}) == 4
    for bad, says in (({"factor": 1.0}, "factor: must be > 1"), ({"start": 1.5}, "start: must be between 0 and 1"),
                      ({"stop": 1}, "stop: unknown key")):
        with pytest.raises(RecipeError, match=f"weak_model.sampling.end_nudge.{says}"):
            _weak_recipe(tmp_path, bad)


def _weak_recipe(tmp_path, nudge, **weak):
    return recipe_from_dict(tiny_recipe("m", {"path": DEMO}, tmp_path, weak_model={
        "sampling": {"end_nudge": nudge}, **weak}))


@pytest.mark.parametrize("backend", ["vllm", "openai"])
def test_a_backend_without_it_is_refused_in_one_line(backend, tmp_path):
    recipe = tiny_recipe("m", {"path": DEMO}, tmp_path / "out", weak_model={
        "backend": backend, "openai": {"base_url": "http://127.0.0.1:9/v1"},
        "sampling": {"max_tokens": 12, "end_nudge": {"enabled": True}}})
    res = pf("build", write_recipe(tmp_path / "r.yaml", recipe), "--json")
    lines = res.stderr.strip().splitlines()
    assert res.returncode == 2 and res.stdout == "" and len(lines) == 1, res.stderr
    assert lines[0].startswith("Error: weak_model.sampling.end_nudge: runs on the transformers backend only")
    assert "--set weak_model.backend=transformers" in lines[0]
    with pytest.raises(RecipeError, match="judge.llm.sampling.end_nudge"):
        recipe_from_dict(tiny_recipe("m", {"path": DEMO}, tmp_path / "out", judge={"kind": "llm", "llm": {
            "backend": backend, "openai": {"base_url": "http://127.0.0.1:9/v1"},
            "sampling": {"end_nudge": {"enabled": True}}}}))


def test_auto_picks_transformers_for_a_nudged_recipe():
    from pairforge.backends import resolve_backend

    assert resolve_backend("auto", end_nudge=True) == ("transformers", "sampling.end_nudge runs on transformers only")
    assert resolve_backend("vllm", end_nudge=True)[0] == "vllm"  # an explicit backend is the recipe check's to refuse


def test_stats_and_card_say_answers_were_length_controlled(tiny_model, tmp_path):
    import json

    from pairforge.pipeline.build import run_build

    def build(name, **nudge):
        sampling = {"max_tokens": 12, "end_nudge": nudge}
        run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": 6}, tmp_path / name, filters={
            "truncated": "drop", "max_similarity": None, "repetition": {"enabled": False}},
            weak_model={"sampling": sampling}, split={"test_size": 0.0})), quiet=True)
        return json.loads((tmp_path / name / "stats.json").read_text()), (tmp_path / name / "README.md").read_text()

    stats, card = build("on", enabled=True, start=0.25, factor=10.0)
    assert stats["generation"]["ended_after_nudge"] == 6 and stats["rows_written"] == 6
    assert "length-controlled (`weak_model.sampling.end_nudge`): past 0.25 of each answer's `max_tokens`, the odds " \
           "of ending the answer grew x10.0 a token" in card
    assert "; 6 of the generated answers ended after their nudge began" in card
    stats, card = build("off")
    assert stats["generation"]["ended_after_nudge"] == 0 and stats["rows_written"] <= 1  # the rest cut: dropped
    assert stats["drops"]["filter_post"]["rejected_truncated"] == 6 - stats["rows_written"]
    assert "end_nudge" not in card
