"""Merkle trees as RFC 9162 (Certificate Transparency 2.0) defines them: hashes, inclusion and consistency proofs.

Used by the public log (append-only, signed tree heads) and by clearance manifests (a tree over the
sorted fingerprints of the cleared items, so both inclusion and non-inclusion can be proven).
SHA-256 throughout; leaf hash = H(0x00 || data), node hash = H(0x01 || left || right).
"""

from __future__ import annotations

import hashlib
from bisect import bisect_left
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than n (RFC 9162 §2.1.1's k)."""
    return 1 << ((n - 1).bit_length() - 1)


class MerkleTree:
    """A tree over leaf hashes, with every level kept so proofs cost O(log n)."""

    def __init__(self, leaf_hashes: Sequence[bytes]):
        self.levels: list[list[bytes]] = [list(leaf_hashes)]
        while len(self.levels[-1]) > 1:
            prev = self.levels[-1]
            nxt = [node_hash(prev[i], prev[i + 1]) for i in range(0, len(prev) - 1, 2)]
            if len(prev) % 2:
                nxt.append(prev[-1])  # an unpaired right node is promoted, as RFC 9162's split does
            self.levels.append(nxt)

    @classmethod
    def of(cls, leaves: Sequence[bytes]) -> MerkleTree:
        return cls([leaf_hash(x) for x in leaves])

    def __len__(self) -> int:
        return len(self.levels[0])

    def root(self, size: int | None = None) -> bytes:
        """MTH of the first ``size`` leaves (default all)."""
        n = len(self) if size is None else size
        if n == 0:
            return EMPTY_ROOT
        return self._subtree(0, n)

    def _subtree(self, start: int, n: int) -> bytes:
        # A subtree aligned on a power of two is stored at its level; otherwise split as the RFC does.
        if n & (n - 1) == 0 and start % n == 0:
            return self.levels[n.bit_length() - 1][start // n]
        k = _split(n)
        return node_hash(self._subtree(start, k), self._subtree(start + k, n - k))

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        n = len(self) if size is None else size
        if not 0 <= index < n <= len(self):
            raise IndexError(f"leaf {index} is not in a tree of size {n}")
        return self._path(index, 0, n)

    def _path(self, m: int, start: int, n: int) -> list[bytes]:
        if n == 1:
            return []
        k = _split(n)
        if m < k:
            return self._path(m, start, k) + [self._subtree(start + k, n - k)]
        return self._path(m - k, start + k, n - k) + [self._subtree(start, k)]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        n = len(self) if new_size is None else new_size
        if not 0 < old_size <= n <= len(self):
            raise IndexError(f"no consistency proof from size {old_size} to {n}")
        return self._subproof(old_size, 0, n, True)

    def _subproof(self, m: int, start: int, n: int, complete: bool) -> list[bytes]:
        if m == n:
            return [] if complete else [self._subtree(start, n)]
        k = _split(n)
        if m <= k:
            return self._subproof(m, start, k, complete) + [self._subtree(start + k, n - k)]
        return self._subproof(m - k, start + k, n - k, False) + [self._subtree(start, k)]


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` put leaf hash ``leaf`` at ``index`` of a tree with ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(old_size: int, new_size: int, proof: Sequence[bytes], old_root: bytes, new_root: bytes) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of ``new_root`` an append-only extension of ``old_root``'s?"""
    if old_size == new_size:
        return not proof and old_root == new_root
    if not 0 < old_size < new_size or not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == old_root and sr == new_root


def frontier_push(frontier: list[bytes], size: int, h: bytes) -> list[bytes]:
    """Append leaf hash ``h`` to a tree of ``size`` leaves, kept as its perfect subtrees (the frontier,
    largest first): equal subtrees merge like a binary counter, so the frontier has O(log n) hashes."""
    frontier = frontier + [h]
    n = size
    while n & 1:
        right = frontier.pop()
        left = frontier.pop()
        frontier.append(node_hash(left, right))
        n >>= 1
    return frontier


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """RFC 9162 root from the perfect subtrees, largest first: MTH = node(h0, node(h1, …))."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for h in reversed(frontier[:-1]):
        root = node_hash(h, root)
    return root


class StreamingRoot:
    """The root of a tree whose leaves arrive one at a time, in O(log n) memory: what a set too large
    to hold (the cleared items of a large clearance) is committed to as it streams past."""

    def __init__(self) -> None:
        self.size = 0
        self._frontier: list[bytes] = []

    def add(self, data: bytes) -> None:
        self._frontier = frontier_push(self._frontier, self.size, leaf_hash(data))
        self.size += 1

    @property
    def root(self) -> bytes:
        return frontier_root(self._frontier)


class SortedSet:
    """A Merkle tree over sorted, distinct keys: proves that a key is in the set, or that it is not.

    Absence is proven by the inclusion of the two neighbours the key would sit between (or the one
    neighbour at either end), which are adjacent in the tree.
    """

    def __init__(self, keys: Sequence[bytes]):
        self.keys = sorted(set(keys))
        self.tree = MerkleTree.of(self.keys)

    @property
    def root(self) -> bytes:
        return self.tree.root()

    def prove(self, key: bytes) -> dict:
        n = len(self.keys)
        i = bisect_left(self.keys, key)
        if i < n and self.keys[i] == key:
            return {"included": True, "size": n, "index": i, "path": [p.hex() for p in self.tree.inclusion_proof(i)]}
        neighbours = []
        for j in (i - 1, i):
            if 0 <= j < n:
                neighbours.append(
                    {"index": j, "key": self.keys[j].hex(), "path": [p.hex() for p in self.tree.inclusion_proof(j)]}
                )
        return {"included": False, "size": n, "neighbours": neighbours}


def verify_set_proof(key: bytes, proof: dict, root: bytes) -> bool:
    """Check a :meth:`SortedSet.prove` answer against a published root."""
    n = proof["size"]
    if proof["included"]:
        return verify_inclusion(leaf_hash(key), proof["index"], n, [bytes.fromhex(p) for p in proof["path"]], root)
    if n == 0:
        return root == EMPTY_ROOT and not proof["neighbours"]
    nb = proof["neighbours"]
    for x in nb:
        if not verify_inclusion(
            leaf_hash(bytes.fromhex(x["key"])), x["index"], n, [bytes.fromhex(p) for p in x["path"]], root
        ):
            return False
    idx = [x["index"] for x in nb]
    ks = [bytes.fromhex(x["key"]) for x in nb]
    if len(nb) == 2:
        return idx[1] == idx[0] + 1 and ks[0] < key < ks[1]
    if len(nb) == 1:
        return (idx[0] == 0 and key < ks[0]) or (idx[0] == n - 1 and ks[0] < key)
    return False
