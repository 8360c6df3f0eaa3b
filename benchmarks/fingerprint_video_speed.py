"""Video registration and query speed, this tree's code against another checkout's (e.g. main's), in one
run: for each video, both sides in their own fresh process (alternating which goes first), CPU seconds of
the process and its FFmpeg/fpcalc children per second of video. The same-run ratio is the steady figure
on a shared machine, where CPU time a unit grows with the load.

    nice -n 10 .venv/bin/python benchmarks/fingerprint_video_speed.py --against /work/main/src \\
        ~/.cache/fairtrain/video-bench/works-40-*/works/work00[1-4].mp4
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from fairtrain.core.fingerprint.video import fingerprint_video, register_video

def cpu():
    a, b = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return a.ru_utime + a.ru_stime + b.ru_utime + b.ru_stime

register_video(sys.argv[2], "warm")  # imports and first-use caches stay out of the figure
c = cpu(); register_video(sys.argv[2], "w"); r = cpu() - c
c = cpu(); fingerprint_video(sys.argv[2], "w"); q = cpu() - c
print(json.dumps([r, q]))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--against", type=Path, required=True, help="the other checkout's src directory")
    ap.add_argument("videos", nargs="+", type=Path)
    args = ap.parse_args()
    here = Path(__file__).resolve().parent.parent / "src"
    sides = {"this tree": here, f"{args.against}": args.against}
    total = {name: [0.0, 0.0] for name in sides}
    seconds = 0.0
    for k, video in enumerate(args.videos):
        seconds += float(
            subprocess.run(
                ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(video)],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        order = list(sides.items()) if k % 2 == 0 else list(reversed(sides.items()))
        for name, src in order:
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(src), str(video)], capture_output=True, text=True, check=True
            ).stdout
            r, q = json.loads(out)
            total[name][0] += r
            total[name][1] += q
    print(f"{len(args.videos)} videos, {seconds:.0f} s")
    for name, (r, q) in total.items():
        print(f"{name:>24}: registration {seconds / r:5.1f}× real time per core, query {seconds / q:5.1f}×")


if __name__ == "__main__":
    main()
