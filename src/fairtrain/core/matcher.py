"""Match items against a verified registry snapshot, in batches: the API clearance and ``fairtrain match`` use."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from fairtrain.core.fingerprint import FingerprintError, Match
from fairtrain.core.fingerprint.modalities import NAMES, modality
from fairtrain.core.keys import PublicKey
from fairtrain.core.media import detect_media_type
from fairtrain.core.snapshot import FINGERPRINTS_DIR, Snapshot, SnapshotTerms, verify_snapshot
from fairtrain.core.snapshot_index import open_index

HEAD_BYTES = 8192  # what media-type detection looks at

# An item's content: its bytes, or the path of a local file (a video is then fingerprinted from the file by
# FFmpeg and hashed in blocks, never read whole into memory; any other kind is read, as it is small).
ItemSource = bytes | os.PathLike


def load_item(name: str, src: ItemSource, media_type: str | None = None) -> tuple[bytes | Path, str | None, str | None]:
    """(content, modality, error) of one item. A path is opened once: its first bytes tell the modality;
    a video stays a path, anything else is read. An unreadable or empty file is an error, not an exception."""
    if not isinstance(src, os.PathLike):
        kind = media_type or detect_media_type(src[:HEAD_BYTES], name)
        return src, kind, None if src else "empty file"
    path = Path(src)
    try:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
            kind = media_type or detect_media_type(head, name)
            if not head:
                return b"", kind, "empty file"
            if kind == "video":
                return path, kind, None
            return head + f.read(), kind, None
    except OSError as e:
        return b"", None, f"cannot read ({e.strerror or e})"


def content_hash(src: bytes | Path) -> str:
    """xxh3-128 (hex) of an item's bytes; a file is hashed in 1 MiB blocks."""
    import xxhash

    if not isinstance(src, os.PathLike):
        return xxhash.xxh3_128_hexdigest(src)
    h = xxhash.xxh3_128()
    with open(src, "rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


@dataclass
class ItemResult:
    """What one item matched: registered works with score, evidence and their terms; or why it failed."""

    item: str
    modality: str | None
    matches: list[tuple[Match, dict | None]] = field(default_factory=list)
    error: str | None = None
    seconds: float | None = None  # how long a video item runs (the summary counts hours of video)

    def to_dict(self) -> dict:
        return {
            "item": self.item,
            "modality": self.modality,
            "error": self.error,
            "matches": [{**m.to_dict(), "terms": t} for m, t in self.matches],
        }


class SnapshotMatcher:
    """One verified snapshot's terms and match indexes: a terms shard is read when a row in it is first
    needed, an index segment when a batch of its modality is first matched."""

    def __init__(self, snapshot: Snapshot):
        self.snapshot = snapshot
        self.terms = SnapshotTerms.load(snapshot)
        self._indexes: dict[str, object | None] = {}

    @classmethod
    def open(cls, path: Path, trusted: list[PublicKey] | None) -> SnapshotMatcher:
        """Verify the snapshot's signature, its listing and every file's size now, and each file's SHA-256
        when it is first read (:meth:`Snapshot.check`): nothing unverified is loaded, and opening costs the
        manifest, not the snapshot's size."""
        return cls(verify_snapshot(Path(path), trusted, lazy=True))

    @property
    def notices(self) -> list[str]:
        """What this snapshot cannot recognise until it is re-exported, one line each: its own format, and
        each index written in an older format or holding works registered before a feature existed (an
        older snapshot still opens and matches what it covered). Loads every index it has."""
        out = list(self.snapshot.notices)
        for name in NAMES:
            if (self.snapshot.path / FINGERPRINTS_DIR / name).is_dir():
                out.extend(n for n in getattr(self.index(name), "notices", ()) if n not in out)
        return out

    def index(self, name: str) -> object | None:
        if name not in self._indexes:
            d = self.snapshot.path / FINGERPRINTS_DIR / name
            self._indexes[name] = open_index(name, d, self.snapshot.check) if d.is_dir() else None
        return self._indexes[name]

    def match(
        self, items: Sequence[tuple[str, ItemSource]], media_types: Sequence[str | None] | None = None
    ) -> list[ItemResult]:
        """Fingerprint and match a batch; one result per item, in order. Bad items get an error, not an exception.
        An item given as a path is read only if it is not a video (see :func:`load_item`)."""
        results, fps = fingerprint_items(items, media_types)
        self.match_fingerprints(results, fps)
        return results

    def match_fingerprints(self, results: Sequence[ItemResult], fps: Sequence[object | None]) -> None:
        """Fill in ``results``' matches from their fingerprints (:func:`fingerprint_items`; None: nothing to
        match), a modality at a time: what :meth:`match` does once the items are fingerprinted."""
        groups: dict[str, list[int]] = {}
        for i, fp in enumerate(fps):
            if fp is not None:
                groups.setdefault(results[i].modality, []).append(i)
        for kind, idx in groups.items():
            index = self.index(kind)
            if index is None:
                continue
            for i, found in zip(idx, index.match([fps[i] for i in idx]), strict=True):
                results[i].matches = [(m, self.terms.row(m.work_id)) for m in found]


def fingerprint_items(
    items: Sequence[tuple[str, ItemSource]], media_types: Sequence[str | None] | None = None
) -> tuple[list[ItemResult], list[object | None]]:
    """Each item read, its modality told and fingerprinted, a modality at a time: the results (modality,
    error, a video's length; no matches yet) and the fingerprints (None where the item failed)."""
    results: list[ItemResult] = []
    groups: dict[str, list[int]] = {}
    loaded: list[tuple[str, bytes | Path]] = []
    for i, (name, src) in enumerate(items):
        data, kind, error = load_item(name, src, media_types[i] if media_types else None)
        loaded.append((name, data))
        results.append(ItemResult(item=name, modality=kind))
        if error:
            results[i].error = error
        elif kind is None:
            results[i].error = "unsupported file type (not text, image, audio or video)"
        else:
            groups.setdefault(kind, []).append(i)
    fps: list[object | None] = [None] * len(results)
    for kind, idx in groups.items():
        for i, fp in zip(idx, modality(kind).fingerprint_many([loaded[i] for i in idx]), strict=True):
            if isinstance(fp, FingerprintError):
                results[i].error = fp.reason
                continue
            fps[i] = fp
            if kind == "video":
                results[i].seconds = round(float(fp.duration), 3)
    return results, fps
