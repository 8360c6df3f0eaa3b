"""Decoding, normalisation and the 64-bit perceptual hashes behind :mod:`fairtrain.core.fingerprint.image`.

Everything here works on small grey numpy arrays so that one code path serves the scan side (one image)
and the registry side (a stack of augmented variants).
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image, UnidentifiedImageError

from fairtrain.core.fingerprint import FingerprintError

try:  # HEIC/HEIF (iPhone photos): pillow-heif adds the format to Pillow's Image.open
    from pillow_heif import register_heif_opener
except ImportError:  # pragma: no cover - an installation without it reads every other format
    pass
else:
    register_heif_opener()

THUMB = 32  # pHash / ISCC Image-Code work on a 32×32 grey thumbnail
VERIFY_THUMB = 64  # registry-side thumbnail kept for the verification stage
MAX_PIXELS = 100_000_000  # decompression-bomb cap on the declared size, checked before any decoding

# How much a bar line may vary (after 64×64 area averaging, which flattens JPEG noise): a share of the
# picture's 2–98 % grey range, at least a couple of levels.
_TRIM_RELATIVE_TOLERANCE = 0.025
_TRIM_MIN_TOLERANCE = 2.0
_TRIM_MAX_SIDE = 0.25
_TRIM_GRID = 64

_EXIF_ORIENTATION = 0x0112
_TRANSPOSE_FOR_ORIENTATION = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT,),
    3: (Image.Transpose.ROTATE_180,),
    4: (Image.Transpose.FLIP_TOP_BOTTOM,),
    5: (Image.Transpose.TRANSPOSE,),
    6: (Image.Transpose.ROTATE_270,),
    7: (Image.Transpose.TRANSVERSE,),
    8: (Image.Transpose.ROTATE_90,),
}


def _dct_matrix(n: int, rows: int) -> np.ndarray:
    # Unscaled DCT-II, the same scaling as iscc-core's alg_dct and scipy's dct(norm=None)/2, so the
    # median split — and therefore every bit — equals the ISCC Image-Code.
    k = np.arange(rows)[:, None]
    x = np.arange(n)[None, :]
    return np.cos(np.pi * (2 * x + 1) * k / (2 * n))


def _area_matrix(src: int, dst: int) -> np.ndarray:
    # Exact area-average resampling weights (dst × src): the dHash grid from the 32×32 thumbnail
    # without a PIL round trip.
    edges = np.linspace(0.0, src, dst + 1)
    m = np.zeros((dst, src))
    for i in range(dst):
        lo, hi = edges[i], edges[i + 1]
        for j in range(int(math.floor(lo)), int(math.ceil(hi))):
            m[i, j] = min(hi, j + 1) - max(lo, j)
    return m / m.sum(axis=1, keepdims=True)


_DCT8 = _dct_matrix(THUMB, 8)
_DHASH_ROWS = _area_matrix(THUMB, 8)
_DHASH_COLS = _area_matrix(THUMB, 9)
_DHASH_DEAD_SHARE = 0.01
_DHASH_DEAD_MIN = 0.5
_BIT_WEIGHTS = (np.uint64(1) << np.arange(63, -1, -1, dtype=np.uint64)).astype(np.uint64)


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., 64) booleans, first = most significant → (...,) uint64."""
    return (bits.astype(np.uint64) * _BIT_WEIGHTS).sum(axis=-1, dtype=np.uint64)


def phash64(thumbs: np.ndarray) -> np.ndarray:
    """pHash of (..., 32, 32) grey thumbnails: low 8×8 DCT block against its median (= ISCC Image-Code).

    Own code rather than imagehash: only the 8 low DCT rows are computed, as two small matrix products
    (measured on a 32×32 thumbnail: 25 µs vs 57 µs for imagehash.phash; 1.7 µs per thumbnail batched
    over the registry variants), and the bits equal the ISCC Image-Code, which imagehash does not
    promise.
    """
    low = _DCT8 @ thumbs.astype(np.float64) @ _DCT8.T
    flat = low.reshape(*low.shape[:-2], 64)
    med = np.median(flat, axis=-1, keepdims=True)
    return _pack_bits(flat > med)


def dhash64(thumbs: np.ndarray) -> np.ndarray:
    """dHash of (..., 32, 32) grey thumbnails: signs of horizontal gradients on an 8×9 area-averaged grid.

    A step smaller than 1 % of the thumbnail's grey range counts as "no rise": in flat sky or background
    the plain sign is JPEG noise and flipped a third of the bits between two encodings of one picture.
    """
    grid = _DHASH_ROWS @ thumbs.astype(np.float64) @ _DHASH_COLS.T
    span = thumbs.max(axis=(-2, -1)).astype(np.float64) - thumbs.min(axis=(-2, -1))
    dead = np.maximum(_DHASH_DEAD_MIN, _DHASH_DEAD_SHARE * span)[..., None, None]
    return _pack_bits((grid[..., :, 1:] - grid[..., :, :-1] > dead).reshape(*grid.shape[:-2], 64))


def quality(thumb: np.ndarray) -> float:
    """0..100 structure score of a 32×32 thumbnail: mean absolute neighbour gradient, in grey levels ×10.

    Flat images and smooth gradients score near 0; their hashes are driven by noise and collide with
    each other, so they must not take part in perceptual matching.
    """
    t = thumb.astype(np.float32)
    grad = np.abs(np.diff(t, axis=0)).mean() + np.abs(np.diff(t, axis=1)).mean()
    return float(min(100.0, grad * 5.0))


def open_image(data: bytes, item: str, max_pixels: int) -> Image.Image:
    """Open (not decode) an image, refusing empty input, unknown formats and decompression bombs."""
    if not data:
        raise FingerprintError(item, "empty input (0 bytes)")
    try:
        # PIL may warn (DecompressionBombWarning) between its own limits; the size is judged against
        # max_pixels below. warnings.catch_warnings is not used: it is not thread-safe.
        im = Image.open(io.BytesIO(data))
    except Image.DecompressionBombError as exc:
        raise FingerprintError(item, f"decompression bomb refused: {exc}") from None
    except UnidentifiedImageError:
        raise FingerprintError(item, "unsupported or unrecognised image format") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise FingerprintError(item, f"corrupt image header: {exc}") from None
    w, h = im.size
    if w <= 0 or h <= 0:
        raise FingerprintError(item, f"image has no pixels ({w}×{h})")
    if w * h > max_pixels:
        raise FingerprintError(item, f"decompression bomb refused: {w}×{h} = {w * h} pixels exceeds the "
                                     f"cap of {max_pixels}")
    return im


def decode_grey(data: bytes, item: str, min_side: int, max_pixels: int = MAX_PIXELS
                ) -> tuple[np.ndarray, tuple[int, int]]:
    """Decode to an upright grey uint8 array whose shorter side is about ``min_side``..``2·min_side``,
    and return it with the image's declared (width, height).

    JPEGs are decoded in draft mode (libjpeg DCT scaling 1/2..1/8, greyscale output): the entropy decode
    is then the whole cost. Other formats are fully decoded and box-reduced.
    """
    im = open_image(data, item, max_pixels)
    declared = im.size
    try:
        orientation = im.getexif().get(_EXIF_ORIENTATION, 1)
    except Exception:  # a broken EXIF block must not lose an otherwise readable image
        orientation = 1
    try:
        if im.format == "JPEG":
            im.draft("L", (min_side, min_side))
        im.load()
        im = _to_grey(im)
    except Image.DecompressionBombError as exc:
        raise FingerprintError(item, f"decompression bomb refused: {exc}") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise FingerprintError(item, f"corrupt or truncated image data: {exc}") from None
    except MemoryError:
        raise FingerprintError(item, "image too large to decode in memory") from None
    factor = min(im.size) // min_side
    if factor >= 2:
        im = im.reduce(factor)
    ops = _TRANSPOSE_FOR_ORIENTATION.get(orientation, ())
    for op in ops:
        im = im.transpose(op)
    if orientation in (5, 6, 7, 8):
        declared = declared[::-1]
    return np.asarray(im, dtype=np.uint8), declared


def _to_grey(im: Image.Image) -> Image.Image:
    if getattr(im, "n_frames", 1) > 1:
        im.seek(0)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        # Transparent pixels count as white, as the ISCC normalisation does.
        rgba = im.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        canvas.alpha_composite(rgba)
        return canvas.convert("L")
    if im.mode == "L":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # Scale by the sample type's range, never by the image's own min..max: stretching would turn a
        # near-flat 16-bit image into full-range noise that passes the quality gate.
        a = np.asarray(im, dtype=np.float64)
        top = float(a.max(initial=0.0))
        if im.mode == "F" and top <= 1.0:
            scale = 255.0
        elif im.mode.startswith("I;16") or 255.0 < top <= 65535.0:
            scale = 255.0 / 65535.0
        elif top > 65535.0:
            scale = 255.0 / top
        else:
            scale = 1.0
        return Image.fromarray(np.clip(a * scale, 0, 255).astype(np.uint8))
    return im.convert("L")


def _flat_run(lines: np.ndarray, tolerance: float) -> int:
    """How many leading lines (rows of ``lines``) are one flat colour, that of the outermost line."""
    spread = lines.max(axis=1) - lines.min(axis=1)
    drift = np.abs(lines.mean(axis=1) - lines[0].mean())
    ok = (spread <= tolerance) & (drift <= tolerance)
    return int(np.argmin(ok)) if not ok.all() else int(ok.size)


def trim_borders(grey: np.ndarray) -> np.ndarray:
    """Cut flat letterbox/pillarbox bars from each side.

    Each side is judged on its own (so a quarter turn or a flip trims the same bars) on a fixed 64×64
    area-averaged grid (so a 128-px scan-side decode and a 512-px registry decode cut the same
    fractions). Only lines that are one flat colour count: a soft gradient or a textured background is
    content, and brightness or contrast edits must not move the cut. At most a quarter per side.
    """
    h, w = grey.shape
    g = _TRIM_GRID
    small = np.asarray(Image.fromarray(grey).resize((g, g), Image.Resampling.BOX), dtype=np.float32)
    cap = int(g * _TRIM_MAX_SIDE)
    # Tolerance relative to the picture's own contrast, so brightness/contrast edits cut the same lines
    # (an absolute tolerance trimmed a soft sky by different amounts and cost recall on such edits).
    lo, hi = np.percentile(small, (2, 98))
    tolerance = max(_TRIM_MIN_TOLERANCE, _TRIM_RELATIVE_TOLERANCE * float(hi - lo))
    runs = [min(cap, _flat_run(lines, tolerance)) for lines in (small, small[::-1], small.T, small.T[::-1])]
    if not any(runs):
        return grey
    top = _refine_cut(grey, runs[0], small[0].mean(), tolerance)
    bottom = _refine_cut(grey[::-1], runs[1], small[-1].mean(), tolerance)
    left = _refine_cut(grey.T, runs[2], small[:, 0].mean(), tolerance)
    right = _refine_cut(grey.T[::-1], runs[3], small[:, -1].mean(), tolerance)
    return grey[top:h - bottom, left:w - right]


def _refine_cut(lines: np.ndarray, grid_run: int, bar: float, tolerance: float) -> int:
    """Full-resolution lines to cut from the start of ``lines``: the grid run, then onwards through the
    grid cell where the bar ends, as long as lines still have the bar's colour."""
    if grid_run == 0:
        return 0
    n = lines.shape[0]
    cut = (grid_run * n) // _TRIM_GRID
    stop = min(n, -((-(grid_run + 1) * n) // _TRIM_GRID))
    band = lines[cut:stop].astype(np.float32)
    if band.size:
        same = np.abs(band - bar).max(axis=1) <= 2 * tolerance
        cut += int(np.argmin(same)) if not same.all() else int(same.size)
    return cut


def thumbnail(grey: np.ndarray, size: int = THUMB, box: tuple[float, float, float, float] | None = None
              ) -> np.ndarray:
    """Bicubic resize of (a box of) a grey array to size×size, aspect ratio deliberately not kept."""
    im = Image.fromarray(grey)
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equally shaped arrays (−1..1); 0 when either is flat."""
    x = a.astype(np.float64).ravel()
    y = b.astype(np.float64).ravel()
    x -= x.mean()
    y -= y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / den if den > 0 else 0.0
