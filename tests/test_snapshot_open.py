"""Opening a snapshot fast and clearing against many segments (issue 17, item 2), formats /6 to /8.

``SnapshotMatcher.open`` checks the signed manifest, the listing and every file's size, and hashes a file
only when something first reads it: a tampered segment, routing table or terms shard is refused then, not
trusted. A batch is routed by the merged candidate table, to exactly the segments that hold one of its
keys. Since /7 each segment's text index is uncompressed .npy, memory-mapped when first used. A /6 snapshot
(the text index zstd Parquet) and a /5 one (a filter per segment, terms shards read at opening) still open
and match the same, and a delta to either is applied in its layout. Since /8 every key is found through a
bucket directory (text index format 4, ``route-buckets.npy``); a /7 snapshot (binary search) opens and
matches the same, and a delta to it is applied in its layout.
SQLite, and PostgreSQL with FAIRTRAIN_TEST_POSTGRES_URL."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.keys import SigningKey
from fairtrain.core.matcher import SnapshotMatcher
from fairtrain.core.snapshot import (
    FORMAT,
    FORMAT_V5,
    FORMAT_V6,
    FORMAT_V7,
    MANIFEST,
    SnapshotError,
    seal_snapshot,
    verify_delta,
    verify_snapshot,
)
from fairtrain.core.snapshot_delta import apply_delta, write_delta
from fairtrain.core.snapshot_index import FILTER_FILE, KEYS_FILE, ROUTE_BUCKETS, ROUTE_FILES, write_keys
from fairtrain.services.registry.snapshot_export import export_snapshot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from snapshot_scale import fill  # noqa: E402

from worlds import excerpt_query, segment_queries, segmented_snapshots  # noqa: E402

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def exported(registry, tmp_path):
    return segmented_snapshots(registry, tmp_path, AT)  # 6 segments of 16 works


def _flip(path: Path) -> None:
    """Change one byte in the middle of ``path``, keeping its size (what only a hash can catch)."""
    b = bytearray(path.read_bytes())
    b[len(b) // 2] ^= 0xFF
    path.write_bytes(bytes(b))


def test_routing_by_the_merged_table_reaches_exactly_the_segments_sharing_a_key(exported, tmp_path):
    texts, key, manifest = exported
    assert manifest["format"] == FORMAT
    listed = {f["path"] for f in manifest["files"]}
    assert {f"fingerprints/text/{f}" for f in ROUTE_FILES} <= listed  # signed like every file
    assert not any(p.endswith(FILTER_FILE) for p in listed)  # /6: no filter per segment
    one = SnapshotMatcher.open(tmp_path / "one", [key.public])
    seg = SnapshotMatcher.open(tmp_path / "seg", [key.public])
    queries = segment_queries(texts)
    assert [r.to_dict() for r in seg.match(queries)] == [r.to_dict() for r in one.match(queries)]
    index = seg.index("text")
    assert index.merged
    fps = modality("text").fingerprint_many(queries)
    # what the table says against each segment's own keys, searched directly
    needles, owner, _ = index.candidates.of_queries(fps)
    want = []
    for p in index.paths:
        keys = np.load(p / KEYS_FILE)
        want.append(sorted({int(o) for o in owner[np.isin(needles, keys)]}))
    assert index.route(fps) == want
    assert want[0] and want[1] and not any(want[2:])  # segments 2..5 hold none of these keys


def test_open_hashes_nothing_and_a_tampered_segment_is_refused_when_first_read(exported, tmp_path):
    texts, key, manifest = exported
    out = tmp_path / "seg"
    m = SnapshotMatcher.open(out, [key.public])
    assert set(m.snapshot.unverified) == {f["path"] for f in manifest["files"]}  # nothing hashed yet
    (victim,) = [p for p in (out / "fingerprints" / "text" / "seg-00001").iterdir() if p.name == "excerpt_hash.npy"]
    _flip(victim)  # after opening, before anything reads it
    with pytest.raises(SnapshotError, match="seg-00001/excerpt_hash.npy: SHA-256 does not match"):
        verify_snapshot(out, [key.public])  # an eager check refuses it at once
    first = m.match([excerpt_query(texts, 0)])  # work 1: segment 0 only, verified as it is read
    assert [x.work_id for x, _ in first[0].matches] == [1]
    assert "fingerprints/text/seg-00000/excerpt_hash.npy" not in m.snapshot.unverified
    with pytest.raises(SnapshotError, match="seg-00001/excerpt_hash.npy: SHA-256 does not match the signed manifest"):
        m.match([excerpt_query(texts, 18)])  # work 19 is in segment 1: its files are hashed first, and refused
    # a freshly opened matcher refuses it too, still without hashing anything at opening
    again = SnapshotMatcher.open(out, [key.public])
    with pytest.raises(SnapshotError, match="tampered"):
        again.match([excerpt_query(texts, 18)])


@pytest.mark.parametrize("victim", ["fingerprints/text/route-keys.npy", "terms/terms-00000.parquet"])
def test_a_tampered_routing_table_or_terms_shard_is_refused_on_first_use(exported, tmp_path, victim):
    texts, key, _ = exported
    out = tmp_path / "seg"
    m = SnapshotMatcher.open(out, [key.public])
    _flip(out / victim)
    with pytest.raises(SnapshotError, match=f"{victim}: SHA-256 does not match"):
        m.match([excerpt_query(texts, 0)])
    # a size change is caught at opening, before any hashing
    with open(out / victim, "ab") as f:
        f.write(b"x")
    with pytest.raises(SnapshotError, match="tampered or truncated"):
        SnapshotMatcher.open(out, [key.public])


def _as_format_7(out: Path, key: SigningKey) -> None:
    """Rewrite a snapshot as /7 wrote it: each segment's text index format 3 (no bucket directories), the
    routing table without its directory."""
    from fairtrain.core.fingerprint.text import TextIndex

    for p in sorted((out / "fingerprints" / "text").glob("seg-*")):
        index = TextIndex.load(p)
        v3 = p.parent / (p.name + ".v3")
        index.save_mapped(v3, version=3)
        del index
        for f in p.iterdir():
            if f.name != KEYS_FILE:
                f.unlink()
        for f in v3.iterdir():
            f.rename(p / f.name)
        v3.rmdir()
    (out / "fingerprints" / "text" / ROUTE_BUCKETS).unlink()
    old = json.loads((out / MANIFEST).read_text())
    drop = ("format", "created_at", "files", "signature")
    seal_snapshot(out, key, {k: v for k, v in old.items() if k not in drop}, fmt=FORMAT_V7)


def _as_format_6(out: Path, key: SigningKey) -> None:
    """Rewrite a snapshot as /6 wrote it: each segment's text index as zstd Parquet (index format 2)."""
    from fairtrain.core.fingerprint.text import TextIndex

    for p in sorted((out / "fingerprints" / "text").glob("seg-*")):
        index = TextIndex.load(p)
        parquet = p.parent / (p.name + ".parquet")
        index.save(parquet)
        del index
        for f in p.iterdir():
            if f.name != KEYS_FILE:
                f.unlink()
        for f in parquet.iterdir():
            f.rename(p / f.name)
        parquet.rmdir()
    (out / "fingerprints" / "text" / ROUTE_BUCKETS).unlink(missing_ok=True)  # /8's, not /6's
    old = json.loads((out / MANIFEST).read_text())
    drop = ("format", "created_at", "files", "signature")
    seal_snapshot(out, key, {k: v for k, v in old.items() if k not in drop}, fmt=FORMAT_V6)


def _as_format_5(out: Path, key: SigningKey) -> None:
    """Rewrite a snapshot as /5 wrote it: a filter per segment, no merged table, no terms ranges."""
    _as_format_6(out, key)
    text = out / "fingerprints" / "text"
    for f in ROUTE_FILES:
        (text / f).unlink()
    for p in sorted(text.glob("seg-*")):
        write_keys(p, np.load(p / KEYS_FILE), segment_filter=True)
    old = json.loads((out / MANIFEST).read_text())
    drop = ("format", "created_at", "files", "signature", "terms_shards")
    seal_snapshot(out, key, {k: v for k, v in old.items() if k not in drop}, fmt=FORMAT_V5)


def test_a_format_5_snapshot_still_opens_and_matches_the_same(exported, tmp_path):
    texts, key, _ = exported
    out = tmp_path / "seg"
    want = [r.to_dict() for r in SnapshotMatcher.open(out, [key.public]).match(segment_queries(texts))]
    _as_format_5(out, key)
    older = SnapshotMatcher.open(out, [key.public])
    index = older.index("text")
    assert not index.merged and index.candidates is not None  # routed segment by segment, as /5 did
    assert [r.to_dict() for r in older.match(segment_queries(texts))] == want
    assert sorted(index._open) == [0, 1]
    assert any("format 5" in n and "re-export" in n for n in older.notices)


def test_a_delta_to_a_format_5_snapshot_is_applied_in_its_layout(registry, tmp_path):
    """A registry still on /5 publishes a delta; this fairtrain applies it and gets the /5 snapshot, byte for
    byte (a filter per segment, no merged table), which then opens and matches."""
    texts = fill(registry, 40, base=10)
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "a", key, at=AT, segment_works=16)
    fill(registry, 10, base=5)  # works 41..50
    export_snapshot(registry, tmp_path / "b", key, at=AT, segment_works=16)
    for d in ("a", "b"):
        _as_format_5(tmp_path / d, key)
    base, new = verify_snapshot(tmp_path / "a", [key.public]), verify_snapshot(tmp_path / "b", [key.public])
    write_delta(base, new, tmp_path / "d", key, {"registry": "r"})
    applied = apply_delta(base, verify_delta(tmp_path / "d", [key.public]), tmp_path / "applied", [key.public])
    assert applied.manifest["format"] == FORMAT_V5
    files = {p.relative_to(applied.path).as_posix() for p in applied.path.rglob("*") if p.is_file()}
    assert files == {p.relative_to(new.path).as_posix() for p in new.path.rglob("*") if p.is_file()}
    assert not any(f.endswith(ROUTE_FILES) for f in files) and any(f.endswith(FILTER_FILE) for f in files)
    m = SnapshotMatcher.open(applied.path, [key.public])
    # work 4's text was registered again as work 44 (the second fill starts from the same texts)
    assert [x.work_id for x, _ in m.match([excerpt_query(texts, 3)])[0].matches] == [4, 44]


def test_segments_are_memory_mapped_and_a_format_6_snapshot_still_opens_and_matches_the_same(exported, tmp_path):
    """/7: a segment's text index opens as read-only maps of its .npy files (nothing decoded, nothing copied);
    the same snapshot rewritten as /6 (Parquet) opens, decodes and answers the same, with a notice."""
    texts, key, manifest = exported
    out = tmp_path / "seg"
    seg0 = out / "fingerprints" / "text" / "seg-00000"
    assert (seg0 / "index.json").is_file() and not list(seg0.glob("*.parquet"))
    m = SnapshotMatcher.open(out, [key.public])
    want = [r.to_dict() for r in m.match(segment_queries(texts))]
    ix = m.index("text").segment(0)
    for a in (ix.fp_hash, ix.work_ids, ix.sigs, ix._words.work_pos, ix._words.filter, ix.hangul.hash):
        base = a
        while base.base is not None and not isinstance(base, np.memmap):
            base = base.base
        assert isinstance(base, np.memmap) and not a.flags.writeable  # a view of the file, not a copy
    assert not any("format 6" in n or "format 7" in n for n in m.notices)
    assert ix._words.buckets is not None and m.index("text").router()[-1] is not None  # /8: directories
    assert (seg0 / "excerpt_buckets.npy").is_file() and (out / "fingerprints" / "text" / ROUTE_BUCKETS).is_file()
    _as_format_7(out, key)
    v7 = SnapshotMatcher.open(out, [key.public])
    assert v7.snapshot.manifest["format"] == FORMAT_V7
    assert [r.to_dict() for r in v7.match(segment_queries(texts))] == want
    assert v7.index("text").router()[-1] is None and v7.index("text").segment(0)._words.buckets is None
    assert any("format 7" in n and "re-export" in n for n in v7.notices)
    _as_format_6(out, key)
    older = SnapshotMatcher.open(out, [key.public])
    assert older.snapshot.manifest["format"] == FORMAT_V6
    assert [r.to_dict() for r in older.match(segment_queries(texts))] == want
    assert any("format 6" in n and "re-export" in n for n in older.notices)


def test_a_delta_to_a_format_6_or_7_snapshot_is_applied_in_its_layout(registry, tmp_path):
    """A /6 registry's delta applied here gives the /6 snapshot byte for byte (text index Parquet); a /7
    one the /7 snapshot (memory-mapped .npy, no bucket directories), an /8 one the /8 snapshot: the layout
    follows the signed result, not this fairtrain."""
    texts = fill(registry, 40, base=10)
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "a", key, at=AT, segment_works=16)
    fill(registry, 10, base=5)  # works 41..50
    export_snapshot(registry, tmp_path / "b", key, at=AT, segment_works=16)
    for fmt in (FORMAT, FORMAT_V7, FORMAT_V6):
        for d in ("a", "b") if fmt != FORMAT else ():
            (_as_format_7 if fmt == FORMAT_V7 else _as_format_6)(tmp_path / d, key)
        base, new = verify_snapshot(tmp_path / "a", [key.public]), verify_snapshot(tmp_path / "b", [key.public])
        assert new.manifest["format"] == fmt
        write_delta(base, new, tmp_path / f"d{fmt[-1]}", key, {"registry": "r"})
        applied = apply_delta(
            base, verify_delta(tmp_path / f"d{fmt[-1]}", [key.public]), tmp_path / f"applied{fmt[-1]}", [key.public]
        )
        assert applied.manifest["format"] == fmt
        files = {p.relative_to(applied.path).as_posix() for p in applied.path.rglob("*") if p.is_file()}
        assert files == {p.relative_to(new.path).as_posix() for p in new.path.rglob("*") if p.is_file()}
        assert any(f.endswith(".parquet") and "/seg-" in f for f in files) == (fmt == FORMAT_V6)
        assert any(f.endswith(("_buckets.npy", ROUTE_BUCKETS)) for f in files) == (fmt == FORMAT)
        m = SnapshotMatcher.open(applied.path, [key.public])
        assert [x.work_id for x, _ in m.match([excerpt_query(texts, 3)])[0].matches] == [4, 44]
