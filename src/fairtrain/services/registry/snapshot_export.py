"""Export the registry as a signed snapshot: effective terms and fingerprints, never the works."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections import deque
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from sqlalchemy import func, select

from fairtrain.core.children import die_with_parent
from fairtrain.core.decide import Query, decide_registered, effective_values, per_purpose
from fairtrain.core.fingerprint import codec
from fairtrain.core.keys import PublicKey, SigningKey
from fairtrain.core.snapshot import (
    DELTA_FORMAT,
    FINGERPRINTS_DIR,
    MANIFEST,
    ROWS_DIR,
    ROWS_PER_SHARD,
    TERMS_DIR,
    TERMS_PER_SHARD,
    ShardWriter,
    SnapshotError,
    publish_directory,
    rows_schema,
    seal_snapshot,
    terms_schema,
    value_column,
    verify_snapshot,
)
from fairtrain.core.snapshot_delta import write_delta
from fairtrain.core.snapshot_index import SEGMENT_WORKS, build_segments
from fairtrain.core.store.models import (
    Fingerprint,
    Holder,
    Licence,
    LicensedWork,
    Organisation,
    Work,
    WorkShare,
    utcnow,
)
from fairtrain.core.vocab import Category, Purpose, Value
from fairtrain.services import log
from fairtrain.services.registry.registry import Registry, holder_ref, load_facts, org_ref

# Works read from the database at a time (terms computed per batch, fingerprint rows fetched per batch).
EXPORT_BATCH = 5_000


def export_snapshot(
    registry: Registry,
    out_dir: Path,
    key: SigningKey,
    *,
    name: str = "fairtrain registry",
    at: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    batch: int = EXPORT_BATCH,
    segment_works: int = SEGMENT_WORKS,
    workers: int = 1,
) -> dict:
    """Write a complete snapshot to ``out_dir`` (replaced atomically) and return its manifest."""
    out_dir = Path(out_dir)
    staging = _staging(out_dir)
    try:
        manifest = _write_full(
            registry,
            staging,
            key,
            name=name,
            at=at or utcnow(),
            progress=progress,
            batch=batch,
            segment_works=segment_works,
            workers=workers,
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    snapshot_id = hashlib.sha256((staging / MANIFEST).read_bytes()).hexdigest()
    publish_directory(staging, out_dir)
    _log(registry, key, name, snapshot_id, manifest, {})
    return manifest


def export_delta(
    registry: Registry,
    since: Path,
    out_dir: Path,
    key: SigningKey,
    *,
    trusted: list[PublicKey] | None = None,
    state_dir: Path | None = None,
    name: str = "fairtrain registry",
    at: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
    segment_works: int = SEGMENT_WORKS,
    workers: int = 1,
) -> dict:
    """Write the signed delta from the full snapshot at ``since`` to the registry now into ``out_dir``; with
    ``state_dir``, keep the new full snapshot there too (the next delta's ``since``). ``since`` is verified
    first, against ``trusted`` (default: this key)."""
    if _format(Path(since)) == DELTA_FORMAT:
        raise SnapshotError(
            f"{since}: a delta, not a full snapshot: --since takes the full snapshot the last delta led to "
            "(the directory its export kept with --state)"
        )
    base = verify_snapshot(Path(since), trusted if trusted is not None else [key.public])
    out_dir = Path(out_dir)
    full = _staging(out_dir)
    delta = _staging(out_dir)
    try:
        manifest = _write_full(
            registry,
            full,
            key,
            name=name,
            at=at or utcnow(),
            progress=progress,
            segment_works=segment_works,
            workers=workers,
        )
        doc = write_delta(base, verify_snapshot(full, [key.public]), delta, key, {"registry": name})
    except BaseException:
        shutil.rmtree(full, ignore_errors=True)
        shutil.rmtree(delta, ignore_errors=True)
        raise
    publish_directory(delta, out_dir)
    if state_dir is not None:
        Path(state_dir).parent.mkdir(parents=True, exist_ok=True)
        publish_directory(full, Path(state_dir))
    else:
        shutil.rmtree(full, ignore_errors=True)
    delta_id = hashlib.sha256((out_dir / MANIFEST).read_bytes()).hexdigest()
    _log(
        registry,
        key,
        name,
        delta_id,
        doc,
        {"kind": "delta", "applies_to": doc["applies_to"], "result": doc["result"], "state_counts": manifest["counts"]},
    )
    return doc


def _format(directory: Path) -> str | None:
    try:
        return json.loads((directory / MANIFEST).read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        return None


def _staging(out_dir: Path) -> Path:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=out_dir.name + ".", suffix=".staging", dir=out_dir.parent))


def _log(registry: Registry, key: SigningKey, name: str, snapshot_id: str, manifest: dict, extra: dict) -> None:
    log.Log(registry.engine).append(
        [
            log.Entry(
                "snapshot",
                {
                    "snapshot_id": snapshot_id,
                    "registry": name,
                    "key_id": key.public.key_id,
                    "counts": manifest["counts"],
                    "files": len(manifest["files"]),
                    **extra,
                },
                subject=f"snapshot:{snapshot_id[:16]}",
            )
        ]
    )


def _write_full(
    registry: Registry,
    staging: Path,
    key: SigningKey,
    *,
    name: str,
    at: datetime,
    progress: Callable[[int, int], None] | None,
    batch: int = EXPORT_BATCH,
    segment_works: int = SEGMENT_WORKS,
    workers: int = 1,
) -> dict:
    """Terms, fingerprint rows and match indexes into ``staging``, sealed; returns the manifest. Streams the
    works in id order, ``batch`` at a time: memory is a fixed cost per batch, terms shard and index segment,
    whatever the registry's size, and the bytes written do not depend on ``batch``."""
    with registry.engine.connect() as c:
        total = c.execute(select(func.count()).select_from(Work).where(Work.status != "rejected")).scalar_one()
    counts = {"works": 0}
    terms = ShardWriter(staging / TERMS_DIR, "terms", terms_schema(), TERMS_PER_SHARD)
    with registry.engine.connect() as c:
        ids = c.execution_options(yield_per=batch).execute(
            select(Work.id).where(Work.status != "rejected").order_by(Work.id)
        )
        for part in ids.scalars().partitions(batch):
            terms.add(_terms_rows(registry, list(part), at))
            counts["works"] += len(part)
            if progress:
                progress(counts["works"], max(total, counts["works"]))
    terms.close()
    counts["fingerprints"] = _write_fingerprints(
        registry, staging, batch=batch, segment_works=segment_works, workers=workers
    )
    meta = {
        "registry": name,
        "terms_at": at.isoformat(),
        "counts": counts,
        "index_segment_works": segment_works,
        "terms_shards": terms.ranges,  # /6: SnapshotTerms opens from these, reading no shard
    }
    return seal_snapshot(staging, key, meta)


def _terms_rows(registry: Registry, work_ids: list[int], at: datetime) -> list[dict]:
    with registry.engine.connect() as c:
        facts = load_facts(c, work_ids)
        works = {w.id: w for w in c.execute(select(Work.__table__).where(Work.id.in_(work_ids)))}
        licensees: dict[int, set[str]] = {}
        for wid, who in c.execute(
            select(LicensedWork.work_id, Licence.licensee)
            .join(Licence, Licence.id == LicensedWork.licence_id)
            .where(LicensedWork.work_id.in_(work_ids), Licence.status == "granted")
        ):
            licensees.setdefault(wid, set()).add(who)
        holders: dict[int, list[dict]] = {}
        for s in c.execute(
            select(WorkShare.__table__, Holder.name)
            .join(Holder, Holder.id == WorkShare.holder_id)
            .where(WorkShare.work_id.in_(work_ids))
            .order_by(WorkShare.id)
        ):
            holders.setdefault(s.work_id, []).append(
                {
                    "party": holder_ref(s.holder_id),
                    "name": s.name,
                    "role": s.role,
                    "share": str(Fraction(s.share_num, s.share_den)),
                }
            )
        org_names = {
            org_ref(o.id): o.name
            for o in c.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({int(m.org.split(":")[1]) for f in facts.values() for m in f.mandates})
                )
            )
        }
    out = []
    for wid in work_ids:
        f = facts[wid]
        # the terms for every purpose: a clearance for research decides with the research terms
        decisions = per_purpose(f, lambda p, f=f: effective_values(f, at, purpose=p))
        for h in holders.get(wid, []):
            h["orgs"] = sorted(
                {m.org for m in f.mandates if m.holder == h["party"] and any(m.covers(c, at) for c in Category)}
            )
            h["org_names"] = {o: org_names.get(o, o) for o in h["orgs"]}  # quotes name organisations
        w = works[wid]
        offers = {
            p.value: {c.value: _offers_with_party(d, p) for c, d in ds.items() if d.value is Value.LICENCE}
            for p, ds in decisions.items()
        }
        out.append(
            {
                "work_id": wid,
                "iscc": w.iscc,
                "media_type": w.media_type,
                "status": w.status,
                **{value_column(p, c): d.value.value for p, ds in decisions.items() for c, d in ds.items()},
                "offers": json.dumps(offers, sort_keys=True),
                "holders": json.dumps(holders.get(wid, []), sort_keys=True, ensure_ascii=False),
                # what a licensee with a grant gets instead of the public terms (exact: the engine decides it)
                "licensees": json.dumps(
                    {
                        who: {
                            p.value: v
                            for p, v in per_purpose(
                                f,
                                lambda p, f=f, who=who: {
                                    c.value: decide_registered(
                                        f, Query(category=c, at=at, licensee=who, purpose=p)
                                    ).value.value
                                    for c in Category
                                },
                            ).items()
                        }
                        for who in sorted(licensees.get(wid, ()))
                    },
                    sort_keys=True,
                ),
                "title": w.title,
            }
        )
    return out


def _offers_with_party(d, purpose: Purpose) -> list[dict]:
    """Each licence offer open to ``purpose``, with the party that made it: who a licensee must ask."""
    return [
        {"party": r.statement.provenance.party, **r.statement.offer.to_dict()}
        for r in d.reasons
        if r.counted
        and r.statement.value is Value.LICENCE
        and r.statement.offer
        and purpose in r.statement.offer.purposes
    ]


def _write_fingerprints(
    registry: Registry,
    staging: Path,
    *,
    batch: int = EXPORT_BATCH,
    segment_works: int = SEGMENT_WORKS,
    workers: int = 1,
) -> dict[str, int]:
    """Each modality's fingerprint rows (private fields left out) and the match index built from exactly
    those rows, as a puller applying a delta rebuilds it: streamed from the database in work-id order, the
    index built one segment at a time (core/snapshot_index.py)."""
    counts: dict[str, int] = {}
    with registry.engine.connect() as c:
        present = list(c.execute(select(Fingerprint.modality).distinct()).scalars())
    for name in sorted(present):
        writer = ShardWriter(staging / ROWS_DIR / name, name, rows_schema(), ROWS_PER_SHARD)
        pending: list[dict] = []

        def keep(work_id: int, blob: bytes, pending=pending, writer=writer) -> None:
            pending.append({"work_id": work_id, "fingerprint": blob})
            if len(pending) >= batch:
                writer.add(pending)
                pending.clear()

        with registry.engine.connect() as c:
            rows = c.execution_options(yield_per=batch).execute(
                select(Fingerprint.work_id, Fingerprint.payload)
                .join(Work, Work.id == Fingerprint.work_id)
                .where(Fingerprint.modality == name, Work.status != "rejected")
                .order_by(Fingerprint.work_id)
            )
            # the index ignores the private fields, so it is the one a puller builds from the public row
            public = _public_rows(rows, batch, workers)
            counts[name] = build_segments(name, public, staging / FINGERPRINTS_DIR / name, segment_works, on_row=keep)
        writer.add(pending)
        writer.close()
    return counts


def _public_batch(payloads: list[bytes]) -> list[bytes]:
    return [codec.public_copy(p) for p in payloads]


def _public_rows(rows, batch: int, workers: int):
    """``(work_id, public fingerprint)`` in the order of ``rows``. Rewriting each stored fingerprint without
    its private fields is most of an export's time; with ``workers`` > 1 it runs in worker processes (that
    die with this one), ``batch`` rows a task, a few tasks ahead at most, so memory stays bounded."""
    if workers <= 1:
        for work_id, payload in rows:
            yield work_id, codec.public_copy(payload)
        return

    def batches():
        ids, blobs = [], []
        for work_id, payload in rows:
            ids.append(work_id)
            blobs.append(payload)
            if len(ids) >= batch:
                yield ids, blobs
                ids, blobs = [], []
        if ids:
            yield ids, blobs

    with ProcessPoolExecutor(max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(),)) as pool:
        window: deque = deque()
        for ids, blobs in batches():
            window.append((ids, pool.submit(_public_batch, blobs)))
            if len(window) > 2 * workers:
                done_ids, fut = window.popleft()
                yield from zip(done_ids, fut.result(), strict=True)
        while window:
            done_ids, fut = window.popleft()
            yield from zip(done_ids, fut.result(), strict=True)
