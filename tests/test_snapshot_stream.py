"""Snapshots that stream and shard (issue 17, item 2): the export reads the registry in batches and builds
each match index in work-id segments; the bytes do not depend on the batch size, the memory does not grow
with the registry beyond a segment, a delta rebuilds the same segments, and the segmented matcher finds
what one index finds. SQLite, and PostgreSQL with FAIRTRAIN_TEST_POSTGRES_URL."""

from __future__ import annotations

import json
import multiprocessing
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fairtrain.core.keys import SigningKey
from fairtrain.core.matcher import SnapshotMatcher
from fairtrain.core.snapshot import FORMAT, FORMAT_V3, MANIFEST, seal_snapshot, verify_delta, verify_snapshot
from fairtrain.core.snapshot_delta import apply_delta
from fairtrain.core.snapshot_index import ROUTE_FILES, SegmentedIndex
from fairtrain.services.registry.snapshot_export import export_delta, export_snapshot
from memory_helpers import traced_peak

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from snapshot_scale import fill  # noqa: E402

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def _files(d: Path) -> dict[str, bytes]:
    return {p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _signed_body(d: Path) -> dict:
    m = json.loads((d / MANIFEST).read_text())
    return {k: v for k, v in m.items() if k not in ("created_at", "signature")}


@pytest.fixture
def filled(registry):
    texts = fill(registry, 90, base=30)  # works 1..30 real texts, 31..90 salted copies of them
    return registry, texts


def _queries(texts: list[str]) -> list[tuple[str, bytes]]:
    out = []
    for i in (0, 7, 18, 29):
        words = texts[i].split()
        out.append((f"excerpt-{i}.txt", ("some preface " + " ".join(words[40:130]) + " and an ending").encode()))
    out.append(("whole-3.txt", texts[3].encode()))
    out.append(("unrelated.txt", ("a text nobody registered " * 30).encode()))
    return out


def test_export_bytes_do_not_depend_on_the_batch_size_or_workers_and_segments_are_signed(filled, tmp_path):
    registry, _ = filled
    key = SigningKey.generate()
    ref = tmp_path / "ref"
    manifest = export_snapshot(registry, ref, key, at=AT, batch=5_000, segment_works=25)
    assert manifest["format"] == FORMAT and manifest["index_segment_works"] == 25
    assert manifest["counts"] == {"works": 90, "fingerprints": {"text": 90}}
    segs = sorted(p.name for p in (ref / "fingerprints" / "text").iterdir() if p.is_dir())
    assert segs == ["seg-00000", "seg-00001", "seg-00002", "seg-00003"]  # 25 + 25 + 25 + 15 works
    listed = {f["path"] for f in manifest["files"]}
    assert {p for p in _files(ref) if p != MANIFEST} == listed  # every segment file hashed in the manifest
    assert any(p.startswith("fingerprints/text/seg-00003/") for p in listed)
    # workers 2: the four segments built by worker processes, local and on Ray
    for batch, workers, engine in ((1, 1, "local"), (7, 1, "local"), (64, 1, "local"), (7, 2, "local"), (7, 2, "ray")):
        out = tmp_path / f"batch-{batch}-{workers}-{engine}"
        export_snapshot(registry, out, key, at=AT, batch=batch, segment_works=25, workers=workers, engine=engine)
        a, b = _files(ref), _files(out)
        assert a.keys() == b.keys()
        assert [p for p in a if p != MANIFEST and a[p] != b[p]] == []
        assert _signed_body(out) == _signed_body(ref)


def test_the_segmented_matcher_finds_what_one_index_finds(filled, tmp_path):
    registry, texts = filled
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "one", key, at=AT, segment_works=1_000_000)
    export_snapshot(registry, tmp_path / "seg", key, at=AT, segment_works=16)
    one = SnapshotMatcher.open(tmp_path / "one", [key.public])
    seg = SnapshotMatcher.open(tmp_path / "seg", [key.public])
    assert len(seg.index("text").paths) == 6 and isinstance(seg.index("text"), SegmentedIndex)
    assert seg.index("text")._open == {}  # nothing read before a match needs it
    queries = _queries(texts)
    got = [r.to_dict() for r in seg.match(queries)]
    assert got == [r.to_dict() for r in one.match(queries)]
    found = {r["item"]: [(m["work_id"], m["stage"]) for m in r["matches"]] for r in got}
    assert [w for w, _ in found["excerpt-0.txt"]] == [1] and [w for w, _ in found["excerpt-29.txt"]] == [30]
    assert found["whole-3.txt"][0] == (4, "exact") and found["unrelated.txt"] == []
    assert got[0]["matches"][0]["terms"]["work_id"] == 1  # the terms row, read from its shard on demand
    assert seg.notices == []
    # the index's own options (the output checker's thresholds) reach every segment
    from fairtrain.core.fingerprint.modalities import modality

    fps = modality("text").fingerprint_many(queries)
    strict = {"min_hits": 1000, "min_verbatim_words": 10_000, "min_edit_jaccard": 1.01}
    assert seg.index("text").match(fps, **strict) == one.index("text").match(fps, **strict)
    assert [len(r) for r in seg.index("text").match(fps, **strict)] == [0, 0, 0, 0, 1, 0]  # only the exact copy


def test_a_delta_rebuilds_the_same_segments(filled, tmp_path):
    registry, _ = filled
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "a", key, at=AT, segment_works=20)
    fill(registry, 30, base=5)  # works 91..120
    doc = export_delta(
        registry, tmp_path / "a", tmp_path / "d1", key, at=AT, segment_works=20, state_dir=tmp_path / "state"
    )
    assert doc["counts"]["added"] == 30
    base = verify_snapshot(tmp_path / "a", [key.public])
    applied = apply_delta(base, verify_delta(tmp_path / "d1", [key.public]), tmp_path / "applied", [key.public])
    assert applied.manifest["index_segment_works"] == 20
    assert _files(applied.path) == _files(tmp_path / "state")  # byte for byte, manifest included
    assert len(list((applied.path / "fingerprints" / "text").glob("seg-*"))) == 6


def test_a_format_3_snapshot_with_one_flat_index_still_opens_and_matches(filled, tmp_path):
    registry, texts = filled
    key = SigningKey.generate()
    out = tmp_path / "snap"
    export_snapshot(registry, out, key, at=AT)
    queries = _queries(texts)
    current = SnapshotMatcher.open(out, [key.public])
    want = [r.to_dict() for r in current.match(queries)]
    assert current.notices == []
    # as format /3 wrote it: each modality's index flat in its folder
    text = out / "fingerprints" / "text"
    (seg,) = text.glob("seg-*")
    for p in seg.iterdir():
        p.rename(text / p.name)
    seg.rmdir()
    for f in ROUTE_FILES:
        (text / f).unlink()
    old = json.loads((out / MANIFEST).read_text())
    seal_snapshot(
        out,
        key,
        {
            k: v
            for k, v in old.items()
            if k not in ("format", "created_at", "files", "signature", "index_segment_works", "terms_shards")
        },
        fmt=FORMAT_V3,
    )
    older = SnapshotMatcher.open(out, [key.public])
    assert not isinstance(older.index("text"), SegmentedIndex)
    assert [r.to_dict() for r in older.match(queries)] == want
    assert any("format 3" in n and "re-export" in n for n in older.notices)


def _warm_then_export(url: str, out: Path, segment_works: int) -> int:
    """In a fresh interpreter: an untraced export first (imports and caches), then the traced one."""
    from fairtrain.services.registry import Registry

    registry = Registry.open(url=url)
    key = SigningKey.generate()

    def export(to: Path) -> None:
        export_snapshot(registry, to, key, at=AT, batch=100, segment_works=segment_works)

    try:
        export(out.with_name(out.name + "-warm"))
        return traced_peak(lambda: export(out))[1]
    finally:
        registry.engine.dispose()


def _peak_export(registry, out: Path, segment_works: int) -> int:
    url = registry.engine.url.render_as_string(hide_password=False)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(_warm_then_export, (url, out, segment_works))


def test_export_memory_is_a_segment_not_the_registry(registry, tmp_path):
    """Building one index over every work (what the export did before segments) holds every fingerprint;
    with segments of 100 works the peak stays near what 100 works cost, whatever the registry's size."""
    fill(registry, 200, base=20)
    # each measured in a fresh interpreter: tracemalloc counts every thread of the process, and a pytest
    # worker that ran other tests first may hold threads of theirs that allocate meanwhile (a CI run read
    # the 800-work export's 1.7 MB peak as 9.4 MB)
    small = _peak_export(registry, tmp_path / "small-seg", 100)
    fill(registry, 600, base=20)  # 800 works
    big_seg = _peak_export(registry, tmp_path / "big-seg", 100)
    big_one = _peak_export(registry, tmp_path / "big-one", 1_000_000)
    budget = 1.5 * small
    assert big_seg < budget, (small, big_seg, big_one)  # bounded: four times the works, not four times the memory
    assert big_one > budget, (small, big_seg, big_one)  # the single index (the old export) grows past it


def test_the_command_line_exports_the_same_files_with_local_workers_and_on_ray(registry, cli, tmp_path):
    fill(registry, 40, base=10)
    cli("keys", "create")
    one = json.loads(cli("snapshot", "export", tmp_path / "one", "--json").stdout)
    a = _files(tmp_path / "one")
    for out, extra in (("two", ["--workers", "2"]), ("ray", ["--engine", "ray", "--workers", "2"])):
        # segments of 100,000 works: one here; the segment engines' bytes at several are tested above
        got = json.loads(cli("snapshot", "export", tmp_path / out, *extra, "--json").stdout)
        assert got["counts"] == one["counts"] == {"works": 40, "fingerprints": {"text": 40}}
        b = _files(tmp_path / out)
        assert a.keys() == b.keys()
        assert [p for p in a if p != MANIFEST and a[p] != b[p]] == []
        body = {k: v for k, v in _signed_body(tmp_path / out).items() if k != "terms_at"}  # the clock's
        assert body == {k: v for k, v in _signed_body(tmp_path / "one").items() if k != "terms_at"}
    cli("snapshot", "export", tmp_path / "bad", "--workers", "0", code=2)
    assert (
        "unknown export engine 'spark'"
        in cli("snapshot", "export", tmp_path / "bad", "--engine", "spark", code=2).stderr
    )
