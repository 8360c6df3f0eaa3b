"""Snapshot deltas: what changed from one full snapshot to the next, signed like a snapshot.

A delta (``fairtrain-snapshot-delta/1``) holds, relative to the full snapshot whose manifest SHA-256 it
names (``applies_to``):

- ``terms/upsert-*.parquet``: the whole terms row of every work added or whose terms changed (grants
  included: a granted licence changes the ``licensees`` column);
- ``fingerprint-rows/<modality>/upsert-*.parquet``: every fingerprint row added or changed;
- ``deleted.parquet``: tombstones, ``(part, work_id)`` with part ``terms`` or a modality: rows to drop;
- ``result-manifest.json``: the signed manifest of the full snapshot the delta leads to (``result`` is its
  SHA-256).

Applying it rebuilds the terms shards, the fingerprint rows and each modality's match index from the
merged rows with the same writers the export uses, then writes the result manifest and verifies the
whole directory against it: the applied state is, file for file, the registry's full snapshot at the new
time (same snapshot id), or it is refused. :func:`chain` lists what a registry publishes: the newest full
snapshot and the deltas after it.

Both run in bounded memory: :func:`write_delta` walks the two snapshots' terms and rows side by side in
work-id order, ``batch`` rows at a time, and :func:`apply_delta` merges the base a ``batch`` at a time with
the delta's rows. What they hold beyond that is the delta's own size (its rows, and the ids of the works
it touches), never the registry's.
"""

from __future__ import annotations

import hashlib
import json
from array import array
from collections.abc import Iterator
from pathlib import Path

from fairtrain.core.keys import PublicKey, SignatureError, SigningKey, verify_document
from fairtrain.core.snapshot import (
    DELTA_FORMAT,
    FINGERPRINTS_DIR,
    FORMAT,
    FORMAT_V5,
    FORMAT_V7,
    MANIFEST,
    OLDER_FORMATS,
    ROWS_DIR,
    ROWS_PER_SHARD,
    TERMS_DIR,
    TERMS_PER_SHARD,
    ShardWriter,
    Snapshot,
    SnapshotError,
    rows_schema,
    seal_snapshot,
    terms_schema,
    verify_snapshot,
)

RESULT = "result-manifest.json"
DELETED = "deleted.parquet"
# Rows read from a snapshot at a time (the export's row groups are 5,000 rows, so this decodes one).
DELTA_BATCH = 5_000
CHAIN_FORMAT = "fairtrain-snapshot-chain/1"


def _read(files: list[Path], schema):
    import pyarrow as pa
    import pyarrow.parquet as pq

    parts = [pq.read_table(p) for p in sorted(files)]
    return pa.concat_tables([t.select(schema.names).cast(schema) for t in parts]) if parts else schema.empty_table()


def _batches(files: list[Path], schema, batch: int):
    """``files`` (sorted by name) ``batch`` rows at a time, in the columns of ``schema``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    for p in sorted(files):
        f = pq.ParquetFile(p)
        for b in f.iter_batches(batch_size=batch, columns=schema.names):
            yield pa.Table.from_batches([b]).select(schema.names).cast(schema)


def _stream(snap: Snapshot, prefix: str, schema, batch: int) -> Iterator[dict]:
    """Every row of ``snap``'s files under ``prefix`` (shards in work-id order), one at a time, read a
    ``batch`` at a time."""
    for t in _batches([snap.check(p) for p in snap.files(prefix)], schema, batch):
        yield from t.to_pylist()


def _side_by_side(a: Iterator[dict], b: Iterator[dict]) -> Iterator[tuple[int, dict | None, dict | None]]:
    """``(work_id, row in a or None, row in b or None)`` for every work id of two streams sorted by it."""
    ra, rb = next(a, None), next(b, None)
    while ra is not None or rb is not None:
        if rb is None or (ra is not None and ra["work_id"] < rb["work_id"]):
            yield ra["work_id"], ra, None
            ra = next(a, None)
        elif ra is None or rb["work_id"] < ra["work_id"]:
            yield rb["work_id"], None, rb
            rb = next(b, None)
        else:
            yield ra["work_id"], ra, rb
            ra, rb = next(a, None), next(b, None)


def _require_rows(snap: Snapshot) -> None:
    fps = snap.manifest.get("counts", {}).get("fingerprints", {})
    missing = [m for m, n in fps.items() if n and not snap.files(f"{ROWS_DIR}/{m}/")]
    if missing:
        raise SnapshotError(
            f"{snap.path}: exported before snapshot deltas (no {ROWS_DIR}/ for {', '.join(missing)}): "
            "a delta needs a full snapshot exported by this fairtrain as its base"
        )


def write_delta(
    base: Snapshot, new: Snapshot, out: Path, key: SigningKey, meta: dict, *, batch: int = DELTA_BATCH
) -> dict:
    """The delta from ``base`` to ``new`` (both verified full snapshots) into ``out``, sealed; its manifest.
    Both are read side by side in work-id order, ``batch`` rows at a time (see the module's docstring)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    _require_rows(base)
    out = Path(out)
    added, withdrawn, terms_changed = array("q"), array("q"), array("q")
    grants = 0
    upsert = ShardWriter(out / TERMS_DIR, "upsert", terms_schema(), TERMS_PER_SHARD)
    pending: list[dict] = []
    for wid, a, b in _side_by_side(
        _stream(base, TERMS_DIR + "/", terms_schema(), batch), _stream(new, TERMS_DIR + "/", terms_schema(), batch)
    ):
        if a is None:
            added.append(wid)
        elif b is None:
            withdrawn.append(wid)
            continue
        elif a != b:
            terms_changed.append(wid)
            grants += a["licensees"] != b["licensees"]
        else:
            continue
        pending.append(b)
        if len(pending) >= batch:
            upsert.add(pending)
            pending = []
    upsert.add(pending)
    upsert.close()
    parts, gone_ids = ["terms"] * len(withdrawn), array("q", withdrawn)
    fp_counts: dict[str, dict[str, int]] = {}
    fp_changed = array("q")
    names = sorted(set(base.manifest["counts"].get("fingerprints", {})) | set(new.manifest["counts"]["fingerprints"]))
    for name in names:
        w = ShardWriter(out / ROWS_DIR / name, "upsert", rows_schema(), ROWS_PER_SHARD)
        put = gone = 0
        pending = []
        prefix = f"{ROWS_DIR}/{name}/"
        for wid, a, b in _side_by_side(
            _stream(base, prefix, rows_schema(), batch), _stream(new, prefix, rows_schema(), batch)
        ):
            if b is None:
                gone += 1
                parts.append(name)
                gone_ids.append(wid)
            elif a is None or a["fingerprint"] != b["fingerprint"]:
                put += 1
                pending.append(b)
                if len(pending) >= batch:
                    w.add(pending)
                    pending = []
            else:
                continue
            fp_changed.append(wid)
        w.add(pending)
        w.close()
        fp_counts[name] = {"upserted": put, "removed": gone}
    pq.write_table(
        pa.table({"part": pa.array(parts, pa.string()), "work_id": pa.array(gone_ids, pa.int64())}),
        out / DELETED,
        compression="zstd",
    )
    (out / RESULT).write_bytes((new.path / MANIFEST).read_bytes())
    # works in both snapshots whose terms or fingerprint rows changed (a row's work is in its snapshot's
    # terms, so a changed row of a work neither added nor withdrawn is one of a work in both)
    ids = lambda a: np.frombuffer(a, dtype=np.int64) if len(a) else np.empty(0, np.int64)  # noqa: E731
    fp_common = np.setdiff1d(ids(fp_changed), np.concatenate([ids(added), ids(withdrawn)]))
    counts = {
        "works": new.manifest["counts"]["works"],
        "added": len(added),
        "withdrawn": len(withdrawn),
        "changed": int(len(np.union1d(ids(terms_changed), fp_common))),
        "terms_changed": len(terms_changed),
        "grants_changed": grants,
        "fingerprints": fp_counts,
    }
    return seal_snapshot(
        out,
        key,
        {
            **meta,
            "kind": "delta",
            "applies_to": base.snapshot_id,
            "result": new.snapshot_id,
            "terms_at": new.manifest.get("terms_at"),
            "counts": counts,
        },
        fmt=DELTA_FORMAT,
    )


def check_delta(delta: Snapshot, trusted: list[PublicKey] | None) -> dict:
    """The signed result manifest a verified delta carries, checked: its hash is the delta's ``result`` and
    its signer is trusted. Returns it."""
    raw = (delta.path / RESULT).read_bytes() if (delta.path / RESULT).is_file() else b""
    if hashlib.sha256(raw).hexdigest() != delta.manifest.get("result"):
        raise SnapshotError(
            f"{RESULT}: its SHA-256 is not the delta's result {str(delta.manifest.get('result'))[:16]}…"
        )
    doc = json.loads(raw)
    try:
        verify_document(doc, trusted)
    except (SignatureError, ValueError) as e:
        raise SnapshotError(f"{RESULT}: {e}") from None
    return doc


def apply_delta(
    base: Snapshot, delta: Snapshot, out: Path, trusted: list[PublicKey] | None, *, batch: int = DELTA_BATCH
) -> Snapshot:
    """Build the full snapshot ``delta`` leads to from ``base`` in ``out`` (a new directory) and return it,
    verified against the delta's signed result manifest; refuses a delta for another base. The base is
    read ``batch`` rows at a time, merged with the delta's rows (which it holds: the delta's size)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from fairtrain.core.fingerprint import codec
    from fairtrain.core.fingerprint.modalities import modality
    from fairtrain.core.snapshot_index import build_segments

    if delta.manifest.get("applies_to") != base.snapshot_id:
        raise SnapshotError(
            f"{delta.path}: the delta applies to snapshot {str(delta.manifest.get('applies_to'))[:16]}…, "
            f"not to {base.snapshot_id[:16]}… in {base.path}"
        )
    _require_rows(base)
    result = check_delta(delta, trusted)
    out = Path(out)
    out.mkdir(parents=True)
    tombs = pq.read_table(delta.path / DELETED)

    def merged(old_files: list[Path], new, part: str):
        """The base's rows without those the delta replaces or withdraws, merged in work-id order with the
        delta's: ``batch`` rows of the base at a time (the base is never read whole)."""
        drop = pa.concat_arrays(
            [
                new.column("work_id").combine_chunks(),
                tombs.filter(pc.equal(tombs["part"], part)).column("work_id").combine_chunks(),
            ]
        )
        new = new.sort_by("work_id")
        new_ids = new.column("work_id").to_numpy()
        taken = 0
        for old in _batches([base.check(p) for p in old_files], new.schema, batch):
            kept = old.filter(pc.invert(pc.is_in(old["work_id"], value_set=drop)))
            if not kept.num_rows:
                continue
            upto = int(np.searchsorted(new_ids, kept.column("work_id")[-1].as_py(), "right"))
            if upto > taken:
                kept = pa.concat_tables([kept, new.slice(taken, upto - taken)]).sort_by("work_id")
                taken = upto
            yield kept
        if taken < new.num_rows:
            yield new.slice(taken)

    w = ShardWriter(out / TERMS_DIR, "terms", terms_schema(), TERMS_PER_SHARD)
    for part in merged(base.files(TERMS_DIR + "/"), _read(delta.files(TERMS_DIR + "/"), terms_schema()), "terms"):
        w.add(part)
    w.close()
    for name in sorted(result["counts"]["fingerprints"]):
        w = ShardWriter(out / ROWS_DIR / name, name, rows_schema(), ROWS_PER_SHARD)
        parts = merged(
            base.files(f"{ROWS_DIR}/{name}/"), _read(delta.files(f"{ROWS_DIR}/{name}/"), rows_schema()), name
        )

        def pairs(parts=parts, w=w):  # each merged part into the row shards as the index is built from it
            for part in parts:
                w.add(part)
                yield from zip(part.column("work_id").to_pylist(), part.column("fingerprint").to_pylist(), strict=True)

        segment_works = result.get("index_segment_works")
        if segment_works:  # format /4: the index in the export's segments
            build_segments(
                name,
                pairs(),
                out / FINGERPRINTS_DIR / name,
                int(segment_works),
                segment_filters=result.get("format") == FORMAT_V5,  # a /5 result: its layout
                mapped=result.get("format") in (FORMAT, FORMAT_V7),  # /7, /8: memory-mapped; /5, /6: Parquet
                buckets=result.get("format") == FORMAT,  # /8: bucket directories; /7 and before: none
            )
        else:  # a result written before segments: one flat index
            builder = modality(name).new_builder()
            for work_id, blob in pairs():
                builder.add(work_id, codec.loads(blob))
            builder.build().save(out / FINGERPRINTS_DIR / name)
        w.close()
    (out / MANIFEST).write_bytes((delta.path / RESULT).read_bytes())
    try:
        return verify_snapshot(out, trusted)
    except SnapshotError as e:
        raise SnapshotError(
            f"{delta.path}: applying it to {base.snapshot_id[:16]}… did not give the registry's snapshot "
            f"{str(delta.manifest.get('result'))[:16]}… ({e})"
        ) from None


# -- what a registry publishes ---------------------------------------------------------------------------


def chain(root: Path) -> dict:
    """The newest full snapshot under ``root`` (one directory each) and the deltas that follow it, in order;
    ``head`` is the snapshot id a pull ends at. Read, not verified: a puller verifies every signature."""
    fulls, deltas = [], []
    for d in sorted(Path(root).iterdir()) if Path(root).is_dir() else ():
        mpath = d / MANIFEST
        if not d.is_dir() or d.name.startswith(".") or not mpath.is_file():
            continue
        try:
            raw = mpath.read_bytes()
            m = json.loads(raw)
        except (OSError, ValueError):
            continue
        if not isinstance(m, dict):
            continue
        entry = {
            "name": d.name,
            "manifest_sha256": hashlib.sha256(raw).hexdigest(),
            "created_at": m.get("created_at"),
            "bytes": sum(f.get("bytes", 0) for f in m.get("files", [])) + len(raw),
            "counts": m.get("counts", {}),
        }
        if m.get("format") == DELTA_FORMAT:
            deltas.append({**entry, "applies_to": m.get("applies_to"), "result": m.get("result")})
        elif m.get("format") == FORMAT or m.get("format") in OLDER_FORMATS:
            fulls.append({**entry, "snapshot_id": entry["manifest_sha256"]})
    if not fulls:
        return {"format": CHAIN_FORMAT, "full": None, "deltas": [], "head": None}
    full = max(fulls, key=lambda f: (str(f["created_at"]), f["name"]))
    after, seen, head = [], {full["snapshot_id"]}, full["snapshot_id"]
    while True:
        nxt = [d for d in deltas if d["applies_to"] == head and d["result"] not in seen]
        if not nxt:
            break
        step = max(nxt, key=lambda d: (str(d["created_at"]), d["name"]))
        after.append(step)
        seen.add(step["result"])
        head = step["result"]
    return {"format": CHAIN_FORMAT, "full": full, "deltas": after, "head": head}
