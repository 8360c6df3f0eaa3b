"""Output-check benchmark: planted reproductions inside generated-looking material; recall and false alarms.

Text (real prose on this machine, nothing downloaded): the docstrings of the Python standard library,
split by module name. Even modules give the registered works (every 500-word chunk: about 200 here,
so the full run registers all of them); odd modules train a word trigram model that writes the
"generated" outputs (150-400 words), so outputs share the works' vocabulary and stock phrases. 5 % of outputs get a 40-word verbatim passage of a random registered
work planted at a random position. Images: procedurally generated pictures (gradients, shapes,
texture); 5 % of outputs are a registered picture recompressed as JPEG (quality 45-75, some resized).

Figures: recall on planted outputs, false-alarm rate on the rest (target: recall ≥ 0.95, false alarms
≤ 1e-3), and the same figures for the clearance matcher's default text settings (min_hits=3,
containment ≥ 0.3, baseline measured in the same run), plus throughput.

    PYTHONPATH=src .venv/bin/python benchmarks/output_checks.py [--quick]
"""

from __future__ import annotations

import argparse
import ast
import io
import random
import sys
import time
from collections import defaultdict
from pathlib import Path

from PIL import Image, ImageDraw, ImageFilter

from fairtrain.core.fingerprint.image import ImageIndexBuilder, register_image
from fairtrain.core.fingerprint.text import TextIndexBuilder, fingerprint_text, register_text
from fairtrain.services.transparency.outputs import OutputChecker, attribution_weights

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
CHUNK = 500
PASSAGE = 40
PLANT_RATE = 0.05


def _docstrings(files) -> list[list[str]]:
    docs: list[list[str]] = []
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError, OSError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                doc = ast.get_docstring(node)
                if doc and len(doc) > 200:
                    docs.append(doc.split())
    return docs


def _corpora(n_works: int) -> tuple[list[str], list[str]]:
    files = sorted(p for p in STDLIB.rglob("*.py") if "/test" not in str(p) and "site-packages" not in str(p))
    works_side = [p for i, p in enumerate(files) if i % 2 == 0]
    model_side = [p for i, p in enumerate(files) if i % 2 == 1]
    w = [x for d in _docstrings(works_side) for x in d]
    works = [" ".join(w[i : i + CHUNK]) for i in range(0, len(w) - CHUNK + 1, CHUNK)][:n_works]
    # The stdlib copies some docstrings between modules (aifc, sunau and wave share paragraphs): a
    # word model trained on those would reproduce registered text for real, so they are left out.
    grams = {tuple(ws[i : i + 8]) for t in works for ws in [t.lower().split()] for i in range(len(ws) - 7)}
    model: list[str] = []
    for d in _docstrings(model_side):
        low = [x.lower() for x in d]
        if not any(tuple(low[i : i + 8]) in grams for i in range(len(low) - 7)):
            model.extend(d)
    return works, model


class _Trigram:
    def __init__(self, words: list[str], seed: int):
        self.next: dict[tuple[str, str], list[str]] = defaultdict(list)
        for a, b, c in zip(words, words[1:], words[2:]):
            self.next[(a, b)].append(c)
        self.keys = list(self.next)
        self.rnd = random.Random(seed)

    def generate(self, n: int) -> list[str]:
        a, b = self.rnd.choice(self.keys)
        out = [a, b]
        while len(out) < n:
            nxt = self.next.get((a, b))
            if not nxt:
                a, b = self.rnd.choice(self.keys)
                out.extend([a, b])
                continue
            c = self.rnd.choice(nxt)
            out.append(c)
            a, b = b, c
        return out[:n]


def _picture(seed: int, size=(320, 240)) -> bytes:
    rnd = random.Random(seed)
    w, h = size
    img = Image.linear_gradient("L").resize(size).rotate(rnd.choice((0, 90, 180, 270))).convert("RGB")
    img = Image.merge(
        "RGB", [c.point(lambda v, k=rnd.random(): int(v * k + 255 * (1 - k) * rnd.random())) for c in img.split()]
    )
    d = ImageDraw.Draw(img)
    for _ in range(rnd.randrange(8, 20)):
        x, y = rnd.randrange(w), rnd.randrange(h)
        r = rnd.randrange(10, max(11, w // 3))
        colour = tuple(rnd.randrange(256) for _ in range(3))
        shape = rnd.random()
        if shape < 0.4:
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        elif shape < 0.8:
            d.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
        else:
            d.line((x, y, rnd.randrange(w), rnd.randrange(h)), fill=colour, width=rnd.randrange(2, 9))
    img = img.filter(ImageFilter.GaussianBlur(rnd.uniform(0.6, 1.8)))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


def _recompress(data: bytes, rnd: random.Random) -> bytes:
    img = Image.open(io.BytesIO(data)).convert("RGB")
    if rnd.random() < 0.5:
        s = rnd.uniform(0.6, 0.95)
        img = img.resize((int(img.width * s), int(img.height * s)), Image.LANCZOS)
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=rnd.randrange(45, 76))
    return buf.getvalue()


def _rates(flags: list[bool], planted: list[bool]) -> tuple[float, float, int, int]:
    tp = sum(f and p for f, p in zip(flags, planted))
    fp = sum(f and not p for f, p in zip(flags, planted))
    n_pos = sum(planted)
    n_neg = len(planted) - n_pos
    return tp / max(n_pos, 1), fp / max(n_neg, 1), n_pos, n_neg


def _timed_checks(checker: OutputChecker, items: list[tuple[str, bytes]]) -> tuple[list, float]:
    """``checker``'s checks of ``items`` in batches of 256, and the seconds they took."""
    t0 = time.perf_counter()
    checks = []
    for k in range(0, len(items), 256):
        checks.extend(checker.check(items[k : k + 256]))
    return checks, time.perf_counter() - t0


def bench_text(n_works: int, n_outputs: int, rnd: random.Random) -> list[tuple]:
    works, model_words = _corpora(n_works)
    t0 = time.perf_counter()
    b = TextIndexBuilder()
    for i, w in enumerate(works):
        b.add(i, register_text(w, f"work-{i}"))
    index = b.build()
    t_build = time.perf_counter() - t0
    model = _Trigram(model_words, rnd.randrange(1 << 30))
    items, planted, truth = [], [], []
    for i in range(n_outputs):
        out = model.generate(rnd.randrange(150, 401))
        is_planted = rnd.random() < PLANT_RATE
        wid = None
        if is_planted:
            wid = rnd.randrange(len(works))
            ww = works[wid].split()
            s = rnd.randrange(len(ww) - PASSAGE)
            at = rnd.randrange(len(out))
            out = out[:at] + ww[s : s + PASSAGE] + out[at:]
        items.append((f"out-{i}.txt", " ".join(out).encode()))
        planted.append(is_planted)
        truth.append(wid)
    checks, t_check = _timed_checks(OutputChecker({"text": index}.get), items)
    flags = [c.flagged for c in checks]
    right_work = [
        any(r.flagged and r.work_id == w for r in c.reproductions) for c, w in zip(checks, truth) if w is not None
    ]
    # Baseline: the clearance matcher's defaults on the same outputs (fingerprinting timed in the same run).
    t0 = time.perf_counter()
    fps = [fingerprint_text(d, n) for n, d in items]
    t_fp = time.perf_counter() - t0
    base = index.match(fps)
    base_flags = [bool(m) for m in base]
    rec, far, n_pos, n_neg = _rates(flags, planted)
    brec, bfar, _, _ = _rates(base_flags, planted)
    weights = attribution_weights(checks)
    return [
        ("text works registered", f"{len(works)}", f"index built in {t_build:.1f} s"),
        ("text outputs (planted / clean)", f"{n_pos} / {n_neg}", f"{PASSAGE}-word verbatim passages"),
        ("text recall (output checks)", f"{rec:.4f}", "target ≥ 0.95"),
        ("text recall, right work named", f"{sum(right_work) / max(len(right_work), 1):.4f}", ""),
        ("text false-alarm rate", f"{far:.2e} ({round(far * n_neg)})", "target ≤ 1e-3"),
        ("baseline: clearance defaults recall", f"{brec:.4f}", f"ratio {rec / max(brec, 1e-9):.2f}×"),
        ("baseline: clearance defaults false alarms", f"{bfar:.2e}", ""),
        (
            "text outputs/s (check, incl. fingerprint)",
            f"{len(items) / t_check:,.0f}",
            f"fingerprint alone {len(items) / t_fp:,.0f}/s (ratio {t_check / t_fp:.2f}×)",
        ),
        ("attribution weights (works, sum)", f"{len(weights)}, {sum(weights.values()):,}", ""),
    ]


def bench_images(n_works: int, n_outputs: int, rnd: random.Random) -> list[tuple]:
    t0 = time.perf_counter()
    works = [_picture(10_000 + i) for i in range(n_works)]
    b = ImageIndexBuilder()
    for i, w in enumerate(works):
        b.add(i, register_image(w, f"img-{i}"))
    index = b.build()
    t_build = time.perf_counter() - t0
    items, planted = [], []
    for i in range(n_outputs):
        if rnd.random() < PLANT_RATE:
            items.append((f"gen-{i}.jpg", _recompress(works[rnd.randrange(n_works)], rnd)))
            planted.append(True)
        else:
            items.append((f"gen-{i}.png", _picture(1_000_000 + i)))
            planted.append(False)
    checks, t_check = _timed_checks(OutputChecker({"image": index}.get), items)
    rec, far, n_pos, n_neg = _rates([c.flagged for c in checks], planted)
    errors = sum(1 for c in checks if c.error)
    hd = [
        r.evidence.get("phash_distance")
        for c in checks
        for r in c.reproductions
        if r.flagged and "phash_distance" in r.evidence
    ]
    return [
        ("image works registered", f"{n_works}", f"generated + registered in {t_build:.1f} s"),
        ("image outputs (planted / clean)", f"{n_pos} / {n_neg}", "JPEG q45-75, half resized 0.6-0.95"),
        ("image recall", f"{rec:.4f}", "target ≥ 0.95"),
        ("image false-alarm rate", f"{far:.2e} ({round(far * n_neg)})", "target ≤ 1e-3"),
        ("image pHash distance of hits (median)", f"{sorted(hd)[len(hd) // 2] if hd else '-'}", ""),
        ("image outputs/s", f"{len(items) / t_check:,.0f}", f"errors {errors}"),
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="a small run (about 20 s)")
    args = ap.parse_args()
    rnd = random.Random(7)
    if args.quick:
        rows = bench_text(300, 2_000, rnd) + bench_images(100, 600, rnd)
    else:
        rows = bench_text(2_000, 20_000, rnd) + bench_images(400, 4_000, rnd)
    w = max(len(r[0]) for r in rows)
    print(f"{'figure':<{w}}  {'value':>22}  note")
    for name, value, note in rows:
        print(f"{name:<{w}}  {value:>22}  {note}")


if __name__ == "__main__":
    main()
