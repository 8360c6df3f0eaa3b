"""Export the registry as a signed snapshot: effective terms and fingerprints, never the works."""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import select

from fairtrain.core.decide import Query, decide, effective_values, per_purpose
from fairtrain.core.fingerprint import codec
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.keys import SigningKey
from fairtrain.core.snapshot import (
    FINGERPRINTS_DIR,
    TERMS_DIR,
    publish_directory,
    seal_snapshot,
    terms_schema,
    value_column,
)
from fairtrain.core.store.models import (
    FingerprintRow,
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

SHARD_ROWS = 250_000


def export_snapshot(
    registry: Registry,
    out_dir: Path,
    key: SigningKey,
    *,
    name: str = "fairtrain registry",
    at: datetime | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Write a complete snapshot to ``out_dir`` (replaced atomically) and return its manifest."""
    at = at or utcnow()
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=out_dir.name + ".", suffix=".staging", dir=out_dir.parent))
    (staging / TERMS_DIR).mkdir()
    with registry.engine.connect() as c:
        ids = list(c.execute(select(Work.id).where(Work.status != "rejected").order_by(Work.id)).scalars())
    counts = {"works": len(ids)}
    shard, rows = 0, []
    for i in range(0, len(ids), 5_000):
        chunk = ids[i : i + 5_000]
        rows.extend(_terms_rows(registry, chunk, at))
        if len(rows) >= SHARD_ROWS:
            _write_terms(staging, shard, rows)
            shard, rows = shard + 1, []
        if progress:
            progress(min(i + 5_000, len(ids)), len(ids))
    if rows or shard == 0:
        _write_terms(staging, shard, rows)
    counts["fingerprints"] = _write_fingerprints(registry, staging)
    manifest = seal_snapshot(staging, key, {"registry": name, "terms_at": at.isoformat(), "counts": counts})
    snapshot_id = hashlib.sha256((staging / "manifest.json").read_bytes()).hexdigest()
    publish_directory(staging, out_dir)
    log.Log(registry.engine).append(
        [
            log.Entry(
                "snapshot",
                {
                    "snapshot_id": snapshot_id,
                    "registry": name,
                    "key_id": key.public.key_id,
                    "counts": counts,
                    "files": len(manifest["files"]),
                },
                subject=f"snapshot:{snapshot_id[:16]}",
            )
        ]
    )
    return manifest


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
                                    c.value: decide(f, Query(category=c, at=at, licensee=who, purpose=p)).value.value
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


def _write_terms(staging: Path, shard: int, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=terms_schema())
    pq.write_table(table, staging / TERMS_DIR / f"terms-{shard:05d}.parquet", compression="zstd")


def _write_fingerprints(registry: Registry, staging: Path) -> dict[str, int]:
    """Build each modality's match index from the stored fingerprints and save it into the snapshot."""
    counts: dict[str, int] = {}
    with registry.engine.connect() as c:
        present = list(c.execute(select(FingerprintRow.modality).distinct()).scalars())
        for name in sorted(present):
            builder = modality(name).new_builder()
            n = 0
            rows = c.execution_options(yield_per=2_000).execute(
                select(FingerprintRow.work_id, FingerprintRow.payload)
                .join(Work, Work.id == FingerprintRow.work_id)
                .where(FingerprintRow.modality == name, Work.status != "rejected")
                .order_by(FingerprintRow.work_id)
            )
            for work_id, payload in rows:
                builder.add(work_id, codec.loads(payload))
                n += 1
            builder.build().save(staging / FINGERPRINTS_DIR / name)
            counts[name] = n
    return counts
