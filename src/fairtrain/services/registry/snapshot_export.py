"""Export the registry as a signed snapshot: effective terms and fingerprints, never the works."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

from sqlalchemy import func, select

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
    file_sha256,
    publish_directory,
    rows_schema,
    seal_snapshot,
    terms_schema,
    value_column,
    verify_snapshot,
)
from fairtrain.core.snapshot_delta import write_delta
from fairtrain.core.snapshot_index import SEGMENT_WORKS, build_router, build_segment, build_segments, segment_name
from fairtrain.core.store.db import open_engine
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
    engine: str = "local",
    address: str | None = None,
) -> dict:
    """Write a complete snapshot to ``out_dir`` (replaced atomically) and return its manifest. With
    ``workers`` > 1 or ``engine`` other than ``local``, the index segments are built by that engine
    (``services/registry/export_engines.py``), ``workers`` at a time; the files are the same."""
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
            engine=engine,
            address=address,
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
    engine: str = "local",
    address: str | None = None,
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
            engine=engine,
            address=address,
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
    engine: str = "local",
    address: str | None = None,
) -> dict:
    """Terms, fingerprint rows and match indexes into ``staging``, sealed; returns the manifest. Streams the
    works in id order, ``batch`` at a time: memory is a fixed cost per batch, terms shard and index segment,
    whatever the registry's size, and the bytes written do not depend on ``batch``. With an engine
    (``workers`` > 1 or not ``local``) the segments are started first and built while the terms are
    computed here; the bytes do not depend on the engine either."""
    runner = None
    if workers > 1 or engine != "local":
        runner = engine_class(engine)(workers=workers, address=address)
    with contextlib.ExitStack() as stack:
        if runner is not None:
            stack.enter_context(runner)
            parts = Path(tempfile.mkdtemp(prefix=staging.name + ".", suffix=".parts", dir=staging.parent))
            stack.callback(shutil.rmtree, parts, ignore_errors=True)
            segments = _start_segments(registry, staging, parts, runner, segment_works)
        counts = _write_terms(registry, staging, at, progress, batch)
        if runner is not None:
            counts["fingerprints"], known = _finish_segments(staging, segments, batch)
        else:
            counts["fingerprints"], known = (
                _write_fingerprints(registry, staging, batch=batch, segment_works=segment_works),
                {},
            )
    meta = {
        "registry": name,
        "terms_at": at.isoformat(),
        "counts": counts,
        "index_segment_works": segment_works,
        "terms_shards": counts.pop("_terms_shards"),  # /6: SnapshotTerms opens from these, reading no shard
    }
    return seal_snapshot(staging, key, meta, known=known)


def _write_terms(
    registry: Registry, staging: Path, at: datetime, progress: Callable[[int, int], None] | None, batch: int
) -> dict:
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
    counts["_terms_shards"] = terms.ranges
    return counts


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
) -> dict[str, int]:
    """Each modality's fingerprint rows (private fields left out) and the match index built from exactly
    those rows, as a puller applying a delta rebuilds it: streamed from the database in work-id order, the
    index built one segment at a time (core/snapshot_index.py), in this process."""
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
            rows = c.execution_options(yield_per=batch).execute(_fingerprints_query(name))
            # the index ignores the private fields, so it is the one a puller builds from the public row
            public = ((work_id, *codec.public_copy_loaded(payload)) for work_id, payload in rows)
            counts[name] = build_segments(name, public, staging / FINGERPRINTS_DIR / name, segment_works, on_row=keep)
        writer.add(pending)
        writer.close()
    return counts


def _fingerprints_query(name: str, first: int | None = None, last: int | None = None):
    q = (
        select(Fingerprint.work_id, Fingerprint.payload)
        .join(Work, Work.id == Fingerprint.work_id)
        .where(Fingerprint.modality == name, Work.status != "rejected")
    )
    if first is not None:
        q = q.where(Fingerprint.work_id >= first, Fingerprint.work_id <= last)
    return q.order_by(Fingerprint.work_id)


# -- segments built by an engine (``--workers N``, ``--engine ray``) -----------------------------------


@dataclass(frozen=True)
class SegmentSpec:
    """One index segment to build: the rows of modality ``name`` with work ids ``first``..``last`` (in
    the registry at ``url``) into ``target``; its public rows go to ``rows_file`` for the export to cut into
    its row shards. ``first`` > ``last``: an empty segment (a registry without rows of the modality)."""

    url: str
    name: str
    segment: int
    first: int
    last: int
    target: str
    rows_file: str


def build_export_segment(spec: SegmentSpec) -> dict:
    """Build one segment (a pure function of the registry's rows and ``spec``, so every engine writes the
    same bytes): reads its rows, rewrites each fingerprint without its private fields, builds and saves
    the segment's index, writes the public rows to ``spec.rows_file`` (Arrow IPC) and returns the number
    of rows and each written file's SHA-256 and size (relative to ``spec.target``), which the manifest
    then takes without hashing them again."""
    import pyarrow as pa

    engine = open_engine(spec.url)
    target = Path(spec.target)
    n = 0
    try:
        with (
            engine.connect() as c,
            pa.OSFile(spec.rows_file, "wb") as sink,
            pa.ipc.new_file(sink, rows_schema()) as out,
        ):
            rows = c.execution_options(yield_per=EXPORT_BATCH).execute(
                _fingerprints_query(spec.name, spec.first, spec.last)
            )
            ids: list[int] = []
            blobs: list[bytes] = []

            def flush() -> None:
                out.write_table(pa.table({"work_id": ids, "fingerprint": blobs}, schema=rows_schema()))
                ids.clear()
                blobs.clear()

            def public():
                nonlocal n
                for work_id, payload in rows:
                    blob, fp = codec.public_copy_loaded(payload)
                    ids.append(work_id)
                    blobs.append(blob)
                    if len(ids) >= EXPORT_BATCH:
                        flush()
                    n += 1
                    yield work_id, blob, fp

            build_segment(spec.name, public(), target)
            if ids:
                flush()
    finally:
        engine.dispose()
    files = {
        p.relative_to(target).as_posix(): (file_sha256(p), p.stat().st_size)
        for p in sorted(target.rglob("*"))
        if p.is_file()
    }
    return {"segment": spec.segment, "rows": n, "files": files}


def _start_segments(registry: Registry, staging: Path, parts: Path, runner, segment_works: int) -> list:
    """Cut each modality's rows into segments (every ``segment_works``-th work id, read in order) and start
    building them on ``runner``; returns ``[(modality, specs, results)]``."""
    url = registry.engine.url.render_as_string(hide_password=False)
    specs: list[SegmentSpec] = []
    with registry.engine.connect() as c:
        present = sorted(c.execute(select(Fingerprint.modality).distinct()).scalars())
        for name in present:
            ids = c.execution_options(yield_per=EXPORT_BATCH).execute(
                select(Fingerprint.work_id)
                .join(Work, Work.id == Fingerprint.work_id)
                .where(Fingerprint.modality == name, Work.status != "rejected")
                .order_by(Fingerprint.work_id)
            )
            bounds, first, last, k = [], None, None, 0
            for (wid,) in ids:
                if first is None:
                    first = wid
                last, k = wid, k + 1
                if k == segment_works:
                    bounds.append((first, last))
                    first, k = None, 0
            if first is not None or not bounds:
                bounds.append((first, last) if first is not None else (0, -1))
            for i, (lo, hi) in enumerate(bounds):
                specs.append(
                    SegmentSpec(
                        url,
                        name,
                        i,
                        lo,
                        hi,
                        str(staging / FINGERPRINTS_DIR / name / segment_name(i)),
                        str(parts / f"{name}-{i:05d}.arrow"),
                    )
                )
    results = runner.submit(build_export_segment, specs)
    return [(name, [s for s in specs if s.name == name], results) for name in present]


def _finish_segments(staging: Path, segments: list, batch: int) -> tuple[dict[str, int], dict]:
    """Take each built segment in order: its public rows into the modality's row shards (the same cuts as
    the in-process export), its hashes for the manifest; then the modality's merged candidate table."""
    import pyarrow as pa

    counts: dict[str, int] = {}
    known: dict[str, tuple[str, int]] = {}
    for name, specs, results in segments:
        writer = ShardWriter(staging / ROWS_DIR / name, name, rows_schema(), ROWS_PER_SHARD)
        counts[name] = 0
        for spec in specs:
            done = next(results)
            counts[name] += done["rows"]
            rel = Path(spec.target).relative_to(staging).as_posix()
            known |= {f"{rel}/{f}": v for f, v in done["files"].items()}
            # read a batch at a time, not memory-mapped: mapped pages count in this process's resident
            # memory (a 10⁵-work segment's rows: 300 MB)
            with pa.OSFile(spec.rows_file) as src:
                reader = pa.ipc.open_file(src)
                for i in range(reader.num_record_batches):
                    rows = reader.get_batch(i)
                    for at in range(0, rows.num_rows, batch):
                        writer.add(pa.Table.from_batches([rows.slice(at, batch)], schema=rows_schema()))
            os.remove(spec.rows_file)
        writer.close()
        build_router(name, staging / FINGERPRINTS_DIR / name)
    return counts, known


def engine_class(name: str):
    """The export engine called ``name``; an unknown name is refused, naming those there are."""
    from fairtrain.services.registry.export_engines import EXPORT_ENGINES

    try:
        return EXPORT_ENGINES[name]
    except KeyError:
        raise SnapshotError(f"unknown export engine {name!r} ({' or '.join(EXPORT_ENGINES)})") from None
