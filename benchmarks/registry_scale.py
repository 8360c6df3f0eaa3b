"""Registry at scale (issue 17): import with files and metadata-only import, on SQLite.

Text works of 200 words of real-looking Korean or English (words drawn from the Korean corpora shipped
in the konlpy wheel and from the Debian Reference, ``debian-reference-en``; cached under
``~/.cache/fairtrain``), one file each, registered through ``import_csv`` (what ``registry import``
runs) with every fingerprint and ISCC Text-Code stored. Beside it, in the same run, today's code path
before issue 17: iscc-core's pure-Python Text-Code and one parsing/fingerprinting worker (on a sample
of the works, ``--baseline-works``). The stored ISCC codes of both paths are compared for the sample.

Targets: >= 1,500 text works/s with files end to end into SQLite, >= 30,000 metadata-only rows/s.

    python benchmarks/registry_scale.py [--works 100000] [--baseline-works 5000] [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _recognition_text import REF, _html_text, _konlpy_texts  # noqa: E402
from registry_import import make_csv  # noqa: E402
from sqlalchemy import text as sql  # noqa: E402

from fairtrain.core.fingerprint import _iscc_fast  # noqa: E402
from fairtrain.services.registry import Registry, csv_import, import_csv  # noqa: E402

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fairtrain" / "registry-scale"
HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
WORDS = 200


def vocabularies() -> tuple[list[str], list[str]]:
    ko = sorted({w for t in _konlpy_texts(CACHE) for w in t.split() if any("\uac00" <= ch <= "\ud7a3" for ch in w)})
    en = sorted({w for p in sorted(REF.glob("*.en.html")) for w in _html_text(p).split() if w.isalpha()})
    if len(ko) < 1000 or len(en) < 1000:
        raise SystemExit(f"word lists too small (ko {len(ko)}, en {len(en)}): is debian-reference-en installed?")
    return ko, en


def make_works(root: Path, n: int, ko: list[str], en: list[str], seed: int = 17) -> Path:
    """``n`` text files (alternately Korean and English, 200 words each) and a sheet naming them."""
    rnd = random.Random(seed)
    files = root / "files"
    files.mkdir(parents=True)
    sheet = root / "works.csv"
    with sheet.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(n):
            words = ko if i % 2 == 0 else en
            (files / f"w{i:07d}.txt").write_text(" ".join(rnd.choices(words, k=WORDS)), encoding="utf-8")
            f.write(
                f"T{i:07d},{'작품' if i % 2 == 0 else 'Work'} {i},files/w{i:07d}.txt,"
                f"member-{i % 997}:author:1,,,,,allow,,,,,\n"
            )
    return sheet


def _cpu() -> float:
    """CPU seconds of this process and its reaped children (the import's worker processes)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def import_rate(db: Path, sheet: Path, n: int) -> tuple[float, float, dict[str, str]]:
    """Works/s (wall clock) and CPU milliseconds a work (all processes: on a shared machine the steadier
    figure) of importing ``sheet``, and the stored ISCC codes."""
    reg = Registry.open(db, create=True)
    org = reg.add_org("Bench CMO")
    t0, c0 = time.perf_counter(), _cpu()
    report = import_csv(reg, sheet, org_id=org)
    seconds, cpu = time.perf_counter() - t0, _cpu() - c0
    assert report.imported and report.created == n, report.to_dict()
    with reg.engine.connect() as c:
        codes = dict(c.execute(sql("SELECT work_ref, iscc FROM works")).all())
    reg.engine.dispose()
    return n / seconds, cpu / n * 1e3, codes


def today(fn):
    """Run ``fn`` the way the import ran before issue 17: iscc-core's Text-Code, one worker, 1 MiB chunks."""
    import iscc_core

    saved = (
        _iscc_fast.gen_text_code_v0,
        _iscc_fast.gen_text_codes,
        csv_import.FILE_WORKERS,
        csv_import._FILE_CHUNK_BYTES,
        csv_import._FILE_PARALLEL_BYTES,
    )
    _iscc_fast.gen_text_code_v0 = iscc_core.gen_text_code_v0
    _iscc_fast.gen_text_codes = lambda texts, bits=64: [iscc_core.gen_text_code_v0(t, bits)["iscc"] for t in texts]
    csv_import.FILE_WORKERS, csv_import._FILE_CHUNK_BYTES = 1, csv_import._CHUNK_BYTES
    csv_import._FILE_PARALLEL_BYTES = csv_import._PARALLEL_BYTES
    try:
        return fn()
    finally:
        (
            _iscc_fast.gen_text_code_v0,
            _iscc_fast.gen_text_codes,
            csv_import.FILE_WORKERS,
            csv_import._FILE_CHUNK_BYTES,
            csv_import._FILE_PARALLEL_BYTES,
        ) = saved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--works", type=int, default=100_000, help="text works imported with files")
    ap.add_argument("--baseline-works", type=int, default=5_000, help="works imported by today's code path")
    ap.add_argument("--rows", type=int, default=100_000, help="metadata-only rows")
    ap.add_argument("--quick", action="store_true", help="5,000 works, 1,000 baseline works, 20,000 rows")
    ap.add_argument("--delta-works", type=int, default=0, help="then: delta export and pull after 1 %% changes")
    args = ap.parse_args()
    if args.quick:
        args.works, args.baseline_works, args.rows = 5_000, 1_000, 20_000
    ko, en = vocabularies()
    print(f"vocabulary: {len(ko):,} Korean and {len(en):,} English words; {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sheet = make_works(tmp / "works", args.works, ko, en)
        base_n = min(args.baseline_works, args.works)
        base_sheet = tmp / "works" / "sample.csv"
        with sheet.open(encoding="utf-8") as f:
            base_sheet.write_text("".join(next(f) for _ in range(base_n + 1)), encoding="utf-8")
        base_rate, base_cpu, base_codes = today(lambda: import_rate(tmp / "base", base_sheet, base_n))
        rate, cpu, codes = import_rate(tmp / "new", sheet, args.works)
        same = all(codes[k] == v for k, v in base_codes.items())
        print(
            f"import with files: {rate:,.0f} text works/s ({args.works:,} works) vs today's "
            f"{base_rate:,.0f}/s ({base_n:,} works): {rate / base_rate:.1f}x  target >= 1,500/s\n"
            f"  CPU a work, all processes: {cpu:.2f} ms vs today's {base_cpu:.2f} ms: {base_cpu / cpu:.1f}x less "
            f"(on {os.cpu_count()} idle cores: {os.cpu_count() * 1e3 / cpu:,.0f} works/s at most)\n"
            f"  ISCC codes identical to today's on the sample: {same}"
        )
        meta = tmp / "meta.csv"
        make_csv(meta, args.rows)
        reg = Registry.open(tmp / "meta", create=True)
        org = reg.add_org("Bench CMO")
        t0 = time.perf_counter()
        report = import_csv(reg, meta, org_id=org)
        meta_rate = args.rows / (time.perf_counter() - t0)
        assert report.created == args.rows, report.to_dict()
        print(
            f"metadata-only import: {meta_rate:,.0f} rows/s ({args.rows:,} rows)  target >= 30,000/s "
            "(this path is unchanged by issue 17: today's figure)"
        )
        if not same:
            raise SystemExit("the fast path stored different ISCC codes")
    if args.delta_works:
        __import__("snapshot_delta").report(args.delta_works)  # benchmarks/snapshot_delta.py


if __name__ == "__main__":
    main()
