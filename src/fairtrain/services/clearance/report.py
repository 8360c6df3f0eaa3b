"""Clearance outputs for people: the licence quote and a self-contained HTML report with charts."""

from __future__ import annotations

import json
from collections import defaultdict

from fairtrain.core.charts import DEFAULT_COLOUR, Bar, bar_chart
from fairtrain.core.documents import render_document
from fairtrain.core.money import Money

MAX_REPORT_ITEMS = 10_000  # report.html's item table; every item is in decisions.parquet


def quote(entries: list[dict], config) -> dict:
    """Licensable works grouped by the party that offers the licence, prices summed exactly per currency.

    Per-work prices count once per work however many items matched it; a flat fee counts once per
    party and offer; revenue shares are listed with their minimum, not summed (they depend on revenue).
    """
    works: dict[str, dict] = {}
    for e in entries:
        key = f"{e['snapshot']}:{e['work_id']}"
        if key in works:
            works[key]["items"] += e["items"]
        else:
            works[key] = {**e}
    groups: dict[str, dict] = {}
    for key in sorted(works):
        w = works[key]
        names = {h["party"]: h["name"] for h in w.get("holders", [])}
        for h in w.get("holders", []):  # an organisation offering a licence is named by its name, not org:N
            names.update(h.get("org_names") or {})
        for offer in w["offers"] or [{"party": None}]:
            party = offer.get("party") or "unknown"
            g = groups.setdefault(
                party,
                {
                    "party": party,
                    "name": names.get(party, party),
                    "works": [],
                    "per_work": defaultdict(int),
                    "flat_fees": {},
                    "revenue_shares": [],
                },
            )
            g["works"].append(
                {
                    "snapshot": w["snapshot"],
                    "work_id": w["work_id"],
                    "items": w["items"],
                    "offer": {k: v for k, v in offer.items() if k != "party"} if offer.get("price") else None,
                }
            )
            if not offer.get("price"):
                continue
            price = Money.from_dict(offer["price"])
            model = offer["price_model"]
            if model == "per-work":
                g["per_work"][price.currency] += price.minor
            elif model == "flat-fee":
                g["flat_fees"][json.dumps(offer, sort_keys=True)] = price
            else:
                g["revenue_shares"].append(
                    {"work_id": w["work_id"], "share_bp": offer.get("revenue_share_bp", 0), "minimum": price.to_dict()}
                )
    totals: dict[str, int] = defaultdict(int)
    out_groups = []
    for party in sorted(groups):
        g = groups[party]
        sums: dict[str, int] = defaultdict(int)
        for cur, minor in g["per_work"].items():
            sums[cur] += minor
        for price in g["flat_fees"].values():
            sums[price.currency] += price.minor
        for cur, minor in sums.items():
            totals[cur] += minor
        out_groups.append(
            {
                "party": party,
                "name": g["name"],
                "works": g["works"],
                "total": {c: Money(c, m).to_dict() for c, m in sorted(sums.items())},
                "revenue_shares": g["revenue_shares"],
            }
        )
    return {
        "licensee": config.licensee,
        "purpose": config.purpose.value,
        "research": config.research,
        "works": len(works),
        "groups": out_groups,
        "totals": {c: Money(c, m).to_dict() for c, m in sorted(totals.items())},
    }


_COLOURS = {"allow": "#2e7d32", "licence": "#f9a825", "deny": "#c62828", "unknown": "#757575"}
_CHART_ROWS = 12
# The report's charts: heading and the report's count it draws.
_CHARTS = (
    ("Decisions", "by_decision"),
    ("Decisions by reason", "by_reason"),
    ("By modality", "by_modality"),
    ("Top domains", "domains"),
    ("Top rights holders", "holders"),
    ("Errors", "errors"),
)


def _chart(title: str, data: dict[str, int]):
    """The first rows of ``data`` as a bar chart, a decision's colour where the label ends in one."""
    bars = [
        Bar(label, v, colour=_COLOURS.get(label.split(":")[-1], DEFAULT_COLOUR))
        for label, v in list(data.items())[:_CHART_ROWS]
    ]
    return bar_chart(title, bars) if bars else None


def render_html(report: dict, items: list[dict] = ()) -> str:
    """The self-contained report (inline CSS and SVG, no scripts, nothing fetched) from ``report.html``.

    ``items`` are the item table's rows (:func:`~fairtrain.services.clearance.shard.report_item`), the first
    :data:`MAX_REPORT_ITEMS` shown; the filters are CSS only (radio buttons), so the report stays script-free."""
    totals = ", ".join(t["display"] for t in report["licence_quote"]["totals"].values()) or "nothing"
    charts = [(title, _chart(title, report[key])) for title, key in _CHARTS]
    items = list(items)[:MAX_REPORT_ITEMS]
    values = {
        "decision": lambda i: {i["decision"]},
        "modality": lambda i: {i["modality"]},
        "holder": lambda i: {h for w in i["works"] for h in w["holders"]},
    }
    # each filter value gets a CSS-safe key (``d0``, ``m1``, ``h2``): names are free text
    facets = {
        f: [(v, f"{f[0]}{n}") for n, v in enumerate(sorted(set().union(*(get(i) for i in items))))]
        for f, get in values.items()
    }
    keys = {f: dict(vs) for f, vs in facets.items()}
    rows = [{**i, "classes": " ".join(sorted(keys[f][v] for f, get in values.items() for v in get(i)))} for i in items]
    return render_document(
        "report.html",
        report=report,
        totals=totals,
        charts=charts,
        rows=rows,
        facets=facets,
        more=max(0, report["items"] - len(rows)),
    )
