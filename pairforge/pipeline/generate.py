"""The generation stage: one shard of pair rows in, one row per weak-model sample out."""

from __future__ import annotations

import hashlib
import time

from ..recipe import WeakModel
from ..redact import redact_text
from .stage import split_by_reason

ERROR_CHARS = 500  # how much of a server's error text a dropped row keeps


def row_seed(seed: int, row_id: str) -> int:
    """A prompt's own seed: backends that seed per request (vLLM, OpenAI servers) then give a row
    the same samples whatever else shares its batch or shard."""
    digest = hashlib.sha256(f"{seed}:{row_id}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def prompt_limit(cfg: WeakModel, backend) -> int | None:
    """The longest prompt sent: one that leaves max_tokens (auto: auto_min) of the context."""
    if cfg.max_prompt_tokens:
        return cfg.max_prompt_tokens
    if backend.context_length:
        s = cfg.sampling
        return backend.context_length - (s.auto_min if s.max_tokens == "auto" else s.max_tokens)
    return None


def budgets(cfg: WeakModel, backend, p_tokens, c_tokens) -> list[int]:
    """Each prompt's max_tokens (Sampling.budget: fixed, or sized from its chosen answer)."""
    ctx = backend.context_length
    return [cfg.sampling.budget(c or 0, None if ctx is None or p is None else ctx - p)
            for p, c in zip(p_tokens, c_tokens)]


def _refusals(p_tokens, c_tokens, limit, token_check, budget) -> dict:
    """{row: reason} for rows not to send: a prompt the chat template renders to nothing (the engine
    cannot start from zero tokens), over the context, or outside the token bounds."""
    refused = {}
    for i, (p, c) in enumerate(zip(p_tokens, c_tokens)):
        if p is None:  # a remote backend: the server checks lengths
            continue
        if p == 0:
            refused[i] = "empty_prompt"
        elif (limit is not None and p > limit) or budget[i] < 1:
            refused[i] = "prompt_too_long"
        elif token_check and c is not None and (why := token_check(p, c)):
            refused[i] = why
    return refused


def send_order(n_rows: int, refused: dict, p_tokens, budget) -> list[int]:
    """The rows sent, longest sequence (prompt plus budget) first: less padding, and an
    out-of-memory error shows on the first batch, not the last."""
    return sorted((i for i in range(n_rows) if i not in refused), key=lambda i: (-((p_tokens[i] or 0) + budget[i]), i))


def call_batches(items: list, backend, cfg: WeakModel) -> list[list]:
    """The items of one backend call each. vLLM and a server schedule their own batches: they get
    the whole list at once, so the engine (or the request pool) stays full; transformers pads one
    batch of batch_size at a time."""
    step = max(1, len(items)) if getattr(backend, "schedules_itself", False) else cfg.batch_size
    return [items[b : b + step] for b in range(0, len(items), step)]


def error_text(text, tail: bool = False, secrets=()) -> str:
    """A backend's error as a dropped row keeps it: one line, URL userinfo and `secrets` masked (the
    backend has masked its own in an error; a reply's text is masked here), valid UTF-8 (Arrow
    refuses a lone surrogate), at most ERROR_CHARS: its start, or with `tail` its end ('...' marks a
    cut). A long text is cut before it is masked (a 10 MB reply costs nothing), with a margin
    longer than any secret, so no secret is cut into a piece that escapes the mask."""
    text = text if isinstance(text, str) else redact_text(text, ())
    keep = ERROR_CHARS + 1024 + max((len(s) for s in secrets if isinstance(s, str)), default=0)
    cut = len(text) > keep
    text = (text[-keep:] if tail else text[:keep]) if cut else text
    text = " ".join(redact_text(text, secrets).split()).encode("utf-8", errors="replace").decode("utf-8")
    if not tail or (len(text) <= ERROR_CHARS and not cut):
        return text[:ERROR_CHARS]
    return "..." + text[-ERROR_CHARS:]


def _sample_rows(rows, completions, refused, p_tokens, c_tokens, model_name):
    """(one output row per sample, its reason or None, its error text or None, tokens generated).
    A row with a sample the backend could not get (Completion.error) is dropped whole."""
    out_rows, reasons, errors, generated = [], [], [], 0
    for i, r in enumerate(rows):
        base = {**r, "rejected_model": model_name, "prompt_tokens": p_tokens[i], "chosen_tokens": c_tokens[i]}
        error = None
        if i in completions:
            if base["prompt_tokens"] is None:
                base["prompt_tokens"] = completions[i][0].prompt_tokens
            if failed := next((c for c in completions[i] if c.error), None):
                refused[i], error = failed.drop_reason, error_text(failed.error)
        if i in refused:
            out_rows.append({**base, "sample_index": 0, "rejected": None, "rejected_finish_reason": None,
                             "rejected_tokens": None})
            reasons.append(refused[i])
            errors.append(error)
            continue
        for j, c in enumerate(completions[i]):
            generated += c.tokens
            out_rows.append({**base, "sample_index": j, "rejected": c.text, "rejected_finish_reason": c.finish_reason,
                             "rejected_tokens": c.tokens})
            reasons.append(None)
            errors.append(None)
    return out_rows, reasons, errors, generated


def nudged(cfg: WeakModel, answers) -> int:
    """How many of `answers` ((completion, its budget) pairs) ended after their end nudge began
    (sampling.end_nudge): their end token was chosen with its logit raised."""
    e = cfg.sampling.end_nudge
    if not e.enabled:
        return 0
    return sum(o.finish_reason == "stop" and o.error is None and e.ended_after(o.tokens, b) for o, b in answers)


def _continue(backend, cfg: WeakModel, rows, prompts, completions: dict, budget, p_tokens, on_batch) -> dict:
    """Continue each answer cut at its auto budget (weak_model.continuation): the prompt and the answer
    so far go back to the model for `share` of the prompt's budget more, up to `rounds` times (never
    past the context); the answer keeps its text and tokens and gains the piece. Only cut answers
    are touched: an answer that ended by itself is the same as without continuation."""
    import math

    from ..backends.base import Completion

    c, cont = cfg.continuation, getattr(backend, "continue_answers", None)
    info = {"continued": 0, "tokens_continued": 0, "ended_after_nudge": 0}
    ctx = backend.context_length
    auto = cfg.sampling.max_tokens == "auto"  # an integer max_tokens is the user's cap: never continued
    for r in range(c.rounds if cont and auto else 0):
        todo = []
        for i, outs in sorted(completions.items()):
            for j, o in enumerate(outs):
                extra = math.ceil(c.share * budget[i])
                if ctx is not None and p_tokens[i] is not None:
                    extra = min(extra, ctx - p_tokens[i] - o.tokens)
                if o.finish_reason == "length" and o.error is None and o.text is not None and extra > 0:
                    todo.append((i, j, extra))
        for part in call_batches(todo, backend, cfg):
            pieces = cont([prompts[i] for i, _, _ in part], [completions[i][j].text for i, j, _ in part],
                          seeds=[row_seed(cfg.sampling.seed + r + 1, rows[i]["id"]) for i, _, _ in part],
                          max_tokens=[e for _, _, e in part])
            for (i, j, _), piece in zip(part, pieces):
                old = completions[i][j]
                completions[i][j] = Completion(text=old.text + (piece.text or ""), finish_reason=piece.finish_reason,
                                               tokens=old.tokens + piece.tokens, prompt_tokens=old.prompt_tokens)
            info["continued"] += len(part)
            info["tokens_continued"] += sum(p.tokens for p in pieces)
            info["ended_after_nudge"] += nudged(cfg, [(p, e) for (_, _, e), p in zip(part, pieces)])
            if on_batch:
                on_batch(0, sum(p.tokens for p in pieces))
    return info


def generate_shard(table, backend, cfg: WeakModel, on_batch=None, token_check=None):
    """Generate rejected answers for a shard: (kept, dropped with reason, info dict).

    Each prompt gets its own max_tokens (`budgets`). A prompt that renders to zero tokens (a chat
    template that writes nothing) is dropped as 'empty_prompt'. Prompts longer than the model's context
    (minus max_tokens; auto: minus auto_min) are not sent: they are dropped with the reason
    'prompt_too_long'; so are rows that fail `token_check(prompt_tokens, chosen_tokens)`, and rows
    the backend got no answer for (its reason, and its error text in an `error` column: the first
    key of the row's detail in excluded/, so no truncation there loses it). Within
    the shard, prompts are batched longest first, prompt plus budget (less padding, and an
    out-of-memory error shows on the first batch, not the last).
    """
    import pyarrow as pa

    from ..data.schemas import SOURCE_COLUMNS, generated_schema

    t0 = time.perf_counter()
    rows = table.to_pylist()
    prompts = [r["prompt"] for r in rows]
    p_tokens = backend.prompt_token_counts(prompts)
    c_tokens = backend.token_counts([r["chosen"] for r in rows])
    budget = budgets(cfg, backend, p_tokens, c_tokens)
    refused = _refusals(p_tokens, c_tokens, prompt_limit(cfg, backend), token_check, budget)
    ok = send_order(len(rows), refused, p_tokens, budget)
    completions: dict[int, list] = {}
    for idx in call_batches(ok, backend, cfg):
        outs = backend.generate([prompts[i] for i in idx], seeds=[row_seed(cfg.sampling.seed, rows[i]["id"]) for i in idx],
                                max_tokens=[budget[i] for i in idx])
        completions.update(zip(idx, outs))
        if on_batch:
            on_batch(len(idx), sum(c.tokens for out in outs for c in out))
    completions = {i: list(outs) for i, outs in completions.items()}
    first = nudged(cfg, [(o, budget[i]) for i, outs in completions.items() for o in outs])  # before continuing
    continued = _continue(backend, cfg, rows, prompts, completions, budget, p_tokens, on_batch)
    continued["ended_after_nudge"] += first
    out_rows, reasons, errors, generated = _sample_rows(rows, completions, refused, p_tokens, c_tokens,
                                                        backend.model_name)
    info = {"rows_in": len(rows), "rows_out": len(out_rows), "tokens_generated": generated,
            "prompts_sent": len(ok), **continued, "seconds": round(time.perf_counter() - t0, 3)}
    kept, dropped = split_by_reason(pa.Table.from_pylist(
        out_rows, schema=generated_schema(SOURCE_COLUMNS in table.column_names)), reasons)
    dropped = dropped.add_column(0, "error", pa.array([e for e, r in zip(errors, reasons) if r], pa.string()))
    return kept, dropped, info
