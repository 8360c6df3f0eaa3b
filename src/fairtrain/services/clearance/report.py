"""Clearance outputs for people: the licence quote and a self-contained HTML report with charts."""

from __future__ import annotations

import html
import json
from collections import defaultdict

from fairtrain.core.money import Money


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
        for offer in w["offers"] or [{"party": None}]:
            party = offer.get("party") or "unknown"
            g = groups.setdefault(party, {"party": party, "name": names.get(party, party), "works": [],
                                          "per_work": defaultdict(int), "flat_fees": {}, "revenue_shares": []})
            g["works"].append({"snapshot": w["snapshot"], "work_id": w["work_id"], "items": w["items"],
                               "offer": {k: v for k, v in offer.items() if k != "party"} if offer.get("price") else None})
            if not offer.get("price"):
                continue
            price = Money.from_dict(offer["price"])
            model = offer["price_model"]
            if model == "per-work":
                g["per_work"][price.currency] += price.minor
            elif model == "flat-fee":
                g["flat_fees"][json.dumps(offer, sort_keys=True)] = price
            else:
                g["revenue_shares"].append({"work_id": w["work_id"], "share_bp": offer.get("revenue_share_bp", 0),
                                            "minimum": price.to_dict()})
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
        out_groups.append({"party": party, "name": g["name"], "works": g["works"],
                           "total": {c: Money(c, m).to_dict() for c, m in sorted(sums.items())},
                           "revenue_shares": g["revenue_shares"]})
    return {"licensee": config.licensee, "purpose": config.purpose.value, "research": config.research,
            "works": len(works), "groups": out_groups,
            "totals": {c: Money(c, m).to_dict() for c, m in sorted(totals.items())}}


_COLOURS = {"allow": "#2e7d32", "licence": "#f9a825", "deny": "#c62828", "unknown": "#757575"}


def _bars(title: str, data: dict[str, int], limit: int = 12) -> str:
    """A horizontal bar chart as inline SVG: no scripts, no network."""
    rows = list(data.items())[:limit]
    if not rows:
        return f"<h2>{html.escape(title)}</h2><p class=empty>none</p>"
    top = max(v for _, v in rows) or 1
    h = 22 * len(rows) + 4
    parts = [f'<svg role="img" aria-label="{html.escape(title)}" width="640" height="{h}" viewBox="0 0 640 {h}">']
    for i, (label, v) in enumerate(rows):
        w = int(380 * v / top)
        colour = _COLOURS.get(label.split(":")[-1], "#1565c0")
        y = 22 * i + 2
        parts.append(f'<text x="0" y="{y + 15}" font-size="13">{html.escape(str(label)[:40])}</text>'
                     f'<rect x="200" y="{y + 2}" width="{max(w, 1)}" height="16" fill="{colour}"/>'
                     f'<text x="{206 + w}" y="{y + 15}" font-size="13">{v:,}</text>')
    parts.append("</svg>")
    return f"<h2>{html.escape(title)}</h2>" + "".join(parts)


def _error_rows(errors: list[dict], limit: int = 50) -> str:
    """The first errors with item, field and reason (report.json lists more)."""
    if not errors:
        return ""
    esc = html.escape
    rows = "".join(f"<tr><td><code>{esc(e['item'])}</code></td><td>{esc(e['field'])}</td><td>{esc(e['reason'])}</td></tr>"
                   for e in errors[:limit])
    return f"<table><tr><th>item</th><th>field</th><th>reason</th></tr>{rows}</table>"


def render_html(report: dict) -> str:
    esc = html.escape
    warn = "" if report["mode"] == "permission" else f'<p class="warn">{esc(report["mode_note"])}</p>'
    totals = ", ".join(t["display"] for t in report["licence_quote"]["totals"].values()) or "nothing"
    snaps = "".join(f"<li><code>{esc(s['snapshot_id'][:16])}</code> {esc(str(s.get('registry')))} "
                    f"(key {esc(s['key_id'])})</li>" for s in report["snapshots"])
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clearance report — {esc(report['licensee'])}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:760px;margin:2em auto;padding:0 1em;color:#222}}
.warn{{background:#fff3cd;border:2px solid #f9a825;padding:1em;font-weight:bold}}
.kpi{{display:flex;gap:1em}} .kpi div{{border:1px solid #ddd;padding:.6em 1em;border-radius:6px}}
.kpi b{{display:block;font-size:1.6em}} code{{background:#f3f3f3;padding:0 .2em}} .empty{{color:#888}}
</style></head><body>
<h1>Clearance report</h1>
<p>Licensee <b>{esc(report['licensee'])}</b>, purpose <b>{esc(report['purpose'])}</b>{' (research)' if report['research'] else ''},
mode <b>{esc(report['mode'])}</b>, engine {esc(report['engine'])}, job <code>{esc(report['job_id'])}</code>.</p>
{warn}
<p>{esc(report['mode_note'])}</p>
<div class="kpi"><div><b>{report['items']:,}</b>items</div><div><b>{report['passed']:,}</b>cleared</div>
<div><b>{report['excluded']:,}</b>excluded</div><div><b>{report['licence_quote']['works']:,}</b>works to licence ({esc(totals)})</div></div>
{_bars("Decisions", report['by_decision'])}
{_bars("Decisions by reason", report['by_reason'])}
{_bars("By modality", report['by_modality'])}
{_bars("Top domains", report['domains'])}
{_bars("Top rights holders", report['holders'])}
{_bars("Errors", report['errors'])}
{_error_rows(report.get('error_items', []))}
<h2>Registry snapshots</h2><ul>{snaps}</ul>
<p>Input <code>{esc(report['input'])}</code> ({esc(report['format'])}, {report['shards']} shards).</p>
</body></html>
"""
