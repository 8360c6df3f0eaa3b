"""Executors: where a clearance's shards run. ``EXECUTORS`` is the one table of them, by ``--engine`` name."""

from __future__ import annotations

from fairtrain.services.clearance import ClearanceError
from fairtrain.services.clearance.executors.base import Executor
from fairtrain.services.clearance.executors.local import LocalExecutor
from fairtrain.services.clearance.executors.ray import RayExecutor

EXECUTORS: dict[str, type[Executor]] = {cls.name: cls for cls in (LocalExecutor, RayExecutor)}


def executor_class(name: str) -> type[Executor]:
    """The executor called ``name``; an unknown name is refused, naming those there are."""
    try:
        return EXECUTORS[name]
    except KeyError:
        raise ClearanceError(f"unknown engine {name!r} ({' or '.join(EXECUTORS)})") from None


__all__ = ["EXECUTORS", "Executor", "executor_class"]
