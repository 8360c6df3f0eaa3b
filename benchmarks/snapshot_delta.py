"""Snapshot deltas (issue 17, item 3): delta export and pull after 1 % changes, against a full export.

A registry of ``--works`` text works (200 words each, registered from files through ``import_csv``) is
exported in full (A) and pulled over HTTP by ``fairtrain snapshot pull`` from a real ``fairtrain serve``;
then 1 % of the works change (half get new terms, a quarter are withdrawn, a quarter are added), and the
registry exports the delta A→B (``--since``) and, for comparison, a full B. Printed: time and bytes of
each export, and of the pull that fetches only the delta, against pulling the full B afresh.

    python benchmarks/snapshot_delta.py [--works 10000]
    python benchmarks/registry_scale.py --delta-works 10000   # the same figures after the import ones
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from sqlalchemy import select, update

from fairtrain.core.keys import SigningKey
from fairtrain.core.store.models import Work, WorkShare
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.registry import Registry, import_csv
from fairtrain.services.registry.snapshot_export import export_delta, export_snapshot

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
WORDS = ["바람", "노래", "river", "stone", "light", "하늘", "window", "garden", "밤", "letter", "morning", "길"]


def _sheet(root: Path, start: int, n: int, rnd: random.Random) -> Path:
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    sheet = root / f"works-{start}.csv"
    with sheet.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(start, start + n):
            text = " ".join(rnd.choice(WORDS) + str(rnd.randrange(100_000)) for _ in range(200))
            (files / f"w{i:07d}.txt").write_text(text, encoding="utf-8")
            f.write(f"T{i:07d},Work {i},files/w{i:07d}.txt,member-{i % 997}:author:1,,,,,allow,,,,,\n")
    return sheet


def _bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _serve(data: Path, url: str, env: dict) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", "from fairtrain.cli.app import main; main()", "serve", "--port", str(port)]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/api/snapshots/chain", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("fairtrain serve did not start")


def _pull(env: dict, base: str, target: Path, pub: Path) -> tuple[dict, float]:
    cmd = [sys.executable, "-c", "from fairtrain.cli.app import main; main()", "snapshot", "pull"]
    t0 = time.perf_counter()
    out = subprocess.run(
        [*cmd, base, str(target), "--public-key", str(pub), "--json"], env=env, check=True, capture_output=True
    )
    return json.loads(out.stdout), time.perf_counter() - t0


def report(works: int) -> None:
    rnd = random.Random(17)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        data = tmp / "data"
        snaps = data / "snapshots"
        url = f"sqlite:///{tmp / 'registry.sqlite3'}"
        reg = Registry.open(url=url, create=True)
        org = reg.add_org("Bench CMO")
        _, t_import = _timed(lambda: import_csv(reg, _sheet(tmp / "in", 0, works, rnd), org_id=org))
        key = SigningKey.generate()
        pub = tmp / "registry.pub"
        pub.write_text(key.public.b64())
        _, t_full_a = _timed(lambda: export_snapshot(reg, snaps / "a", key))
        env = {**os.environ, "FAIRTRAIN_DATA_DIR": str(data), "FAIRTRAIN_DATABASE_URL": url}
        proc, base = _serve(data, url, env)
        try:
            client_env = {**env, "FAIRTRAIN_DATA_DIR": str(tmp / "client-data")}
            first, t_pull_full = _pull(client_env, base, tmp / "client" / "snap", pub)
            # 1 % of the works change
            k = max(4, works // 100)
            ids = sorted(rnd.sample(range(1, works + 1), k))
            with reg.engine.connect() as c:
                holder = dict(c.execute(select(WorkShare.work_id, WorkShare.holder_id)).all())
            for wid in ids[: k // 2]:
                party = f"holder:{holder[wid]}"
                reg.declare(level=Level.WORK, target_id=wid, party=party, values={Category.TRAIN_GENAI: Value.ALLOW})
            with reg.engine.begin() as c:
                c.execute(update(Work).where(Work.id.in_(ids[k // 2 : 3 * k // 4])).values(status="rejected"))
            import_csv(reg, _sheet(tmp / "in", works, k - 3 * k // 4, rnd), org_id=org)
            doc, t_delta = _timed(lambda: export_delta(reg, snaps / "a", snaps / "d1", key, state_dir=tmp / "state-b"))
            _, t_full_b = _timed(lambda: export_snapshot(reg, tmp / "full-b", key))
            second, t_pull_delta = _pull(client_env, base, tmp / "client" / "snap", pub)
        finally:
            proc.terminate()
            proc.wait(timeout=10)
        assert second["snapshot_id"] == doc["result"] and second["deltas_applied"] == 1
        full_bytes, delta_bytes = _bytes(tmp / "full-b"), _bytes(snaps / "d1")
        rows_bytes = _bytes(tmp / "full-b" / "fingerprint-rows")
        c = doc["counts"]
        print(
            f"delta export and pull after 1 % changes ({works:,} text works; {c['terms_changed']} terms changed, "
            f"{c['withdrawn']} withdrawn, {c['added']} added; import {t_import:.1f} s):\n"
            f"  export: delta {t_delta:.1f} s, {delta_bytes:,} bytes vs full {t_full_b:.1f} s, {full_bytes:,} bytes "
            f"({full_bytes / delta_bytes:.0f}x fewer bytes; the delta export computes the full state, then the "
            f"difference); first full export {t_full_a:.1f} s\n"
            f"  of the full snapshot, the fingerprint rows deltas need: {rows_bytes:,} bytes "
            f"({rows_bytes / full_bytes:.0%}, {rows_bytes / works:,.0f} bytes a work)\n"
            f"  pull: delta {t_pull_delta:.1f} s, {second['bytes_downloaded']:,} bytes fetched (rebuilds the indexes) "
            f"vs the full snapshot afresh {t_pull_full:.1f} s, {first['bytes_downloaded']:,} bytes"
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--works", type=int, default=10_000)
    report(ap.parse_args().works)


if __name__ == "__main__":
    main()
