"""Issue 18 item 3: a video item goes to FFmpeg by its path in `fairtrain match`, `fairtrain outputs check` and
`fairtrain lookup`, and is hashed in blocks, so a video far larger than what the process allocates never sits
in memory; a truncated file still gets the same per-item error as before."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import xxhash

from fairtrain.core.keys import SigningKey
from fairtrain.core.matcher import SnapshotMatcher, load_item
from memory_helpers import traced_peak
from test_video_downstream import clips, published_video  # noqa: F401 (fixtures)


@pytest.fixture(scope="module")
def big_video(tmp_path_factory) -> Path:
    """12 s of uncompressed 640×360 video in AVI: about 100 MB of file for 24 grid frames (the fingerprint's
    own working memory grows with the duration, about 0.4 MB a second, not with the file's size)."""
    path = tmp_path_factory.mktemp("video-by-path") / "long.avi"
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=640x360:r=25:d=12"]
        + ["-c:v", "rawvideo", "-pix_fmt", "yuv420p", str(path)],
        check=True,
        timeout=120,
    )
    assert path.stat().st_size > 90_000_000
    return path


def _trusted(app) -> list:
    return [SigningKey.load(app.state.web.data_dir / "keys" / "registry.key").public]


def test_match_outputs_check_and_lookup_never_hold_a_video_in_memory(published_video, clips, big_video):  # noqa: F811
    from fairtrain.cli._common import read_items
    from fairtrain.services.transparency.lookup import identify_in
    from fairtrain.services.transparency.outputs import OutputChecker

    app, work_id, snap = published_video
    trusted = _trusted(app)
    matcher = SnapshotMatcher.open(snap, trusted)
    checker = OutputChecker.open(snap, trusted)
    size = big_video.stat().st_size

    def match_check_identify():
        items = read_items([big_video, clips["generated"]])
        return matcher.match(items), checker.check(items), identify_in(str(big_video), big_video, [snap], None, trusted)

    (results, checks, found), peak = traced_peak(match_check_identify)
    # the old code read each file whole (≥ 100 MB for the long video); by path, only grid frames are held
    assert peak < size // 4, f"peak {peak} bytes while matching a {size}-byte video"
    big, gen = results
    assert (big.modality, big.error, big.matches, big.seconds) == ("video", None, [], 12.0)
    assert gen.error is None and [m.work_id for m, _ in gen.matches] == [work_id]
    assert [c.modality for c in checks] == ["video", "video"] and checks[0].error is None
    assert not checks[0].reproductions and [r.work_id for r in checks[1].reproductions if r.flagged] == [work_id]
    assert found["content_hash"] == xxhash.xxh3_128_hexdigest(big_video.read_bytes())
    assert all(works == [] for works in found["works"].values()) and found["works"]


def test_a_truncated_or_unreadable_video_gets_the_same_error_by_path_as_in_memory(
    published_video,  # noqa: F811
    clips,  # noqa: F811
    tmp_path,
):
    app, _work_id, snap = published_video
    matcher = SnapshotMatcher.open(snap, _trusted(app))
    data = clips["generated"].read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 2 // 3])
    (by_path,) = matcher.match([("cut.mp4", cut)])
    (in_memory,) = matcher.match([("cut.mp4", cut.read_bytes())])
    assert by_path.error and by_path.error == in_memory.error and by_path.modality == "video"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    (r,) = matcher.match([("empty.mp4", empty)])
    assert r.error == "empty file"
    assert load_item("gone.mp4", tmp_path / "gone.mp4")[2].startswith("cannot read (")


def test_the_commands_take_a_long_video_by_path(published_video, big_video, clips, cli, tmp_path):  # noqa: F811
    _app, work_id, snap = published_video
    out = json.loads(cli("match", big_video, clips["generated"], "--snapshot", snap, "--json").stdout)
    assert [r["modality"] for r in out] == ["video", "video"] and out[0]["error"] is None
    assert [m["work_id"] for m in out[1]["matches"]] == [work_id]
    checked = json.loads(cli("outputs", "check", big_video, "--snapshot", snap, "--json").stdout)
    assert checked["outputs"][0]["modality"] == "video" and not checked["outputs"][0]["flagged"]


def test_a_folder_and_a_parquet_manifest_of_local_videos_clear_without_holding_a_video(
    published_video,  # noqa: F811
    clips,  # noqa: F811
    big_video,
    cli,
    tmp_path,
):
    """`fairtrain clear` of a folder and of a WebVid-style manifest (caption + local path): each video goes
    to FFmpeg by its path and is hashed in blocks; a truncated file is an error item; the batch goes on."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    _app, work_id, snap = published_video
    folder = tmp_path / "videos"
    folder.mkdir()
    os.link(big_video, folder / "long.avi")  # a symlink would leave the input root
    shutil.copy(clips["generated"], folder / "gen.mp4")
    data = clips["generated"].read_bytes()
    (folder / "cut.mp4").write_bytes(data[: len(data) * 2 // 3])
    manifest = tmp_path / "webvid.parquet"
    pq.write_table(
        pa.table({"caption": ["a test card", "a programme"], "path": [str(big_video), str(clips["generated"])]}),
        manifest,
    )
    cli("keys", "create", "--name", "acme-ai")
    size = big_video.stat().st_size
    for name, dataset in (("folder", folder), ("manifest", manifest)):
        out = tmp_path / f"out-{name}"
        _, peak = traced_peak(
            lambda: cli(
                "clear", dataset, "--snapshot", snap, "--licensee", "acme-ai", "--out", out, "--batch-size", "2"
            )
        )
        assert peak < size // 4, f"{name}: peak {peak} bytes while clearing a {size}-byte video"
        table = pq.read_table(out / "decisions.parquet").to_pylist()
        rows = (
            {r["item"]: r for r in table}
            if name == "folder"
            else dict(enumerate(sorted(table, key=lambda r: r["row"])))
        )
        big = rows["long.avi" if name == "folder" else 0]
        gen = rows["gen.mp4" if name == "folder" else 1]
        assert big["error"] is None and big["seconds"] == 12.0 and not big["work_ids"]
        assert big["content_hash"] == xxhash.xxh3_128_hexdigest(big_video.read_bytes())
        assert gen["work_ids"] == [work_id] and gen["modality"] == big["modality"] == "video"
        if name == "folder":
            assert rows["cut.mp4"]["error"] and rows["cut.mp4"]["modality"] == "video"
