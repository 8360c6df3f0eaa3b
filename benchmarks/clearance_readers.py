"""How fast the clearance readers stream a dataset, against the bare library loop measured in the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/clearance_readers.py [--quick]

For each format a generated shard is read to the end as batches of Items (URL, text, content bytes,
media type, the row's own record) and the same shard is read by the cheapest loop that still decodes
every row: pyarrow ``iter_batches().to_pylist()``, ``json.loads`` per line, ``csv.reader``,
``tarfile`` member reads. Times are CPU seconds of this process (fastest of 2–3 runs), rates per CPU second. Targets: the readers add at most 10 us per item (so that a core streams at
least 100,000 manifest rows a second, far above what fingerprinting consumes), and stay within 2x of the
bare loop. ``write_cleared`` (keeping every other row) is timed against reading the same shard.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.services.clearance.readers import reader_for

TARGET_RATIO = 2.0
TARGET_US = 10.0


def _jpeg_like(rng: np.random.Generator, n: int) -> bytes:
    return b"\xff\xd8\xff\xe0" + rng.bytes(n)


def _make(root: Path, rows: int) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    urls = [f"https://img.example/{i:08d}.jpg" for i in range(rows)]
    captions = [f"a photo of thing number {i} on a table" for i in range(rows)]
    paths = {}
    paths["parquet (url+caption)"] = root / "laion.parquet"
    pq.write_table(
        pa.table({"URL": urls, "TEXT": captions, "__index_level_0__": list(range(rows))}),
        paths["parquet (url+caption)"],
        row_group_size=10_000,
    )
    n_img = rows // 10
    paths["parquet (jpg bytes)"] = root / "images.parquet"
    pq.write_table(
        pa.table(
            {"url": urls[:n_img], "caption": captions[:n_img], "jpg": [_jpeg_like(rng, 8192) for _ in range(n_img)]}
        ),
        paths["parquet (jpg bytes)"],
        row_group_size=1000,
    )
    paths["jsonl (text)"] = root / "docs.jsonl"
    with open(paths["jsonl (text)"], "w", encoding="utf-8") as f:
        for i in range(rows):
            f.write(json.dumps({"id": i, "url": urls[i], "text": captions[i] * 8}) + "\n")
    paths["csv (url+caption)"] = root / "manifest.csv"
    with open(paths["csv (url+caption)"], "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["url", "caption"])
        w.writerows(zip(urls, captions, strict=True))
    paths["webdataset (jpg+txt+json)"] = root / "shard.tar"
    with tarfile.open(paths["webdataset (jpg+txt+json)"], "w") as tf:
        for i in range(n_img):
            for ext, data in (
                ("jpg", _jpeg_like(rng, 8192)),
                ("txt", captions[i].encode()),
                ("json", json.dumps({"url": urls[i]}).encode()),
            ):
                ti = tarfile.TarInfo(f"{i:08d}.{ext}")
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return paths


def _baseline(kind: str, path: Path) -> int:
    n = 0
    if kind.startswith("parquet"):
        pf = pq.ParquetFile(path)
        for rb in pf.iter_batches(batch_size=1024):
            n += len(rb.to_pylist())
    elif kind.startswith("jsonl"):
        with open(path, "rb") as f:
            for line in f:
                json.loads(line)
                n += 1
    elif kind.startswith("csv"):
        with open(path, encoding="utf-8", newline="") as f:
            n = sum(1 for _ in csv.DictReader(f))
    else:
        with tarfile.open(path, "r|") as tf:
            for ti in tf:
                tf.extractfile(ti).read()
                n += 1
        n //= 3
    return n


def _timed(fn: Callable[[], int], repeat: int) -> tuple[float, int]:
    """Fastest of ``repeat`` runs in CPU seconds of this process (all its threads): on the shared 2-core
    machine wall clock is mostly scheduling (the bare parquet loop's wall rate moved 6x between runs)."""
    best, n = float("inf"), 0
    for _ in range(repeat):
        t = time.process_time()
        n = fn()
        best = min(best, time.process_time() - t)
    return best, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20,000 rows instead of 200,000")
    args = ap.parse_args()
    rows = 20_000 if args.quick else 200_000
    repeat = 2 if args.quick else 3
    with tempfile.TemporaryDirectory() as tmp:
        paths = _make(Path(tmp), rows)
        print(
            f"{'format':28} {'items':>8} {'reader items/s':>15} {'bare loop items/s':>18} {'ratio':>6} "
            f"{'(target)':>8} {'added us/item':>14} {'(target)':>8} {'write_cleared/read':>19}"
        )
        for kind, path in paths.items():
            reader = reader_for(path)
            (shard,) = reader.shards(path)

            def read(reader=reader, shard=shard) -> int:
                return sum(len(b) for b in reader.read(shard, 1024))

            t_read, n = _timed(read, repeat)
            t_base, n_base = _timed(lambda kind=kind, path=path: _baseline(kind, path), repeat)
            assert n == n_base, (kind, n, n_base)
            kept = [it for b in reader.read(shard, 4096) for it in b if it.row % 2 == 0]
            out = Path(tmp) / f"out-{path.name}"
            t_write, _ = _timed(
                lambda reader=reader, shard=shard, kept=kept, out=out: reader.write_cleared(shard, kept, out), 1
            )
            ratio = t_read / t_base
            added = (t_read - t_base) / n * 1e6
            print(
                f"{kind:28} {n:8,d} {n / t_read:15,.0f} {n_base / t_base:18,.0f} {ratio:6.2f} "
                f"{'<=' + str(TARGET_RATIO):>8} {added:14.1f} {'<=' + str(TARGET_US):>8} "
                f"{t_write / t_read:19.2f}"
            )


if __name__ == "__main__":
    main()
