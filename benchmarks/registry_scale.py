"""Registry at scale (issue 17): import with files and metadata-only import, on SQLite (and PostgreSQL).

Text works of 200 words of real-looking Korean or English (words drawn from the Korean corpora shipped
in the konlpy wheel and from the Debian Reference, ``debian-reference-en``; cached under
``~/.cache/fairtrain``), one file each, registered through ``import_csv`` (what ``registry import``
runs) with every fingerprint and ISCC Text-Code stored. Beside it, in the same run, today's code path
before issue 17: iscc-core's pure-Python Text-Code and one parsing/fingerprinting worker (on a sample
of the works, ``--baseline-works``). The stored ISCC codes of both paths are compared for the sample.

Also, each beside its baseline in the same run:

- metadata-only import (``registry_import.make_csv``) against the path before issue 17 (per-row FTS5
  search triggers, a sheet with a ``file`` column cut into per-core fingerprinting chunks);
- ``--images N``: real-size JPEGs (the Debian wallpapers under /usr/share/backgrounds, each copy made
  distinct by bytes after its end marker) with files, against one fingerprinting worker;
- ``--audio N``: 20-second 44.1 kHz stereo WAVs (generated tones and noise) with files, in times real time,
  against the path before the speed variants were made in one ffmpeg run (one fpcalc process a variant),
  the stored fingerprints compared byte for byte;
- ``--postgres URL`` (or FAIRTRAIN_TEST_POSTGRES_URL, as ``scripts/with-postgres.sh`` sets): the
  metadata-only import into PostgreSQL through COPY against executemany ``INSERT`` s.

Targets: >= 1,500 text works/s, >= 150 images/s and >= 100x real-time audio with files end to end into
SQLite on 2 cores, >= 30,000 metadata-only rows/s.

    python benchmarks/registry_scale.py [--works 100000] [--baseline-works 5000] [--rows 100000]
        [--images 300] [--audio 40] [--postgres URL] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import resource
import shutil
import sys
import tempfile
import time
import wave
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
    from _common import ensure_debian_packages

    ensure_debian_packages(["debian-reference-en"])
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
        csv_import._FILE_PARALLEL_ROWS,
    )
    _iscc_fast.gen_text_code_v0 = iscc_core.gen_text_code_v0
    _iscc_fast.gen_text_codes = lambda texts, bits=64: [iscc_core.gen_text_code_v0(t, bits)["iscc"] for t in texts]
    csv_import.FILE_WORKERS, csv_import._FILE_CHUNK_BYTES = 1, csv_import._CHUNK_BYTES
    csv_import._FILE_PARALLEL_BYTES = csv_import._PARALLEL_BYTES
    csv_import._FILE_PARALLEL_ROWS = 1 << 62
    try:
        return fn()
    finally:
        (
            _iscc_fast.gen_text_code_v0,
            _iscc_fast.gen_text_codes,
            csv_import.FILE_WORKERS,
            csv_import._FILE_CHUNK_BYTES,
            csv_import._FILE_PARALLEL_BYTES,
            csv_import._FILE_PARALLEL_ROWS,
        ) = saved


@contextlib.contextmanager
def before_issue_17_metadata():
    """The metadata-only path before issue 17: every row indexed by the search triggers, a sheet with a
    ``file`` column (empty or not) cut into small per-core chunks, and works, shares and declarations
    inserted by executemany (one statement run a row) instead of one ``INSERT … SELECT`` a chunk."""
    saved = csv_import.indexed_in_bulk, csv_import._names_files, csv_import.bulk_insert_plain
    csv_import.indexed_in_bulk = lambda c: contextlib.nullcontext(lambda table, first, last: None)
    csv_import._names_files = lambda body, column: True
    csv_import.bulk_insert_plain = csv_import.bulk_insert_tuples
    try:
        yield
    finally:
        csv_import.indexed_in_bulk, csv_import._names_files, csv_import.bulk_insert_plain = saved


def meta_rate(target: str | Path, sheet: Path, n: int) -> tuple[float, float]:
    """Rows/s (wall clock) and CPU µs a row (all processes) of importing a metadata-only ``sheet`` into a
    fresh registry (a data folder or a URL)."""
    reg = Registry.open(url=target, create=True) if isinstance(target, str) else Registry.open(target, create=True)
    org = reg.add_org("Bench CMO")
    t0, c0 = time.perf_counter(), _cpu()
    report = import_csv(reg, sheet, org_id=org)
    rate, cpu = n / (time.perf_counter() - t0), (_cpu() - c0) / n * 1e6
    assert report.created == n, report.to_dict()
    reg.engine.dispose()
    return rate, cpu


@contextlib.contextmanager
def executemany_not_copy():
    """PostgreSQL rows inserted by executemany INSERTs (psycopg 3 pipelines them) instead of COPY."""
    from sqlalchemy import insert

    saved = csv_import.bulk_insert_tuples, csv_import.bulk_insert_plain

    def inserts(conn, table, columns, rows, *, constants=None):
        if rows:
            names = (*columns, *(constants or {}))
            tail = tuple((constants or {}).values())
            compiled = insert(table).compile(dialect=conn.dialect, column_keys=list(names))
            conn.exec_driver_sql(str(compiled), [dict(zip(names, r + tail, strict=True)) for r in rows])

    csv_import.bulk_insert_tuples = csv_import.bulk_insert_plain = inserts
    try:
        yield
    finally:
        csv_import.bulk_insert_tuples, csv_import.bulk_insert_plain = saved


def fresh_pg_database(url: str, name: str) -> str:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sql(f'DROP DATABASE IF EXISTS "{name}"'))
        c.execute(sql(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def make_images(root: Path, n: int) -> Path:
    """``n`` distinct real-size JPEGs: the wallpapers, each copy followed by its own bytes after the end
    marker (decoders stop there: the same pixels, another file and content hash)."""
    sources = sorted(p for p in Path("/usr/share/backgrounds").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if not sources:
        raise SystemExit("no JPEGs under /usr/share/backgrounds")
    files = root / "files"
    files.mkdir(parents=True)
    sheet = root / "images.csv"
    with sheet.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(n):
            data = sources[i % len(sources)].read_bytes() + f"copy {i}".encode()
            (files / f"i{i:05d}.jpg").write_bytes(data)
            f.write(f"I{i:05d},Image {i},files/i{i:05d}.jpg,member-{i % 97}:author:1,,,,,allow,,,,,\n")
    return sheet


AUDIO_SECONDS = 20


def make_audio(root: Path, n: int) -> Path:
    """``n`` WAVs of 20 s, 44.1 kHz stereo: chords and noise, different in each."""
    import numpy as np

    rate = 44_100
    files = root / "files"
    files.mkdir(parents=True)
    sheet = root / "audio.csv"
    t = np.arange(AUDIO_SECONDS * rate) / rate
    with sheet.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(n):
            rnd = np.random.default_rng(i)
            notes = 110 * 2 ** (rnd.integers(0, 36, size=(AUDIO_SECONDS * 2, 3)) / 12)  # a chord each 0.5 s
            freq = np.repeat(notes, rate // 2, axis=0)[: len(t)]
            x = np.sin(2 * np.pi * freq * t[:, None]).sum(axis=1) / 3 + 0.05 * rnd.standard_normal(len(t))
            pcm = (np.clip(x, -1, 1) * 20_000).astype("<i2")
            with wave.open(str(files / f"a{i:04d}.wav"), "wb") as w:
                w.setnchannels(2)
                w.setsampwidth(2)
                w.setframerate(rate)
                w.writeframes(np.repeat(pcm[:, None], 2, axis=1).tobytes())
            f.write(f"S{i:04d},Sound {i},files/a{i:04d}.wav,member-{i % 97}:author:1,,,,,allow,,,,,\n")
    return sheet


def one_worker(fn):
    saved = csv_import.FILE_WORKERS
    csv_import.FILE_WORKERS = 1
    try:
        return fn()
    finally:
        csv_import.FILE_WORKERS = saved


def head(sheet: Path, n: int) -> Path:
    out = sheet.with_name(sheet.stem + f"-{n}.csv")
    with sheet.open(encoding="utf-8") as f:
        out.write_text("".join(next(f) for _ in range(n + 1)), encoding="utf-8")
    return out


@contextlib.contextmanager
def one_fpcalc_a_variant():
    """Audio registration as it ran before its variants were made in one ffmpeg run and Chromaprint in the
    importing process: one fpcalc process per speed and per high-pass variant."""
    from fairtrain.core.fingerprint import _audio_tools
    from fairtrain.core.fingerprint import audio as fa

    saved = fa.speed_variants, fa.chromaprint_pcm
    fa.speed_variants = lambda pcm, rates, item, timeout: [
        _audio_tools._or_error(lambda r=r: _audio_tools.fpcalc_pcm(pcm, r, item, timeout)) for r in rates
    ]
    fa.chromaprint_pcm = _audio_tools.fpcalc_pcm
    try:
        yield
    finally:
        fa.speed_variants, fa.chromaprint_pcm = saved


def stored_fingerprints(db: Path) -> dict[str, bytes]:
    reg = Registry.open(db)
    with reg.engine.connect() as c:
        rows = c.execute(sql("SELECT w.work_ref, f.payload FROM works w JOIN fingerprints f ON f.work_id = w.id"))
        out = {ref: bytes(payload) for ref, payload in rows}
    reg.engine.dispose()
    return out


def with_files(db: Path, sheet: Path, n: int, base_n: int) -> tuple[float, float, float]:
    """Media imported with files: (items/s, CPU ms an item, one worker's items/s on the first ``base_n``)."""
    rate, cpu, _ = import_rate(db, sheet, n)
    base, _, _ = one_worker(lambda: import_rate(db.with_name(db.name + "1"), head(sheet, base_n), base_n))
    return rate, cpu, base


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--works", type=int, default=100_000, help="text works imported with files")
    ap.add_argument("--baseline-works", type=int, default=5_000, help="works imported by today's code path")
    ap.add_argument("--rows", type=int, default=100_000, help="metadata-only rows")
    ap.add_argument("--images", type=int, default=0, help="JPEGs imported with files (0: none)")
    ap.add_argument("--audio", type=int, default=0, help="20-second WAVs imported with files (0: none)")
    ap.add_argument("--postgres", default=os.environ.get("FAIRTRAIN_TEST_POSTGRES_URL"), help="a server URL")
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
        meta_new, meta_cpu = meta_rate(tmp / "meta", meta, args.rows)
        with before_issue_17_metadata():
            meta_old, meta_old_cpu = meta_rate(tmp / "meta-before", meta, args.rows)
        print(
            f"metadata-only import: {meta_new:,.0f} rows/s ({args.rows:,} rows) vs {meta_old:,.0f}/s before "
            f"(per-row search triggers, per-core chunks): {meta_new / meta_old:.1f}x  target >= 30,000/s\n"
            f"  CPU a row, all processes: {meta_cpu:.0f} µs vs {meta_old_cpu:.0f} µs before: "
            f"{meta_old_cpu / meta_cpu:.1f}x less"
        )
        if args.postgres:
            copy_rate, _ = meta_rate(fresh_pg_database(args.postgres, "bench_copy"), meta, args.rows)
            with executemany_not_copy():
                many_rate, _ = meta_rate(fresh_pg_database(args.postgres, "bench_insert"), meta, args.rows)
            print(
                f"metadata-only import, PostgreSQL: {copy_rate:,.0f} rows/s through COPY vs "
                f"{many_rate:,.0f}/s through executemany INSERTs: {copy_rate / many_rate:.1f}x"
            )
        if args.images:
            isheet = make_images(tmp / "images", args.images)
            ib = min(args.images, max(20, args.images // 5))
            img_rate, img_cpu, img_base = with_files(tmp / "img", isheet, args.images, ib)
            print(
                f"import with files: {img_rate:,.0f} images/s ({args.images:,} JPEGs, "
                f"{sum(p.stat().st_size for p in (tmp / 'images' / 'files').iterdir()) / args.images / 1e6:.1f} MB "
                f"each) vs one worker's {img_base:,.0f}/s ({ib} JPEGs): {img_rate / img_base:.1f}x  target >= 150/s\n"
                f"  CPU an image, all processes: {img_cpu:.1f} ms (on {os.cpu_count()} idle cores: "
                f"{os.cpu_count() * 1e3 / img_cpu:,.0f} images/s at most)"
            )
            shutil.rmtree(tmp / "images")
        if args.audio:
            asheet = make_audio(tmp / "audio", args.audio)
            au_rate, au_cpu, _ = import_rate(tmp / "au", asheet, args.audio)
            with one_fpcalc_a_variant():
                au_base, au_base_cpu, _ = import_rate(tmp / "au-before", asheet, args.audio)
            now, before = stored_fingerprints(tmp / "au"), stored_fingerprints(tmp / "au-before")
            au_same = len(before) == args.audio and all(now[k] == v for k, v in before.items())
            print(
                f"import with files: {au_rate * AUDIO_SECONDS:,.0f}x real time ({args.audio} WAVs of "
                f"{AUDIO_SECONDS} s) vs one fpcalc a variant's {au_base * AUDIO_SECONDS:,.0f}x (the same WAVs): "
                f"{au_rate / au_base:.1f}x  target >= 100x\n"
                f"  CPU a second of audio, all processes: {au_cpu / AUDIO_SECONDS:.2f} ms vs "
                f"{au_base_cpu / AUDIO_SECONDS:.2f} ms (on {os.cpu_count()} idle cores: "
                f"{os.cpu_count() * 1e3 * AUDIO_SECONDS / au_cpu:,.0f}x real time at most)\n"
                f"  stored fingerprints identical to one fpcalc a variant's: {au_same}"
            )
            same = same and au_same
        if not same:
            raise SystemExit("the fast path stored different ISCC codes or audio fingerprints")
    if args.delta_works:
        __import__("snapshot_delta").report(args.delta_works)  # benchmarks/snapshot_delta.py


if __name__ == "__main__":
    main()
