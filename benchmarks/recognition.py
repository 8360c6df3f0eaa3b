"""Recognition benchmark (issue 16): how works are recognised the way people really copy them, measured
on independent material, per modality and edit family, beside the baselines developers use today.

    .venv/bin/python benchmarks/recognition.py [--quick] [--modality text,image,audio] [--seed N]

Each modality lives in its own module beside this file, ``_recognition_<modality>.py``, exposing
``run(args) -> list[dict]``: one row per edit family (and rows for negatives, speed and the false-match
estimate). A module that is not there is skipped with a note. Row keys this frame knows and prints as
columns (any other key is printed after the row): ``modality``, ``family``, ``n``, ``recall``,
``false matches``, ``baseline``, ``baseline recall``, ``baseline false matches``, ``target``; speed rows
carry their own figures (``docs/s``, ``main docs/s``, ``ratio`` and the like) as extra keys.

Exit status 1 when a module fails; the figures are judged against the targets by reading the table.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

MODALITIES = ("text", "image", "audio")
COLUMNS = (
    "modality",
    "family",
    "n",
    "recall",
    "false matches",
    "baseline",
    "baseline recall",
    "baseline false matches",
    "target",
)


def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.3g}" if (abs(v) < 1e-3 and v) or abs(v) >= 1e4 else f"{v:.3f}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def print_table(rows: list[dict]) -> None:
    widths = {
        "modality": 8,
        "family": 30,
        "n": 6,
        "recall": 7,
        "false matches": 6,
        "baseline": 22,
        "baseline recall": 8,
        "baseline false matches": 8,
        "target": 18,
    }
    heads = {"false matches": "FM", "baseline recall": "b.recall", "baseline false matches": "b.FM"}
    print(
        "  ".join(
            f"{heads.get(c, c):>{widths[c]}}"
            if c in ("n", "recall", "false matches", "baseline recall", "baseline false matches")
            else f"{heads.get(c, c):{widths[c]}}"
            for c in COLUMNS
        )
    )
    for r in rows:
        cells = []
        for c in COLUMNS:
            v = _fmt(r.get(c))
            right = c in ("n", "recall", "false matches", "baseline recall", "baseline false matches")
            cells.append(f"{v:>{widths[c]}}" if right else f"{v[: widths[c]]:{widths[c]}}")
        extra = {k: v for k, v in r.items() if k not in COLUMNS and k != "params"}
        line = "  ".join(cells)
        if extra:
            line += "  " + ", ".join(f"{k}={_fmt(v)}" for k, v in extra.items())
        print(line)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer negatives and speed rounds")
    ap.add_argument("--modality", default=",".join(MODALITIES), help="comma-separated: text,image,audio")
    ap.add_argument("--seed", type=int, default=16, help="seed of every edit's random parameters")
    ap.add_argument("--cache", default=None, help="folder for packages the benchmark installs (konlpy wheel)")
    args = ap.parse_args()
    wanted = [m.strip() for m in args.modality.split(",") if m.strip()]
    unknown = [m for m in wanted if m not in MODALITIES]
    if unknown:
        ap.error(f"unknown modality {', '.join(unknown)} (expected: {', '.join(MODALITIES)})")
    rows: list[dict] = []
    failed = []
    for name in wanted:
        try:
            mod = importlib.import_module(f"_recognition_{name}")
        except ModuleNotFoundError as e:
            if e.name != f"_recognition_{name}":
                raise
            print(f"--- {name}: no benchmarks/_recognition_{name}.py here, skipped", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            got = mod.run(args)
        except Exception:  # one modality failing must not hide the others' figures
            traceback.print_exc()
            failed.append(name)
            continue
        print(f"--- {name}: {len(got)} rows in {time.perf_counter() - t0:.0f} s", flush=True)
        rows.extend(got)
    print()
    print_table(rows)
    for r in rows:
        if r.get("params"):
            print(f"  {r['modality']} / {r['family']}: {r['params']}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
