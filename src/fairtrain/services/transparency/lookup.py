""""Was my work used?": for every clearance manifest published in the log, included or not, with proofs.

A work is identified by content (the file is fingerprinted here and matched against the snapshots the
manifests cite, or a given snapshot; the file is never stored) or by its registry id. A clearance
manifest commits to two sorted Merkle sets: ``cleared_works`` (``<snapshot_id>:<work_id>`` of every
work matched in a cleared item) and ``cleared_items`` (xxh3-128 of every cleared item's bytes). The
manifest itself sits in the public log, so its roots are as trustworthy as the signed tree head.

Where the leaves come from: a clearance directory (``OUT`` of ``fairtrain clear``) publishes
``leaves-works.parquet`` and ``leaves-items.parquet`` beside ``manifest.json``. The lookup is given such
directories (``--clearance OUT``, repeatable); a directory counts for a logged manifest only when its
manifest is byte-for-byte the logged one (same signature) and its leaves rebuild the logged root, so a
swapped or edited directory is refused rather than believed. A logged manifest without its leaves is
reported as ``"leaves": "missing"``: the root alone cannot say whether a work is in it.

Every answer carries a proof file (:func:`membership_proof`): the log's inclusion proof of the
clearance entry under a signed tree head (what ``fairtrain log verify --proof`` checks) plus the
sorted-set proof of the key against the root in that entry (what :func:`verify_membership_proof`
checks as well). Both are checkable offline with the log's public key.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow.parquet as pq
import xxhash

from fairtrain.core import csvcells
from fairtrain.core.errors import InvalidInput
from fairtrain.core.files import atomic_file
from fairtrain.core.keys import PublicKey, SignatureError
from fairtrain.core.merkle import SortedSet, verify_set_proof

__all__ = ["WorkLookupError", "PublishedClearance", "WorkLookup", "membership_proof", "repertoire_works",
           "verify_membership_proof", "write_repertoire_csv"]

SETS = {"cleared_works": "leaves-works.parquet", "cleared_items": "leaves-items.parquet"}


class WorkLookupError(InvalidInput):
    """A lookup cannot answer: names the item or the manifest and the reason."""


@dataclass
class PublishedClearance:
    """One clearance manifest from the log, with its leaves when a matching clearance directory is known."""

    log_index: int
    manifest: dict
    out_dir: Path | None = None
    leaves_status: str = "missing"  # "available" | "missing" | "root mismatch"
    sets: dict[str, SortedSet] = field(default_factory=dict)
    models: list[str] = field(default_factory=list)
    _decisions: dict[int, dict] | None = None

    @property
    def licensee(self) -> str:
        return self.manifest.get("licensee", "")

    @property
    def snapshot_ids(self) -> list[str]:
        return [s["snapshot_id"] for s in self.manifest.get("snapshots", [])]

    def coverage(self, work_id: int) -> dict:
        """Why the work passed this clearance: its own terms allowed it, or a licence granted to the licensee.

        Read from the clearance's decisions.parquet (the manifest signs its SHA-256, checked on load)."""
        if self._decisions is None:
            self._decisions = {}
            path = self.out_dir / "decisions.parquet" if self.out_dir is not None else None
            if path is not None and hashlib.sha256(path.read_bytes()).hexdigest() != self.manifest.get(
                    "decisions_sha256"):
                raise WorkLookupError(f"{path}: not the decisions the clearance at log entry {self.log_index} signed")
            if path is not None:
                t = pq.read_table(self.out_dir / "decisions.parquet",
                                  columns=["work_ids", "passes", "decision", "reasons"]).to_pylist()
                for row in t:
                    for w in row["work_ids"] or []:
                        d = self._decisions.setdefault(w, {"passed_items": 0, "excluded_items": 0, "why": set()})
                        d["passed_items" if row["passes"] else "excluded_items"] += 1
                        for r in json.loads(row["reasons"] or "[]"):
                            if r.get("granted"):
                                d["why"].add("licence")
        d = self._decisions.get(work_id)
        if d is None:
            return {"licence": None, "passed_items": 0, "excluded_items": 0}
        licence = ("licence granted to " + self.licensee) if "licence" in d["why"] else (
            "not needed: the work's terms allow this use" if d["passed_items"] else None)
        return {"licence": licence, "passed_items": d["passed_items"], "excluded_items": d["excluded_items"]}


def _load_sets(out: Path, manifest: dict) -> tuple[str, dict[str, SortedSet]]:
    sets: dict[str, SortedSet] = {}
    for name, leaves in SETS.items():
        path = out / leaves
        if not path.exists():
            return "missing", {}
        col = pq.read_table(path, columns=["leaf"]).column("leaf").to_pylist()
        keys = [bytes.fromhex(x) for x in col] if name == "cleared_items" else [x.encode() for x in col]
        s = SortedSet(keys)
        if s.root.hex() != manifest[name]["root"]:
            return "root mismatch", {}
        sets[name] = s
    return "available", sets


class WorkLookup:
    """Answers "was this work used?" against every clearance in the log."""

    def __init__(self, log, clearance_dirs: Iterable[Path] = (), trusted: list[PublicKey] | None = None):
        self.log = log
        self.trusted = trusted
        by_sig: dict[str, Path] = {}
        for d in clearance_dirs:
            d = Path(d)
            try:
                doc = json.loads((d / "manifest.json").read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError) as e:
                raise WorkLookupError(f"{d}: not a clearance directory ({e})") from None
            by_sig[doc.get("signature", {}).get("value", "")] = d
        self.clearances: list[PublishedClearance] = []
        usage: list[dict] = []
        summaries: list[dict] = []
        self.payments: list[dict] = []
        for e in log.entries():
            if e["kind"] == "clearance":
                m = e["body"]["manifest"]
                pc = PublishedClearance(e["idx"], m)
                out = by_sig.get(m.get("signature", {}).get("value", ""))
                if out is not None:
                    pc.out_dir = out
                    pc.leaves_status, pc.sets = _load_sets(out, m)
                self.clearances.append(pc)
            elif e["kind"] == "usage-report":
                usage.append(e["body"])
            elif e["kind"] == "payment":
                self.payments.append(e["body"])
            elif e["kind"] == "summary":
                summaries.append(e["body"])
        for pc in self.clearances:
            # the models the log names for this clearance: usage reports, and published model summaries that
            # cite it; none is none (the licensee is the developer, not a model, and has its own column)
            job = pc.manifest.get("job_id")
            models = {str(u["model"]) for u in usage if u.get("model") and (
                u.get("job_id") == job or (u.get("job_id") is None and u.get("licensee") == pc.licensee))}
            models |= {" ".join(str(x) for x in (s["model"], s.get("version")) if x) for s in summaries
                       if s.get("model") and any(c.get("job_id") == job for c in s.get("clearances", []))}
            pc.models = sorted(models)

    # -- identification --------------------------------------------------------------------------------
    def identify(self, name: str, data: bytes, matchers: Sequence = ()) -> dict:
        """Fingerprint ``data`` in memory and find the registered works it is, per snapshot.

        ``matchers``: SnapshotMatchers to use besides those of the snapshots the manifests cite (which are
        opened from the paths the manifests record, when those still exist and verify)."""
        from fairtrain.core.matcher import SnapshotMatcher
        from fairtrain.core.snapshot import SnapshotError

        if not data:
            raise WorkLookupError(f"{name}: empty file")
        pool = list(matchers)
        for path in self.snapshot_paths():
            try:
                pool.append(SnapshotMatcher.open(path, self.trusted))
            except SnapshotError:
                continue  # a moved or altered snapshot: the works cannot be recognised through it
        return _identify(name, data, pool)

    def snapshot_paths(self) -> list[Path]:
        """The snapshot directories the published manifests cite that still exist here."""
        out: dict[str, Path] = {}
        for pc in self.clearances:
            for s in pc.manifest.get("snapshots", []):
                if s["snapshot_id"] not in out and Path(s.get("path", "")).is_dir():
                    out[s["snapshot_id"]] = Path(s["path"])
        return list(out.values())

    # -- answers -------------------------------------------------------------------------------------
    def answer(self, work_ids: dict[str, list] | list[int], content_hash: str | None = None) -> list[dict]:
        """For each published clearance: which of the works (and the exact file) it includes, with proofs.

        ``work_ids``: per snapshot id (``identify()["works"]``: ids or match dicts), or plain registry ids (then every snapshot a
        manifest cites is tried, as the ids are this registry's)."""
        answers = []
        for pc in self.clearances:
            keys: list[tuple[int, str]] = []
            if isinstance(work_ids, dict):
                keys = [(w, f"{sid}:{w}") for sid in pc.snapshot_ids
                        for w in sorted({x["work_id"] if isinstance(x, dict) else x for x in work_ids.get(sid, [])})]
            else:
                keys = [(w, f"{sid}:{w}") for sid in pc.snapshot_ids for w in work_ids]
            a = {"log_index": pc.log_index, "licensee": pc.licensee, "purpose": pc.manifest.get("purpose"),
                 "mode": pc.manifest.get("mode"), "job_id": pc.manifest.get("job_id"), "models": pc.models,
                 "leaves": pc.leaves_status, "included": None, "works": [], "file": None}
            if pc.leaves_status == "available":
                for w, key in keys:
                    proof = pc.sets["cleared_works"].prove(key.encode())
                    entry = {"work_id": w, "key": key, "included": proof["included"], "set_proof": proof}
                    if proof["included"]:
                        entry["coverage"] = pc.coverage(w)
                        entry["paid"] = self._paid(pc, key)
                    a["works"].append(entry)
                if content_hash:
                    proof = pc.sets["cleared_items"].prove(bytes.fromhex(content_hash))
                    a["file"] = {"key": content_hash, "included": proof["included"], "set_proof": proof}
                a["included"] = any(x["included"] for x in a["works"]) or bool(a["file"] and a["file"]["included"])
            answers.append(a)
        return answers

    def _paid(self, pc: PublishedClearance, key: str) -> bool | None:
        """Whether a logged payment for this clearance names the work; None when no payment concerns it.

        A payment entry names its clearance (``job_id``) or licensee and the works it pays for
        (``works``: ``[{"snapshot", "work_id"}]``); other payment shapes are not read."""
        mine = [p for p in self.payments if p.get("job_id") == pc.manifest.get("job_id") or
                (p.get("job_id") is None and p.get("licensee") == pc.licensee)]
        if not mine:
            return None
        return any(f"{w.get('snapshot')}:{w.get('work_id')}" == key for p in mine for w in p.get("works", [])
                   if isinstance(w, dict))

    def repertoire_usage(self, works: Sequence[dict]) -> list[dict]:
        """Rows of every repertoire work included in a published clearance, one per (work, clearance, model).

        ``works``: dicts with at least ``id`` (and ``title``, ``work_ref`` for the CSV)."""
        rows = []
        ids = [w["id"] for w in works]
        by_id = {w["id"]: w for w in works}
        for a in self.answer(ids):
            for x in a["works"]:
                if not x["included"]:
                    continue
                w = by_id[x["work_id"]]
                cov = x.get("coverage", {})
                for model in a["models"] or [""]:  # a row even where the log names no model
                    rows.append({"work_id": w["id"], "work_ref": w.get("work_ref") or "", "title": w.get("title", ""),
                                 "model": model, "licensee": a["licensee"], "purpose": a["purpose"],
                                 "log_index": a["log_index"], "job_id": a["job_id"],
                                 "licence": cov.get("licence") or "", "items": cov.get("passed_items", 0),
                                 "paid": {True: "yes", False: "no", None: ""}[x.get("paid")]})
        rows.sort(key=lambda r: (r["work_id"], r["log_index"], r["model"]))
        return rows


def identify_in(name: str, data: bytes, snapshot_dirs: Sequence[Path], cited: Collection[str],
                trusted: list[PublicKey] | None = None) -> dict:
    """:meth:`WorkLookup.identify` over the snapshot directories whose snapshot ``cited`` names (those that
    verify); a module function on plain data, so that a worker process can run it."""
    from fairtrain.core.matcher import SnapshotMatcher
    from fairtrain.core.snapshot import SnapshotError

    if not data:
        raise WorkLookupError(f"{name}: empty file")
    pool = []
    for d in snapshot_dirs:
        try:
            m = SnapshotMatcher.open(Path(d), trusted)
        except (SnapshotError, OSError, ValueError):
            continue
        if m.snapshot.snapshot_id in cited:
            pool.append(m)
    return _identify(name, data, pool)


def _identify(name: str, data: bytes, pool: Sequence) -> dict:
    found: dict[str, list[dict]] = {}
    errors = []
    for m in pool:
        sid = m.snapshot.snapshot_id
        if sid in found:
            continue
        (r,) = m.match([(name, data)])
        if r.error:
            errors.append(r.error)
        found[sid] = [{"work_id": x.work_id, "score": round(x.score, 4), "stage": x.stage} for x, _ in r.matches]
    if not pool:
        raise WorkLookupError(f"{name}: no snapshot to recognise it with (pass --snapshot DIR)")
    if errors and len(errors) == len(pool):
        raise WorkLookupError(f"{name}: {errors[0]}")
    return {"file": name, "content_hash": xxhash.xxh3_128_hexdigest(data), "works": found}


def membership_proof(log, answer: dict, which: dict, *, set_name: str = "cleared_works",
                     head_size: int | None = None) -> dict:
    """A self-contained proof file for one answer: the log inclusion proof of the clearance entry (its
    format is the log's own, so ``fairtrain log verify --proof`` accepts it) plus the set proof."""
    from fairtrain.services.log import LogError

    try:
        proof = log.inclusion_proof(answer["log_index"], head_size)
    except (LogError, IndexError) as e:
        raise WorkLookupError(f"clearance at log entry {answer['log_index']}: no log proof yet ({e})") from None
    proof["membership"] = {"format": "fairtrain-membership/1", "set": set_name, "key": which["key"],
                           "key_encoding": "hex" if set_name == "cleared_items" else "utf-8",
                           "included": which["included"], "proof": which["set_proof"]}
    return proof


def write_proof_files(log, answers: list[dict], directory: Path) -> None:
    """Write one proof file per work (and per file) of each answer into ``directory``; each answered
    work or file gets ``proof_file`` (its path), or ``proof_error`` where the log has no proof yet.
    The bulky set proofs then leave the answers, which stay readable."""
    directory.mkdir(parents=True, exist_ok=True)
    for a in answers:
        targets = [(x, "cleared_works") for x in a["works"]] + ([(a["file"], "cleared_items")] if a["file"] else [])
        for which, set_name in targets:
            what = "file" if set_name == "cleared_items" else f"work-{which['work_id']}"
            try:
                doc = membership_proof(log, a, which, set_name=set_name)
            except WorkLookupError as e:
                which["proof_file"], which["proof_error"] = None, str(e)
                continue
            path = directory / f"clearance-{a['log_index']}-{what}.json"
            with atomic_file(path) as tmp:
                tmp.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            which["proof_file"] = str(path)
    drop_set_proofs(answers)


def drop_set_proofs(answers: list[dict]) -> None:
    """Remove the set proofs from answers meant for people (they live in the proof files)."""
    for a in answers:
        for x in a["works"] + ([a["file"]] if a["file"] else []):
            x.pop("set_proof", None)


def verify_membership_proof(proof: dict, trusted: list[PublicKey] | None = None) -> dict:
    """Check a :func:`membership_proof` offline: the signed tree head, the clearance entry's inclusion in
    the log, then the key's inclusion (or absence) under the root the logged manifest commits to."""
    from fairtrain.services.log import LogError, verify_proof

    m = proof.get("membership")
    if not isinstance(m, dict) or m.get("format") != "fairtrain-membership/1":
        raise WorkLookupError("not a membership proof (no fairtrain-membership/1 part)")
    try:
        logged = verify_proof(proof, trusted)
    except (LogError, SignatureError) as e:
        raise WorkLookupError(f"log proof refused: {e}") from None
    entry = logged["entry"]
    if entry.get("kind") != "clearance":
        raise WorkLookupError(f"log entry {logged['index']} is a {entry.get('kind')!r} entry, not a clearance")
    manifest = entry["body"]["manifest"]
    try:
        root = bytes.fromhex(manifest[m["set"]]["root"])
        size = manifest[m["set"]]["size"]
        key = bytes.fromhex(m["key"]) if m["key_encoding"] == "hex" else m["key"].encode()
        ok = m["proof"]["size"] == size and m["proof"]["included"] == m["included"] and verify_set_proof(
            key, m["proof"], root)
    except (KeyError, TypeError, ValueError) as e:
        raise WorkLookupError(f"malformed membership proof ({e})") from None
    if not ok:
        raise WorkLookupError(f"the set proof for {m['key']} does not match the {m['set']} root of the clearance "
                           f"at log entry {logged['index']}")
    return {**logged, "included": m["included"], "key": m["key"], "set": m["set"],
            "licensee": manifest.get("licensee"), "job_id": manifest.get("job_id")}


def repertoire_works(engine, org: dict) -> list[dict]:
    """An organisation's repertoire: works it imported, and works of holders who gave it a mandate."""
    from sqlalchemy import or_, select

    from fairtrain.core.store.models import MandateRow, Work, WorkShare

    mandated = select(WorkShare.work_id).join(MandateRow, MandateRow.holder_id == WorkShare.holder_id).where(
        MandateRow.org_id == org["id"])
    q = select(Work.id, Work.title, Work.work_ref).where(or_(Work.org_id == org["id"], Work.id.in_(mandated))
                                                         ).order_by(Work.id)
    with engine.connect() as c:
        return [{"id": r.id, "title": r.title, "work_ref": r.work_ref} for r in c.execute(q)]


def write_repertoire_csv(rows: Sequence[dict], path: Path) -> None:
    cols = ["work_id", "work_ref", "title", "model", "licensee", "purpose", "log_index", "job_id", "licence", "items",
            "paid"]
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csvcells.writer(f)
        w.writerow(cols)
        w.writerows([r.get(c, "") for c in cols] for r in rows)
