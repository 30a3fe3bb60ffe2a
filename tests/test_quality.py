"""Planted cases: every filter drops what it should and keeps what it should."""

import json

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from conftest import tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.pipeline.dedupe import ExactDedupe, NearDedupe
from pairforge.pipeline.filters import PostFilter, PreFilter, token_bounds_check
from pairforge.pipeline.text import words as _words
from reference_text import repeated_ngram_ratio, word_jaccard
from pairforge.recipe import recipe_from_dict
from pairforge.data.schemas import generated_schema, pair_schema

GOOD_REJECTED = "Paris is a city in France, known for art and food."


def recipe(*overrides):
    return recipe_from_dict({"source": {"path": "x.jsonl"}}, list(overrides))


def pair(prompt, chosen="The capital of France is Paris.", system=None, **gen):
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    row = {"id": prompt[:20], "source_index": 0, "turn_index": 0, "prompt": msgs, "chosen": chosen}
    if gen:
        base = {"sample_index": 0, "rejected": GOOD_REJECTED, "rejected_model": "m", "rejected_finish_reason": "stop",
                "prompt_tokens": 10, "chosen_tokens": 10, "rejected_tokens": 10}
        row.update({**base, **gen})
    return row


def run_stage(stage, rows, schema):
    kept, dropped = stage(pa.Table.from_pylist(rows, schema=schema))
    return kept.to_pylist(), dict(zip(dropped["id"].to_pylist(), dropped["reason"].to_pylist()))


def test_post_filter_planted_cases():
    rows = [
        pair("keep me", rejected=GOOD_REJECTED),
        pair("empty", rejected="   \n"),
        pair("identical", chosen="Hello  World", rejected="hello world"),
        pair("similar", chosen="The capital of France is Paris.", rejected="The capital of France is Paris!"),
        pair("truncated", rejected=GOOD_REJECTED, rejected_finish_reason="length"),
        pair("refusal", rejected="I'm sorry, but as an AI language model I cannot help with that."),
        pair("custom", rejected="BEGIN-BOILERPLATE then some text about Paris"),
        pair("repetitive", rejected="the cat sat " * 20),
        pair("too long", rejected="Paris " + "word " * 200),
    ]
    r = recipe("filters.truncated=drop", "filters.refusals.patterns=['^BEGIN-BOILERPLATE']",
               "filters.lengths.rejected.max_chars=500")
    kept, dropped = run_stage(PostFilter(r.filters), rows, generated_schema())
    assert [k["id"] for k in kept] == ["keep me"]
    assert dropped == {
        "empty": "rejected_empty",
        "identical": "rejected_identical_to_chosen",
        "similar": "rejected_too_similar",
        "truncated": "rejected_truncated",
        "refusal": "rejected_refusal",
        "custom": "rejected_refusal",
        "repetitive": "rejected_repetitive",
        "too long": "rejected_too_long",
    }


def test_post_filter_switches_off():
    rows = [pair("truncated", rejected=GOOD_REJECTED, rejected_finish_reason="length"),
            pair("refusal", rejected="I cannot do that."),
            pair("similar", chosen="The capital of France is Paris.", rejected="The capital of France is Paris!"),
            pair("repetitive", rejected="the cat sat " * 20)]
    r = recipe("filters.truncated=keep", "filters.refusals.enabled=false", "filters.max_similarity=null",
               "filters.repetition.enabled=false")
    kept, dropped = run_stage(PostFilter(r.filters), rows, generated_schema())
    assert len(kept) == 4 and not dropped


def test_pre_filter_lengths_and_min_chosen():
    rows = [pair("a fine prompt"), pair("x", chosen="ok"), pair("short chosen", chosen="ok"),
            pair("long prompt " * 50)]
    r = recipe("filters.min_chosen_chars=5", "filters.lengths.prompt.min_chars=2", "filters.lengths.prompt.max_chars=200")
    kept, dropped = run_stage(PreFilter(r.filters), rows, pair_schema())
    assert [k["id"] for k in kept] == ["a fine prompt"]
    assert dropped == {"x": "chosen_too_short", "short chosen": "chosen_too_short",
                       ("long prompt " * 50)[:20]: "prompt_too_long"}


def test_token_bounds_check():
    check = token_bounds_check(recipe("filters.lengths.prompt.max_tokens=100", "filters.lengths.chosen.min_tokens=3").filters.lengths)
    assert check(50, 10) is None
    assert check(101, 10) == "prompt_too_many_tokens"
    assert check(50, 2) == "chosen_too_few_tokens"


def test_exact_dedupe_keeps_the_first_across_batches():
    stage = ExactDedupe(key="prompt")  # every message (the default key, user_turns: tests/test_pair_quality.py)
    k1, d1 = run_stage(stage, [pair("What is 2+2?"), pair("what  is 2+2? ")], pair_schema())
    k2, d2 = run_stage(stage, [pair("WHAT IS 2+2?", chosen="4"), pair("Another question")], pair_schema())
    assert [k["id"] for k in k1 + k2] == ["What is 2+2?", "Another question"]
    assert set(d1.values()) | set(d2.values()) == {"duplicate_prompt"} and len(d1) + len(d2) == 2
    # the system prompt is part of the prompt: same user text, other system prompt is not a duplicate
    k3, _ = run_stage(stage, [pair("What is 2+2?", system="Answer in French.")], pair_schema())
    assert len(k3) == 1


SENTENCES = [
    "Explain how photosynthesis converts light energy into chemical energy in the leaves of green plants",
    "Write a short story about a lighthouse keeper who discovers a message in a bottle on a stormy night",
    "What are the main differences between the economic policies of the two largest parties in Germany today",
    "Describe the process of compiling a C program from source code into an executable binary on Linux",
    "List five strategies a small bakery can use to attract new customers during the winter holiday season",
]


def test_near_dedupe_finds_planted_edits():
    stage = NearDedupe(recipe().dedupe.near)
    edited = [
        SENTENCES[0].replace("green plants", "green trees"),
        SENTENCES[1].replace("stormy", "rainy").replace("short", "brief"),
        SENTENCES[3].replace("Linux", "Unix"),
    ]
    rows = [pair(s) for s in SENTENCES] + [pair(e + " ") for e in edited]
    for i, r in enumerate(rows):
        r["id"] = f"r{i}"
    kept, dropped = run_stage(stage, rows, pair_schema())
    assert [k["id"] for k in kept] == ["r0", "r1", "r2", "r3", "r4"]
    assert dropped == {"r5": "near_duplicate_prompt", "r6": "near_duplicate_prompt", "r7": "near_duplicate_prompt"}


def test_similarity_helpers():
    assert repeated_ngram_ratio("a b c a b c a b c".split(), 3) > 0.5
    assert repeated_ngram_ratio("one two three four five six".split(), 3) == 0.0
    assert word_jaccard(_words("The cat sat."), _words("the cat sat")) == 1.0
    assert word_jaccard(_words("The cat sat"), _words("A dog ran")) == 0.0


def test_build_with_planted_cases_explains_every_drop(tiny_model, tmp_path):
    """A full build: planted duplicates, a near-duplicate, a leaked benchmark question, a bad row."""
    data = tmp_path / "sft.jsonl"
    rows = [{"prompt": s, "response": f"A careful answer number {i} about the topic."} for i, s in enumerate(SENTENCES)]
    rows += [
        {"prompt": SENTENCES[0].upper(), "response": "dup"},                                # exact duplicate
        {"prompt": SENTENCES[1].replace("stormy", "rainy"), "response": "near dup"},        # near duplicate
        {"prompt": "Please answer: Which element has the atomic number 79 and the chemical symbol Au?",
         "response": "Gold."},                                                              # leaked benchmark question
        {"prompt": "A fine but short question?", "response": "x"},                          # chosen too short
        {"prompt": None, "response": "no prompt"},                                           # invalid row
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"question": "Which element has the atomic number 79 and the chemical symbol Au?",
                                 "answer": "Gold"}) + "\n")
    r = recipe_from_dict(tiny_recipe(tiny_model, {"path": str(data)}, tmp_path / "out",
                                     filters={"min_chosen_chars": 2, "max_similarity": None,
                                              "repetition": {"enabled": False}},
                                     decontaminate={"ngram": 8, "sets": [{"path": str(bench)}]},
                                     split={"test_size": 0.0}))
    s = run_build(r, quiet=True)
    assert s["drops"]["normalise"] == {"null_prompt": 1}
    assert s["drops"]["filter_pre"] == {"chosen_too_short": 1}
    assert s["drops"]["dedupe_exact"] == {"duplicate_prompt": 1}
    assert s["drops"]["dedupe_near"] == {"near_duplicate_prompt": 1}
    assert s["drops"]["decontaminate"] == {"contaminated:bench.jsonl": 1}
    funnel = {f["stage"]: f["rows"] for f in s["funnel"]}
    assert funnel["normalise"] == 9 and funnel["filter_pre"] == 8 and funnel["dedupe_exact"] == 7
    assert funnel["dedupe_near"] == 6 and funnel["decontaminate"] == 5
    assert funnel["written"] == s["rows_written"] == 5 - s["drops_total"] + 5
    ex = {f.stem: pq.read_table(f).to_pylist() for f in (tmp_path / "out" / "excluded").glob("*.parquet")}
    assert ex["decontaminate"][0]["source_index"] == 7
    assert ex["dedupe_exact"][0]["source_index"] == 5 and ex["dedupe_near"][0]["source_index"] == 6
    assert sum(len(v) for v in ex.values()) == s["drops_total"]
    kept_prompts = {p["prompt"][-1]["content"] for p in datasets.load_dataset(str(tmp_path / "out"), split="train")}
    assert kept_prompts <= set(SENTENCES)
    assert s["generation"]["prompts_sent"] == 5  # nothing dropped before generation was sent to the model


def test_prompt_token_bounds_are_checked_before_generation(tiny_model, tmp_path):
    data = tmp_path / "sft.jsonl"
    data.write_text("\n".join(json.dumps({"prompt": s if i else s + " extra words" * 60, "response": "An answer."})
                              for i, s in enumerate(SENTENCES)) + "\n")
    r = recipe_from_dict(tiny_recipe(tiny_model, {"path": str(data)}, tmp_path / "out",
                                     filters={"lengths": {"prompt": {"max_tokens": 120}}, "max_similarity": None},
                                     split={"test_size": 0.0}))
    s = run_build(r, quiet=True)
    assert s["drops"]["generate"] == {"prompt_too_many_tokens": 1}
    assert s["generation"]["prompts_sent"] == 4
