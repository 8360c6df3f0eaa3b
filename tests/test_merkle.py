"""RFC 9162 Merkle trees: roots against the definition, proofs for every index and size, set proofs."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fairtrain.core.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    SortedSet,
    StreamingRoot,
    leaf_hash,
    node_hash,
    verify_consistency,
    verify_inclusion,
    verify_set_proof,
)


def mth(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1, literally."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1 << ((n - 1).bit_length() - 1)
    return node_hash(mth(leaves[:k]), mth(leaves[k:]))


LEAVES = [f"entry {i}".encode() for i in range(70)]


@pytest.mark.parametrize("n", range(0, 70))
def test_root_matches_the_rfc_definition(n):
    t = MerkleTree.of(LEAVES[:n])
    assert t.root() == mth(LEAVES[:n])


@pytest.mark.parametrize("n", range(0, 70))
def test_a_streamed_root_is_the_rfc_root(n):
    s = StreamingRoot()
    for leaf in LEAVES[:n]:
        s.add(leaf)
    assert (s.root, s.size) == (mth(LEAVES[:n]), n)
    assert MerkleTree.of(LEAVES).root(n) == mth(LEAVES[:n])


def test_every_inclusion_proof_verifies_and_a_wrong_one_does_not():
    t = MerkleTree.of(LEAVES)
    for size in (1, 2, 3, 7, 8, 9, 31, 64, 70):
        root = t.root(size)
        for i in range(size):
            proof = t.inclusion_proof(i, size)
            assert verify_inclusion(leaf_hash(LEAVES[i]), i, size, proof, root)
            assert not verify_inclusion(leaf_hash(b"forged"), i, size, proof, root)
            if size > 1:
                assert not verify_inclusion(leaf_hash(LEAVES[i]), (i + 1) % size, size, proof, root)


def test_every_consistency_proof_verifies_and_a_rewritten_history_does_not():
    t = MerkleTree.of(LEAVES)
    forged = MerkleTree.of([b"rewritten"] + LEAVES[1:])
    for new in (1, 2, 5, 8, 13, 32, 70):
        for old in range(1, new + 1):
            proof = t.consistency_proof(old, new)
            assert verify_consistency(old, new, proof, t.root(old), t.root(new))
            if old < new:
                assert not verify_consistency(old, new, proof, forged.root(old), t.root(new))


def test_empty_tree():
    assert MerkleTree.of([]).root() == EMPTY_ROOT


@given(st.sets(st.binary(min_size=1, max_size=8), max_size=40), st.binary(min_size=1, max_size=8))
def test_sorted_set_proves_membership_and_absence(keys, probe):
    s = SortedSet(list(keys))
    proof = s.prove(probe)
    assert proof["included"] == (probe in keys)
    assert verify_set_proof(probe, proof, s.root)
    # the same proof cannot be passed off for another key, nor against another root
    other = SortedSet(list(keys | {b"\xff" * 9}))
    if other.root != s.root:
        assert not verify_set_proof(probe, proof, other.root)
    if proof["included"]:
        flipped = dict(proof, included=False, neighbours=[])
        assert not verify_set_proof(probe, flipped, s.root)
