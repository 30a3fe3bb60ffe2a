"""The four input formats and six file kinds, on the real public SFT files in ../shared/data."""

import json

import datasets
import pytest

from conftest import tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict


def build(tiny_model, out, source, **kw):
    return run_build(recipe_from_dict(tiny_recipe(tiny_model, source, out, split={"test_size": 0.0}, **kw)), quiet=True)


def train_rows(out):
    return datasets.load_dataset(str(out), split="train").to_list()


def test_alpaca(tiny_model, tmp_path, shared_data):
    raw = json.loads((shared_data / "alpaca_cleaned_1000.json").read_text())
    s = build(tiny_model, tmp_path / "o", {"path": str(shared_data / "alpaca_cleaned_1000.json"), "limit": 24})
    assert s["source"]["format"] == "alpaca"
    for r in train_rows(tmp_path / "o"):
        src = raw[r["source_index"]]
        expected = src["instruction"] + (f"\n\n{src['input']}" if src["input"] else "")
        assert r["prompt"] == [{"role": "user", "content": expected}]
        assert r["chosen"][0]["content"] == src["output"]


def test_sharegpt_multiturn_history(tiny_model, tmp_path, shared_data):
    raw = json.loads((shared_data / "sharegpt_dummy_500.json").read_text())
    s = build(tiny_model, tmp_path / "o", {"path": str(shared_data / "sharegpt_dummy_500.json"), "limit": 30})
    assert s["source"]["format"] == "sharegpt"
    rows = train_rows(tmp_path / "o")
    assert any(len(r["prompt"]) >= 3 for r in rows)
    for r in rows:
        conv = raw[r["source_index"]]["conversations"]
        assert r["chosen"][0]["content"] == conv[-1]["value"]
        assert [m["content"] for m in r["prompt"]] == [t["value"] for t in conv[:-1]]
        assert [m["role"] for m in r["prompt"]] == ["user" if t["from"] == "human" else "assistant" for t in conv[:-1]]


def test_sharegpt_one_pair_per_assistant_turn(tiny_model, tmp_path, shared_data):
    raw = json.loads((shared_data / "sharegpt_dummy_500.json").read_text())
    build(tiny_model, tmp_path / "o", {"path": str(shared_data / "sharegpt_dummy_500.json"), "limit": 12,
                                        "turns": "each"})
    rows = train_rows(tmp_path / "o")
    expected = sum(len(c["conversations"]) // 2 for c in raw[:12])
    assert len(rows) + _drops(tmp_path / "o") == expected
    for r in rows:
        conv = raw[r["source_index"]]["conversations"]
        assert r["chosen"][0]["content"] == conv[2 * r["turn_index"] + 1]["value"]
        assert len(r["prompt"]) == 2 * r["turn_index"] + 1


def _drops(out):
    return json.loads((out / "stats.json").read_text())["drops_total"]


def test_messages_format(tiny_model, tmp_path, shared_data):
    raw = json.loads((shared_data / "sharegpt_dummy_500.json").read_text())[:15]
    path = tmp_path / "messages.jsonl"
    role = {"human": "user", "gpt": "assistant"}
    with open(path, "w") as f:
        for i, c in enumerate(raw):
            msgs = [{"role": "system", "content": "You are terse."}] + [
                {"role": role[t["from"]], "content": t["value"]} for t in c["conversations"]]
            f.write(json.dumps({"messages": msgs}) + "\n")
    s = build(tiny_model, tmp_path / "o", {"path": str(path)})
    assert s["source"]["format"] == "messages"
    for r in train_rows(tmp_path / "o"):
        assert r["prompt"][0] == {"role": "system", "content": "You are terse."}
        assert r["chosen"][0]["content"] == raw[r["source_index"]]["conversations"][-1]["value"]


def test_self_instruct_plain_columns_with_paths(tiny_model, tmp_path, shared_data):
    raw = [json.loads(l) for l in (shared_data / "self_instruct_seed_175.jsonl").read_text().splitlines()]
    s = build(tiny_model, tmp_path / "o", {"path": str(shared_data / "self_instruct_seed_175.jsonl"), "limit": 20,
                                            "columns": {"prompt": "instruction", "input": "instances.0.input",
                                                        "response": "instances.0.output"}})
    assert s["source"]["format"] == "plain"
    for r in train_rows(tmp_path / "o"):
        inst = raw[r["source_index"]]["instances"][0]
        assert r["chosen"][0]["content"] == inst["output"]
        assert r["prompt"][0]["content"].startswith(raw[r["source_index"]]["instruction"])


@pytest.mark.parametrize("kind", ["csv", "parquet", "arrow", "save_to_disk", "hub_folder"])
def test_file_kinds_give_the_same_pairs(tiny_model, tmp_path, shared_data, kind):
    ref = build(tiny_model, tmp_path / "ref", {"path": str(shared_data / "alpaca_cleaned_1000.json"), "limit": 16})
    ds = datasets.load_dataset("json", data_files=str(shared_data / "alpaca_cleaned_1000.json"), split="train")
    ds = ds.select(range(16))
    if kind == "csv":
        ds.to_csv(str(tmp_path / "d.csv")); source = {"path": str(tmp_path / "d.csv")}
    elif kind == "parquet":
        ds.to_parquet(str(tmp_path / "d.parquet")); source = {"path": str(tmp_path / "d.parquet")}
    elif kind == "arrow":
        import pyarrow as pa

        with pa.OSFile(str(tmp_path / "d.arrow"), "wb") as sink, pa.ipc.new_stream(sink, ds.data.schema) as w:
            w.write_table(ds.data.table)
        source = {"path": str(tmp_path / "d.arrow")}
    elif kind == "save_to_disk":
        ds.save_to_disk(str(tmp_path / "saved")); source = {"path": str(tmp_path / "saved")}
    else:  # a Hub-layout folder, read through the `hub` field (datasets resolves local folders too)
        (tmp_path / "repo" / "data").mkdir(parents=True)
        ds.to_parquet(str(tmp_path / "repo" / "data" / "train-00000-of-00001.parquet"))
        source = {"hub": str(tmp_path / "repo"), "split": "train"}
    s = build(tiny_model, tmp_path / kind, source)
    got = [(r["id"], r["rejected"][0]["content"]) for r in train_rows(tmp_path / kind)]
    want = [(r["id"], r["rejected"][0]["content"]) for r in train_rows(tmp_path / "ref")]
    assert sorted(got) == sorted(want) and s["rows_written"] == ref["rows_written"]
