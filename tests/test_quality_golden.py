"""The quality path keeps the same rows: a fixed source through the pre filters, exact and near
dedupe, generation (the fake OpenAI server, which echoes the prompt) and the post filters gives the
published rows, the excluded rows with their reasons and the funnel recorded here. The digests were
taken from main's code before the streaming and speed work on the quality stages (issue 20), so a
change in which rows are kept, in their order or in a drop's reason fails this test.

Parquet bytes themselves are not compared: stats.json names a served model by a digest of its
address, and the fake server's port differs per run; every column that comes from the data is."""

import hashlib
import json
import random

import pyarrow.parquet as pq

from conftest import tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

ROWS = 2500
EXPECTED_PUBLISHED = "f89e6f3df9ddb4075ac996efc4395562005308ef6367051290dd42b772a18ecd"
EXPECTED_EXCLUDED = "e859e7a8674e50d228e142a4c6d009f856281af3b3e57f8e5f37b6039ea304d1"
EXPECTED_FUNNEL = [("normalise", 2365), ("filter_pre", 2275), ("dedupe_exact", 2099), ("dedupe_near", 1883),
                   ("generate", 1883), ("filter_post", 1883), ("written", 1883)]


def source_rows(seed: int = 7) -> list[dict]:
    """Prompts with planted exact repeats (case, spaces), near-duplicates (1-2 words replaced; edits
    of edits), prompts and answers the pre filter drops, a system prompt shared by many rows, and
    non-ASCII text."""
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(300)] + ["ça", "naïve", "Straße", "ÉTÉ", "東京"]
    rows, prompts = [], []
    for i in range(ROWS):
        r = rng.random()
        if prompts and r < 0.08:
            p = "  " + rng.choice(prompts).upper() + "\t"
        elif prompts and r < 0.2:
            words = rng.choice(prompts[-80:]).split() or ["x"]
            for _ in range(rng.randint(1, 2)):
                words[rng.randrange(len(words))] = rng.choice(vocab)
            p = " ".join(words)
        elif r < 0.23:
            p = rng.choice(["", "hi", "x" * 5000])
        else:
            p = " ".join(rng.choices(vocab, k=rng.randint(8, 30)))
        prompts.append(p)
        answer = " ".join(rng.choices(vocab, k=rng.randint(0, 25)))
        row = {"prompt": p, "response": answer if rng.random() > 0.03 else "ok"}
        if rng.random() < 0.3:
            row["system"] = "You are a helpful assistant."
        rows.append(row)
    return rows


def _digest(records) -> str:
    h = hashlib.sha256()
    for rec in records:
        h.update(json.dumps(rec, sort_keys=True, ensure_ascii=False).encode())
        h.update(b"\n")
    return h.hexdigest()


def build(tiny_model, tmp_path):
    from fakeopenai import FakeOpenAI

    src = tmp_path / "sft.jsonl"
    src.write_text("\n".join(json.dumps(r) for r in source_rows()))
    server = FakeOpenAI()
    try:
        r = tiny_recipe(tiny_model, {"path": str(src)}, tmp_path / "out", generation={"shard_size": 64},
                        weak_model={"model": "served", "backend": "openai", "openai": {"base_url": server.url}},
                        dedupe={"exact": True, "near": {"enabled": True}},
                        filters={"min_chosen_chars": 3, "max_similarity": None,
                                 "lengths": {"prompt": {"max_chars": 4000}}})
        stats = run_build(recipe_from_dict(r), quiet=True)
    finally:
        server.stop()
    return tmp_path / "out", stats


def test_quality_path_keeps_the_same_rows(tiny_model, tmp_path):
    out, stats = build(tiny_model, tmp_path)
    cols = ["id", "source_index", "prompt", "chosen", "rejected"]
    published = []
    for f in sorted((out / "data").glob("*.parquet")):
        published += [(f.name.split("-")[0], row) for row in pq.read_table(f).select(cols).to_pylist()]
    excluded = []
    for f in sorted((out / "excluded").glob("*.parquet")):
        t = pq.read_table(f)
        excluded += [(f.name, row) for row in t.select(["id", "reason"]).to_pylist()]
    funnel = [(s["stage"], s["rows"]) for s in stats["funnel"]]
    assert len(published) > 500 and len(excluded) > 300
    assert {"dedupe_exact", "dedupe_near", "filter_pre"} <= set(stats["drops"])
    assert (_digest(published), _digest(excluded)) == (EXPECTED_PUBLISHED, EXPECTED_EXCLUDED)
    assert funnel == EXPECTED_FUNNEL
