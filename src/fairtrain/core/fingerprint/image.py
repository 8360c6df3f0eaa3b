"""Image fingerprints and their match index.

Pipeline (reference/fingerprinting.md §7.1–7.2):

1. **exact**: xxh3-128 of the raw bytes, looked up in a sorted array of registered hashes;
2. **candidate**: pHash-64 (bit-identical to the ISCC Image-Code body) and dHash-64 of a 32×32 grey
   thumbnail (JPEG draft decoding, EXIF transpose, tolerant border trim); a candidate is any registered
   variant within :data:`PHASH_RADIUS` bits on one hash and :data:`OTHER_HASH_MAX` on the other.
   Crops, flips, quarter turns, small tilts (±3/6/9°) and halves are covered by hashing augmented
   variants on the registry side; a figure on a plain ground (a portrait or clip art on white) also by
   variants of its own box (:func:`~._image_hash.figure_box`), upright and tilted over its ground. The scan side adds *views* of each query (issue 16): its four halves
   (an overlay — caption bar, logo, sticker — spares at least one), boxes bounded by straight steps
   (:func:`~._image_hash.find_windows`: the work inside a screenshot, a post frame, a collage, a blurred
   pillarbox), blocks a layout separates with flat bands (:func:`~._image_hash.flat_cut_segments`),
   and for a copy tilted inside its frame, its straightened centre. A block under 64 px across in the
   1/8-scale decode (a small phone screenshot) is looked for again in a decode twice as fine: only
   pictures with such a block pay for the second decode. Every view is one more code pair in the same
   range search; a candidate is verified against the view that found it;
3. **verified**: normalised cross-correlation of the detail layers (thumbnail minus its blur) of the
   query and of the matched variant rebuilt from the registered 64×64 thumbnail, searched over small
   shifts and scales. One view shows one picture: of the works verified through a view, those
   :data:`VIEW_RIVAL_MARGIN` or more below the best there are look-alikes and are dropped (a work
   survives through any view where it holds its own).

Near-flat images (low :func:`quality`) carry no usable structure: their hashes are noise and would
collide with every other flat image. They are matched by the exact stage only, on both sides.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import iscc_core
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash
from PIL import Image, ImageFilter

from fairtrain.core.fingerprint import FingerprintError, Match
from fairtrain.core.fingerprint._image_hash import (
    MAX_PIXELS,
    THUMB,
    VERIFY_THUMB,
    decode_grey,
    dhash64,
    edge_concentrations,
    figure_box,
    filled_corners_angle,
    find_windows,
    flat_cut_segments,
    inscribed_scale,
    ncc,
    phash64,
    qualities,
    quality,
    rotated_view,
    thumbnail,
    trim_borders,
)
from fairtrain.core.fingerprint._image_mih import MultiIndexHash, flat_range
from fairtrain.core.fingerprint.codec import register_type

__all__ = [
    "DHASH_RADIUS",
    "MAX_PIXELS",
    "MIN_QUALITY",
    "OTHER_HASH_MAX",
    "PHASH_RADIUS",
    "VARIANTS",
    "VERIFY_MIN_DETAIL_NCC",
    "VERIFY_MIN_NCC",
    "VIEW_RIVAL_MARGIN",
    "ImageFingerprint",
    "ImageIndex",
    "ImageIndexBuilder",
    "RegisteredImage",
    "fingerprint_image",
    "fingerprint_images",
    "register_image",
]

# Candidate rule: one hash within its radius AND the other within OTHER_HASH_MAX. Measured on the
# benchmark corpus (873 edited copies, 405 k unrelated query×variant pairs): "pHash ≤ 8 or dHash ≤ 8"
# recalls 0.974 of the copies but passes 3.8e-3 of unrelated pairs (dHash on smooth images); "≤ 10
# with the other ≤ 16" recalls 0.978 and passes 2.5e-6, so verification runs almost only on copies.
PHASH_RADIUS = 10
DHASH_RADIUS = 10
OTHER_HASH_MAX = 16
MIN_QUALITY = 10.0  # below: near-flat, exact stage only (calibrated in benchmarks/fingerprint_image.py)
VERIFY_MIN_NCC = 0.75  # raw thumbnail correlation
VERIFY_MIN_DETAIL_NCC = 0.5  # correlation of the detail layers (thumbnail minus its blur)
VERIFY_SMOOTH_NCC = 0.90  # smooth true copies keep little detail: a higher raw correlation instead
VERIFY_SMOOTH_DETAIL_NCC = 0.3
# One view of a query shows one picture: a work verified through a view whose detail correlation is
# this far below the best work's through that same view is a look-alike of the picture shown, not a
# copy (full image benchmark, 168 works: 58 of the 59 wrong-work pairs scored 0.52–0.76 where the work
# the query was made from scored 0.77–1.00 through the query; works holding the same picture score alike
# and both stay).
VIEW_RIVAL_MARGIN = 0.15
MIH_MIN_CODES = 1 << 16  # below this many variant codes a batched flat scan is as fast
_SCAN_SIDE = 64  # JPEG draft target on the scan side: 1/8 DCT scale for ≥ 512-px images
# A layout block (flat_cut_segments) narrower than this many pixels in the scan decode, covering at most
# half the picture, is looked for again in a decode twice as fine (measured on the benchmark's phone
# screenshots: 35/40 → 39/40 recognised; 2 of 60 plain 1024-px photographs pay for the second decode).
_VIEW_DETAIL = 64
_VIEW_ZOOM = 2
_VIEW_MAX_AREA = 0.5
# A view whose strongest tenth of neighbour steps holds this share of them all is one or two straight
# edges on flat ground (a block of a flat-coloured layout, a plain box with a border): two such views of
# unrelated pictures correlate like copies (output_checks.py --quick: a plain block with one striped edge
# against a crop of an unrelated generated picture, detail NCC 0.80, share 1.0). Measured: photographs,
# textures and the benchmark's screenshots 0.2–0.4; generated flat-shape pictures' views median 0.70.
_VIEW_MAX_EDGE_SHARE = 0.9
_VIEW_SHAVE = 0.03  # share of a view's side shaved before its border trim (1.5 % left JPEG ringing of dark frames)
_REGISTRY_SIDE = 256  # registry variants are cut from a larger decode so 70 % crops keep detail
_FORMAT = "fairtrain.image-index/3"
# Older formats still open and match what they cover (see ImageIndex.load): version 1 (before issue 16)
# had the first 29 variants only and no aspect ratios (rotated copies need a re-export), version 2 had no
# figure variants (a figure on a plain ground cropped, tilted or framed needs a re-export).
_FORMAT_V1 = "fairtrain.image-index/1"
_V1_VARIANTS = 29
_FORMAT_V2 = "fairtrain.image-index/2"
_V2_VARIANTS = 63

_T = Image.Transpose


@dataclass(frozen=True, slots=True)
class _Variant:
    name: str
    box: tuple[float, float, float, float] = (0.0, 0.0, 1.0, 1.0)  # fractions of the trimmed image
    transpose: Image.Transpose | None = None
    rotate: float = 0.0  # degrees counter-clockwise, then cropped to the inscribed rectangle
    # A figure variant: ``box`` is in fractions of the figure's own box (figure_box) and a rotation fills
    # the uncovered corners with the ground and keeps the frame, as a tilt of a picture on a plain ground
    # does; registered only for works that have a figure on a plain ground.
    figure: bool = False


VARIANTS: tuple[_Variant, ...] = (
    _Variant("original"),
    _Variant("flip_h", transpose=_T.FLIP_LEFT_RIGHT),
    _Variant("rot90", transpose=_T.ROTATE_90),
    _Variant("rot180", transpose=_T.ROTATE_180),
    _Variant("rot270", transpose=_T.ROTATE_270),
    _Variant("crop_c95", (0.025, 0.025, 0.975, 0.975)),
    _Variant("crop_c90", (0.05, 0.05, 0.95, 0.95)),
    _Variant("crop_c80", (0.10, 0.10, 0.90, 0.90)),
    _Variant("crop_c70", (0.15, 0.15, 0.85, 0.85)),
    _Variant("crop_tl80", (0.0, 0.0, 0.8, 0.8)),
    _Variant("crop_tr80", (0.2, 0.0, 1.0, 0.8)),
    _Variant("crop_bl80", (0.0, 0.2, 0.8, 1.0)),
    _Variant("crop_br80", (0.2, 0.2, 1.0, 1.0)),
    _Variant("crop_tl90", (0.0, 0.0, 0.9, 0.9)),
    _Variant("crop_tr90", (0.1, 0.0, 1.0, 0.9)),
    _Variant("crop_bl90", (0.0, 0.1, 0.9, 1.0)),
    _Variant("crop_br90", (0.1, 0.1, 1.0, 1.0)),
    _Variant("crop_tl85", (0.0, 0.0, 0.85, 0.85)),
    _Variant("crop_tr85", (0.15, 0.0, 1.0, 0.85)),
    _Variant("crop_bl85", (0.0, 0.15, 0.85, 1.0)),
    _Variant("crop_br85", (0.15, 0.15, 1.0, 1.0)),
    _Variant("crop_l90", (0.0, 0.05, 0.9, 0.95)),
    _Variant("crop_r90", (0.1, 0.05, 1.0, 0.95)),
    _Variant("crop_t90", (0.05, 0.0, 0.95, 0.9)),
    _Variant("crop_b90", (0.05, 0.1, 0.95, 1.0)),
    _Variant("crop_l80", (0.0, 0.0, 0.8, 1.0)),
    _Variant("crop_r80", (0.2, 0.0, 1.0, 1.0)),
    _Variant("crop_t80", (0.0, 0.0, 1.0, 0.8)),
    _Variant("crop_b80", (0.0, 0.2, 1.0, 1.0)),
    # --- added in format 2 (issue 16): tilted copies, deeper one-side and two-side crops
    _Variant("rot_p3", rotate=3.0),
    _Variant("rot_m3", rotate=-3.0),
    _Variant("rot_p6", rotate=6.0),
    _Variant("rot_m6", rotate=-6.0),
    _Variant("rot_p9", rotate=9.0),
    _Variant("rot_m9", rotate=-9.0),
    _Variant("crop_l70", (0.0, 0.0, 0.7, 1.0)),
    _Variant("crop_r70", (0.3, 0.0, 1.0, 1.0)),
    _Variant("crop_t70", (0.0, 0.0, 1.0, 0.7)),
    _Variant("crop_b70", (0.0, 0.3, 1.0, 1.0)),
    _Variant("crop_tl75", (0.0, 0.0, 0.75, 0.75)),
    _Variant("crop_tr75", (0.25, 0.0, 1.0, 0.75)),
    _Variant("crop_bl75", (0.0, 0.25, 0.75, 1.0)),
    _Variant("crop_br75", (0.25, 0.25, 1.0, 1.0)),
    _Variant("crop_h80", (0.1, 0.0, 0.9, 1.0)),
    _Variant("crop_v80", (0.0, 0.1, 1.0, 0.9)),
    _Variant("crop_h70", (0.15, 0.0, 0.85, 1.0)),
    _Variant("crop_v70", (0.0, 0.15, 1.0, 0.85)),
    # two-side crops: the 80 % and 70 % squares at the edge middles and the 70 % corners
    _Variant("crop_tm80", (0.1, 0.0, 0.9, 0.8)),
    _Variant("crop_bm80", (0.1, 0.2, 0.9, 1.0)),
    _Variant("crop_lm80", (0.0, 0.1, 0.8, 0.9)),
    _Variant("crop_rm80", (0.2, 0.1, 1.0, 0.9)),
    _Variant("crop_tm70", (0.15, 0.0, 0.85, 0.7)),
    _Variant("crop_bm70", (0.15, 0.3, 0.85, 1.0)),
    _Variant("crop_lm70", (0.0, 0.15, 0.7, 0.85)),
    _Variant("crop_rm70", (0.3, 0.15, 1.0, 0.85)),
    _Variant("crop_tl70", (0.0, 0.0, 0.7, 0.7)),
    _Variant("crop_tr70", (0.3, 0.0, 1.0, 0.7)),
    _Variant("crop_bl70", (0.0, 0.3, 0.7, 1.0)),
    _Variant("crop_br70", (0.3, 0.3, 1.0, 1.0)),
    # halves: what an overlay (caption bar, logo, sticker in a corner) leaves untouched; the scan side
    # looks at the same halves of every query (HALVES)
    _Variant("half_t", (0.0, 0.0, 1.0, 0.5)),
    _Variant("half_b", (0.0, 0.5, 1.0, 1.0)),
    _Variant("half_l", (0.0, 0.0, 0.5, 1.0)),
    _Variant("half_r", (0.5, 0.0, 1.0, 1.0)),
    # --- added in format 3: a figure on a plain ground (a portrait or clip art on white) by its own box,
    # whatever share of the ground a crop, a tilt or a frame leaves; the scan side looks at the same box
    _Variant("fig", figure=True),
    _Variant("fig_rot_p3", rotate=3.0, figure=True),
    _Variant("fig_rot_m3", rotate=-3.0, figure=True),
    _Variant("fig_rot_p6", rotate=6.0, figure=True),
    _Variant("fig_rot_m6", rotate=-6.0, figure=True),
    _Variant("fig_rot_p9", rotate=9.0, figure=True),
    _Variant("fig_rot_m9", rotate=-9.0, figure=True),
    _Variant("fig_l80", (0.0, 0.0, 0.8, 1.0), figure=True),
    _Variant("fig_r80", (0.2, 0.0, 1.0, 1.0), figure=True),
    _Variant("fig_t80", (0.0, 0.0, 1.0, 0.8), figure=True),
    _Variant("fig_b80", (0.0, 0.2, 1.0, 1.0), figure=True),
)
_PLAIN_VARIANTS = sum(not v.figure for v in VARIANTS)  # the figure variants come last
HALVES = tuple(v.box for v in VARIANTS if v.name.startswith("half_"))
_VARIANT_NAMES = np.asarray([v.name for v in VARIANTS])


@dataclass(frozen=True, slots=True, eq=False)
class ImageFingerprint:
    """Scan-side fingerprint of one image."""

    item: str
    xxh3_128: bytes  # of the raw bytes
    phash: int  # 64-bit, = ISCC Image-Code body
    dhash: int  # 64-bit
    quality: float  # 0..100; below MIN_QUALITY the image is near-flat
    thumb: np.ndarray = field(repr=False)  # 32×32 grey uint8, for verification
    width: int = 0  # as declared by the file, after EXIF rotation
    height: int = 0
    # Views of a picture inside the picture (screenshot, social frame, collage, tilted copy with filled
    # corners): one 32×32 thumbnail and its two hashes per view; empty for most images.
    views: np.ndarray = field(default_factory=lambda: np.empty((0, THUMB, THUMB), np.uint8), repr=False)
    view_phash: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64), repr=False)
    view_dhash: np.ndarray = field(default_factory=lambda: np.empty(0, np.uint64), repr=False)

    @property
    def low_quality(self) -> bool:
        return self.quality < MIN_QUALITY

    @property
    def iscc(self) -> str:
        return _iscc_image_code(self.phash)


@dataclass(frozen=True, slots=True, eq=False)
class RegisteredImage:
    """Registry-side fingerprint of one work: hashes of every augmented variant plus what verification
    needs. Never the image itself (a 64×64 grey thumbnail is the most that is kept)."""

    item: str
    xxh3_128: bytes
    phashes: np.ndarray  # uint64, one per VARIANTS entry
    dhashes: np.ndarray  # uint64, one per VARIANTS entry
    quality: float
    thumb: np.ndarray = field(repr=False)  # 64×64 grey uint8 of the trimmed original
    iscc: str = ""  # ISCC Image-Code of the original: the work's interoperable ID
    width: int = 0
    height: int = 0
    aspect: float = 1.0  # width / height of the trimmed original (rotated variants are rebuilt with it)

    @property
    def low_quality(self) -> bool:
        return self.quality < MIN_QUALITY


def _iscc_image_code(phash: int) -> str:
    return "ISCC:" + iscc_core.encode_component(
        mtype=iscc_core.MT.CONTENT,
        stype=iscc_core.ST_CC.IMAGE,
        version=iscc_core.VS.V0,
        bit_length=64,
        digest=int(phash).to_bytes(8, "big"),
    )


def fingerprint_image(data: bytes, item: str = "", *, max_pixels: int = MAX_PIXELS) -> ImageFingerprint:
    """Scan-side fingerprint. Raises :class:`FingerprintError` naming ``item`` for empty, unsupported,
    corrupt, truncated or oversized (decompression bomb) input."""
    grey, (width, height) = decode_grey(data, item, _SCAN_SIDE, max_pixels)
    trimmed = trim_borders(grey)
    picture = Image.fromarray(trimmed)  # one PIL image for the thumbnail and the halves' 64×64 grid
    thumb = thumbnail(picture)
    views, checked = _views(grey, trimmed, picture, lambda side: decode_grey(data, item, side, max_pixels)[0])
    stack = np.concatenate([thumb[None], views])
    # One quality pass for the picture and the views that must have structure of their own (a near-flat
    # view's hashes are noise), then one hashing pass for the picture and the views kept.
    scores = qualities(stack[: 1 + checked])
    if (
        checked
        and not (
            keep := (scores[1:] >= MIN_QUALITY) & (edge_concentrations(views[:checked]) < _VIEW_MAX_EDGE_SHARE)
        ).all()
    ):
        stack = np.concatenate([stack[:1], stack[1:][np.concatenate([keep, np.ones(len(views) - checked, bool)])]])
        views = stack[1:]
    ph, dh = phash64(stack), dhash64(stack)
    return ImageFingerprint(
        item=item,
        xxh3_128=xxhash.xxh3_128_digest(data),
        phash=int(ph[0]),
        dhash=int(dh[0]),
        quality=float(scores[0]),
        thumb=thumb,
        width=width,
        height=height,
        views=views,
        view_phash=ph[1:],
        view_dhash=dh[1:],
    )


def _views(
    grey: np.ndarray, trimmed: np.ndarray, picture: Image.Image, finer: Callable[[int], np.ndarray]
) -> tuple[np.ndarray, int]:
    """Thumbnails of the parts a copy may keep intact or show inside itself: its four halves (an overlay
    spares at least one), boxes bounded by straight steps (:func:`find_windows`: a screenshot, a frame, a
    collage), and for a tilted copy whose corners were filled, its straightened centre. ``finer(side)``
    decodes the picture again with its shorter side at least ``side`` (for small layout blocks only).
    Returns the stacked views and how many of the first of them keep their place only if their own
    :func:`quality` passes and whose structure is more than a few straight edges (all but the
    straightened centres; the caller scores them in one pass)."""
    # Halves come from one 64×64 thumbnail by 2:1 averaging (a resize of the decode each costs 10× more).
    grid = thumbnail(picture, VERIFY_THUMB).astype(np.uint16)
    n = THUMB
    cols = grid[:, 0::2] + grid[:, 1::2]  # (64, 32): pairs of columns summed; top and bottom halves
    rows = grid[0::2] + grid[1::2]  # (32, 64): pairs of rows summed; left and right halves
    sums = np.stack([cols[:n], cols[n:], rows[:, :n], rows[:, n:]])
    # The mean of two, rounded half to even (as np.rint), in integers.
    halves = ((sums + ((sums >> 1) & 1)) >> 1).astype(np.uint8)
    out = list(halves)  # these and the windows' views are kept only if their quality passes (the caller)
    # Windows are looked for on the decode (a 64×64 grid loses half the screenshots' edges); most photos
    # have none, and only a found window pays for its trim and thumbnail.
    cuts = flat_cut_segments(grey)
    boxes = find_windows(grey) + cuts
    parts = [grey[y0:y1, x0:x1] for x0, y0, x1, y1 in boxes]
    # A block that flat bands separate (a phone screenshot, a post, a collage with gutters) and that is a
    # few dozen pixels across in the 1/8-scale decode keeps too little detail to verify: cut the blocks
    # again from a decode twice as fine, beside those above. Only pictures with such a block pay for it
    # (a cascade on a cheap signal of the picture itself: most photographs have no flat band).
    small = [b for b in cuts if (b[2] - b[0]) * (b[3] - b[1]) <= _VIEW_MAX_AREA * grey.size]
    if small and min(min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in small) < _VIEW_DETAIL:
        fine = finer(min(grey.shape) * _VIEW_ZOOM)
        if fine.shape[0] > grey.shape[0] and fine.shape[1] > grey.shape[1]:
            parts += [fine[y0:y1, x0:x1] for x0, y0, x1, y1 in flat_cut_segments(fine)]
    for part in parts:
        # A window's edge line often carries a sliver of its frame (a dark post frame, JPEG ringing): the
        # outer line is then not flat and the picture's own plain ground (a portrait on white) is not
        # trimmed as the registry trimmed it. Shave that sliver first.
        h, w = part.shape
        dy, dx = max(1, round(h * _VIEW_SHAVE)), max(1, round(w * _VIEW_SHAVE))
        part = trim_borders(part[dy : h - dy, dx : w - dx] if h > 4 * dy and w > 4 * dx else part)
        if min(part.shape) >= 8:
            out.append(thumbnail(part))
    checked = len(out)
    angle = filled_corners_angle(trimmed)
    if angle is not None:
        for a in (angle, -angle):  # the corners tell the tilt's size, not its sign
            # Straightened at twice the thumbnail's size and trimmed again: a picture on a plain ground
            # (a portrait on white) keeps its ground in the straightened centre, which the registry trimmed.
            upright = rotated_view(trimmed, a, trimmed.shape[1] / trimmed.shape[0], 2 * VERIFY_THUMB)
            out.append(thumbnail(trim_borders(upright)))
    return np.stack(out), checked


def fingerprint_images(
    items: Iterable[tuple[str, bytes]], *, max_pixels: int = MAX_PIXELS
) -> list[ImageFingerprint | FingerprintError]:
    """Batch form: a failing item yields its :class:`FingerprintError` in place and the batch goes on."""
    out: list[ImageFingerprint | FingerprintError] = []
    for item, data in items:
        try:
            out.append(fingerprint_image(data, item, max_pixels=max_pixels))
        except FingerprintError as exc:
            out.append(exc)
    return out


def _ground(grey: np.ndarray) -> int:
    """The colour of a picture's frame (the median of its outermost lines): the ground a figure stands on."""
    return int(np.median(np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])))


def _sub_box(outer: tuple[float, float, float, float], inner: tuple[float, float, float, float]):
    """``inner`` (fractions of ``outer``) in the fractions ``outer`` is given in."""
    x0, y0, x1, y1 = outer
    a, b, c, d = inner
    return (x0 + a * (x1 - x0), y0 + b * (y1 - y0), x0 + c * (x1 - x0), y0 + d * (y1 - y0))


def _figure_thumb(trimmed: np.ndarray, v: _Variant) -> np.ndarray:
    """A figure variant's thumbnail: the picture tilted in its frame over its own ground (if the variant
    turns), the figure's box found again, the variant's part of it."""
    frame = trimmed
    if v.rotate:
        frame = np.asarray(
            Image.fromarray(trimmed).rotate(v.rotate, Image.Resampling.BILINEAR, fillcolor=_ground(trimmed))
        )
    h, w = frame.shape
    box = figure_box(frame, grid=thumbnail(frame, VERIFY_THUMB))
    x0, y0, x1, y1 = _sub_box(box or (0.0, 0.0, 1.0, 1.0), v.box)
    return thumbnail(
        frame[
            round(y0 * h) : max(round(y1 * h), round(y0 * h) + 1), round(x0 * w) : max(round(x1 * w), round(x0 * w) + 1)
        ]
    )


def _variant_thumbs(trimmed: np.ndarray) -> np.ndarray:
    """Thumbnails of every variant; the figure variants only where the picture has a figure on a plain
    ground (the others would repeat the plain variants)."""
    h, w = trimmed.shape
    has_figure = figure_box(trimmed, grid=thumbnail(trimmed, VERIFY_THUMB)) is not None
    thumbs = np.empty((len(VARIANTS) if has_figure else _PLAIN_VARIANTS, THUMB, THUMB), dtype=np.uint8)
    for i, v in enumerate(VARIANTS[: len(thumbs)]):
        x0, y0, x1, y1 = v.box
        if v.figure:
            thumbs[i] = _figure_thumb(trimmed, v)
            continue
        if v.rotate:
            thumbs[i] = rotated_view(trimmed, v.rotate, w / h)
            continue
        part = trimmed[round(y0 * h) : round(y1 * h), round(x0 * w) : round(x1 * w)]
        if v.transpose is not None:
            part = np.asarray(Image.fromarray(part).transpose(v.transpose))
        # The scan side trims every query; a crop can expose a new uniform edge, so trim here too.
        thumbs[i] = thumbnail(trim_borders(part))
    return thumbs


def register_image(data: bytes, item: str = "", *, max_pixels: int = MAX_PIXELS) -> RegisteredImage:
    """Registry-side fingerprint with augmented variants (see :data:`VARIANTS`)."""
    grey, (width, height) = decode_grey(data, item, _REGISTRY_SIDE, max_pixels)
    trimmed = trim_borders(grey)
    thumbs = _variant_thumbs(trimmed)
    phashes = phash64(thumbs)
    return RegisteredImage(
        item=item,
        xxh3_128=xxhash.xxh3_128_digest(data),
        phashes=phashes,
        dhashes=dhash64(thumbs),
        quality=quality(thumbs[0]),
        thumb=thumbnail(trimmed, VERIFY_THUMB),
        iscc=_iscc_image_code(int(phashes[0])),
        width=width,
        height=height,
        aspect=trimmed.shape[1] / max(1, trimmed.shape[0]),
    )


def _variant_view(
    thumb64: np.ndarray,
    variant: int,
    box: tuple[float, float, float, float] | None = None,
    aspect: float = 1.0,
    turn: float = 0.0,
) -> np.ndarray:
    """The 32×32 thumbnail a query showing this variant should have, rebuilt from the 64×64 original."""
    v = VARIANTS[variant]
    if v.figure:
        r = _Renderer(thumb64, None, aspect)
        return r.view(float(v.rotate), tuple(_figure_start(r, v)))
    if v.rotate:
        return rotated_view(thumb64, v.rotate + turn, aspect)
    x0, y0, x1, y1 = box or v.box
    s = float(VERIFY_THUMB)
    # refinement nudges may reach a hair past the edge: clamp (PIL refuses boxes outside the image)
    im = Image.fromarray(thumb64).resize(
        (THUMB, THUMB),
        Image.Resampling.BICUBIC,
        box=(max(0.0, x0 * s), max(0.0, y0 * s), min(s, x1 * s), min(s, y1 * s)),
    )
    if v.transpose is not None:
        im = im.transpose(v.transpose)
    return np.asarray(im, dtype=np.uint8)


# Small misalignments left between a query crop and the nearest registered crop: try the variant box
# grown/shrunk by a few per cent and nudged by a few per cent, keep the best correlation.
_REFINE_SCALES = (1.0, 0.95, 1.05, 0.9)
_REFINE_SHIFTS = (0.0, -0.04, 0.04)
_REFINE_MIN_NCC = 0.3


def _detail(thumb: np.ndarray) -> np.ndarray:
    """The thumbnail minus its Gaussian blur: what is left once smooth gradients are removed."""
    blurred = np.asarray(Image.fromarray(thumb).filter(ImageFilter.GaussianBlur(2)), dtype=np.float64)
    return thumb.astype(np.float64) - blurred


def _accepted(raw: float, detail: float, inner: bool = False) -> bool:
    # Raw correlation alone confuses unrelated smooth wallpapers (measured: 22 false pairs at raw ≥ 0.8
    # among 385 unrelated candidates); the detail layer alone confuses some textures (wood grain vs a
    # photo: raw 0.70, detail 0.73); both together left 0 false pairs among those candidates.
    # A view inside the query (a half, a window) is a smaller, smoother picture than the whole and is
    # compared with a registered part (a half, a crop) just as small: the smooth rule, which trusts raw
    # correlation, let two unrelated halves through (fingerprint_image.py --quick: wood turned 180°, its
    # top half against the top half of plasma's DarkestHour, raw 0.91, detail 0.37). Views must pass the
    # detail rule, as the free search does.
    if raw >= VERIFY_MIN_NCC and detail >= VERIFY_MIN_DETAIL_NCC:
        return True
    return not inner and raw >= VERIFY_SMOOTH_NCC and detail >= VERIFY_SMOOTH_DETAIL_NCC


_REFINE_TURNS = (0.0, -1.5, 1.5)
# After the fixed grid above fails: a free search of the view's box edges (and, for an untransposed
# variant, its tilt), coordinate ascent on the raw correlation with shrinking steps. It reaches the
# copies whose crop, tilt or trimmed background sits between two registered variants (issue 16: crops
# from any side, tilted portraits on a white ground, social frames). Candidates only, a few hundred
# 32×32 resizes at most. The freer fit must pass the detail rule (never the smooth one): a smooth
# picture can be bent towards another smooth picture, its detail layer cannot.
_SEARCH_STEPS = (0.05, 0.025, 0.0125)
_SEARCH_TURN_STEPS = (2.0, 1.0, 0.5)
_SEARCH_MAX_TURN = 12.0
_SEARCH_MIN_RAW = 0.5  # the grid's best raw correlation below this: not a copy, no search
_SEARCH_MIN_DETAIL = 0.55


class _Renderer:
    """Views of a registered 64×64 thumbnail: tilted by ``turn`` degrees in its true aspect (uncovered
    corners filled with the picture's own border colour: a tilted picture on a plain ground), a box of
    fractions of that frame, transposed as the variant is; tilted frames are cached per angle."""

    def __init__(self, thumb64: np.ndarray, transpose: Image.Transpose | None, aspect: float):
        self.transpose = transpose
        side = thumb64.shape[0]
        uw, uh = (side, max(8, round(side / aspect))) if aspect >= 1 else (max(8, round(side * aspect)), side)
        self.base = Image.fromarray(thumb64).resize((uw, uh), Image.Resampling.BILINEAR)
        border = np.concatenate([thumb64[0], thumb64[-1], thumb64[:, 0], thumb64[:, -1]])
        self.fill = int(np.median(border))
        self._frames: dict[float, Image.Image] = {0.0: self.base}

    def frame(self, turn: float) -> Image.Image:
        frame = self._frames.get(turn)
        if frame is None:
            frame = self._frames[turn] = self.base.rotate(turn, Image.Resampling.BILINEAR, fillcolor=self.fill)
        return frame

    def view(self, turn: float, box: tuple[float, float, float, float]) -> np.ndarray:
        frame = self.frame(turn)
        w, h = frame.size
        x0, y0, x1, y1 = box
        im = frame.resize(
            (THUMB, THUMB),
            Image.Resampling.BICUBIC,
            box=(max(0.0, x0 * w), max(0.0, y0 * h), min(w, x1 * w), min(h, y1 * h)),
        )
        if self.transpose is not None:
            im = im.transpose(self.transpose)
        return np.asarray(im, dtype=np.uint8)


def _figure_start(r: _Renderer, v: _Variant) -> list[float]:
    """A figure variant's box in the renderer's frame tilted by the variant's turn."""
    frame = r.frame(float(v.rotate))
    return list(
        _sub_box(figure_box(np.asarray(frame), grid=thumbnail(frame, VERIFY_THUMB)) or (0.0, 0.0, 1.0, 1.0), v.box)
    )


def _search(
    query_thumb: np.ndarray, q_detail: np.ndarray, thumb64: np.ndarray, variant: int, aspect: float
) -> tuple[bool, float, float, np.ndarray]:
    """Coordinate ascent of the raw correlation over the box edges (and tilt) from the variant's own."""
    v = VARIANTS[variant]
    r = _Renderer(thumb64, v.transpose, aspect)
    turn = float(v.rotate)
    if v.figure:
        box = _figure_start(r, v)
    elif turn:
        k = inscribed_scale(r.base.width, r.base.height, turn)
        box = [(1 - k) / 2, (1 - k) / 2, (1 + k) / 2, (1 + k) / 2]
    else:
        box = list(v.box)

    def score(t: float, b: list[float]) -> float:
        if b[2] - b[0] < 0.3 or b[3] - b[1] < 0.3 or min(b) < -0.02 or max(b) > 1.02:
            return -2.0
        return ncc(query_thumb, r.view(t, (b[0], b[1], b[2], b[3])))

    best = score(turn, box)
    for level, step in enumerate(_SEARCH_STEPS):
        improved = True
        while improved:
            improved = False
            for edge in range(4):
                for sign in (-1.0, 1.0):
                    trial = box.copy()
                    trial[edge] += sign * step
                    s = score(turn, trial)
                    if s > best + 1e-4:
                        best, box, improved = s, trial, True
            if v.transpose is None:
                for sign in (-1.0, 1.0):
                    t = turn + sign * _SEARCH_TURN_STEPS[level]
                    if abs(t) <= _SEARCH_MAX_TURN and (s := score(t, box)) > best + 1e-4:
                        best, turn, improved = s, t, True
    view = r.view(turn, (box[0], box[1], box[2], box[3]))
    detail = ncc(q_detail, _detail(view))
    return (best >= VERIFY_MIN_NCC and detail >= _SEARCH_MIN_DETAIL), best, detail, view


def _verify(
    query_thumb: np.ndarray, thumb64: np.ndarray, variant: int, aspect: float = 1.0, inner: bool = False
) -> tuple[bool, float, float]:
    """(accepted, raw NCC, detail NCC) of the best-aligned view of ``variant``; ``inner``: the query
    thumbnail is a view inside the query picture, not the whole (see :func:`_accepted`)."""
    q_detail = _detail(query_thumb)
    if VARIANTS[variant].figure:  # no fixed geometry to try first: the search, and its detail rule
        got = _search(query_thumb, q_detail, thumb64, variant, aspect)
    else:
        got = _verify_grid(query_thumb, q_detail, thumb64, variant, aspect, inner)
        if not got[0] and got[1] >= _SEARCH_MIN_RAW:
            found = _search(query_thumb, q_detail, thumb64, variant, aspect)
            got = found if found[0] or found[2] > got[2] else got
    return got[0], got[1], got[2]


def _verify_grid(
    query_thumb: np.ndarray, q_detail: np.ndarray, thumb64: np.ndarray, variant: int, aspect: float, inner: bool
) -> tuple[bool, float, float, np.ndarray | None]:
    best = (False, -1.0, -1.0, None)
    if VARIANTS[variant].rotate:
        for turn in _REFINE_TURNS:
            view = _variant_view(thumb64, variant, aspect=aspect, turn=turn)
            raw, detail = ncc(query_thumb, view), ncc(q_detail, _detail(view))
            ok = _accepted(raw, detail, inner)
            if (ok, detail) > (best[0], best[2]):
                best = (ok, raw, detail, view)
            if ok:
                break
        return best
    x0, y0, x1, y1 = VARIANTS[variant].box
    cx, cy, bw, bh = (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0
    for scale in _REFINE_SCALES:
        for dx in _REFINE_SHIFTS:
            for dy in _REFINE_SHIFTS:
                hw, hh = bw * scale / 2, bh * scale / 2
                box = (cx + dx - hw, cy + dy - hh, cx + dx + hw, cy + dy + hh)
                if box[0] < -0.01 or box[1] < -0.01 or box[2] > 1.01 or box[3] > 1.01:
                    continue
                view = _variant_view(thumb64, variant, box)
                raw, detail = ncc(query_thumb, view), ncc(q_detail, _detail(view))
                ok = _accepted(raw, detail, inner)
                if (ok, detail) > (best[0], best[2]):
                    best = (ok, raw, detail, view)
                if ok:
                    return best
                if scale == 1.0 and dx == 0.0 and dy == 0.0 and raw < _REFINE_MIN_NCC:
                    return best  # not even roughly aligned: no nudge will make it a copy
    return best


def _candidate(p: np.ndarray, d: np.ndarray) -> np.ndarray:
    """The candidate rule on pHash and dHash distances: one within its radius, the other within
    OTHER_HASH_MAX. (Both moderately off, e.g. 12 and 11 bits, would reach 6 more of 520 copies on the
    quick benchmark's material, but a range search at 13 bits costs 13× that at 10 in a multi-index
    hash of 2 million codes: matching, not fingerprinting, would then bound clearance.)"""
    both = (p <= OTHER_HASH_MAX) & (d <= OTHER_HASH_MAX)
    return both & ((p <= PHASH_RADIUS) | (d <= DHASH_RADIUS))


class _Growable:
    """Amortised-doubling numpy buffer: the builder holds arrays, never a Python object per work."""

    def __init__(self, dtype, shape: tuple[int, ...] = ()):
        self._a = np.empty((64, *shape), dtype=dtype)
        self._n = 0

    def extend(self, values: np.ndarray) -> None:
        values = np.asarray(values, dtype=self._a.dtype).reshape(-1, *self._a.shape[1:])
        need = self._n + values.shape[0]
        if need > self._a.shape[0]:
            grown = np.empty((max(need, 2 * self._a.shape[0]), *self._a.shape[1:]), dtype=self._a.dtype)
            grown[: self._n] = self._a[: self._n]
            self._a = grown
        self._a[self._n : need] = values
        self._n = need

    def array(self) -> np.ndarray:
        return self._a[: self._n].copy()


class ImageIndexBuilder:
    """Collects registered works; :meth:`build` freezes them into an :class:`ImageIndex`."""

    def __init__(self) -> None:
        self._work_ids = _Growable(np.int64)
        self._xxh = _Growable(np.uint8, (16,))
        self._quality = _Growable(np.float32)
        self._thumbs = _Growable(np.uint8, (VERIFY_THUMB, VERIFY_THUMB))
        self._aspect = _Growable(np.float32)
        self._iscc: list[str] = []
        self._phash = _Growable(np.uint64)
        self._dhash = _Growable(np.uint64)
        self._work_row = _Growable(np.int32)
        self._variant = _Growable(np.uint8)

    def add(self, work_id: int, reg: RegisteredImage) -> None:
        row = len(self._iscc)
        self._work_ids.extend(np.asarray([work_id]))
        self._xxh.extend(np.frombuffer(reg.xxh3_128, dtype=np.uint8))
        self._quality.extend(np.asarray([reg.quality]))
        self._thumbs.extend(reg.thumb)
        self._aspect.extend(np.asarray([reg.aspect]))
        self._iscc.append(reg.iscc)
        if reg.low_quality:
            return  # exact stage only: a flat image's hashes would match every other flat image
        n = len(reg.phashes)
        self._phash.extend(reg.phashes)
        self._dhash.extend(reg.dhashes)
        self._work_row.extend(np.full(n, row))
        self._variant.extend(np.arange(n))

    def build(self) -> ImageIndex:
        return ImageIndex(
            work_ids=self._work_ids.array(),
            xxh3_128=self._xxh.array(),
            quality=self._quality.array(),
            thumbs=self._thumbs.array(),
            iscc=np.asarray(self._iscc, dtype=str),
            phash=self._phash.array(),
            dhash=self._dhash.array(),
            work_row=self._work_row.array(),
            variant=self._variant.array(),
            aspect=self._aspect.array(),
        )


class ImageIndex:
    """Frozen registry shard: exact hashes, variant codes (flat scan or multi-index hash), thumbnails."""

    def __init__(
        self,
        *,
        work_ids: np.ndarray,
        xxh3_128: np.ndarray,
        quality: np.ndarray,
        thumbs: np.ndarray,
        iscc: np.ndarray,
        phash: np.ndarray,
        dhash: np.ndarray,
        work_row: np.ndarray,
        variant: np.ndarray,
        aspect: np.ndarray | None = None,
        mih_min_codes: int = MIH_MIN_CODES,
        upgrade_note: str = "",
    ):
        self.work_ids = work_ids
        self.aspect = aspect if aspect is not None else np.ones(len(work_ids), np.float32)
        # Set when the index was written by an older format: what it cannot recognise until re-exported.
        self.notices = [upgrade_note] if upgrade_note else []
        self.xxh3_128 = xxh3_128  # (W, 16) uint8
        self.quality = quality
        self.thumbs = thumbs
        self.iscc = iscc
        self.phash = phash
        self.dhash = dhash
        self.work_row = work_row
        self.variant = variant
        # Exact stage: big-endian first 8 bytes as a sorted key; the other 8 bytes are compared on hits.
        hi = xxh3_128[:, :8].copy().view(">u8").ravel().astype(np.uint64) if len(work_ids) else np.empty(0, np.uint64)
        self._exact_order = np.argsort(hi, kind="stable")
        self._exact_sorted = hi[self._exact_order]
        self._mih: tuple[MultiIndexHash, MultiIndexHash] | None = None
        if phash.size >= mih_min_codes:
            self._mih = (MultiIndexHash(phash), MultiIndexHash(dhash))

    def __len__(self) -> int:
        return int(self.work_ids.size)

    @property
    def nbytes_in_memory(self) -> int:
        """Bytes held for matching, without the thumbnails (those can stay on disk, memory-mapped)."""
        arrays = (
            self.work_ids,
            self.xxh3_128,
            self.quality,
            self.phash,
            self.dhash,
            self.work_row,
            self.variant,
            self._exact_order,
            self._exact_sorted,
        )
        total = sum(a.nbytes for a in arrays) + self.iscc.nbytes
        if self._mih is not None:
            total += sum(m.nbytes for m in self._mih)
        return int(total)

    # --- matching -------------------------------------------------------------------------------

    def _range(self, which: int, queries: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
        codes = self.phash if which == 0 else self.dhash
        if self._mih is not None:
            return self._mih[which].range(queries, radius)
        return flat_range(queries, codes, radius)

    def _exact(self, fps: Sequence[ImageFingerprint]) -> list[list[int]]:
        hits: list[list[int]] = [[] for _ in fps]
        if not len(self) or not fps:
            return hits
        digests = np.frombuffer(b"".join(fp.xxh3_128 for fp in fps), dtype=np.uint8).reshape(-1, 16)
        keys = digests[:, :8].copy().view(">u8").ravel().astype(np.uint64)
        lo = np.searchsorted(self._exact_sorted, keys, side="left")
        hi = np.searchsorted(self._exact_sorted, keys, side="right")
        for qi in np.flatnonzero(hi > lo):
            for pos in range(lo[qi], hi[qi]):
                row = int(self._exact_order[pos])
                if np.array_equal(self.xxh3_128[row], digests[qi]):
                    hits[qi].append(row)
        return hits

    def match(self, fps: Sequence[ImageFingerprint]) -> list[list[Match]]:
        """For each fingerprint, the registered works it shows, best first."""
        fps = list(fps)
        exact = self._exact(fps)
        results: list[list[Match]] = []
        for qi, rows in enumerate(exact):
            results.append(
                [
                    Match(
                        work_id=int(self.work_ids[r]),
                        score=1.0,
                        stage="exact",
                        evidence={"xxh3_128": fps[qi].xxh3_128.hex(), "iscc": str(self.iscc[r])},
                    )
                    for r in rows
                ]
            )
        # Every usable query contributes its whole-picture codes and those of its views (pictures inside
        # the picture); a candidate is verified against the thumbnail of the code that found it.
        owner: list[int] = []
        thumbs: list[np.ndarray] = []
        ph_l: list[int] = []
        dh_l: list[int] = []
        for qi, fp in enumerate(fps):
            if fp.low_quality:
                continue
            owner.append(qi)
            thumbs.append(fp.thumb)
            ph_l.append(fp.phash)
            dh_l.append(fp.dhash)
            for k in range(len(fp.views)):
                owner.append(qi)
                thumbs.append(fp.views[k])
                ph_l.append(int(fp.view_phash[k]))
                dh_l.append(int(fp.view_dhash[k]))
        if owner and self.phash.size:
            ph = np.asarray(ph_l, dtype=np.uint64)
            dh = np.asarray(dh_l, dtype=np.uint64)
            q1, c1 = self._range(0, ph, PHASH_RADIUS)
            keep = _candidate(np.bitwise_count(self.phash[c1] ^ ph[q1]), np.bitwise_count(self.dhash[c1] ^ dh[q1]))
            q1, c1 = q1[keep], c1[keep]
            q2, c2 = self._range(1, dh, DHASH_RADIUS)
            keep = _candidate(np.bitwise_count(self.phash[c2] ^ ph[q2]), np.bitwise_count(self.dhash[c2] ^ dh[q2]))
            q2, c2 = q2[keep], c2[keep]
            pairs = np.unique(np.concatenate([q1, q2]) * np.int64(self.phash.size) + np.concatenate([c1, c2]))
            self._verify_pairs(
                fps,
                np.asarray(owner),
                thumbs,
                ph,
                dh,
                pairs // self.phash.size,
                pairs % self.phash.size,
                exact,
                results,
            )
        for r in results:
            r.sort(key=lambda m: (m.stage != "exact", -m.score, m.work_id))
        return results

    def _verify_pairs(self, fps, owner, thumbs, ph, dh, q, c, exact, results) -> None:
        # Candidates are few (a 64-bit hash is a candidate generator only); verify each, keep the best
        # variant per (query, work), then drop the works each view's best outscores (VIEW_RIVAL_MARGIN).
        best: dict[tuple[int, int], tuple[float, float, int, int]] = {}  # this batch's candidates only
        in_view: dict[tuple[int, int], float] = {}  # (work, view) → its best detail there, verified
        view_best: dict[int, float] = {}
        for qpos, code in zip(q.tolist(), c.tolist()):
            qi = int(owner[qpos])
            row = int(self.work_row[code])
            if row in exact[qi]:
                continue
            key = (qi, row)
            if key in best and best[key][1] >= 0.9:
                # already verified beyond doubt through another view or variant: not verified again, but
                # it stands as this view's rival at that score (it is a candidate here too)
                view_best[qpos] = max(view_best.get(qpos, -1.0), best[key][1])
                continue
            ok, raw, detail = _verify(
                thumbs[qpos],
                np.asarray(self.thumbs[row]),
                int(self.variant[code]),
                float(self.aspect[row]),
                thumbs[qpos] is not fps[qi].thumb,
            )
            if not ok:
                continue
            view_best[qpos] = max(view_best.get(qpos, -1.0), detail)
            in_view[(row, qpos)] = max(in_view.get((row, qpos), -1.0), detail)
            if key not in best or detail > best[key][1]:
                best[key] = (raw, detail, code, qpos)
        standing = {
            (int(owner[qpos]), row)
            for (row, qpos), detail in in_view.items()
            if detail >= view_best[qpos] - VIEW_RIVAL_MARGIN
        }
        for (qi, row), (raw, detail, code, qpos) in best.items():
            if (qi, row) not in standing:
                continue
            results[qi].append(
                Match(
                    work_id=int(self.work_ids[row]),
                    score=float(min(1.0, max(0.0, detail))),
                    stage="verified",
                    evidence={
                        "variant": str(_VARIANT_NAMES[self.variant[code]]),
                        "view": "whole" if thumbs[qpos] is fps[qi].thumb else "inner",
                        "phash_distance": int(np.bitwise_count(ph[qpos] ^ self.phash[code])),
                        "dhash_distance": int(np.bitwise_count(dh[qpos] ^ self.dhash[code])),
                        "ncc": round(float(raw), 4),
                        "detail_ncc": round(float(detail), 4),
                        "iscc": str(self.iscc[row]),
                    },
                )
            )

    # --- persistence ----------------------------------------------------------------------------

    def save(self, directory: str | Path) -> list[Path]:
        """Write the shard as Parquet tables plus one .npy of thumbnails; never the images."""
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        works = pa.table(
            {
                "work_id": pa.array(self.work_ids, pa.int64()),
                "xxh3_128": pa.array([bytes(b) for b in self.xxh3_128], pa.binary(16)),
                "quality": pa.array(self.quality, pa.float32()),
                "iscc": pa.array(self.iscc.tolist(), pa.string()),
                "aspect": pa.array(self.aspect, pa.float32()),
            }
        )
        variants = pa.table(
            {
                "work_row": pa.array(self.work_row, pa.int32()),
                "variant": pa.array(self.variant, pa.uint8()),
                "phash": pa.array(self.phash, pa.uint64()),
                "dhash": pa.array(self.dhash, pa.uint64()),
            }
        )
        paths = [d / "works.parquet", d / "variants.parquet", d / "thumbs.npy", d / "meta.json"]
        pq.write_table(works, paths[0])
        pq.write_table(variants, paths[1])
        np.save(paths[2], np.ascontiguousarray(self.thumbs))
        paths[3].write_text(
            json.dumps(
                {
                    "format": _FORMAT,
                    "variants": [v.name for v in VARIANTS],
                    "thumb": VERIFY_THUMB,
                    "phash_radius": PHASH_RADIUS,
                    "dhash_radius": DHASH_RADIUS,
                    "other_hash_max": OTHER_HASH_MAX,
                    "min_quality": MIN_QUALITY,
                    "verify_min_ncc": VERIFY_MIN_NCC,
                    "verify_min_detail_ncc": VERIFY_MIN_DETAIL_NCC,
                    "works": len(self),
                    "codes": int(self.phash.size),
                },
                indent=1,
            )
            + "\n"
        )
        return paths

    @classmethod
    def load(cls, directory: str | Path, *, mmap_thumbs: bool = True) -> ImageIndex:
        d = Path(directory)
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError) as exc:
            raise ValueError(f"{d}: not an image index ({exc})") from None
        names = [v.name for v in VARIANTS]
        note = ""
        if meta.get("format") == _FORMAT_V1 and meta.get("variants") == names[:_V1_VARIANTS]:
            note = (
                f"{d}: image index format {_FORMAT_V1} (before issue 16): rotated copies are not "
                f"recognised from it; re-export the snapshot to get {_FORMAT}"
            )
            warnings.warn(note, stacklevel=2)
        elif meta.get("format") == _FORMAT_V2 and meta.get("variants") == names[:_V2_VARIANTS]:
            note = (
                f"{d}: image index format {_FORMAT_V2} (no figure variants): a figure on a plain ground "
                f"(a portrait or clip art on white) cropped, tilted or framed is not recognised from it; "
                f"re-export the snapshot to get {_FORMAT}"
            )
            warnings.warn(note, stacklevel=2)
        elif meta.get("format") != _FORMAT or meta.get("variants") != names:
            raise ValueError(
                f"{d}: image index format {meta.get('format')!r} with variants "
                f"{meta.get('variants')} does not match this code ({_FORMAT}); "
                f"re-export the snapshot with this version of fairtrain"
            )
        works = pq.ParquetFile(d / "works.parquet").read()
        variants = pq.ParquetFile(d / "variants.parquet").read()
        xxh = works.column("xxh3_128").combine_chunks()
        # binary(16) is fixed width: its data buffer is the (W, 16) byte matrix.
        xxh_bytes = (
            np.frombuffer(xxh.buffers()[1], dtype=np.uint8)[xxh.offset * 16 : (xxh.offset + len(xxh)) * 16]
            .reshape(-1, 16)
            .copy()
        )
        return cls(
            work_ids=works.column("work_id").to_numpy(),
            xxh3_128=xxh_bytes,
            quality=works.column("quality").to_numpy(),
            thumbs=np.load(d / "thumbs.npy", mmap_mode="r" if mmap_thumbs else None),
            iscc=np.asarray(works.column("iscc").to_pylist(), dtype=str),
            phash=variants.column("phash").to_numpy(),
            dhash=variants.column("dhash").to_numpy(),
            work_row=variants.column("work_row").to_numpy(),
            variant=variants.column("variant").to_numpy(),
            aspect=works.column("aspect").to_numpy() if "aspect" in works.column_names else None,
            upgrade_note=note,
        )


# Registry-side fingerprints are stored with fingerprint.codec, which builds only allow-listed types.
for _cls in (
    ImageFingerprint,
    RegisteredImage,
):
    register_type(_cls)
