"""Video fingerprints, end to end on small clips made here with the real FFmpeg: registration, whole copies
and excerpts found with their offsets, broken files refused with a clear error, unrelated clips left alone;
then the wiring: the registry, a signed snapshot, ``fairtrain match`` and the clearance readers."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile
import wave
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from cli_helpers import clear
from fairtrain.core.fingerprint import FingerprintError, codec
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.fingerprint.video import (
    VideoIndex,
    VideoIndexBuilder,
    VideoRegistration,
    fingerprint_video,
    register_video,
)
from fairtrain.core.media import detect_media_type
from fairtrain.services.clearance.shard import copy_span
from test_fingerprint_audio import synth_piece

W, H, FPS = 192, 108, 10
RATE = 22050


def _picture(rng: np.random.Generator) -> np.ndarray:
    """A 2×-size RGB picture with structure at several scales: smooth colour fields plus bright shapes."""
    base = rng.uniform(0, 255, (6, 8, 3)).astype(np.uint8)
    im = Image.fromarray(base).resize((2 * W, 2 * H), Image.Resampling.BICUBIC)
    arr = np.asarray(im).astype(np.int16)
    for _ in range(8):
        x, y = rng.integers(0, 2 * W - 40), rng.integers(0, 2 * H - 30)
        arr[y : y + int(rng.integers(10, 30)), x : x + int(rng.integers(10, 40))] = rng.integers(0, 255, 3)
    return arr.clip(0, 255).astype(np.uint8)


def frames_of(seed: int, seconds: float, shot_s: float = 3.0) -> np.ndarray:
    """Shots of ``shot_s`` seconds, each a slow pan across its own picture."""
    rng = np.random.default_rng(seed)
    out = []
    n = int(seconds * FPS)
    per_shot = int(shot_s * FPS)
    for start in range(0, n, per_shot):
        pic = _picture(rng)
        dx, dy = rng.integers(-2, 3, 2)
        x0, y0 = rng.integers(10, W - 10), rng.integers(10, H - 10)
        for i in range(min(per_shot, n - start)):
            x = int(np.clip(x0 + dx * i, 0, W))
            y = int(np.clip(y0 + dy * i, 0, H))
            out.append(pic[y : y + H, x : x + W])
    return np.stack(out)


def write_wav(path: Path, pcm: np.ndarray) -> Path:
    data = (np.clip(pcm / (np.abs(pcm).max() + 1e-9), -1, 1) * 20000).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(data.tobytes())
    return path


def encode(
    path: Path,
    frames: np.ndarray,
    *,
    audio: Path | None = None,
    vf: str = "null",
    codec_args: tuple[str, ...] = ("-c:v", "libx264", "-preset", "ultrafast", "-crf", "23"),
) -> Path:
    argv = [
        "ffmpeg",
        "-hide_banner",
        "-y",
        "-v",
        "error",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        f"{frames.shape[2]}x{frames.shape[1]}",
        "-r",
        str(FPS),
        "-i",
        "pipe:0",
    ]
    if audio is not None:
        argv += ["-i", str(audio), "-map", "0:v", "-map", "1:a", "-c:a", "aac", "-b:a", "64k", "-shortest"]
    argv += ["-vf", vf, *codec_args, "-pix_fmt", "yuv420p", str(path)]
    subprocess.run(argv, input=frames.tobytes(), check=True, capture_output=True, timeout=120)
    return path


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-y", "-v", "error", *args], check=True, capture_output=True, timeout=120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("video")
    work_frames = frames_of(1, 30.0)
    song = write_wav(d / "song.wav", synth_piece(5, seconds=32.0))
    noise = write_wav(d / "noise.wav", synth_piece(9, seconds=40.0))
    out = {"work": encode(d / "work.mp4", work_frames, audio=song)}
    # a whole copy, downscaled, mirrored and brighter, as VP9 in WebM
    out["copy"] = encode(
        d / "copy.webm",
        work_frames,
        vf="scale=128:72,hflip,eq=brightness=0.08",
        codec_args=("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8", "-b:v", "150k"),
    )
    # 12 s of the work (from 9 s) inside 6 s of unrelated material before and 6 s after, sound replaced
    host = frames_of(77, 12.0)
    excerpt = np.concatenate([host[: 6 * FPS], work_frames[9 * FPS : 21 * FPS], host[6 * FPS :]])
    out["excerpt"] = encode(d / "excerpt.mkv", excerpt, audio=noise)
    out["unrelated"] = encode(d / "unrelated.mp4", frames_of(123, 20.0), audio=noise)
    data = out["work"].read_bytes()
    (d / "truncated.mp4").write_bytes(data[: len(data) // 2])
    out["truncated"] = d / "truncated.mp4"
    (d / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(20_000))
    out["junk"] = d / "junk.mp4"
    return out


@pytest.fixture(scope="module")
def registered(clips) -> tuple[VideoRegistration, VideoIndex]:
    reg = register_video(clips["work"], "work.mp4")
    builder = VideoIndexBuilder()
    builder.add(42, reg)
    return reg, builder.build()


def test_registration_keeps_frame_hashes_soundtrack_iscc_and_a_strip_but_never_the_video(clips, registered):
    reg, _ = registered
    assert reg.variants[0] == "full" and reg.hashes.shape == (len(reg.variants), 60)  # 30 s on the 2-fps grid
    assert reg.usable.mean() > 0.9
    assert reg.audio is not None and len(reg.audio.fingerprint.items) > 100
    assert reg.iscc.startswith("ISCC:EM")  # Video-Code (maintype 4 = "EM…")
    assert reg.strip[:3] == b"\xff\xd8\xff" and len(reg.strip) < 30_000
    assert Image.open(io.BytesIO(reg.strip)).size[0] > Image.open(io.BytesIO(reg.strip)).size[1] * 4
    stored = codec.dumps(reg)
    assert codec.loads(stored).hashes.tolist() == reg.hashes.tolist()
    assert len(stored) < clips["work"].stat().st_size / 3
    # the registry goes through the modality table
    assert modality("video").iscc(reg) == reg.iscc


def test_a_whole_copy_re_encoded_downscaled_and_mirrored_matches_with_its_offset(clips, registered):
    _, index = registered
    found = index.match([fingerprint_video(clips["copy"], "copy.webm")])[0]
    assert [m.work_id for m in found] == [42]
    ev = found[0].evidence
    assert ev["track"] == "visual" and ev["view"] == "mirror"
    assert ev["offset_s"] <= 1.0 and ev["query_offset_s"] <= 1.0 and ev["duration_s"] >= 25
    assert abs(ev["speed"] - 1.0) <= 0.02


def test_an_excerpt_inside_an_unrelated_video_is_found_with_both_offsets(clips, registered):
    _, index = registered
    found = index.match([fingerprint_video(clips["excerpt"], "excerpt.mkv")])[0]
    assert [m.work_id for m in found] == [42]
    ev = found[0].evidence
    assert ev["track"] == "visual" and "soundtrack" not in ev  # the sound was replaced
    assert abs(ev["offset_s"] - 9.0) <= 1.0, ev
    assert abs(ev["query_offset_s"] - 6.0) <= 1.0, ev
    assert 9.0 <= ev["duration_s"] <= 13.5, ev


def _pip(work: np.ndarray, host: np.ndarray, scale: float, x: int, y: int) -> np.ndarray:
    out = host.copy()
    w, h = int(W * scale) // 2 * 2, int(H * scale) // 2 * 2
    for i, frame in enumerate(work):
        out[i, y : y + h, x : x + w] = np.asarray(Image.fromarray(frame).resize((w, h), Image.Resampling.BILINEAR))
    return out


@pytest.mark.parametrize("edit", ["crop", "speed", "pip"])
def test_edited_excerpts_are_found(clips, registered, tmp_path, edit):
    """16 s from 6 s into the work: cropped by 18 % and 15 % off-centre, played 8 % faster, or shown at a
    third of the frame over unrelated video."""
    _, index = registered
    excerpt = frames_of(1, 30.0)[6 * FPS : 22 * FPS]
    vf = "null"
    if edit == "crop":
        vf = "crop=iw*0.82:ih*0.85:iw*0.15:ih*0.02,scale=192:108"
    elif edit == "speed":
        vf = "setpts=PTS/1.08"
    else:
        excerpt = _pip(excerpt, frames_of(55, 16.0), 1 / 3, 110, 12)
    found = index.match([fingerprint_video(encode(tmp_path / "e.mp4", excerpt, vf=vf), "e.mp4")])[0]
    assert [m.work_id for m in found] == [42], edit
    ev = found[0].evidence
    assert abs(ev["offset_s"] - ev["speed"] * ev["query_offset_s"] - 6.0) <= 1.0, ev  # the item's start in the work
    assert abs(ev["speed"] - (1.08 if edit == "speed" else 1.0)) <= 0.03, ev  # a 2-fps grid over 16 s
    assert ev["view"] == ("pip" if edit == "pip" else "full")


def _striped_host_with_inset(rng: np.random.Generator, y: int, x: int, side: int = 32) -> np.ndarray:
    """24 grid frames (96×96 grey): a still host of horizontal stripes across the whole width (blinds, a
    striped wall) and an inset of a third of the frame showing a new smooth picture every 3 frames."""
    rows = np.repeat(rng.uniform(90, 170, 96 // 6), 6)
    host = np.broadcast_to(rows[:, None], (96, 96)) + rng.normal(0, 2, (96, 96))
    out = np.repeat(host[None], 24, axis=0).copy()
    for i in range(24):
        if i % 3 == 0:
            small = Image.fromarray(rng.uniform(60, 200, (4, 4)).astype(np.uint8))
            pic = np.asarray(small.resize((side, side), Image.Resampling.BICUBIC), np.float64)
        out[i, y : y + side, x : x + side] = pic
    return out.clip(0, 255).astype(np.uint8)


def test_an_inset_whose_seams_are_not_the_frames_strongest_lines_is_still_found():
    """The inset's top and bottom seams span a third of the frame; across the whole width the host's own
    stripes are as strong, so a seam is found along the span between the inset's sides (issue 18: 6 of
    30 placements found before, 16 after)."""
    from fairtrain.core.fingerprint._video_frames import pip_boxes

    found = 0
    for k in range(30):
        rng = np.random.default_rng(100 + k)
        y, x = int(rng.integers(2, 60)), int(rng.integers(2, 60))
        frames = _striped_host_with_inset(np.random.default_rng(k), y, x)
        boxes = pip_boxes(frames, (0, 96, 0, 96))
        found += any(max(abs(a - b) for a, b in zip(bx, (y, y + 32, x, x + 32), strict=True)) <= 1 for bx in boxes)
    assert found >= 14, found


def _inset_with_inner_lines(rng: np.random.Generator, y: int, x: int, side: int = 40) -> np.ndarray:
    """24 grid frames: a host showing a new smooth picture every 4 frames, and an inset of the frame's shape
    (square on the grid) holding one still picture crossed by a bright bar each way, as a slow pan over a
    still keeps its edges: the bars persist as long as the seams do."""
    out = np.empty((24, 96, 96))
    for i in range(24):
        if i % 4 == 0:
            small = Image.fromarray(rng.uniform(40, 220, (5, 5)).astype(np.uint8))
            host = np.asarray(small.resize((96, 96), Image.Resampling.BICUBIC), np.float64)
        out[i] = host
    pic = np.asarray(
        Image.fromarray(rng.uniform(60, 200, (4, 4)).astype(np.uint8)).resize((side, side), Image.Resampling.BICUBIC),
        np.float64,
    ).copy()
    pic[:, side * 5 // 8 : side * 5 // 8 + 2] = 250
    pic[side * 2 // 3 : side * 2 // 3 + 2, :] = 250
    out[:, y : y + side, x : x + side] = pic
    return (out + rng.normal(0, 1.5, out.shape)).clip(0, 255).astype(np.uint8)


def test_an_inset_crossed_by_its_own_persistent_lines_is_found_as_the_whole_inset():
    """Boxes cut by the inset's own lines score as high as the inset (every side a persistent edge); the one
    with the frame's shape, then the larger, comes first (issue 18's full-size benchmark: the true box first
    for 13 of 40 insets before, 37 after)."""
    from fairtrain.core.fingerprint._video_frames import pip_boxes

    first = 0
    for k in range(20):
        rng = np.random.default_rng(200 + k)
        y, x = int(rng.integers(3, 50)), int(rng.integers(3, 50))
        boxes = pip_boxes(_inset_with_inner_lines(np.random.default_rng(k), y, x), (0, 96, 0, 96))
        first += bool(boxes) and max(abs(a - b) for a, b in zip(boxes[0], (y, y + 40, x, x + 40), strict=True)) <= 1
    assert first >= 16, first


def _faint_inset_beside_a_busy_moment(rng: np.random.Generator, y: int, x: int, side: int = 40) -> np.ndarray:
    """28 grid frames: a smooth still host, busy all over (a flash of texture) for its first 4 frames, and
    an inset of a gentle gradient (a sky) only a little brighter than the host around it."""
    host = np.asarray(
        Image.fromarray(rng.uniform(60, 200, (4, 4)).astype(np.uint8)).resize((96, 96), Image.Resampling.BICUBIC),
        np.float64,
    )
    out = np.stack([rng.uniform(0, 255, (96, 96)) if i < 4 else host for i in range(28)])
    sky = np.linspace(0, 20, side)[:, None] + host[y : y + side, x : x + side].mean() + 10
    out[:, y : y + side, x : x + side] = np.broadcast_to(sky, (side, side))
    return (out + rng.normal(0, 1.0, out.shape)).clip(0, 255).astype(np.uint8)


def test_a_faint_seam_present_in_every_frame_outweighs_a_host_busy_for_a_moment():
    """Averaged over time, 4 busy frames of the host make every one of its columns a stronger edge than
    the faint seam of a sky inset; the seam is there in every frame, and the lower quartile over time sees
    it (issue 18, mid-size benchmark on seed 8: an inset missed so, found after; 7 of these 20 placements
    found before, 19 after)."""
    from fairtrain.core.fingerprint._video_frames import pip_boxes

    found = 0
    for k in range(20):
        rng = np.random.default_rng(300 + k)
        y, x = int(rng.integers(3, 50)), int(rng.integers(3, 50))
        boxes = pip_boxes(_faint_inset_beside_a_busy_moment(np.random.default_rng(k), y, x), (0, 96, 0, 96))
        found += any(max(abs(a - b) for a, b in zip(bx, (y, y + 40, x, x + 40), strict=True)) <= 1 for bx in boxes)
    assert found >= 16, found


def _index_of_hashes(works: dict[int, np.ndarray], cells: dict[int, np.ndarray] | None = None) -> VideoIndex:
    """A video index of works given as frame hashes (one "full" variant, every frame usable) and, with
    ``cells``, each work's packed 8×8 grey cells."""
    builder = VideoIndexBuilder()
    for w, hashes in works.items():
        builder.add(
            w,
            VideoRegistration(
                exact=bytes([w]) * 16,
                duration=len(hashes) / 2,
                variants=("full",),
                hashes=hashes[None],
                usable=np.ones((1, len(hashes)), bool),
                shots=np.zeros(1, np.int64),
                cells=None if cells is None else cells[w],
            ),
        )
    return builder.build()


def _query_of_hashes(item: str, views: tuple[str, ...], hashes: list[np.ndarray], cells: np.ndarray | None = None):
    """A scan-side fingerprint given as one hash array per view, every frame usable (and, with ``cells``, each
    view's (N, 8, 8) grey cells of the whole picture, read as the "full" variant)."""
    from fairtrain.core.fingerprint.video import VideoFingerprint

    return VideoFingerprint(
        item=item,
        exact=b"q" * 16,
        duration=len(hashes[0]) / 2,
        views=views,
        hashes=np.stack(hashes),
        usable=np.ones((len(hashes), len(hashes[0])), bool),
        cells=None if cells is None else cells.reshape(len(cells), 1, cells.shape[1], 64).astype(np.uint8),
    )


def _flipped(rng: np.random.Generator, hashes: np.ndarray, bits: int) -> np.ndarray:
    """``hashes`` with ``bits`` distinct random bits flipped in each."""
    out = hashes.copy()
    for i in range(len(out)):
        for b in rng.choice(64, bits, replace=False):
            out[i] ^= np.uint64(1) << np.uint64(b)
    return out


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("copy", [3]),  # 5 bits from work 3's frames, ~32 from everything else
        ("between", []),  # 5 bits from work 1's frames and 6–11 from work 2's: no evidence for either
        ("shared", [1, 2]),  # footage works 1 and 2 both hold (2 bits apart): a copy of it is both
    ],
)
def test_a_verified_line_must_be_nearer_its_work_than_any_unrelated_frame(query, expected):
    """The ratio test: flat, low-detail pictures of different works agree within 8–12 bits by chance, as
    near as an edited copy comes; a line whose frames are about as near another work's frames is refused,
    unless that other work holds the same footage."""
    from fairtrain.core.fingerprint.video import BACKGROUND_MARGIN, DUPLICATE_BITS

    assert 2 < BACKGROUND_MARGIN < 12 and DUPLICATE_BITS < 5
    rng = np.random.default_rng(5)
    works = {w: rng.integers(0, 1 << 63, 120, dtype=np.uint64) for w in range(1, 31)}
    base = works[1][30:70]
    works[2] = works[2].copy()
    works[2][30:70] = _flipped(rng, base, 2 if query == "shared" else 6)
    index = _index_of_hashes(works)
    seen = _flipped(rng, works[3][30:70] if query == "copy" else base, 5)
    fp = _query_of_hashes(f"{query}.mp4", ("full", "mirror"), [seen, ~seen])
    assert sorted(m.work_id for m in index.match([fp])[0]) == expected


@pytest.mark.parametrize(
    ("frames", "far", "expected"),
    [
        (12, 12, [3]),  # 12 matched frames, 7.3 bits clear of the unrelated frames on average
        (12, 14, []),  # 12 frames, 6.3 clear: past BACKGROUND_MARGIN, not past what 12 frames need (6.9)
        (24, 12, [3]),  # 24 frames, 6.0 clear: a whole window's worth of frames needs no more
    ],
)
def test_a_short_line_needs_a_larger_margin_than_a_whole_window(frames, far, expected):
    """The ratio test's mean over fewer frames than an 8-s window is less sure, so the margin it needs grows
    as 1/√n (issue 18, second full-size draw: two distractors matched a work over 11 frames, 6.18 bits
    clear)."""
    rng = np.random.default_rng(5)
    works = {w: rng.integers(0, 1 << 63, 120, dtype=np.uint64) for w in range(1, 31)}
    index = _index_of_hashes(works)
    r = np.random.default_rng(frames * 100 + far)
    copy = np.concatenate([_flipped(r, works[3][30:34], 8), _flipped(r, works[3][34 : 30 + frames], far)])
    seen = np.concatenate([copy, r.integers(0, 1 << 63, 40 - frames, dtype=np.uint64)])
    fp = _query_of_hashes("short.mp4", ("full", "mirror"), [seen, ~seen])
    assert [m.work_id for m in index.match([fp])[0]] == expected


@pytest.mark.parametrize(
    ("views", "shared", "expected"),
    [
        (("pip:10:50:40:80", "pip:10:50:40:92"), False, [3]),  # two guesses at one inset: the nearer work only
        (("pip:10:50:40:80", "pip:10:50:40:80"), False, [3]),  # one view, two works: the nearer only
        (("pip:10:50:40:80", "pip:10:50:40:92"), True, [3, 4]),  # footage both works hold: a copy of both
        (("full", "pip:10:50:40:80"), False, [3, 4]),  # a programme showing another registered work as its inset
    ],
)
def test_one_region_of_the_picture_shows_one_footage_at_a_time(views, shared, expected):
    """Two lines that claim the same query frames through the same region of the picture, for two works,
    cannot both be right unless the works share the footage: the line whose frames are nearer by
    DUPLICATE_BITS or more stands (issue 18, mid-size benchmark on seed 8: a picture-in-picture query matched
    its own work through one guess at the inset's box at 3.8 bits and another work through a wider guess at
    8.8, 6.2 bits clear of the unrelated frames)."""
    rng = np.random.default_rng(11)
    works = {w: rng.integers(0, 1 << 63, 120, dtype=np.uint64) for w in range(1, 31)}
    if shared:
        works[4][50:90] = _flipped(rng, works[3][30:70], 2)
    index = _index_of_hashes(works)
    first = _flipped(rng, works[3][30:70], 2)
    other = _flipped(rng, works[4][50:90], 3 if shared else 9)
    fp = _query_of_hashes("two-views.mp4", views, [first, other])
    assert sorted(m.work_id for m in index.match([fp])[0]) == expected


def test_the_soundtrack_alone_identifies_the_work(clips, registered, tmp_path):
    _, index = registered
    other_picture = tmp_path / "picture-replaced.mp4"
    ffmpeg(
        "-i",
        str(clips["unrelated"]),
        "-i",
        str(clips["work"]),
        "-map",
        "0:v",
        "-map",
        "1:a",
        "-c:v",
        "copy",
        "-c:a",
        "aac",
        "-shortest",
        str(other_picture),
    )
    found = index.match([fingerprint_video(other_picture, "picture-replaced.mp4")])[0]
    assert [m.work_id for m in found] == [42]
    assert found[0].evidence["soundtrack"]["ber"] <= 0.2
    assert "track" not in found[0].evidence or found[0].evidence.get("track") != "visual"


def test_an_unrelated_clip_matches_nothing(clips, registered):
    _, index = registered
    assert index.match([fingerprint_video(clips["unrelated"], "unrelated.mp4")]) == [[]]


def test_the_identical_file_is_an_exact_match(clips, registered):
    _, index = registered
    found = index.match([fingerprint_video(clips["work"].read_bytes(), "same.mp4")])[0]
    assert found[0].stage == "exact" and found[0].score == 1.0


def test_broken_files_get_a_clear_error_naming_the_item(clips):
    with pytest.raises(FingerprintError) as e:
        fingerprint_video(clips["truncated"], "cut.mp4")
    assert e.value.item == "cut.mp4" and e.value.reason == "truncated or corrupt video (ffprobe: moov atom not found)"
    with pytest.raises(FingerprintError) as e:
        fingerprint_video(clips["junk"].read_bytes(), "junk.mp4")
    assert e.value.item == "junk.mp4" and "not a decodable video" in e.value.reason
    with pytest.raises(FingerprintError, match="empty input"):
        fingerprint_video(b"", "empty.mp4")
    wav = io.BytesIO()
    with wave.open(wav, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000), w.writeframes(b"\x00\x01" * 8000)
    with pytest.raises(FingerprintError, match="no video stream"):
        fingerprint_video(wav.getvalue(), "sound.wav")


def test_the_index_saves_and_loads_and_still_matches(clips, registered, tmp_path):
    _, index = registered
    files = index.save(tmp_path / "idx")
    assert {p.name for p in files} >= {"video_index.json", "video_hashes.npy", "audio_index.json"}
    loaded = VideoIndex.load(tmp_path / "idx")
    assert loaded.match([fingerprint_video(clips["excerpt"], "x")])[0][0].work_id == 42
    size = sum(p.stat().st_size for p in files)
    assert size < 40_000  # 30 s of video: far from the video itself
    meta = json.loads((tmp_path / "idx" / "video_index.json").read_text())
    assert meta["format"] == "fairtrain.video-index/3"
    assert np.array_equal(loaded.cells, index.cells) and np.array_equal(loaded.cells_start, index.cells_start)
    assert len(loaded.cells) == index.seg_start[1] and len(loaded.cells) > 0  # one row per grid frame
    # an index of format 2 (no grey cells) or 1 (soundtracks with high-pass variants too) still loads and
    # matches, by hashes alone
    (tmp_path / "idx" / "video_cells.npy").unlink()
    (tmp_path / "idx" / "video_cells_lengths.npy").unlink()
    for old in ("fairtrain.video-index/2", "fairtrain.video-index/1"):
        (tmp_path / "idx" / "video_index.json").write_text(json.dumps({**meta, "format": old}))
        found = VideoIndex.load(tmp_path / "idx").match([fingerprint_video(clips["excerpt"], "x")])[0][0]
        assert found.work_id == 42 and "cells_correlation" not in found.evidence
    # a newer format, or something else, is refused with what was found and what this version reads
    (tmp_path / "idx" / "video_index.json").write_text(json.dumps({**meta, "format": "fairtrain.video-index/4"}))
    with pytest.raises(ValueError, match=r"found 'fairtrain.video-index/4', written by a newer fairtrain"):
        VideoIndex.load(tmp_path / "idx")
    (tmp_path / "idx" / "video_index.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match=r"not a fairtrain.video-index/3 index \(found 'other'; this version reads"):
        VideoIndex.load(tmp_path / "idx")


def test_the_soundtrack_from_the_pictures_decode_is_what_the_audio_path_registers(clips, registered):
    """One FFmpeg decode gives the grid and the soundtrack's PCM; its Chromaprint items (in this process)
    are the audio path's own, bit for bit: the raw fingerprint and the speed variants of
    ``register_audio(file, speeds=AUDIO_SPEEDS, highpass=())``."""
    from fairtrain.core.fingerprint.audio import register_audio
    from fairtrain.core.fingerprint.video import AUDIO_SPEEDS

    reg, _ = registered
    want = register_audio(clips["work"], "work.mp4", speeds=AUDIO_SPEEDS, highpass=())
    assert np.array_equal(reg.audio.fingerprint.items, want.fingerprint.items)
    assert reg.audio.iscc == want.iscc
    assert [v.speed for v in reg.audio.variants] == [v.speed for v in want.variants] == list(AUDIO_SPEEDS)
    for got, exp in zip(reg.audio.variants, want.variants, strict=True):
        assert got.step == exp.step and got.highpass == exp.highpass == 0.0
        # fpcalc and the library resample a sped-up declaration alike; allow a stray bit, never more
        assert len(got.items) == len(exp.items)
        assert np.unpackbits((got.items ^ exp.items).view(np.uint8)).mean() < 0.001
    scanned = fingerprint_video(clips["excerpt"], "x").audio
    from fairtrain.core.fingerprint.audio import fingerprint_audio

    assert np.array_equal(scanned.items, fingerprint_audio(clips["excerpt"], "x", in_process=False).items)


@pytest.mark.parametrize(
    "ext,args",
    [
        ("mp4", ("-c:v", "libx264", "-preset", "ultrafast")),
        ("mkv", ("-c:v", "libx264", "-preset", "ultrafast")),
        ("webm", ("-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8")),
        ("mov", ("-c:v", "libx264", "-preset", "ultrafast")),
        ("ts", ("-c:v", "libx264", "-preset", "ultrafast", "-f", "mpegts")),
        (
            "avi",
            (
                "-c:v",
                "mpeg4",
            ),
        ),
    ],
)
def test_containers_are_detected_from_their_bytes(tmp_path, ext, args):
    path = encode(tmp_path / f"c.{ext}", frames_of(3, 1.0), codec_args=args)
    head = path.read_bytes()[:8192]
    assert detect_media_type(head, "") == "video"  # the bytes alone tell
    assert detect_media_type(head, f"clip.{ext}") == "video"


def test_audio_and_image_containers_are_not_mistaken_for_video():
    assert detect_media_type(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00", "") == "audio"
    assert detect_media_type(b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00", "x.avif") == "image"
    assert detect_media_type(b"export const x: number = 1;\n", "x.ts") == "text"


# --- wiring: registry, snapshot, CLI, clearance readers -------------------------------------------------


def test_register_export_and_match_a_video_excerpt_through_the_snapshot(registry, clips, tmp_path):
    from fairtrain.core.keys import SigningKey
    from fairtrain.core.matcher import SnapshotMatcher
    from fairtrain.services.registry import ShareSpec
    from fairtrain.services.registry.snapshot_export import export_snapshot

    h = registry.add_holder("Broadcaster")
    wid = registry.add_work_file(clips["work"], shares=[ShareSpec(h, "author", 1)])["work"]
    work = registry.work(wid)
    assert work["media_type"] == "video" and work["iscc"].startswith("ISCC:EM")
    key = SigningKey.generate()
    manifest = export_snapshot(registry, tmp_path / "snap", key)
    assert manifest["counts"]["fingerprints"] == {"video": 1}
    names = [p.name for p in (tmp_path / "snap").rglob("*")]
    assert not any(n.endswith((".mp4", ".jpg")) for n in names)  # fingerprints, never the video or strip
    matcher = SnapshotMatcher.open(tmp_path / "snap", [key.public])
    results = matcher.match(
        [
            ("excerpt.mkv", clips["excerpt"].read_bytes()),
            ("unrelated.mp4", clips["unrelated"].read_bytes()),
            ("cut.mp4", clips["truncated"].read_bytes()),
        ]
    )
    assert results[0].modality == "video"
    assert [m.work_id for m, _ in results[0].matches] == [wid]
    assert abs(results[0].matches[0][0].evidence["offset_s"] - 9.0) <= 1.0
    assert results[1].matches == [] and results[1].error is None
    assert "truncated or corrupt video" in results[2].error


def test_registering_the_same_video_again_makes_a_fingerprint_from_before_the_cells_again(registry, clips):
    """The registry keeps fingerprints, never the video: a work registered before the grey cells verifies by
    hashes alone until its holder registers the same file again, which stores this version's fingerprint
    (cells included); registering it again unchanged stores nothing."""
    import dataclasses

    from sqlalchemy import select, update

    from fairtrain.core.store.models import Fingerprint
    from fairtrain.services.registry import ShareSpec

    h = registry.add_holder("Broadcaster")
    shares = [ShareSpec(h, "author", 1)]
    wid = registry.add_work_file(clips["work"], shares=shares)["work"]

    def stored():
        with registry.engine.connect() as c:
            payload = c.execute(select(Fingerprint.payload).where(Fingerprint.work_id == wid)).scalar_one()
        return codec.loads(bytes(payload))

    assert stored().cells is not None and len(stored().cells) == stored().hashes.shape[1]
    old = codec.dumps(dataclasses.replace(stored(), cells=None))
    with registry.engine.begin() as c:
        c.execute(update(Fingerprint).where(Fingerprint.work_id == wid).values(payload=old))
    assert stored().cells is None
    again = registry.add_work_file(clips["work"], shares=shares)
    assert again == {"work": wid, "created": False, "disputes": [], "refreshed": True}
    assert stored().cells is not None
    assert registry.add_work_file(clips["work"], shares=shares)["refreshed"] is False


def test_clearance_readers_yield_video_items_from_folders_webdataset_and_parquet(clips, tmp_path):
    from fairtrain.services.clearance.readers import reader_for

    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(clips["excerpt"].read_bytes())
    (folder / "b.mkv").write_bytes(clips["unrelated"].read_bytes())
    shard = tmp_path / "shards" / "shard-000.tar"
    shard.parent.mkdir()
    with tarfile.open(shard, "w") as tar:
        for name, payload in (("s1.mp4", clips["work"].read_bytes()), ("s1.txt", b"a dancer on a roof")):
            ti = tarfile.TarInfo(name)
            ti.size = len(payload)
            tar.addfile(ti, io.BytesIO(payload))
    manifest = tmp_path / "webvid.parquet"
    pq.write_table(
        pa.table(
            {"caption": ["a dancer on a roof", "missing"], "path": [str(clips["excerpt"]), str(tmp_path / "nope.mp4")]}
        ),
        manifest,
    )
    items, spooled = {}, {}
    for source in (folder, shard.parent, manifest):
        reader = reader_for(source)
        for sh in reader.shards(source):
            for batch in reader.read(sh, 16):
                for item in batch:
                    items[(reader.format, item.item)] = item
                    if reader.format == "webdataset" and item.media_type == "video":
                        # a tar's video member is handed on as a file, removed once its batch is done
                        spooled[item.item] = Path(item.data).read_bytes()
    kinds = {k: (i.media_type, i.error) for k, i in items.items()}
    assert kinds[("folder", "a.mp4")] == ("video", None) and kinds[("folder", "b.mkv")] == ("video", None)
    tar_item = next(i for (fmt, _), i in items.items() if fmt == "webdataset")
    assert tar_item.media_type == "video" and tar_item.text == "a dancer on a roof"
    assert isinstance(tar_item.data, Path) and spooled[tar_item.item] == clips["work"].read_bytes()
    rows = sorted((i for (fmt, _), i in items.items() if fmt == "parquet"), key=lambda i: i.row)
    assert rows[0].media_type == "video" and rows[0].text == "a dancer on a roof"
    assert rows[1].error and "nope.mp4" in rows[1].error and "missing" in rows[1].error


def test_a_broadcaster_registers_and_a_video_dataset_with_an_excerpt_is_cleared(cli, clips, tmp_path):
    """The issue's "done when": register a programme, clear a WebVid-style manifest (caption + local
    path) holding an excerpt of it, and find the excerpt with its offset; a truncated item is an error."""
    run = cli
    run("holders", "add", "Broadcaster")
    added = json.loads(run("works", "add", clips["work"], "--holder", "1:author", "--json").stdout)
    assert added["errors"] == []
    run("declare", "--holder", "1", "--category", "train-ai=deny")
    run("keys", "create")
    run("keys", "create", "--name", "acme-ai")
    run("snapshot", "export", tmp_path / "snap")
    found = json.loads(run("match", clips["excerpt"], "--snapshot", tmp_path / "snap", "--json").stdout)
    assert found[0]["modality"] == "video" and found[0]["matches"][0]["work_id"] == 1
    assert abs(found[0]["matches"][0]["evidence"]["query_offset_s"] - 6.0) <= 1.0

    manifest = tmp_path / "webvid.parquet"
    pq.write_table(
        pa.table(
            {
                "caption": ["rooftop dance", "city at night", "cut off"],
                "path": [str(clips["excerpt"]), str(clips["unrelated"]), str(clips["truncated"])],
            }
        ),
        manifest,
    )
    out = tmp_path / "out"
    report = json.loads(clear(run, manifest, tmp_path / "snap", out, "--json").stdout)
    names = ["rooftop dance", "city at night", "cut off"]
    rows = {names[r["row"]]: r for r in pq.read_table(out / "decisions.parquet").to_pylist()}
    assert rows["rooftop dance"]["decision"] == "deny" and rows["rooftop dance"]["modality"] == "video"
    (evidence,) = json.loads(rows["rooftop dance"]["evidence"])
    assert evidence["work_id"] == 1 and abs(evidence["evidence"]["offset_s"] - 9.0) <= 1.0
    # the report says where, for people: the excerpt's place in the item and in the work
    ev = evidence["evidence"]
    assert copy_span(ev) in (out / "report.html").read_text()
    assert copy_span(ev).startswith(f"item 0:0{round(ev['query_offset_s'])}–") and " = work 0:" in copy_span(ev)
    assert rows["city at night"]["decision"] == "unknown" and not rows["city at night"]["error"]
    assert "truncated or corrupt video" in rows["cut off"]["error"]
    assert report["items"] == 3


def test_ffmpeg_runs_bounded_in_memory_and_time_and_dies_with_its_parent():
    import os
    import sys
    import time

    from fairtrain.core.fingerprint._video_tools import run_bounded

    hog = run_bounded([sys.executable, "-c", "bytearray(3 << 30)"], "x", 60)
    assert hog.returncode != 0 and b"MemoryError" in hog.stderr
    with pytest.raises(FingerprintError, match="sleep timed out after 0.5 s"):
        run_bounded(["sleep", "5"], "x", 0.5)
    code = "from fairtrain.core.fingerprint._video_tools import run_bounded; run_bounded(['sleep', '60'], 'x', 90)"
    parent = subprocess.Popen([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    children = Path(f"/proc/{parent.pid}/task/{parent.pid}/children")
    deadline = time.monotonic() + 30
    while not children.read_text().split() and time.monotonic() < deadline:
        time.sleep(0.05)
    (child,) = children.read_text().split()
    while "Name:\tsleep" not in Path(f"/proc/{child}/status").read_text() and time.monotonic() < deadline:
        time.sleep(0.05)  # until setpriv and prlimit have set it up and exec'd the tool
    parent.kill()
    parent.wait()
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        status = Path(f"/proc/{child}/status").read_text() if Path(f"/proc/{child}").exists() else ""
        if "State:\tZ" in status:
            break
        time.sleep(0.05)
    assert not Path(f"/proc/{child}").exists() or "State:\tZ" in Path(f"/proc/{child}/status").read_text()


def _cells_of(pictures: np.ndarray) -> np.ndarray:
    """The packed cells a registration keeps of (N, 8, 8) grey cell means."""
    from fairtrain.core.fingerprint._video_frames import pack_cells

    return pack_cells(np.repeat(np.repeat(pictures.astype(np.float32), 4, axis=1), 4, axis=2))


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("agree", [3]),  # hashes 5 bits off, cells alike: a copy
        ("other-picture", []),  # hashes as near, the pictures different (stripes against a near-white frame)
        ("faint", [3]),  # hashes short of the ratio test, the cells alike and clear of every other work's
        ("faint-common", []),  # as faint, but another work holds pictures as alike: no evidence for either
    ],
)
def test_the_grey_cells_overrule_the_hashes_both_ways(case, expected):
    """pHash-64 of a picture with little structure agrees by chance, and an edited copy of one may miss the
    ratio test: the frames' 8×8 grey cells refuse a line whose pictures differ (issue 18, third full-size
    draw: a distractor of stripes matched a near-white frame, 9.7 bits clear of the background) and pass one
    whose pictures agree far better than with any other work's (three insets of 40 missed on two draws)."""
    from fairtrain.core.fingerprint.video import THUMB_MIN_CORR, THUMB_SURE_CORR

    assert 0.5 < THUMB_MIN_CORR < THUMB_SURE_CORR < 1.0
    rng = np.random.default_rng(23)
    works = {w: rng.integers(0, 1 << 63, 120, dtype=np.uint64) for w in range(1, 31)}
    pictures = {w: rng.uniform(0, 255, (120, 8, 8)) for w in works}
    if case == "faint-common":
        pictures[5][60:100] = pictures[3][30:70] + rng.normal(0, 4, (40, 8, 8))
    index = _index_of_hashes(works, {w: _cells_of(p) for w, p in pictures.items()})
    r = np.random.default_rng(7)
    if case.startswith("faint"):  # 12 frames 6.3 bits clear on average: short of what 12 frames need
        copy = np.concatenate([_flipped(r, works[3][30:34], 8), _flipped(r, works[3][34:42], 14)])
        seen = np.concatenate([copy, r.integers(0, 1 << 63, 28, dtype=np.uint64)])
    else:
        seen = _flipped(r, works[3][30:70], 5)
    shown = pictures[3][30:70] if case != "other-picture" else r.uniform(0, 255, (40, 8, 8))
    cells = np.clip(shown + r.normal(0, 8, shown.shape), 0, 255)
    fp = _query_of_hashes(f"{case}.mp4", ("full", "mirror"), [seen, ~seen], np.stack([cells, cells[:, :, ::-1]]))
    found = index.match([fp])[0]
    assert [m.work_id for m in found] == expected
    if found:
        assert found[0].evidence["cells_correlation"] >= THUMB_MIN_CORR


@pytest.mark.parametrize("mirror", [False, True])
def test_a_view_reads_the_registered_cells_of_the_variant_it_shows(mirror):
    """A line found through a registered crop variant compares the query's view with the cells of the whole
    picture that lie inside the crop (6×6 of 8×8 for the 90 % and 80 % crops); a view that shows exactly that
    crop, or its mirror image, reads the registered cells to within the 4-bit steps they are stored in."""
    from fairtrain.core.fingerprint._video_frames import pack_cells, thumbs, unit_rows, unpack_cells
    from fairtrain.core.fingerprint.video import _CELLS_INSIDE, REGISTRY_VARIANTS, _mirrored, _view_cells

    def read(view: np.ndarray, as_mirror: bool) -> np.ndarray:
        cells = _view_cells(view, (0, view.shape[1], 0, view.shape[2]))
        return _mirrored(cells) if as_mirror else cells

    rng = np.random.default_rng(3)
    coarse = rng.uniform(0, 255, (4, 24, 24))
    frames = np.repeat(np.repeat(coarse, 4, axis=1), 4, axis=2).astype(np.uint8)  # structure at 4-px scale
    box = (0, 96, 0, 96)
    stored = unpack_cells(pack_cells(thumbs(frames, box)))
    for k, (name, (left, top, right, bottom)) in enumerate(REGISTRY_VARIANTS):
        ri, ci = _CELLS_INSIDE[k]
        assert len(ri) == len(ci) == (8 if name == "full" else 6)
        shown = frames[:, round(top * 96) : round(bottom * 96), round(left * 96) : round(right * 96)]
        shown = np.ascontiguousarray(shown[:, :, ::-1] if mirror else shown)
        seen = read(shown, mirror)[k, :, : len(ri) * len(ci)]
        own = stored[:, ri][:, :, ci].reshape(4, -1)
        corr = (unit_rows(seen.astype(np.float32)) * unit_rows(own)).sum(axis=1)
        assert corr.min() > 0.99, (name, corr)
        wrong = read(shown, not mirror)[k, :, : len(ri) * len(ci)]
        assert ((unit_rows(wrong.astype(np.float32)) * unit_rows(own)).sum(axis=1) < 0.5).all()  # the other way round


@pytest.mark.parametrize("with_cells", [True, False])
def test_a_registry_of_one_work_that_repeats_its_footage_still_finds_an_excerpt(with_cells):
    """With one work registered, the ratio test's background is the work's own distant frames, and a work that
    shows its footage twice (a recap, a photograph seen again) is as near to itself there: the hashes alone
    cannot tell a copy from chance. The cells are compared with other works' frames only, and there are none,
    so a line whose cells agree is a copy (a broadcaster's first programme, cleared against a one-work
    snapshot, was found by its soundtrack only)."""
    rng = np.random.default_rng(31)
    hashes = rng.integers(0, 1 << 63, 160, dtype=np.uint64)
    hashes[100:140] = _flipped(rng, hashes[30:70], 1)
    pictures = rng.uniform(0, 255, (160, 8, 8))
    pictures[100:140] = pictures[30:70]
    index = _index_of_hashes({1: hashes}, {1: _cells_of(pictures)} if with_cells else None)
    seen = _flipped(rng, hashes[30:70], 4)
    cells = np.clip(pictures[30:70] + rng.normal(0, 8, (40, 8, 8)), 0, 255)
    fp = _query_of_hashes("excerpt.mp4", ("full", "mirror"), [seen, ~seen], np.stack([cells, cells[:, :, ::-1]]))
    found = index.match([fp])[0]
    assert [m.work_id for m in found] == ([1] if with_cells else [])
    if with_cells:
        assert found[0].evidence["background_margin"] < 6 and found[0].evidence["cells_correlation"] > 0.95


def test_where_a_copy_lies_is_said_in_minutes_and_seconds():
    """The clearance report's "where" for a video or audio match: the picture's line, else the soundtrack's;
    nothing for evidence without times."""
    visual = {"track": "visual", "offset_s": 59.0, "query_offset_s": 13.0, "duration_s": 14.0, "speed": 1.1}
    assert copy_span(visual) == "item 0:13–0:27 = work 0:59–1:14"
    sound = {"iscc": "x", "soundtrack": {"offset_s": 3725.4, "query_offset_s": 0.0, "overlap_s": 20.0}}
    assert copy_span(sound) == "item 0:00–0:20 = work 1:02:05–1:02:25"
    assert copy_span({"xxh3_128": "ab"}) is None and copy_span({"similarity": 0.9}) is None
