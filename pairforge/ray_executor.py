"""Generation on Ray Data: every Ray-specific line of pairforge lives here (extra: `pairforge[ray]`).

The driver runs the cheap, global stages exactly as a local build does (normalise, filters,
exact and near-duplicate dedupe, decontamination: global, so results do not depend on the
number of workers), cuts the rows into the same shards, and writes each unfinished shard's
input to `_work/input/`. Ray Data then maps a callable class over the shard indices: each actor
loads the backend once and runs the same `generate_shard` on whole shards, writing each result
atomically with its completion marker (the shard store of a local build). The driver finishes
as a local build does (post filters, global split, Parquet). A killed job rerun skips the
shards whose markers exist, so nothing is generated twice and no row is doubled.

On a multi-node cluster `output.dir` must be a filesystem every node sees (NFS, a mounted
bucket), since workers write the shards.
"""

from __future__ import annotations

from pathlib import Path

from .errors import PairforgeError
from .recipe import Recipe
from .shards import ShardStore


class _GenerateShards:
    """A Ray Data actor: loads the weak model once, then generates whole shards."""

    def __init__(self, recipe_dict: dict, out_dir: str, fingerprint: str, num_threads: float = 1):
        from .backends.base import make_backend
        from .quality import token_bounds_check
        from .recipe import recipe_from_dict

        import torch

        torch.set_num_threads(max(1, int(num_threads)))
        self.recipe = recipe_from_dict(recipe_dict)
        self.store = ShardStore.attach(Path(out_dir), fingerprint)
        self.backend = make_backend(self.recipe.weak_model)
        self.token_check = token_bounds_check(self.recipe)

    def __call__(self, batch):
        import pyarrow as pa
        import pyarrow.parquet as pq

        from .generate import generate_shard

        done, tokens, prompts = [], [], []
        for index in batch["shard"].to_pylist():
            if not self.store.is_done(index):
                table = pq.read_table(self.store.input_path(index))
                result, info = generate_shard(table, self.backend, self.recipe.weak_model,
                                              token_check=self.token_check)
                self.store.write(index, result, info)
            info = self.store.info(index)
            done.append(index)
            tokens.append(info["tokens_generated"])
            prompts.append(info["rows_in"])
        return pa.table({"shard": done, "tokens": tokens, "prompts": prompts})


class RayRun:
    def __init__(self, recipe: Recipe, store: ShardStore, address: str | None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise PairforgeError("--executor ray needs Ray: pip install 'pairforge[ray]'") from None
        self.recipe = recipe
        self.store = store
        self.address = address
        self.pending: list[int] = []

    def add(self, index: int, table) -> None:
        self.store.write_input(index, table)
        self.pending.append(index)

    def run(self, on_shard=None) -> None:
        if not self.pending:
            return
        import ray

        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False,
                     ignore_reinit_error=True)
        opts = self.recipe.generation.ray
        data = ray.data.from_items([{"shard": i} for i in self.pending], override_num_blocks=len(self.pending))
        recipe_dict = self.recipe.to_dict()
        model = Path(self.recipe.weak_model.model)
        if model.exists():  # workers do not share the driver's working directory
            recipe_dict["weak_model"]["model"] = str(model.resolve())
        results = data.map_batches(
            _GenerateShards,
            fn_constructor_kwargs={"recipe_dict": recipe_dict, "out_dir": str(self.store.out_dir),
                                   "fingerprint": self.store.fingerprint, "num_threads": opts.num_cpus_per_worker},
            batch_size=1, batch_format="pyarrow", concurrency=min(opts.concurrency, len(self.pending)),
            num_gpus=opts.num_gpus_per_worker or None, num_cpus=opts.num_cpus_per_worker,
        )
        for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
            if on_shard:
                on_shard(sum(batch["prompts"].to_pylist()), sum(batch["tokens"].to_pylist()))
        missing = [i for i in self.pending if not self.store.is_done(i)]
        if missing:
            raise PairforgeError(f"Ray finished but shards {missing[:5]} have no completion marker; rerun to resume")
