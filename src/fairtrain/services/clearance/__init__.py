"""Dataset clearance: run a training dataset through signed registry snapshots, locally, shard by shard.

``pipeline.py`` (the steps and :func:`~.pipeline.build_pipeline`) → ``shard.py`` (the shard runner) →
``executors/`` (where shards run: ``EXECUTORS``) → ``run.py`` (plan, run, merge: :func:`~.run.clear`).
``readers.py`` reads inputs and writes cleared outputs in their own format; ``records.py`` holds the typed
records that flow through the steps; ``report.py`` the quote and the HTML report.
"""

from __future__ import annotations

from fairtrain.core.errors import InvalidInput


class ClearanceError(InvalidInput):
    """A clearance job that cannot start or go on: names the option or file and the reason."""


__all__ = ["ClearanceError"]
