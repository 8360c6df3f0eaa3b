"""Bucket directories over sorted uint64 keys: a lookup whose cost does not grow with the number of keys.

A binary search over a sorted array of N keys touches about log2(N) cache lines, and in a memory-mapped
index of millions of keys most of them are also a TLB miss or a page fault: per item, matching got slower
as the registry grew (issue 17: the text index alone ×0.37 from 10⁴ to 2×10⁵ works). A directory of
``2**bits`` offsets, one per value of the keys' top ``bits`` bits (``offsets[j]`` = the number of keys whose
top bits are below ``j``), sends each needle straight to the short run of keys sharing its top bits; the
run is then bisected. ``bits`` is chosen so that a run holds ``LOAD`` to ``2 * LOAD`` keys on average (a
cache line or two of uint64), so a lookup reads the directory once and one small run, whatever N.

Hashes that are winnowing minima lean towards small values (the minimum of 16 uniform hashes is below
1/16 of the range 64 % of the time), so the low runs are longer than the average; a run is bisected, not
scanned, so a long run costs a few more steps, never a scan. The answers are those of ``np.searchsorted``.
"""

from __future__ import annotations

import numpy as np

LOAD = 4  # keys per bucket, on average at least (below 2 * LOAD)


def bucket_bits(n_keys: int) -> int:
    """Top bits a directory over ``n_keys`` keys uses: ``n_keys / 2**bits`` in [LOAD, 2 * LOAD) (at least 0)."""
    return max(0, (n_keys // (2 * LOAD)).bit_length())


def offset_type(n_keys: int):
    """uint32 offsets below 2**32 keys, else uint64."""
    return np.uint32 if n_keys < 2**32 else np.uint64


def directory(sorted_keys: np.ndarray, bits: int | None = None) -> np.ndarray:
    """The ``2**bits + 1`` offsets of ``sorted_keys`` (uint64, ascending) by their top ``bits`` bits:
    ``offsets[j]`` is the index of the first key whose top bits are ``j`` or more (uint32 below 2**32 keys)."""
    n = len(sorted_keys)
    bits = bucket_bits(n) if bits is None else bits
    counts = np.bincount(top_bits(sorted_keys, bits), minlength=1 << bits) if n else np.zeros(1 << bits, np.int64)
    out = np.zeros((1 << bits) + 1, dtype=offset_type(n))
    np.cumsum(counts, out=out[1:])
    return out


def directory_part(sorted_part: np.ndarray, first: int, bits: int, lo: int, hi: int) -> np.ndarray:
    """``offsets[lo:hi]`` of a sorted key table of which ``sorted_part`` is the slice starting at index
    ``first``, holding every key with top bits in ``[lo, hi)`` and none above (keys below ``lo`` may lead it):
    a large table's directory written a key range at a time (the merged routing table), in memory of the
    buckets' size, not the keys'."""
    if hi <= lo:
        return np.empty(0, np.int64)
    starts = np.arange(lo, hi, dtype=np.uint64)
    if bits:
        starts <<= np.uint64(64 - bits)  # each bucket's first value
    else:
        starts[:] = 0
    at = np.searchsorted(sorted_part, starts, "left")
    del starts
    at += first
    return at


def top_bits(keys: np.ndarray, bits: int) -> np.ndarray:
    if bits == 0:
        return np.zeros(len(keys), dtype=np.intp)
    return (np.asarray(keys, dtype=np.uint64) >> np.uint64(64 - bits)).astype(np.intp)


def bits_of(offsets: np.ndarray) -> int:
    """The ``bits`` a directory was built with (its length is ``2**bits + 1``)."""
    return (len(offsets) - 1).bit_length() - 1


def find(keys: np.ndarray, offsets: np.ndarray | None, needles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each needle, ``(left, right)``: the range of ``keys`` equal to it, as ``np.searchsorted(keys,
    needles, "left")`` and ``"right"`` give it where the needle is present (``left == right`` where it is
    absent, at a position inside its bucket, not necessarily searchsorted's). Without a directory (an index
    saved before there were any), by binary search over the whole array."""
    if offsets is None:
        return np.searchsorted(keys, needles, "left"), np.searchsorted(keys, needles, "right")
    j = top_bits(needles, bits_of(offsets))
    lo = offsets[j].astype(np.intp)
    hi = offsets[j + 1].astype(np.intp)
    left = _bisect(keys, needles, lo, hi, right=False)
    found = np.flatnonzero(left < hi)
    found = found[keys[left[found]] == needles[found]]
    right = left.copy()
    if len(found):
        right[found] = _run_end(keys, needles[found], left[found] + 1, hi[found])
    return left, right


_STEPS = 3  # a key is mostly held once or twice: step over that many equal keys before bisecting the rest


def _run_end(keys: np.ndarray, needles: np.ndarray, at: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """The end of each needle's run of equal keys starting before ``at`` (within ``[at, hi)``)."""
    at = at.copy()
    going = np.arange(len(at))
    for _ in range(_STEPS):
        going = going[at[going] < hi[going]]
        going = going[keys[at[going]] == needles[going]]
        if not len(going):
            return at
        at[going] += 1
    # a long run (a band key of many near-identical works, a key in many segments): bisect the rest
    at[going] = _bisect(keys, needles[going], at[going], hi[going], right=True)
    return at


def _bisect(keys: np.ndarray, needles: np.ndarray, lo: np.ndarray, hi: np.ndarray, *, right: bool) -> np.ndarray:
    """Vectorised bisection of each needle within its own ``[lo, hi)`` of ``keys``: the first index there
    whose key is not below the needle (``right``: not at or below it)."""
    if not len(lo):
        return lo
    steps = int((hi - lo).max()).bit_length()  # enough halvings for the longest range
    last = len(keys) - 1
    for _ in range(steps):
        mid = (lo + hi) >> 1
        k = keys[np.minimum(mid, last)]  # where lo == hi (done) mid may be past the end: read, then ignored
        go = (k <= needles) if right else (k < needles)
        go &= lo < hi
        lo = np.where(go, mid + 1, lo)
        hi = np.where(go, hi, mid)
    return lo
