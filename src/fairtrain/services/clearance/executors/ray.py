"""The Ray executor: the same shard runner on Ray Data actors.

Each actor gets a copy of the runner (it pickles as what it was built from), builds the pipeline once,
holds the snapshot indexes it loads and clears whole input shards, so there is still one output shard per
input shard and resumption works exactly as locally. Locally ``ray.init()`` starts a one-machine cluster;
on a cluster pass ``--address`` (see README).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from fairtrain.core.requires import Requirement
from fairtrain.services.clearance.executors.base import Executor, OnShard

if TYPE_CHECKING:  # the shard runner is all an executor runs; it is handed one, never imports one
    from fairtrain.services.clearance.shard import ShardRunner


class _ShardActor:
    """A Ray Data actor: builds its runner's pipeline once, then clears the shards it is given."""

    def __init__(self, runner: ShardRunner):
        self.runner = runner
        runner.pipeline  # noqa: B018 - once per actor; each index loads when its modality's first item arrives

    def __call__(self, batch: dict) -> dict:
        return {"n": batch["n"], "items": [self.runner.run(int(n))["items"] for n in batch["n"]]}


class RayExecutor(Executor):
    name = "ray"
    help = "Ray Data actors, on this machine or a cluster (--address)"
    requires = (Requirement("ray.data", "pip install 'fairtrain[ray]'  (or: pip install 'ray[data]==2.60.0')"),)

    def run(self, runner: ShardRunner, shards: Sequence[int], on_shard: OnShard | None = None) -> None:
        import ray
        import ray.data

        if not shards:
            return
        started_here = not ray.is_initialized()
        if started_here:
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}},
            )
        try:
            ds = ray.data.from_items([{"n": n} for n in shards], override_num_blocks=len(shards))
            done = ds.map_batches(
                _ShardActor,
                batch_size=1,
                concurrency=max(1, min(self.workers, len(shards))),
                num_cpus=1,
                fn_constructor_args=(runner,),
            )
            for row in done.iter_rows():
                if on_shard:
                    on_shard({"n": int(row["n"]), "items": int(row["items"])})
        finally:
            if started_here:
                ray.shutdown()


__all__ = ["RayExecutor"]
