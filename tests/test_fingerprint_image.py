"""Image fingerprints and their index.

Registered work: a real photo from the Debian package ``mate-backgrounds`` (LadyBird.jpg); unrelated
images: the package's other nature photos, real MNIST PNGs from shared/testdata and seeded synthetic
scenes. shared/testdata/c2pa/C.jpg (a smooth colour gradient, not a photo) serves the ISCC, exact-stage
and bad-input tests. Every edited copy is a real file written by Pillow.
"""

from __future__ import annotations

import io
import struct
import sys
import tarfile
import zlib
from pathlib import Path

import iscc_core
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

from conftest import TESTDATA
from fairtrain.core.fingerprint import FingerprintError
from fairtrain.core.fingerprint import image as image_module
from fairtrain.core.fingerprint._image_hash import figure_box
from fairtrain.core.fingerprint._image_mih import MultiIndexHash, flat_range
from fairtrain.core.fingerprint.image import (
    _PLAIN_VARIANTS,
    OTHER_HASH_MAX,
    PHASH_RADIUS,
    VARIANTS,
    ImageFingerprint,
    ImageIndex,
    ImageIndexBuilder,
    fingerprint_image,
    fingerprint_images,
    register_image,
)


def _testdata() -> Path:
    return TESTDATA


NATURE = Path("/usr/share/backgrounds/mate/nature")


@pytest.fixture(scope="module")
def photo_bytes() -> bytes:
    """A smooth gradient JPEG from shared/testdata (kept in the repo's shared data, no package needed)."""
    return (_testdata() / "c2pa" / "C.jpg").read_bytes()


def _nature(name: str) -> Image.Image:
    path = NATURE / name
    if not path.exists():
        pytest.fail(
            "real photos come from the Debian package mate-backgrounds (apt-get install mate-backgrounds; .ci/run does)"
        )
    im = Image.open(path)
    im.draft("RGB", (1024, 1024))
    im = im.convert("RGB")
    im.thumbnail((1024, 1024))
    return im


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    return _nature("LadyBird.jpg")


@pytest.fixture(scope="module")
def other_photos() -> list[Image.Image]:
    return [
        _nature(n)
        for n in (
            "Aqua.jpg",
            "FreshFlower.jpg",
            "Garden.jpg",
            "GreenMeadow.jpg",
            "Storm.jpg",
            "TwoWings.jpg",
            "YellowFlower.jpg",
            "RainDrops.jpg",
            "Dune.jpg",
        )
    ]


def _jpeg(im: Image.Image, q: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def _scene(seed: int, size=(640, 480)) -> Image.Image:
    """A structured synthetic picture: smooth colour field plus random shapes."""
    rng = np.random.default_rng(seed)
    field = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    im = Image.fromarray(field).resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(im)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, size[0])), int(rng.integers(0, size[1]))
        x1, y1 = x0 + int(rng.integers(20, 200)), y0 + int(rng.integers(20, 200))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x0, y0, x1, y1), fill=colour)
    return im


@pytest.fixture(scope="module")
def mnist_pngs() -> list[bytes]:
    with tarfile.open(_testdata() / "datasets" / "webdataset" / "sample.tgz") as tar:
        return [tar.extractfile(m).read() for m in tar.getmembers() if m.name.endswith(".png")][:30]


@pytest.fixture(scope="module")
def index(photo) -> ImageIndex:
    builder = ImageIndexBuilder()
    builder.add(1, register_image(_jpeg(photo, 95), "photo"))
    for seed in range(2, 8):
        builder.add(seed, register_image(_png(_scene(seed)), f"scene{seed}"))
    return builder.build()


def _crop(im, l, t, r, b):
    w, h = im.size
    return im.crop((int(l * w), int(t * h), int(w - r * w), int(h - b * h)))


EDITS = {
    "jpeg_q30": lambda im: _jpeg(im, 30),
    "resize_50": lambda im: _jpeg(im.resize((im.width // 2, im.height // 2)), 85),
    "resize_200_png": lambda im: _png(im.resize((im.width * 2, im.height * 2))),
    "colour_edit": lambda im: _jpeg(ImageEnhance.Color(ImageEnhance.Brightness(im).enhance(1.2)).enhance(1.5)),
    "contrast": lambda im: _jpeg(ImageEnhance.Contrast(im).enhance(0.7)),
    "greyscale": lambda im: _jpeg(im.convert("L")),
    "crop_10_each_side": lambda im: _jpeg(_crop(im, 0.1, 0.1, 0.1, 0.1)),
    "crop_20_one_side": lambda im: _jpeg(_crop(im, 0, 0, 0.2, 0)),
    "crop_5_each_side": lambda im: _jpeg(_crop(im, 0.05, 0.05, 0.05, 0.05)),
    "flip": lambda im: _jpeg(im.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    "rotate_90": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_90)),
    "rotate_270": lambda im: _jpeg(im.transpose(Image.Transpose.ROTATE_270)),
}


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_edited_copy_matches_its_work_only(index, photo, edit):
    fp = fingerprint_image(EDITS[edit](photo), f"query/{edit}")
    [matches] = index.match([fp])
    assert [m.work_id for m in matches] == [1], matches
    m = matches[0]
    assert m.stage == "verified"
    assert 0.3 <= m.score <= 1.0 and m.evidence["ncc"] >= 0.5
    assert m.evidence["variant"] in {v.name for v in VARIANTS}
    p, d = m.evidence["phash_distance"], m.evidence["dhash_distance"]
    assert max(p, d) <= OTHER_HASH_MAX and min(p, d) <= PHASH_RADIUS
    assert m.evidence["iscc"].startswith("ISCC:")


def test_geometric_edits_match_through_their_variant(index, photo):
    flip = index.match([fingerprint_image(EDITS["flip"](photo))])[0][0]
    rot = index.match([fingerprint_image(EDITS["rotate_90"](photo))])[0][0]
    assert flip.evidence["variant"] == "flip_h"
    assert rot.evidence["variant"] == "rot90"


def test_identical_bytes_match_at_the_exact_stage(index, photo):
    data = _jpeg(photo, 95)
    [matches] = index.match([fingerprint_image(data, "rehosted")])
    assert matches[0].work_id == 1 and matches[0].stage == "exact" and matches[0].score == 1.0
    assert [m.work_id for m in matches] == [1]  # the perceptual stage does not report it a second time


def test_unrelated_images_do_not_match(index, mnist_pngs, other_photos):
    fps = [fingerprint_image(_png(_scene(seed)), f"scene{seed}") for seed in range(100, 130)]
    for i, im in enumerate(other_photos):
        fps += [
            fingerprint_image(_jpeg(im, 80), f"photo{i}"),
            fingerprint_image(_jpeg(im.transpose(Image.Transpose.ROTATE_90), 80), f"photo{i}/rot90"),
            fingerprint_image(_jpeg(_crop(im, 0.1, 0.1, 0.1, 0.1), 80), f"photo{i}/crop"),
        ]
    fps += [fingerprint_image(p, f"mnist{i}") for i, p in enumerate(mnist_pngs)]
    results = index.match(fps)
    assert len(results) == len(fps)
    assert all(r == [] for r in results), [(fp.item, r) for fp, r in zip(fps, results) if r]


def test_registered_scenes_match_themselves_after_recompression(index):
    fps = [fingerprint_image(_jpeg(_scene(seed), 60), f"scene{seed}") for seed in range(2, 8)]
    assert [[m.work_id for m in r] for r in index.match(fps)] == [[s] for s in range(2, 8)]


def test_flat_images_are_gated_and_only_match_exactly():
    grey = _png(Image.new("L", (400, 300), 128))
    reg = register_image(grey, "flat")
    assert reg.low_quality
    builder = ImageIndexBuilder()
    builder.add(9, reg)
    index = builder.build()
    assert index.phash.size == 0  # no perceptual codes for a flat work
    other_grey = fingerprint_image(_jpeg(Image.new("RGB", (800, 600), (120, 120, 120))), "other grey")
    white = fingerprint_image(_png(Image.new("L", (64, 64), 255)), "white")
    assert other_grey.low_quality and white.low_quality
    assert index.match([other_grey, white]) == [[], []]
    # The honest exception: the very same bytes are the same file.
    [exact] = index.match([fingerprint_image(grey, "copy")])
    assert [(m.work_id, m.stage) for m in exact] == [(9, "exact")]


def test_flat_query_never_matches_a_textured_work(index):
    flat = fingerprint_image(_jpeg(Image.new("RGB", (500, 500), (30, 60, 90))), "flat")
    assert flat.low_quality
    assert index.match([flat]) == [[]]


def test_smooth_gradient_matches_its_own_work_or_nothing(photo_bytes, index):
    # C.jpg is a smooth gradient: many of its DCT coefficients sit at the median, so its pHash is unstable
    # and edited copies may be missed; they must never be taken for another work.
    gradient = Image.open(io.BytesIO(photo_bytes)).convert("RGB")
    builder = ImageIndexBuilder()
    builder.add(21, register_image(photo_bytes, "C.jpg"))
    own = builder.build()
    edits = [fingerprint_image(f(gradient), name) for name, f in EDITS.items()]
    assert all(m.work_id == 21 for r in own.match(edits) for m in r)
    assert index.match(edits) == [[] for _ in edits]


def test_phash_is_the_iscc_image_code(photo_bytes):
    fp = fingerprint_image(photo_bytes, "C.jpg")
    expected = iscc_core.gen_image_code_v0(fp.thumb.ravel().tolist(), bits=64)["iscc"]
    assert fp.iscc == expected
    reg = register_image(photo_bytes, "C.jpg")
    assert reg.iscc.startswith("ISCC:EE")
    # Draft (1/8) versus fuller decode drifts a few bits; the original stays a candidate.
    assert (
        min(
            int(np.bitwise_count(reg.phashes[0] ^ np.uint64(fp.phash))),
            int(np.bitwise_count(reg.dhashes[0] ^ np.uint64(fp.dhash))),
        )
        <= 8
    )


def test_fingerprint_fields(photo_bytes):
    fp = fingerprint_image(photo_bytes, "C.jpg")
    assert isinstance(fp, ImageFingerprint)
    assert len(fp.xxh3_128) == 16 and fp.thumb.shape == (32, 32) and fp.thumb.dtype == np.uint8
    assert 0 <= fp.phash < 2**64 and 0 <= fp.dhash < 2**64
    assert (fp.width, fp.height) == (2048, 1365)
    reg = register_image(photo_bytes, "C.jpg")
    # a photograph has no figure on a plain ground: the plain variants only
    assert reg.phashes.shape == (_PLAIN_VARIANTS,) and reg.thumb.shape == (64, 64)
    assert len(set(reg.phashes.tolist())) > _PLAIN_VARIANTS // 2  # variants really differ


def _png_claiming(width: int, height: int) -> bytes:
    data = _png(Image.new("L", (1, 1)))
    ihdr = struct.pack(">II", width, height) + data[24:29]
    chunk = b"IHDR" + ihdr
    return data[:12] + chunk + struct.pack(">I", zlib.crc32(chunk)) + data[33:]


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
@pytest.mark.parametrize(
    "data,reason",
    [
        (b"", "empty"),
        (b"this is not an image at all" * 10, "unsupported"),
        (b"%PDF-1.7\n" + b"0" * 200, "unsupported"),
        (_png_claiming(30_000, 30_000), "decompression bomb"),
        (_png_claiming(12_000, 10_000), "decompression bomb"),
    ],
)
def test_bad_input_raises_fingerprint_error_naming_item(data, reason):
    with pytest.raises(FingerprintError) as err:
        fingerprint_image(data, "bad-item")
    assert err.value.item == "bad-item"
    assert reason in err.value.reason
    assert "bad-item" in str(err.value)
    with pytest.raises(FingerprintError):
        register_image(data, "bad-item")


def _encode(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["cmyk_jpeg", "rgba_png", "gif", "png16", "webp", "tiff", "bmp"])
def test_common_formats_and_modes_match(index, photo, fmt):
    small = photo.resize((photo.width // 2, photo.height // 2))
    data = {
        "cmyk_jpeg": lambda: _encode(small.convert("CMYK"), "JPEG", quality=90),
        "rgba_png": lambda: _encode(small.convert("RGBA"), "PNG"),
        "gif": lambda: _encode(small.convert("P", palette=Image.Palette.ADAPTIVE), "GIF"),
        "png16": lambda: _encode(Image.fromarray(np.asarray(small.convert("L"), dtype=np.uint16) * 257), "PNG"),
        "webp": lambda: _encode(small, "WEBP", quality=80),
        "tiff": lambda: _encode(small, "TIFF"),
        "bmp": lambda: _encode(small, "BMP"),
    }[fmt]()
    [matches] = index.match([fingerprint_image(data, fmt)])
    assert [m.work_id for m in matches] == [1]


def test_near_flat_16_bit_image_is_not_stretched_into_noise():
    rng = np.random.default_rng(3)
    flat16 = (30000 + rng.integers(0, 40, (300, 400))).astype(np.uint16)
    fp = fingerprint_image(_png(Image.fromarray(flat16)), "flat16")
    assert fp.low_quality


def test_transparent_pixels_count_as_white():
    rgba = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    rgba.paste((200, 30, 30, 255), (50, 50, 150, 150))
    on_white = Image.new("RGB", (200, 200), (255, 255, 255))
    on_white.paste((200, 30, 30), (50, 50, 150, 150))
    a = fingerprint_image(_png(rgba), "transparent")
    b = fingerprint_image(_png(on_white), "white")
    assert np.array_equal(a.thumb, b.thumb)


def test_exif_orientation_is_applied(photo):
    upright = fingerprint_image(_jpeg(photo), "upright")
    stored = photo.transpose(Image.Transpose.ROTATE_90)  # what a camera stores for orientation 6
    exif = Image.Exif()
    exif[0x0112] = 6
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=90, exif=exif.tobytes())
    turned = fingerprint_image(buf.getvalue(), "exif6")
    assert (turned.width, turned.height) == (upright.width, upright.height)
    assert int(np.bitwise_count(np.uint64(turned.phash) ^ np.uint64(upright.phash))) <= 4


def test_letterboxed_copy_is_trimmed_and_matches(index, photo):
    boxed = Image.new("RGB", (photo.width, int(photo.height * 1.4)), (0, 0, 0))
    boxed.paste(photo, (0, int(photo.height * 0.2)))
    [matches] = index.match([fingerprint_image(_jpeg(boxed), "letterboxed")])
    assert [(m.work_id, m.evidence["variant"]) for m in matches] == [(1, "original")]


def test_truncated_and_corrupt_files(photo_bytes):
    with pytest.raises(FingerprintError, match="truncated|corrupt"):
        fingerprint_image(photo_bytes[: len(photo_bytes) // 3], "half.jpg")
    png = _png(_scene(1))
    with pytest.raises(FingerprintError, match="truncated|corrupt"):
        fingerprint_image(png[: len(png) // 2], "half.png")
    with pytest.raises(FingerprintError, match="decompression bomb"):
        fingerprint_image(photo_bytes, "capped", max_pixels=1000)


def test_batch_records_failures_and_goes_on(photo_bytes):
    out = fingerprint_images([("a", photo_bytes), ("b", b""), ("c", b"junk" * 50), ("d", photo_bytes)])
    assert isinstance(out[0], ImageFingerprint) and isinstance(out[3], ImageFingerprint)
    assert isinstance(out[1], FingerprintError) and out[1].item == "b"
    assert isinstance(out[2], FingerprintError) and out[2].item == "c"


def test_save_load_round_trip(index, photo, tmp_path):
    paths = index.save(tmp_path / "shard")
    assert all(p.exists() for p in paths)
    assert {p.suffix for p in paths} == {".parquet", ".npy", ".json"}
    loaded = ImageIndex.load(tmp_path / "shard")
    for name in ("work_ids", "xxh3_128", "quality", "thumbs", "iscc", "phash", "dhash", "work_row", "variant"):
        a, b = getattr(index, name), getattr(loaded, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    queries = [fingerprint_image(EDITS[e](photo), e) for e in ("crop_10_each_side", "flip", "jpeg_q30")]
    queries.append(fingerprint_image(_jpeg(photo, 95), "exact"))
    assert [[m.to_dict() for m in r] for r in loaded.match(queries)] == [
        [m.to_dict() for m in r] for r in index.match(queries)
    ]


def test_load_rejects_a_foreign_directory(tmp_path):
    with pytest.raises(ValueError, match="not an image index"):
        ImageIndex.load(tmp_path)


def test_multi_index_hash_equals_flat_scan():
    rng = np.random.default_rng(5)
    codes = rng.integers(0, 2**63, 50_000, dtype=np.int64).astype(np.uint64)
    codes[:200] = codes[0] ^ (np.uint64(1) << rng.integers(0, 64, 200).astype(np.uint64))  # a hot cluster
    queries = codes[rng.integers(0, codes.size, 300)] ^ np.uint64(0b1011)
    expected = set(zip(*(a.tolist() for a in flat_range(queries, codes, 8))))
    for m in (3, 4, 5):
        got = set(zip(*(a.tolist() for a in MultiIndexHash(codes, m).range(queries, 8))))
        assert got == expected and len(expected) >= 300


def test_multi_index_hash_refuses_impossible_tables():
    with pytest.raises(ValueError, match="3..16"):
        MultiIndexHash(np.zeros(4, dtype=np.uint64), 2)


def test_index_with_mih_matches_like_flat(index, photo):
    forced = ImageIndex(
        work_ids=index.work_ids,
        xxh3_128=index.xxh3_128,
        quality=index.quality,
        thumbs=index.thumbs,
        iscc=index.iscc,
        phash=index.phash,
        dhash=index.dhash,
        work_row=index.work_row,
        variant=index.variant,
        mih_min_codes=0,
    )
    queries = [fingerprint_image(EDITS[e](photo), e) for e in sorted(EDITS)]
    assert [[m.to_dict() for m in r] for r in forced.match(queries)] == [
        [m.to_dict() for m in r] for r in index.match(queries)
    ]
    assert forced.nbytes_in_memory > index.nbytes_in_memory


def test_empty_index_matches_nothing(photo_bytes):
    empty = ImageIndexBuilder().build()
    assert len(empty) == 0
    assert empty.match([fingerprint_image(photo_bytes)]) == [[]]


# --- issue 16: copies as people really make them ---------------------------------------------------


def _phone_screenshot(art: Image.Image, dark: bool = True) -> Image.Image:
    """A phone screenshot: status bar, a line of text, the picture across the width, text and buttons."""
    w, h = 540, 1170
    bg, fg = ((0, 0, 0), (235, 235, 235)) if dark else ((255, 255, 255), (20, 20, 20))
    canvas = Image.new("RGB", (w, h), bg)
    draw = ImageDraw.Draw(canvas)
    draw.rectangle((0, 0, w, 40), fill=(40, 40, 40))
    draw.text((20, 60), "someone shared a picture", fill=fg, font_size=26)
    shown = art.resize((w, round(art.height * w / art.width)))
    canvas.paste(shown, (0, 200))
    y = 200 + shown.height + 20
    for line in range(4):
        draw.text((20, y + 40 * line), "what a view, look at this one #photo", fill=fg, font_size=24)
    for i in range(4):
        draw.ellipse((40 + i * 130, h - 90, 90 + i * 130, h - 40), outline=fg, width=4)
    return canvas


def _social_post(art: Image.Image) -> Image.Image:
    w = 700
    shown = art.resize((w - 32, round(art.height * (w - 32) / art.width)))
    h = 90 + shown.height + 160
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    draw = ImageDraw.Draw(canvas)
    draw.ellipse((16, 16, 74, 74), fill=(200, 60, 90))
    draw.text((90, 30), "creator_name · 2 h", fill=(20, 20, 20), font_size=24)
    canvas.paste(shown, (16, 90))
    draw.text((16, 90 + shown.height + 20), "♥ 1,024   reposted without credit", fill=(20, 20, 20), font_size=24)
    draw.text((16, 90 + shown.height + 70), "새로운 사진 — beautiful, isn't it", fill=(60, 60, 60), font_size=22)
    return canvas


def _collage(art: Image.Image, others: list[Image.Image]) -> Image.Image:
    """The work on the left taking ~40 % of the area, two other pictures stacked on the right."""
    h = 600
    aw = round(h * art.width / art.height)
    w = round(aw / 0.4)
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    canvas.paste(art.resize((aw, h)), (0, 0))
    for i, o in enumerate(others[:2]):
        canvas.paste(o.resize((w - aw - 8, h // 2 - 8)), (aw + 8, i * h // 2 + (8 if i else 0)))
    return canvas


def _tilted(im: Image.Image, degrees: float, fill: tuple[int, int, int] | None) -> Image.Image:
    """Rotated in place: corners filled with ``fill``, or (None) cropped to the inscribed rectangle."""
    if fill is not None:
        return im.rotate(degrees, Image.Resampling.BICUBIC, fillcolor=fill)
    t = np.radians(abs(degrees))
    k = min(
        im.width / (im.width * np.cos(t) + im.height * np.sin(t)),
        im.height / (im.width * np.sin(t) + im.height * np.cos(t)),
    )
    r = im.rotate(degrees, Image.Resampling.BICUBIC)
    cw, ch = im.width * k, im.height * k
    return r.crop(
        (
            round((im.width - cw) / 2),
            round((im.height - ch) / 2),
            round((im.width + cw) / 2),
            round((im.height + ch) / 2),
        )
    )


ISSUE16_EDITS = {
    "phone_screenshot_dark": lambda im, others: _png(_phone_screenshot(im, dark=True)),
    "phone_screenshot_light": lambda im, others: _jpeg(_phone_screenshot(im, dark=False), 80),
    "social_media_post": lambda im, others: _jpeg(_social_post(im), 85),
    "collage_40_percent": lambda im, others: _jpeg(_collage(im, others), 85),
    "tilted_7_black_corners": lambda im, others: _jpeg(_tilted(im, 7, (0, 0, 0))),
    "tilted_minus_9_white_corners": lambda im, others: _jpeg(_tilted(im, -9, (255, 255, 255))),
    "straightened_8": lambda im, others: _jpeg(_tilted(im, 8, None)),
    "straightened_minus_5": lambda im, others: _jpeg(_tilted(im, -5, None)),
    "crop_30_left": lambda im, others: _jpeg(_crop(im, 0.3, 0, 0, 0)),
    "crop_30_bottom": lambda im, others: _jpeg(_crop(im, 0, 0, 0, 0.3)),
    "crop_25_top_left": lambda im, others: _jpeg(_crop(im, 0.25, 0.25, 0, 0)),
}


@pytest.mark.parametrize("edit", sorted(ISSUE16_EDITS))
def test_issue16_copies_match_their_work_only(index, photo, other_photos, edit):
    fp = fingerprint_image(ISSUE16_EDITS[edit](photo, other_photos), f"query/{edit}")
    [matches] = index.match([fp])
    assert [m.work_id for m in matches] == [1], (edit, matches)
    assert matches[0].stage == "verified"


def test_picture_inside_a_picture_is_matched_through_an_inner_view(index, photo, other_photos):
    [m] = index.match([fingerprint_image(_png(_phone_screenshot(photo)), "screenshot")])[0]
    assert m.evidence["view"] == "inner"
    # a straightened copy is found through a tilted variant (or a crop whose tilt the search fitted)
    [m] = index.match([fingerprint_image(_jpeg(_tilted(photo, 6, None)), "straightened")])[0]
    assert (m.work_id, m.stage) == (1, "verified") and m.evidence["variant"].startswith(("rot_", "crop_"))


def test_screenshots_collages_and_tilted_copies_of_unrelated_pictures_do_not_match(index, other_photos):
    fps = []
    for i, im in enumerate(other_photos):
        rest = other_photos[:i] + other_photos[i + 1 :]
        for name, edit in ISSUE16_EDITS.items():
            fps.append(fingerprint_image(edit(im, rest), f"photo{i}/{name}"))
    results = index.match(fps)
    assert all(r == [] for r in results), [(fp.item, r) for fp, r in zip(fps, results) if r]


def test_views_are_few_and_cheap_on_plain_photos(other_photos):
    # a photo with nothing framed inside it gives no or few views; a screenshot gives at least one
    plain = [len(fingerprint_image(_jpeg(im), "p").views) for im in other_photos]
    assert max(plain) <= 6
    assert len(fingerprint_image(_png(_phone_screenshot(other_photos[0])), "s").views) >= 1


def _small_phone_screenshot(art: Image.Image) -> bytes:
    """A 360-px-wide phone screenshot (PNG): the picture is ~45 px across in the 1/8-scale decode."""
    return _png(_phone_screenshot(art, dark=True).resize((360, 780), Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def wood_index() -> ImageIndex:
    builder = ImageIndexBuilder()
    builder.add(1, register_image(_jpeg(_nature("Wood.jpg"), 95), "wood"))
    return builder.build()


def test_small_phone_screenshot_is_matched_from_a_finer_decode(wood_index, monkeypatch):
    query = _small_phone_screenshot(_nature("Wood.jpg"))
    [m] = wood_index.match([fingerprint_image(query, "small screenshot")])[0]
    assert (m.work_id, m.stage, m.evidence["view"]) == (1, "verified", "inner")
    # Without the finer decode (no block small enough to qualify) the 1/8-scale decode keeps less of the
    # picture's grain: the same screenshot is missed or verified on no better evidence (since views are
    # shaved before their trim, the coarse view alone verifies this one as well).
    monkeypatch.setattr(image_module, "_VIEW_MAX_AREA", 0.0)
    coarse = wood_index.match([fingerprint_image(query, "small screenshot")])[0]
    assert coarse == [] or coarse[0].score <= m.score


def test_finer_decode_runs_only_for_pictures_with_small_layout_blocks(other_photos, monkeypatch):
    decodes: list[int] = []
    real = image_module.decode_grey

    def counting(data, item, side, max_pixels):
        decodes.append(side)
        return real(data, item, side, max_pixels)

    monkeypatch.setattr(image_module, "decode_grey", counting)
    for im in other_photos:
        fingerprint_image(_jpeg(im), "plain")
    assert len(decodes) == len(other_photos)  # one decode per plain photograph
    decodes.clear()
    fingerprint_image(_small_phone_screenshot(other_photos[0]), "screenshot")
    assert len(decodes) == 2 and decodes[1] > decodes[0]


def _as_format_1(directory: Path) -> None:
    """Rewrite a saved index as the release before issue 16 wrote it: 29 variants, no aspect column."""
    import json

    import pyarrow.parquet as pq

    meta = json.loads((directory / "meta.json").read_text())
    meta["format"] = "fairtrain.image-index/1"
    meta["variants"] = meta["variants"][:29]
    (directory / "meta.json").write_text(json.dumps(meta))
    works = pq.read_table(directory / "works.parquet")
    pq.write_table(works.drop(["aspect"]), directory / "works.parquet")
    variants = pq.read_table(directory / "variants.parquet")
    keep = np.asarray(variants.column("variant").to_numpy() < 29)
    pq.write_table(variants.filter(keep), directory / "variants.parquet")


def test_format_1_index_still_opens_and_says_what_needs_a_re_export(index, photo, tmp_path):
    index.save(tmp_path / "old")
    _as_format_1(tmp_path / "old")
    with pytest.warns(UserWarning, match="re-export"):
        old = ImageIndex.load(tmp_path / "old")
    assert len(old.notices) == 1 and "rotated copies" in old.notices[0] and "re-export" in old.notices[0]
    assert index.notices == []
    # what format 1 covered still matches; a straightened copy needs the new variants
    assert [m.work_id for m in old.match([fingerprint_image(EDITS["flip"](photo))])[0]] == [1]
    assert old.match([fingerprint_image(_jpeg(_tilted(photo, 8, None)))])[0] == []


def test_newer_or_foreign_format_is_refused_naming_the_format(index, tmp_path):
    import json

    index.save(tmp_path / "new")
    meta = json.loads((tmp_path / "new" / "meta.json").read_text())
    meta["format"] = "fairtrain.image-index/9"
    (tmp_path / "new" / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"image-index/9.*re-export"):
        ImageIndex.load(tmp_path / "new")


def _wallpaper(name: str) -> Image.Image:
    path = NATURE.parent / name
    if not path.exists():
        pytest.fail(f"{path}: smooth wallpapers come from the Debian package mate-backgrounds")
    im = Image.open(path).convert("RGB")
    im.thumbnail((1024, 1024))
    return im


SMOOTH_WALLPAPERS = ("abstract/Gulp.png", "desktop/Ubuntu-Mate-Dark-no-logo.png")


def test_two_different_smooth_wallpapers_never_match_each_other(other_photos):
    # Smooth, low-detail pictures (soft gradients and curves, quality above the flat gate so they take
    # part in perceptual matching) are where a freer alignment search could bend one picture into
    # another: crops, tilts, frames and collages of each must find their own wallpaper, never the other.
    walls = [_wallpaper(n) for n in SMOOTH_WALLPAPERS]
    builder = ImageIndexBuilder()
    for wid, im in enumerate(walls):
        reg = register_image(_jpeg(im, 95), SMOOTH_WALLPAPERS[wid])
        assert not reg.low_quality and reg.quality < 40  # smooth, yet matched perceptually
        builder.add(wid, reg)
    index = builder.build()
    edits = {
        "recompressed": lambda im: _jpeg(im, 60),
        "crop_25_left": lambda im: _jpeg(_crop(im, 0.25, 0, 0, 0)),
        "crop_20_top_right": lambda im: _jpeg(_crop(im, 0, 0.2, 0.2, 0)),
        "crop_15_each_side": lambda im: _jpeg(_crop(im, 0.15, 0.15, 0.15, 0.15)),
        "straightened_7": lambda im: _jpeg(_tilted(im, 7, None)),
        "tilted_minus_5_black": lambda im: _jpeg(_tilted(im, -5, (0, 0, 0))),
        "social_media_post": lambda im: _jpeg(_social_post(im), 85),
        "phone_screenshot": lambda im: _png(_phone_screenshot(im, dark=False)),
        "collage_40_percent": lambda im: _jpeg(_collage(im, other_photos), 85),
    }
    for wid, im in enumerate(walls):
        for name, edit in edits.items():
            matches = index.match([fingerprint_image(edit(im), f"{SMOOTH_WALLPAPERS[wid]}/{name}")])[0]
            assert [m.work_id for m in matches if m.work_id != wid] == [], (SMOOTH_WALLPAPERS[wid], name, matches)
        # not vacuous: a plain copy of each is recognised as its own wallpaper
        assert [m.work_id for m in index.match([fingerprint_image(_jpeg(im, 60))])[0]] == [wid]


def test_candidate_rule_needs_one_close_hash_and_the_other_not_far():
    """A candidate has one hash within its radius and the other within OTHER_HASH_MAX: one far hash
    rules a variant out however close the other, and two moderate distances (12 and 11 bits) do not
    make a candidate."""
    from fairtrain.core.fingerprint.image import _candidate

    p = np.asarray([10, 3, 12, 17, 16, 14])
    d = np.asarray([16, 10, 11, 2, 10, 13])
    assert _candidate(p, d).tolist() == [True, True, False, False, True, False]


def _sky_over(texture: np.ndarray, ground: int) -> Image.Image:
    """640×480: a smooth gradient sky with a faint grain (``texture``, unit variance) over a ground of
    random ellipses (seed ``ground``)."""
    y, x = np.mgrid[0:240, 0:640]
    sky = np.clip(40 + 68 * x / 640 + 102 * y / 240 + 6 * texture, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(ground)
    below = Image.fromarray(rng.integers(0, 256, (4, 8, 3), dtype=np.uint8)).resize(
        (640, 240), Image.Resampling.BICUBIC
    )
    draw = ImageDraw.Draw(below)
    for _ in range(10):
        x0, y0 = int(rng.integers(0, 640)), int(rng.integers(0, 240))
        box = (x0, y0, x0 + int(rng.integers(30, 160)), y0 + int(rng.integers(30, 160)))
        draw.ellipse(box, fill=tuple(int(c) for c in rng.integers(0, 256, 3)))
    im = Image.new("RGB", (640, 480))
    im.paste(Image.fromarray(sky).convert("RGB"), (0, 0))
    im.paste(below, (0, 240))
    return im


def _grain(seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, 1, (240, 640))
    im = Image.fromarray((noise * 40 + 128).clip(0, 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(4))
    t = np.asarray(im, np.float64) - 128
    return t / t.std()


def test_unrelated_smooth_halves_are_not_matched_on_raw_correlation():
    """Issue 16's query halves against registered halves: two unrelated pictures whose top halves are the
    same smooth gradient with an unrelated grain (45 % alike) correlate at raw 0.99 with detail 0.45. The
    whole-picture smooth rule (raw ≥ 0.90, detail ≥ 0.3) matched them through the half (the mechanism of
    fingerprint_image.py --quick's wood turned 180° → plasma's DarkestHour, raw 0.91, detail 0.37); a
    view inside the picture must pass the detail rule."""
    work_grain, other = _grain(1), _grain(2)
    query_grain = 0.45 * work_grain + np.sqrt(1 - 0.45**2) * other
    builder = ImageIndexBuilder()
    builder.add(1, register_image(_jpeg(_sky_over(work_grain, 11), 95), "sky"))
    index = builder.build()
    fp = fingerprint_image(_jpeg(_sky_over(query_grain, 12)), "other sky")
    assert index.match([fp])[0] == []
    # not vacuous: the top halves are candidates, and the smooth rule alone would accept them
    half_t = [v.name for v in VARIANTS].index("half_t")
    reg = register_image(_jpeg(_sky_over(work_grain, 11), 95), "sky")
    assert int(np.bitwise_count(np.uint64(fp.view_dhash[0]) ^ reg.dhashes[half_t])) <= PHASH_RADIUS
    ok, raw, detail = image_module._verify(fp.views[0], reg.thumb, half_t, reg.aspect, inner=True)
    assert not ok and raw >= image_module.VERIFY_SMOOTH_NCC and detail >= image_module.VERIFY_SMOOTH_DETAIL_NCC
    assert image_module._verify(fp.views[0], reg.thumb, half_t, reg.aspect, inner=False)[0]
    # and a true copy with a caption bar over its lower half is still found through its top half
    copy = _sky_over(work_grain, 11)
    ImageDraw.Draw(copy).rectangle((0, 300, 640, 480), fill=(20, 20, 20))
    assert [m.work_id for m in index.match([fingerprint_image(_jpeg(copy), "captioned")])[0]] == [1]


def _flat_shapes(seed: int) -> bytes:
    """benchmarks/output_checks.py's generated picture: a tinted gradient under flat shapes, blurred."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from output_checks import _picture

    return _picture(seed)


def test_views_that_are_one_edge_on_flat_ground_are_not_kept():
    """output_checks.py --quick's false alarm: a plain block of one generated picture, its only structure
    one striped edge, correlated with a crop of an unrelated generated picture at detail 0.80 (flagged).
    Such a view carries nothing to tell pictures apart and is not kept."""
    builder = ImageIndexBuilder()
    builder.add(52, register_image(_flat_shapes(10_052), "work"))
    index = builder.build()
    fp = fingerprint_image(_flat_shapes(1_000_409), "unrelated output")
    assert index.match([fp])[0] == []
    from fairtrain.core.fingerprint._image_hash import edge_concentrations

    assert (edge_concentrations(fp.views) < image_module._VIEW_MAX_EDGE_SHARE).all()
    # not vacuous: with the edge-share gate off, the plain block is a view and the pair is matched
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(image_module, "_VIEW_MAX_EDGE_SHARE", 1.01)
        assert [m.work_id for m in index.match([fingerprint_image(_flat_shapes(1_000_409), "u")])[0]] == [52]
    # and a recompressed copy of the work is still found
    again = Image.open(io.BytesIO(_flat_shapes(10_052))).convert("RGB")
    assert [m.work_id for m in index.match([fingerprint_image(_jpeg(again.resize((256, 192)), 50))])[0]] == [52]


# --- a figure on a plain ground (format 3) ------------------------------------------------------------


def _on_white(im: Image.Image, share: float = 0.45) -> Image.Image:
    """``im`` shrunk to ``share`` of a white canvas's width, standing on its bottom edge (a portrait)."""
    w, h = 1000, 1000
    part = im.copy()
    part.thumbnail((round(w * share), round(h * 0.8)))
    canvas = Image.new("RGB", (w, h), (255, 255, 255))
    canvas.paste(part, ((w - part.width) // 2 - 60, h - part.height))
    return canvas


def test_figure_box_finds_the_figure_and_leaves_a_separate_sticker_out(photo):
    grey = np.asarray(_on_white(photo).convert("L"))
    box = figure_box(grey)
    assert box is not None
    assert box == pytest.approx((0.215, 0.719, 0.665, 1.0), abs=0.02)  # 450×281 px at (215, 719)
    stickered = _on_white(photo)
    ImageDraw.Draw(stickered).ellipse((820, 60, 960, 200), fill=(200, 30, 30))
    assert figure_box(np.asarray(stickered.convert("L"))) == pytest.approx(box, abs=0.02)
    assert figure_box(np.asarray(photo.convert("L"))) is None  # a photograph has no plain ground


def test_figure_on_white_tilted_and_cropped_matches_through_figure_variants(photo, other_photos, tmp_path):
    work = _on_white(photo)
    builder = ImageIndexBuilder()
    reg = register_image(_jpeg(work, 95), "figure")
    assert reg.phashes.shape == (len(VARIANTS),)  # the figure variants are registered
    builder.add(1, reg)
    for k, o in enumerate(other_photos):
        builder.add(10 + k, register_image(_jpeg(o, 95)))
    index = builder.build()
    copies = [_jpeg(_tilted(work, a, (255, 255, 255))) for a in (4.5, -7.5)]
    copies.append(_jpeg(work.crop((0, 0, 760, 1000)).rotate(5, Image.Resampling.BICUBIC, fillcolor="white")))
    for data in copies:
        got = index.match([fingerprint_image(data)])[0]
        assert [m.work_id for m in got] == [1]
    # the new format round-trips; an index written before the figure variants opens, says what it misses,
    # and still matches what it covers
    index.save(tmp_path / "v3")
    again = ImageIndex.load(tmp_path / "v3")
    assert again.notices == [] and np.array_equal(again.variant, index.variant)
    index.save(tmp_path / "v2")
    _as_format_2(tmp_path / "v2")
    with pytest.warns(UserWarning, match="re-export"):
        old = ImageIndex.load(tmp_path / "v2")
    assert len(old.notices) == 1 and "figure" in old.notices[0]
    assert int(old.variant.max()) < _PLAIN_VARIANTS
    assert [m.work_id for m in old.match([fingerprint_image(_jpeg(work))])[0]] == [1]


def _creature(seed: int) -> Image.Image:
    """One figure on white (body, head, two arms: the same outline whatever the seed) drawn inside with 30
    strokes of the seed's own: two seeds are two artists' drawings of one creature in one pose."""
    im = Image.new("RGB", (600, 800), "white")
    draw = ImageDraw.Draw(im)
    body = (90, 120, 160)
    draw.ellipse((150, 200, 450, 650), fill=body)
    draw.ellipse((220, 80, 380, 260), fill=body)
    draw.polygon([(150, 400), (40, 560), (170, 520)], fill=body)
    draw.polygon([(450, 400), (560, 560), (430, 520)], fill=body)
    rng = np.random.default_rng(seed)
    for _ in range(30):
        x0, y0 = int(rng.integers(180, 420)), int(rng.integers(120, 620))
        x1, y1 = x0 + int(rng.integers(-90, 90)), y0 + int(rng.integers(-90, 90))
        draw.line((x0, y0, x1, y1), fill=tuple(int(c) for c in rng.integers(0, 255, 3)), width=10)
    return im


def test_a_look_alike_well_below_the_work_in_the_same_view_is_dropped(monkeypatch):
    first, second = _creature(1), _creature(2)
    builder = ImageIndexBuilder()
    builder.add(1, register_image(_jpeg(first, 95), "first"))
    builder.add(2, register_image(_jpeg(second, 95), "second"))
    index = builder.build()
    copies = {1: _jpeg(first.resize((300, 400)), 80), 2: _jpeg(second.resize((300, 400)), 80)}
    for work, data in copies.items():
        assert [m.work_id for m in index.match([fingerprint_image(data)])[0]] == [work]
    # without the rule the other drawing verifies too, through a half, well below the work itself
    monkeypatch.setattr(image_module, "VIEW_RIVAL_MARGIN", 9.0)
    got = index.match([fingerprint_image(copies[1])])[0]
    assert [m.work_id for m in got] == [1, 2]
    assert got[0].score - got[1].score > 0.15 and got[1].evidence["view"] == "inner"


def test_works_holding_the_same_picture_both_stay(photo, other_photos):
    builder = ImageIndexBuilder()
    builder.add(1, register_image(_jpeg(photo, 95), "photo"))
    builder.add(2, register_image(_png(photo.resize((photo.width * 4 // 5, photo.height * 4 // 5))), "again"))
    builder.add(3, register_image(_jpeg(other_photos[4], 95), "storm"))
    index = builder.build()
    assert {m.work_id for m in index.match([fingerprint_image(_jpeg(photo, 70))])[0]} == {1, 2}
    # two works in one collage, each in a block of its own, are both found however unlike their scores
    canvas = Image.new("RGB", (1200, 700), "white")
    big, small = photo.copy(), other_photos[4].copy()
    big.thumbnail((760, 600))
    small.thumbnail((380, 300))
    canvas.paste(big, (20, 50))
    canvas.paste(small, (800, 200))
    got = {m.work_id: m.score for m in index.match([fingerprint_image(_jpeg(canvas, 85))])[0]}
    assert {1, 2, 3} <= set(got) and got[1] - got[3] > 0.15


@pytest.mark.xfail(
    strict=True,
    reason="known, on main too: a photograph pasted small on a wide white page is, at 32×32, mostly its "
    "outline; two such pastes of unrelated photographs pass the detail rule (Aqua on white vs Storm on white, "
    "detail NCC 0.60; vs TwoWings tilted 5°, 0.75)",
)
def test_unrelated_figures_on_white_do_not_match(other_photos, photo):
    builder = ImageIndexBuilder()
    for k, o in enumerate(other_photos):
        builder.add(k, register_image(_jpeg(_on_white(o), 95)))
    index = builder.build()
    for k, o in enumerate([photo, *other_photos]):
        for a in (0.0, 5.0, -8.0):
            query = _on_white(o, 0.3 + 0.1 * (k % 3)).rotate(a, Image.Resampling.BICUBIC, fillcolor="white")
            got = {m.work_id for m in index.match([fingerprint_image(_jpeg(query))])[0]}
            assert got <= ({k - 1} if k else set())


def _as_format_2(directory: Path) -> None:
    """Rewrite a saved index as format 2 wrote it: no figure variants."""
    import json

    import pyarrow.parquet as pq

    meta = json.loads((directory / "meta.json").read_text())
    meta["format"] = "fairtrain.image-index/2"
    meta["variants"] = meta["variants"][:_PLAIN_VARIANTS]
    (directory / "meta.json").write_text(json.dumps(meta))
    variants = pq.read_table(directory / "variants.parquet")
    keep = np.asarray(variants.column("variant").to_numpy() < _PLAIN_VARIANTS)
    pq.write_table(variants.filter(keep), directory / "variants.parquet")
