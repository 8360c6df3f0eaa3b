"""The public log: an append-only RFC 9162 Merkle log of every declaration, snapshot, clearance,
licence, usage report, payment and distribution, with signed tree heads and offline-checkable proofs.

Entries are appended inside the caller's transaction (:func:`append`), so an entry exists exactly when
the thing it records was stored. The log keeps its size and the roots of its perfect subtrees
(``log_state``) so an append costs O(log n) hashes, not a pass over the log.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, insert, select, update

from fairtrain.core.errors import InvalidInput
from fairtrain.core.keys import (
    PublicKey,
    SignatureError,
    SigningKey,
    canonical_json,
    sign_document,
    verify_document,
)
from fairtrain.core.merkle import (
    EMPTY_ROOT,
    MerkleTree,
    frontier_push,
    frontier_root,
    leaf_hash,
    verify_consistency,
    verify_inclusion,
)
from fairtrain.core.store.bulk import bulk_insert_tuples
from fairtrain.core.store.models import LogEntry, LogState, TreeHead

KINDS = frozenset(
    {
        "declaration",
        "import",
        "snapshot",
        "clearance",
        "licence",
        "usage-report",
        "invoice",
        "payment",
        "distribution",
        "summary",
        "dispute",
        "mandate-confirmed",
        "mandate-revoked",
        "mandate-declined",
        "tariff",
        "work-edited",
        "work-holders",
        "work-withdrawn",
    }
)


class LogError(InvalidInput):
    """The log or a proof does not verify; the message names the entry or tree head."""


@dataclass(frozen=True)
class Entry:
    kind: str
    body: dict
    subject: str | None = None


def _state(conn: Connection) -> tuple[int, list[bytes]]:
    q = select(LogState.size, LogState.frontier).where(LogState.id == 1)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()  # one appender at a time; SQLite's write lock does this for us
    else:
        conn.exec_driver_sql("UPDATE log_state SET size = size WHERE id = 1")  # take the write lock first
    row = conn.execute(q).first()
    if row is None:
        conn.execute(insert(LogState).values(id=1, size=0, frontier="[]"))
        return 0, []
    return row.size, [bytes.fromhex(h) for h in json.loads(row.frontier)]


def append(conn: Connection, entries: Iterable[Entry], *, at: datetime | None = None) -> list[int]:
    """Append entries in the caller's transaction; returns their indexes."""
    size, frontier = _state(conn)
    when = (at or datetime.now(UTC)).isoformat()
    rows, out = [], []
    for e in entries:
        if e.kind not in KINDS:
            raise LogError(f"unknown log entry kind {e.kind!r}")
        leaf = canonical_json({"idx": size, "kind": e.kind, "at": when, "body": e.body}).decode()
        h = leaf_hash(leaf.encode())
        rows.append((size, e.kind, leaf, h.hex(), e.subject))
        frontier = frontier_push(frontier, size, h)
        out.append(size)
        size += 1
    bulk_insert_tuples(conn, LogEntry.__table__, ("idx", "kind", "leaf", "leaf_hash", "subject"), rows)
    conn.execute(
        update(LogState).where(LogState.id == 1).values(size=size, frontier=json.dumps([f.hex() for f in frontier]))
    )
    return out


class Log:
    def __init__(self, engine: Engine):
        self.engine = engine

    def size_and_root(self) -> tuple[int, bytes]:
        with self.engine.connect() as c:
            row = c.execute(select(LogState.size, LogState.frontier).where(LogState.id == 1)).first()
        if row is None:
            return 0, EMPTY_ROOT
        return row.size, frontier_root([bytes.fromhex(h) for h in json.loads(row.frontier)])

    def append(self, entries: Iterable[Entry]) -> list[int]:
        with self.engine.begin() as c:
            return append(c, entries)

    def sign_head(self, key: SigningKey) -> dict:
        """Sign the current tree head and keep it; tree heads are what verifiers pin."""
        with self.engine.begin() as c:
            size, frontier = _state(c)
            root = frontier_root(frontier)
            doc = sign_document(
                {
                    "format": "fairtrain-tree-head/1",
                    "size": size,
                    "root": root.hex(),
                    "timestamp": datetime.now(UTC).isoformat(),
                },
                key,
            )
            if c.execute(select(TreeHead.size).where(TreeHead.size == size)).first() is None:
                c.execute(
                    insert(TreeHead).values(
                        size=size, root=root.hex(), signed=json.dumps(doc), created_at=datetime.now(UTC)
                    )
                )
            else:
                doc = json.loads(c.execute(select(TreeHead.signed).where(TreeHead.size == size)).scalar_one())
        return doc

    def summary(self) -> dict:
        """The tree as a reader first sees it: size, root, the newest signed head and how many there are."""
        size, root = self.size_and_root()
        heads = self.heads()
        return {
            "size": size,
            "root": root.hex(),
            "signed_head": heads[-1] if heads else None,
            "signed_heads": len(heads),
        }

    def heads(self) -> list[dict]:
        with self.engine.connect() as c:
            return [json.loads(s) for s in c.execute(select(TreeHead.signed).order_by(TreeHead.size)).scalars()]

    def entries(self, start: int = 0, stop: int | None = None) -> list[dict]:
        q = select(LogEntry.idx, LogEntry.leaf, LogEntry.leaf_hash).where(LogEntry.idx >= start).order_by(LogEntry.idx)
        if stop is not None:
            q = q.where(LogEntry.idx < stop)
        with self.engine.connect() as c:
            return [{"idx": r.idx, "leaf_hash": r.leaf_hash, **json.loads(r.leaf)} for r in c.execute(q)]

    def latest(self, kind: str, limit: int) -> list[dict]:
        """The newest ``limit`` entries of one kind, newest first (an index read, not the whole log)."""
        q = (
            select(LogEntry.idx, LogEntry.leaf, LogEntry.leaf_hash)
            .where(LogEntry.kind == kind)
            .order_by(LogEntry.idx.desc())
            .limit(limit)
        )
        with self.engine.connect() as c:
            return [{"idx": r.idx, "leaf_hash": r.leaf_hash, **json.loads(r.leaf)} for r in c.execute(q)]

    def _leaf_hashes(self, size: int | None = None) -> list[bytes]:
        q = select(LogEntry.leaf).order_by(LogEntry.idx)
        if size is not None:
            q = q.where(LogEntry.idx < size)
        with self.engine.connect() as c:
            return [leaf_hash(leaf.encode()) for leaf in c.execute(q).scalars()]

    def verify(self, trusted: list[PublicKey] | None = None, held: Iterable[dict] = ()) -> dict:
        """Recompute the tree from the stored entries and check it against the signed tree heads the
        verifier already ``held`` (saved when they were signed or published); name what fails.

        The log's own ``log_state`` and ``tree_heads`` are whoever edits the database's to rewrite, so
        they are checked but prove nothing: an entry rewritten together with its leaf hash, the state
        recomputed and the head history deleted is caught only by a head held outside the database, and
        a log with entries but no head to check them against is a failure, not a pass."""
        problems: list[str] = []
        hashes: list[bytes] = []
        with self.engine.connect() as c:
            expected = 0
            for r in c.execution_options(yield_per=10_000).execute(
                select(LogEntry.idx, LogEntry.leaf, LogEntry.leaf_hash).order_by(LogEntry.idx)
            ):
                if r.idx != expected:
                    problems.append(f"entry {expected}: missing (next stored entry is {r.idx})")
                    expected = r.idx
                h = leaf_hash(r.leaf.encode())
                try:
                    stored_idx = json.loads(r.leaf).get("idx")
                except json.JSONDecodeError:
                    stored_idx = None
                if h.hex() != r.leaf_hash:
                    problems.append(f"entry {r.idx}: its content does not match its leaf hash (tampered)")
                elif stored_idx != r.idx:
                    problems.append(f"entry {r.idx}: records index {stored_idx} (moved)")
                hashes.append(h)
                expected += 1
        tree = MerkleTree(hashes)
        size, root = self.size_and_root()
        if size != len(hashes):
            problems.append(f"log state says {size} entries, {len(hashes)} are stored")
        elif root != tree.root():
            problems.append(f"log state root does not match the entries (tree of size {size})")
        stored = self.heads()
        held = list(held)
        good = [h for h in stored + held if _matches(h, tree, trusted)]
        for head in stored:
            if (p := _head_problem(head, tree, trusted, good)) is not None:
                problems.append(f"tree head at size {head.get('size')}: {p}")
        by_size = {h.get("size"): h for h in stored}
        for head in held:
            n = head.get("size")
            if (p := _head_problem(head, tree, trusted, good)) is not None:
                problems.append(f"held tree head at size {n}: {p}")
            if n not in by_size:
                problems.append(f"held tree head at size {n}: missing from the log's head history (tree heads deleted)")
            elif by_size[n].get("root") != head.get("root"):
                problems.append(
                    f"held tree head at size {n}: the log's head at that size has another root (head history rewritten)"
                )
        if hashes and not held:
            problems.append(
                "no signed tree head held to check the entries against: the log's own heads and state "
                "can be rewritten with its entries (pass --head FILE, a head saved from `log sign` or "
                "GET /api/log)"
            )
        if hashes and not stored:
            problems.append(f"the log holds {len(hashes)} entries and no signed tree head (head history missing)")
        covered = max((h["size"] for h in good), default=0)
        return {
            "size": len(hashes),
            "root": tree.root().hex(),
            "tree_heads": len(stored),
            "held_heads": len(held),
            "verified_to": covered,
            "valid": not problems,
            "problems": problems,
        }

    def inclusion_proof(self, idx: int, size: int | None = None) -> dict:
        """A self-contained proof that entry ``idx`` is in the tree signed at ``size`` (default: latest head)."""
        head = self._head(size)
        n = head["size"]
        hashes = self._leaf_hashes(n)
        if not 0 <= idx < n:
            raise LogError(f"entry {idx} is not in the tree head of size {n}")
        entry = self.entries(idx, idx + 1)[0]
        tree = MerkleTree(hashes)
        return {
            "format": "fairtrain-inclusion-proof/1",
            "index": idx,
            "leaf": canonical_json({k: entry[k] for k in ("idx", "kind", "at", "body")}).decode(),
            "path": [p.hex() for p in tree.inclusion_proof(idx, n)],
            "tree_head": head,
        }

    def consistency_proof(self, old: int, new: int | None = None) -> dict:
        head = self._head(new)
        n = head["size"]
        old_head = self._head(old)
        tree = MerkleTree(self._leaf_hashes(n))
        return {
            "format": "fairtrain-consistency-proof/1",
            "old_head": old_head,
            "new_head": head,
            "path": [p.hex() for p in tree.consistency_proof(old, n)] if old < n else [],
        }

    def _head(self, size: int | None) -> dict:
        heads = self.heads()
        if not heads:
            raise LogError("no signed tree head yet: run `fairtrain log sign`")
        if size is None:
            return heads[-1]
        for h in heads:
            if h["size"] == size:
                return h
        raise LogError(f"no signed tree head at size {size} (heads: {', '.join(str(h['size']) for h in heads)})")


def held_heads(doc: object) -> list[dict]:
    """The signed tree heads in a document a verifier saved: one head, a list of them, or what
    ``GET /api/log`` (``signed_head``) and ``log show`` (``latest_head``) print."""
    if isinstance(doc, list):
        return [h for d in doc for h in held_heads(d)]
    if isinstance(doc, dict) and doc.get("format") == "fairtrain-tree-head/1":
        return [doc]
    if isinstance(doc, dict) and isinstance(doc.get("signed_head") or doc.get("latest_head"), dict):
        return held_heads(doc.get("signed_head") or doc.get("latest_head"))
    raise LogError("no fairtrain-tree-head/1 document in it")


def _matches(head: dict, tree: MerkleTree, trusted: list[PublicKey] | None) -> bool:
    """A head signed by a trusted key whose root is the recomputed tree's at its size."""
    try:
        verify_document(head, trusted)
        n = head["size"]
        return isinstance(n, int) and 0 <= n <= len(tree) and tree.root(n).hex() == head["root"]
    except (SignatureError, KeyError, TypeError, ValueError):
        return False


def _head_problem(head: dict, tree: MerkleTree, trusted: list[PublicKey] | None, good: list[dict]) -> str | None:
    """What is wrong with one signed tree head against the recomputed tree, or None."""
    try:
        verify_document(head, trusted)
    except (SignatureError, ValueError) as e:
        return str(e)
    n = head.get("size")
    if not isinstance(n, int) or n < 0:
        return f"malformed size {n!r}"
    if n > len(tree):
        return f"the log holds only {len(tree)} entries (truncated)"
    if tree.root(n).hex() != head.get("root"):
        first = max((h["size"] for h in good if h["size"] < n), default=0)
        where = f"entry {first}" if first == n - 1 else f"entries {first}..{n - 1}"
        return (
            f"root does not match {where} (rewritten after it was signed: an entry edited together with its "
            f"leaf hash, or entries reordered)"
        )
    return None


def verify_proof(proof: dict, trusted: list[PublicKey] | None = None) -> dict:
    """Check an inclusion or consistency proof offline: signature(s) first, then the path."""
    fmt = proof.get("format")
    try:
        if fmt == "fairtrain-inclusion-proof/1":
            head = proof["tree_head"]
            verify_document(head, trusted)
            leaf = proof["leaf"].encode()
            ok = verify_inclusion(
                leaf_hash(leaf),
                proof["index"],
                head["size"],
                [bytes.fromhex(p) for p in proof["path"]],
                bytes.fromhex(head["root"]),
            )
            if not ok or json.loads(leaf).get("idx") != proof["index"]:
                raise LogError(f"entry {proof['index']} is not in the tree head of size {head['size']}")
            return {
                "valid": True,
                "index": proof["index"],
                "size": head["size"],
                "entry": json.loads(leaf),
                "leaf_sha256": hashlib.sha256(leaf).hexdigest(),
            }
        if fmt == "fairtrain-consistency-proof/1":
            old, new = proof["old_head"], proof["new_head"]
            verify_document(old, trusted)
            verify_document(new, trusted)
            if not verify_consistency(
                old["size"],
                new["size"],
                [bytes.fromhex(p) for p in proof["path"]],
                bytes.fromhex(old["root"]),
                bytes.fromhex(new["root"]),
            ):
                raise LogError(f"the tree of size {new['size']} does not extend the tree of size {old['size']}")
            return {"valid": True, "old_size": old["size"], "new_size": new["size"]}
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, LogError | SignatureError):
            raise
        raise LogError(f"malformed proof ({e})") from None
    raise LogError(f"not a fairtrain proof (format {fmt!r})")
