"""Issue 18 item 3: a WebDataset shard's video member is copied in blocks to a temporary file under the run's
OUT/scratch and goes to FFmpeg by that path, as a video in a folder does: a 100 MB member never sits in
memory, the decisions and the cleared shard are byte for byte what reading it into memory gave, a cut video
member is still an error item, and nothing is left in OUT/scratch."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pyarrow.parquet as pq
import xxhash

from fairtrain.services.clearance.readers import Shard, WebDatasetReader, reader_for
from memory_helpers import traced_peak
from test_video_by_path import big_video  # noqa: F401 (fixture)
from test_video_downstream import clips, published_video  # noqa: F401 (fixtures)


def _shard(path: Path, members: list[tuple[str, Path | bytes]]) -> Path:
    with tarfile.open(path, "w") as tf:
        for name, src in members:
            data = src.read_bytes() if isinstance(src, Path) else src
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), 1_700_000_000
            tf.addfile(ti, io.BytesIO(data))
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_video_member_of_a_shard_is_cleared_by_path_never_in_memory(
    published_video,  # noqa: F811
    clips,  # noqa: F811
    big_video,  # noqa: F811
    cli,
    tmp_path,
):
    _app, work_id, snap = published_video
    gen = clips["generated"].read_bytes()
    shard = _shard(
        tmp_path / "videos-000000.tar",
        [
            ("000000.avi", big_video),
            ("000000.txt", b"a test card"),
            ("000001.mp4", clips["generated"]),
            ("000001.json", json.dumps({"url": "https://example.org/1.mp4"}).encode()),
            ("000002.mp4", gen[: len(gen) * 2 // 3]),  # a cut video: an error item, the shard goes on
            ("000003.txt", b"a caption alone"),
        ],
    )
    cli("keys", "create", "--name", "acme-ai")
    out = tmp_path / "out"
    stale = out / "scratch" / "webdataset-killed" / "tmp1.mp4"  # what a killed run left
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"x" * 1000)
    size = big_video.stat().st_size
    _, peak = traced_peak(
        lambda: cli("clear", shard, "--snapshot", snap, "--licensee", "acme-ai", "--out", out, "--batch-size", "2")
    )
    # reading the member whole (then writing it to the cleared tar from memory) held ≥ 2 × 100 MB
    assert peak < size // 4, f"peak {peak} bytes while clearing a shard with a {size}-byte video member"
    print(f"peak traced memory {peak} bytes clearing a shard with a {size}-byte video member")
    rows = {r["item"].rpartition(":")[2]: r for r in pq.read_table(out / "decisions.parquet").to_pylist()}
    big, clip, cut = rows["000000"], rows["000001"], rows["000002"]
    assert big["error"] is None and big["seconds"] == 12.0 and not big["work_ids"] and big["modality"] == "video"
    assert big["content_hash"] == xxhash.xxh3_128_hexdigest(big_video.read_bytes())
    assert clip["work_ids"] == [work_id] and clip["content_hash"] == xxhash.xxh3_128_hexdigest(gen)
    assert cut["error"] and cut["modality"] == "video" and not cut["passes"]
    assert not (out / "scratch").exists()  # every spooled member removed with its directory
    (cleared,) = (out / "cleared").iterdir()
    with tarfile.open(cleared) as tf:  # the kept samples, their members byte for byte
        kept = {ti.name: tf.extractfile(ti).read() for ti in tf}
    assert ("000000.avi" in kept) == bool(big["passes"])
    if big["passes"]:
        assert xxhash.xxh3_128_hexdigest(kept["000000.avi"]) == big["content_hash"]


def test_spooled_and_in_memory_members_give_the_same_bytes(published_video, clips, cli, tmp_path, monkeypatch):  # noqa: F811
    """The decisions, the report and the cleared shard of a small shard, with video members spooled to files
    (now) and read into memory (before): the same bytes."""
    _app, _work_id, snap = published_video
    gen = clips["generated"].read_bytes()
    (tmp_path / "in").mkdir()
    shard = _shard(
        tmp_path / "in" / "s-000000.tar",
        [
            ("a.mp4", clips["generated"]),
            ("a.txt", b"a programme"),
            ("b.webm", clips["unrelated"]),
            ("b.json", json.dumps({"url": "https://example.org/b.webm"}).encode()),
            ("c.mp4", gen[: len(gen) // 2]),
            ("d.txt", b"text alone"),
        ],
    )
    cli("keys", "create", "--name", "acme-ai")
    outs = {}
    for spool in (True, False):
        monkeypatch.setattr(WebDatasetReader, "spool_video", spool)
        out = outs[spool] = tmp_path / f"out-{spool}"
        cli("clear", shard, "--snapshot", snap, "--licensee", "acme-ai", "--out", out, "--batch-size", "2")
    new, old = outs[True], outs[False]
    assert _sha(new / "decisions.parquet") == _sha(old / "decisions.parquet")
    assert _sha(new / "shards" / "000000.parquet") == _sha(old / "shards" / "000000.parquet")
    assert [_sha(p) for p in sorted((new / "cleared").iterdir())] == [
        _sha(p) for p in sorted((old / "cleared").iterdir())
    ]
    reports = [json.loads((o / "report.json").read_text()) for o in (new, old)]
    for r in reports:
        for k in ("started_at", "finished_at", "generated_at", "signature", "elapsed_s"):
            r.pop(k, None)
    assert reports[0] == reports[1]


def test_the_reader_removes_its_files_as_batches_end_and_on_errors(clips, big_video, tmp_path):  # noqa: F811
    scratch = tmp_path / "scratch"
    shard_path = _shard(tmp_path / "s.tar", [("a.mp4", clips["generated"]), ("b.avi", big_video), ("b.txt", b"x")])
    reader = reader_for(shard_path, scratch=scratch)
    shard = Shard("s", str(shard_path), shard_path.stat().st_size)
    batches = reader.read(shard, 1)
    (first,) = next(batches)
    assert isinstance(first.data, Path) and first.data.is_relative_to(scratch) and first.media_type == "video"
    assert first.data.read_bytes() == clips["generated"].read_bytes()
    (second,) = next(batches)
    assert not first.data.exists() and second.data.stat().st_size == big_video.stat().st_size
    assert second.text == "x"
    batches.close()  # the consumer stops early (an error in a later step): the directory goes
    assert list(scratch.iterdir()) == []
    # an archive cut inside the big member: the reading pass ends with the shard's error item, no file left
    data = shard_path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[: len(data) // 2])
    cut_shard = Shard("cut", str(cut), cut.stat().st_size)
    items = [it for b in reader.read(cut_shard, 8) for it in b]
    assert items[0].error is None and items[-1].error_field == "archive" and items[-1].error.startswith("shard unr")
    in_memory = WebDatasetReader()
    in_memory.spool_video = False
    before = [it for b in in_memory.read(cut_shard, 8) for it in b]
    assert [(it.item, it.error) for it in items] == [(it.item, it.error) for it in before]  # the same message
    assert list(scratch.iterdir()) == []
