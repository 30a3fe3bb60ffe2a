"""Executors: where the generation shards run. Both only launch `ShardWorker.run_shard` calls;
shard bookkeeping and resume live once, in the ShardStore.

- LocalExecutor: one worker in this process, shards in order.
- RayExecutor: Ray Data maps an actor class over the pending shard indices; each actor loads
  the backend once. On a multi-node cluster `output.dir` must be a filesystem every node sees
  (NFS, a mounted bucket), since workers read the shard inputs and write the results.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import PairforgeError
from ..recipe import Lengths, RayOptions, WeakModel
from .shards import ShardStore


class ShardWorker:
    """Loads the weak model once, then generates whole shards."""

    def __init__(self, weak_model: WeakModel, lengths: Lengths, out_dir: str):
        from ..backends import make_backend
        from .filters import token_bounds_check

        self.cfg = weak_model
        self.store = ShardStore(Path(out_dir))
        self.backend = make_backend(weak_model)
        self.token_check = token_bounds_check(lengths)

    def run_shard(self, index: int, on_batch=None) -> dict:
        from .generate import generate_shard

        if not self.store.is_done(index):
            kept, dropped, info = generate_shard(self.store.read_input(index), self.backend, self.cfg,
                                                 on_batch=on_batch, token_check=self.token_check)
            self.store.write(index, kept, dropped, info)
        return self.store.info(index)


class LocalExecutor:
    name = "local"

    def run(self, worker_args: tuple, pending: list[int], stats, progress) -> None:
        if not pending:
            return
        with stats.timed("load_model"):
            worker = ShardWorker(*worker_args)
        with stats.timed("generate"):
            for index in pending:
                worker.run_shard(index, on_batch=progress.batch)


class _RayShardActor:
    """A Ray Data actor around one ShardWorker."""

    def __init__(self, worker_args: tuple, num_threads: float = 1):
        import torch

        torch.set_num_threads(max(1, int(num_threads)))
        self.worker = ShardWorker(*worker_args)

    def __call__(self, batch):
        import pyarrow as pa

        infos = [self.worker.run_shard(i) for i in batch["shard"].to_pylist()]
        return pa.table({"shard": batch["shard"], "tokens": [i["tokens_generated"] for i in infos],
                         "prompts": [i["rows_in"] for i in infos]})


class RayExecutor:
    name = "ray"

    def __init__(self, opts: RayOptions, address: str | None):
        try:
            import ray  # noqa: F401
        except ImportError:
            raise PairforgeError("--executor ray needs Ray: pip install 'pairforge[ray]'") from None
        self.opts, self.address = opts, address

    def run(self, worker_args: tuple, pending: list[int], stats, progress) -> None:
        if not pending:
            return
        import ray

        weak_model, lengths, out_dir = worker_args
        model = Path(weak_model.model)
        if model.exists():  # workers do not share the driver's working directory
            weak_model = weak_model.model_copy(update={"model": str(model.resolve())})
        if not ray.is_initialized():
            ray.init(address=self.address, include_dashboard=False, log_to_driver=False, ignore_reinit_error=True)
        data = ray.data.from_items([{"shard": i} for i in pending], override_num_blocks=len(pending))
        results = data.map_batches(
            _RayShardActor,
            fn_constructor_kwargs={"worker_args": (weak_model, lengths, str(Path(out_dir).resolve())),
                                   "num_threads": self.opts.num_cpus_per_worker},
            batch_size=1, batch_format="pyarrow", concurrency=min(self.opts.concurrency, len(pending)),
            num_gpus=self.opts.num_gpus_per_worker or None, num_cpus=self.opts.num_cpus_per_worker,
        )
        with stats.timed("generate"):
            for batch in results.iter_batches(batch_format="pyarrow", batch_size=None):
                progress.batch(sum(batch["prompts"].to_pylist()), sum(batch["tokens"].to_pylist()))
        store = ShardStore(Path(out_dir))
        missing = [i for i in pending if not store.is_done(i)]
        if missing:
            raise PairforgeError(f"Ray finished but shards {missing[:5]} have no completion marker; rerun to resume")


def make_executor(name: str, opts: RayOptions, address: str | None):
    return RayExecutor(opts, address) if name == "ray" else LocalExecutor()
