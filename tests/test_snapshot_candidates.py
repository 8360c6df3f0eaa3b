"""Clearance against many index segments (issue 17, item 2): since snapshot format /5 each text segment
carries its candidate keys (memory-mapped), so an item is matched only against the segments it shares a
key with. The answers are those of one index and of a /4 snapshot that asks every segment; segments no
item reaches are never opened; a /4 snapshot still opens, matches the same and says what a re-export adds.
SQLite, and PostgreSQL with FAIRTRAIN_TEST_POSTGRES_URL."""

from __future__ import annotations

import json
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fairtrain.core.matcher import SnapshotMatcher
from fairtrain.core.snapshot import FORMAT, FORMAT_V4, MANIFEST, seal_snapshot
from fairtrain.core.snapshot_index import KEYS_FILE, ROUTE_FILES, SegmentedIndex

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from worlds import segment_queries, segmented_snapshots  # noqa: E402

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def exported(registry, tmp_path):
    return segmented_snapshots(registry, tmp_path, AT)


def test_each_segment_carries_its_signed_keys_and_only_the_segments_an_item_reaches_are_opened(exported, tmp_path):
    texts, key, manifest = exported
    assert manifest["format"] == FORMAT
    listed = {f["path"] for f in manifest["files"]}
    for i in range(6):  # 16 works a segment: 90 works are 6 segments
        rel = f"fingerprints/text/seg-{i:05d}/{KEYS_FILE}"
        assert rel in listed
        keys = np.load(tmp_path / "seg" / rel)
        assert keys.dtype == np.uint64 and len(keys) and bool((keys[1:] > keys[:-1]).all())  # sorted, unique
    one = SnapshotMatcher.open(tmp_path / "one", [key.public])
    seg = SnapshotMatcher.open(tmp_path / "seg", [key.public])
    index = seg.index("text")
    assert isinstance(index, SegmentedIndex) and index.candidates is not None
    queries = segment_queries(texts)
    got = [r.to_dict() for r in seg.match(queries)]
    assert got == [r.to_dict() for r in one.match(queries)]
    found = {r["item"]: [m["work_id"] for m in r["matches"]] for r in got}
    assert found["excerpt-0.txt"] == [1] and found["excerpt-18.txt"] == [19] and found["unrelated.txt"] == []
    assert sorted(index._open) == [0, 1]  # works 1..32: segments 2..5 were never read
    assert index.merged and isinstance(index.router()[0].base, np.memmap)  # one merged table, memory-mapped
    assert seg.match([queries[-1]])[0].matches == []


def test_a_format_4_snapshot_without_keys_still_opens_and_asks_every_segment(exported, tmp_path):
    texts, key, _ = exported
    out = tmp_path / "seg"
    want = [r.to_dict() for r in SnapshotMatcher.open(out, [key.public]).match(segment_queries(texts))]
    for p in (out / "fingerprints" / "text").glob(f"seg-*/{KEYS_FILE}"):  # as format /4 wrote it
        p.unlink()
    for f in ROUTE_FILES:
        (out / "fingerprints" / "text" / f).unlink()
    old = json.loads((out / MANIFEST).read_text())
    seal_snapshot(
        out,
        key,
        {k: v for k, v in old.items() if k not in ("format", "created_at", "files", "signature", "terms_shards")},
        fmt=FORMAT_V4,
    )
    older = SnapshotMatcher.open(out, [key.public])
    assert older.index("text").candidates is None
    assert [r.to_dict() for r in older.match(segment_queries(texts))] == want
    assert sorted(older.index("text")._open) == [0, 1, 2, 3, 4, 5]  # every segment asked
    assert any("format 4" in n and "re-export" in n for n in older.notices)


def test_the_routing_table_built_a_range_at_a_time_is_the_whole_merge(tmp_path, monkeypatch):
    """The merged table is written a key range at a time and its filter a slice at a time (bounded memory
    at 10⁷ works); however small the ranges and slices, its files hold the merge of every segment's keys
    done at once: keys sorted (equal keys in segment order), each one's segment, the filter's bits, the
    bucket directory."""
    from fairtrain.core import snapshot_index as si
    from fairtrain.core.fingerprint import _buckets

    rng = np.random.default_rng(7)
    shared = rng.integers(0, 2**63, size=500, dtype=np.uint64)  # keys held by several segments
    every = []
    for i in range(5):
        seg = tmp_path / "whole" / si.segment_name(i)
        seg.mkdir(parents=True)
        keys = np.concatenate([rng.integers(0, 2**64 - 1, size=4_000 * (i + 1), dtype=np.uint64), shared[: 100 * i]])
        si.write_keys(seg, keys)
        every.append(np.unique(keys))
    shutil.copytree(tmp_path / "whole", tmp_path / "cut")
    si.build_router("text", tmp_path / "whole")
    monkeypatch.setattr(si, "_MERGE_CHUNK", 3_000)  # 21 key ranges
    monkeypatch.setattr(si, "_FILTER_PASS_BYTES", 1_024)  # the filter in 64 slices
    si.build_router("text", tmp_path / "cut")
    for f in (*ROUTE_FILES, si.ROUTE_BUCKETS):
        assert (tmp_path / "whole" / f).read_bytes() == (tmp_path / "cut" / f).read_bytes(), f
    cat = np.concatenate(every)
    segs = np.repeat(np.arange(len(every)), [len(k) for k in every])
    order = np.argsort(cat, kind="stable")
    route = tmp_path / "cut"
    assert np.array_equal(np.load(route / si.ROUTE_KEYS), cat[order])
    assert np.array_equal(np.load(route / si.ROUTE_SEGMENTS), segs[order])
    bits = si._filter_bits(len(cat))
    packed = np.zeros(1 << (bits - 3), dtype=np.uint8)
    si._set_bits(packed, cat, bits)
    assert np.array_equal(np.load(route / si.ROUTE_FILTER), packed)
    directory = np.load(route / si.ROUTE_BUCKETS)
    want = np.searchsorted(
        cat[order], np.arange(len(directory) - 1, dtype=np.uint64) << np.uint64(64 - _buckets.bits_of(directory))
    )
    assert np.array_equal(directory[:-1], want) and directory[-1] == len(cat)
