"""Signed registry snapshots: a directory of Parquet shards and a signed ``manifest.json``.

The manifest lists every file with its SHA-256 and size and is signed (Ed25519) over its canonical
JSON. :func:`verify_snapshot` checks the signature first, then every file, and refuses unlisted
files, so nothing in a snapshot is trusted before it is verified. With ``lazy=True`` (what
``SnapshotMatcher.open`` uses) it checks the signature, every file's presence and size and that nothing
unlisted was added, and leaves each file's SHA-256 to :meth:`Snapshot.check`, which every reader calls
before it reads a file: a file is hashed once, on first use, so opening costs the manifest, not the
snapshot's size, and a tampered file is refused when something would read it. Snapshots never contain
works: only fingerprints, effective terms and identifiers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from fairtrain.core.errors import IntegrityFailure
from fairtrain.core.files import write_atomic
from fairtrain.core.keys import PublicKey, SignatureError, SigningKey, sign_document, verify_document
from fairtrain.core.vocab import Category, Purpose, Value

# /8: the text index inside each segment is format 4 and the routing table has a bucket directory
# (``route-buckets.npy``): every key is found in one short run of keys, so a lookup costs the same whatever
# the registry's size (issue 17; /7 binary-searched arrays that grow with it);
# /7: the text index inside each segment is uncompressed .npy (fingerprint.text index format 3), opened by
# memory-mapping: a segment's first use decodes nothing (/6 and before: zstd Parquet, decoded whole);
# /6: a merged candidate table per modality routes a batch with one lookup whatever the number of
# segments (core/snapshot_index.py), and the signed manifest carries each terms shard's work-id range
# (``terms_shards``), so opening reads no shard;
# /5: each text index segment carries its candidate keys (core/snapshot_index.py), memory-mapped, so a
# clearance asks only the segments an item can match;
# /4: each modality's match index cut into work-id segments (core/snapshot_index.py), exported in bounded
# memory and opened segment by segment;
# /3: the text index carries the spacing-invariant Hangul channel (fingerprint.text index format 2);
# /2: terms for every purpose (commercial and research); /1: commercial only.
FORMAT = "fairtrain-snapshot/8"
FORMAT_V7 = "fairtrain-snapshot/7"
FORMAT_V6 = "fairtrain-snapshot/6"
FORMAT_V5 = "fairtrain-snapshot/5"
FORMAT_V4 = "fairtrain-snapshot/4"
FORMAT_V3 = "fairtrain-snapshot/3"
FORMAT_V2 = "fairtrain-snapshot/2"
FORMAT_V1 = "fairtrain-snapshot/1"
_NO_HANGUL = (
    "Korean text copied with other word spacing is not recognised; re-export the snapshot with "
    "this version of fairtrain to enable it"
)
# Older formats still open; what each lacks, in words a user can act on.
OLDER_FORMATS = {
    FORMAT_V7: (
        "snapshot format 7: each key is looked up by a binary search over all of a segment's keys, so "
        "clearance slows as the registry grows; re-export the snapshot with this version of fairtrain to "
        "look keys up through bucket directories"
    ),
    FORMAT_V6: (
        "snapshot format 6: each text index segment is decoded whole into memory when first used; "
        "re-export the snapshot with this version of fairtrain to open segments by memory-mapping"
    ),
    FORMAT_V5: (
        "snapshot format 5: each item is looked up in every index segment's candidate filter and opening "
        "reads every terms shard; re-export the snapshot with this version of fairtrain to route items "
        "with one lookup and open it from its manifest alone"
    ),
    FORMAT_V4: (
        "snapshot format 4: every item is matched against every index segment, so clearance slows as the "
        "registry grows; re-export the snapshot with this version of fairtrain to match each item only "
        "against the segments it can match"
    ),
    FORMAT_V3: (
        "snapshot format 3: each match index is read whole into memory when first used; re-export the "
        "snapshot with this version of fairtrain to open it segment by segment"
    ),
    FORMAT_V2: f"snapshot format 2: {_NO_HANGUL}",
    FORMAT_V1: f"snapshot format 1: {_NO_HANGUL}",
}
MANIFEST = "manifest.json"
# A delta (``fairtrain snapshot export --since``): the changes from one full snapshot to the next, and the
# next one's signed manifest; see core/snapshot_delta.py. Never opened as a snapshot itself.
DELTA_FORMAT = "fairtrain-snapshot-delta/1"


class SnapshotError(IntegrityFailure):
    """A snapshot is incomplete, tampered with, or signed by an untrusted key."""


_CHECK_LOCK = threading.Lock()  # one file hashed at a time per process: a thread never reads a half-checked file


@dataclass(frozen=True)
class Snapshot:
    path: Path
    manifest: dict
    signer: PublicKey
    # files whose SHA-256 is still to be checked (relative path -> expected hash): a lazily verified
    # snapshot's, emptied by :meth:`check` as they are first read
    unverified: dict = field(default_factory=dict, compare=False, repr=False)

    def check(self, path: Path) -> Path:
        """``path`` (a file or a directory of this snapshot), every listed file at or under it checked
        against the manifest's SHA-256 if it has not been yet; refuses a tampered one. Every reader of a
        snapshot's files calls this before reading them."""
        if not self.unverified:
            return path
        rel = Path(path).relative_to(self.path).as_posix()
        with _CHECK_LOCK:
            todo = [rel] if rel in self.unverified else [r for r in self.unverified if r.startswith(rel + "/")]
            for r in todo:
                if file_sha256(self.path / r) != self.unverified[r]:
                    raise SnapshotError(f"{self.path / r}: SHA-256 does not match the signed manifest (tampered)")
                del self.unverified[r]
        return path

    def check_all(self) -> Snapshot:
        """Check every file not yet checked (what an eager :func:`verify_snapshot` does at once)."""
        for rel in list(self.unverified):
            self.check(self.path / rel)
        return self

    @property
    def snapshot_id(self) -> str:
        """SHA-256 of the signed manifest: what clearance manifests cite."""
        return hashlib.sha256((self.path / MANIFEST).read_bytes()).hexdigest()

    @property
    def notices(self) -> list[str]:
        """What this snapshot cannot do because of its format (empty for the current one)."""
        old = OLDER_FORMATS.get(self.manifest.get("format"))
        return [old] if old else []

    def files(self, prefix: str = "") -> list[Path]:
        return [self.path / f["path"] for f in self.manifest["files"] if f["path"].startswith(prefix)]

    @property
    def purposes(self) -> tuple[Purpose, ...]:
        """The purposes its terms were computed for: every one since format /2, commercial use before."""
        return (Purpose.COMMERCIAL,) if self.manifest.get("format") == FORMAT_V1 else tuple(Purpose)

    def require(self, purpose: Purpose) -> None:
        """Refuse, naming the re-export, a snapshot whose terms say nothing about ``purpose``."""
        if purpose not in self.purposes:
            raise SnapshotError(_no_terms_for(self.path, purpose))


def _no_terms_for(path: object, purpose: Purpose) -> str:
    return (
        f"{path}: a {FORMAT_V1} snapshot holds terms for commercial use only, not for {purpose.value} use: "
        f"re-export it with `fairtrain snapshot export` ({FORMAT} carries the terms for every purpose)"
    )


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seal_snapshot(
    directory: Path, key: SigningKey, meta: dict, *, fmt: str = FORMAT, known: dict | None = None
) -> dict:
    """Hash every file under ``directory`` and write the signed manifest (atomically). ``known``: relative
    path -> (SHA-256, size) of files hashed as they were written (an export's segments, by the process that
    built them), taken where the size still matches."""
    files = []
    known = known or {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != MANIFEST and not p.name.endswith(".tmp"):
            rel, size = p.relative_to(directory).as_posix(), p.stat().st_size
            sha, was = known.get(rel, (None, None))
            files.append({"path": rel, "sha256": sha if was == size else file_sha256(p), "bytes": size})
    doc = sign_document({"format": fmt, "created_at": datetime.now(UTC).isoformat(), **meta, "files": files}, key)
    write_atomic(directory / MANIFEST, (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode())
    return doc


def publish_directory(staging: Path, target: Path) -> None:
    """Move a finished staging directory into place; an existing target is replaced only after that."""
    if target.exists():
        old = target.with_name(target.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(staging, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, target)


def verify_snapshot(directory: Path, trusted: list[PublicKey] | None = None, *, lazy: bool = False) -> Snapshot:
    """Verify signature, then every file's hash and size; refuse anything unlisted or missing. With ``lazy``,
    each file's hash is checked when it is first read (:meth:`Snapshot.check`), not now."""
    return _verify(Path(directory), trusted, delta=False, lazy=lazy)


def verify_delta(directory: Path, trusted: list[PublicKey] | None = None) -> Snapshot:
    """A snapshot delta, verified like a snapshot (signature first, then every file); refuses a full snapshot."""
    return _verify(Path(directory), trusted, delta=True)


def _verify(directory: Path, trusted: list[PublicKey] | None, *, delta: bool, lazy: bool = False) -> Snapshot:
    mpath = directory / MANIFEST
    try:
        doc = json.loads(mpath.read_text(encoding="utf-8"))
    except OSError as e:
        raise SnapshotError(f"{directory}: no readable {MANIFEST} ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise SnapshotError(f"{mpath}: not JSON ({e.msg} at line {e.lineno})") from None
    fmt = doc.get("format") if isinstance(doc, dict) else None
    if delta and fmt != DELTA_FORMAT:
        raise SnapshotError(f"{mpath}: not a {DELTA_FORMAT} manifest (format {fmt!r}): not a snapshot delta")
    if not delta and fmt == DELTA_FORMAT:
        raise SnapshotError(
            f"{directory}: a snapshot delta (it applies to snapshot {str(doc.get('applies_to'))[:16]}…), not a "
            "snapshot: apply it with `fairtrain snapshot pull`"
        )
    if not delta and (fmt != FORMAT and fmt not in OLDER_FORMATS):
        raise SnapshotError(
            f"{mpath}: not a {FORMAT} manifest (format {fmt!r}): re-export the snapshot with "
            "this fairtrain's `fairtrain snapshot export`"
        )
    try:
        signer = verify_document(doc, trusted)
    except (SignatureError, ValueError) as e:
        raise SnapshotError(f"{mpath}: {e}") from None
    listed = {}
    for f in doc.get("files", []):
        rel = f.get("path", "")
        if rel.startswith("/") or ".." in Path(rel).parts:
            raise SnapshotError(f"{mpath}: file path {rel!r} leaves the snapshot directory")
        listed[rel] = f
    present = _sizes(directory)  # one walk and one stat a file: opening a 10⁷-work snapshot lists ~1,300
    for rel, f in listed.items():
        size = present.get(rel)
        if size is None:
            raise SnapshotError(f"{rel}: listed in the manifest but missing")
        if size != f["bytes"]:
            raise SnapshotError(f"{rel}: {size} bytes, the manifest says {f['bytes']} (tampered or truncated)")
        if not lazy and file_sha256(directory / rel) != f["sha256"]:
            raise SnapshotError(f"{rel}: SHA-256 does not match the manifest (tampered)")
    for rel in present:
        if rel != MANIFEST and rel not in listed:
            raise SnapshotError(f"{rel}: not listed in the signed manifest (added after signing)")
    pending = {rel: f["sha256"] for rel, f in listed.items()} if lazy else {}
    return Snapshot(path=directory, manifest=doc, signer=signer, unverified=pending)


def _sizes(directory: Path) -> dict[str, int]:
    """Every regular file under ``directory`` (relative POSIX path -> size): a link to a file counts as
    the file, a linked directory is not entered (as ``Path.rglob`` and ``Path.is_file`` did)."""
    out: dict[str, int] = {}
    for root, _dirs, names in os.walk(directory):
        base = Path(root).relative_to(directory).as_posix()
        for name in names:
            try:
                st = os.stat(os.path.join(root, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                out[name if base == "." else f"{base}/{name}"] = st.st_size
    return out


# -- effective terms per work -------------------------------------------------------------------------

TERMS_DIR = "terms"
FINGERPRINTS_DIR = "fingerprints"  # one folder per modality, written by that modality's index
# Every work's fingerprint as the match indexes are built from it (``codec.public_copy``), by modality,
# sorted by work id: what a delta is computed against and what a puller rebuilds the indexes from.
# Snapshots exported before deltas lack it (they still open and match; they cannot be a delta's base).
ROWS_DIR = "fingerprint-rows"
ROWS_PER_SHARD = 20_000
TERMS_PER_SHARD = 250_000


def rows_schema():
    import pyarrow as pa

    return pa.schema([("work_id", pa.int64()), ("fingerprint", pa.binary())])


# Rows per Parquet row group in the shards a ShardWriter writes (since format /5): what the writer holds
# before it writes, and what a reader decodes to reach one row.
ROW_GROUP_ROWS = 5_000


class ShardWriter:
    """Writes a table sorted by work id as Parquet shards of exactly ``per_shard`` rows (the last one fewer;
    always at least one), each in row groups of exactly ``row_group`` rows (the shard's last one fewer): the
    export and a delta's apply cut the same rows into the same bytes. Rows are written a row group at a
    time, so the writer holds one row group and the rows of one ``add``, never a whole shard."""

    def __init__(self, directory: Path, prefix: str, schema, per_shard: int, row_group: int = ROW_GROUP_ROWS):
        self.directory, self.prefix, self.schema, self.per_shard = Path(directory), prefix, schema, per_shard
        self.row_group = max(1, min(row_group, per_shard))
        self.directory.mkdir(parents=True, exist_ok=True)
        self._pending: list = []
        self._n = 0  # rows pending
        self._shard = 0  # shards finished
        self._in_shard = 0  # rows written to the open shard
        self._writer = None
        # each shard written: [path relative to the directory's parent, first work id, last, rows]
        self.ranges: list[list] = []

    def add(self, table) -> None:
        """Append rows (a pyarrow Table, or a list of dicts in the schema's columns)."""
        import pyarrow as pa

        if isinstance(table, list):
            table = pa.Table.from_pylist(table, schema=self.schema)
        self._pending.append(table)
        self._n += table.num_rows
        while self._n and self._n >= self._next_cut():
            self._write(self._next_cut())

    def _next_cut(self) -> int:
        return min(self.row_group, self.per_shard - self._in_shard)

    def close(self) -> int:
        """Write what is left; returns the number of shards."""
        if self._n:
            self._write(self._n)
        if self._writer is None and self._shard == 0:
            self._open()  # no rows: one empty shard
        if self._writer is not None:
            self._finish()
        return self._shard

    def _open(self) -> None:
        import pyarrow.parquet as pq

        path = self.directory / f"{self.prefix}-{self._shard:05d}.parquet"
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self.ranges.append([f"{self.directory.name}/{path.name}", None, None, 0])

    def _finish(self) -> None:
        self._writer.close()
        self._writer, self._in_shard, self._shard = None, 0, self._shard + 1

    def _write(self, n: int) -> None:
        import pyarrow as pa

        table = pa.concat_tables(self._pending) if len(self._pending) > 1 else self._pending[0]
        head, rest = table.slice(0, n), table.slice(n)
        self._pending, self._n = ([rest] if rest.num_rows else []), rest.num_rows
        if self._writer is None:
            self._open()
        self._writer.write_table(head.cast(self.schema).combine_chunks(), row_group_size=n)
        ids = head.column("work_id")
        r = self.ranges[-1]
        r[1] = ids[0].as_py() if r[1] is None else r[1]
        r[2], r[3] = ids[-1].as_py(), r[3] + n
        self._in_shard += n
        if self._in_shard == self.per_shard:
            self._finish()


def value_column(purpose: Purpose, category: Category) -> str:
    """The terms column of a category's value for a purpose: ``train-genai`` (commercial use, what most
    readers show) and ``research:train-genai``."""
    return category.value if purpose is Purpose.COMMERCIAL else f"{purpose.value}:{category.value}"


def terms_schema():
    import pyarrow as pa

    return pa.schema(
        [
            ("work_id", pa.int64()),
            ("iscc", pa.string()),
            ("media_type", pa.string()),
            ("status", pa.string()),
            *((value_column(p, c), pa.string()) for p in Purpose for c in Category),
            ("offers", pa.string()),  # JSON {purpose: {category: [Offer.to_dict() + party, ...]}} for licence values
            ("holders", pa.string()),  # JSON [{"party": "holder:1", "name": ..., "share": "1/2", "orgs": [...]}]
            ("licensees", pa.string()),  # JSON {licensee: {purpose: {category: value}}} where a licence was granted
            ("title", pa.string()),  # added later: older snapshots lack it, and row() then gives None
        ]
    )


def _int64s(column):
    """A work-id column as a numpy array, read from Arrow's buffer: pyarrow's ``to_numpy`` imports pandas,
    seconds of a snapshot's opening otherwise."""
    import numpy as np

    col = column.combine_chunks()
    if col.null_count or col.type != "int64":
        return col.to_numpy(zero_copy_only=False)
    return np.frombuffer(col.buffers()[1], dtype=np.int64)[col.offset : col.offset + len(col)]


class SnapshotTerms:
    """The effective terms of every work in a snapshot, sorted by work id. Since /6 opening reads nothing
    but the signed manifest's ``terms_shards`` (each shard's first and last work id); a shard's work-id
    column is read (and the shard's hash checked) when a work in its range is first asked for, and only the
    row group holding the row is decoded (a whole shard, in snapshots before /5, which wrote one row group
    a shard), so memory follows the works a clearance touches. Before /6 opening reads each shard's work-id
    column."""

    def __init__(
        self,
        shards: list,
        purposes: tuple[Purpose, ...] = tuple(Purpose),
        check=None,
    ):
        """``shards``: ``(path, work ids)``, or ``(path, (first, last, rows))`` for a shard read on first use;
        ``check``: called with a shard's path before it is read (a lazily verified snapshot's ``check``)."""
        import numpy as np

        self.purposes = purposes
        self._check = check or (lambda p: p)
        self._paths = [p for p, _ in shards]
        self._ids = [None if isinstance(ids, tuple) else ids for _, ids in shards]
        bounds = [ids if isinstance(ids, tuple) else (ids[0], ids[-1], len(ids)) for _, ids in shards]
        self._first = np.array([b[0] for b in bounds], dtype=np.int64)
        self._rows = [int(b[2]) for b in bounds]
        self._tables: dict[tuple[int, int], object] = {}  # (shard, row group) -> its rows, as read
        self._groups: dict[int, tuple] = {}  # shard -> (ParquetFile, first row of each row group)
        self._sorted = all(
            ids is None or len(ids) < 2 or bool((ids[1:] > ids[:-1]).all()) for ids in self._ids
        ) and all(a[1] < b[0] for a, b in zip(bounds, bounds[1:], strict=False))
        if not self._sorted:  # exports write them sorted; anything else is read whole and sorted once
            self._whole = self._read_all().sort_by("work_id")

    @classmethod
    def load(cls, snapshot: Snapshot) -> SnapshotTerms:
        import pyarrow.parquet as pq

        shards = []
        ranges = snapshot.manifest.get("terms_shards")
        if ranges is not None:  # /6: from the signed manifest; the shards are read when first needed
            for rel, first, last, rows in ranges:
                if rows:
                    shards.append((snapshot.path / TERMS_DIR / Path(rel).name, (int(first), int(last), int(rows))))
            return cls(shards, snapshot.purposes, snapshot.check)
        for p in sorted(snapshot.files(TERMS_DIR + "/")):
            ids = _int64s(pq.ParquetFile(snapshot.check(p)).read(columns=["work_id"]).column("work_id"))
            if len(ids):
                shards.append((p, ids))
        return cls(shards, snapshot.purposes, snapshot.check)

    def _shard_ids(self, s: int):
        ids = self._ids[s]
        if ids is None:
            import pyarrow.parquet as pq

            ids = _int64s(pq.ParquetFile(self._check(self._paths[s])).read(columns=["work_id"]).column("work_id"))
            if len(ids) != self._rows[s] or (len(ids) > 1 and not bool((ids[1:] > ids[:-1]).all())):
                raise SnapshotError(f"{self._paths[s]}: its work ids are not the manifest's range, in order")
            self._ids[s] = ids
        return ids

    def _read_all(self):
        import pyarrow as pa
        import pyarrow.parquet as pq

        parts = [pq.ParquetFile(self._check(p)).read() for p in self._paths]
        return pa.concat_tables(parts) if parts else terms_schema().empty_table()

    @property
    def table(self):
        """Every row (read whole: for summaries over the registry, not for matching)."""
        return self._whole if not self._sorted else self._read_all()

    @property
    def work_ids(self):
        import numpy as np

        if not self._sorted:
            return self._whole.column("work_id").to_numpy()
        ids = [self._shard_ids(s) for s in range(len(self._paths))]
        return np.concatenate(ids) if ids else np.empty(0, dtype=np.int64)

    def _locate(self, work_id: int):
        """(table, row) of ``work_id``, or None."""
        import numpy as np

        if not self._sorted:
            ids = self._whole.column("work_id").to_numpy()
            i = int(np.searchsorted(ids, work_id))
            return (self._whole, i) if i < len(ids) and ids[i] == work_id else None
        s = int(np.searchsorted(self._first, work_id, "right")) - 1
        if s < 0:
            return None
        ids = self._shard_ids(s)
        i = int(np.searchsorted(ids, work_id))
        if i >= len(ids) or ids[i] != work_id:
            return None
        if s not in self._groups:
            import pyarrow.parquet as pq

            f = pq.ParquetFile(self._paths[s])
            sizes = [f.metadata.row_group(g).num_rows for g in range(f.num_row_groups)]
            self._groups[s] = (f, np.cumsum([0, *sizes]))
        f, starts = self._groups[s]
        g = int(np.searchsorted(starts, i, "right")) - 1  # only the row group holding the row is decoded
        if (s, g) not in self._tables:
            self._tables[(s, g)] = f.read_row_group(g)
        return self._tables[(s, g)], i - int(starts[g])

    def __len__(self) -> int:
        return self._whole.num_rows if not self._sorted else sum(self._rows)

    def row(self, work_id: int) -> dict | None:
        found = self._locate(work_id)
        if found is None:
            return None
        table, i = found
        r = {k: v[0] for k, v in table.slice(i, 1).to_pydict().items()}
        offers = json.loads(r["offers"] or "{}")
        licensees = json.loads(r.get("licensees") or "{}")
        if self.purposes == (Purpose.COMMERCIAL,):  # format /1: one purpose, keyed by category alone
            offers = {Purpose.COMMERCIAL.value: offers}
            licensees = {who: {Purpose.COMMERCIAL.value: v} for who, v in licensees.items()}
        r["purposes"] = {
            p.value: {
                c.value: (r.pop(value_column(p, c), None) if p is not Purpose.COMMERCIAL else r[c.value])
                for c in Category
            }
            for p in self.purposes
        }
        r["offers"] = offers
        r["holders"] = json.loads(r["holders"] or "[]")
        r["licensees"] = licensees
        r["title"] = r.get("title")
        return r


def work_value(row: dict, category: Category, purpose: Purpose, licensee: str | None = None) -> Value:
    """A work's value in a terms row for ``purpose``: the licensee's own where a licence was granted to it,
    else everyone's. Exactly what the engine decides for that work, category, purpose and licensee at the
    snapshot's time."""
    terms = row["purposes"].get(purpose.value)
    if terms is None:
        raise SnapshotError(_no_terms_for(f"work {row.get('work_id')}", purpose))
    mine = (row["licensees"].get(licensee) or {}).get(purpose.value) if licensee is not None else None
    return Value((mine or terms)[category.value])


def work_offers(row: dict, category: Category, purpose: Purpose) -> list[dict]:
    """The licence offers (each with the party to ask) behind a work's ``licence`` value for ``purpose``."""
    return row["offers"].get(purpose.value, {}).get(category.value, [])
