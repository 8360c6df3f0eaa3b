"""The release before issue 16, run beside the current code: recall and speed "before" in the same run.

The recognition benchmark compares the current code with the code path it replaces. That code is taken
from git (``RELEASE``, the commit this work started from) with ``git archive`` into a temporary folder
and run in a subprocess with that folder first on ``PYTHONPATH``, so both sides use the same machine,
the same payloads and the same run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
import tempfile
from functools import cache
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RELEASE = "fd9b26c"  # main before issue 16 (image/audio recognition as the issue measured it)


@cache
def release_src(ref: str = RELEASE) -> Path | None:
    """``src/`` of ``ref`` unpacked into a temporary folder, or None where git or the commit is missing."""
    try:
        blob = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", ref, "src"],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    out = Path(tempfile.mkdtemp(prefix="fairtrain-release-"))
    path = out / "src.tar"
    path.write_bytes(blob)
    with tarfile.open(path) as tar:
        tar.extractall(out, filter="data")
    return out / "src"


def run_release(code: str, payload: dict, ref: str = RELEASE) -> dict | None:
    """Run ``code`` (a Python snippet reading ``PAYLOAD`` and setting ``RESULT``) against the release's
    sources in a subprocess; its JSON result, or None where the release cannot be had."""
    src = release_src(ref)
    if src is None:
        return None
    with tempfile.TemporaryDirectory(prefix="fairtrain-release-run-") as tmp:
        pin = Path(tmp) / "payload.json"
        pout = Path(tmp) / "result.json"
        pin.write_text(json.dumps(payload))
        script = (
            f"import json\nPAYLOAD = json.load(open({str(pin)!r}))\nRESULT = None\n{code}\n"
            f"json.dump(RESULT, open({str(pout)!r}, 'w'))\n"
        )
        env = {**os.environ, "PYTHONPATH": str(src)}
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            print(f"release run failed: {proc.stderr[-2000:]}", file=sys.stderr)
            return None
        return json.loads(pout.read_text())


def print_rows(rows: list[dict]) -> None:
    """One modality's rows as a table (for running a ``_recognition_*`` module alone): recall per family
    beside the release and the baselines, then the modality's negatives and speed."""
    names = [k for k in ("baseline", "baseline2") if k in rows[0]]
    width = max(len(r["family"]) for r in rows) + 1
    head = f"{'family':{width}} {'n':>5} {'recall':>7} {'false':>5} | {'release':>7} " + " ".join(
        f"{rows[0][k][:12]:>12}" for k in names
    )
    print(head)
    print("-" * len(head))
    estimates = [r for r in rows if "recall" not in r]  # the false-match rate at 10**7 works, printed after
    rows = [r for r in rows if "recall" in r]
    for r in rows:
        rel = f"{r['release_recall']:.3f}" if "release_recall" in r else "—"
        flag = "" if r["recall"] >= r["target"] else "  BELOW TARGET"
        print(
            f"{r['family']:{width}} {r['n']:5d} {r['recall']:7.3f} {r['false_matches']:5d} | {rel:>7} "
            + " ".join(f"{r[k + '_recall']:12.3f}" for k in names)
            + flag
        )
    s = rows[-1]
    others = ", ".join(f"{s[k]} {s.get(k + '_false_matches', '—')}" for k in names)
    print(
        f"negatives: {s.get('negatives')} unrelated items, false matches {s.get('negative_false_matches')} "
        f"({others}; release {s.get('release_false_matches', '—')} on the first "
        f"{s.get('release_negatives', '—')}); speed {s.get('speed')}, ratio to release {s.get('speed_ratio', '—')}"
    )
    if s.get("left_out_ours_only"):
        print(
            f"  designs of the works' packages left out of the negatives because fairtrain alone linked them to "
            f"a work (derived drawings or false matches, named in the log): {s['left_out_ours_only']}"
        )
    for r in estimates:
        figures = ", ".join(
            f"{k} {v:.2g}" if isinstance(v, float) else f"{k} {v}"
            for k, v in r.items()
            if k not in ("modality", "family")
        )
        print(f"{r['family']}: {figures}")


def run_alone(run, description: str) -> None:
    """The ``__main__`` of a ``_recognition_*`` module: ``--quick``, ``--seed``, ``--workers``, one table."""
    import argparse

    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2, help="audio: subprocess pool size")
    ap.add_argument("--works", type=int, default=0, help="image, audio: works to register (0: the module's default)")
    ap.add_argument("--negatives", type=int, default=0, help="image, audio: negatives (0: the module's default)")
    print_rows(run(ap.parse_args()))


def add_release(summary: dict, truth: list, rel_hits: list, negatives: int, speed_ratio: float, speed: str) -> None:
    """The release's side of a modality's summary row: its recall on the queries (``truth``: (family, work)
    per query, ``rel_hits`` the release's hits for the queries and then the negatives), its false matches on
    the negatives, and its speed (``speed_ratio`` release ÷ current, ``speed`` a note added to the row's)."""
    import numpy as np

    summary["release_recall"] = float(np.mean([t[1] in h for t, h in zip(truth, rel_hits)]))
    summary["release_false_matches"] = sum(len(h) for h in rel_hits[len(truth) :])
    summary["release_negatives"] = negatives
    summary["speed_ratio"] = round(speed_ratio, 3)
    summary["speed"] += speed
