"""Largest remainder (Hamilton) splits: one at a time in Python, and many groups at once in numpy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["hamilton_grouped", "largest_remainder"]


def largest_remainder(total: int, weights: Sequence[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (Hamilton). Ties go to the earlier position."""
    if total < 0 or any(w < 0 for w in weights):
        raise ValueError("largest remainder needs a non-negative total and weights")
    denom = sum(weights)
    if denom == 0:
        if total:
            raise ValueError(f"cannot split {total} by weights that are all zero")
        return [0] * len(weights)
    parts, rems = zip(*(divmod(total * w, denom) for w in weights)) if weights else ((), ())
    parts = list(parts)
    short = total - sum(parts)
    for i in sorted(range(len(weights)), key=lambda i: -rems[i])[:short]:
        parts[i] += 1
    return parts


def hamilton_grouped(totals: np.ndarray, weights: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Largest remainder in every group at once.

    Rows are sorted by group and, inside a group, in tie-break order; every group has a row.
    Denominators (group sums of weights) and totals are below 2**62 (checked by the caller); only the
    product ``total * weight`` can exceed int64, and then it is taken in Python integers.
    """
    n = len(weights)
    counts = np.bincount(group, minlength=len(totals))
    starts = np.zeros(len(totals), dtype=np.int64)
    np.cumsum(counts[:-1], out=starts[1:])
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    denom = np.add.reduceat(weights, starts)
    if ((denom == 0) & (totals != 0)).any():
        raise ValueError("money assigned to a group whose weights are all zero")
    denom = np.where(denom == 0, 1, denom)
    t = totals[group]
    if int(t.max()) * int(weights.max()) < 2**63:
        floors, rems = np.divmod(t * weights, denom[group])
    else:
        prod = t.astype(object) * weights.astype(object)
        d = denom[group].astype(object)
        floors, rems = (prod // d).astype(np.int64), (prod % d).astype(np.int64)
    short = totals - np.add.reduceat(floors, starts)
    order = np.lexsort((np.arange(n), -rems, group))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - starts[group[order]]
    return floors + (rank < short[group])
