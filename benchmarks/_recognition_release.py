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
        blob = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref, "src"],
                              capture_output=True, check=True, timeout=120).stdout
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
        script = (f"import json\nPAYLOAD = json.load(open({str(pin)!r}))\nRESULT = None\n{code}\n"
                  f"json.dump(RESULT, open({str(pout)!r}, 'w'))\n")
        env = {**os.environ, "PYTHONPATH": str(src)}
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                              timeout=3600)
        if proc.returncode != 0:
            print(f"release run failed: {proc.stderr[-2000:]}", file=sys.stderr)
            return None
        return json.loads(pout.read_text())
