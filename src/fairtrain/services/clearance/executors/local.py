"""The local executor: shards in this process, or in worker processes forked after a warm-up batch.

With one worker the shards are cleared here, one after another. With more, the runner matches one batch
first (the snapshot indexes its items need load now), then forks the workers: each inherits the runner,
indexes loaded, and shares their pages copy-on-write instead of building its own copy. The workers take
shard numbers from a queue and send back summaries; a worker's failure comes back as its exception, and a
worker that dies stops the job (the shards done so far are kept: the same command resumes).
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import queue
import traceback
from collections.abc import Sequence
from typing import TYPE_CHECKING

from fairtrain.core.children import die_with_parent
from fairtrain.services.clearance import ClearanceError
from fairtrain.services.clearance.executors.base import Executor, OnShard

if TYPE_CHECKING:  # the shard runner is all an executor runs; it is handed one, never imports one
    from fairtrain.services.clearance.shard import ShardRunner


class LocalExecutor(Executor):
    name = "local"
    help = "this machine: worker processes"

    def run(self, runner: ShardRunner, shards: Sequence[int], on_shard: OnShard | None = None) -> None:
        if self.workers <= 1:
            for n in shards:
                done = runner.run(n)
                if on_shard:
                    on_shard(done)
            return
        if not shards:
            return
        runner.warm_up(shards[0])
        # Where the platform forks, workers inherit what the warm-up loaded; elsewhere each worker builds its own.
        ctx = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else None)
        # Frozen objects are never visited by the workers' cycle collector, so it does not write to (and copy)
        # the pages they share with this process.
        gc.freeze()
        try:
            _run_workers(ctx, runner, list(shards), min(self.workers, len(shards)), on_shard)
        finally:
            gc.unfreeze()


_POLL_S = 0.5


def _run_workers(ctx, runner: ShardRunner, shards: list[int], count: int, on_shard: OnShard | None) -> None:
    tasks, results = ctx.Queue(), ctx.Queue()
    for n in shards:
        tasks.put(n)
    for _ in range(count):
        tasks.put(None)  # one "no more shards" per worker
    procs = [
        ctx.Process(target=_work, args=(runner, tasks, results, os.getpid()), name=f"fairtrain-clear-{i}")
        for i in range(count)
    ]
    for p in procs:
        p.start()
    failed: BaseException | None = None
    finished = False
    try:
        for _ in shards:
            while True:
                try:
                    summary, error = results.get(timeout=_POLL_S)
                    break
                except queue.Empty:
                    if dead := [p for p in procs if p.exitcode not in (None, 0)]:
                        raise ClearanceError(
                            f"worker process {dead[0].name} ended with exit code {dead[0].exitcode} while clearing; "
                            "the shards finished so far are kept: run the same command again to go on"
                        ) from None
            if error is not None:
                failed = failed or pickle.loads(error)  # the first; the other shards still finish, as they would
            elif on_shard:
                on_shard(summary)
        finished = True
    finally:
        tasks.cancel_join_thread()  # shard numbers a stopped worker left unread must not hold up this process
        for p in procs:
            if finished:  # every shard reported: the workers are closing their pipelines and exiting
                p.join(timeout=30)
            if p.is_alive():
                p.terminate()
                p.join()
    if failed is not None:
        raise failed


def _work(runner: ShardRunner, tasks, results, parent_pid: int) -> None:
    """A worker: clears the shards it takes from ``tasks`` with its (inherited) runner until told to stop."""
    die_with_parent(parent_pid)
    try:
        for n in iter(tasks.get, None):
            try:
                results.put((runner.run(n), None))
            except Exception as e:  # noqa: BLE001 - sent to the parent, which raises it
                results.put((None, _portable(e)))
    finally:
        runner.close()


def _portable(e: Exception) -> bytes:
    """``e`` pickled so the parent can raise it, with this process's traceback as a note. An exception that
    does not survive the trip (one whose ``__init__`` takes other arguments) travels as its nearest base
    class that does, so a refusal keeps its branch of the error tree (and its exit code)."""
    note = "in clearance worker process:\n" + "".join(traceback.format_exception(e))
    for cls in type(e).__mro__:
        try:
            back = pickle.loads(pickle.dumps(e if cls is type(e) else cls(str(e))))
        except Exception:  # noqa: BLE001, S112 - try the next base class
            continue
        back.add_note(note)
        return pickle.dumps(back)
    return pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))


__all__ = ["LocalExecutor"]
