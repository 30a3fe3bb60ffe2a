"""GPU paths (skipped where no CUDA GPU is visible, as on CI): the transformers backend on CUDA
in bf16, and train-ipo on CUDA."""

import json

import datasets
import pytest

from conftest import REPO, tiny_recipe
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

pytestmark = pytest.mark.gpu
DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")


def test_build_on_cuda_bf16(tiny_model, tmp_path):
    r = tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "o")
    r["weak_model"].update({"device": "auto", "dtype": "auto", "batch_size": 16})
    s = run_build(recipe_from_dict(r), quiet=True)
    rows = datasets.load_dataset(str(tmp_path / "o"), split="train").to_list()
    assert s["rows_written"] >= 40 and len(rows) == s["splits"]["train"]
    assert all(0 < r["rejected_tokens"] <= 13 for r in rows)
    # same seed on the same device, same rows
    run_build(recipe_from_dict({**r, "output": {"dir": str(tmp_path / "o2")}}), quiet=True)
    rows2 = datasets.load_dataset(str(tmp_path / "o2"), split="train").to_list()
    assert sorted(x["rejected"][0]["content"] for x in rows) == sorted(x["rejected"][0]["content"] for x in rows2)


def test_train_ipo_on_cuda(tiny_model, tmp_path):
    from pairforge.train.config import load_train_config
    from pairforge.train.ipo import run_train

    run_build(recipe_from_dict(tiny_recipe(tiny_model, {"path": DEMO}, tmp_path / "pairs")), quiet=True)
    cfg = load_train_config(None, ["max_steps=20", "learning_rate=0.002", "max_length=256"],
                            dataset=str(tmp_path / "pairs"), model=tiny_model, output_dir=str(tmp_path / "m"))
    s = run_train(cfg)
    assert s["config"]["bf16"] is None and s["steps"] == 20
    hist = json.loads((tmp_path / "m" / "log_history.json").read_text())
    losses = [h["loss"] for h in hist if "loss" in h]
    assert sum(losses[-5:]) < sum(losses[:5])
