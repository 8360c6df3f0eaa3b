"""Distribution runs and statements: gather a period's money from the ledger, split it with the pure
engine (:mod:`fairtrain.core.distribution`), store and log the run, and re-compute it byte for byte.

The inputs are stored with the run as canonical JSON, so anybody holding them (or the log entries they
were gathered from) can run the published formula again and compare SHA-256 digests.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Mapping
from datetime import UTC, date, datetime, time
from fractions import Fraction

from sqlalchemy import insert, or_, select, update

from fairtrain.core import csvcells
from fairtrain.core.decide import mandate_in_force
from fairtrain.core.distribution import (
    CarriedBalance,
    DistributionError,
    Formula,
    LicenceIncome,
    Period,
    Share,
    SuspenseItem,
    WorkShares,
    distribute,
)
from fairtrain.core.documents import render_document
from fairtrain.core.i18n import DEFAULT, LANGUAGES
from fairtrain.core.keys import canonical_json
from fairtrain.core.money import Money
from fairtrain.core.store.models import (
    Dispute,
    DistributionRun,
    DistributionRunParty,
    Holder,
    Invoice,
    Licence,
    LicensedWork,
    Mandate,
    Payment,
    UsageReport,
    WorkShare,
    utcnow,
)
from fairtrain.services import log
from fairtrain.services.ledger.licensing import NotYours, minutes_as_seconds
from fairtrain.services.notify import notify
from fairtrain.services.registry import NotFound, Registry, holder_ref, org_ref


def _day_bounds(period: Period) -> tuple[datetime, datetime]:
    return (datetime.combine(period.start, time.min, tzinfo=UTC), datetime.combine(period.end, time.max, tzinfo=UTC))


def fees_in_force(c, given: Mapping[str, int]) -> dict[str, int]:
    """The fee rule of every run, whoever starts it (CLI or web): an organisation's fee is the one given for
    this run, else the one it had in the latest run that set it. An organisation that holds mandates and
    never had a fee is refused by the engine, by name."""
    fees: dict[str, int] = {}
    for (inputs,) in c.execute(select(DistributionRun.inputs).order_by(DistributionRun.id)):
        fees.update(json.loads(inputs)["formula"]["fee_bp"])
    fees.update(given)
    return dict(sorted(fees.items()))


def gather(registry: Registry, period: Period, formula: Formula) -> dict:
    """Everything a run for ``period`` is computed from, as plain JSON data; fees by :func:`fees_in_force`."""
    start, end = _day_bounds(period)
    with registry.engine.connect() as c:
        fee_bp = fees_in_force(c, formula.fee_bp)
        paid = c.execute(
            select(
                Licence.id,
                Licence.licensee,
                Licence.grantor,
                Payment.amount_minor,
                Payment.currency,
                Payment.received_at,
            )
            .join(Invoice, Invoice.licence_id == Licence.id)
            .join(Payment, Payment.invoice_id == Invoice.id)
            .where(Payment.received_at >= start, Payment.received_at <= end)
            .order_by(Payment.id)
        ).all()
        income: dict[tuple[int, str], dict] = {}
        for p in paid:
            e = income.setdefault(
                (p.id, p.currency),
                {
                    "licence_id": str(p.id),
                    "licensee": p.licensee,
                    "currency": p.currency,
                    "minor": 0,
                    "received_on": p.received_at.date().isoformat(),
                    "collector": p.grantor if p.grantor.startswith("org:") else None,
                },
            )
            e["minor"] += p.amount_minor
            e["received_on"] = max(e["received_on"], p.received_at.date().isoformat())
        lic_ids = sorted({k[0] for k in income})
        works_of: dict[int, list[int]] = defaultdict(list)
        for lid, wid in c.execute(
            select(LicensedWork.licence_id, LicensedWork.work_id)
            .where(LicensedWork.licence_id.in_(lic_ids))
            .order_by(LicensedWork.work_id)
        ):
            works_of[lid].append(wid)
        usage: dict[int, dict[str, int]] = {}
        timed: dict[int, dict[str, int]] = {}  # from reports' minutes, as seconds: where given, they decide
        for (doc,) in c.execute(select(UsageReport.document).order_by(UsageReport.id)):
            d = json.loads(doc)
            for lid in d.get("licences", []):
                if lid in works_of and d.get("minutes"):
                    agg = timed.setdefault(lid, {})
                    for w, v in d["minutes"].items():
                        if int(w) in works_of[lid]:
                            agg[w] = agg.get(w, 0) + minutes_as_seconds(v)
                elif lid in works_of and d.get("weights"):
                    agg = usage.setdefault(lid, {})
                    for w, v in d["weights"].items():
                        if int(w) in works_of[lid]:
                            agg[w] = agg.get(w, 0) + int(v)
        usage.update(timed)
        all_works = sorted({w for ws in works_of.values() for w in ws})
        shares = c.execute(
            select(WorkShare.work_id, WorkShare.holder_id, WorkShare.share_num, WorkShare.share_den)
            .where(WorkShare.work_id.in_(all_works))
            .order_by(WorkShare.work_id, WorkShare.holder_id)
        ).all()
        mandates = defaultdict(list)
        for m in c.execute(select(Mandate.__table__).order_by(Mandate.id)):
            if mandate_in_force(m, end):
                mandates[m.holder_id].append(m.org_id)
        disputed = {
            wid: f"dispute {did}"
            for did, w1, w2 in c.execute(
                select(Dispute.id, Dispute.work_id, Dispute.claim_work_id).where(Dispute.status == "open")
            )
            for wid in (w1, w2)
        }
        prev = c.execute(
            select(DistributionRun.output)
            .where(DistributionRun.period_end < period.start.isoformat())
            .order_by(DistributionRun.id.desc())
            .limit(1)
        ).scalar()
    works: dict[int, list[dict]] = defaultdict(list)
    for s in shares:
        org = mandates[s.holder_id][0] if mandates[s.holder_id] else None
        works[s.work_id].append(
            {
                "holder": holder_ref(s.holder_id),
                "fraction": f"{s.share_num}/{s.share_den}",
                "organisation": org_ref(org) if org else None,
                "dispute": disputed.get(s.work_id),
            }
        )
    previous = json.loads(prev) if prev else {}
    return {
        "period": {"start": period.start.isoformat(), "end": period.end.isoformat()},
        "formula": {"version": formula.version, "fee_bp": fee_bp, "thresholds": dict(formula.thresholds)},
        "licences": [
            {**e, "works": [str(w) for w in works_of[int(e["licence_id"])]], "usage": usage.get(int(e["licence_id"]))}
            for _, e in sorted(income.items())
        ],
        "works": [{"work_id": str(w), "shares": works[w]} for w in all_works],
        "carried": previous.get("carried_out", []),
        "suspense": previous.get("suspense_out", []),
    }


def compute(inputs: dict):
    """Run the published formula on stored inputs (what re-computation from the log does)."""
    period = Period(date.fromisoformat(inputs["period"]["start"]), date.fromisoformat(inputs["period"]["end"]))
    f = inputs["formula"]
    formula = Formula(version=f["version"], fee_bp=f["fee_bp"], thresholds=f["thresholds"])
    licences = [
        LicenceIncome(
            licence_id=e["licence_id"],
            amount=Money(e["currency"], e["minor"]),
            received_on=date.fromisoformat(e["received_on"]),
            works=e["works"],
            usage=e["usage"],
            collector=e["collector"],
        )
        for e in inputs["licences"]
    ]
    works = [
        WorkShares(
            w["work_id"],
            [Share(s["holder"], Fraction(s["fraction"]), s["organisation"], s["dispute"]) for s in w["shares"]],
        )
        for w in inputs["works"]
    ]
    carried = [CarriedBalance(c["holder"], Money(c["currency"], c["minor"])) for c in inputs["carried"]]
    suspense = [
        SuspenseItem(
            s["suspense_id"],
            s["licence_id"],
            s["work_id"],
            s["claimant"],
            s["reason"],
            Money(s["currency"], s["minor"]),
            date.fromisoformat(s["received_on"]),
            s["organisation"],
        )
        for s in inputs["suspense"]
    ]
    return distribute(period, formula, licences, works, carried, suspense)


def run_distribution(registry: Registry, period: Period, formula: Formula, *, started_by: str | None = None) -> dict:
    """Gather, compute, store and log one run; ``started_by`` is the organisation that asked for it."""
    inputs = gather(registry, period, formula)
    run = compute(inputs)
    doc = run.to_document()
    doc["carried_out"] = [
        {"holder": b.holder, "currency": b.amount.currency, "minor": b.amount.minor} for b in run.carried_balances()
    ]
    doc["suspense_out"] = [
        {
            "suspense_id": s.suspense_id,
            "licence_id": s.licence_id,
            "work_id": s.work_id,
            "claimant": s.claimant,
            "reason": s.reason,
            "currency": s.amount.currency,
            "minor": s.amount.minor,
            "received_on": s.received_on.isoformat(),
            "organisation": s.organisation,
        }
        for s in run.open_suspense()
    ]
    inputs_json = canonical_json(inputs).decode()
    summary, parties = run_index(inputs, doc)
    with registry.engine.begin() as c:
        rid = c.execute(
            insert(DistributionRun)
            .values(
                period_start=period.start.isoformat(),
                period_end=period.end.isoformat(),
                formula_version=formula.version,
                inputs=inputs_json,
                output_sha256=run.sha256,
                output=canonical_json(doc).decode(),
                created_at=utcnow(),
                started_by=started_by,
                summary=summary,
            )
            .returning(DistributionRun.id)
        ).scalar_one()
        if parties:
            c.execute(
                insert(DistributionRunParty), [{"run_id": rid, "party": p, "totals": t} for p, t in parties.items()]
            )
        log.append(
            c,
            [
                log.Entry(
                    "distribution",
                    {
                        "run": rid,
                        "period": inputs["period"],
                        "formula": inputs["formula"],
                        "inputs_sha256": hashlib.sha256(inputs_json.encode()).hexdigest(),
                        "output_sha256": run.sha256,
                        "totals": doc["totals"],
                    },
                    subject=f"distribution:{rid}",
                )
            ],
        )
        # Each holder with a statement in this run hears that it is ready, in the same transaction as the run.
        holders = [int(p.split(":", 1)[1]) for p, t in parties.items() if p.startswith("holder:") and t is not None]
        notify(
            c,
            holders,
            "statement",
            "issued",
            {"period": f"{period.start.isoformat()} – {period.end.isoformat()}", "path": "/money", "run": rid},
            subject=f"distribution:{rid}",
        )
    return {
        "run": rid,
        "sha256": run.sha256,
        "lines": len(run.lines),
        "holders": len(run.holders),
        "fee_bp": inputs["formula"]["fee_bp"],
    }


# -- a run as a person asks for it (the CLI's `distribute` and the organisation's page) -------------


def parse_period(start: str, end: str) -> Period:
    try:
        return Period(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as e:
        raise DistributionError(f"period {start}..{end}: {e}") from None


def parse_fee(percent: str) -> int:
    """An administration fee given in percent, as basis points."""
    from fairtrain.core.numbers import parse_basis_points

    try:
        return parse_basis_points(percent)
    except ValueError as e:
        raise DistributionError(f"fee {percent!r}: {e}") from None


def parse_thresholds(amounts: Mapping[str, str]) -> dict[str, int]:
    """Minimum payouts ``{currency: amount in major units}`` as minor units per upper-case currency."""
    limits = {}
    for cur, amount in amounts.items():
        try:
            limits[cur.upper()] = Money.parse(amount, cur).minor
        except ValueError as e:
            raise DistributionError(f"threshold {cur}={amount}: {e}") from None
    return limits


def start_run(
    registry: Registry, org: str, start: str, end: str, fee_percent: str, thresholds: Mapping[str, str]
) -> dict:
    """An organisation (``org:N``) splits a period's money: it sets only its own fee; the others' come from
    the service's one fee rule (:func:`fees_in_force`)."""
    period = parse_period(start, end)
    formula = Formula(fee_bp={org: parse_fee(fee_percent)}, thresholds=parse_thresholds(thresholds))
    try:
        return run_distribution(registry, period, formula, started_by=org)
    except DistributionError as e:
        raise DistributionError(f"distribution {start}..{end}: {e}") from None


def runs_of(registry: Registry, org: str) -> list[dict]:
    """An organisation's runs: those it started, and those that split money it collected or that pay
    its mandated holders (read from the runs' index, not their documents)."""
    concerns = select(DistributionRunParty.run_id).where(DistributionRunParty.party == org)
    with registry.engine.connect() as c:
        rows = c.execute(
            select(
                DistributionRun.id,
                DistributionRun.started_by,
                DistributionRun.period_start,
                DistributionRun.period_end,
                DistributionRun.output_sha256,
                DistributionRun.created_at,
                DistributionRun.summary,
            )
            .where(or_(DistributionRun.started_by == org, DistributionRun.id.in_(concerns)))
            .order_by(DistributionRun.id)
        ).all()
    out = []
    for r in rows:
        summary = json.loads(r.summary)
        out.append(
            {
                "id": r.id,
                "started_by": r.started_by,
                "period": {"start": r.period_start, "end": r.period_end},
                "formula": summary["formula"],
                "sha256": r.output_sha256,
                "created_at": r.created_at.isoformat(),
                "totals": summary["totals"],
                "lines": summary["lines"],
                "holders": summary["holders"],
            }
        )
    return out


def recompute_for(registry: Registry, org: str, run_id: int) -> dict:
    """:func:`recompute`, for an organisation the run concerns."""
    if not any(r["id"] == run_id for r in runs_of(registry, org)):
        raise NotYours(f"no distribution run {run_id} of your organisation")
    return recompute(registry, run_id)


def member(registry: Registry, org_id: int, holder_id: int) -> str:
    """``holder:ID`` when that holder is (or was) a consenting member of organisation ``org_id``: a mandate
    to it that was confirmed, in force now or not (statements concern past periods)."""
    if not any(m["confirmed_at"] for m in registry.mandates(org_id=org_id, holder_id=holder_id)):
        raise NotYours(f"holder {holder_id} is not a member of your organisation (no confirmed mandate)")
    return holder_ref(holder_id)


def statements_of(registry: Registry, holder: str) -> list[dict]:
    """A holder's statements (``holder:N``): one per run that has lines or a balance for it, with totals."""
    with registry.engine.connect() as c:
        rows = c.execute(
            select(
                DistributionRun.id,
                DistributionRun.period_start,
                DistributionRun.period_end,
                DistributionRunParty.totals,
            )
            .join(DistributionRunParty, DistributionRunParty.run_id == DistributionRun.id)
            .where(DistributionRunParty.party == holder)
            .order_by(DistributionRun.id)
        ).all()
    return [
        {"run": r.id, "period": {"start": r.period_start, "end": r.period_end}, "totals": json.loads(r.totals or "[]")}
        for r in rows
    ]


def statement_of(registry: Registry, run_id: int, holder: str) -> dict:
    """:func:`statement`, only where the run has a statement for ``holder`` (``holder:N``)."""
    if not any(s["run"] == run_id for s in statements_of(registry, holder)):
        raise NotYours(f"no statement of {holder} in distribution run {run_id}")
    return statement(registry, run_id, int(holder.split(":")[1]))


def income_chart(statements: list[dict], lang: str = "en") -> str:
    """Net income per run (period end) as an inline SVG bar chart, one group of bars per currency."""
    from fairtrain.core.charts import Bar, bar_chart
    from fairtrain.core.i18n import translator

    points: dict[str, list[tuple[str, int]]] = {}
    for s in statements:
        for t in s["totals"]:
            points.setdefault(t["currency"], []).append((s["period"]["end"], int(t["net"])))
    bars = [
        Bar(when, v, text=str(Money(cur, v)), title=f"{when}: {Money(cur, v)}", group=cur)
        for cur, pts in sorted(points.items())
        for when, v in sorted(pts)
    ]
    return bar_chart(translator(lang)("Net income per distribution period"), bars) if bars else ""


def import_legacy_starters(registry: Registry, data_dir) -> None:
    """Move who started which run from ``distribution-runs-started.json`` (kept beside the database before
    revision 0008) into the runs themselves, once; the file is renamed so that it is not read again."""
    from pathlib import Path

    path = Path(data_dir) / "distribution-runs-started.json"
    try:
        started = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise DistributionError(f"{path}: cannot read who started which distribution run ({e})") from None
    with registry.engine.begin() as c:
        for run_id, org in started.items():
            if str(run_id).isdigit() and isinstance(org, str):
                c.execute(
                    update(DistributionRun)
                    .where(DistributionRun.id == int(run_id), DistributionRun.started_by.is_(None))
                    .values(started_by=org)
                )
    try:
        path.replace(path.with_name(path.name + ".imported"))
    except FileNotFoundError:  # another server starting on the same directory moved it first
        pass


def run_index(inputs: dict, doc: dict) -> tuple[str, dict[str, str | None]]:
    """What lists of runs show without reading the documents again: the summary (JSON) and the parties the
    run concerns: organisations that collected its money or represent a holder in it (totals None), and
    holders it has lines or totals for (their totals, JSON)."""
    summary = canonical_json(
        {
            "formula": inputs["formula"],
            "totals": doc.get("totals"),
            "lines": len(doc.get("lines", [])),
            "holders": len(doc.get("holders", [])),
        }
    ).decode()
    orgs = {e["collector"] for e in inputs["licences"] if e.get("collector")}
    orgs |= {s["organisation"] for w in inputs["works"] for s in w["shares"] if s.get("organisation")}
    holders: dict[str, list] = {ln["holder"]: [] for ln in doc.get("lines", [])}
    for t in doc.get("holders", []):
        holders.setdefault(t["holder"], []).append(t)
    parties: dict[str, str | None] = dict.fromkeys(sorted(orgs))
    parties.update((h, canonical_json(t).decode()) for h, t in sorted(holders.items()))
    return summary, parties


def recompute(registry: Registry, run_id: int) -> dict:
    with registry.engine.connect() as c:
        row = c.execute(
            select(DistributionRun.inputs, DistributionRun.output_sha256).where(DistributionRun.id == run_id)
        ).first()
    if row is None:
        raise NotFound("distribution run", run_id)
    again = compute(json.loads(row.inputs))
    return {
        "run": run_id,
        "stored_sha256": row.output_sha256,
        "recomputed_sha256": again.sha256,
        "identical": again.sha256 == row.output_sha256,
    }


# -- statements ------------------------------------------------------------------------------------


def statement(registry: Registry, run_id: int, holder_id: int) -> dict:
    """One holder's statement for one run: per work and licensee, gross, deductions, net, carried forward."""
    with registry.engine.connect() as c:
        row = c.execute(
            select(DistributionRun.output, DistributionRun.period_start, DistributionRun.period_end).where(
                DistributionRun.id == run_id
            )
        ).first()
        if row is None:
            raise NotFound("distribution run", run_id)
        name = c.execute(select(Holder.name).where(Holder.id == holder_id)).scalar()
        licences = {r.id: r for r in c.execute(select(Licence.id, Licence.licensee, Licence.request))}
    if name is None:
        raise NotFound("holder", holder_id)
    doc = json.loads(row.output)
    ref = holder_ref(holder_id)
    lines = [ln for ln in doc.get("lines", []) if ln["holder"] == ref]
    totals = [t for t in doc.get("holders", []) if t.get("holder") == ref]
    return {
        "run": run_id,
        "period": {"start": row.period_start, "end": row.period_end},
        "holder": ref,
        "name": name,
        "lines": [{**ln, **_licence_of(licences, ln["licence"])} for ln in lines],
        "totals": totals,
    }


def _licence_of(licences: dict, ref) -> dict:
    """A statement line's licensee, and whether its licence was retroactive (use declared after training)."""
    r = licences.get(int(ref)) if str(ref).isdigit() else None
    if r is None:
        return {"licensee": None}
    return {"licensee": r.licensee, **({"retroactive": True} if json.loads(r.request).get("retroactive") else {})}


def statement_csv(st: dict) -> str:
    buf = io.StringIO()
    w = csvcells.writer(buf)
    w.writerow(["work", "licence", "licensee", "currency", "gross", "fee", "net"])
    for ln in st["lines"]:
        w.writerow(
            [ln["work"], ln["licence"], ln.get("licensee") or "", ln["currency"], ln["gross"], ln["fee"], ln["net"]]
        )
    return buf.getvalue()


def statement_html(st: dict, lang: str = "en") -> str:
    """One holder's statement as a self-contained HTML page (``statement.html``) in ``lang``."""
    return render_document(
        "statement.html",
        lang if lang in LANGUAGES else DEFAULT,
        st=st,
        money=lambda cur, minor: str(Money(cur, int(minor))),
    )


__all__ = [
    "compute",
    "fees_in_force",
    "gather",
    "recompute",
    "run_distribution",
    "statement",
    "statement_csv",
    "statement_html",
]
