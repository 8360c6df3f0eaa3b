"""Run the three fingerprint benchmarks (text, image, audio) in one command, each printing its table.

    .venv/bin/python benchmarks/fingerprints.py [--quick] [--only text,image,audio]

Each benchmark measures its baseline in the same run (datasketch for text, imagehash pHash with a
linear scan for images, plain fpcalc comparison for audio) and prints ratios and targets.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="text,image,audio")
    args = ap.parse_args()
    failed = []
    for name in args.only.split(","):
        script = HERE / f"fingerprint_{name.strip()}.py"
        print(f"\n=== {name} ({script.name}) ===", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.call([sys.executable, str(script), *(["--quick"] if args.quick else [])])
        print(f"--- {name}: {time.perf_counter() - t0:.0f} s, exit {rc}", flush=True)
        if rc:
            failed.append(name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
