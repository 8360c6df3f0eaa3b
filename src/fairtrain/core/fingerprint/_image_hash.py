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
_TRIM_LO, _TRIM_HI = round(0.02 * (_TRIM_GRID**2 - 1)), round(0.98 * (_TRIM_GRID**2 - 1))
_TRIM_MAX_TOLERANCE = max(_TRIM_MIN_TOLERANCE, _TRIM_RELATIVE_TOLERANCE * 255)  # the widest grey range

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


def _pack_bits(bits: np.ndarray) -> np.ndarray:
    """(..., 64) booleans, first = most significant → (...,) uint64."""
    packed = np.packbits(bits, axis=-1)  # (..., 8) bytes, first bit the most significant
    return np.ascontiguousarray(packed).view(">u8")[..., 0].astype(np.uint64)


def phash64(thumbs: np.ndarray) -> np.ndarray:
    """pHash of (..., 32, 32) grey thumbnails: low 8×8 DCT block against its median (= ISCC Image-Code).

    Own code rather than imagehash: only the 8 low DCT rows are computed, as two small matrix products
    (measured on a 32×32 thumbnail: 25 µs vs 57 µs for imagehash.phash; 1.7 µs per thumbnail batched
    over the registry variants), and the bits equal the ISCC Image-Code, which imagehash does not
    promise.
    """
    low = _DCT8 @ thumbs.astype(np.float64) @ _DCT8.T
    flat = low.reshape(*low.shape[:-2], 64)
    # The median of 64 values: the mean of the 32nd and 33rd smallest (what np.median computes, without
    # its overhead).
    mid = np.partition(flat, (31, 32), axis=-1)[..., 31:33]
    med = (mid[..., :1] + mid[..., 1:]) / 2
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
    return float(qualities(thumb[None])[0])


def qualities(thumbs: np.ndarray) -> np.ndarray:
    """:func:`quality` of each of a (N, 32, 32) stack at once (float32)."""
    t = thumbs.astype(np.int16)
    _, h, w = t.shape
    # Integer sums of the absolute steps, divided in float32: the float32 means of those steps exactly
    # (sums of bytes stay far below 2**24), without their float copies.
    rows = np.abs(t[:, 1:] - t[:, :-1]).sum(axis=(1, 2)).astype(np.float32) / np.float32((h - 1) * w)
    cols = np.abs(t[:, :, 1:] - t[:, :, :-1]).sum(axis=(1, 2)).astype(np.float32) / np.float32(h * (w - 1))
    return np.minimum(np.float32(100.0), (rows + cols) * np.float32(5.0))


def edge_concentrations(thumbs: np.ndarray) -> np.ndarray:
    """Share of each (N, 32, 32) thumbnail's neighbour steps (the sum :func:`qualities` averages) held by
    its strongest tenth of steps: near 1 when its whole structure is one or two straight edges on flat
    ground (a block of a flat-coloured layout), 0.2–0.4 for photographs and textures."""
    t = thumbs.astype(np.int16)
    n = len(t)
    steps = np.concatenate(
        [np.abs(t[:, 1:] - t[:, :-1]).reshape(n, -1), np.abs(t[:, :, 1:] - t[:, :, :-1]).reshape(n, -1)], 1
    )
    k = steps.shape[1] // 10
    top = np.partition(steps, steps.shape[1] - k, axis=1)[:, -k:].sum(axis=1, dtype=np.int64)
    return (top / np.maximum(1, steps.sum(axis=1, dtype=np.int64))).astype(np.float32)


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
        raise FingerprintError(
            item, f"decompression bomb refused: {w}×{h} = {w * h} pixels exceeds the cap of {max_pixels}"
        )
    return im


def decode_grey(
    data: bytes, item: str, min_side: int, max_pixels: int = MAX_PIXELS
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


def _flat_runs(grid: np.ndarray, tolerance: float) -> list[int]:
    """How many lines from the top, bottom, left and right of the uint8 trim grid are one flat colour,
    that of the outermost line (per-row and per-column statistics computed once for all four sides)."""
    out = []
    for axis in (1, 0):
        spread = grid.max(axis=axis) - grid.min(axis=axis)  # uint8: max ≥ min, no overflow
        # The sum of at most 64 bytes is exact in float32 and so is its division by 64: the mean.
        mean = grid.sum(axis=axis, dtype=np.float32) / np.float32(grid.shape[axis])
        narrow = spread <= tolerance
        for first in (0, -1):
            ok = narrow & (np.abs(mean - mean[first]) <= tolerance)
            if first:
                ok = ok[::-1]
            stop = int(ok.argmin())
            out.append(stop if stop or not ok[0] else int(ok.size))
    return out


def trim_borders(grey: np.ndarray) -> np.ndarray:
    """Cut flat letterbox/pillarbox bars from each side.

    Each side is judged on its own (so a quarter turn or a flip trims the same bars) on a fixed 64×64
    area-averaged grid (so a 128-px scan-side decode and a 512-px registry decode cut the same
    fractions). Only lines that are one flat colour count: a soft gradient or a textured background is
    content, and brightness or contrast edits must not move the cut. At most a quarter per side.
    """
    h, w = grey.shape
    g = _TRIM_GRID
    grid = np.asarray(Image.fromarray(grey).resize((g, g), Image.Resampling.BOX), dtype=np.uint8)
    # A side is trimmed only if its outermost line is flat. The tolerance below is at most
    # _TRIM_MAX_TOLERANCE: four edge lines that vary more than that end it before any statistics (most
    # photographs stop here).
    edges = (grid[0], grid[-1], grid[:, 0], grid[:, -1])
    spreads = [int(e.max()) - int(e.min()) for e in edges]
    if min(spreads) > _TRIM_MAX_TOLERANCE:
        return grey
    cap = int(g * _TRIM_MAX_SIDE)
    # Tolerance relative to the picture's own contrast, so brightness/contrast edits cut the same lines
    # (an absolute tolerance trimmed a soft sky by different amounts and cost recall on such edits).
    # 2nd and 98th percentiles of the 8-bit grid from its histogram (the same values as a partition).
    cum = np.cumsum(np.bincount(grid.ravel(), minlength=256))
    lo, hi = np.searchsorted(cum, (_TRIM_LO, _TRIM_HI), side="right")
    tolerance = max(_TRIM_MIN_TOLERANCE, _TRIM_RELATIVE_TOLERANCE * float(hi - lo))
    if min(spreads) > tolerance:
        return grey
    runs = [min(cap, r) for r in _flat_runs(grid, tolerance)]
    if not any(runs):
        return grey
    # Each bar's grey level: the mean of its outermost grid line (exact: at most 64 bytes summed).
    bars = [float(e.sum(dtype=np.int64)) / e.size for e in edges]
    top = _refine_cut(grey, runs[0], bars[0], tolerance)
    bottom = _refine_cut(grey[::-1], runs[1], bars[1], tolerance)
    left = _refine_cut(grey.T, runs[2], bars[2], tolerance)
    right = _refine_cut(grey.T[::-1], runs[3], bars[3], tolerance)
    return grey[top : h - bottom, left : w - right]


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


def thumbnail(
    grey: np.ndarray | Image.Image, size: int = THUMB, box: tuple[float, float, float, float] | None = None
) -> np.ndarray:
    """Bicubic resize of (a box of) a grey array (or PIL image) to size×size, aspect ratio deliberately
    not kept."""
    im = grey if isinstance(grey, Image.Image) else Image.fromarray(grey)
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)


def ncc(a: np.ndarray, b: np.ndarray) -> float:
    """Normalised cross-correlation of two equally shaped arrays (−1..1); 0 when either is flat."""
    x = a.astype(np.float64).ravel()
    y = b.astype(np.float64).ravel()
    x -= x.mean()
    y -= y.mean()
    den = math.sqrt(float(x @ x) * float(y @ y))
    return float(x @ y) / den if den > 0 else 0.0


# --- part of a larger picture: rectangles bounded by straight edges ---------------------------------
# A screenshot, a social-media frame, a collage or a letterbox with a blurred background shows the work as
# an axis-aligned rectangle whose sides are long straight steps in brightness. Natural content rarely has
# a step that stays on one pixel column (or row) over a long run, so columns/rows where many pixels step
# more than their neighbours two pixels away are the candidate sides.

_WINDOW_MIN_AREA = 0.22  # the work down to a third of the picture, with slack for bars inside the window
_WINDOW_MAX_AREA = 0.97
_WINDOW_MIN_SUPPORT = 0.5  # share of a side's length that must be a straight step
_WINDOW_LINES = 5  # candidate lines per axis, besides the picture's own edges
_WINDOW_LINE_MIN = 0.2  # a candidate line is a straight step over ≥ 20 % of the picture's side


def _steps(g: np.ndarray) -> np.ndarray:
    """(H, W-1) booleans: the step between columns x and x+1 is large and larger than the steps two
    columns away (a line, not a textured or blurred region). The two outermost steps each side are
    never lines (their neighbours are not known)."""
    g = np.ascontiguousarray(g)
    a, b = g[:, 1:], g[:, :-1]
    d = np.maximum(a, b) - np.minimum(a, b)  # |step| in uint8, without a widening copy
    flat = d[::3, ::3].ravel()  # a ninth of the steps estimate the 90th percentile well enough
    k = int(flat.size * 0.9)
    # The k-th smallest step (what a partition gives) from the bytes' histogram: the first level whose
    # running count passes k.
    thr = max(6, int(np.searchsorted(np.cumsum(np.bincount(flat, minlength=256)), k, side="right")))
    out = np.zeros(d.shape, dtype=bool)
    mid = d[:, 2:-2]
    # mid > thr and mid - max(neighbours) > thr; the second implies the first, and mid - thr only wraps
    # around where the first is false.
    out[:, 2:-2] = (mid > thr) & (np.subtract(mid, thr, dtype=np.uint8) > np.maximum(d[:, :-4], d[:, 4:]))
    return out


def _line_candidates(steps: np.ndarray) -> list[int]:
    profile = steps.sum(axis=0) / max(1, steps.shape[0])  # = steps.mean(axis=0), without its overhead
    if not profile.size or profile.max() < _WINDOW_LINE_MIN:
        return []  # the usual photograph: no straight step anywhere, decided without a sort
    order = np.argsort(-profile, kind="stable")[: 4 * _WINDOW_LINES]
    out: list[int] = []
    for i, share in zip(order.tolist(), profile[order].tolist()):
        if share < _WINDOW_LINE_MIN:
            break
        if all(abs(i - j) > 2 for j in out):
            out.append(i)
        if len(out) >= _WINDOW_LINES:
            break
    return out


def _spans_side(steps: np.ndarray, lines: list[int]) -> bool:
    """Whether any candidate line (a step column, as :func:`_line_candidates` gives it) is a step over
    at least _WINDOW_MIN_SUPPORT of the whole column: :func:`_support` over the full span, best of the
    line's three columns."""
    n = steps.shape[0]
    for c in lines:
        if int(steps[:, max(0, c - 1) : c + 2].sum(axis=0).max()) / n >= _WINDOW_MIN_SUPPORT:
            return True
    return False


def _support(steps: np.ndarray, lines: list[int], n: int, spans: np.ndarray) -> np.ndarray:
    """(len(lines), len(spans)) share of each span [a, b) along which boundary ``line`` is a step
    (best of the step column and its two neighbours); 1 for the picture's own edges."""
    out = np.ones((len(lines), len(spans)))
    inner = [(i, line) for i, line in enumerate(lines) if 0 < line < n]
    if not inner:
        return out
    # Running sums of the step columns next to the inner lines only (not of the whole step map).
    width = steps.shape[1]
    cols = [[c for c in (line - 2, line - 1, line) if 0 <= c < width] for _, line in inner]
    flat_cols = [c for group in cols for c in group]
    csum = np.zeros((steps.shape[0] + 1, len(flat_cols)), dtype=np.int32)
    np.cumsum(steps[:, flat_cols], axis=0, out=csum[1:])
    sums = csum[spans[:, 1]] - csum[spans[:, 0]]  # (len(spans), len(flat_cols))
    length = np.maximum(1, spans[:, 1] - spans[:, 0])
    if len(flat_cols) == 3 * len(inner):  # the usual case: three columns a line, one reduction for all
        best = sums.reshape(len(spans), len(inner), 3).max(axis=2) / length[:, None]
        out[[i for i, _ in inner]] = best.T
        return out
    at = 0
    for (i, _), group in zip(inner, cols):
        out[i] = sums[:, at : at + len(group)].max(axis=1) / length
        at += len(group)
    return out


def find_windows(grey: np.ndarray, max_windows: int = 6) -> list[tuple[int, int, int, int]]:
    """Up to ``max_windows`` boxes (x0, y0, x1, y1) in ``grey`` that look like a picture inside the
    picture: every side a straight step (or the picture's own edge), a quarter to all but a sliver of the
    area. Best first: most sides on real steps, then the strongest steps, then the largest."""
    h, w = grey.shape
    if h < 24 or w < 24:
        return []
    v_steps, h_steps = _steps(grey), _steps(grey.T)
    x_lines, y_lines = _line_candidates(v_steps), _line_candidates(h_steps)
    if not x_lines and not y_lines:
        return []
    # Lines along one axis only: every window spans the whole picture the other way, so a line is one of
    # its sides only if it is a step over at least _WINDOW_MIN_SUPPORT of the picture's whole side.
    if not y_lines and not _spans_side(v_steps, x_lines):
        return []
    if not x_lines and not _spans_side(h_steps, y_lines):
        return []
    xs = sorted({0, w, *(x + 1 for x in x_lines)})
    ys = sorted({0, h, *(y + 1 for y in y_lines)})
    # Spans [xs[i], xs[j]) for i < j (P of them) and [ys[i], ys[j]) (Q); a span end is a real line unless
    # it is the picture's own edge (the first or last entry).
    xa, xb = (np.asarray(k) for k in zip(*((i, j) for i in range(len(xs)) for j in range(i + 1, len(xs)))))
    ya, yb = (np.asarray(k) for k in zip(*((i, j) for i in range(len(ys)) for j in range(i + 1, len(ys)))))
    x_arr, y_arr = np.asarray(xs), np.asarray(ys)
    x_spans, y_spans = np.stack([x_arr[xa], x_arr[xb]], axis=1), np.stack([y_arr[ya], y_arr[yb]], axis=1)
    v_sup = _support(v_steps, xs, w, y_spans)  # (len(xs), len(y_spans)); 1 on the picture's edges
    h_sup = _support(h_steps, ys, h, x_spans)  # (len(ys), len(x_spans))
    # (P x-spans, Q y-spans) tables of each side's support and whether it is a real line
    sides = (v_sup[xa], v_sup[xb], h_sup[ya].T, h_sup[yb].T)
    real = ((xa > 0)[:, None], (xb < len(xs) - 1)[:, None], (ya > 0)[None, :], (yb < len(ys) - 1)[None, :])
    area = ((x_spans[:, 1] - x_spans[:, 0])[:, None] * (y_spans[:, 1] - y_spans[:, 0])[None, :]) / (w * h)
    # An edge of the picture has support 1, so the weakest side is the weakest of all four.
    weakest = np.minimum(np.minimum(sides[0], sides[1]), np.minimum(sides[2], sides[3]))
    n_real = (real[0].astype(np.int8) + real[1]) + (real[2].astype(np.int8) + real[3])
    ok = (area >= _WINDOW_MIN_AREA) & (area <= _WINDOW_MAX_AREA) & (n_real > 0) & (weakest >= _WINDOW_MIN_SUPPORT)
    pi, qi = np.nonzero(ok)
    if not pi.size:
        return []
    score = (
        np.where(real[0], sides[0], 0.0)
        + np.where(real[1], sides[1], 0.0)
        + np.where(real[2], sides[2], 0.0)
        + np.where(real[3], sides[3], 0.0)
    )
    order = np.lexsort((-area[pi, qi], -score[pi, qi]))[:max_windows]
    return [
        (int(x_spans[pi[k], 0]), int(y_spans[qi[k], 0]), int(x_spans[pi[k], 1]), int(y_spans[qi[k], 1])) for k in order
    ]


def inscribed_scale(width: float, height: float, degrees: float) -> float:
    """Scale of the largest centred rectangle of the same aspect inside a ``width``×``height`` picture
    rotated by ``degrees``: what a "straighten" tool keeps."""
    t = math.radians(abs(degrees))
    c, s = math.cos(t), math.sin(t)
    return min(width / (width * c + height * s), height / (width * s + height * c))


def rotated_view(grey: np.ndarray, degrees: float, aspect: float, size: int = THUMB) -> np.ndarray:
    """The size×size thumbnail of ``grey`` (a picture of width/height ``aspect``, possibly squashed to a
    square) rotated by ``degrees`` and cropped to the inscribed rectangle."""
    h, w = grey.shape
    side = max(h, w)
    uw, uh = (side, max(1, round(side / aspect))) if aspect >= 1 else (max(1, round(side * aspect)), side)
    im = Image.fromarray(grey)
    if (uw, uh) != (w, h):
        im = im.resize((uw, uh), Image.Resampling.BILINEAR)
    im = im.rotate(degrees, Image.Resampling.BILINEAR)
    k = inscribed_scale(uw, uh, degrees)
    cw, ch = uw * k, uh * k
    box = ((uw - cw) / 2, (uh - ch) / 2, (uw + cw) / 2, (uh + ch) / 2)
    return np.asarray(im.resize((size, size), Image.Resampling.BICUBIC, box=box), dtype=np.uint8)


_CORNER = 3
_CORNER_TOLERANCE = 6.0


def filled_corners_angle(grey: np.ndarray) -> float | None:
    """The tilt of a picture rotated inside its own frame, judged from the flat triangles a rotation
    leaves in the four corners (all one colour, black or white or any), or None where the corners are
    picture. The angle's sign is not known from the corners alone; its size is."""
    h, w = grey.shape
    if h < 24 or w < 24:
        return None
    corners = (int(grey[0, 0]), int(grey[0, -1]), int(grey[-1, 0]), int(grey[-1, -1]))
    if max(corners) - min(corners) > _CORNER_TOLERANCE:
        return None  # the usual case, decided on four pixels
    c = _CORNER
    patches = np.stack([grey[:c, :c], grey[:c, -c:], grey[-c:, :c], grey[-c:, -c:]]).reshape(4, c * c)
    means = patches.mean(axis=1)
    if float(means.max() - means.min()) > _CORNER_TOLERANCE or float(patches.std(axis=1).max()) > 3.0:
        return None
    fill = float(means.sum()) / 4
    near = []
    for line in (grey[0], grey[-1], grey[:, 0], grey[:, -1]):
        near.append(flat := np.abs(line.astype(np.float32) - fill) <= 2 * _CORNER_TOLERANCE)
        if flat.all():
            return None  # a flat bar along a whole side, not a corner triangle: trim_borders' business
    top, bottom, left, right = near

    def run(line: np.ndarray) -> int:
        return int(line.argmin())  # the first pixel off the fill colour (every line has one)

    # Each corner's triangle has one leg along the row and one along the column; tan θ = short / long.
    # A rotation leaves equal triangles in opposite corners; the biggest triangle measures best.
    legs = [
        (run(top), run(left)),
        (run(bottom[::-1]), run(right[::-1])),  # top-left, bottom-right
        (run(top[::-1]), run(right)),
        (run(bottom), run(left[::-1])),
    ]  # top-right, bottom-left
    best = max(range(4), key=lambda i: legs[i][0] * legs[i][1])
    (a, b), (a2, b2) = legs[best], legs[best ^ 1]
    if a * b < 0.002 * h * w or abs(a - a2) > 0.3 * max(a, a2) or abs(b - b2) > 0.3 * max(b, b2):
        return None  # no triangle, or not the twin triangles a rotation leaves
    t = math.degrees(math.atan2(min(a, b), max(a, b)))
    return t if 0.5 <= t <= 15 else None


_SEGMENT_MIN_SIDE = 0.15  # a segment narrower/lower than this share of the picture is text or a bar
_SEGMENT_MAX = 3


def _runs(flat: np.ndarray, n: int) -> list[tuple[int, int]]:
    """Maximal runs [a, b) of non-flat lines at least _SEGMENT_MIN_SIDE of ``n`` long."""
    edges = np.flatnonzero(np.diff(np.concatenate(([1], flat.astype(np.int8), [1]))))
    pairs = edges.reshape(-1, 2)
    return [(int(a), int(b)) for a, b in pairs if b - a >= _SEGMENT_MIN_SIDE * n]


def flat_cut_segments(grey: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1) of the blocks a layout separates with flat bands: the picture between the
    text blocks of a screenshot or a post, the cells of a collage with gutters (one XY cut: rows, then
    columns within each row block). Largest first, at most _SEGMENT_MAX; [] when nothing is cut."""
    h, w = grey.shape
    if h < 24 or w < 24:
        return []
    row_max, row_min = grey.max(axis=1), grey.min(axis=1)  # uint8: max ≥ min, no overflow
    tol = max(_TRIM_MIN_TOLERANCE, _TRIM_RELATIVE_TOLERANCE * (int(row_max.max()) - int(row_min.min())))
    row_flat = (row_max - row_min) <= tol
    if not row_flat.any() and not ((grey.max(axis=0) - grey.min(axis=0)) <= tol).any():
        return []  # no flat row or column: nothing to cut (the usual photograph)
    boxes = []
    for y0, y1 in _runs(row_flat, h):
        band = grey[y0:y1]
        col_flat = (band.max(axis=0) - band.min(axis=0)) <= tol
        for x0, x1 in _runs(col_flat, w):
            boxes.append((x0, y0, x1, y1))
    boxes = [b for b in boxes if (b[2] - b[0]) * (b[3] - b[1]) < 0.9 * h * w]
    boxes.sort(key=lambda b: -(b[2] - b[0]) * (b[3] - b[1]))
    return boxes[:_SEGMENT_MAX]


# --- a figure on a plain ground: its bounding box -----------------------------------------------------
# A portrait or a clip-art figure on white (or any flat ground) loses or gains ground under a crop, a tilt
# with filled corners, a letterbox: the ground is not the work, the figure is. trim_borders stops at a
# quarter of each side (a photograph's flat sky is content), so a figure with wide ground on a side keeps
# a share of it that depends on the edit. The figure's own box, judged on a fixed 64×64 grid so that every
# decode size and the registry's 64×64 thumbnail find the same fractions, is the same under those edits.
_FIGURE_GRID = 64
_FIGURE_GROUND_SHARE = 0.5  # of the frame's outermost cells within _FIGURE_GROUND_TOLERANCE of the ground
# A plain ground is flat: white or one colour, JPEG noise flattened by the grid's averaging (a smooth
# wallpaper's gradient frame is not a ground: with 20 levels here, 35 of 40 corpus pictures had a "figure").
_FIGURE_GROUND_TOLERANCE = 6.0
_FIGURE_TOLERANCE = 20.0  # grey levels off the ground (after 64×64 area averaging: JPEG noise flattened)
_FIGURE_MIN_CELLS = 2  # a line holds figure when this many of its cells are off the ground
_FIGURE_GAP = 2  # lines of ground that separate two parts (a sticker beside the figure)
_FIGURE_MIN_SIDE = 0.2


def _figure_span(counts: np.ndarray) -> tuple[int, int] | None:
    """The run [a, b) of lines holding the most figure cells, runs split by _FIGURE_GAP lines of ground."""
    idx = np.flatnonzero(counts >= _FIGURE_MIN_CELLS)
    if not idx.size:
        return None
    gaps = np.flatnonzero(np.diff(idx) > _FIGURE_GAP)
    if not gaps.size:
        return int(idx[0]), int(idx[-1]) + 1
    starts = np.concatenate((idx[:1], idx[gaps + 1]))
    ends = np.concatenate((idx[gaps], idx[-1:])) + 1
    cum = np.concatenate(([0], np.cumsum(counts)))
    k = int(np.argmax(cum[ends] - cum[starts]))
    return int(starts[k]), int(ends[k])


def _median_u8(values: np.ndarray) -> int:
    """The (lower) median of uint8 values, from their histogram."""
    cum = np.cumsum(np.bincount(values, minlength=256))
    return int(np.searchsorted(cum, (values.size + 1) // 2))


def figure_box(
    grey: np.ndarray, picture: Image.Image | None = None, grid: np.ndarray | None = None
) -> tuple[float, float, float, float] | None:
    """(x0, y0, x1, y1) in fractions of ``grey`` (a uint8 array; ``picture``, the same as a PIL image where
    the caller has one) of the figure on a plain ground, or None where the picture has no plain ground
    around at least half its frame (the box may be the whole frame: a figure that trim_borders already cut
    to still differs from it once tilted over its ground). ``grid``: the picture's 64×64 thumbnail where the
    caller has one (the scan and registry sides both pass theirs: the same fractions on both)."""
    if grid is not None:
        return _figure_box_on(np.asarray(grid, dtype=np.uint8))
    a = np.asarray(grey, dtype=np.uint8)
    if a.ndim != 2 or min(a.shape) < 8:
        return None
    # First on the picture's own outermost lines, a few hundred pixels: most pictures stop here.
    edge = np.concatenate([a[0], a[-1], a[1:-1, 0], a[1:-1, -1]])
    ground = _median_u8(edge)
    if (
        np.count_nonzero(np.abs(edge.astype(np.int16) - ground) <= 2 * _FIGURE_TOLERANCE)
        < _FIGURE_GROUND_SHARE * edge.size
    ):
        return None
    im = picture if picture is not None else Image.fromarray(a)
    return _figure_box_on(np.asarray(im.resize((_FIGURE_GRID, _FIGURE_GRID), Image.Resampling.BOX), dtype=np.uint8))


def _figure_box_on(cells: np.ndarray) -> tuple[float, float, float, float] | None:
    g = cells.shape[0]
    frame = np.concatenate([cells[0], cells[-1], cells[1:-1, 0], cells[1:-1, -1]])
    ground = _median_u8(frame)
    if (
        np.count_nonzero(np.abs(frame.astype(np.int16) - ground) <= _FIGURE_GROUND_TOLERANCE)
        < _FIGURE_GROUND_SHARE * frame.size
    ):
        return None
    off = np.abs(cells.astype(np.int16) - ground) > _FIGURE_TOLERANCE
    rows = _figure_span(off.sum(axis=1))
    if rows is None:
        return None
    cols = _figure_span(off[rows[0] : rows[1]].sum(axis=0))
    if cols is None:
        return None
    (y0, y1), (x0, x1) = rows, cols
    w, h = (x1 - x0) / g, (y1 - y0) / g
    if min(w, h) < _FIGURE_MIN_SIDE:
        return None
    return x0 / g, y0 / g, x1 / g, y1 / g
