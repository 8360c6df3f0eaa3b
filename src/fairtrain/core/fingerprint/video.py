"""Video fingerprints: perceptual frame hashes on a fixed time grid aligned in time, plus the soundtrack's
audio fingerprint, plus an ISCC Video-Code per work.

Visual track. FFmpeg decodes only what is needed (``_video_tools``): frames on a 2-fps grid, 96×96 grey.
Letterbox/pillarbox bars (flat for the whole video) are cut; each grid frame is hashed with pHash-64 on
a 32×32 area-averaged thumbnail (the project's image hash, bit-identical to the ISCC Image-Code body).
The registry side also hashes centre and corner crops of every frame (:data:`REGISTRY_VARIANTS`); the
scan side hashes the whole picture, its mirror image, and every picture-in-picture inset it finds
(rectangles whose sides are edges that persist over the whole item).

Matching. Candidates: every usable query frame hash is looked up in a multi-index hash of all
registered frame hashes (Hamming radius :data:`HASH_RADIUS`). Alignment: per (query view, work variant)
the matching frame pairs vote in a Hough space of speed (0.90…1.10 in 1 % steps) × offset (0.5-s bins);
the best line is refitted on its inliers. Verification: along that line every query frame is compared
with the registered frame at the predicted time (±1 grid step, radius :data:`VERIFY_RADIUS`); accepted
where some :data:`MIN_OVERLAP_S` window has at least :data:`MIN_MATCHED_SHARE` of its frames matching, and
the matched frames are nearer the work than any of a fixed sample of unrelated registered frames by
:data:`BACKGROUND_MARGIN` bits on average, more on lines shorter than the window (a ratio test: low-detail
pictures agree by chance). A second reading checks each line: the whole picture's 8×8 grey cells per
registered frame (4 bits a cell), correlated with the query frames' cells over the same part of the picture;
a line below :data:`THUMB_MIN_CORR` is refused whatever its hashes say (stripes against a near-white frame
agree within 8 bits of pHash), and one at :data:`THUMB_SURE_CORR` or more, clear of the unrelated frames'
cells by :data:`THUMB_MARGIN`, passes without the ratio test (a dim inset the hashes see only faintly).
Inset views leave out a quarter of a grid pixel at each seam
(:data:`PIP_SHAVE_PX`). One region of the picture shows one footage at a time: of two works' lines claiming
the same query frames through the same region, the one nearer by :data:`DUPLICATE_BITS` stands (footage both
works hold is as near to both).
Evidence: where the copy starts in the work (``offset_s``) and in the item (``query_offset_s``), how long
it runs (``duration_s``), its ``speed`` and the ``view`` (full, mirror, pip) that matched.

Soundtrack. The audio path's fingerprint (Chromaprint items, speed variants, ISCC Audio-Code) with a lighter
speed-variant set and no high-pass variants; either track alone matches. Its PCM comes out of the same
FFmpeg process that decodes the picture, and Chromaprint runs in this process (items bit-identical to
fpcalc's on the file): per video one ffprobe and one ffmpeg, nothing else (an FFmpeg process start alone
is ≈ 0.08 s CPU here, a tenth of decoding 40 s of 720p).

Why pHash-64 per frame: it is the project's image hash (bit-identical to the ISCC Image-Code body), 8 bytes
a frame keeps three registry variants at 2 fps within ≈ 2.9 KB a minute (PDQ's 256 bits would be 4×; the
8×8 cells add 3.8 KB),
and batched over a stack of 32×32 thumbnails it costs ≈ 0.1 ms a frame against ≈ 1.2 ms for
``imagehash.phash`` on a 320×180 frame, i.e. nothing next to decoding. Its weakness, single frames of
smooth pictures that re-encoding moves by 15+ bits, is what the temporal verification absorbs: a match
needs half the frames of an 8-s window on one line, not any one frame.

Measured (``benchmarks/fingerprint_video.py --quick``: 12 works of 30–45 s at 720p, 60 distractors, 16
edit families): recall 1.00 on every family (baseline, per-frame imagehash pHash with a linear scan:
0.00–0.67 on crop, letterbox, picture-in-picture, overlay, mirror and picture-replaced), no false match
on 60 distractors (baseline: 2); registration 31× and query 45× real time per core at 720p; index
≈ 12 KB per minute (frames ≈ 3 KB, soundtrack ≈ 9 KB); offsets within ±2 s for 94.5 % of visual
matches (median error 0.11 s). Mid-size (issue 18: 20 works of 30–45 s, 160 edited queries; README
"Video at full size, on four draws"): the false matches a first run showed led to :data:`MIN_SPAN_S` and
:data:`AUDIO_MIN_VOTES`; repeated after them, recall 1.00 on every family, 0 false matches on 321
distractors (baseline 3), no query matched a wrong work. Registration 31.8× against main's 20.8× real time
per core in one run (``benchmarks/fingerprint_video_speed.py``). Full size (40 works of 1–1.5 min, 640
edited queries, 400 distractors; README "Video at full size, on four draws"): the false matches left there, flat
low-detail stretches of different works agreeing within 8–12 bits, led to the ratio test
(:data:`BACKGROUND_MARGIN`), and picture-in-picture misses to ``_video_frames._shape_prior``. A second draw
(seed 8) led to the seams' persistence in time, the quarter-pixel shave, one footage per region and the
short lines' larger margin; it still missed 3 of 40 insets whose pictures have almost no structure, and a
third draw (seed 9) one distractor of stripes: they led to the grey cells, after which the three draws and a fourth
(seed 10, used to set nothing) print every row at target (0 of 1,600 distractors, no wrong work; recall
0.950–1.000 per family) and the index holds 15.0 KB a minute (cells 3.8).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from . import FingerprintError, Match
from ._audio_tools import SAMPLE_RATE, as_file, chromaprint_pcm
from ._image_mih import MultiIndexHash, flat_range
from ._video_frames import (
    CELLS,
    Box,
    area,
    bar_box,
    cells_inside,
    hash_thumbs,
    intersection,
    pack_cells,
    pip_boxes,
    shot_starts,
    thumbs,
    unit_rows,
    unpack_cells,
    view_cells,
)
from ._video_tools import GRID_FPS, decode_grid, probe
from .audio import (
    AudioFingerprint,
    AudioIndex,
    AudioIndexBuilder,
    AudioRegistration,
    AudioVariant,
    _iscc_audio_code,
    _name,
    run_starts,
    works_table,
)
from .codec import register_type

__all__ = [
    "GRID_FPS",
    "HASH_RADIUS",
    "VERIFY_RADIUS",
    "MIN_OVERLAP_S",
    "BACKGROUND_MARGIN",
    "REGISTRY_VARIANTS",
    "VideoFingerprint",
    "VideoRegistration",
    "VideoIndexBuilder",
    "VideoIndex",
    "fingerprint_video",
    "register_video",
]

VideoSource = bytes | str | os.PathLike

HASH_RADIUS = 10  # candidate lookup
VERIFY_RADIUS = 14  # a frame on the aligned line counts as matching within this many bits
MIN_QUALITY = 10.0  # frames with less structure (black, fades, flat title cards) take no part
MIN_OVERLAP_S = 8.0  # a verified copy covers at least this much of the item
MIN_MATCHED_SHARE = 0.5  # of the usable frames in a window on the line
MIN_VOTES = 4  # distinct query frames on a Hough peak before it is verified
# The matched frames themselves must run this long, however few usable frames the 8-s window had: the
# mid-size benchmark (20 works, 400 distractors) showed wrong works verified on 4–8 matched frames over
# 2–4 s (a dark or hazy stretch of two different works) while true copies ran ≥ 6 s.
MIN_SPAN_S = 5.0
# offset votes behind a soundtrack match: a chance alignment of noise with a track reached a bit-error
# rate of 0.196 on a single vote (true copies: ≥ 29 votes, BER ≤ 0.08)
AUDIO_MIN_VOTES = 3
# ...and either a low bit-error rate or many votes. The full-size benchmark (40 works of 1–1.5 min, 400
# distractors) had brown-noise distractors matching a noise-like stretch of one work's soundtrack at BER
# 0.12–0.22 with 3–22 votes (22 distractors); the true soundtrack-only copies there and at mid-size (24)
# had BER 0.015–0.068 with 46–86 votes.
AUDIO_STRONG_BER = 0.10
AUDIO_STRONG_VOTES = 30
# The ratio test (Lowe's, for frames): along a verified line, each matched frame must be nearer the work's
# frame than any unrelated registered frame, by BACKGROUND_MARGIN bits on average. Low-detail pictures (a
# gradient with a bright edge, a dark swirl) agree with one another within 8–12 bits by chance, as near as an
# edited copy's frames come to its work: on the full-size benchmark (40 works, 400 distractors, 640 queries)
# the 14 false lines all stood within −3.8…+5.5 bits of an unrelated work's frames, while every copy found by
# its picture alone (picture-in-picture, picture only) stood ≥ 6.2 bits clear (median 11). Unrelated means
# another work's frame (frames within DUPLICATE_BITS of the work's own are footage both share) or, in a
# registry too small to have enough of those, the same work's frames BACKGROUND_APART_S away from the line.
BACKGROUND_MARGIN = 6.0
# ...over a whole MIN_OVERLAP_S window of matched frames. A mean over fewer frames is that much less sure
# (its spread grows as 1/√n), so a shorter line needs a margin larger in proportion: BACKGROUND_MARGIN ·
# √(window / n). The second full-size draw (seed 8) had two distractors match one work through the mirror
# view over 11 frames, 6.18 bits clear, where the copies found by their picture alone stood 7–15 bits clear
# over 24–30 frames (0 of 400 after, on both draws, with the same recall).
BACKGROUND_FRAMES = 16384  # registered frames sampled evenly as the unrelated background
BACKGROUND_MIN = 512  # fewer unrelated frames of other works than this: the same work's distant frames join
BACKGROUND_APART_S = 10.0
DUPLICATE_BITS = 4
# An inset's seams fall between grid pixels; the box's edge rows and columns are part host, and host pixels
# move the inset's hash far more than a sliver of the inset left out. On the benchmark's 90 inset queries
# (full size seeds 7 and 8, mid-size seed 8; first box, true alignment), mean distance to the work with the
# box grown by 0.5 px, as found, and shaved by 0.25, 0.5 and 0.75 px a side: 9.5, 5.0, 4.7, 4.7, 4.7 bits
# (margin over unrelated frames 7.5, 11.9, 12.1, 12.1, 12.0). A quarter pixel, the least change at the
# best mean: single copies of low-detail pictures move by 2 bits either way with a quarter pixel (one inset
# 6.9 bits from its work as found, 6.7 at 0.25, 8.6 at 0.5). One view, not a search over shaves, so chance
# agreement does not grow.
PIP_SHAVE_PX = 0.25
# Verification's second reading of each matched frame: the 8×8 grey cells' correlation with the work's frame
# (median over the line's frames; best of ±1 grid step). pHash-64 of a picture with little structure is near
# chance, these cells are not (full-size benchmark, three draws, every candidate line: true lines median
# 0.99, 5th percentile 0.90; distractor and wrong-work lines ≤ 0.85).
THUMB_MIN_CORR = 0.85  # a line below this is refused, whatever its hashes say
THUMB_SURE_CORR = 0.95  # a line at or above this, clear of the unrelated frames' cells by THUMB_MARGIN,
THUMB_MARGIN = 0.05  # passes without the hashes' ratio test (a dim inset the hashes see only faintly)
THUMB_BACKGROUND = 4096  # registered frames sampled evenly as the cells' unrelated background
SPEEDS = np.round(np.arange(0.90, 1.1001, 0.01), 2)
OFFSET_BIN_S = 0.5
MAX_CANDIDATES = 8  # lines verified per query
DEFAULT_TIMEOUT_S = 600.0
# The picture covers speed changes up to ±10 %; the soundtrack keeps two of the audio path's ten speed
# variants (±2 %), which keeps registration above 30× real time and the index under 20 KB a minute.
AUDIO_SPEEDS = (0.98, 1.02)
AUDIO_VARIANT_STEP = 4  # register_audio's default
# Chromaprint's items cover about 2.3 s less than the audio (frame and filter context), so a 10-s excerpt's
# soundtrack gives ≈ 7.7 s of items: the audio path's 10-s minimum would miss every short excerpt.
AUDIO_MIN_OVERLAP_S = 7.5

# (name, (left, top, right, bottom) fractions of the picture inside its bars)
REGISTRY_VARIANTS: tuple[tuple[str, tuple[float, float, float, float]], ...] = (
    ("full", (0.0, 0.0, 1.0, 1.0)),
    ("crop_c90", (0.05, 0.05, 0.95, 0.95)),
    ("crop_c80", (0.10, 0.10, 0.90, 0.90)),
)
# 2: soundtracks registered without the audio path's high-pass variants (see _soundtrack_registration);
# frame hashes, variants and the rest as in 1, so an index of format 1 still loads and matches the same.
# 3: each work's 8×8 grey cells per grid frame (video_cells.npy); an index of 1 or 2 loads and verifies by
# hashes alone, as does a work registered before them.
_FORMAT = "fairtrain.video-index/3"
_READABLE = ("fairtrain.video-index/1", "fairtrain.video-index/2", _FORMAT)


@dataclass(frozen=True, slots=True, eq=False)
class VideoFingerprint:
    """Scan-side fingerprint of one video item.

    ``hashes[v, i]`` is the pHash-64 of view ``views[v]`` at grid time i / GRID_FPS; ``usable`` marks the
    frames with enough structure; ``cells[v, k, i]`` are that frame's grey cells read as registry variant
    ``REGISTRY_VARIANTS[k]`` (:func:`._video_frames.view_cells`, flattened, the rest of the 64 zero; None:
    verification by hashes alone). ``audio`` is the soundtrack's fingerprint (None without one).
    """

    item: str
    exact: bytes
    duration: float
    views: tuple[str, ...]
    hashes: np.ndarray  # (V, N) uint64
    usable: np.ndarray  # (V, N) bool
    audio: AudioFingerprint | None = None
    cells: np.ndarray | None = None  # (V, K, N, 64) uint8

    @property
    def frames(self) -> int:
        return int(self.hashes.shape[1])


@dataclass(frozen=True, slots=True, eq=False)
class VideoRegistration:
    """Registry-side fingerprint of one work: per-variant grid hashes, the whole picture's 8×8 grey cells per
    grid frame (4 bits a cell, :func:`._video_frames.pack_cells`; None in registrations made before them),
    shot starts, the soundtrack's registration, the ISCC Video-Code and a small JPEG thumbnail strip (kept
    with the work, never in the match index)."""

    exact: bytes
    duration: float
    variants: tuple[str, ...]
    hashes: np.ndarray  # (K, N) uint64
    usable: np.ndarray  # (K, N) bool
    shots: np.ndarray  # grid positions where a shot starts
    audio: AudioRegistration | None = None
    iscc: str = ""
    strip: bytes = b""
    width: int = 0
    height: int = 0
    cells: np.ndarray | None = None  # (N, 32) uint8


def _digest(data: VideoSource, item: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        if not len(data):
            raise FingerprintError(item, "empty input (0 bytes)")
        return xxhash.xxh3_128_digest(bytes(data))
    h = xxhash.xxh3_128()
    try:
        with open(data, "rb") as f:
            size = 0
            while chunk := f.read(1 << 20):
                size += len(chunk)
                h.update(chunk)
    except OSError as exc:
        raise FingerprintError(item, f"cannot read file ({exc.strerror or exc})") from None
    if not size:
        raise FingerprintError(item, "empty input (0 bytes)")
    return h.digest()


def _view_hashes(
    frames: np.ndarray, box: Box, inner=(0.0, 0.0, 1.0, 1.0), mirror: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A view's frame hashes, which of them are usable, and its (N, 32, 32) thumbnails."""
    th = thumbs(frames, box, inner)
    if mirror:
        th = th[:, :, ::-1]
    h, q = hash_thumbs(th)
    return h, q >= MIN_QUALITY, th


def _view_cells(frames: np.ndarray, box: Box, inner=(0.0, 0.0, 1.0, 1.0)) -> np.ndarray:
    """(K, N, 64) uint8: a view's grey cells read as each registry variant (see VideoFingerprint.cells)."""
    out = np.zeros((len(REGISTRY_VARIANTS), len(frames), CELLS * CELLS), np.uint8)
    for k, c in enumerate(view_cells(frames, box, inner, [v for _, v in REGISTRY_VARIANTS])):
        c = np.clip(np.rint(c.reshape(len(frames), -1)), 0, 255)
        out[k, :, : c.shape[1]] = c
    return out


def _mirrored(cells: np.ndarray) -> np.ndarray:
    """The mirror image's cells (K, N, 64) from the view's own: the mirror image shows a variant as the view
    shows the mirrored variant, columns reversed (nothing to read from the frames again)."""
    out = np.zeros_like(cells)
    for k, m in enumerate(_MIRRORED_VARIANT):
        size = len(_CELLS_INSIDE[m][0]) * len(_CELLS_INSIDE[m][1])
        shown = cells[m, :, :size].reshape(cells.shape[1], len(_CELLS_INSIDE[m][0]), len(_CELLS_INSIDE[m][1]))
        out[k, :, :size] = shown[:, :, ::-1].reshape(cells.shape[1], size)
    return out


def fingerprint_video(
    data: VideoSource, item: str = "", *, timeout: float = DEFAULT_TIMEOUT_S, soundtrack: bool = True
) -> VideoFingerprint:
    """Scan-side fingerprint of one video (bytes or a path).

    FingerprintError names ``item`` for empty input, files without a video stream, undecodable and
    truncated files. A soundtrack that cannot be fingerprinted (silent, too short) is left out.
    """
    name = _name(data, item)
    exact = _digest(data, name)
    with as_file(data, name) as path:
        info = probe(path, name, timeout)
        decoded = decode_grid(path, name, info, timeout, soundtrack=soundtrack)
    frames = decoded.frames
    audio = _soundtrack(decoded.pcm, name, exact, timeout)
    box = bar_box(frames)
    views, hashes, usable = ["full", "mirror"], [], []
    for mirror in (False, True):
        h, u, _ = _view_hashes(frames, box, mirror=mirror)
        hashes.append(h)
        usable.append(u)
    full = _view_cells(frames, box)
    cells = [full, _mirrored(full)]
    for bx in pip_boxes(frames, box):
        across, down = PIP_SHAVE_PX / (bx[3] - bx[2]), PIP_SHAVE_PX / (bx[1] - bx[0])
        inner = (across, down, 1.0 - across, 1.0 - down)
        h, u, _ = _view_hashes(frames, bx, inner)
        views.append("pip:{}:{}:{}:{}".format(*bx))
        hashes.append(h)
        usable.append(u)
        cells.append(_view_cells(frames, bx, inner))
    return VideoFingerprint(
        item=name,
        exact=exact,
        duration=info.duration or len(frames) / GRID_FPS,
        views=tuple(views),
        hashes=np.stack(hashes),
        usable=np.stack(usable),
        audio=audio,
        cells=np.stack(cells),
    )


def _soundtrack(pcm: bytes | None, name: str, exact: bytes, timeout: float) -> AudioFingerprint | None:
    """The soundtrack's audio fingerprint from the PCM the picture's decode wrote: the same items as
    ``fingerprint_audio`` on the file (both are Chromaprint on FFmpeg's 11,025-Hz resampling). None
    without a soundtrack, or one too short to fingerprint: the picture alone identifies the work."""
    if not pcm:
        return None
    try:
        items = chromaprint_pcm(pcm, SAMPLE_RATE, name, timeout)
    except FingerprintError:
        return None
    return AudioFingerprint(item=name, exact=exact, duration=round(len(pcm) / 2 / SAMPLE_RATE, 2), items=items)


def _soundtrack_registration(
    fp: AudioFingerprint | None, pcm: bytes | None, name: str, timeout: float
) -> AudioRegistration | None:
    """What ``register_audio(file, speeds=AUDIO_SPEEDS, highpass=())`` stores, from the PCM already
    decoded, but for the speed variants' resampling (Chromaprint's own, not fpcalc's swresample: the same
    items but for a few bits in 10⁴ on some material, :func:`chromaprint_pcm`): the raw fingerprint, one variant per speed in :data:`AUDIO_SPEEDS` (every
    ``AUDIO_VARIANT_STEP``-th item) and the ISCC Audio-Code. No high-pass variants (the audio path's
    defence against a copy with its bass cut, which no video edit family is; they cost 0.2 s CPU per
    40 s of video and ≈ 40 % of the soundtrack's index)."""
    if fp is None or pcm is None:
        return None
    variants = []
    for speed in AUDIO_SPEEDS:
        try:
            items = chromaprint_pcm(pcm, round(SAMPLE_RATE * speed), name, timeout)
        except FingerprintError:
            continue  # a very short work can lose its last items when sped up
        variants.append(AudioVariant(speed=speed, step=AUDIO_VARIANT_STEP, items=items[::AUDIO_VARIANT_STEP].copy()))
    return AudioRegistration(fingerprint=fp, variants=tuple(variants), iscc=_iscc_audio_code(fp.items))


def register_video(data: VideoSource, item: str = "", *, timeout: float = DEFAULT_TIMEOUT_S) -> VideoRegistration:
    """Registry-side fingerprint of one work: grid hashes of every variant in :data:`REGISTRY_VARIANTS`,
    the soundtrack's registration (speed variants :data:`AUDIO_SPEEDS`), the ISCC Video-Code from MPEG-7
    frame signatures (iscc-core), and a thumbnail strip, all from one decode."""
    import iscc_core

    name = _name(data, item)
    exact = _digest(data, name)
    with as_file(data, name) as path:
        info = probe(path, name, timeout)
        decoded = decode_grid(path, name, info, timeout, registry=True, soundtrack=True)
    audio = _soundtrack_registration(_soundtrack(decoded.pcm, name, exact, timeout), decoded.pcm, name, timeout)
    frames, sigs = decoded.frames, decoded.signatures
    box = bar_box(frames)
    hashes, usable, cells = [], [], None
    for name, inner in REGISTRY_VARIANTS:
        h, u, th = _view_hashes(frames, box, inner)
        hashes.append(h)
        usable.append(u)
        if name == "full":
            cells = pack_cells(th)
    iscc = iscc_core.gen_video_code_v0(sigs)["iscc"] if sigs else ""
    return VideoRegistration(
        exact=exact,
        duration=info.duration or len(frames) / GRID_FPS,
        variants=tuple(v for v, _ in REGISTRY_VARIANTS),
        hashes=np.stack(hashes),
        usable=np.stack(usable),
        shots=shot_starts(frames, box),
        audio=audio,
        iscc=iscc,
        strip=decoded.strip,
        width=info.width,
        height=info.height,
        cells=cells,
    )


# --- index -------------------------------------------------------------------------------------------


class VideoIndexBuilder:
    """Collects registrations; :meth:`build` makes one :class:`VideoIndex` (the thumbnail strips stay out)."""

    def __init__(self) -> None:
        self._work_ids: list[int] = []
        self._durations: list[float] = []
        self._isccs: list[str] = []
        self._exact: list[bytes] = []
        self._segments: list[tuple[int, int, np.ndarray, np.ndarray]] = []  # (work pos, variant, hashes, usable)
        self._variants: list[str] = []
        self._cells: list[np.ndarray] = []
        self._audio = AudioIndexBuilder()

    def add(self, work_id: int, reg: VideoRegistration) -> None:
        work_id = int(work_id)
        if work_id in self._work_ids:
            raise ValueError(f"work {work_id} added twice")
        pos = len(self._work_ids)
        self._work_ids.append(work_id)
        self._durations.append(float(reg.duration))
        self._isccs.append(reg.iscc)
        self._exact.append(reg.exact)
        self._cells.append(np.zeros((0, 32), np.uint8) if reg.cells is None else np.asarray(reg.cells, np.uint8))
        for k, variant in enumerate(reg.variants):
            if variant not in self._variants:
                self._variants.append(variant)
            self._segments.append(
                (
                    pos,
                    self._variants.index(variant),
                    np.asarray(reg.hashes[k], np.uint64),
                    np.asarray(reg.usable[k], bool),
                )
            )
        if reg.audio is not None:
            self._audio.add(work_id, reg.audio)

    def __len__(self) -> int:
        return len(self._work_ids)

    def build(self) -> VideoIndex:
        starts = run_starts([len(s[2]) for s in self._segments])
        cat = lambda i, dt: (
            np.concatenate([s[i] for s in self._segments]).astype(dt) if self._segments else np.zeros(0, dt)
        )
        return VideoIndex(
            work_ids=np.array(self._work_ids, np.int64),
            durations=np.array(self._durations, np.float64),
            isccs=list(self._isccs),
            exact=np.frombuffer(b"".join(self._exact), np.uint8).reshape(-1, 16),
            variants=list(self._variants),
            seg_work=np.array([s[0] for s in self._segments], np.int64),
            seg_variant=np.array([s[1] for s in self._segments], np.int64),
            seg_start=starts,
            hashes=cat(2, np.uint64),
            usable=cat(3, bool),
            audio=self._audio.build() if len(self._audio) else None,
            cells=np.concatenate(self._cells) if self._cells else np.zeros((0, 32), np.uint8),
            cells_start=run_starts([len(c) for c in self._cells]),
        )


@dataclass(eq=False)
class VideoIndex:
    """Registered videos as flat arrays: every variant's grid hashes, segment after segment (a segment is
    one work in one variant; frame i of a segment shows time i / GRID_FPS), the whole picture's packed 8×8
    grey cells per grid frame, work after work (``cells[cells_start[w] + i]``; none for a work registered
    before them, or in an index of format 1 or 2), and the soundtrack index."""

    work_ids: np.ndarray
    durations: np.ndarray
    isccs: list[str]
    exact: np.ndarray
    variants: list[str]
    seg_work: np.ndarray
    seg_variant: np.ndarray
    seg_start: np.ndarray
    hashes: np.ndarray
    usable: np.ndarray
    audio: AudioIndex | None = None
    cells: np.ndarray | None = None
    cells_start: np.ndarray | None = None
    _mih: object = field(default=None, repr=False)
    _rows: np.ndarray = field(default=None, repr=False)  # type: ignore[assignment]
    _exact: dict = field(default=None, repr=False)  # type: ignore[assignment]
    # the ratio test's background: (hashes, work position, frame index within its segment) of the sample
    _background: tuple = field(default=None, repr=False)  # type: ignore[assignment]
    # the cells' background: (cells (M, 8, 8), work position)
    _cell_background: tuple = field(default=None, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        self._rows = np.flatnonzero(self.usable)
        codes = self.hashes[self._rows]
        self._mih = MultiIndexHash(codes, 4) if len(codes) >= 1 << 14 else codes
        self._exact = {bytes(row): i for i, row in enumerate(self.exact)}
        pick = self._rows[np.unique(np.linspace(0, len(self._rows) - 1, BACKGROUND_FRAMES).astype(np.int64))]
        pick = pick if len(self._rows) else np.zeros(0, np.int64)
        seg = np.searchsorted(self.seg_start, pick, side="right") - 1
        self._background = (self.hashes[pick], self.seg_work[seg], pick - self.seg_start[seg])
        if self.cells is None or self.cells_start is None:
            self.cells = np.zeros((0, 32), np.uint8)
            self.cells_start = np.zeros(len(self.work_ids) + 1, np.int64)
        rows = np.unique(np.linspace(0, len(self.cells) - 1, THUMB_BACKGROUND).astype(np.int64))
        rows = rows if len(self.cells) else np.zeros(0, np.int64)
        work = np.searchsorted(self.cells_start, rows, side="right") - 1
        self._cell_background = (unpack_cells(self.cells[rows]), work)

    def __len__(self) -> int:
        return len(self.work_ids)

    # --- storage ---

    def save(self, directory: str | os.PathLike) -> list[Path]:
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        works = works_table(self.work_ids, self.durations, self.isccs, self.exact)
        segments = pa.table(
            {
                "work_position": pa.array(self.seg_work, pa.int64()),
                "variant": pa.array([self.variants[v] for v in self.seg_variant], pa.string()),
                "length": pa.array(np.diff(self.seg_start), pa.int64()),
            }
        )
        written = [
            out / "video_works.parquet",
            out / "video_segments.parquet",
            out / "video_hashes.npy",
            out / "video_usable.npy",
        ]
        pq.write_table(works, written[0])
        pq.write_table(segments, written[1])
        np.save(written[2], self.hashes, allow_pickle=False)
        np.save(written[3], np.packbits(self.usable), allow_pickle=False)
        written += [out / "video_cells.npy", out / "video_cells_lengths.npy"]
        np.save(written[4], self.cells, allow_pickle=False)
        np.save(written[5], np.diff(self.cells_start), allow_pickle=False)
        if self.audio is not None:
            written += self.audio.save(out / "soundtrack")
        meta = out / "video_index.json"
        meta.write_text(
            json.dumps(
                {
                    "format": _FORMAT,
                    "works": len(self),
                    "frames": int(len(self.hashes)),
                    "grid_fps": GRID_FPS,
                    "soundtrack": self.audio is not None,
                },
                indent=2,
            )
        )
        written.append(meta)
        return written

    @classmethod
    def load(cls, directory: str | os.PathLike) -> VideoIndex:
        src = Path(directory)
        meta = json.loads((src / "video_index.json").read_text())
        found = meta.get("format")
        if found not in _READABLE or meta.get("grid_fps") != GRID_FPS:
            newer = isinstance(found, str) and found.startswith("fairtrain.video-index/")
            raise ValueError(
                f"{src}: not a {_FORMAT} index (found {found!r}"
                + (", written by a newer fairtrain: update fairtrain to read it" if newer else "")
                + f"; this version reads {', '.join(_READABLE)} at {GRID_FPS} frames a second)"
            )
        works = pq.ParquetFile(src / "video_works.parquet").read()
        segments = pq.ParquetFile(src / "video_segments.parquet").read()
        hashes = np.load(src / "video_hashes.npy", allow_pickle=False)
        usable = np.unpackbits(np.load(src / "video_usable.npy", allow_pickle=False))[: len(hashes)].astype(bool)
        starts = run_starts(segments.column("length").to_numpy())
        if starts[-1] != len(hashes) or meta.get("frames") != len(hashes):
            raise ValueError(f"{src}: video index files do not agree with each other")
        names = segments.column("variant").to_pylist()
        variants = list(dict.fromkeys(names))
        cells = cells_start = None
        if (src / "video_cells.npy").exists():
            cells = np.load(src / "video_cells.npy", allow_pickle=False)
            cells_start = run_starts(np.load(src / "video_cells_lengths.npy", allow_pickle=False))
            if cells_start[-1] != len(cells) or len(cells_start) != works.num_rows + 1:
                raise ValueError(f"{src}: video index files do not agree with each other")
        return cls(
            work_ids=works.column("work_id").to_numpy().astype(np.int64),
            durations=works.column("duration").to_numpy().astype(np.float64),
            isccs=[s or "" for s in works.column("iscc").to_pylist()],
            exact=np.frombuffer(b"".join(works.column("xxh3_128").to_pylist()), np.uint8).reshape(-1, 16),
            variants=variants,
            seg_work=segments.column("work_position").to_numpy().astype(np.int64),
            seg_variant=np.array([variants.index(n) for n in names], np.int64),
            seg_start=starts,
            hashes=hashes,
            usable=usable,
            audio=AudioIndex.load(src / "soundtrack") if meta.get("soundtrack") else None,
            cells=cells,
            cells_start=cells_start,
        )

    # --- matching ---

    def _range(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if isinstance(self._mih, MultiIndexHash):
            q, c = self._mih.range(queries, HASH_RADIUS)
        else:
            q, c = flat_range(queries, self._mih, HASH_RADIUS)
        return q, self._rows[c]

    def match(self, fps: Sequence[VideoFingerprint]) -> list[list[Match]]:
        """Registered works recognised in each item, best first; either track alone is enough."""
        results: list[dict[int, Match]] = [{} for _ in fps]
        pending = []
        for qi, fp in enumerate(fps):
            w = self._exact.get(fp.exact)
            if w is not None:
                wid = int(self.work_ids[w])
                results[qi][wid] = Match(
                    work_id=wid, score=1.0, stage="exact", evidence={"xxh3_128": fp.exact.hex(), "iscc": self.isccs[w]}
                )
            else:
                pending.append(qi)
        if pending and len(self._rows):
            self._match_visual(fps, pending, results)
        audio_q = [qi for qi in pending if fps[qi].audio is not None]
        if audio_q and self.audio is not None:
            for qi, found in zip(
                audio_q,
                self.audio.match([fps[qi].audio for qi in audio_q], min_overlap_s=AUDIO_MIN_OVERLAP_S),
                strict=True,
            ):
                for m in found:
                    votes = int(m.evidence.get("votes", AUDIO_MIN_VOTES))
                    if m.stage == "exact" or votes < AUDIO_MIN_VOTES:
                        continue
                    if float(m.evidence.get("ber", 0.0)) > AUDIO_STRONG_BER and votes < AUDIO_STRONG_VOTES:
                        continue
                    ev = {"track": "soundtrack", **{k: v for k, v in m.evidence.items() if k != "iscc"}}
                    prev = results[qi].get(m.work_id)
                    if prev is None:
                        w = int(np.flatnonzero(self.work_ids == m.work_id)[0])
                        results[qi][m.work_id] = Match(
                            m.work_id, m.score, "verified", {"iscc": self.isccs[w], "soundtrack": ev}
                        )
                    elif prev.stage == "verified":
                        results[qi][m.work_id] = Match(
                            m.work_id, max(prev.score, m.score), "verified", {**prev.evidence, "soundtrack": ev}
                        )
        return [sorted(r.values(), key=lambda m: (-m.score, m.work_id)) for r in results]

    def _match_visual(
        self, fps: Sequence[VideoFingerprint], pending: list[int], results: list[dict[int, Match]]
    ) -> None:
        qh, qid, qview, qframe = [], [], [], []
        for qi in pending:
            fp = fps[qi]
            v, i = np.nonzero(fp.usable)
            qh.append(fp.hashes[v, i])
            qid.append(np.full(len(v), qi, np.int64))
            qview.append(v.astype(np.int64))
            qframe.append(i.astype(np.int64))
        hashes = np.concatenate(qh)
        if not len(hashes):
            return
        qid_a, qview_a, qframe_a = np.concatenate(qid), np.concatenate(qview), np.concatenate(qframe)
        pq_, pc = self._range(hashes)
        if not len(pq_):
            return
        seg = np.searchsorted(self.seg_start, pc, side="right") - 1
        rframe = pc - self.seg_start[seg]
        gq, gv, gs = qid_a[pq_], qview_a[pq_], seg
        tq = qframe_a[pq_]
        dist = np.bitwise_count(hashes[pq_] ^ self.hashes[pc])
        order = np.lexsort((tq, gs, gv, gq))
        gq, gv, gs, tq, rframe, dist = gq[order], gv[order], gs[order], tq[order], rframe[order], dist[order]
        new = np.ones(len(gq), bool)
        new[1:] = (gq[1:] != gq[:-1]) | (gv[1:] != gv[:-1]) | (gs[1:] != gs[:-1])
        bounds = np.append(np.flatnonzero(new), len(gq))
        cands: dict[int, list[tuple[int, int, int, float, float]]] = {}
        for a, b in zip(bounds[:-1], bounds[1:]):
            if len(np.unique(tq[a:b])) < MIN_VOTES:
                continue
            line = _hough(tq[a:b] / GRID_FPS, rframe[a:b] / GRID_FPS, dist[a:b])
            if line is None:
                continue
            votes, speed, offset = line
            cands.setdefault(int(gq[a]), []).append((votes, int(gv[a]), int(gs[a]), speed, offset))
        for qi, lst in cands.items():
            lst.sort(key=lambda c: -c[0])
            lines = [
                self._verify(fps[qi], view, s, speed, offset, votes)
                for votes, view, s, speed, offset in lst[:MAX_CANDIDATES]
            ]
            for m in _one_footage_per_region(fps[qi].views, [ln for ln in lines if ln is not None]):
                prev = results[qi].get(m.work_id)
                if prev is None or (prev.stage != "exact" and m.score > prev.score):
                    results[qi][m.work_id] = m

    def _verify(
        self, fp: VideoFingerprint, view: int, seg: int, speed: float, offset: float, votes: int
    ) -> _Line | None:
        a, b = int(self.seg_start[seg]), int(self.seg_start[seg + 1])
        reg, reg_ok = self.hashes[a:b], self.usable[a:b]
        q, q_ok = fp.hashes[view], fp.usable[view]
        n = len(q)
        pos = (speed * (np.arange(n) / GRID_FPS) + offset) * GRID_FPS
        idx = np.rint(pos).astype(np.int64)
        inside = (idx >= 0) & (idx < len(reg)) & q_ok
        best = np.full(n, 64, np.int64)
        for d in (-1, 0, 1):
            j = np.clip(idx + d, 0, len(reg) - 1)
            dist = np.bitwise_count(reg[j] ^ q).astype(np.int64)
            dist[~reg_ok[j]] = 64
            best = np.minimum(best, dist)
        matched = inside & (best <= VERIFY_RADIUS)
        window = int(MIN_OVERLAP_S * GRID_FPS)
        if n < window:
            return None
        csum_m = np.concatenate(([0], np.cumsum(matched)))
        csum_u = np.concatenate(([0], np.cumsum(inside)))
        m_w = csum_m[window:] - csum_m[:-window]
        u_w = csum_u[window:] - csum_u[:-window]
        good = (u_w >= window // 2) & (m_w >= MIN_MATCHED_SHARE * u_w) & (m_w >= MIN_MATCHED_SHARE * window)
        if not good.any():
            return None
        cover = np.zeros(n + 1, np.int64)
        np.add.at(cover, np.flatnonzero(good), 1)
        np.add.at(cover, np.flatnonzero(good) + window, -1)
        region = np.cumsum(cover[:-1]) > 0
        hit = np.flatnonzero(region & matched)
        first, last = int(hit[0]), int(hit[-1])
        if (last - first + 1) / GRID_FPS < MIN_SPAN_S:
            return None
        share = float(matched[first : last + 1].sum()) / max(1, int(inside[first : last + 1].sum()))
        mean_dist = float(best[hit].mean())
        work = int(self.seg_work[seg])
        view_name = fp.views[view]
        at = np.clip(idx[hit], 0, len(reg) - 1)
        margin = self._background_margin(q[hit], best[hit], reg[at], work, at)
        passed = margin >= _margin_needed(len(hit))
        cells = self._cell_agreement(fp, view, seg, work, idx[hit], hit, with_margin=not passed)
        if cells is not None:
            if cells[0] < THUMB_MIN_CORR:
                return None
            passed = passed or (cells[0] >= THUMB_SURE_CORR and cells[1] >= THUMB_MARGIN)
        if not passed:
            return None
        match = Match(
            work_id=int(self.work_ids[work]),
            score=round(share * (1.0 - mean_dist / 64.0), 6),
            stage="verified",
            evidence={
                "track": "visual",
                "offset_s": round(max(0.0, float(speed * first / GRID_FPS + offset)), 2),
                "query_offset_s": round(first / GRID_FPS, 2),
                "duration_s": round((last - first + 1) / GRID_FPS, 2),
                "speed": round(float(speed), 4),
                "view": view_name.split(":")[0],
                "variant": self.variants[int(self.seg_variant[seg])],
                "matched_frames": int(len(hit)),
                "share": round(share, 3),
                "mean_distance": round(mean_dist, 2),
                "background_margin": round(margin, 2),
                **({} if cells is None else {"cells_correlation": round(cells[0], 3)}),
                "votes": votes,
                "iscc": self.isccs[work],
            },
        )
        return _Line(match, view, hit, best[hit])

    def _cell_agreement(
        self,
        fp: VideoFingerprint,
        view: int,
        seg: int,
        work: int,
        pos: np.ndarray,
        frames: np.ndarray,
        with_margin: bool,
    ) -> tuple[float, float] | None:
        """How well the 8×8 grey cells of the query frames ``frames`` (of view ``view``, aligned with grid
        positions ``pos`` of the work at position ``work``, registered variant of segment ``seg``) agree with
        the work's: the median over the frames of the correlation with the work's frame (best of ±1 grid
        step), and, ``with_margin``, the median of how much that exceeds the best correlation with an unrelated
        registered frame (NaN without). None where either side has no cells (a registration or an index made
        before them, a variant whose picture is not known)."""
        a, b = int(self.cells_start[work]), int(self.cells_start[work + 1])
        k = _VARIANT_NUMBER.get(self.variants[int(self.seg_variant[seg])])
        if fp.cells is None or a == b or k is None:
            return None
        ri, ci = _CELLS_INSIDE[k]
        if len(frames) > 256:  # as the ratio test: an even sample of a long copy's frames says as much
            keep = np.unique(np.linspace(0, len(frames) - 1, 256).astype(np.int64))
            frames, pos = frames[keep], pos[keep]
        q = unit_rows(fp.cells[view, k, frames, : len(ri) * len(ci)].astype(np.float32))
        best = np.full(len(frames), -1.0, np.float32)
        for d in (-1, 0, 1):
            own = unpack_cells(self.cells[a + np.clip(pos + d, 0, b - a - 1)])[:, ri][:, :, ci]
            best = np.maximum(best, (q * unit_rows(own.reshape(len(frames), -1))).sum(axis=1))
        corr = float(np.median(best))
        if not with_margin:
            return corr, float("nan")
        # Other works' frames only, however few: unlike the hashes of low-detail pictures, cells do not agree by
        # chance, so the work's own footage seen again elsewhere in it (a recap, a photograph shown twice) is
        # no evidence against it; with no other work registered there is nothing to mistake it for.
        bg, bg_work = self._cell_background
        other = bg[bg_work != work]
        if not len(other):
            return corr, float("inf")
        near = q @ unit_rows(other[:, ri][:, :, ci].reshape(len(other), -1)).T
        return corr, float(np.median(best - near.max(axis=1)))

    def _background_margin(self, q: np.ndarray, dist: np.ndarray, own: np.ndarray, work: int, at: np.ndarray) -> float:
        """Mean over the matched frames (``q``, at ``dist`` bits from the work's frames ``own``, which stand at
        grid positions ``at`` of work position ``work``) of how much nearer the work's frame is than the nearest
        unrelated registered frame."""
        if len(q) > 256:  # a long copy: an even sample of its frames says as much
            keep = np.unique(np.linspace(0, len(q) - 1, 256).astype(np.int64))
            q, dist, own, at = q[keep], dist[keep], own[keep], at[keep]
        codes, bg_work, bg_frame = self._background
        if not len(codes):
            return float("inf")
        mine = bg_work == work
        other = codes[~mine]
        # bit counts stay uint8 (a 256 × 16,384 block is 4 MB so, 32 as int64)
        near = np.bitwise_count(q[:, None] ^ other[None, :])
        # footage the work shares with another registered work is no evidence against it
        near[np.bitwise_count(own[:, None] ^ other[None, :]) <= DUPLICATE_BITS] = 64
        nearest = near.min(axis=1, initial=64).astype(np.int64)
        if len(other) < BACKGROUND_MIN:
            own_near = np.bitwise_count(q[:, None] ^ codes[mine][None, :])
            own_near[np.abs(bg_frame[mine][None, :] - at[:, None]) <= BACKGROUND_APART_S * GRID_FPS] = 64
            nearest = np.minimum(nearest, own_near.min(axis=1, initial=64))
        return float((nearest - dist).mean())


_VARIANT_NUMBER = {name: k for k, (name, _) in enumerate(REGISTRY_VARIANTS)}
# per registry variant: the variant that is its mirror image (the centre crops are their own)
_MIRRORED_VARIANT = [
    next(j for j, (_, w) in enumerate(REGISTRY_VARIANTS) if np.allclose(w, (1.0 - right, top, 1.0 - left, bottom)))
    for _, (left, top, right, bottom) in REGISTRY_VARIANTS
]
# per registry variant: the whole picture's cell rows and columns inside it
_CELLS_INSIDE = [
    (cells_inside(top, bottom), cells_inside(left, right)) for _, (left, top, right, bottom) in REGISTRY_VARIANTS
]


def _margin_needed(frames: int) -> float:
    """The ratio test's threshold for a line of ``frames`` matched frames: BACKGROUND_MARGIN over a whole
    MIN_OVERLAP_S window or more, more for fewer frames as the mean's standard error grows."""
    window = MIN_OVERLAP_S * GRID_FPS
    return BACKGROUND_MARGIN * max(1.0, float(np.sqrt(window / max(1, frames))))


@dataclass(frozen=True, slots=True, eq=False)
class _Line:
    """A verified alignment: its match, the query view it was found in, the query grid frames that matched
    along it and their distances to the work's frames."""

    match: Match
    view: int
    frames: np.ndarray
    dist: np.ndarray


def _region(view: str) -> Box | None:
    """The picture region a view shows, as (top, bottom, left, right) on the grid frame; None for the whole
    frame (the full view and its mirror image are two readings of one region)."""
    if not view.startswith("pip:"):
        return None
    t, b, left, r = (int(v) for v in view.split(":")[1:5])
    return t, b, left, r


def _same_region(a: str, b: str) -> bool:
    """Two views read the same picture region: both the whole frame, or two inset boxes of which the
    smaller lies at least half inside the larger (alternative guesses at one inset's seams). An inset and
    the whole frame are different regions: a registered programme can show another registered work as its
    inset, and both are copies."""
    ra, rb = _region(a), _region(b)
    if ra is None or rb is None:
        return ra is None and rb is None
    return intersection(ra, rb) >= 0.5 * min(area(ra), area(rb))


def _one_footage_per_region(views: Sequence[str], lines: list[_Line]) -> list[Match]:
    """The verified lines' matches, less those contradicted by a better line: one region of the picture
    shows one footage at a time, so where lines of two different works claim the same query frames through
    the same region, and one work's frames are nearer on those frames by DUPLICATE_BITS on average, the
    other line is chance agreement (low-detail pictures of two works within 8–12 bits). Footage both works
    share stays with both: their frames are equally near."""
    order = sorted(lines, key=lambda ln: (-len(ln.frames), float(ln.dist.mean())))
    kept: list[_Line] = []
    for ln in order:
        beaten = False
        for other in kept:
            if other.match.work_id == ln.match.work_id or not _same_region(views[ln.view], views[other.view]):
                continue
            common, mine, theirs = np.intersect1d(ln.frames, other.frames, assume_unique=True, return_indices=True)
            if len(common) * 2 < len(ln.frames):
                continue
            if float(ln.dist[mine].mean() - other.dist[theirs].mean()) >= DUPLICATE_BITS:
                beaten = True
                break
        if not beaten:
            kept.append(ln)
    return [ln.match for ln in kept]


def _hough(tq: np.ndarray, tr: np.ndarray, dist: np.ndarray) -> tuple[int, float, float] | None:
    """The line tr = speed·tq + offset best supported by the frame pairs: (votes, speed, offset).

    Each query frame supports a (speed, offset bin ± 1) cell once, with its closest pair's weight
    (HASH_RADIUS + 1 − distance)²: a still shot matches a whole run of registered frames at many speeds,
    and only the closest pairs (the true alignment) should decide. The line is then refitted on the
    closest pair of each query frame near it.
    """
    frames = np.rint(tq * GRID_FPS).astype(np.int64)
    weight = (HASH_RADIUS + 1 - dist.astype(np.int64)) ** 2
    bins = np.rint((tr[None, :] - SPEEDS[:, None] * tq[None, :]) / OFFSET_BIN_S).astype(np.int64)
    lo = int(bins.min()) - 1
    width = int(bins.max()) - lo + 2
    nf = int(frames.max()) + 1
    ns = len(SPEEDS)
    cells = np.concatenate([(np.arange(ns)[:, None] * width + (bins + d - lo)).ravel() for d in (-1, 0, 1)])
    w = np.tile(np.broadcast_to(weight, bins.shape).ravel(), 3)
    key = cells * nf + np.tile(np.broadcast_to(frames, bins.shape).ravel(), 3)
    order = np.lexsort((-w, key))
    key, w = key[order], w[order]
    first = np.ones(len(key), bool)
    first[1:] = key[1:] != key[:-1]
    cell = key[first] // nf
    score = np.bincount(cell, weights=w[first], minlength=ns * width).reshape(ns, width)
    votes = np.bincount(cell, minlength=ns * width).reshape(ns, width)
    # The ±1-bin tolerance lets neighbouring speeds tie over a short item; the pairs in the exact bin
    # break the tie (a slope that fits the cuts exactly), then the speed nearest 1.0 (a still shot fits all).
    exact = np.zeros(ns * width)
    centre = np.arange(ns)[:, None] * width + (bins - lo)
    ck = np.unique(centre.ravel() * nf + np.broadcast_to(frames, bins.shape).ravel())
    np.add.at(exact, ck // nf, 1.0)
    rank = score + 0.5 * exact.reshape(ns, width) * (HASH_RADIUS + 1) ** 2 / 4 - np.abs(SPEEDS - 1.0)[:, None]
    si, bi = np.unravel_index(int(np.argmax(rank)), rank.shape)
    if votes[si, bi] < MIN_VOTES:
        return None
    speed = float(SPEEDS[si])
    offset = (bi + lo) * OFFSET_BIN_S
    near = np.abs(tr - (speed * tq + offset)) <= 1.5 * OFFSET_BIN_S
    if near.sum() >= 3:
        idx = np.flatnonzero(near)
        idx = idx[np.lexsort((dist[idx], frames[idx]))]
        keep = np.ones(len(idx), bool)
        keep[1:] = frames[idx][1:] != frames[idx][:-1]
        idx = idx[keep]
        if len(idx) >= 3 and np.ptp(tq[idx]) >= 4.0:
            s, o = np.polyfit(tq[idx], tr[idx], 1)
            if abs(s - speed) <= 0.01:
                speed, offset = float(s), float(o)
    return int(votes[si, bi]), speed, offset


for _cls in (VideoFingerprint, VideoRegistration):
    register_type(_cls)
