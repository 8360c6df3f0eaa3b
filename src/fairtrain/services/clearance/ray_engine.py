"""The Ray engine: the same shard runner and pipeline steps, on Ray Data actors.

Each actor builds the pipeline once and holds the snapshot indexes it loads and clears whole input
shards, so there is still one output shard per input shard and resumption works exactly as locally.
Locally ``ray.init()`` starts a one-machine cluster; on a cluster pass ``--address`` (see README).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fairtrain.services.clearance.pipeline import ClearanceConfig

INSTALL = "pip install 'fairtrain[ray]'  (or: pip install 'ray[data]==2.60.0')"


def _ray():
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RuntimeError(f"the ray engine needs Ray Data: {INSTALL}") from None
    return ray


class _ShardActor:
    """A Ray Data actor: builds the pipeline once, then clears the shards it is given."""

    def __init__(self, input_path: str, fmt: str | None, out: str, config: ClearanceConfig, batch_size: int):
        from fairtrain.services.clearance.run import _input, _steps

        self.args = (input_path, fmt, out, config, batch_size)
        _steps(config)  # once per actor; each index loads when its modality's first item arrives
        _input(input_path, fmt, fresh=True)  # a reused Ray worker process may hold another job's listing

    def __call__(self, batch: dict) -> dict:
        from fairtrain.services.clearance.run import run_shard

        input_path, fmt, out, config, batch_size = self.args
        items = [run_shard(input_path, fmt, int(n), out, config, batch_size)["items"] for n in batch["n"]]
        return {"n": batch["n"], "items": items}


def run_ray(input_path: Path, out: Path, config: ClearanceConfig, job: dict, *, fmt: str | None, workers: int,
            batch_size: int, address: str | None = None, on_shard: Callable[[dict], None] | None = None) -> None:
    from fairtrain.services.clearance.run import pending_shards

    ray = _ray()
    todo = pending_shards(out, job)
    if not todo:
        return
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}})
    try:
        ds = ray.data.from_items([{"n": n} for n in todo], override_num_blocks=len(todo))
        done = ds.map_batches(
            _ShardActor, batch_size=1, concurrency=max(1, min(workers, len(todo))), num_cpus=1,
            fn_constructor_args=(str(input_path), fmt, str(out), config, batch_size))
        for row in done.iter_rows():
            if on_shard:
                on_shard({"n": int(row["n"]), "items": int(row["items"])})
    finally:
        if started_here:
            ray.shutdown()
