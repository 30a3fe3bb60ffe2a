"""`pairforge build`: SFT data -> weak-model rejections -> filters -> a preference dataset folder.

The run is a loop over plain stage functions on Arrow tables:

    source batches -> normalise -> pre-generation filters -> shards -> generate -> post filters
    -> deterministic split -> data/{train,test}-*.parquet

Generation happens in crash-safe shards (see shards.py); everything before it is cheap and
deterministic, so a rerun recomputes it and skips the finished shards.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from . import __version__
from .errors import PairforgeError
from .output import ExcludedWriter, SplitWriter, test_ids, to_output_table, write_json
from .recipe import Recipe, dump_resolved, fingerprint
from .shards import ShardStore, atomic_write_text
from .stats import Stats, length_stats

READ_BATCH = 1000


class _Progress:
    """Rows and tokens/s with an ETA on stderr (tqdm; silent when stderr is not a terminal and quiet)."""

    def __init__(self, total: int, quiet: bool):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit="prompt", desc="generate", file=sys.stderr, disable=quiet,
                        dynamic_ncols=True, mininterval=1.0)
        self.tokens = 0
        self.t0 = time.perf_counter()

    def skip(self, n: int) -> None:
        self.bar.total = max(0, (self.bar.total or 0) - n)
        self.bar.refresh()

    def batch(self, prompts: int, tokens: int) -> None:
        self.tokens += tokens
        rate = self.tokens / max(1e-9, time.perf_counter() - self.t0)
        self.bar.set_postfix_str(f"{rate:.0f} tok/s", refresh=False)
        self.bar.update(prompts)

    def close(self) -> None:
        self.bar.close()


def _to_table(records: list[dict], schema):
    import pyarrow as pa

    return pa.Table.from_pylist(records, schema=schema)


def run_build(recipe: Recipe, fresh: bool = False, quiet: bool = False, executor: str = "local",
              ray_address: str | None = None) -> dict:
    import pyarrow as pa

    from .backends.base import make_backend, resolve_backend
    from .formats import Normaliser, check_columns, detect_format, plain_columns
    from .models import resolve_weak_model
    from .quality import post_generation_stages, pre_generation_stages, token_bounds_check
    from .sources import load_source
    from .tables import pair_schema

    t_start = time.perf_counter()
    if quiet:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    stats = Stats()
    out = Path(recipe.output.dir)
    with stats.timed("load"):
        loaded = load_source(recipe)
    ds = loaded.dataset
    fmt = detect_format(ds.column_names, recipe.source)
    check_columns(fmt, ds.column_names, recipe.source)
    mapping = plain_columns(ds.column_names, recipe.source) if fmt == "plain" else None
    wm = recipe.weak_model
    wm.backend, backend_note = resolve_backend(wm.backend)  # `auto` becomes what runs (and is hashed)
    if backend_note and not quiet:
        print(f"backend: {wm.backend} ({backend_note})", file=sys.stderr)
    ref = resolve_weak_model(wm)
    fp = fingerprint(recipe, loaded.digest, ref.digest)

    out.mkdir(parents=True, exist_ok=True)
    store = ShardStore(out, fp, fresh=fresh)
    excluded = ExcludedWriter(out)
    normalise = Normaliser(fmt, recipe.source.turns, mapping)
    pre = pre_generation_stages(recipe)
    token_check = token_bounds_check(recipe)
    backend = None
    progress = _Progress(total=len(ds), quiet=quiet)
    ray_run = None
    if executor == "ray":
        from .ray_executor import RayRun

        ray_run = RayRun(recipe, store, ray_address)
    counts = {"normalise": 0, **{s.name: 0 for s in pre}}
    resumed = 0
    shard_index = 0
    pending: list = []
    pending_rows = 0

    def flush(final: bool) -> None:
        nonlocal backend, shard_index, pending, pending_rows, resumed
        size = recipe.generation.shard_size
        while pending_rows >= size or (final and pending_rows):
            table = pa.concat_tables(pending).combine_chunks()
            shard, rest = table.slice(0, size), table.slice(size)
            pending, pending_rows = [rest], rest.num_rows
            if store.is_done(shard_index):
                resumed += 1
                progress.skip(shard.num_rows)
            elif ray_run is not None:  # generated later, by the Ray workers
                ray_run.add(shard_index, shard)
            else:
                if backend is None:
                    with stats.timed("load_model"):
                        backend = make_backend(wm)
                from .generate import generate_shard

                with stats.timed("generate"):
                    result, info = generate_shard(shard, backend, wm, on_batch=progress.batch,
                                                  token_check=token_check)
                store.write(shard_index, result, info)
            shard_index += 1

    source_pos = 0
    for batch in ds.with_format("arrow").iter(batch_size=READ_BATCH):
        n = batch.num_rows
        stats.rows_read += n
        with stats.timed("normalise"):
            records, dropped = normalise(batch, loaded.indices[source_pos : source_pos + n])
        source_pos += n
        if dropped:
            excluded.add("normalise", pa.Table.from_pylist(dropped), stats)
        table = _to_table(records, pair_schema())
        counts["normalise"] += table.num_rows
        for stage in pre:
            with stats.timed(stage.name):
                table, dropped_t = stage(table)
            excluded.add(stage.name, dropped_t, stats)
            counts[stage.name] += table.num_rows
        if table.num_rows:
            pending.append(table)
            pending_rows += table.num_rows
        flush(final=False)
    flush(final=True)
    if ray_run is not None:
        with stats.timed("generate"):
            ray_run.run(on_shard=progress.batch)
    progress.close()
    n_shards = shard_index
    for name, rows in counts.items():
        stats.after(name, rows)

    summary = _finalise(recipe, out, store, n_shards, excluded, stats, post_generation_stages(recipe))
    excluded.close()
    gen_infos = [store.info(i) for i in range(n_shards)]
    stats.extra.update({
        "pairforge_version": __version__,
        "fingerprint": fp,
        "source": {"description": loaded.description, "format": fmt, "digest": loaded.digest,
                   "hub": recipe.source.hub, "revision": recipe.source.revision},
        "weak_model": {"name": ref.name, "upstream": ref.upstream, "revision": ref.revision,
                       "backend": wm.backend, "backend_note": backend_note, "digest": ref.digest},
        "generation": {
            "shards": n_shards,
            "shards_resumed": resumed,
            "prompts_sent": sum(i["prompts_sent"] for i in gen_infos),
            "tokens_generated": sum(i["tokens_generated"] for i in gen_infos),
            "seconds_all_runs": round(sum(i["seconds"] for i in gen_infos), 3),
            "executor": executor,
        },
        **summary,
    })
    from .train import lineage_of_model

    parent = lineage_of_model(wm.model)
    if parent:  # SPIN-style: the weak model was trained by train-ipo on an earlier set
        stats.extra["lineage"] = {"iteration": parent["iteration"], "parent_dataset": parent["dataset"],
                                  "parent_model": parent["base_model"], "weak_model_dir": wm.model}
    stats.seconds["total"] = time.perf_counter() - t_start
    write_json(out / "stats.json", stats.to_dict())
    atomic_write_text(out / "recipe.yaml", f"# pairforge {__version__} — fingerprint {fp}\n" + dump_resolved(recipe))
    result = stats.to_dict()
    if recipe.output.card:
        from .card import render_card

        atomic_write_text(out / "README.md", render_card(out))
    result["output_dir"] = str(out)
    return result


def _finalise(recipe: Recipe, out: Path, store: ShardStore, n_shards: int, excluded: ExcludedWriter,
              stats: Stats, post: list) -> dict:
    """Post filters over every shard, then the deterministic split and the Parquet files."""
    import pyarrow as pa
    import pyarrow.compute as pc

    kept_after: dict[str, int] = {"generate": 0, **{s.name: 0 for s in post}}
    kept_tables_ids: set[str] = set()
    lengths = {"prompt_tokens": [], "chosen_tokens": [], "rejected_tokens": []}
    finish = {}

    def shard_kept(i: int, record: bool):
        t = store.read(i)
        gen_dropped = pc.is_valid(t["drop_reason"])
        if record and pc.any(gen_dropped).as_py():
            d = t.filter(gen_dropped)
            excluded.add("generate", d.drop_columns(["drop_reason"]).append_column("reason", d["drop_reason"]), stats)
        t = t.filter(pc.invert(gen_dropped))
        if record:
            kept_after["generate"] += t.num_rows
        for stage in post:
            t, dropped = stage(t)
            if record:
                excluded.add(stage.name, dropped, stats)
                kept_after[stage.name] += t.num_rows
        return t

    with stats.timed("filter_post"):
        for i in range(n_shards):
            t = shard_kept(i, record=True)
            kept_tables_ids.update(t["id"].to_pylist())
            for k in lengths:
                lengths[k].extend(v for v in t[k].to_pylist() if v is not None)
            for r in t["rejected_finish_reason"].to_pylist():
                finish[r] = finish.get(r, 0) + 1
    for name, rows in kept_after.items():
        stats.after(name, rows)

    test = test_ids(kept_tables_ids, recipe.split.test_size, recipe.split.seed)
    with stats.timed("write"):
        writer = SplitWriter(out)
        for i in range(n_shards):
            t = shard_kept(i, record=False)
            if not t.num_rows:
                continue
            is_test = pa.array([x in test for x in t["id"].to_pylist()], pa.bool_())
            writer.write("train", to_output_table(t.filter(pc.invert(is_test)), recipe.output.format))
            writer.write("test", to_output_table(t.filter(is_test), recipe.output.format))
        splits = writer.close()
    if not splits.get("train"):
        raise PairforgeError(
            f"no pairs left to write ({stats.rows_read} rows read, drops: "
            f"{ {s: dict(c) for s, c in stats.drops.items()} }); see {out / 'excluded'}"
        )
    rows_written = sum(splits.values())
    stats.after("written", rows_written)
    return {
        "rows_written": rows_written,
        "splits": splits,
        "lengths": {k.replace("_tokens", ""): length_stats(v) for k, v in lengths.items()},
        "rejected_finish_reason": dict(sorted(finish.items())),
    }
