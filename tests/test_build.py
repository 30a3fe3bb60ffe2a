import json

import datasets
import pyarrow.parquet as pq
import pytest

from conftest import REPO, tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def build(tiny_model, out, source=None, **sections):
    r = recipe_from_dict(tiny_recipe(tiny_model, source or {"path": DEMO}, out, **sections))
    return run_build(r, quiet=True)


def rows(folder):
    dd = datasets.load_dataset(str(folder))
    return {split: sorted(dd[split].to_list(), key=lambda r: (r["id"], r["sample_index"])) for split in dd}


def test_output_loads_as_datasetdict_with_trl_columns(tiny_model, tmp_path):
    out = tmp_path / "out"
    summary = build(tiny_model, out)
    dd = datasets.load_dataset(str(out))
    assert set(dd) == {"train", "test"}
    assert summary["splits"] == {"train": dd["train"].num_rows, "test": dd["test"].num_rows}
    assert summary["rows_read"] == 45
    row = dd["train"][0]
    assert row["prompt"][-1]["role"] == "user"
    assert row["chosen"][0]["role"] == row["rejected"][0]["role"] == "assistant"
    assert len(row["chosen"]) == len(row["rejected"]) == 1
    for col in ("id", "source_index", "rejected_model", "rejected_finish_reason", "prompt_tokens",
                "chosen_tokens", "rejected_tokens"):
        assert col in dd["train"].column_names
    assert row["rejected_finish_reason"] in ("stop", "length")
    assert row["rejected_tokens"] <= 12 + 1
    # system prompts and history are kept in the prompt
    prompts = [r["prompt"] for r in dd["train"]] + [r["prompt"] for r in dd["test"]]
    assert any(p[0]["role"] == "system" for p in prompts)
    assert any(len([m for m in p if m["role"] == "user"]) > 1 for p in prompts)
    # the split is by id: no prompt in both splits
    assert not set(dd["train"]["id"]) & set(dd["test"]["id"])
    stats = json.loads((out / "stats.json").read_text())
    assert stats["rows_written"] == summary["rows_written"] == 45 - stats["drops_total"]
    assert stats["generation"]["tokens_generated"] == sum(dd["train"]["rejected_tokens"]) + sum(
        dd["test"]["rejected_tokens"]) + _dropped_tokens(out)
    assert set(stats["seconds"]) >= {"load", "normalise", "generate", "write", "total"}
    resolved = (out / "recipe.yaml").read_text()
    assert stats["fingerprint"] in resolved and "weak_model:" in resolved


def _dropped_tokens(out):
    total = 0
    for f in (out / "excluded").glob("*.parquet"):
        for d in pq.read_table(f)["detail"].to_pylist():
            total += json.loads(d).get("rejected_tokens") or 0
    return total


def test_same_recipe_same_seed_same_rows(tiny_model, tmp_path):
    build(tiny_model, tmp_path / "a")
    build(tiny_model, tmp_path / "b")
    assert rows(tmp_path / "a") == rows(tmp_path / "b")
    build(tiny_model, tmp_path / "c", weak_model={"sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 12,
                                                                "n": 1, "seed": 1}})
    assert rows(tmp_path / "a") != rows(tmp_path / "c")


def test_rerun_resumes_finished_shards_and_refuses_another_recipe(tiny_model, tmp_path):
    out = tmp_path / "out"
    first = build(tiny_model, out)
    again = build(tiny_model, out)
    assert again["generation"]["shards_resumed"] == again["generation"]["shards"] == 3
    assert rows(out) and again["rows_written"] == first["rows_written"]
    from pairforge.errors import PairforgeError

    with pytest.raises(PairforgeError, match="--fresh"):
        build(tiny_model, out, weak_model={"sampling": {"temperature": 0.5, "top_p": 1.0, "max_tokens": 12,
                                                         "n": 1, "seed": 0}})


def test_n_samples_limit_shuffle_and_standard_format(tiny_model, tmp_path):
    out = tmp_path / "std"
    build(tiny_model, out, source={"path": DEMO, "limit": 10, "shuffle": True, "seed": 3},
          weak_model={"sampling": {"temperature": 1.0, "top_p": 1.0, "max_tokens": 8, "n": 2, "seed": 0}},
          output={"format": "standard"}, split={"test_size": 0.0})
    dd = datasets.load_dataset(str(out))
    assert set(dd) == {"train"}
    train = dd["train"]
    assert isinstance(train[0]["prompt"], str) and isinstance(train[0]["rejected"], str)
    # two samples per prompt, same id, sample_index 0 and 1 (minus drops)
    assert train.num_rows <= 20 and max(train["sample_index"]) == 1
    src = sorted(set(train["source_index"]))
    assert len(src) <= 10 and src != list(range(len(src)))  # shuffled sub-sample of the 45 rows


def test_trl_dpotrainer_accepts_the_train_split(tiny_model, tmp_path):
    """The built dataset trains as-is with TRL's DPOTrainer, IPO loss, on CPU."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    out = tmp_path / "out"
    build(tiny_model, out)
    train = datasets.load_dataset(str(out), split="train")
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    tok = AutoTokenizer.from_pretrained(tiny_model)
    cfg = DPOConfig(output_dir=str(tmp_path / "trl"), loss_type=["ipo"], beta=0.1, max_steps=3,
                    per_device_train_batch_size=4, learning_rate=1e-3, use_cpu=True, bf16=False,
                    report_to=[], logging_steps=1, save_strategy="no", max_length=256)
    trainer = DPOTrainer(model=model, args=cfg, train_dataset=train, processing_class=tok)
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert len(losses) == 3 and all(l == l for l in losses)  # three finite IPO losses


class _CountingBackend:
    """A backend that records how many prompts each generate() call gets."""

    name, model_name, context_length = "fake", "fake", 4096

    def __init__(self, schedules_itself):
        self.schedules_itself, self.calls = schedules_itself, []

    def prompt_token_counts(self, prompts):
        return [10] * len(prompts)

    def token_counts(self, texts):
        return [5] * len(texts)

    def generate(self, prompts, seeds, max_tokens):
        from pairforge.backends.base import Completion

        self.calls.append(len(prompts))
        return [[Completion(text=f"answer {s}", finish_reason="stop", tokens=3)] for s in seeds]


@pytest.mark.parametrize("schedules_itself, calls", [(True, [20]), (False, [8, 8, 4])])
def test_engines_that_schedule_themselves_get_the_whole_shard(schedules_itself, calls):
    """vLLM and servers batch on their own: one call per shard keeps them full; transformers
    gets padded batches of weak_model.batch_size. The rows are the same either way."""
    import pyarrow as pa

    from pairforge.data.schemas import pair_schema
    from pairforge.pipeline.generate import generate_shard

    rows = [{"id": f"r{i}", "source_index": i, "turn_index": 0, "chosen": "c",
             "prompt": [{"role": "user", "content": f"q{i}"}]} for i in range(20)]
    cfg = recipe_from_dict({"source": {"path": "x.jsonl"}, "weak_model": {"batch_size": 8,
                            "sampling": {"max_tokens": 16}}}).weak_model
    backend = _CountingBackend(schedules_itself)
    kept, dropped, info = generate_shard(pa.Table.from_pylist(rows, schema=pair_schema()), backend, cfg)
    assert backend.calls == calls and kept.num_rows == 20 and dropped.num_rows == 0
    assert sorted(kept["rejected"].to_pylist()) == sorted(f"answer {s}" for s in _seeds(rows, cfg))


def _seeds(rows, cfg):
    from pairforge.pipeline.generate import row_seed

    return [row_seed(cfg.sampling.seed, r["id"]) for r in rows]
