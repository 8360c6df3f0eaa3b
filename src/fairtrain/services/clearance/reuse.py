"""Re-clearing after a snapshot delta (``fairtrain clear --since PREVIOUS_OUT``): only what can have changed.

A clearance keeps, beside its decisions, every item's scan-side fingerprint and what it matched, with the
exact scores, one file per input shard (``OUT/item-fingerprints/<n>.parquet``), and what it needs to know
of each snapshot it used (``OUT/item-fingerprints/context.json``: the snapshot id, each text index
segment's stop-list hash from the signed manifest, the row counts); the signed clearance manifest hashes
them all (``item_fingerprints``).

A later clearance given that output, a newer snapshot and the deltas that lead to it from the old one
(``--delta``, each verified) re-clears an item whose content (xxh3-128) and modality the old clearance
kept as follows, and gets what a full clearance against the new snapshot gives:

- its old matches with works the deltas did not change or withdraw are kept (with the new terms: a terms
  change is re-decided without matching again);
- the text works the deltas added or changed are matched against the kept fingerprints through an index
  of those works only, one per index segment they fall in, built with that segment's stop list, so a
  work matches as it does inside its segment; where a segment's stop list changed (boilerplate crossed
  the threshold, or works moved between segments), the kept fingerprints are matched against that segment
  itself and the old matches in it are dropped;
- an image, audio or video item is matched again against the new index, from its kept fingerprint (no
  decoding), where the deltas changed that modality's fingerprints, and keeps its matches where not.

Items not kept (new, edited, or failed before) are cleared in full. Where the input does not allow reuse
at all (no kept fingerprints, a manifest that does not verify, other snapshots, no chain of deltas) the
whole clearance runs in full and the report says why (``reuse.reason``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.core.errors import FairtrainError
from fairtrain.core.files import atomic_file
from fairtrain.core.fingerprint import Match as FoundMatch
from fairtrain.core.fingerprint import codec
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.matcher import HEAD_BYTES, SnapshotMatcher
from fairtrain.core.media import detect_media_type
from fairtrain.core.snapshot import FINGERPRINTS_DIR, ROWS_DIR, TERMS_DIR, Snapshot, SnapshotError, rows_schema
from fairtrain.core.snapshot_delta import DELETED
from fairtrain.services.clearance.pipeline import Batch, MatchStep, add_matches
from fairtrain.services.clearance.records import ItemRecord

KEEP_FORMAT = "fairtrain-item-fingerprints/1"
KEEP_DIR = "item-fingerprints"
CONTEXT = "context.json"
KEEP_SCHEMA = pa.schema(
    [
        ("content_hash", pa.string()),
        ("modality", pa.string()),
        ("seconds", pa.float64()),
        ("fingerprint", pa.binary()),  # the scan-side fingerprint (fingerprint.codec.pack)
        # JSON [[snapshot_id, work_id, exact score, stage, evidence], ...] in the order they were matched
        ("matches", pa.string()),
    ]
)
KEEP_ROW_GROUP = 2_048


def keep_path(out: Path, n: int) -> Path:
    return Path(out) / KEEP_DIR / f"{n:06d}.parquet"


def keepable(fp: object) -> bytes | None:
    """A scan-side fingerprint as a blob to keep (with what it computes on demand while matching, such as a
    text's syllables for its Hangul MinHash), or None where its type cannot be stored."""
    if isinstance(fp, bytes):
        return fp
    try:
        return codec.pack(fp)
    except TypeError:
        return None


class KeptWriter:
    """One input shard's kept fingerprints and matches, written a row group at a time, one row per content."""

    def __init__(self, path: Path):
        self.path = path
        self.rows: list[dict] = []
        self.seen: set[str] = set()
        self._ctx = None
        self._writer = None

    def __enter__(self) -> KeptWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._ctx = atomic_file(self.path)
        tmp = self._ctx.__enter__()
        self._writer = pq.ParquetWriter(tmp, KEEP_SCHEMA, compression="zstd")
        return self

    def add(self, rec: ItemRecord) -> None:
        if rec.content_hash is None or rec.fingerprint is None or rec.error or rec.content_hash in self.seen:
            return
        blob = keepable(rec.fingerprint)
        if blob is None:
            return
        self.seen.add(rec.content_hash)
        self.rows.append(
            {
                "content_hash": rec.content_hash,
                "modality": rec.modality,
                "seconds": rec.seconds,
                "fingerprint": blob,
                "matches": json.dumps(
                    [
                        [m.snapshot, m.work_id, m.exact_score if m.exact_score is not None else m.score, m.stage]
                        + [m.evidence]
                        for m in rec.matches
                    ],
                    ensure_ascii=False,
                    default=str,
                ),
            }
        )
        if len(self.rows) >= KEEP_ROW_GROUP:
            self._flush()

    def _flush(self) -> None:
        self._writer.write_table(pa.Table.from_pylist(self.rows, schema=KEEP_SCHEMA))
        self.rows.clear()

    def __exit__(self, *exc) -> None:
        if self.rows and exc[0] is None:
            self._flush()
        self._writer.close()
        self._ctx.__exit__(*exc)


# -- what the finished clearance records: the files' hashes and each snapshot's context -----------------


# a text index segment's stop list: memory-mapped since snapshot format /7, Parquet before
_STOP_FILES = ("stop.npy", "stop.parquet")


def _segment_column(snap: Snapshot, seg: Path, array: str, table: str, column: str) -> np.ndarray:
    """One column of a text index segment, from its ``ARRAY.npy`` (format /7) or its Parquet ``table``."""
    mapped = seg / f"{array}.npy"
    if mapped.exists():
        return np.load(snap.check(mapped), mmap_mode="r", allow_pickle=False)
    return pq.read_table(snap.check(seg / table), columns=[column]).column(column).to_numpy()


def snapshot_context(snap: Snapshot) -> dict:
    """What a later ``--since`` needs to know of a snapshot this clearance used, from its signed manifest:
    the id and format, the row counts per modality, the highest work id, the index segment size and the
    SHA-256 of each text index segment's stop list (None: a flat index, before segments)."""
    m = snap.manifest
    stops = {}
    prefix = f"{FINGERPRINTS_DIR}/text/"
    for f in m.get("files", []):
        rel = f["path"]
        if rel.startswith(prefix) and rel.endswith(_STOP_FILES) and rel.count("/") == 3:
            stops[rel.split("/")[2]] = f["sha256"]
    segmented = bool(stops) and all(k.startswith("seg-") for k in stops)
    return {
        "snapshot_id": snap.snapshot_id,
        "format": m.get("format"),
        "fingerprints": dict(m.get("counts", {}).get("fingerprints", {})),
        "max_work_id": _max_work_id(snap),
        "index_segment_works": m.get("index_segment_works"),
        "text_stops": [stops[k] for k in sorted(stops)] if segmented else None,
    }


def _max_work_id(snap: Snapshot) -> int:
    """The highest work id in the snapshot's terms (from the manifest's shard ranges since /6)."""
    ranges = snap.manifest.get("terms_shards")
    if ranges is not None:
        return max((int(r[2]) for r in ranges if r[3]), default=-1)
    top = -1
    for p in snap.files(TERMS_DIR + "/"):
        ids = pq.read_table(snap.check(p), columns=["work_id"]).column("work_id").to_pylist()
        top = max([top, *ids])
    return top


def record_kept(out: Path, job: dict, snapshots: Sequence[Snapshot]) -> dict:
    """Write ``context.json`` and return the manifest's ``item_fingerprints`` entry (every kept file and the
    context, each with its SHA-256)."""
    from fairtrain.core.snapshot import file_sha256

    ctx = {"format": KEEP_FORMAT, "snapshots": [snapshot_context(s) for s in snapshots]}
    d = Path(out) / KEEP_DIR
    d.mkdir(parents=True, exist_ok=True)
    with atomic_file(d / CONTEXT) as tmp:
        tmp.write_text(json.dumps(ctx, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    files = []
    for s in job["shards"]:
        p = keep_path(out, s["n"])
        if p.is_file():
            files.append(
                {
                    "path": p.relative_to(out).as_posix(),
                    "sha256": file_sha256(p),
                    "rows": pq.ParquetFile(p).metadata.num_rows,
                }
            )
    return {
        "format": KEEP_FORMAT,
        "context": {"path": f"{KEEP_DIR}/{CONTEXT}", "sha256": file_sha256(d / CONTEXT)},
        "files": files,
    }


# -- planning a re-clear: the previous output checked, the chain of deltas found ------------------------


class NoReuse(FairtrainError):  # noqa: N818 - not an error: the reason a re-clear runs in full
    """Why the input does not allow reuse; the clearance runs in full and its report says so."""


@dataclass
class Changes:
    """What a chain of deltas changed, net: terms rows upserted or removed, and per modality the fingerprint
    rows upserted (work id -> public blob) or removed (work id -> None)."""

    deltas: list[str] = field(default_factory=list)  # the deltas' paths, in order
    terms: set[int] = field(default_factory=set)
    terms_removed: set[int] = field(default_factory=set)
    fingerprints: dict[str, dict[int, bytes | None]] = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "deltas": len(self.deltas),
            "terms_changed": len(self.terms),
            "works_withdrawn": len(self.terms_removed),
            "fingerprints_changed": {k: len(v) for k, v in sorted(self.fingerprints.items())},
        }


@dataclass
class SnapshotReuse:
    """One snapshot position of the clearance: ``same`` (the old snapshot again) or ``delta`` (reached by
    ``changes`` from the old one, whose recorded context is ``old``)."""

    status: str
    old_id: str
    new_id: str
    old: dict
    changes: Changes | None = None


@dataclass
class ReusePlan:
    """What a re-clear may reuse: the earlier output, its kept files and each snapshot's changes (it travels
    with the shard runner to every worker; the kept files are read where the step runs)."""

    since: Path
    files: list[str]
    snapshots: list[SnapshotReuse]

    def match_step(self, matchers: Sequence[SnapshotMatcher]) -> ReuseMatchStep:
        return ReuseMatchStep(matchers, self)

    def summary(self, snapshots: Sequence[Snapshot] = ()) -> dict:
        """The report's ``reuse`` (less the item counts): per snapshot, the chain and what it changed."""
        out = []
        for i, s in enumerate(self.snapshots):
            entry = {"from": s.old_id, "to": s.new_id, "status": s.status, **(s.changes.summary() if s.changes else {})}
            if s.status == "delta" and i < len(snapshots):
                entry.update(_TextDelta(s, SnapshotMatcher(snapshots[i]), build=False).describe())
            out.append(entry)
        return {"since": str(self.since), "used": True, "reason": None, "snapshots": out}


def plan_reuse(since: Path, snapshots: Sequence[Snapshot], deltas: Sequence[Path], verify_key, trusted) -> ReusePlan:
    """Check the previous clearance in ``since`` (its manifest signed by ``verify_key``, every kept file
    against its hash) and find, for each of ``snapshots``, the old one it replaces and the chain of
    ``deltas`` between them. Raises :class:`NoReuse` with the reason where the input does not allow it."""
    from fairtrain.core.keys import SignatureError, verify_document
    from fairtrain.core.snapshot import file_sha256, verify_delta

    since = Path(since)
    mpath = since / "manifest.json"
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise NoReuse(f"{mpath}: no readable clearance manifest ({e})") from None
    try:
        verify_document(doc, [verify_key])
    except (SignatureError, ValueError) as e:
        raise NoReuse(f"{mpath}: not signed by this licensee's key ({e})") from None
    kept = doc.get("item_fingerprints")
    if not kept:
        raise NoReuse(f"{mpath}: the previous clearance kept no item fingerprints (cleared by an older fairtrain)")
    for f in [kept["context"], *kept["files"]]:
        p = since / f["path"]
        if not p.is_file() or file_sha256(p) != f["sha256"]:
            raise NoReuse(f"{p}: missing or not the file the previous clearance's manifest hashed")
    ctx = json.loads((since / kept["context"]["path"]).read_text(encoding="utf-8"))
    old = ctx["snapshots"]
    if len(old) != len(snapshots):
        raise NoReuse(f"the previous clearance used {len(old)} snapshots, this one {len(snapshots)}")
    found: dict[str, Snapshot] = {}
    for path in deltas:
        for d in _delta_dirs(Path(path)):
            try:
                delta = verify_delta(d, trusted)
            except SnapshotError as e:
                raise NoReuse(f"{d}: {e}") from None
            found.setdefault(delta.manifest.get("applies_to"), delta)
    plans = []
    for o, snap in zip(old, snapshots, strict=True):
        if o["snapshot_id"] == snap.snapshot_id:
            plans.append(SnapshotReuse("same", o["snapshot_id"], snap.snapshot_id, o))
            continue
        chain, at = [], o["snapshot_id"]
        while at != snap.snapshot_id and at in found and len(chain) <= len(found):
            chain.append(found[at])
            at = found[at].manifest.get("result")
        if at != snap.snapshot_id:
            raise NoReuse(
                f"no chain of deltas (--delta) leads from snapshot {o['snapshot_id'][:16]}… that the previous "
                f"clearance used to {snap.snapshot_id[:16]}… in {snap.path}"
            )
        plans.append(SnapshotReuse("delta", o["snapshot_id"], snap.snapshot_id, o, _changes(chain)))
    return ReusePlan(since, [f["path"] for f in kept["files"]], plans)


def _delta_dirs(path: Path) -> list[Path]:
    """``path`` itself when it is a delta, else the deltas directly under it (a registry's snapshot root)."""
    from fairtrain.core.snapshot import DELTA_FORMAT, MANIFEST

    def is_delta(d: Path) -> bool:
        try:
            return json.loads((d / MANIFEST).read_text(encoding="utf-8")).get("format") == DELTA_FORMAT
        except (OSError, ValueError, AttributeError):
            return False

    if (path / "manifest.json").is_file():
        return [path]
    return [d for d in sorted(path.iterdir()) if d.is_dir() and is_delta(d)] if path.is_dir() else []


def _changes(chain: list[Snapshot]) -> Changes:
    ch = Changes()
    for delta in chain:
        ch.deltas.append(str(delta.path))
        for p in delta.files(TERMS_DIR + "/"):
            for w in pq.read_table(p, columns=["work_id"]).column("work_id").to_pylist():
                ch.terms.add(w)
                ch.terms_removed.discard(w)
        names = {p.relative_to(delta.path).parts[1] for p in delta.files(ROWS_DIR + "/")}
        for name in sorted(names | set(delta.manifest.get("counts", {}).get("fingerprints", {}))):
            rows = ch.fingerprints.setdefault(name, {})
            for p in delta.files(f"{ROWS_DIR}/{name}/"):
                t = pq.read_table(p).select(rows_schema().names)
                for w, blob in zip(t.column("work_id").to_pylist(), t.column("fingerprint").to_pylist(), strict=True):
                    rows[w] = blob
        tombs = pq.read_table(delta.path / DELETED)
        for part, w in zip(tombs.column("part").to_pylist(), tombs.column("work_id").to_pylist(), strict=True):
            if part == "terms":
                ch.terms.discard(w)
                ch.terms_removed.add(w)
            else:
                ch.fingerprints.setdefault(part, {})[w] = None
    ch.fingerprints = {k: v for k, v in ch.fingerprints.items() if v}
    return ch


# -- the step: kept items reuse what they matched, the others are matched in full ----------------------


@dataclass
class _Kept:
    modality: str
    seconds: float | None
    matches: list  # [snapshot_id, work_id, score, stage, evidence]
    file: int
    row: int


class KeptItems:
    """The previous clearance's kept items by content hash; fingerprints read a row group at a time."""

    def __init__(self, since: Path, files: list[str]):
        self.files = [pq.ParquetFile(Path(since) / f) for f in files]
        self.by_hash: dict[str, _Kept] = {}
        self._starts = []
        self._cache: dict[tuple[int, int], list] = {}
        for i, f in enumerate(self.files):
            t = f.read(columns=["content_hash", "modality", "seconds", "matches"])
            sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
            self._starts.append(np.cumsum([0, *sizes]))
            for r, (h, kind, sec, ms) in enumerate(
                zip(*(t.column(c).to_pylist() for c in ("content_hash", "modality", "seconds", "matches")), strict=True)
            ):
                self.by_hash.setdefault(h, _Kept(kind, sec, json.loads(ms), i, r))

    def blob(self, k: _Kept) -> bytes:
        starts = self._starts[k.file]
        g = int(np.searchsorted(starts, k.row, "right")) - 1
        if (k.file, g) not in self._cache:
            if len(self._cache) > 8:
                self._cache.clear()
            self._cache[(k.file, g)] = (
                self.files[k.file].read_row_group(g, columns=["fingerprint"]).column(0).to_pylist()
            )
        return self._cache[(k.file, g)][k.row - int(starts[g])]


def _order(index) -> object:
    """The order a modality's index gives its matches: a segmented one puts exact hits first."""
    if getattr(index, "paths", None) is not None and len(index.paths) > 1:
        return lambda m: (m.stage != "exact", -m.score, m.work_id)
    return lambda m: (-m.score, m.work_id)


class _TextDelta:
    """For one snapshot reached by deltas: which old text matches still hold, and what to match again
    (``indexes``: (segment, index over that segment's changed works) and (segment, None) for a segment
    whose stop list changed, matched whole)."""

    def __init__(self, sr: SnapshotReuse, matcher: SnapshotMatcher, *, build: bool = True):
        self.full_reason: str | None = None
        self.drop: set[int] = set()
        self.ranges: list[tuple[int, int]] = []
        self.indexes: list[tuple[int, object | None]] = []
        changes = sr.changes.fingerprints.get("text", {})
        self.index = matcher.index("text")
        if not changes:
            return
        self.drop = set(changes)
        snap, old = matcher.snapshot, sr.old
        sw = snap.manifest.get("index_segment_works")
        if self.index is None or not hasattr(self.index, "paths"):
            self.full_reason = "the new snapshot's text index is not in segments"
            return
        if old.get("text_stops") is None or old.get("index_segment_works") != sw:
            self.full_reason = "the old snapshot's text index has another layout"
            return
        n_old = int(old["fingerprints"].get("text", 0))
        n_new = int(snap.manifest.get("counts", {}).get("fingerprints", {}).get("text", 0))
        top = int(old["max_work_id"])
        up_high = sum(1 for w, b in changes.items() if b is not None and w > top)
        removed = np.array(sorted(w for w, b in changes.items() if b is None and w <= top), dtype=np.int64)
        if up_high != n_new - n_old + len(removed):
            self.full_reason = "text works were added between existing ones"
            return
        sw = int(sw)
        stops_old = old["text_stops"]
        listed = {f["path"]: f["sha256"] for f in snap.manifest["files"]}
        for k, seg in enumerate(self.index.paths):
            ids = _segment_column(snap, seg, "work_ids", "works.parquet", "work_id")
            if not len(ids):
                continue
            first, last = int(ids[0]), int(ids[-1])
            stop_sha = next(
                listed[f"{FINGERPRINTS_DIR}/text/{seg.name}/{name}"]
                for name in _STOP_FILES
                if f"{FINGERPRINTS_DIR}/text/{seg.name}/{name}" in listed
            )
            in_seg = sorted(w for w, b in changes.items() if b is not None and first <= w <= last)
            if first > top:  # only works added since: matched against the segment itself
                self.indexes.append((k, None))
                continue
            below = np.searchsorted(removed, [first, min(last, top)])
            lo = (k * sw + int(below[0])) // sw
            hi = min(((k + 1) * sw - 1 + int(below[1])) // sw, len(stops_old) - 1)
            if any(stops_old[o] != stop_sha for o in range(lo, hi + 1)):
                self.ranges.append((first, last))
                self.indexes.append((k, None))
            elif in_seg and not build:
                self.indexes.append((k, len(in_seg)))
            elif in_seg:
                builder = modality("text").new_builder()
                stop = _segment_column(snap, seg, "stop", "stop.parquet", "hash")
                builder.add_stop_hashes(np.asarray(stop, dtype=np.uint64))
                for w in in_seg:
                    builder.add(w, codec.loads(changes[w]))
                self.indexes.append((k, builder.build()))

    def describe(self) -> dict:
        """What the re-clear does for text items (for the report)."""
        if self.full_reason is not None:
            return {"text": "matched again against the whole new index", "why": self.full_reason}
        built = [n for _, n in self.indexes if n is not None]
        return {
            "text": "matched against an index of the changed works only" if self.indexes or self.drop else "reused",
            "changed_works_indexed": sum(n if isinstance(n, int) else len(n) for n in built),
            "segments_with_changed_works": len(built),
            "segments_matched_whole": sum(1 for _, n in self.indexes if n is None),
        }

    def dropped(self, work_id: int) -> bool:
        return work_id in self.drop or any(a <= work_id <= b for a, b in self.ranges)

    def match(self, fps: list) -> list[list[FoundMatch]]:
        routes = self.index.route(fps) if len(self.index.paths) > 1 else [list(range(len(fps)))]
        out: list[list[FoundMatch]] = [[] for _ in fps]
        for k, idx in self.indexes:
            queries = routes[k]
            if not queries:
                continue
            index = idx if idx is not None else self.index.segment(k)
            for q, found in zip(queries, index.match([fps[q] for q in queries]), strict=True):
                out[q].extend(found)
        return out


class ReuseMatchStep(MatchStep):
    """:class:`MatchStep` for ``clear --since``: an item the previous clearance kept keeps its matches where
    the deltas cannot have changed them; the rest is matched (see the module's docstring)."""

    def __init__(self, matchers: Sequence[SnapshotMatcher], plan: ReusePlan):
        super().__init__(matchers)
        self.plan = plan
        self._kept: KeptItems | None = None
        self._text: dict[int, _TextDelta] = {}

    @property
    def kept(self) -> KeptItems:
        if self._kept is None:
            self._kept = KeptItems(self.plan.since, self.plan.files)
        return self._kept

    def text_delta(self, i: int) -> _TextDelta:
        if i not in self._text:
            self._text[i] = _TextDelta(self.plan.snapshots[i], self.matchers[i])
        return self._text[i]

    def __call__(self, batch: Batch) -> Batch:
        fresh, again = [], []
        for rec, data in self.contents(batch):
            k = self.kept.by_hash.get(rec.content_hash)
            if k is not None and _kind(rec, data) == k.modality:
                again.append((rec, k))
            else:
                fresh.append((rec, data))
        self.match(fresh)
        if again:
            self._reuse(again)
        return batch

    def _reuse(self, again: list[tuple[ItemRecord, _Kept]]) -> None:
        for rec, k in again:
            rec.modality, rec.seconds, rec.reused = k.modality, k.seconds, True
            rec.fingerprint = self.kept.blob(k)
        fps: dict[int, object] = {}

        def fp(j: int):
            if j not in fps:
                fps[j] = codec.unpack(again[j][0].fingerprint)
            return fps[j]

        for i, (matcher, sr) in enumerate(zip(self.matchers, self.plan.snapshots, strict=True)):
            found: list[list] = [[] for _ in again]
            by_kind: dict[str, list[int]] = {}
            for j, (_, k) in enumerate(again):
                by_kind.setdefault(k.modality, []).append(j)
            for kind, js in by_kind.items():
                old = {j: [m for m in again[j][1].matches if m[0] == sr.old_id] for j in js}
                changed = sr.changes.fingerprints.get(kind) if sr.status == "delta" else None
                if not changed:  # nothing of this modality changed: every match holds
                    for j in js:
                        found[j] = [_found(m) for m in old[j]]
                    continue
                index = matcher.index(kind)
                text = self.text_delta(i) if kind == "text" else None
                if index is None:
                    continue
                if text is None or text.full_reason is not None:  # matched again whole, from the kept fingerprint
                    for j, ms in zip(js, index.match([fp(j) for j in js]), strict=True):
                        found[j] = list(ms)
                    continue
                new = text.match([fp(j) for j in js])
                order = _order(index)
                for j, extra in zip(js, new, strict=True):
                    ms = [_found(m) for m in old[j] if not text.dropped(m[1])] + extra
                    ms.sort(key=order)
                    found[j] = ms
            add_matches(
                [r for r, _ in again],
                matcher,
                [[(m, matcher.terms.row(m.work_id)) for m in ms] for ms in found],
            )


def _found(m: list) -> FoundMatch:
    return FoundMatch(int(m[1]), float(m[2]), m[3], m[4])


def _kind(rec: ItemRecord, data) -> str | None:
    """The modality :func:`~fairtrain.core.matcher.load_item` would give the item (its first bytes)."""
    if rec.item.media_type:
        return rec.item.media_type
    if isinstance(data, Path):
        try:
            with open(data, "rb") as f:
                head = f.read(HEAD_BYTES)
        except OSError:
            return None
    else:
        head = data[:HEAD_BYTES]
    return detect_media_type(head, rec.item.item)


__all__ = [
    "KEEP_DIR",
    "KEEP_FORMAT",
    "KeptWriter",
    "NoReuse",
    "ReuseMatchStep",
    "ReusePlan",
    "keep_path",
    "plan_reuse",
    "record_kept",
    "snapshot_context",
]
