"""Re-clearing after a 1 % snapshot delta (issue 17, item 3): `clear --since` against a full re-clear.

A registry of ``--works`` text works (200 words each, Zipf-distributed over 4,500 Latin and Korean words,
registered from files through ``import_csv``) is exported (A); a dataset of ``--items`` text rows (a JSONL file: excerpts of registered works, half of the
rows, and unrelated paragraphs) is cleared against A. Then 1 % of the works change as in
``snapshot_delta.py`` (half get new terms, a quarter are withdrawn, a quarter are added) and the registry
writes the delta A→B and B. Timed, back to back on the same machine: the full clearance of the dataset
against B (the baseline) and the re-clear from the first clearance's output with the delta
(``clear --since OUT --delta D``). Both outputs are checked to be the same decisions.

    nice -n 10 .venv/bin/python benchmarks/reclear.py [--works 2000] [--items 10000]
    nice -n 10 .venv/bin/python benchmarks/reclear.py --keep-overhead --works 500 --items 5000
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from _common import ratio_table
from rich.console import Console
from sqlalchemy import select, update

from fairtrain.core.keys import SigningKey
from fairtrain.core.store.models import Work, WorkShare
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.clearance.pipeline import ClearanceConfig
from fairtrain.services.clearance.run import clear
from fairtrain.services.registry import Registry, import_csv
from fairtrain.services.registry.snapshot_export import export_delta, export_snapshot

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


def _vocabulary(rnd: random.Random) -> list[str]:
    """3,000 Latin-letter words and 1,500 Korean ones (2-3 random syllables): texts that share a stock phrase
    now and then, as real ones do, and not the run of one 12-word list that makes every 8-gram common."""
    latin = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9))) for _ in range(3000)]
    hangul = ["".join(chr(0xAC00 + rnd.randrange(11172)) for _ in range(rnd.randint(2, 3))) for _ in range(1500)]
    words = latin + hangul
    rnd.shuffle(words)
    return words


_WEIGHTS: dict[int, list[float]] = {}


def _paragraph(vocab: list[str], rnd: random.Random, words: int = 200) -> str:
    """Zipf-Mandelbrot word choice (weight 1 / (rank + 10)): the commonest word is 1.6 % of a text."""
    if len(vocab) not in _WEIGHTS:
        acc, total = [], 0.0
        for r in range(len(vocab)):
            total += 1 / (r + 10)
            acc.append(total)
        _WEIGHTS[len(vocab)] = acc
    return " ".join(rnd.choices(vocab, cum_weights=_WEIGHTS[len(vocab)], k=words))


def _sheet(root: Path, start: int, n: int, vocab: list[str], rnd: random.Random) -> Path:
    files = root / "files"
    files.mkdir(parents=True, exist_ok=True)
    sheet = root / f"works-{start}.csv"
    with sheet.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(start, start + n):
            (files / f"w{i:07d}.txt").write_text(_paragraph(vocab, rnd), encoding="utf-8")
            f.write(f"T{i:07d},Work {i},files/w{i:07d}.txt,member-{i % 997}:author:1,,,,,allow,,,,,\n")
    return sheet


def _dataset(path: Path, files: Path, items: int, vocab: list[str], rnd: random.Random) -> None:
    """``items`` rows: every other one an excerpt of a registered work, the rest unrelated paragraphs."""
    works = sorted(files.glob("*.txt"))
    with path.open("w", encoding="utf-8") as f:
        for i in range(items):
            if i % 2 == 0:
                words = rnd.choice(works).read_text(encoding="utf-8").split()
                start = rnd.randrange(0, 60)
                text = " ".join(words[start : start + 120])
            else:
                text = _paragraph(vocab, rnd)
            f.write(json.dumps({"id": f"row-{i}", "text": text}, ensure_ascii=False) + "\n")


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


@dataclass
class _World:
    tmp: Path
    rnd: random.Random
    reg: Registry
    org: int
    vocab: list[str]
    key: SigningKey  # the registry's
    licensee: SigningKey
    data: Path  # the items, a JSON Lines file

    def config(self, snap: Path) -> ClearanceConfig:
        return ClearanceConfig(
            snapshots=(snap,), purpose=Category.TRAIN_GENAI, licensee="bench-ai", trusted_keys=(self.key.public.b64(),)
        )


@contextmanager
def _world(works: int, items: int) -> Iterator[_World]:
    """A registry of ``works`` text works imported from files, its snapshot ``a``, and ``items`` items to clear,
    in a temporary directory."""
    rnd = random.Random(17)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        reg = Registry.open(url=f"sqlite:///{tmp / 'registry.sqlite3'}", create=True)
        org = reg.add_org("Bench CMO")
        vocab = _vocabulary(rnd)
        import_csv(reg, _sheet(tmp / "in", 0, works, vocab, rnd), org_id=org)
        key = SigningKey.generate()
        export_snapshot(reg, tmp / "a", key)
        data = tmp / "items.jsonl"
        _dataset(data, tmp / "in" / "files", items, vocab, rnd)
        yield _World(tmp, rnd, reg, org, vocab, key, SigningKey.generate(), data)


def report(works: int, items: int) -> None:
    with _world(works, items) as w:
        first, t_first = _timed(lambda: clear(w.data, w.tmp / "out-a", w.config(w.tmp / "a"), w.licensee))
        # 1 % of the works change: new terms, withdrawn, added
        k = max(4, works // 100)
        ids = sorted(w.rnd.sample(range(1, works + 1), k))
        with w.reg.engine.connect() as c:
            holder = dict(c.execute(select(WorkShare.work_id, WorkShare.holder_id)).all())
        for wid in ids[: k // 2]:
            w.reg.declare(
                level=Level.WORK,
                target_id=wid,
                party=f"holder:{holder[wid]}",
                values={Category.TRAIN_GENAI: Value.ALLOW},
            )
        with w.reg.engine.begin() as c:
            c.execute(update(Work).where(Work.id.in_(ids[k // 2 : 3 * k // 4])).values(status="rejected"))
        import_csv(w.reg, _sheet(w.tmp / "in", works, k - 3 * k // 4, w.vocab, w.rnd), org_id=w.org)
        doc = export_delta(w.reg, w.tmp / "a", w.tmp / "deltas" / "d1", w.key, state_dir=w.tmp / "b")
        full, t_full = _timed(lambda: clear(w.data, w.tmp / "full", w.config(w.tmp / "b"), w.licensee))
        again, t_again = _timed(
            lambda: clear(
                w.data,
                w.tmp / "again",
                w.config(w.tmp / "b"),
                w.licensee,
                since=w.tmp / "out-a",
                deltas=(w.tmp / "deltas",),
            )
        )
        same = (w.tmp / "full" / "decisions.parquet").read_bytes() == (
            w.tmp / "again" / "decisions.parquet"
        ).read_bytes()
        if not same:
            sys.exit("the re-clear's decisions differ from the full clearance's")
        c = doc["counts"]
        reuse = again["reuse"]
        table = ratio_table(
            f"re-clear of {items:,} text items after a 1 % delta ({works:,} works: {c['terms_changed']} terms "
            f"changed, {c['withdrawn']} withdrawn, {c['added']} added)"
        )
        table.add_row(
            "re-clear --since (s)", f"{t_again:.1f}", f"{t_full:.1f} (full)", f"{t_full / t_again:.1f}x faster", "", ""
        )
        table.add_row(
            "items reused / cleared again", f"{reuse['items_reused']:,} / {reuse['items_recleared']:,}", "", "", "", ""
        )
        table.add_row("first clearance (s)", f"{t_first:.1f}", "", "", "", "")
        Console().print(table)
        print(
            json.dumps(
                {
                    "items": items,
                    "works": works,
                    "full_s": round(t_full, 2),
                    "reclear_s": round(t_again, 2),
                    "speedup": round(t_full / t_again, 2),
                    "same_decisions": same,
                    "reuse": reuse["snapshots"],
                    "passed": full["passed"],
                    "first_passed": first["passed"],
                }
            )
        )


def keep_overhead(works: int, items: int) -> None:
    """CPU time of one clearance with and without keeping its items' fingerprints (``reuse.KeptWriter.add``
    made a no-op), alternating, the median of three each; and the kept files' bytes."""
    from fairtrain.services.clearance import reuse

    with _world(works, items) as w:
        tmp, licensee, config = w.tmp, w.licensee, w.config(w.tmp / "a")
        real = reuse.KeptWriter.add
        cpu: dict[str, list[float]] = {"keep": [], "no keep": []}
        try:
            for r in range(3):
                for mode in cpu:
                    reuse.KeptWriter.add = real if mode == "keep" else (lambda self, rec: None)
                    c0 = time.process_time()
                    clear(tmp / "items.jsonl", tmp / f"out-{r}-{mode}", config, licensee)
                    cpu[mode].append(time.process_time() - c0)
        finally:
            reuse.KeptWriter.add = real
        keep, bare = sorted(cpu["keep"])[1], sorted(cpu["no keep"])[1]
        kept = sum(p.stat().st_size for p in (tmp / "out-0-keep" / "item-fingerprints").glob("*.parquet"))
        print(
            json.dumps(
                {
                    "items": items,
                    "cpu_keep_s": round(keep, 2),
                    "cpu_without_s": round(bare, 2),
                    "overhead": round(keep / bare - 1, 3),
                    "kept_bytes_per_item": round(kept / items),
                }
            )
        )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--works", type=int, default=2_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--keep-overhead", action="store_true", help="what keeping the fingerprints costs a clearance")
    args = ap.parse_args()
    if args.keep_overhead:
        keep_overhead(args.works, args.items)
    else:
        report(args.works, args.items)


if __name__ == "__main__":
    main()
