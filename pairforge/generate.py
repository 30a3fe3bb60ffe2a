"""The generation stage: one shard of pair rows in, one row per weak-model sample out."""

from __future__ import annotations

import hashlib
import time

from .recipe import WeakModel


def row_seed(seed: int, row_id: str) -> int:
    """A prompt's own seed: backends that seed per request (vLLM, OpenAI servers) then give a row
    the same samples whatever else shares its batch or shard."""
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def prompt_limit(cfg: WeakModel, backend) -> int | None:
    if cfg.max_prompt_tokens:
        return cfg.max_prompt_tokens
    if backend.context_length:
        return backend.context_length - cfg.sampling.max_tokens
    return None


def generate_shard(table, backend, cfg: WeakModel, on_batch=None, token_check=None):
    """Generate rejected answers for a shard. Returns (table in generated_schema, info dict).

    Prompts longer than the model's context (minus max_tokens) are not sent: they come back with
    drop_reason 'prompt_too_long'; so do rows that fail `token_check(prompt_tokens, chosen_tokens)`.
    Within the shard, prompts are batched longest first (less padding, and an out-of-memory error
    shows on the first batch, not the last).
    """
    import pyarrow as pa

    from .tables import generated_schema

    t0 = time.perf_counter()
    rows = table.to_pylist()
    prompts = [r["prompt"] for r in rows]
    p_tokens = backend.prompt_token_counts(prompts)
    c_tokens = backend.token_counts([r["chosen"] for r in rows])
    limit = prompt_limit(cfg, backend)
    refused = {}
    for i in range(len(rows)):
        if p_tokens[i] is None:  # a remote backend: the server checks lengths
            continue
        if limit is not None and p_tokens[i] > limit:
            refused[i] = "prompt_too_long"
        elif token_check and c_tokens[i] is not None and (why := token_check(p_tokens[i], c_tokens[i])):
            refused[i] = why
    ok = [i for i in range(len(rows)) if i not in refused]
    ok.sort(key=lambda i: (-(p_tokens[i] or 0), i))
    completions: dict[int, list] = {}
    bs = cfg.batch_size
    for b in range(0, len(ok), bs):
        idx = ok[b : b + bs]
        outs = backend.generate([prompts[i] for i in idx],
                                seeds=[row_seed(cfg.sampling.seed, rows[i]["id"]) for i in idx])
        for i, out in zip(idx, outs):
            completions[i] = out
        if on_batch:
            on_batch(len(idx), sum(c.tokens for out in outs for c in out))
    out_rows = []
    generated = 0
    for i, r in enumerate(rows):
        base = {**r, "rejected_model": backend.model_name, "prompt_tokens": p_tokens[i], "chosen_tokens": c_tokens[i]}
        if i in completions:
            if base["prompt_tokens"] is None:
                base["prompt_tokens"] = completions[i][0].prompt_tokens
            if any(c.error for c in completions[i]):
                refused[i] = "server_refused"
        if i in refused:
            out_rows.append({**base, "sample_index": 0, "rejected": None, "rejected_finish_reason": None,
                             "rejected_tokens": None, "drop_reason": refused[i]})
            continue
        for j, c in enumerate(completions[i]):
            generated += c.tokens
            out_rows.append({**base, "sample_index": j, "rejected": c.text, "rejected_finish_reason": c.finish_reason,
                             "rejected_tokens": c.tokens, "drop_reason": None})
    seconds = time.perf_counter() - t0
    info = {"rows_in": len(rows), "rows_out": len(out_rows), "tokens_generated": generated,
            "prompts_sent": len(ok), "seconds": round(seconds, 3)}
    return pa.Table.from_pylist(out_rows, schema=generated_schema()), info
