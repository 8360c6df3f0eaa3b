"""Registry benchmark: CSV import rows/s and in-process decisions/s on SQLite.

Targets (issue "Registry core"): import >= 20,000 rows/s (100,000 metadata-only rows), decide >= 10,000/s
on a warm registry. Baselines, measured in the same run: a row-at-a-time ORM import (what a
straightforward implementation does) and cold decisions (facts loaded from the database each time).

    python benchmarks/registry_import.py [--rows 100000] [--quick]
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session

from fairtrain.core.decide import Query, decide_registered
from fairtrain.core.store.models import Declaration, Holder, Work, WorkShare, utcnow
from fairtrain.core.vocab import Category
from fairtrain.services.registry import Registry, import_csv
from fairtrain.services.registry.registry import load_facts

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
VALUES = ["", "", "", "allow", "deny", "licence"]


def make_csv(path: Path, rows: int, seed: int = 7) -> None:
    rnd = random.Random(seed)
    members = [f"member-{i:05d}" for i in range(max(rows // 10, 10))]
    with path.open("w", encoding="utf-8") as f:
        f.write(HEADER)
        for i in range(rows):
            a, b = rnd.sample(members, 2)
            holders = f"{a}:composer:1/2;{b}:lyricist:1/2" if i % 3 else f"{a}:author:1"
            cats = [rnd.choice(VALUES) for _ in Category]
            price = "30000,KRW" if "licence" in cats else ","
            f.write(f"W{i:07d},Work number {i},,{holders},,,,{','.join(cats)},{price}\n")


def naive_import(reg: Registry, path: Path, limit: int) -> float:
    """One ORM object at a time, one holder lookup per name: the baseline."""
    import csv

    start = time.perf_counter()
    with Session(reg.engine) as s, path.open(encoding="utf-8") as f:
        for n, row in enumerate(csv.DictReader(f)):
            if n >= limit:
                break
            w = Work(title=row["title"], work_ref="naive-" + row["work_ref"], row_hash="x")
            s.add(w)
            s.flush()
            for spec in row["holders"].split(";"):
                name, role, share = spec.rsplit(":", 2)
                h = s.query(Holder).filter_by(name=name).first() or Holder(name=name)
                s.add(h)
                s.flush()
                num, _, den = share.partition("/")
                s.add(WorkShare(work_id=w.id, holder_id=h.id, role=role, share_num=int(num), share_den=int(den or 1)))
            for c in Category:
                if row[c.value]:
                    s.add(
                        Declaration(
                            level="work",
                            target=f"work:{w.id}",
                            party="org:1",
                            category=c.value,
                            value=row[c.value],
                            valid_from=utcnow(),
                        )
                    )
            s.commit()
    return limit / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--decisions", type=int, default=50_000)
    ap.add_argument("--quick", action="store_true", help="10,000 rows, 10,000 decisions")
    args = ap.parse_args()
    if args.quick:
        args.rows, args.decisions = 10_000, 10_000
    con = Console()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = tmp / "repertoire.csv"
        make_csv(csv_path, args.rows)
        reg = Registry.open(tmp / "data", create=True)
        org = reg.add_org("Bench CMO")
        t0 = time.perf_counter()
        report = import_csv(reg, csv_path, org_id=org)
        import_s = time.perf_counter() - t0
        assert report.imported and report.created == args.rows, report.to_dict()
        import_rate = args.rows / import_s

        base_reg = Registry.open(tmp / "naive", create=True)
        naive_rate = naive_import(base_reg, csv_path, min(5_000, args.rows))

        rnd = random.Random(1)
        work_ids = [rnd.randint(1, args.rows) for _ in range(args.decisions)]
        cats = [rnd.choice(list(Category)) for _ in range(args.decisions)]
        now = utcnow()
        warm_ids = sorted(set(work_ids))
        with reg.engine.connect() as c:
            facts = load_facts(c, warm_ids)  # the warm registry: facts in memory
        t0 = time.perf_counter()
        for w, cat in zip(work_ids, cats, strict=True):
            decide_registered(facts[w], Query(category=cat, at=now, licensee="bench"))
        warm_rate = args.decisions / (time.perf_counter() - t0)

        t0 = time.perf_counter()
        reg._facts.clear()
        cold_n = min(2_000, args.decisions)
        for w, cat in zip(work_ids[:cold_n], cats[:cold_n], strict=True):
            reg._facts.clear()
            reg.decide(w, cat, licensee="bench", at=now)
        cold_rate = cold_n / (time.perf_counter() - t0)

        for w in warm_ids:  # warm the registry's fact cache, then measure
            reg.facts(w)
        t0 = time.perf_counter()
        for w, cat in zip(work_ids, cats, strict=True):
            reg.decide(w, cat, licensee="bench", at=now)
        cached_rate = args.decisions / (time.perf_counter() - t0)

    t = Table("figure", "fairtrain", "baseline", "ratio", "target", "met", title="registry benchmark (SQLite, 1 core)")
    t.add_row(
        f"CSV import, rows/s ({args.rows:,} rows)",
        f"{import_rate:,.0f}",
        f"{naive_rate:,.0f} (row-at-a-time ORM)",
        f"{import_rate / naive_rate:.1f}×",
        "20,000",
        "yes" if import_rate >= 20_000 else "NO",
    )
    t.add_row(
        "decide, decisions/s (warm facts)",
        f"{warm_rate:,.0f}",
        f"{cold_rate:,.0f} (cold: load per decision)",
        f"{warm_rate / cold_rate:.1f}×",
        "10,000",
        "yes" if warm_rate >= 10_000 else "NO",
    )
    t.add_row(
        "Registry.decide, decisions/s (LRU cache)",
        f"{cached_rate:,.0f}",
        f"{cold_rate:,.0f}",
        f"{cached_rate / cold_rate:.1f}×",
        "10,000",
        "yes" if cached_rate >= 10_000 else "NO",
    )
    con.print(t)


if __name__ == "__main__":
    main()
