"""Public log benchmark: appends/s (single entries and batches, SQLite), inclusion proofs verified/s.

Targets (issue "Licences … and a verifiable log"): append >= 5,000 entries/s; proof verification
>= 10,000/s. Baseline, same run: an append that recomputes the root over all leaves (no compact range).

    .venv/bin/python benchmarks/log.py [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _common import ratio_table
from rich.console import Console

from fairtrain.core.keys import SigningKey
from fairtrain.core.merkle import MerkleTree, leaf_hash, verify_inclusion
from fairtrain.core.store.db import migrate, open_engine
from fairtrain.services.log import Entry, Log


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as tmp:
        engine = open_engine(f"sqlite:///{Path(tmp) / 'log.sqlite3'}")
        migrate(engine)
        log = Log(engine)
        body = {"model": "bench-model", "version": "1.0", "licence": 42, "tokens": 123456, "works": [1, 2, 3]}
        t0 = time.perf_counter()
        for i in range(0, n, 500):
            log.append([Entry("usage-report", {**body, "n": j}) for j in range(i, min(n, i + 500))])
        batch_rate = n / (time.perf_counter() - t0)
        single_n = 2_000
        t0 = time.perf_counter()
        for j in range(single_n):
            log.append([Entry("payment", {**body, "n": j})])
        single_rate = single_n / (time.perf_counter() - t0)
        key = SigningKey.generate()
        t0 = time.perf_counter()
        log.sign_head(key)
        sign_s = time.perf_counter() - t0

        leaves = [f"leaf {i}".encode() for i in range(n)]
        tree = MerkleTree.of(leaves)
        root = tree.root()
        proofs = [(i, tree.inclusion_proof(i)) for i in range(0, n, max(1, n // 20_000))]
        t0 = time.perf_counter()
        assert all(verify_inclusion(leaf_hash(leaves[i]), i, n, p, root) for i, p in proofs)
        verify_rate = len(proofs) / (time.perf_counter() - t0)

        base_n = 2_000
        hashes: list[bytes] = []
        t0 = time.perf_counter()
        for j in range(base_n):
            hashes.append(leaf_hash(f"entry {j}".encode()))
            MerkleTree(hashes).root()
        naive_rate = base_n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        result = log.verify([key.public], log.heads())  # the benchmark holds every head it signed
        verify_all_s = time.perf_counter() - t0
        assert result["valid"], result["problems"]

    t = ratio_table(f"public log benchmark (SQLite, {n:,} entries)")
    t.add_row(
        "append, entries/s (batches of 500)",
        f"{batch_rate:,.0f}",
        f"{naive_rate:,.0f} (root recomputed, 2k entries)",
        f"{batch_rate / naive_rate:.0f}×",
        "5,000",
        "yes" if batch_rate >= 5000 else "NO",
    )
    t.add_row("append, entries/s (one per transaction)", f"{single_rate:,.0f}", "", "", "", "")
    t.add_row(
        "inclusion proofs verified/s", f"{verify_rate:,.0f}", "", "", "10,000", "yes" if verify_rate >= 10_000 else "NO"
    )
    t.add_row("sign a tree head, ms", f"{sign_s * 1000:.1f}", "", "", "", "")
    t.add_row(f"verify the whole log ({n + single_n:,} entries), s", f"{verify_all_s:.1f}", "", "", "", "")
    Console().print(t)


if __name__ == "__main__":
    main()
