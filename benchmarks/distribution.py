"""How fast one distribution period runs, against a straightforward per-line Python baseline in the same run.

    PYTHONPATH=src .venv/bin/python benchmarks/distribution.py [--quick]

Full: 1,000,000 works, 100,000 holders (1–3 shares per work in twelfths, 30 % mandated to one of four
organisations, 1 % unidentified, 0.5 % disputed), 100 licences in KRW and EUR (half usage-weighted),
carried balances for 10 % of holders. Target: ≤ 60 s on one core for ``distribute`` + canonical JSON +
SHA-256, in CPU seconds of the process (numpy runs single-threaded here). The baseline splits licence → work → holder → fee one line at a time with Python ints and
``largest_remainder`` on a 10 % sample (every tenth licence) and is scaled by 10; its line amounts are
compared with the engine's for the same licences.
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import date
from fractions import Fraction

from fairtrain.core.distribution import (
    CarriedBalance,
    Formula,
    LicenceIncome,
    Period,
    Share,
    WorkShares,
    distribute,
    largest_remainder,
)
from fairtrain.core.money import Money

ORGS = {"org:komca": 1500, "org:stim": 1000, "org:gema": 1200, "org:kosa": 800}
FORMULA = Formula(fee_bp=ORGS, thresholds={"KRW": 10_000, "EUR": 3000})
PERIOD = Period(date(2026, 1, 1), date(2026, 3, 31))
SPLITS = [[12], [6, 6], [4, 4, 4], [8, 4], [3, 9]]


def generate(n_works: int, n_holders: int, n_licences: int, seed: int = 7):
    rnd = random.Random(seed)
    holder_org = [rnd.choice(sorted(ORGS)) if rnd.random() < 0.3 else None for _ in range(n_holders)]
    works = []
    for w in range(n_works):
        shares = []
        for part in rnd.choice(SPLITS):
            h = rnd.randrange(n_holders)
            r = rnd.random()
            holder = None if r < 0.01 else f"holder:{h:06d}"
            if holder and any(s.holder == holder for s in shares):
                holder = f"holder:{(h + 1) % n_holders:06d}"
            shares.append(
                Share(
                    holder,
                    Fraction(part, 12),
                    holder_org[h] if holder else None,
                    "competing claim" if 0.01 <= r < 0.015 else None,
                )
            )
        works.append(WorkShares(f"work:{w:07d}", shares))
    per = n_works // n_licences
    licences = []
    for i in range(n_licences):
        ids = [f"work:{w:07d}" for w in range(i * per, (i + 1) * per)]
        krw = i % 2 == 0
        amount = Money("KRW", rnd.randrange(10**8, 10**10)) if krw else Money("EUR", rnd.randrange(10**6, 10**8))
        usage = {w: rnd.randrange(1, 10**7) for w in ids} if i % 4 < 2 else None
        licences.append(LicenceIncome(f"lic:{i:04d}", amount, date(2026, 2, 1), ids, usage=usage))
    carried = [
        CarriedBalance(f"holder:{h:06d}", Money("KRW", rnd.randrange(1, 10_000))) for h in range(0, n_holders, 10)
    ]
    return licences, works, carried


def baseline(licences, works_by_id):
    """The plain way: one line at a time, Python ints, dicts. Same rules as the engine, less bookkeeping."""
    lines = {}
    for lic in licences:
        wids = sorted(lic.works)
        weights = [lic.usage[w] for w in wids] if lic.usage else [1] * len(wids)
        for wid, value in zip(wids, largest_remainder(lic.amount.minor, weights)):
            shares = sorted(works_by_id[wid].shares, key=lambda s: s.holder or "")
            denom = 1
            for s in shares:
                denom = denom * s.fraction.denominator // __import__("math").gcd(denom, s.fraction.denominator)
            merged = {}
            for s in shares:
                merged.setdefault(s.holder or "", [s, 0])[1] += int(s.fraction * denom)
            keys = sorted(merged)
            for key, part in zip(keys, largest_remainder(value, [merged[k][1] for k in keys])):
                s = merged[key][0]
                if s.holder is not None and s.dispute is None and part:
                    lines[(s.holder, wid, lic.licence_id)] = [part, s.organisation, lic.amount.currency]
    by_org = {}
    for key in sorted(lines):
        gross, org, cur = lines[key]
        if org:
            by_org.setdefault((org, cur), []).append(key)
    fees = {}
    for (org, _cur), keys in by_org.items():
        g = sum(lines[k][0] for k in keys)
        bp = ORGS[org]
        fee = largest_remainder(g, [bp, 10_000 - bp])[0]
        for k, f in zip(keys, largest_remainder(fee, [lines[k][0] for k in keys])):
            fees[k] = f
    totals = {}
    for k, (gross, _org, cur) in lines.items():
        t = totals.setdefault((k[0], cur), [0, 0])
        t[0] += gross
        t[1] += gross - fees.get(k, 0)
    return lines, fees, totals


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100,000 works and 10,000 holders")
    args = ap.parse_args()
    n_works, n_holders, n_licences = (100_000, 10_000, 20) if args.quick else (1_000_000, 100_000, 100)

    t0 = time.perf_counter()
    licences, works, carried = generate(n_works, n_holders, n_licences)
    t_gen = time.perf_counter() - t0

    # CPU seconds of this process: the machine is shared, so wall-clock time would measure the neighbours
    t0 = time.process_time()
    run = distribute(PERIOD, FORMULA, licences, works, carried)
    t_run = time.process_time() - t0
    t0 = time.process_time()
    digest = run.sha256
    t_json = time.process_time() - t0
    engine = t_run + t_json

    sample = licences[::10]
    by_id = {w.work_id: w for w in works}
    t0 = time.process_time()
    base_lines, base_fees, _ = baseline(sample, by_id)
    t_base = (time.process_time() - t0) * len(licences) / len(sample)
    sample_ids = {lic.licence_id for lic in sample}
    engine_lines = {(ln.holder, ln.work_id, ln.licence_id): ln for ln in run.lines if ln.licence_id in sample_ids}
    agree = set(engine_lines) == set(base_lines) and all(engine_lines[k].gross == base_lines[k][0] for k in base_lines)

    t = run.totals
    print(
        f"distribution benchmark: {n_works:,} works, {n_holders:,} holders, {n_licences} licences "
        f"(inputs generated in {t_gen:.1f} s, not counted)"
    )
    print(f"{'step (CPU seconds, one core)':<46}{'seconds':>10}")
    print(f"{'distribute()':<46}{t_run:>10.2f}")
    print(f"{'canonical JSON + SHA-256':<46}{t_json:>10.2f}")
    print(f"{'engine total':<46}{engine:>10.2f}   target ≤ 60 s: {'met' if engine <= 60 else 'MISSED'}")
    print(f"{'baseline per-line Python (10 % sample × 10)':<46}{t_base:>10.2f}")
    print(f"{'baseline / engine':<46}{t_base / engine:>10.1f}×")
    print(
        f"lines {len(run.lines):,}, holders {len(run.holders):,}, suspense {len(run.suspense):,}, "
        f"JSON {len(run.canonical_json) / 1e6:.0f} MB, sha256 {digest[:16]}…"
    )
    print(f"sample line amounts agree with the baseline: {'yes' if agree else 'NO'}")
    for c in t:
        print(
            f"  {c.currency}: in {c.income + c.brought_forward:,} = paid {c.paid:,} + carried {c.carried_forward:,}"
            f" + suspense {c.suspense:,} + fees {c.fees:,}  balanced={c.balanced}"
        )


if __name__ == "__main__":
    main()
