""" "Was my work used?": for every clearance manifest published in the log, included or not, with proofs.

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

from fairtrain.core import csvcells
from fairtrain.core.errors import InvalidInput
from fairtrain.core.files import atomic_file
from fairtrain.core.keys import PublicKey, SignatureError
from fairtrain.core.merkle import SortedSet, verify_set_proof

__all__ = [
    "WorkLookupError",
    "PublishedClearance",
    "WorkLookup",
    "membership_proof",
    "repertoire_works",
    "verify_membership_proof",
    "write_repertoire_csv",
    "published_clearance_dirs",
    "lookup_snapshot_dirs",
    "was_used",
    "record_published_clearance",
]

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
                "decisions_sha256"
            ):
                raise WorkLookupError(f"{path}: not the decisions the clearance at log entry {self.log_index} signed")
            if path is not None:
                t = pq.read_table(
                    self.out_dir / "decisions.parquet", columns=["work_ids", "passes", "decision", "reasons"]
                ).to_pylist()
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
        licence = (
            ("licence granted to " + self.licensee)
            if "licence" in d["why"]
            else ("not needed: the work's terms allow this use" if d["passed_items"] else None)
        )
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
            models = {
                str(u["model"])
                for u in usage
                if u.get("model")
                and (u.get("job_id") == job or (u.get("job_id") is None and u.get("licensee") == pc.licensee))
            }
            models |= {
                " ".join(str(x) for x in (s["model"], s.get("version")) if x)
                for s in summaries
                if s.get("model") and any(c.get("job_id") == job for c in s.get("clearances", []))
            }
            pc.models = sorted(models)

    # -- identification --------------------------------------------------------------------------------
    def identify(self, name: str, data: bytes | Path, matchers: Sequence = ()) -> dict:
        """Fingerprint ``data`` (bytes, or a file's path: a video is never read whole) and find the
        registered works it is, per snapshot.

        ``matchers``: SnapshotMatchers to use besides those of the snapshots the manifests cite (which are
        opened from the paths the manifests record, when those still exist and verify)."""
        from fairtrain.core.matcher import SnapshotMatcher
        from fairtrain.core.snapshot import SnapshotError

        _require_content(name, data)
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
                keys = [
                    (w, f"{sid}:{w}")
                    for sid in pc.snapshot_ids
                    for w in sorted({x["work_id"] if isinstance(x, dict) else x for x in work_ids.get(sid, [])})
                ]
            else:
                keys = [(w, f"{sid}:{w}") for sid in pc.snapshot_ids for w in work_ids]
            a = {
                "log_index": pc.log_index,
                "licensee": pc.licensee,
                "purpose": pc.manifest.get("purpose"),
                "mode": pc.manifest.get("mode"),
                "job_id": pc.manifest.get("job_id"),
                "models": pc.models,
                # the exact snapshot versions it cleared against: the SHA-256 of each signed manifest, its format
                "snapshots": [
                    {k: s.get(k) for k in ("snapshot_id", "format", "created_at")}
                    for s in pc.manifest.get("snapshots", [])
                ],
                "leaves": pc.leaves_status,
                "included": None,
                "works": [],
                "file": None,
            }
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
        mine = [
            p
            for p in self.payments
            if p.get("job_id") == pc.manifest.get("job_id")
            or (p.get("job_id") is None and p.get("licensee") == pc.licensee)
        ]
        if not mine:
            return None
        return any(
            f"{w.get('snapshot')}:{w.get('work_id')}" == key
            for p in mine
            for w in p.get("works", [])
            if isinstance(w, dict)
        )

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
                    rows.append(
                        {
                            "work_id": w["id"],
                            "work_ref": w.get("work_ref") or "",
                            "title": w.get("title", ""),
                            "model": model,
                            "licensee": a["licensee"],
                            "purpose": a["purpose"],
                            "log_index": a["log_index"],
                            "job_id": a["job_id"],
                            "licence": cov.get("licence") or "",
                            "items": cov.get("passed_items", 0),
                            "paid": {True: "yes", False: "no", None: ""}[x.get("paid")],
                        }
                    )
        rows.sort(key=lambda r: (r["work_id"], r["log_index"], r["model"]))
        return rows


def identify_in(
    name: str,
    data: bytes | Path,
    snapshot_dirs: Sequence[Path],
    cited: Collection[str] | None,
    trusted: list[PublicKey] | None = None,
    *,
    require_snapshot: bool = True,
) -> dict:
    """:meth:`WorkLookup.identify` over the snapshot directories whose snapshot ``cited`` names (every one
    when ``cited`` is None; those that verify); a module function on plain data, so that a worker process
    can run it. ``require_snapshot=False``: no snapshot to recognise with answers "no work found".
    ``data`` may be a file's path: a video is then fingerprinted and hashed from the file, never read whole."""
    from fairtrain.core.matcher import SnapshotMatcher, content_hash
    from fairtrain.core.snapshot import SnapshotError

    _require_content(name, data)
    pool = []
    for d in snapshot_dirs:
        try:
            m = SnapshotMatcher.open(Path(d), trusted)
        except (SnapshotError, OSError, ValueError):
            continue
        if cited is None or m.snapshot.snapshot_id in cited:
            pool.append(m)
    if not pool and not require_snapshot:
        return {"file": name, "content_hash": content_hash(data), "works": {}}
    return _identify(name, data, pool)


def _require_content(name: str, data: bytes | Path) -> None:
    """An empty (or, for a path, unreadable) item is refused naming the file."""
    if isinstance(data, Path):
        try:
            size = data.stat().st_size
        except OSError as e:
            raise WorkLookupError(f"{name}: cannot read ({e.strerror or e})") from None
    else:
        size = len(data)
    if not size:
        raise WorkLookupError(f"{name}: empty file")


def _identify(name: str, data: bytes | Path, pool: Sequence) -> dict:
    from fairtrain.core.matcher import content_hash

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
    return {"file": name, "content_hash": content_hash(data), "works": found}


def membership_proof(
    log, answer: dict, which: dict, *, set_name: str = "cleared_works", head_size: int | None = None
) -> dict:
    """A self-contained proof file for one answer: the log inclusion proof of the clearance entry (its
    format is the log's own, so ``fairtrain log verify --proof`` accepts it) plus the set proof."""
    from fairtrain.services.log import LogError

    try:
        proof = log.inclusion_proof(answer["log_index"], head_size)
    except (LogError, IndexError) as e:
        raise WorkLookupError(f"clearance at log entry {answer['log_index']}: no log proof yet ({e})") from None
    proof["membership"] = {
        "format": "fairtrain-membership/1",
        "set": set_name,
        "key": which["key"],
        "key_encoding": "hex" if set_name == "cleared_items" else "utf-8",
        "included": which["included"],
        "proof": which["set_proof"],
    }
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
        ok = (
            m["proof"]["size"] == size
            and m["proof"]["included"] == m["included"]
            and verify_set_proof(key, m["proof"], root)
        )
    except (KeyError, TypeError, ValueError) as e:
        raise WorkLookupError(f"malformed membership proof ({e})") from None
    if not ok:
        raise WorkLookupError(
            f"the set proof for {m['key']} does not match the {m['set']} root of the clearance "
            f"at log entry {logged['index']}"
        )
    return {
        **logged,
        "included": m["included"],
        "key": m["key"],
        "set": m["set"],
        "licensee": manifest.get("licensee"),
        "job_id": manifest.get("job_id"),
    }


def repertoire_works(engine, org: dict) -> list[dict]:
    """An organisation's repertoire: works it imported, and works of holders who gave it a mandate."""
    from sqlalchemy import or_, select

    from fairtrain.core.store.models import Mandate, Work, WorkShare

    mandated = (
        select(WorkShare.work_id)
        .join(Mandate, Mandate.holder_id == WorkShare.holder_id)
        .where(Mandate.org_id == org["id"])
    )
    q = (
        select(Work.id, Work.title, Work.work_ref)
        .where(or_(Work.org_id == org["id"], Work.id.in_(mandated)))
        .order_by(Work.id)
    )
    with engine.connect() as c:
        return [{"id": r.id, "title": r.title, "work_ref": r.work_ref} for r in c.execute(q)]


def write_repertoire_csv(rows: Sequence[dict], path: Path) -> None:
    cols = [
        "work_id",
        "work_ref",
        "title",
        "model",
        "licensee",
        "purpose",
        "log_index",
        "job_id",
        "licence",
        "items",
        "paid",
    ]
    with atomic_file(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as f:
        w = csvcells.writer(f)
        w.writerow(cols)
        w.writerows([r.get(c, "") for c in cols] for r in rows)


# -- "was my work used?": the one answer the CLI, the API and the page give -----------------------------

CLEARANCES = "clearances"  # under the data directory: the published clearance directories, one per manifest


def published_clearance_dirs(data_dir: Path) -> list[Path]:
    """The clearance directories published to this registry (``record_published_clearance``)."""
    root = Path(data_dir) / CLEARANCES
    return sorted(d for d in root.iterdir() if (d / "manifest.json").is_file()) if root.is_dir() else []


def lookup_snapshot_dirs(wl: WorkLookup, data_dir: Path, extra: Sequence[Path] = ()) -> list[Path]:
    """Where a file is recognised: the given snapshots, those the manifests cite, and the registry's own
    published snapshots (so that a registered work is recognised even before any clearance cites it)."""
    root = Path(data_dir) / "snapshots"
    return [*map(Path, extra), *wl.snapshot_paths(), *(sorted(root.iterdir()) if root.is_dir() else [])]


def _describe(registry, work_id: int) -> dict | None:
    from fairtrain.core.errors import NotFound

    try:
        w = registry.work(work_id)
    except NotFound:
        return None
    return {
        "work_id": w["id"],
        "title": w["title"],
        "media_type": w["media_type"],
        "status": w["status"],
        "iscc": w["iscc"],
        "holders": [h["name"] for h in w["holders"]],
    }


def _exact_registered(registry, content_hash: str) -> list[int]:
    from sqlalchemy import select

    from fairtrain.core.store.models import Work

    with registry.engine.connect() as c:
        return [r.id for r in c.execute(select(Work.id).where(Work.content_hash == content_hash).order_by(Work.id))]


def was_used(wl: WorkLookup, found: dict, registry) -> dict:
    """Three answers, never two, from the file's identification (``identify_in``) and the published clearances.

    ``verdict``: ``"yes"`` (a published clearance includes the work or the exact file; each such answer
    names its licensee, models, licence and payment), ``"no"`` (every published clearance's item list says
    it is absent: the non-inclusion proofs exist) or ``"unknown"`` with ``reason``:
    ``"not-recognised"`` (the file is no registered work), ``"leaves-missing"`` (a clearance that might
    include it did not publish its item lists). ``recognised``: the registered works the file was
    recognised as, best first, with the similarity and what the registry shows of each (title, holders,
    media type; no work file is stored)."""
    best: dict[int, dict] = {}
    for matches in found["works"].values():
        for x in matches:
            if x["work_id"] not in best or x["score"] > best[x["work_id"]]["score"]:
                best[x["work_id"]] = {"score": x["score"], "stage": x["stage"]}
    for wid in _exact_registered(registry, found["content_hash"]):
        best[wid] = {"score": 1.0, "stage": "exact"}
    recognised = []
    for wid, m in sorted(best.items(), key=lambda kv: (-kv[1]["score"], kv[0])):
        d = _describe(registry, wid)
        if d is not None:  # a snapshot's work since removed from this registry is no registered work
            recognised.append({**d, **m})
    ids = [r["work_id"] for r in recognised]
    answers = wl.answer(ids, found["content_hash"])
    drop_set_proofs(answers)
    if any(a["included"] for a in answers):
        verdict, reason = "yes", None
    elif not recognised:
        verdict, reason = "unknown", "not-recognised"
    elif any(a["included"] is None for a in answers):
        verdict, reason = "unknown", "leaves-missing"
    else:
        verdict, reason = "no", ("no-clearances" if not answers else None)
    return {
        "file": found["file"],
        "content_hash": found["content_hash"],
        "verdict": verdict,
        "reason": reason,
        "used": verdict == "yes",
        "recognised": recognised,
        "identified": found["works"],
        "clearances": len(wl.clearances),
        "answers": answers,
    }


def record_published_clearance(
    log, data_dir: Path, manifest_bytes: bytes, leaves: dict[str, bytes], decisions: bytes | None = None
) -> dict:
    """Receive a published clearance: verify the manifest's signature and each leaves file against the root
    the manifest signs, store them under ``clearances/`` of the data directory (atomically, named by the
    manifest's digest) and enter the manifest in the log, once (a second publication of the same manifest
    answers with the first entry). ``leaves``: file name (``SETS``' values) → bytes; both are required."""
    import io
    import os
    import shutil
    import tempfile

    from fairtrain.core.keys import verify_document
    from fairtrain.services.log import Entry

    try:
        doc = json.loads(manifest_bytes.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WorkLookupError(f"manifest.json: not JSON ({e})") from None
    if not isinstance(doc, dict) or not all(isinstance(doc.get(k), dict) and "root" in doc[k] for k in SETS):
        raise WorkLookupError("manifest.json: not a clearance manifest (no cleared_works / cleared_items roots)")
    try:
        signer = verify_document(doc)
    except (SignatureError, KeyError, TypeError, ValueError) as e:
        raise WorkLookupError(f"manifest.json: signature refused ({e})") from None
    cleared_works: list[str] = []
    for set_name, file_name in SETS.items():
        data = leaves.get(file_name)
        if not data:
            raise WorkLookupError(f"{file_name}: missing (publish the clearance's leaves with its manifest)")
        try:
            col = pq.read_table(io.BytesIO(data), columns=["leaf"]).column("leaf").to_pylist()
            if set_name == "cleared_works":
                cleared_works = col
            keys = [bytes.fromhex(x) for x in col] if set_name == "cleared_items" else [x.encode() for x in col]
        except Exception as e:  # noqa: BLE001 - any unreadable Parquet is the sender's error, said as such
            raise WorkLookupError(f"{file_name}: not a leaves file ({type(e).__name__}: {e})") from None
        if SortedSet(keys).root.hex() != doc[set_name]["root"]:
            raise WorkLookupError(f"{file_name}: its leaves do not rebuild the manifest's {set_name} root")
    if decisions is not None and hashlib.sha256(decisions).hexdigest() != doc.get("decisions_sha256"):
        raise WorkLookupError("decisions.parquet: not the decisions the manifest signs (SHA-256 differs)")
    digest = hashlib.sha256(manifest_bytes).hexdigest()
    root = Path(data_dir) / CLEARANCES
    final = root / digest[:32]
    sig = doc.get("signature", {}).get("value", "")
    for e in log.entries():
        if e["kind"] == "clearance" and e["body"]["manifest"].get("signature", {}).get("value") == sig:
            index, new = e["idx"], False
            break
    else:
        index, new = None, True
    if not final.is_dir():
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".incoming-", dir=root))
        try:
            (tmp / "manifest.json").write_bytes(manifest_bytes)
            for file_name in SETS.values():
                (tmp / file_name).write_bytes(leaves[file_name])
            if decisions is not None:
                (tmp / "decisions.parquet").write_bytes(decisions)
            os.replace(tmp, final)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)
            if not final.is_dir():
                raise
    if new:
        from fairtrain.services.log import append

        body = {"manifest": doc, "licensee_key_id": signer.key_id}
        with log.engine.begin() as c:
            (index,) = append(c, [Entry("clearance", body, subject=f"licensee:{doc.get('licensee')}")])
            _notify_found(c, index, doc.get("licensee"), cleared_works)
    return {"index": index, "licensee": doc.get("licensee"), "key_id": signer.key_id, "stored": final.name, "new": new}


def _notify_found(c, index: int, licensee: str | None, cleared_works: Sequence[str]) -> int:
    """Tell each holder of a work the clearance lists that it was found there, in the transaction that logs
    the clearance. Only keys of snapshots this registry exported (its log's ``snapshot`` entries) name its own
    works: another registry's work 7 is not ours."""
    from sqlalchemy import select

    from fairtrain.core.store.models import LogEntry, Work, WorkShare
    from fairtrain.services.notify import notify

    ours = {
        json.loads(leaf)["body"].get("snapshot_id")
        for leaf in c.execute(select(LogEntry.leaf).where(LogEntry.kind == "snapshot")).scalars()
    }
    wids = sorted({int(w) for sid, _, w in (k.partition(":") for k in cleared_works) if sid in ours and w.isdigit()})
    sent = 0
    for i in range(0, len(wids), 5_000):
        rows = c.execute(
            select(WorkShare.work_id, WorkShare.holder_id, Work.title)
            .join(Work, Work.id == WorkShare.work_id)
            .where(WorkShare.work_id.in_(wids[i : i + 5_000]))
            .order_by(WorkShare.work_id)
        ).all()
        by_work: dict[int, tuple[str, list[int]]] = {}
        for r in rows:
            by_work.setdefault(r.work_id, (r.title, []))[1].append(r.holder_id)
        for wid, (title, holders) in by_work.items():
            sent += notify(
                c,
                holders,
                "clearance",
                "found",
                {"clearance": f"#{index} ({licensee or '?'})", "title": title, "path": f"/works/{wid}"},
                subject=f"work:{wid}",
            )
    return sent


def proof_of(wl: WorkLookup, log_index: int, *, work_key: str | None = None, item: str | None = None) -> dict:
    """The proof file for one key against one published clearance: ``work_key`` (``<snapshot_id>:<work_id>``)
    in its cleared works, or ``item`` (the file's xxh3-128 hex) in its cleared items; an inclusion proof
    when it is there, a non-inclusion proof when it is not (both: :func:`membership_proof`)."""
    pc = next((c for c in wl.clearances if c.log_index == log_index), None)
    if pc is None:
        raise WorkLookupError(f"log entry {log_index}: no published clearance there")
    if pc.leaves_status != "available":
        raise WorkLookupError(
            f"clearance at log entry {log_index}: its item lists were not published "
            f"(leaves {pc.leaves_status}), so no proof either way"
        )
    if (work_key is None) == (item is None):
        raise WorkLookupError("give exactly one of work (SNAPSHOT:WORK) or item (the file's xxh3-128 hex)")
    set_name, key = ("cleared_works", work_key) if work_key is not None else ("cleared_items", item.lower())
    try:
        raw = key.encode() if set_name == "cleared_works" else bytes.fromhex(key)
    except ValueError:
        raise WorkLookupError(f"item {item!r}: not a hex digest") from None
    proof = pc.sets[set_name].prove(raw)
    return membership_proof(
        wl.log,
        {"log_index": log_index},
        {"key": key, "included": proof["included"], "set_proof": proof},
        set_name=set_name,
    )
