"""`pairforge build --dry-run`: every stage before generation, then what generation would cost.

Runs load, normalise and the pre-generation stages exactly as a build does (same funnel), loads
the weak model to count prompt tokens (and to apply the prompt_too_long / token-bound checks the
generation stage applies before sending), and times a short sample of real generation to
extrapolate. Nothing is written: output.dir is not created or touched.
"""

from __future__ import annotations

import time

from ..recipe import Recipe


class _CountOnly:
    """Stands in for the ExcludedWriter: records the drops in the stats, writes nothing."""

    def add(self, stage: str, dropped, stats) -> None:
        if dropped is not None and dropped.num_rows:
            reasons = dropped["reason"].to_pylist()
            for r in sorted(set(reasons)):
                stats.drop(stage, r, reasons.count(r))


def _pre_generation(plan) -> list[dict]:
    """The rows that reach generation (pre-generation stages over the whole source)."""
    from .build import READ_BATCH, pre_generation_stages
    from .spill import counted, run_two_pass

    stages = [plan.normalise, *pre_generation_stages(plan.recipe)]
    plan.stats.register([s.name for s in stages])
    rows, batches = [], counted(plan.loaded.batches(READ_BATCH), plan.stats)
    for table in run_two_pass(batches, stages, plan.stats, _CountOnly()):  # spills to a temporary folder
        rows.extend(table.to_pylist())
    return rows


def _to_send(rows: list[dict], backend, recipe: Recipe) -> tuple[list[int], list, dict, list]:
    """(indices of rows that would be sent, their prompt token counts, {reason: rows not sent},
    every row's max_tokens budget), decided as generate_shard decides them."""
    from .filters import token_bounds_check
    from .generate import _refusals, budgets, prompt_limit

    p_tokens = backend.prompt_token_counts([r["prompt"] for r in rows]) if rows else []
    c_tokens = backend.token_counts([r["chosen"] for r in rows]) if rows else []
    budget = budgets(recipe.weak_model, backend, p_tokens, c_tokens)
    refused = _refusals(p_tokens, c_tokens, prompt_limit(recipe.weak_model, backend),
                        token_bounds_check(recipe.filters.lengths), budget)
    not_sent: dict[str, int] = {}
    for reason in refused.values():
        not_sent[reason] = not_sent.get(reason, 0) + 1
    send = [i for i in range(len(rows)) if i not in refused]
    return send, [p_tokens[i] for i in send], dict(sorted(not_sent.items())), budget


def _timed_sample(rows: list[dict], send: list[int], backend, recipe: Recipe, k: int, budget: list) -> dict | None:
    """Generate for the first k prompts to send (one batch, as the build batches them) and measure."""
    from .generate import row_seed

    idx = send[: min(k, len(send))]
    if not idx:
        return None
    seed = recipe.weak_model.sampling.seed
    t0 = time.perf_counter()
    outs = []
    step = len(idx) if getattr(backend, "schedules_itself", False) else recipe.weak_model.batch_size
    for b in range(0, len(idx), step):
        part = idx[b : b + step]
        outs += backend.generate([rows[i]["prompt"] for i in part], seeds=[row_seed(seed, rows[i]["id"]) for i in part],
                                 max_tokens=[budget[i] for i in part])
    seconds = time.perf_counter() - t0
    tokens = sum(c.tokens for out in outs for c in out)
    return {"prompts": len(idx), "tokens": tokens, "seconds": round(seconds, 3),
            "tokens_per_second": round(tokens / max(seconds, 1e-9), 1)}


def _estimate(sample: dict | None, prompts: int, upper_tokens: int) -> dict | None:
    if not sample:
        return None
    per_prompt = sample["seconds"] / sample["prompts"]
    rate = sample["tokens_per_second"]
    return {"sample": sample,
            "seconds": round(per_prompt * prompts, 1),  # answers as long as the sample's
            "seconds_upper_bound": round(upper_tokens / rate, 1) if rate else None}  # every answer max_tokens


def run_dry_run(recipe: Recipe, sample: int = 8, quiet: bool = False) -> dict:
    """The dry-run report (see the module docstring); touches nothing on disk under output.dir."""
    from ..backends import make_backend
    from .build import plan_build

    t0 = time.perf_counter()
    plan = plan_build(recipe, quiet)
    rows = _pre_generation(plan)
    with plan.stats.timed("load_model"):
        backend = make_backend(recipe.weak_model)
    send, p_tokens, not_sent, budget = _to_send(rows, backend, recipe)
    s = recipe.weak_model.sampling
    upper = s.n * sum(budget[i] for i in send)  # every answer runs to its budget
    with plan.stats.timed("sample"):
        estimate = _estimate(_timed_sample(rows, send, backend, recipe, sample, budget) if sample > 0 else None,
                             len(send), upper)
    plan.stats.seconds["total"] = time.perf_counter() - t0
    known = [p for p in p_tokens if p is not None]
    return {
        "dry_run": True, **plan.stats.to_dict(), "output_dir": str(plan.out), "fingerprint": plan.fingerprint,
        "weak_model": {"name": backend.model_name, "backend": recipe.weak_model.backend},
        "rows_to_generate": len(rows), "not_sent": not_sent, "prompts_to_send": len(send),
        "samples_per_prompt": s.n, "max_tokens": s.max_tokens, "max_tokens_to_generate": upper,
        "prompt_tokens": sum(known) if len(known) == len(p_tokens) else None, "estimate": estimate,
    }


def format_dry_run(r: dict) -> str:
    """The report as a few lines for the terminal."""
    lines = [
        f"Dry run: nothing written to {r['output_dir']}",
        f"Read {r['rows_read']} rows; funnel: " + " -> ".join(f"{f['stage']} {f['rows']}" for f in r["funnel"]),
        f"Prompts to send: {r['prompts_to_send']}"
        + (f" (not sent: {', '.join(f'{k}: {v}' for k, v in r['not_sent'].items())})" if r["not_sent"] else ""),
        f"Tokens: prompts {r['prompt_tokens'] if r['prompt_tokens'] is not None else 'unknown (counted by the server)'}; "
        f"to generate at most {r['max_tokens_to_generate']} ({r['prompts_to_send']} x n={r['samples_per_prompt']} "
        f"x max_tokens={r['max_tokens']}, summed per prompt)",
    ]
    e = r["estimate"]
    if e:
        sm = e["sample"]
        bound = f" (at most ~{e['seconds_upper_bound']:.0f}s)" if e["seconds_upper_bound"] is not None else ""
        lines.append(f"Generation estimate: ~{e['seconds']:.0f}s{bound} from "
                     f"{sm['prompts']} sample prompts: {sm['tokens']} tokens in {sm['seconds']:.2f}s "
                     f"({sm['tokens_per_second']:.0f} tok/s, {r['weak_model']['backend']})")
    else:
        lines.append("Generation estimate: skipped (--dry-run-sample 0, or no prompt to send)")
    return "\n".join(lines)
