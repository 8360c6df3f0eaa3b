"""Image fingerprint benchmark: recall per transformation, FPR on distractors, speed, index size.

Corpus: real wallpapers and photos from Debian packages (gnome-backgrounds, mate-backgrounds,
plasma-workspace-wallpapers, ukui-wallpapers, lomiri-wallpapers-20.04, sway-backgrounds) plus the photo
in shared/testdata/c2pa. One image per content group (light/dark/portrait/size editions of one design are
one group). Groups are split: half registered, half used as unrelated distractors (every transformation
of them, plus quarter tiles).

Baseline, measured in the same run: imagehash pHash on a full decode, linear scan against the
registered originals (no variants, no verification), at the same radius as our candidate stage.

    .venv/bin/python benchmarks/fingerprint_image.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image, ImageEnhance

from fairtrain.core.fingerprint._image_mih import MultiIndexHash, flat_range
from fairtrain.core.fingerprint.image import (
    MIN_QUALITY,
    PHASH_RADIUS,
    VARIANTS,
    ImageIndexBuilder,
    fingerprint_image,
    register_image,
)

ROOTS = [
    Path("/usr/share/backgrounds"),
    Path("/usr/share/wallpapers"),
    Path(__file__).resolve().parents[2] / "shared" / "testdata" / "c2pa",
]
EXTS = {".jpg", ".jpeg", ".png", ".webp"}
WORK_SIDE = 1024


def _group(path: Path) -> str:
    s = str(path)
    m = re.search(r"/wallpapers/([^/]+)/", s)
    if m:
        return "plasma:" + m.group(1)
    name = path.stem
    if "/sway/" in s:
        return "sway"
    if "/c2pa/" in s:
        return "c2pa"
    name = re.sub(r"-(l|d)$", "", name)
    name = re.sub(r"_\d+x\d+$", "", name)
    for prefix in ("Ubuntu-Mate", "MATE-Stripes", "Elephants"):
        if name.startswith(prefix):
            return prefix
    if name == "Stripes":
        return "MATE-Stripes"
    return name


def corpus(limit: int | None) -> list[tuple[str, Image.Image]]:
    files = sorted(
        p
        for root in ROOTS
        if root.exists()
        for p in root.rglob("*")
        if p.suffix.lower() in EXTS and "screenshot" not in p.name and "_dark" not in str(p)
    )
    best: dict[str, Path] = {}
    for p in files:
        g = _group(p)
        if g not in best or p.stat().st_size > best[g].stat().st_size:
            best[g] = p
    groups = sorted(best)
    if limit:
        random.Random(7).shuffle(groups)
        groups = sorted(groups[:limit])
    out = []
    for g in groups:
        im = Image.open(best[g])
        im.draft("RGB", (WORK_SIDE, WORK_SIDE))
        im = im.convert("RGB")
        im.thumbnail((WORK_SIDE, WORK_SIDE), Image.Resampling.LANCZOS)
        out.append((g, im))
    return out


def _jpeg(im: Image.Image, q: int = 90) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _crop(im: Image.Image, l: float, t: float, r: float, b: float) -> Image.Image:
    w, h = im.size
    return im.crop((round(l * w), round(t * h), round(w - r * w), round(h - b * h)))


def _random_crop(im: Image.Image, rng: random.Random) -> Image.Image:
    # Keep 80–95 % of each side (≤ 20 % cut per side in total) at a random position.
    kw, kh = rng.uniform(0.80, 0.95), rng.uniform(0.80, 0.95)
    l, t = rng.uniform(0, 1 - kw), rng.uniform(0, 1 - kh)
    return _crop(im, l, t, 1 - kw - l, 1 - kh - t)


T = Image.Transpose
TRANSFORMS = {
    # photometric, compression, scale: target recall ≥ 0.95
    "jpeg_q30": ("photo", lambda im, r: _jpeg(im, 30)),
    "jpeg_q50": ("photo", lambda im, r: _jpeg(im, 50)),
    "jpeg_q90": ("photo", lambda im, r: _jpeg(im, 90)),
    "png": ("photo", lambda im, r: (lambda b: (im.save(b, "PNG"), b.getvalue())[1])(io.BytesIO())),
    "resize_50": ("photo", lambda im, r: _jpeg(im.resize((im.width // 2, im.height // 2)))),
    "resize_200": ("photo", lambda im, r: _jpeg(im.resize((im.width * 2, im.height * 2)))),
    "brightness_1.3": ("photo", lambda im, r: _jpeg(ImageEnhance.Brightness(im).enhance(1.3))),
    "brightness_0.7": ("photo", lambda im, r: _jpeg(ImageEnhance.Brightness(im).enhance(0.7))),
    "contrast_0.7": ("photo", lambda im, r: _jpeg(ImageEnhance.Contrast(im).enhance(0.7))),
    "contrast_1.3": ("photo", lambda im, r: _jpeg(ImageEnhance.Contrast(im).enhance(1.3))),
    "saturation_0.5": ("photo", lambda im, r: _jpeg(ImageEnhance.Color(im).enhance(0.5))),
    "saturation_1.5": ("photo", lambda im, r: _jpeg(ImageEnhance.Color(im).enhance(1.5))),
    "greyscale": ("photo", lambda im, r: _jpeg(im.convert("L"))),
    "rehost_combo": (
        "photo",
        lambda im, r: _jpeg(_crop(im, 0.03, 0.03, 0.03, 0.03).resize((int(im.width * 0.6), int(im.height * 0.6))), 70),
    ),
    # geometric: target recall ≥ 0.90
    "crop_5_each": ("geom", lambda im, r: _jpeg(_crop(im, 0.05, 0.05, 0.05, 0.05))),
    "crop_10_each": ("geom", lambda im, r: _jpeg(_crop(im, 0.10, 0.10, 0.10, 0.10))),
    "crop_20_right": ("geom", lambda im, r: _jpeg(_crop(im, 0, 0, 0.20, 0))),
    "crop_20_top": ("geom", lambda im, r: _jpeg(_crop(im, 0, 0.20, 0, 0))),
    "crop_random_5_20": ("geom", lambda im, r: _jpeg(_random_crop(im, r))),
    "flip_h": ("geom", lambda im, r: _jpeg(im.transpose(T.FLIP_LEFT_RIGHT))),
    "rot90": ("geom", lambda im, r: _jpeg(im.transpose(T.ROTATE_90))),
    "rot180": ("geom", lambda im, r: _jpeg(im.transpose(T.ROTATE_180))),
    "rot270": ("geom", lambda im, r: _jpeg(im.transpose(T.ROTATE_270))),
}
TARGET = {"photo": 0.95, "geom": 0.90}
REPEATS = {"crop_random_5_20": 3}  # three random crops per work: one draw is too few to read a rate


def _baseline_hash(data: bytes) -> int:
    return int(str(imagehash.phash(Image.open(io.BytesIO(data)))), 16)


def _time_per_item(fn, payloads: list[bytes], repeats: int) -> float:
    """Mean over items of each item's best-of-``repeats`` time: the 2-core machine is shared, and a
    neighbour's burst should not land on one side of the comparison only."""
    best = np.full(len(payloads), np.inf)
    for _ in range(repeats):
        for i, p in enumerate(payloads):
            t0 = time.perf_counter()
            fn(p)
            best[i] = min(best[i], time.perf_counter() - t0)
    return float(best.mean())


def _radius_bench(n: int, queries: int) -> list[tuple[str, float, float]]:
    rng = np.random.default_rng(1)
    codes = rng.integers(0, np.iinfo(np.int64).max, n, dtype=np.int64).astype(np.uint64) * np.uint64(2)
    sel = rng.integers(0, n, queries)
    q = codes[sel].copy()
    flips = rng.integers(0, 9, queries)
    for i in range(queries):
        for b in rng.choice(64, flips[i], replace=False):
            q[i] ^= np.uint64(1) << np.uint64(b)
    rows = []
    nflat = max(3, queries // 100)
    truth = {}
    for r in (8, 10):
        t0 = time.perf_counter()
        fq, fc = flat_range(q[:nflat], codes, r)
        flat_ms = (time.perf_counter() - t0) / nflat * 1e3
        rows.append((f"r={r:<2} flat numpy popcount scan (baseline)", flat_ms, 8.0))
        truth[r] = set(zip(fq.tolist(), fc.tolist()))
    for m, radii in ((3, (8, 10)), (4, (8,))):
        mih = MultiIndexHash(codes, m)
        for r in radii:
            t0 = time.perf_counter()
            mq, mc = mih.range(q, r)
            batch_ms = (time.perf_counter() - t0) / queries * 1e3
            got = set(zip(mq.tolist(), mc.tolist()))
            assert {p for p in got if p[0] < nflat} == truth[r], "MIH disagrees with the flat scan"
            assert set(zip(range(queries), sel.tolist())) <= got, "MIH lost a planted neighbour"
            single = min(queries, 50)
            t0 = time.perf_counter()
            for i in range(single):
                mih.range(q[i : i + 1], r)
            single_ms = (time.perf_counter() - t0) / single * 1e3
            label = f"r={r:<2} MIH {m}x{64 // m}-bit CSR"
            rows.append((f"{label}, batch of {queries}", batch_ms, mih.nbytes / n + 8))
            rows.append((f"{label}, one query at a time", single_ms, mih.nbytes / n + 8))
    return rows


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="24 groups, 10^6 random codes")
    args = ap.parse_args()
    t_start = time.perf_counter()
    images = corpus(24 if args.quick else None)
    if len(images) < 8:
        print(
            "need the Debian wallpaper packages: apt-get install gnome-backgrounds mate-backgrounds "
            "plasma-workspace-wallpapers ukui-wallpapers lomiri-wallpapers-20.04 sway-backgrounds"
        )
        return 2
    registered = images[0::2]
    distractors = images[1::2]
    print(
        f"corpus: {len(images)} content groups, {len(registered)} registered, {len(distractors)} "
        f"distractor groups (loaded in {time.perf_counter() - t_start:.1f} s)"
    )

    # --- registry
    builder = ImageIndexBuilder()
    reg_times = []
    base_codes = []
    flat_works = []
    for wid, (g, im) in enumerate(registered):
        data = _jpeg(im, 95)
        t0 = time.perf_counter()
        reg = register_image(data, g)
        reg_times.append(time.perf_counter() - t0)
        if reg.low_quality:
            flat_works.append(g)
        builder.add(wid, reg)
        base_codes.append(_baseline_hash(data))
    index = builder.build()
    base_codes = np.asarray(base_codes, dtype=np.uint64)
    print(
        f"registered {len(index)} works in {np.mean(reg_times) * 1e3:.1f} ms/work; below quality "
        f"{MIN_QUALITY} (exact stage only): {flat_works or 'none'}"
    )

    # --- queries
    rng = random.Random(11)
    table = []
    fp_pairs = 0
    fp_queries = 0
    base_fp_pairs = 0
    false_matches = []
    neg_queries = 0
    for name, (kind, fn) in TRANSFORMS.items():
        hits = base_hits = total = 0
        for wid, (g, im) in [(w, gi) for w, gi in enumerate(registered) for _ in range(REPEATS.get(name, 1))]:
            data = fn(im, rng)
            fp = fingerprint_image(data, f"{g}/{name}")
            if fp.low_quality:
                continue  # the gate excludes them on purpose; counted in the header line
            total += 1
            ms = index.match([fp])[0]
            hits += any(m.work_id == wid for m in ms)
            base_d = int(np.bitwise_count(base_codes[wid] ^ np.uint64(_baseline_hash(data))))
            base_hits += base_d <= PHASH_RADIUS
        neg = 0
        for g, im in distractors:
            data = fn(im, rng)
            fp = fingerprint_image(data, f"{g}/{name}")
            ms = index.match([fp])[0]
            neg += 1
            for m in ms:
                false_matches.append((fp.item, registered[m.work_id][0], m.evidence))
            fp_pairs += len(ms)
            fp_queries += bool(ms)
            bd = np.bitwise_count(base_codes ^ np.uint64(_baseline_hash(data)))
            base_fp_pairs += int((bd <= PHASH_RADIUS).sum())
        neg_queries += neg
        table.append((name, kind, hits / max(1, total), base_hits / max(1, total), total))
    # quarter tiles of distractors: more unrelated queries of a different framing
    for g, im in distractors:
        w, h = im.size
        for box in ((0, 0, w // 2, h // 2), (w // 2, 0, w, h // 2), (0, h // 2, w // 2, h), (w // 2, h // 2, w, h)):
            data = _jpeg(im.crop(box), 85)
            ms = index.match([fingerprint_image(data, f"{g}/tile{box}")])[0]
            for m in ms:
                false_matches.append((f"{g}/tile", registered[m.work_id][0], m.evidence))
            neg_queries += 1
            fp_pairs += len(ms)
            fp_queries += bool(ms)
            bd = np.bitwise_count(base_codes ^ np.uint64(_baseline_hash(data)))
            base_fp_pairs += int((bd <= PHASH_RADIUS).sum())
    pairs = neg_queries * len(registered)

    print()
    print(f"{'transformation':<18} {'class':<5} {'recall':>7} {'target':>7} {'baseline':>9} {'n':>4}")
    for name, kind, r, b, n in table:
        flag = "" if r >= TARGET[kind] else "  BELOW TARGET"
        print(f"{name:<18} {kind:<5} {r:7.3f} {TARGET[kind]:7.2f} {b:9.3f} {n:4d}{flag}")
    print()
    print(
        f"false positives: {fp_pairs} of {pairs} (distractor query, work) pairs -> "
        f"FPR {fp_pairs / pairs:.2e} "
        f"(target <= 1e-4); queries with any false match: {fp_queries}/{neg_queries}"
    )
    for q, w, ev in false_matches:
        print(f"  false match: {q} -> {w} {ev}")
    print(f"baseline false positives: {base_fp_pairs} of {pairs} pairs -> FPR {base_fp_pairs / pairs:.2e}")

    # --- speed on 1024-px JPEGs, one core
    payloads = [_jpeg(im, 90) for _, im in images]
    reps = 3 if args.quick else 5
    ours = _time_per_item(lambda d: fingerprint_image(d), payloads, reps)
    base = _time_per_item(_baseline_hash, payloads, reps)
    fps = [fingerprint_image(d) for d in payloads]
    t0 = time.perf_counter()
    for _ in range(reps):
        index.match(fps)
    match_ms = (time.perf_counter() - t0) / reps / len(fps) * 1e3
    avg_kb = np.mean([len(p) for p in payloads]) / 1024
    print()
    print(f"speed, one core, {len(payloads)} JPEGs of <= {WORK_SIDE} px (avg {avg_kb:.0f} KB):")
    print(f"  fingerprint_image          {1 / ours:8.0f} images/s  ({ours * 1e3:.2f} ms)  target >= 500")
    print(
        f"  baseline imagehash.phash   {1 / base:8.0f} images/s  ({base * 1e3:.2f} ms)  "
        f"ours is {base / ours:.1f}x faster"
    )
    print(f"  match (batch, {len(index)} works)  {match_ms:.3f} ms/query incl. verification")

    per_work = index.nbytes_in_memory / len(index)
    n = 10**6 if args.quick else 10**7
    rows = _radius_bench(n, 1000 if not args.quick else 300)
    mih_per_code = next(b for label, _, b in rows if "MIH 3x" in label) - 8.0
    codes_per_work = 2 * len(VARIANTS)
    print()
    print(
        f"index bytes per work: {per_work:.0f} B in RAM as a flat shard ({len(VARIANTS)} variants x "
        f"pHash+dHash + exact hash + ids); + {codes_per_work} codes x {mih_per_code:.1f} B = "
        f"{codes_per_work * mih_per_code:.0f} B of multi-index tables in a {n:.0e}-code shard "
        f"-> {per_work + codes_per_work * mih_per_code:.0f} B; + {index.thumbs[0].nbytes} B thumbnail "
        f"on disk (memory-mapped)"
    )
    print()
    print(
        f"radius query on {n:.0e} random 64-bit codes (target <= 1 ms vs ~5 ms flat in C; B/code = code + MIH tables):"
    )
    for label, ms, b in rows:
        print(f"  {label:<48} {ms:8.3f} ms/query   {b:6.1f} B/code")
    print(f"\ntotal {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
