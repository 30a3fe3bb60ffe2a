"""Pairs that teach the right thing: answers sized to finish, dedupe that ignores a shared system
prompt, the length picture of a build, and finish-only settings that re-finish without generating."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from conftest import REPO, tiny_recipe
from pairforge.cli import format_summary
from pairforge.data.schemas import generated_schema, pair_schema
from pairforge.errors import PairforgeError, RecipeError
from pairforge.pipeline.build import pre_generation_stages, run_build
from pairforge.pipeline.dedupe import ExactDedupe, NearDedupe
from pairforge.pipeline.stats import LengthPicture
from pairforge.pipeline.text import dedupe_texts
from pairforge.recipe import fingerprints, recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")
SYSTEM = ("You are an AI assistant. User will you give you a task. Your goal is to complete the task as faithfully "
          "as you can. While performing the task think step-by-step and justify your steps.")  # OpenOrca's
QUESTIONS = [
    "What is the capital of France?", "How many legs does a spider have?", "Who wrote Pride and Prejudice?",
    "Translate 'good morning' into German.", "What is 17 times 23?", "Name three primary colours.",
    "Why is the sky blue?", "What does DNA stand for?", "Summarise the plot of Hamlet in one sentence.",
    "Is a tomato a fruit or a vegetable?", "What year did the Berlin Wall fall?", "Define photosynthesis briefly.",
    "Which planet is the largest in our solar system?", "What is the boiling point of water at sea level?",
    "Give an antonym for 'generous'.", "How do vaccines train the immune system?", "What is a prime number?",
    "Write a haiku about autumn rain.", "Convert 5 kilometres to miles.", "Who painted the Mona Lisa?",
]


def recipe(*overrides):
    return recipe_from_dict({"source": {"path": "x.jsonl"}}, list(overrides))


def rows(prompts, system=SYSTEM, chosen="An answer."):
    out = []
    for i, p in enumerate(prompts):
        msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": p}]
        out.append({"id": f"r{i}", "source_index": i, "turn_index": 0, "prompt": msgs, "chosen": chosen})
    return pa.Table.from_pylist(out, schema=pair_schema())


def run_dedupe(r, table):
    """Exact then near dedupe as the build builds them from the recipe: {id: reason} of drops."""
    dropped = {}
    for stage in pre_generation_stages(r)[1:]:
        table, d = stage(table)
        dropped.update(zip(d["id"].to_pylist(), d["reason"].to_pylist()))
    return table, dropped


# ---------------------------------------------------------------------------------- dedupe keys


def test_distinct_questions_under_one_system_prompt_are_all_kept():
    kept, dropped = run_dedupe(recipe(), rows(QUESTIONS))
    assert kept.num_rows == 20 and not dropped


def test_prompt_key_reproduces_the_old_whole_prompt_behaviour():
    kept, dropped = run_dedupe(recipe("dedupe.key=prompt"), rows(QUESTIONS))
    assert kept.num_rows == 1 and set(dropped.values()) == {"near_duplicate_prompt"} and len(dropped) == 19


def test_true_duplicates_under_the_system_prompt_are_still_dropped():
    near = ["What is the capital city of France? Please answer briefly and clearly.",
            "why  is the SKY blue? ", "who wrote pride and prejudice?"]
    base = ["What is the capital city of France? Please answer briefly and clearly, thanks.", *QUESTIONS[1:]]
    kept, dropped = run_dedupe(recipe(), rows(base + near))
    assert dropped == {"r20": "near_duplicate_prompt", "r21": "duplicate_prompt", "r22": "duplicate_prompt"}
    # the user's words alone decide: the same question under another system prompt is a duplicate too
    other = rows([QUESTIONS[5]], system="Answer like a pirate.")
    stage = ExactDedupe()
    stage(rows(QUESTIONS))
    assert stage(other)[1]["reason"].to_pylist() == ["duplicate_prompt"]
    assert ExactDedupe(key="prompt")(other)[1].num_rows == 0


def test_user_turns_skip_system_and_assistant_history():
    msgs = [{"role": "system", "content": "S"}, {"role": "user", "content": "first"},
            {"role": "assistant", "content": "A"}, {"role": "user", "content": "second"}]
    t = pa.Table.from_pylist([{"id": "a", "source_index": 0, "turn_index": 1, "prompt": msgs, "chosen": "C"},
                              {"id": "b", "source_index": 1, "turn_index": 0,
                               "prompt": [{"role": "system", "content": "only a system"}], "chosen": "D"}],
                             schema=pair_schema())
    assert dedupe_texts(t, "user_turns").to_pylist() == ["first\nsecond", "only a system"]
    assert dedupe_texts(t, "prompt").to_pylist() == ["S\nfirst\nA\nsecond", "only a system"]
    assert dedupe_texts(t, "prompt_and_chosen").to_pylist() == ["S\nfirst\nA\nsecond\nC", "only a system\nD"]


def test_prompt_and_chosen_key_keeps_one_question_with_two_answers():
    t = rows([QUESTIONS[0], QUESTIONS[0]], system=None)
    t = t.set_column(4, "chosen", pa.array(["Paris is the capital of France.", "It is Paris, on the Seine river."]))
    kept, dropped = run_dedupe(recipe("dedupe.key=prompt_and_chosen"), t)
    assert kept.num_rows == 2 and not dropped
    assert run_dedupe(recipe(), t)[0].num_rows == 1
    with pytest.raises(RecipeError, match="dedupe.key"):
        recipe("dedupe.key=system")


# ---------------------------------------------------------------------------------- budgets


def test_max_tokens_auto_and_integers():
    s = recipe().weak_model.sampling
    assert s.max_tokens == "auto" and recipe().filters.truncated == "drop"
    assert s.budget(10, None) == 64  # the floor
    assert s.budget(100, None) == 166  # ceil(1.5 * 100) + 16
    assert s.budget(101, None) == 168
    assert s.budget(1000, 300) == 300  # never more than the context leaves
    assert recipe("weak_model.sampling.auto_factor=2", "weak_model.sampling.auto_min=8").weak_model.sampling.budget(3, None) == 22
    fixed = recipe("weak_model.sampling.max_tokens=128").weak_model.sampling
    assert fixed.max_tokens == 128 and fixed.budget(1000, 50) == 128
    for bad in ("0", "-3", "lots", "1.5"):
        with pytest.raises(RecipeError, match="max_tokens"):
            recipe(f"weak_model.sampling.max_tokens={bad}")
    with pytest.raises(RecipeError, match="openai backend has no tokenizer"):
        recipe("weak_model.backend=openai", "weak_model.openai.base_url=http://127.0.0.1:1/v1")


def _backend(tiny_model, *overrides):
    from pairforge.backends import make_backend

    r = recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, "/tmp/unused"), list(overrides))
    return make_backend(r.weak_model), r


def test_transformers_per_row_budget_equals_one_budget_per_call(tiny_model):
    backend, _ = _backend(tiny_model, "weak_model.sampling.max_tokens=10")
    prompts = [[{"role": "user", "content": "Tell me about the sea."}], [{"role": "user", "content": "Hi"}]]
    seeds = [11, 12]
    mixed = backend.generate(prompts, seeds, max_tokens=[3, 10])
    short = backend.generate(prompts, seeds, max_tokens=[3, 3])
    long = backend.generate(prompts, seeds, max_tokens=[10, 10])
    assert mixed[0][0] == short[0][0] and mixed[1][0] == long[1][0]
    assert mixed[0][0].tokens <= 3 and long[0][0].tokens <= 10
    assert mixed[0][0].finish_reason == "length" or mixed[0][0].tokens < 3


def test_generate_shard_sends_each_prompt_its_own_budget(tiny_model):
    from pairforge.pipeline.generate import generate_shard

    backend, r = _backend(tiny_model, "weak_model.sampling.max_tokens=auto", "weak_model.batch_size=2")
    sent = []
    real = backend.generate

    def recording(prompts, seeds, max_tokens=None):
        sent.extend(zip([p[-1]["content"] for p in prompts], max_tokens))
        return real(prompts, seeds, max_tokens=[1] * len(prompts))  # answers are not the point here

    backend.generate = recording
    chosen = {"q-short": "Yes.", "q-mid": "word " * 60, "q-long": "word " * 600}
    table = pa.Table.from_pylist([{"id": k, "source_index": i, "turn_index": 0,
                                   "prompt": [{"role": "user", "content": k}], "chosen": v}
                                  for i, (k, v) in enumerate(chosen.items())]
                                 + [{"id": "q-huge", "source_index": 9, "turn_index": 0,
                                     "prompt": [{"role": "user", "content": "x " * 470}], "chosen": "ok"}],
                                 schema=pair_schema())
    kept, dropped, info = generate_shard(table, backend, r.weak_model)
    c = dict(zip(chosen, backend.token_counts(list(chosen.values()))))
    p = dict(zip(chosen, backend.prompt_token_counts([[{"role": "user", "content": k}] for k in chosen])))
    want = {k: min(512 - p[k], max(64, -(-3 * c[k] // 2) + 16)) for k in chosen}
    assert dict(sent) == want and want["q-long"] == 512 - p["q-long"] and want["q-short"] == 64
    assert dict(zip(dropped["id"].to_pylist(), dropped["reason"].to_pylist())) == {"q-huge": "prompt_too_long"}
    assert info["prompts_sent"] == 3


def test_openai_requests_carry_their_own_max_tokens(tmp_path):
    from fakeopenai import FakeOpenAI
    from pairforge.backends import make_backend

    server = FakeOpenAI()
    try:
        r = recipe("weak_model.backend=openai", f"weak_model.openai.base_url={server.url}",
                   "weak_model.sampling.max_tokens=99", "weak_model.model=tiny")
        backend = make_backend(r.weak_model)
        bodies, real = [], backend._request
        backend._request = lambda body, stop: bodies.append(body) or real(body, stop)
        backend.generate([[{"role": "user", "content": "a"}], [{"role": "user", "content": "b"}]], [1, 2],
                         max_tokens=[5, 9])
        backend.generate([[{"role": "user", "content": "c"}]], [3])
    finally:
        server.stop()
    assert sorted((b["messages"][0]["content"], b["max_tokens"]) for b in bodies) == [("a", 5), ("b", 9), ("c", 99)]


# ---------------------------------------------------------------------------------- length picture


def _written(chosen_tokens, rejected_tokens, reasons=None):
    n = len(chosen_tokens)
    return pa.Table.from_pylist([{
        "id": str(i), "source_index": i, "turn_index": 0, "prompt": [{"role": "user", "content": "q"}],
        "chosen": "c" * 5, "sample_index": 0, "rejected": "r" * (2 + i), "rejected_model": "m",
        "rejected_finish_reason": (reasons or ["stop"] * n)[i], "prompt_tokens": 3,
        "chosen_tokens": chosen_tokens[i], "rejected_tokens": rejected_tokens[i]} for i in range(n)],
        schema=generated_schema())


def test_length_picture_figures_and_warning():
    lp = LengthPicture()
    lp.add_generated(_written([1] * 5, [1] * 5, ["length", "stop", "stop", "length", "stop"]))
    lp.add_written(_written([10, 10, 10, 10], [5, 5, 10, 20]))
    d = lp.to_dict(0.8)
    assert d == {"unit": "tokens", "pairs": 4, "chosen_mean": 10.0, "rejected_mean": 10.0, "chosen_longer_share": 0.5,
                 "truncated_share_generated": 0.4, "longer_is_chosen_accuracy": 0.625, "warning": None}
    lp.add_written(_written([30] * 6, [5] * 6))
    d = lp.to_dict(0.8)
    assert d["longer_is_chosen_accuracy"] == 0.85 and "'the longer answer is chosen' alone separates 85%" in d["warning"]
    assert lp.to_dict(0.9)["warning"] is None
    shorter = LengthPicture()
    shorter.add_written(_written([1] * 9, [5] * 9))
    assert "'the shorter answer is chosen' alone separates 100%" in shorter.to_dict(0.8)["warning"]
    chars = LengthPicture()  # no token counts (an OpenAI server): characters
    chars.add_written(_written([None, None, None], [None, None, None]))
    assert chars.to_dict(0.8)["unit"] == "characters" and chars.to_dict(0.8)["chosen_longer_share"] == 1.0


# ---------------------------------------------------------------------------------- two fingerprints


def test_generation_and_finish_fingerprints_split_the_fields():
    base = fingerprints(recipe(), "d", "m")
    finish_only = ["filters.truncated=keep", "filters.max_similarity=0.5", "split.seed=3", "output.format=standard",
                   "filters.lengths.rejected.max_chars=10", "filters.refusals.enabled=false"]
    generation = ["weak_model.sampling.temperature=0.1", "weak_model.sampling.max_tokens=128", "dedupe.key=prompt",
                  "filters.lengths.prompt.max_tokens=100", "filters.min_chosen_chars=3", "generation.shard_size=8",
                  "weak_model.sampling.auto_factor=2"]
    for o in finish_only:
        fp = fingerprints(recipe(o), "d", "m")
        assert fp["generation"] == base["generation"] and fp["finish"] != base["finish"], o
        assert fp["combined"] != base["combined"], o
    for o in generation:
        fp = fingerprints(recipe(o), "d", "m")
        assert fp["generation"] != base["generation"] and fp["finish"] == base["finish"], o
    for o in ("output.dir=x", "filters.longer_wins_warn=0.5", "weak_model.device=cpu"):
        assert fingerprints(recipe(o), "d", "m") == base, o
    assert fingerprints(recipe(), "d2", "m")["generation"] != base["generation"]


def _build(tiny_model, out, *overrides, limit=20):
    r = recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO, "limit": limit}, out), list(overrides))
    return run_build(r, quiet=True)


def _data(out):
    return sorted((r["id"], r["rejected_finish_reason"], r["rejected"][0]["content"])
                  for f in sorted((out / "data").glob("*.parquet")) for r in pq.read_table(f).to_pylist())


def test_finish_only_change_refinishes_without_sending_a_prompt(tiny_model, tmp_path, monkeypatch):
    out = tmp_path / "b"
    first = _build(tiny_model, out)
    first_rows = _data(out)
    assert first["generation"]["prompts_sent"] == 20 and "20 prompts sent)" in format_summary(first)
    cap = sorted(len(r[2]) for r in first_rows)[len(first_rows) // 2]  # about half the answers are longer
    longer = [r for r in first_rows if len(r[2]) > cap]
    assert 0 < len(longer) < len(first_rows)

    import pairforge.pipeline.generate as gen

    def no_generation(*a, **k):
        raise AssertionError("a finish-only change sent prompts")

    monkeypatch.setattr(gen, "generate_shard", no_generation)
    again = _build(tiny_model, out, f"filters.lengths.rejected.max_chars={cap}", "split.seed=5")
    g = again["generation"]
    assert g["prompts_sent"] == 0 and g["prompts_sent_all_runs"] == 20 and g["shards_resumed"] == g["shards"] == 2
    assert f"Re-finished from {g['shards']} finished shards; 0 prompts sent" in format_summary(again)
    assert again["drops"]["filter_post"] == {"rejected_too_long": len(longer)}
    assert _data(out) == sorted(set(first_rows) - set(longer))  # the same answers, the long ones gone
    assert again["fingerprints"]["generation"] == first["fingerprints"]["generation"]
    assert again["fingerprints"]["finish"] != first["fingerprints"]["finish"]
    stats = json.loads((out / "stats.json").read_text())
    assert stats["fingerprint"] == again["fingerprint"] != first["fingerprint"]

    # every tiny-model answer is cut at max_tokens 12: drop leaves nothing, and says so (no --fresh asked)
    with pytest.raises(PairforgeError, match=r"no pairs left .*'rejected_truncated': 20"):
        _build(tiny_model, out, "filters.truncated=drop")
    back = _build(tiny_model, out)  # and back: the same rows as the first build
    assert _data(out) == first_rows and back["fingerprint"] == first["fingerprint"]
    with pytest.raises(PairforgeError, match="--fresh"):
        _build(tiny_model, out, "weak_model.sampling.temperature=0.5")
def test_length_warning_reaches_summary_and_card(tiny_model, tmp_path):
    long_answers = tmp_path / "long.jsonl"
    long_answers.write_text("".join(json.dumps({"prompt": q, "response": "A full and careful answer. " * 12}) + "\n"
                                    for q in QUESTIONS))
    r = recipe_from_dict(tiny_recipe(tiny_model, {"path": str(long_answers)}, tmp_path / "w"))
    s = run_build(r, quiet=True)
    lp = s["length_picture"]
    assert lp["chosen_longer_share"] == 1.0 and lp["longer_is_chosen_accuracy"] == 1.0
    assert lp["truncated_share_generated"] > 0 and lp["chosen_mean"] > lp["rejected_mean"]
    assert "WARNING: the rule 'the longer answer is chosen' alone separates 100%" in format_summary(s)
    card = (tmp_path / "w" / "README.md").read_text()
    assert "**WARNING:** the rule 'the longer answer is chosen'" in card and "What length alone says" in card
    quiet = run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": str(long_answers)}, tmp_path / "w"),
                                       ["filters.longer_wins_warn=1.0"]), quiet=True)
    assert quiet["length_picture"]["warning"] is None and "WARNING" not in format_summary(quiet)
