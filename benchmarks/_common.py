"""What the benchmarks share: the table every ratio benchmark prints."""

from __future__ import annotations

from rich.table import Table


def ratio_table(title: str) -> Table:
    """A figure per row: fairtrain's, the baseline's in the same run, their ratio, the target and whether it is met."""
    return Table("figure", "fairtrain", "baseline", "ratio", "target", "met", title=title)
