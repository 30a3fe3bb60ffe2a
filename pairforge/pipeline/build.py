"""`pairforge build`: SFT data -> weak-model rejections -> filters -> a preference dataset folder.

    plan:     load the source, recognise its format, resolve backend and weights, fingerprint
    pre:      source batches -> normalise -> pre-generation stages -> shard inputs (.pairforge_work/input)
    execute:  the executor runs the unfinished shards (generation, crash-safe; see shards.py)
    post:     every shard once through the post-generation stages (.pairforge_work/finished)
    write:    deterministic split by id -> data/{train,test}-*.parquet, stats.json, recipe.yaml, card

Everything before generation is cheap and deterministic, so a rerun recomputes it and skips the
finished shards.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .. import __version__
from ..errors import PairforgeError
from ..io import atomic_write_json, atomic_write_text
from ..lineage import public_model_name
from ..recipe import Recipe, dump_resolved, fingerprints
from . import post_stages, publish
from .stats import Column, LengthPicture, Stats, length_stats

READ_BATCH = 1000


@dataclass
class Plan:
    recipe: Recipe
    out: Path
    loaded: object
    normalise: object
    backend_note: str
    model_ref: object
    fingerprint: str  # combined; the shard store is keyed by fingerprints["generation"] alone
    fingerprints: dict = field(default_factory=dict)
    stats: Stats = field(default_factory=Stats)
    stage: Path | None = None  # where write_splits/write_metadata write; publish.commit swaps it into out


def plan_build(recipe: Recipe, quiet: bool) -> Plan:
    import sys

    from ..backends import resolve_backend
    from ..data.formats import Normalise
    from ..data.sources import load_source
    from ..weights import resolve_weak_model
    from .judge import judge_function
    from .layout_fit import layout_check

    stats = Stats()
    with stats.timed("load"):
        loaded = load_source(recipe)
    normalise = Normalise.for_source(recipe.source, loaded.column_names, keep_source=recipe.judge.kind == "function")
    if normalise.unused:  # a warning, not progress: -q keeps it (and the summary repeats it)
        print(f"warning: source columns {', '.join(normalise.unused)} are not used by the {normalise.fmt} "
              "layout (their text is not in the prompts); map them with source.columns", file=sys.stderr)
    wm = recipe.weak_model
    wm.backend, note = resolve_backend(wm.backend, wm.sampling.end_nudge.enabled)  # `auto` becomes what runs (and is hashed)
    if note and not quiet:
        print(f"backend: {wm.backend} ({note})", file=sys.stderr)
    ref = resolve_weak_model(wm)
    normalise.check = layout_check(recipe.output, ref)  # a prompt the layout cannot hold fails before generation
    function = judge_function(recipe)  # a function judge that cannot be imported fails before any generation
    fps = fingerprints(recipe, loaded.digest, ref.digest, function.digest if function else None)
    return Plan(recipe, Path(recipe.output.dir), loaded, normalise, note, ref, fps["combined"], fps, stats)


def pre_generation_stages(recipe: Recipe) -> list:
    from .decontaminate import Decontaminate
    from .dedupe import ExactDedupe, NearDedupe
    from .filters import PreFilter

    stages = [PreFilter(recipe.filters)]
    if recipe.dedupe.exact:
        stages.append(ExactDedupe(recipe.dedupe.key))
    if recipe.dedupe.near.enabled:
        stages.append(NearDedupe(recipe.dedupe.near, recipe.dedupe.key))
    if recipe.decontaminate.sets:
        stages.append(Decontaminate(recipe.decontaminate, recipe.resolve_path))
    return stages


def post_generation_stages(recipe: Recipe, work_dir: Path | None = None) -> list:
    from .filters import PostFilter

    stages = [PostFilter(recipe.filters)]
    if recipe.judge.kind != "none":  # after the filters: no scoring of rows they drop
        from .judge import judge_stages

        stages += judge_stages(recipe, work_dir)
    return stages


def cut_shards(plan: Plan, store, excluded) -> tuple[int, list[int]]:
    """Run the pre-generation stages over the source and cut the rows into shards; write the
    input of every unfinished shard. Returns (number of shards, unfinished shard indices)."""
    import pyarrow as pa

    from .spill import counted, run_two_pass
    stages = [plan.normalise, *pre_generation_stages(plan.recipe)]
    plan.stats.register([s.name for s in stages])
    size = plan.recipe.generation.shard_size
    n_shards, pending, buffer, buffered = 0, [], [], 0

    def emit(final: bool) -> None:
        nonlocal n_shards, buffer, buffered
        while buffered >= size or (final and buffered):
            table = pa.concat_tables(buffer).combine_chunks()
            shard, rest = table.slice(0, size), table.slice(size)
            buffer, buffered = [rest], rest.num_rows
            if not store.is_done(n_shards):
                store.write_input(n_shards, shard)
                pending.append(n_shards)
            n_shards += 1

    for table in run_two_pass(counted(plan.loaded.batches(READ_BATCH), plan.stats), stages, plan.stats, excluded,
                              store.work):
        if table.num_rows:
            buffer.append(table)
            buffered += table.num_rows
        emit(final=False)
    emit(final=True)
    return n_shards, pending


def finish(plan: Plan, store, n_shards: int, excluded) -> dict:
    """Every shard once through the post-generation stages, then the split and the Parquet files."""
    import pyarrow.compute as pc

    from .score_stats import ScoreStats
    from .writers import IdSplit, split_ids

    stats, post = plan.stats, post_generation_stages(plan.recipe, store.work)
    model = public_model_name(plan.model_ref)
    stats.register(["generate", *(s.name for s in post)])
    scores, picture = ScoreStats(), LengthPicture()
    split = IdSplit(plan.recipe.split.test_size, plan.recipe.split.seed)
    lengths = {k: Column() for k in ("prompt_tokens", "chosen_tokens", "rejected_tokens")}
    finish_reasons: Counter = Counter()
    # streamed: per row, only 8-byte keys and lengths stay in memory
    for i, (kept, t) in enumerate(post_stages.run_post(store, n_shards, model, post, stats, excluded, scores)):
        picture.add_generated(kept)
        picture.add_written(t)
        store.write_finished(i, t)
        split.add(split_ids(t, plan.recipe.source.turns))
        for k, column in lengths.items():
            column.add(t[k].combine_chunks())
        for r in pc.value_counts(t["rejected_finish_reason"]).to_pylist():
            finish_reasons[r["values"]] += r["counts"]
    split.close()
    with stats.timed("write"):
        splits = write_splits(plan, store, n_shards, split)
    if not splits.get("train"):
        raise PairforgeError(f"no pairs left to write ({stats.rows_read} rows read, drops: "
                             f"{ {s: dict(c) for s, c in stats.drops.items()} }); see {(plan.stage or plan.out) / 'excluded'}")
    stats.kept("written", sum(splits.values()))
    for judge in (s for s in post if s.name == "judge"):
        stats.extra["judge"] = {**judge.describe(), **scores.summary()}
    return {
        "rows_written": sum(splits.values()),
        "splits": splits,
        "lengths": {k.replace("_tokens", ""): length_stats(v.values()) for k, v in lengths.items()},
        "rejected_finish_reason": dict(sorted(finish_reasons.items())),
        "length_picture": picture.to_dict(plan.recipe.filters.longer_wins_warn),
    }


def write_splits(plan: Plan, store, n_shards: int, split) -> dict:
    import pyarrow.compute as pc

    from .output_layouts import prompt_renderer, to_output_table
    from .writers import SplitWriter, split_ids

    fmt, render = plan.recipe.output.format, prompt_renderer(plan.recipe.output, plan.model_ref)
    writer = SplitWriter(plan.stage or plan.out)
    for i in range(n_shards):
        t = store.read_finished(i)
        if not t.num_rows:
            continue
        is_test = split.is_test(split_ids(t, plan.recipe.source.turns))
        writer.write("train", to_output_table(t.filter(pc.invert(is_test)), fmt, render))
        writer.write("test", to_output_table(t.filter(is_test), fmt, render))
    return writer.close()


def run_build(recipe: Recipe, fresh: bool = False, quiet: bool = False, executor: str = "local",
              ray_address: str | None = None) -> dict:
    out = Path(recipe.output.dir)
    publish.check_not_inside_source(recipe)
    publish.prepare_output(out)
    publish.check_no_links(out)
    with publish.lock_output(out):  # one build per folder; the OS frees it on a kill
        try:
            return _build(recipe, fresh, quiet, executor, ray_address)
        except OSError as e:  # a full disk, a permission: the previous result stands until a swap starts
            raise publish.os_error(out, e) from None


def _build(recipe: Recipe, fresh: bool, quiet: bool, executor: str, ray_address: str | None) -> dict:
    from .executors import make_executor
    from .progress import Progress
    from .shards import ShardStore
    from .writers import ExcludedWriter

    t_start = time.perf_counter()
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    plan = plan_build(recipe, quiet)
    run = make_executor(executor, recipe.generation.ray, ray_address)
    store = ShardStore.open(plan.out, plan.fingerprints["generation"], fresh=fresh)
    plan.stage = publish.begin(plan.out)  # --fresh discarded the shards; the old result stays until commit
    excluded = ExcludedWriter(plan.stage)
    n_shards, pending = cut_shards(plan, store, excluded)
    progress = Progress(total=sum(store.read_input(i).num_rows for i in pending), quiet=quiet)
    run.run((recipe.weak_model, recipe.filters.lengths, str(plan.out)), pending, plan.stats, progress)
    progress.close()
    try:
        summary = finish(plan, store, n_shards, excluded)
    finally:
        excluded.close()
    plan.stats.extra.update(_provenance(plan, store, n_shards, pending, run.name), **summary)
    plan.stats.seconds["total"] = time.perf_counter() - t_start
    result = write_metadata(plan)
    publish.commit(plan.out, plan.stage, plan.fingerprint, __version__)
    return result


def _provenance(plan: Plan, store, n_shards: int, pending: list[int], executor: str) -> dict:
    from ..hub.licenses import hub_model_license
    from ..weights import BUILTIN_MODELS
    from ..lineage import dataset_lineage_entry, is_hub_id

    recipe, ref, wm = plan.recipe, plan.model_ref, plan.recipe.weak_model
    infos = [store.info(i) for i in range(n_shards)]
    name, (description, hub) = public_model_name(ref), publish.public_source(recipe, plan.loaded)
    extra = {
        "pairforge_version": __version__,
        "fingerprint": plan.fingerprint,
        "fingerprints": {k: plan.fingerprints[k] for k in ("generation", "finish")},
        "source": {"description": description, "format": plan.normalise.fmt,
                   "digest": plan.loaded.digest, "hub": hub, "revision": recipe.source.revision,
                   "unused_columns": plan.normalise.unused, **plan.loaded.stats()},
        "weak_model": {"name": name, "upstream": name if ref.digest.startswith("local:") else ref.upstream,
                       "revision": ref.revision, "backend": wm.backend, "backend_note": plan.backend_note,
                       "digest": ref.digest},
        "generation": {
            "shards": n_shards,
            "shards_resumed": n_shards - len(pending),
            "prompts_sent": sum(infos[i]["prompts_sent"] for i in pending),  # this run
            "prompts_sent_all_runs": sum(i["prompts_sent"] for i in infos),
            **{k: sum(i.get(k, 0) for i in infos) for k in ("tokens_generated", "continued", "tokens_continued", "ended_after_nudge")},
            "seconds_all_runs": round(sum(i["seconds"] for i in infos), 3),
            "executor": executor,
        },
    }
    if wm.backend != "openai" and wm.model not in BUILTIN_MODELS and is_hub_id(wm.model):  # its card's license
        extra["weak_model"]["license"] = hub_model_license(wm.model, wm.revision)
    lineage = dataset_lineage_entry(wm.model, wm.revision) if wm.backend != "openai" else None
    if lineage:  # SPIN-style: the weak model was trained by train-ipo on an earlier set
        extra["lineage"] = lineage
    return extra


def write_metadata(plan: Plan) -> dict:
    """stats.json, the resolved recipe and the card; returns the summary."""
    out, fp = plan.stage or plan.out, plan.fingerprint
    atomic_write_json(out / "stats.json", plan.stats.to_dict())
    atomic_write_text(out / "recipe.yaml", f"# pairforge {__version__} — fingerprint {fp}\n" + dump_resolved(plan.recipe))
    result = plan.stats.to_dict()
    if plan.recipe.output.card:
        from ..hub.card import render_card
        from ..hub.plots import write_length_plot

        write_length_plot(out)
        atomic_write_text(out / "README.md", render_card(out, repo_id=f"path/to/{plan.out.name}"))  # no local path
    result["output_dir"] = str(plan.out)
    return result
