"""What the benchmarks share: the table every ratio benchmark prints."""

from __future__ import annotations

import sys

from rich.table import Table


def ratio_table(title: str) -> Table:
    """A figure per row: fairtrain's, the baseline's in the same run, their ratio, the target and whether it is met."""
    return Table("figure", "fairtrain", "baseline", "ratio", "target", "met", title=title)


def ensure_debian_packages(names) -> None:
    """Install the Debian packages a benchmark's corpus comes from, where missing.

    Installed packages (``dpkg-query``) are left alone; the missing ones are installed with
    ``apt-get install -y`` as root, or through ``sudo -n`` where that works without a password. Otherwise
    (no root, no sudo, or apt-get failing) the benchmark exits with the exact command to run.
    """
    import os
    import shutil
    import subprocess

    wanted = list(dict.fromkeys(names))
    if not wanted:
        return
    query = subprocess.run(
        ["dpkg-query", "-W", "-f=${Package} ${db:Status-Status}\n", *wanted],
        capture_output=True,
        text=True,
    )
    installed = {
        p for p, _, status in (line.partition(" ") for line in query.stdout.splitlines()) if status == "installed"
    }
    missing = [n for n in wanted if n not in installed]
    if not missing:
        return
    command = ["apt-get", "install", "-y", *missing]
    shown = " ".join(command)
    if os.geteuid() == 0:
        prefix: list[str] = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        prefix = ["sudo", "-n"]
    else:
        raise SystemExit(f"corpus packages missing ({len(missing)}); install them first:\n  sudo {shown}")
    print(f"installing the corpus: {' '.join(prefix + command)}", file=sys.stderr, flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(prefix + command, env=env).returncode != 0:
        raise SystemExit(f"apt-get could not install the corpus; run it yourself:\n  sudo {shown}")
