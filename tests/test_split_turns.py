"""`source.turns: each` cuts one pair per assistant turn: every pair of one conversation lands in
the same split, so no test answer is history in a train prompt (held-out evaluation on leaked data)."""

import json

import pyarrow.parquet as pq

from conftest import tiny_recipe


def test_turns_each_keeps_each_conversation_in_one_split(tiny_model, tmp_path):
    from pairforge.pipeline.build import run_build
    from pairforge.recipe import recipe_from_dict

    src = tmp_path / "chats.jsonl"
    with src.open("w") as f:
        for c in range(24):
            msgs = [{"role": "system", "content": "Be brief."}]
            for t in range(3):
                msgs += [{"role": "user", "content": f"conversation {c} question {t}: why?"},
                         {"role": "assistant", "content": f"conversation {c} answer {t}, because."}]
            f.write(json.dumps({"messages": msgs}) + "\n")
    out = tmp_path / "out"
    keep_all = {"empty": False, "identical": False, "max_similarity": None, "refusals": {"enabled": False},
                "repetition": {"enabled": False}}  # every pair written: the split alone decides where it goes
    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": str(src), "turns": "each"}, out, filters=keep_all,
                                           dedupe={"near": {"enabled": False}}, split={"test_size": 0.3, "seed": 0})),
              quiet=True)
    train, test = (pq.read_table(out / "data" / f"{s}-00000-of-00001.parquet").to_pylist() for s in ("train", "test"))
    assert len(train) + len(test) == 72 and len(test) >= 9  # every turn of every conversation, a real test split
    assert {r["turn_index"] for r in test} == {0, 1, 2}
    assert not {r["source_index"] for r in train} & {r["source_index"] for r in test}
    history = {m["content"] for r in train for m in r["prompt"] if m["role"] == "assistant"}
    assert not [r["chosen"][0]["content"] for r in test if r["chosen"][0]["content"] in history]
