"""Where a snapshot export builds its index segments (``snapshot export --engine``): the clearance
executors' pattern (``services/clearance/executors/``) for the export.

An engine runs one pure function, :func:`~fairtrain.services.registry.snapshot_export.build_export_segment`
(a database URL and a segment's spec in; the segment's files, their hashes and its public rows out), over
the export's segments, ``workers`` at a time, and hands the results back in the order of the specs, so
every engine writes the same bytes. Work starts when :meth:`SegmentEngine.submit` is called (the export
computes the terms meanwhile); a segment's failure comes back as its exception. ``EXPORT_ENGINES`` is the one
table of them, by ``--engine`` name.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import ClassVar

from fairtrain.core.children import die_with_parent
from fairtrain.core.requires import Requirement, Requires


class SegmentEngine(Requires, ABC):
    """Runs a function over segment specs; ``workers``: how many at once; ``address``: the cluster to join,
    for engines that run on one (others ignore it). A context manager: leaving it stops what still runs."""

    name: ClassVar[str]  # the CLI's --engine value
    help: ClassVar[str]

    def __init__(self, workers: int = 1, address: str | None = None):
        self.workers = max(1, workers)
        self.address = address

    @abstractmethod
    def submit(self, fn: Callable[[object], dict], specs: Sequence[object]) -> Iterator[dict]:
        """Start ``fn`` over ``specs`` now; the iterator gives each result in the order of ``specs``."""

    def close(self) -> None:  # noqa: B027 - engines that hold nothing need nothing here
        pass

    def __enter__(self) -> SegmentEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class LocalSegments(SegmentEngine):
    name = "local"
    help = "this machine: worker processes"

    _pool: ProcessPoolExecutor | None = None

    def submit(self, fn, specs):
        self._pool = ProcessPoolExecutor(
            max_workers=min(self.workers, max(1, len(specs))), initializer=die_with_parent, initargs=(os.getpid(),)
        )
        futures = [self._pool.submit(fn, s) for s in specs]
        return (f.result() for f in futures)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RaySegments(SegmentEngine):
    name = "ray"
    help = "Ray tasks, on this machine or a cluster (--address)"
    requires = (Requirement("ray", "pip install 'fairtrain[ray]'  (or: pip install 'ray[data]==2.60.0')"),)

    _started_here = False

    def submit(self, fn, specs):
        import ray

        if not ray.is_initialized():
            ray.init(
                address=self.address,
                include_dashboard=False,
                log_to_driver=False,
                runtime_env={"env_vars": {"PYTHONWARNINGS": "ignore"}},
            )
            self._started_here = True
        task = ray.remote(num_cpus=1, max_retries=0)(fn)
        refs = [task.remote(s) for s in specs[: self.workers]]  # workers at a time: each holds a segment

        def results():
            for i in range(len(specs)):
                done = ray.get(refs[i])
                if len(refs) < len(specs):
                    refs.append(task.remote(specs[len(refs)]))
                refs[i] = None  # the result is ours now; let Ray free it
                yield done

        return results()

    def close(self) -> None:
        if self._started_here:
            import ray

            ray.shutdown()
            self._started_here = False


EXPORT_ENGINES: dict[str, type[SegmentEngine]] = {cls.name: cls for cls in (LocalSegments, RaySegments)}

__all__ = ["EXPORT_ENGINES", "LocalSegments", "RaySegments", "SegmentEngine"]
