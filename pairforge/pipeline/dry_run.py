"""`pairforge build --dry-run`: every stage before generation, then what generation would cost.

Runs load, normalise and the pre-generation stages exactly as a build does (same funnel), loads
the weak model to count prompt tokens (and to apply the prompt_too_long / token-bound checks the
generation stage applies before sending), and estimates generation's time from a timed sample of
fixed size (gen_estimate.py: the build's first batch for a few tokens, a few prompts answered in
full), whatever the job's size. Nothing is written: output.dir is not created or touched.
"""

from __future__ import annotations

import time
from collections import Counter

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


def _to_send(rows: list[dict], backend, recipe: Recipe) -> tuple[dict, list, list]:
    """({row: reason} for rows not sent, every row's prompt tokens, every row's max_tokens budget),
    decided as generate_shard decides them."""
    from .filters import token_bounds_check
    from .generate import _refusals, budgets, prompt_limit

    p_tokens = backend.prompt_token_counts([r["prompt"] for r in rows]) if rows else []
    c_tokens = backend.token_counts([r["chosen"] for r in rows]) if rows else []
    budget = budgets(recipe.weak_model, backend, p_tokens, c_tokens)
    refused = _refusals(p_tokens, c_tokens, prompt_limit(recipe.weak_model, backend),
                        token_bounds_check(recipe.filters.lengths), budget)
    return refused, p_tokens, budget


def _timed_sample(rows: list[dict], shards: list, backend, recipe: Recipe, sample: int, quiet: bool):
    """The probe (the build's first call for 1 and 1 + PROBE_STEPS tokens, an eighth of it for
    1 + PROBE_STEPS) and `sample` prompts spread over the job answered in full by generate_shard:
    (probe calls, sample calls, sample facts)."""
    import pyarrow as pa

    from ..data.schemas import SOURCE_COLUMNS, pair_schema
    from . import gen_estimate as ge
    from .gen_estimate import PROBE_STEPS, Recorder, say
    from .generate import generate_shard, row_seed

    cfg, rec = recipe.weak_model, Recorder(backend)
    send = sorted(i for calls in shards for idx in calls for i in idx)
    first = next(idx for calls in shards for idx in calls)
    prompts, seeds = [rows[i]["prompt"] for i in first], [row_seed(cfg.sampling.seed, rows[i]["id"]) for i in first]
    say(quiet, f"timing the build's first batch ({len(first)} prompts) for 1, then {1 + PROBE_STEPS} tokens")
    t0 = ge.clock()
    rec.generate(prompts[:1], seeds[:1], [1])  # warm-up: the first call pays one-off set-up
    rec.generate(prompts, seeds, [1] * len(first))
    rec.generate(prompts, seeds, [1 + PROBE_STEPS] * len(first))
    w = max(1, len(first) // 8)
    rec.generate(prompts[:w], seeds[:w], [1 + PROBE_STEPS] * w)
    probe, rec.calls = rec.calls[1:], []
    k, info = min(sample, len(send)), {"tokens_generated": 0, "continued": 0}
    if k:
        pick = [send[j * len(send) // k] for j in range(k)]  # spread over the job
        say(quiet, f"answering {k} sample prompts in full ({ge.clock() - t0:.1f}s so far)")
        table = pa.Table.from_pylist([rows[i] for i in pick], schema=pair_schema(SOURCE_COLUMNS in rows[pick[0]]))
        _, _, info = generate_shard(table, rec, cfg)
    facts = {"prompts": k, "probe_prompts": len(first), "tokens": info["tokens_generated"],
             "continued": info["continued"], "seconds": round(ge.clock() - t0, 3)}
    say(quiet, f"sample done in {facts['seconds']:.1f}s")
    return probe, rec.calls, facts


def _estimate(rows, refused, p_tokens, budget, backend, recipe: Recipe, sample: int | None, quiet: bool) -> dict | None:
    """The generation-time estimate (gen_estimate.py), or None (sample None: --no-estimate; or no prompt to send)."""
    from dataclasses import replace

    from .gen_estimate import fit, planned_calls

    cfg = recipe.weak_model
    shards = planned_calls(len(rows), recipe.generation.shard_size, refused, p_tokens, budget, backend, cfg)
    if sample is None or not any(shards_calls for shards_calls in shards):
        return None
    probe, calls, facts = _timed_sample(rows, shards, backend, recipe, sample, quiet)
    first = next(idx for calls_ in shards for idx in calls_)  # the probe's prompts
    known = None not in p_tokens
    model = fit(probe, calls, max(p_tokens[i] for i in first) if known else None)
    continues = (cfg.sampling.max_tokens == "auto" and cfg.continuation.rounds > 0
                 and getattr(backend, "continue_answers", None) is not None)
    cost = lambda m, upper=False: round(m.seconds(shards, budget, cfg, cfg.sampling.n, continues, p_tokens, upper), 1)  # noqa: E731
    return {"seconds": cost(model), "seconds_upper_bound": cost(replace(model, cut=1.0, cut_again=1.0, used=1.0), True),
            "sample": facts, "model": {k: round(v, 4) if isinstance(v, float) else v for k, v in vars(model).items()}}


def run_dry_run(recipe: Recipe, sample: int | None = 0, quiet: bool = False) -> dict:
    """The dry-run report (see the module docstring); touches nothing on disk under output.dir."""
    from ..backends import make_backend
    from .build import plan_build

    t0 = time.perf_counter()
    plan = plan_build(recipe, quiet)
    rows = _pre_generation(plan)
    with plan.stats.timed("load_model"):
        backend = make_backend(recipe.weak_model)
    refused, p_tokens, budget = _to_send(rows, backend, recipe)
    send = [i for i in range(len(rows)) if i not in refused]
    s = recipe.weak_model.sampling
    upper = s.n * sum(budget[i] for i in send)  # every answer runs to its budget
    with plan.stats.timed("sample"):
        estimate = _estimate(rows, refused, p_tokens, budget, backend, recipe, sample, quiet)
    plan.stats.seconds["total"] = time.perf_counter() - t0
    known = [p_tokens[i] for i in send if p_tokens[i] is not None]
    return {
        "dry_run": True, **plan.stats.to_dict(), "output_dir": str(plan.out), "fingerprint": plan.fingerprint,
        "weak_model": {"name": backend.model_name, "backend": recipe.weak_model.backend},
        "rows_to_generate": len(rows), "not_sent": dict(sorted(Counter(refused.values()).items())),
        "prompts_to_send": len(send), "samples_per_prompt": s.n, "max_tokens": s.max_tokens,
        "max_tokens_to_generate": upper, "prompt_tokens": sum(known) if len(known) == len(send) else None,
        "estimate": estimate,
    }


def format_dry_run(r: dict) -> str:
    """The report as a few lines for the terminal."""
    from .gen_estimate import PROBE_STEPS

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
        answered = f", {sm['prompts']} prompts answered in full ({sm['tokens']} tokens)" if sm["prompts"] else ""
        lines.append(f"Generation estimate: ~{e['seconds']:.0f}s (at most ~{e['seconds_upper_bound']:.0f}s), model load "
                     f"{r['seconds']['load_model']:.1f}s apart; timed sample: {sm['probe_prompts']} prompts x "
                     f"{1 + PROBE_STEPS} tokens{answered}, {sm['seconds']:.1f}s ({r['weak_model']['backend']})")
    else:
        lines.append("Generation estimate: skipped (--no-estimate, or no prompt to send)")
    return "\n".join(lines)
