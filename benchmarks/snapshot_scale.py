"""Snapshot export and matching at scale (issue 17, item 2): streamed, segmented export vs today's.

Fills SQLite registries of N text works with generated fingerprints written straight to the database (the
issue allows this above the sizes registration from files is measured at): ``BASE`` distinct 200-word
texts are fingerprinted for real, and every further work is one of them with every hash XOR-ed by a
per-work salt, so fingerprints are distinct and shaped like real ones without 5 ms of fingerprinting
each. Then, each in its own process (peak RSS from the process's own ``getrusage``):

- ``snapshot export``: seconds, peak RSS, bytes per work;
- ``SnapshotMatcher.open``: seconds and RSS (since format /6 the signature, listing and sizes; each file's
  SHA-256 is checked when it is first read, so the clearance below pays for the files it touches);
- clearance throughput: ``QUERIES`` texts (excerpts of registered works and unrelated ones) matched, items/s
  on one core, and RSS after.

The baseline is the export code path before this change (``git archive`` of ``--baseline-ref``, default
the commit this work started from, run with that tree's ``src`` first on ``PYTHONPATH``, as
benchmarks/recognition.py does), at ``--baseline-works``. A log-log fit per figure over the sizes gives
its growth exponent and the extrapolation to 10⁷ and 10⁸ works.

With ``--segment-counts 1,10``, at the smallest size (or ``--segment-counts-at N``) the index is also cut
into 1 and 10 segments and clearance throughput measured routed by the merged candidate table (format /6)
and asking every segment (as /4 did), as ratios against one segment in the same run: end to end (text
fingerprinted, matched, terms read) and the index alone (queries fingerprinted before the clock starts).

    python benchmarks/snapshot_scale.py [--works 10000,30000,100000] [--baseline-works 10000] [--segment-counts 1,10]
        [--workers N] [--engine local|ray]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
BASELINE = "79c6c5a"  # the commit streamed export started from (snapshot format /3, deltas included)
BASE = 400  # distinct texts fingerprinted for real
QUERIES = 200
WORDS = 200
_KO = "강물 바람 하늘 노래 사람 시간 마음 나무 별빛 바다 구름 들판 고향 어머니 아침 저녁 봄날 겨울 꽃잎 이야기".split()


def _texts(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    vocab = ["".join(rnd.choice("abcdefghiklmnoprstuvwy") for _ in range(rnd.randint(2, 9))) for _ in range(6000)]
    vocab += _KO * 20
    return [" ".join(rnd.choice(vocab) for _ in range(WORDS)) for _ in range(n)]


def _salted(fp, salt: int):
    """``fp`` with every hash XOR-ed by ``salt``: a distinct fingerprint of the same shape."""
    s64, s32 = np.uint64(salt), np.uint32(salt & 0xFFFFFFFF)
    ro = lambda a: (a.setflags(write=False), a)[1]  # noqa: E731
    return replace(
        fp,
        raw_hash=(int.from_bytes(fp.raw_hash, "big") ^ salt).to_bytes(16, "big"),
        norm_hash=(int.from_bytes(fp.norm_hash, "big") ^ salt).to_bytes(16, "big"),
        grams=ro(fp.grams ^ s64),
        winnow_positions=fp.winnow_positions,
        minhash=ro(fp.minhash ^ s32),
        bands=ro(fp.bands ^ s64),
        hangul_grams=None if fp.hangul_grams is None else ro(fp.hangul_grams ^ s64),
        hangul_minhash=None if fp.hangul_minhash is None else ro(fp.hangul_minhash ^ s32),
    )


def fill(registry, n: int, *, seed: int = 17, base: int = BASE) -> list[str]:
    """Add ``n`` text works with generated fingerprints straight to the database; returns the real texts
    behind the first ``base`` of them (what queries are cut from)."""
    from sqlalchemy import func, insert, select

    from fairtrain.core.fingerprint import codec
    from fairtrain.core.fingerprint.modalities import modality
    from fairtrain.core.store.models import Fingerprint, Work

    texts = _texts(min(n, base), seed)
    regs = modality("text").register_many([(f"{i}.txt", t.encode()) for i, t in enumerate(texts)])
    with registry.engine.begin() as c:
        start = (c.execute(select(func.max(Work.id))).scalar() or 0) + 1
        for lo in range(0, n, 5_000):
            ids = range(start + lo, start + min(lo + 5_000, n))
            fps = [
                regs[k % len(regs)] if k < len(regs) else _salted(regs[k % len(regs)], k * 0x9E3779B97F4A7C15 % 2**64)
                for k in (i - start for i in ids)
            ]
            c.execute(
                insert(Work),
                [
                    {"id": i, "title": f"작품 {i}", "media_type": "text", "iscc": fp.iscc_code, "status": "active"}
                    for i, fp in zip(ids, fps, strict=True)
                ],
            )
            c.execute(
                insert(Fingerprint),
                [
                    {"work_id": i, "modality": "text", "payload": codec.dumps(fp)}
                    for i, fp in zip(ids, fps, strict=True)
                ],
            )
    return texts


_EXPORT = """
import json, resource, sys, time
from pathlib import Path
from fairtrain.core.keys import SigningKey
from fairtrain.services.registry import Registry
from fairtrain.services.registry.snapshot_export import export_snapshot
p = json.loads(sys.stdin.read())
reg = Registry.open(url=p["url"])
key = SigningKey.generate()
cpu = lambda: sum(getattr(resource.getrusage(w), f) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
                  for f in ("ru_utime", "ru_stime"))
t, c0 = time.perf_counter(), cpu()
m = export_snapshot(reg, Path(p["out"]), key, **p["kw"])
dt, dcpu = time.perf_counter() - t, cpu() - c0
(Path(p["out"]).parent / "snap.pub").write_text(key.public.b64())
size = sum(f.stat().st_size for f in Path(p["out"]).rglob("*") if f.is_file())
print(json.dumps({"s": dt, "cpu_s": dcpu, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "worker_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, "bytes": size,
                  "format": m["format"]}))
"""

_MATCH = """
import json, resource, sys, time
from pathlib import Path
from fairtrain.core.keys import PublicKey
from fairtrain.core.matcher import SnapshotMatcher
import numpy, pyarrow.parquet  # imported before the clock starts: opening is timed, not importing
p = json.loads(sys.stdin.read())
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
now = lambda: int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20  # resident now (mapped pages too)
before = now()
t = time.perf_counter()
m = SnapshotMatcher.open(Path(p["out"]), [PublicKey.from_b64((Path(p["out"]).parent / "snap.pub").read_text())])
open_s = time.perf_counter() - t
if p.get("every_segment"):  # as a /4 snapshot matches: every item against every segment
    m.index("text").candidates = None
open_rss = now()
items = [(f"q{i}.txt", q.encode()) for i, q in enumerate(p["queries"])]
t, c = time.perf_counter(), time.process_time()
m.match(items[:2])  # first use of the index (a segment opened: /7 maps it, /6 decoded it), not in the throughput
first_s, first_cpu, first_rss = time.perf_counter() - t, time.process_time() - c, now()
# throughput on the process's own CPU clock (items per CPU second: per core), the best of a few passes: on a
# shared machine wall time mostly measures the other processes
clock = time.process_time
dt = float("inf")
for _ in range(p.get("repeats", 3)):
    t = clock()
    res = m.match(items)
    dt = min(dt, clock() - t)
ix = m.index("text")
from fairtrain.core.fingerprint.modalities import modality
fps = modality("text").fingerprint_many(items)
di = float("inf")
# the index alone: what the number of segments changes. The best of 50 passes (about 0.1 s): with 10, a
# 2x10^5-work snapshot's best varied from 70,000 to 95,000 items/CPU-s between processes on this shared
# machine (other processes share its L3 cache, and a larger index feels it more), with 50 from 104,000 to
# 110,000, while a 10^4 one's hardly moved
for _ in range(p.get("index_repeats", 50)):
    t = clock()
    ix.match(fps)
    di = min(di, clock() - t)
print(json.dumps({"open_s": open_s, "open_rss_mb": open_rss - before, "items_s": len(items) / dt,
                  "first_s": first_s, "first_cpu_s": first_cpu, "first_rss_mb": first_rss - before,
                  "index_items_s": len(items) / di,
                  "matched": sum(bool(r.matches) for r in res), "match_rss_mb": rss(),
                  "segments": len(getattr(ix, "paths", [None])), "opened": len(getattr(ix, "_open", [None]))}))
"""


def _run(code: str, payload: dict, pythonpath: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(pythonpath), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    r = subprocess.run(
        [sys.executable, "-c", code], input=json.dumps(payload), env=env, capture_output=True, text=True, check=False
    )
    if r.returncode:
        raise SystemExit(f"child failed ({r.returncode}):\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _old_src(ref: str, into: Path) -> Path:
    tar = subprocess.run(
        ["git", "-C", str(REPO), "archive", "--format=tar", ref, "src"], capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(into)], input=tar.stdout, check=True)
    return into / "src"


def _queries(texts: list[str], seed: int) -> list[str]:
    rnd = random.Random(seed)
    out = []
    for i in range(QUERIES):
        if i % 2:
            out.append(" ".join(_texts(1, seed + i)[0].split()[:120]))  # unrelated
        else:
            words = texts[rnd.randrange(len(texts))].split()
            a = rnd.randrange(0, WORDS - 80)
            out.append("intro words here " + " ".join(words[a : a + 80]) + " closing words")
    return out


def _segment_counts(url: str, d: Path, n: int, queries: list[str], counts: list[int]) -> list[dict]:
    """Clearance throughput with the index in each number of segments, routed and asking every segment, as
    ratios against one segment in the same run."""
    out = []
    for count in counts:
        snap = d / f"snap-seg{count}"
        _run(_EXPORT, {"url": url, "out": str(snap), "kw": {"segment_works": -(-n // count)}}, REPO / "src")
        for every in (False, True):
            m = _run(_MATCH, {"out": str(snap), "queries": queries, "every_segment": every}, REPO / "src")
            out.append({"works": n, "segments": m["segments"], "every_segment": every, **m})
        shutil.rmtree(snap, ignore_errors=True)
    one = next((r for r in out if r["segments"] == 1 and not r["every_segment"]), None)
    for r in out:
        r["vs_one_segment"] = r["items_s"] / one["items_s"] if one else None
        r["index_vs_one_segment"] = r["index_items_s"] / one["index_items_s"] if one else None
        print(
            f"    {n:,} works in {r['segments']:>3} segment(s), "
            f"{'every segment asked' if r['every_segment'] else 'routed by the merged table'}: "
            f"clearance {r['items_s']:6.1f} items/s/core"
            + (f" = ×{r['vs_one_segment']:.2f} of one segment" if one else "")
            + f"; index alone {r['index_items_s']:7.0f} items/s"
            + (f" = ×{r['index_vs_one_segment']:.2f}" if one else "")
            + f", {r['matched']}/{QUERIES} matched, {r['opened']} segment(s) opened",
            flush=True,
        )
    return out


_OPEN = """
import json, resource, sys, time
from pathlib import Path
from fairtrain.core.keys import PublicKey
from fairtrain.core.matcher import SnapshotMatcher
import numpy, pyarrow.parquet
p = json.loads(sys.stdin.read())
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
before = rss()
t = time.perf_counter()
m = SnapshotMatcher.open(Path(p["out"]), [PublicKey.from_b64(p["pub"])])
ix = m.index("text")
print(json.dumps({"open_s": time.perf_counter() - t, "open_rss_mb": rss() - before, "files": len(m.snapshot.manifest["files"]),
                  "segments": len(ix.paths), "terms_rows": len(m.terms)}))
"""


def synthetic_open(n: int, template: Path, d: Path) -> dict:
    """Open time of an ``n``-work snapshot laid out as the export lays it out (100,000-work segments with the
    files of a real segment, 20,000-row fingerprint-row shards, 250,000-row terms shards, the routing table)
    without writing its bytes: every file is sparse, of the size a real one would have, and listed in a
    signed manifest with a placeholder hash. Opening checks the signature, the listing and the sizes and
    hashes nothing, so this measures it at ``n``; a first read of any file would be refused (its hash is not
    the file's), which this never does."""
    from fairtrain.core.keys import SigningKey, sign_document
    from fairtrain.core.snapshot import FORMAT, MANIFEST

    seg_files = sorted(p for p in (template / "fingerprints" / "text" / "seg-00000").iterdir() if p.is_file())
    segs = -(-n // 100_000)
    files = []

    def put(rel: str, size: int) -> None:
        f = d / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        with open(f, "wb") as h:
            h.truncate(size)
        files.append({"path": rel, "sha256": "0" * 64, "bytes": size})

    per_work = {p.name: p.stat().st_size / max(1, _works_of(template)) for p in seg_files}
    for i in range(segs):
        for name, b in per_work.items():
            put(f"fingerprints/text/seg-{i:05d}/{name}", int(b * 100_000))
    for src in sorted((template / "fingerprints" / "text").glob("route-*.npy")):  # /8: route-buckets.npy too
        name = src.name
        put(f"fingerprints/text/{name}", int(src.stat().st_size / max(1, _works_of(template)) * n))
    for i in range(-(-n // 20_000)):
        put(f"fingerprint-rows/text/text-{i:05d}.parquet", 20_000 * 900)
    ranges = []
    for i in range(-(-n // 250_000)):
        put(f"terms/terms-{i:05d}.parquet", 250_000 * 200)
        ranges.append([f"terms/terms-{i:05d}.parquet", i * 250_000 + 1, min(n, (i + 1) * 250_000), 250_000])
    key = SigningKey.generate()
    doc = sign_document(
        {
            "format": FORMAT,
            "created_at": "2026-12-07T00:00:00+00:00",
            "registry": "synthetic",
            "counts": {"works": n},
            "index_segment_works": 100_000,
            "terms_shards": ranges,
            "files": sorted(files, key=lambda f: f["path"]),
        },
        key,
    )
    (d / MANIFEST).write_text(json.dumps(doc, indent=2))
    return _run(_OPEN, {"out": str(d), "pub": key.public.b64()}, REPO / "src")


def _works_of(snap: Path) -> int:
    return json.loads((snap / "manifest.json").read_text())["counts"]["works"]


def fit(sizes: list[int], values: list[float]) -> tuple[float, float, float]:
    """Exponent of ``value ∝ size^k`` (least squares in log-log) and the extrapolations to 10⁷, 10⁸."""
    x, y = np.log10(sizes), np.log10(np.maximum(values, 1e-9))
    k, c = np.polyfit(x, y, 1) if len(sizes) > 1 else (1.0, y[0] - x[0])
    return float(k), float(10 ** (c + 7 * k)), float(10 ** (c + 8 * k))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--works", default="10000,30000,100000", help="comma-separated registry sizes")
    ap.add_argument("--baseline-works", type=int, default=10_000, help="size the old export runs at (0: none)")
    ap.add_argument("--baseline-ref", default=BASELINE, help="the export before this change (default: %(default)s)")
    ap.add_argument("--segment-works", type=int, help="works per index segment (default: the export's own)")
    ap.add_argument("--workers", type=int, default=1, help="index segments built at once (the new code only)")
    ap.add_argument("--engine", default="local", help="where segments are built: local or ray (the new code only)")
    ap.add_argument("--segment-counts-at", type=int, help="the size --segment-counts runs at (default: the smallest)")
    ap.add_argument(
        "--segment-counts",
        default="",
        help="also, at the smallest size, clearance with the index cut into each of these numbers of segments "
        "(for example 1,10), items routed by candidate keys and every item asked of every segment (as /4)",
    )
    ap.add_argument(
        "--synthetic-open",
        default="",
        help="also time opening snapshots of these sizes laid out as exported, with sparse files (e.g. 10000000)",
    )
    ap.add_argument("--json", type=Path, help="also write the figures here")
    a = ap.parse_args()
    sizes = [int(s) for s in a.works.split(",")]
    sys.path.insert(0, str(REPO / "src"))
    from fairtrain.services.registry import Registry

    tmp = Path(tempfile.mkdtemp(prefix="snapshot-scale."))
    rows, base_rows, seg_rows = [], [], []
    try:
        old = _old_src(a.baseline_ref, tmp) if a.baseline_works else None
        for n in sorted(set(sizes) | ({a.baseline_works} if a.baseline_works else set())):
            d = tmp / f"n{n}"
            d.mkdir()
            url = f"sqlite:///{d / 'registry.db'}"
            reg = Registry.open(url=url, create=True)
            t = time.perf_counter()
            texts = fill(reg, n)
            fill_s = time.perf_counter() - t
            reg.engine.dispose()
            q = _queries(texts, 5)
            todo = [("new", REPO / "src")] if n in sizes else []
            if old is not None and n == a.baseline_works:
                todo.append(("old", old))
            for which, src in todo:
                out = d / f"snap-{which}"
                kw = {"workers": a.workers, "engine": a.engine} if which == "new" else {}
                if which == "new" and a.segment_works:
                    kw["segment_works"] = a.segment_works
                e = _run(_EXPORT, {"url": url, "out": str(out), "kw": kw}, src)
                m = _run(_MATCH, {"out": str(out), "queries": q}, src)
                row = {
                    "works": n,
                    "code": which,
                    "fill_s": round(fill_s, 1),
                    **e,
                    **m,
                    "bytes_per_work": e["bytes"] / n,
                }
                (rows if which == "new" else base_rows).append(row)
                print(
                    f"{which:>3} {n:>9,} works: export {e['s']:7.1f} s ({e.get('cpu_s', 0):.1f} CPU s), peak RSS {e['rss_mb']:7.0f} MB "
                    f"(a worker's {e.get('worker_rss_mb', 0):.0f} MB), "
                    f"{e['bytes'] / n:6.0f} B/work ({e['format']}); open {m['open_s']:5.2f} s "
                    f"(+{m['open_rss_mb']:.0f} MB); first clearance {m.get('first_s', 0):.2f} s "
                    f"({m.get('first_cpu_s', 0):.2f} CPU s, +{m.get('first_rss_mb', 0):.0f} MB); clearance {m['items_s']:6.1f} items/s/core, "
                    f"{m['matched']}/{QUERIES} matched, RSS {m['match_rss_mb']:.0f} MB; index alone "
                    f"{m['index_items_s']:.0f} items/s ({m['segments']} segment(s), {m['opened']} opened)",
                    flush=True,
                )
                if which == "new" and a.synthetic_open and n == max(sizes):
                    for big in (int(x) for x in a.synthetic_open.split(",")):
                        o = synthetic_open(big, out, d / f"synthetic-{big}")
                        print(
                            f"    open of a {big:,}-work snapshot laid out as exported ({o['files']:,} files, "
                            f"{o['segments']} segments, sparse): {o['open_s']:.2f} s, +{o['open_rss_mb']:.0f} MB",
                            flush=True,
                        )
                        shutil.rmtree(d / f"synthetic-{big}", ignore_errors=True)
                shutil.rmtree(out, ignore_errors=True)
            if a.segment_counts and n == (a.segment_counts_at or min(sizes)):
                seg_rows.extend(_segment_counts(url, d, n, q, [int(c) for c in a.segment_counts.split(",")]))
            (d / "registry.db").unlink()
        for b in base_rows:
            new = next((r for r in rows if r["works"] == b["works"]), None)
            if new:
                print(
                    f"vs {a.baseline_ref} at {b['works']:,} works: export time ×{new['s'] / b['s']:.2f}, "
                    f"export CPU ×{new['cpu_s'] / b['cpu_s']:.2f}, "
                    f"peak RSS ×{new['rss_mb'] / b['rss_mb']:.2f}, open ×{new['open_s'] / b['open_s']:.2f}, "
                    f"first clearance CPU ×{new['first_cpu_s'] / max(b['first_cpu_s'], 1e-9):.2f}, "
                    f"RSS after it ×{max(new['first_rss_mb'], 1) / max(b['first_rss_mb'], 1):.2f}, "
                    f"clearance ×{new['items_s'] / b['items_s']:.2f}, "
                    f"index alone ×{new['index_items_s'] / b['index_items_s']:.2f}"
                )
        if len(rows) > 1:  # issue 17: per-item cost flat with size (the target: within 0.8× of the smallest)
            first = rows[0]
            for r in rows[1:]:
                print(
                    f"at {r['works']:,} works against {first['works']:,} (this run): clearance "
                    f"×{r['items_s'] / first['items_s']:.2f}, index alone ×{r['index_items_s'] / first['index_items_s']:.2f}"
                )
        fits = {}
        if len(rows) > 1:
            print("log-log growth (value ∝ works^k) and extrapolation:")
            for fig in (
                "s",
                "cpu_s",
                "rss_mb",
                "bytes_per_work",
                "open_s",
                "open_rss_mb",
                "first_cpu_s",
                "first_rss_mb",
                "match_rss_mb",
                "items_s",
            ):
                k, at7, at8 = fit([r["works"] for r in rows], [r[fig] for r in rows])
                fits[fig] = {"k": k, "1e7": at7, "1e8": at8}
                print(f"  {fig:>15}: k = {k:5.2f}   10⁷: {at7:12.2f}   10⁸: {at8:12.2f}")
        if a.json:
            a.json.write_text(
                json.dumps({"rows": rows, "baseline": base_rows, "segments": seg_rows, "fits": fits}, indent=2)
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
