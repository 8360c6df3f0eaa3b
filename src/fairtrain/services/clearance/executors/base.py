"""What an executor is: something that runs a shard runner over a job's pending shards (datatrove's
``PipelineExecutor``).

An executor gets a :class:`~fairtrain.services.clearance.shard.ShardRunner` and the shards still to do,
and calls ``runner.run(n)`` for each once, somewhere: in this process, in forked workers, on Ray actors.
Every shard's outputs are the runner's, so every executor writes the same bytes, and a job an executor
left half done is resumed by any other. ``on_shard`` gets each finished shard's summary, in the order they
finish. ``requires`` names the optional packages it needs; constructing it without them raises
``ToolMissing`` with the ``pip install`` line, before anything is written.

A new executor is a module here and one entry in ``EXECUTORS`` (``executors/__init__.py``); the CLI's
``--engine`` and :func:`~fairtrain.services.clearance.run.clear` read that table.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, ClassVar

from fairtrain.core.requires import Requires

if TYPE_CHECKING:  # the shard runner is all an executor runs; it is handed one, never imports one
    from fairtrain.services.clearance.shard import ShardRunner

OnShard = Callable[[dict], None]


class Executor(Requires, ABC):
    """Runs a shard runner over shards. ``workers``: how many shards at once; ``address``: the cluster to
    join, for executors that run on one (others ignore it)."""

    name: ClassVar[str]  # the CLI's --engine value
    help: ClassVar[str]  # a few words for --engine's help

    def __init__(self, workers: int = 1, address: str | None = None):
        self.workers = max(1, workers)
        self.address = address

    @abstractmethod
    def run(self, runner: ShardRunner, shards: Sequence[int], on_shard: OnShard | None = None) -> None:
        """Clear each of ``shards`` with ``runner`` (or a copy of it per worker); return when all are done."""


__all__ = ["Executor", "OnShard"]
