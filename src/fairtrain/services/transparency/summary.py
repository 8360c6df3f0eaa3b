"""The public training-data summary of a model, filled from its clearances' evidence.

Structure: every section of the European Commission's template (AI Act Art. 53(1)(d); see
:mod:`fairtrain.services.transparency.schema`), plus what creators ask for and the template does not:
the registries and snapshots used, and how many works were excluded, licensed and paid, by organisation.

Evidence read from each clearance directory (``OUT`` of ``fairtrain clear``): ``manifest.json`` (its
licensee's signature checked), ``decisions.parquet`` (checked against the SHA-256 the manifest signs),
``report.json`` and ``licence-quote.json``; from the log: the clearance entry (when it was published)
and payment entries. What the evidence cannot say (user data, synthetic data, illegal-content filtering,
token counts) is left ``null`` with a note, for the provider to state; nothing is typed in to look complete.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pyarrow.parquet as pq

from fairtrain.core.documents import render_document
from fairtrain.core.errors import InvalidInput
from fairtrain.core.i18n import LANGUAGES, babel_locale
from fairtrain.core.keys import PublicKey, SignatureError, verify_document
from fairtrain.services.transparency._labels import labels
from fairtrain.services.transparency.schema import MODALITIES, SECTIONS

__all__ = ["ModelInfo", "SummaryError", "build_summary", "render", "summary_log_entry"]

_OPT_OUT_PROTOCOLS = (
    "robots.txt (RFC 9309)",
    "TDMRep (W3C)",
    "AIPREF Content-Usage",
    "Content-Signal",
    "RSL 1.0",
    "X-Robots-Tag / meta robots",
    "XMP plus:DataMining",
    "C2PA / CAWG training-mining",
)


class SummaryError(InvalidInput):
    """The evidence cannot be used: names the clearance directory and the reason."""


@dataclass(frozen=True)
class ModelInfo:
    """What only the provider knows: who they are and which model this is."""

    model: str
    version: str
    provider: str
    contact: str | None = None
    representative: str | None = None
    representative_contact: str | None = None
    base_model: str | None = None
    base_model_summary: str | None = None
    placed_on_market: str | None = None
    code_of_practice_signatory: bool | None = None


@dataclass
class _Clearance:
    out: Path
    manifest: dict
    report: dict
    quote: dict
    rows: list[dict]
    crawled: bool
    log_index: int | None = None
    logged_at: str | None = None


def _load(out: Path, crawled: bool, trusted: list[PublicKey] | None) -> _Clearance:
    try:
        manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
        report = json.loads((out / "report.json").read_text(encoding="utf-8"))
        quote = json.loads((out / "licence-quote.json").read_text(encoding="utf-8"))
        decisions = (out / "decisions.parquet").read_bytes()
    except (OSError, json.JSONDecodeError) as e:
        raise SummaryError(f"{out}: not a finished clearance ({e})") from None
    try:
        verify_document(manifest, trusted)
    except SignatureError as e:
        raise SummaryError(f"{out}/manifest.json: {e}") from None
    if hashlib.sha256(decisions).hexdigest() != manifest.get("decisions_sha256"):
        raise SummaryError(f"{out}/decisions.parquet: not the decisions its manifest signed")
    if report.get("job_id") != manifest.get("job_id"):
        raise SummaryError(
            f"{out}/report.json: belongs to job {report.get('job_id')}, the manifest to {manifest.get('job_id')}"
        )
    columns = ["modality", "passes", "decision", "reasons", "evidence"]
    if "seconds" in pq.read_schema(out / "decisions.parquet").names:  # clearances since video durations
        columns.append("seconds")
    rows = pq.read_table(out / "decisions.parquet", columns=columns).to_pylist()
    return _Clearance(out, manifest, report, quote, rows, crawled)


def _orgs_of(snapshots: dict[str, Path], trusted, org_names: dict[str, str]) -> dict[tuple[str, int], list[str]]:
    """(snapshot id, work id) -> organisation names, from the snapshot's signed terms (holders' mandates)."""
    from fairtrain.core.snapshot import SnapshotError, SnapshotTerms, verify_snapshot

    out: dict[tuple[str, int], list[str]] = {}
    for sid, path in snapshots.items():
        try:
            snap = verify_snapshot(path, trusted)
        except (SnapshotError, OSError):
            continue  # moved or unverifiable: the works count under "(no organisation)"
        if snap.snapshot_id != sid:
            continue
        t = SnapshotTerms.load(snap).table.select(["work_id", "holders"]).to_pylist()
        for r in t:
            orgs = sorted({org_names.get(o, o) for h in json.loads(r["holders"] or "[]") for o in h.get("orgs", [])})
            out[(sid, r["work_id"])] = orgs
    return out


def organisation_names(engine) -> dict[str, str]:
    """``org:N`` -> the organisation's name, for every organisation of the registry on ``engine``."""
    from sqlalchemy import select

    from fairtrain.core.store.models import Organisation
    from fairtrain.services.registry import org_ref

    with engine.connect() as c:
        return {org_ref(r.id): r.name for r in c.execute(select(Organisation.id, Organisation.name))}


def build_summary(
    clearances: Sequence[Path],
    info: ModelInfo,
    *,
    crawled: Sequence[Path] = (),
    log=None,
    trusted: list[PublicKey] | None = None,
    snapshot_trusted: list[PublicKey] | None = None,
    org_names: dict[str, str] | None = None,
    lang: str = "en",
    now: datetime | None = None,
) -> dict:
    """The summary as a JSON-ready dict (valid against ``SUMMARY_SCHEMA``).

    ``clearances``/``crawled``: clearance directories; ``crawled`` ones are the provider's own crawls
    (template §2.3), the others datasets it obtained (§2.1, §2.2.1 for licensed items). ``log``: the
    public log, for publication dates, log indexes and payments. ``org_names``: ``org:N`` -> name
    (default: the organisations of the log's registry)."""
    if lang not in LANGUAGES:
        raise SummaryError(f"language {lang!r}: use one of {', '.join(LANGUAGES)}")
    if not clearances and not crawled:
        raise SummaryError("no clearance given: the summary is filled from clearance evidence")
    L = labels(lang)
    cs = [_load(Path(p), False, trusted) for p in clearances] + [_load(Path(p), True, trusted) for p in crawled]
    payments: list[dict] = []
    retroactive: list[dict] = []  # grants for use declared after training ("pay later")
    if log is not None:
        by_sig = {c.manifest["signature"]["value"]: c for c in cs}
        for e in log.entries():
            if e["kind"] == "clearance":
                c = by_sig.get(e["body"]["manifest"].get("signature", {}).get("value"))
                if c is not None and c.log_index is None:
                    c.log_index, c.logged_at = e["idx"], e["at"]
            elif e["kind"] == "payment":
                payments.append(e["body"])
            elif (
                e["kind"] == "licence" and e["body"].get("event") == "granted" and e["body"]["grant"].get("retroactive")
            ):
                retroactive.append(e["body"]["grant"])

    # Snapshots signed by the same registry key name the same works: count a work once per registry.
    first_by_key: dict[str, str] = {}
    canon: dict[str, str] = {}
    for c in cs:
        for snap in c.manifest.get("snapshots", []):
            canon[snap["snapshot_id"]] = first_by_key.setdefault(
                snap.get("key_id") or snap["snapshot_id"], snap["snapshot_id"]
            )
    used_mods: dict[str, Counter] = {"all": Counter(), "licensed": Counter()}
    video_seconds = 0.0
    works: dict[tuple[str, int], dict] = {}
    denied_items = 0
    for c in cs:
        for r in c.rows:
            reasons = json.loads(r["reasons"] or "[]")
            via_licence = any(x.get("granted") for x in reasons)
            if r["decision"] == "deny":
                denied_items += 1
            if r["passes"]:
                used_mods["all"][r["modality"] or "other"] += 1
                video_seconds += r.get("seconds") or 0.0
                if via_licence:
                    used_mods["licensed"][r["modality"] or "other"] += 1
            for m in json.loads(r["evidence"] or "[]"):
                w = works.setdefault(
                    (canon.get(m["snapshot"], m["snapshot"]), m["work_id"]), {"passed": False, "licensed": False}
                )
                if r["passes"]:
                    w["passed"] = True
                    w["licensed"] |= via_licence
    licensed_works = {k for k, w in works.items() if w["licensed"]}
    snapshots = {}
    for c in cs:
        for s in c.manifest.get("snapshots", []):
            snapshots.setdefault(s["snapshot_id"], s)
    if org_names is None and log is not None:
        org_names = organisation_names(log.engine)
    orgs = _orgs_of(
        {sid: Path(s["path"]) for sid, s in snapshots.items() if s.get("path")}, snapshot_trusted, org_names or {}
    )
    by_org: dict[str, Counter] = defaultdict(Counter)
    for key, w in works.items():
        status = "licensed" if w["licensed"] else "allowed" if w["passed"] else "excluded"
        for o in orgs.get(key) or [L["independent"]]:
            by_org[o]["matched"] += 1
            by_org[o][status] += 1

    job_ids = {c.manifest["job_id"] for c in cs}
    licensees = {c.manifest["licensee"] for c in cs}
    paid_works: set[tuple[str, int]] = set()
    relevant_payments = [p for p in payments if p.get("job_id") in job_ids or p.get("licensee") in licensees]
    for p in relevant_payments:
        for w in p.get("works", []):
            key = (canon.get(w.get("snapshot"), w.get("snapshot")), w.get("work_id")) if isinstance(w, dict) else None
            if key in licensed_works:
                paid_works.add(key)
    declined: Counter = Counter()
    for c in cs:
        for cur, money in c.quote.get("totals", {}).items():
            declined[cur] += int(money["minor"])

    def mods(counter: Counter) -> list[str]:
        return [m for m in MODALITIES if counter.get(m)]

    # only an input named by a URL or a Hugging Face dataset id is evidence of a public dataset; a local
    # folder or file is listed as what it is (2.2.2, origin to be stated by the provider)
    public = [c for c in cs if not c.crawled and public_input(c.manifest.get("input"), c.report.get("format"))]
    local = [c for c in cs if not c.crawled and all(c is not p for p in public)]
    datasets = [
        {
            "identifier": str(c.manifest["input"]),
            "link": _link(c.manifest.get("input")),
            "collection_dates": (c.logged_at or "")[:10] or None,
            "items": int(c.manifest["items"]),
            "items_used": int(c.manifest["cleared"]),
            "modalities": mods(Counter({r["modality"]: 1 for r in c.rows if r["passes"] and r["modality"]})),
        }
        for c in public
    ]
    domains: Counter = Counter()
    for c in cs:
        if c.crawled:
            domains.update(c.report.get("domains", {}))
    domains.pop("?", None)
    top_n = max(1, -(-len(domains) // 10)) if domains else 0  # the top 10 %, rounded up
    total_dom = sum(domains.values())
    top = [
        {"domain": d, "items": n, "share": round(n / total_dom, 4)}
        for d, n in sorted(domains.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]
    ]
    measures = [L["measure_registry"]]
    measures += [
        L["measure_permission"] if any(c.manifest["mode"] == "permission" for c in cs) else L["measure_reservation"]
    ]
    check_web = any(c.report.get("check_web") for c in cs)
    if check_web:
        measures.append(L["measure_web"])
    if any(c.log_index is not None for c in cs):
        measures.append(L["measure_log"])
    items_total = sum(int(c.manifest["items"]) for c in cs)
    items_used = sum(int(c.manifest["cleared"]) for c in cs)
    dates = [c.logged_at for c in cs if c.logged_at]
    no = L["note_no_evidence"]

    def sec(number: str, **fields) -> dict:
        return {"section": number, "title": L["s" + number], "note": fields.pop("note", None), **fields}

    sections = {
        "1.1": sec(
            "1.1",
            provider_name=info.provider,
            provider_contact=info.contact,
            authorised_representative=info.representative,
            authorised_representative_contact=info.representative_contact,
        ),
        "1.2": sec(
            "1.2",
            versioned_model_names=[f"{info.model} {info.version}"],
            model_dependencies=(
                {"base_model": info.base_model, "base_model_summary": info.base_model_summary}
                if info.base_model
                else None
            ),
            placed_on_market=info.placed_on_market,
        ),
        "1.3": sec(
            "1.3",
            note=L["note_items_unit"],
            modalities={m: bool(used_mods["all"].get(m)) for m in MODALITIES},
            size={
                m: {"range": None, "approximate": {"value": n, "unit": "items"}}
                | ({"hours": round(video_seconds / 3600, 4)} if m == "video" else {})
                for m, n in sorted(used_mods["all"].items())
                if m in MODALITIES
            },
            content_types={},
            latest_acquisition_date=max(dates)[:10] if dates else None,
            collection_ongoing=None,
            linguistic_characteristics=None,
            other_characteristics=None,
            comments=None,
        ),
        "2.1": sec(
            "2.1",
            used=bool(datasets),
            modalities=sorted({m for d in datasets for m in d["modalities"]}, key=MODALITIES.index),
            large_datasets=datasets,
            other_description=None,
        ),
        "2.2.1": sec(
            "2.2.1",
            note=L["note_licensed"],
            used=bool(licensed_works),
            modalities=mods(used_mods["licensed"]),
            works_licensed=len(licensed_works),
        ),
        "2.2.2": sec(
            "2.2.2",
            note=L["note_local_inputs"] if local else no,
            used=None,
            modalities=mods(
                Counter({r["modality"]: 1 for c in local for r in c.rows if r["passes"] and r["modality"]})
            ),
            datasets=[_identifier(c) for c in local],
            description=None,
        ),
        "2.3": sec(
            "2.3",
            used=any(c.crawled for c in cs),
            crawlers=[],
            purposes=None,
            crawler_behaviour=(L["measure_web"] if check_web else None),
            collection_period=None,
            content_description=None,
            modalities=mods(
                Counter({r["modality"]: 1 for c in cs if c.crawled for r in c.rows if r["passes"] and r["modality"]})
            ),
            top_domains=top,
            domains_rule=L["note_domains"],
        ),
        "2.4": sec("2.4", note=no, from_model_interactions=None, from_other_services=None, description=None),
        "2.5": sec("2.5", note=no, used=None, modalities=[], models=[], description=None),
        "2.6": sec("2.6", note=no, description=None),
        "3.1": sec(
            "3.1",
            code_of_practice_signatory=info.code_of_practice_signatory,
            measures=measures,
            opt_out_protocols=[
                "fairtrain registry declarations (signed snapshots)",
                *(_OPT_OUT_PROTOCOLS if check_web else ()),
            ],
            items_excluded=items_total - items_used,
            items_excluded_by_reservation=denied_items,
        ),
        "3.2": sec("3.2", note=no, description=None),
        "3.3": sec("3.3", description=None),
        "creators": sec(
            "creators",
            registries=[
                {
                    "registry": s.get("registry"),
                    "snapshot_id": sid,
                    "key_id": s.get("key_id", ""),
                    "created_at": s.get("created_at"),
                }
                for sid, s in sorted(snapshots.items())
            ],
            clearances=[
                {
                    "job_id": c.manifest["job_id"],
                    "licensee": c.manifest["licensee"],
                    "purpose": c.manifest["purpose"],
                    "mode": c.manifest["mode"],
                    "items": int(c.manifest["items"]),
                    "items_used": int(c.manifest["cleared"]),
                    "log_index": c.log_index,
                    "manifest_sha256": hashlib.sha256((c.out / "manifest.json").read_bytes()).hexdigest(),
                    "cleared_works_root": c.manifest["cleared_works"]["root"],
                    "cleared_items_root": c.manifest["cleared_items"]["root"],
                }
                for c in cs
            ],
            works={
                "matched": len(works),
                "excluded": sum(not w["passed"] for w in works.values()),
                "licensed": len(licensed_works),
                "allowed": sum(w["passed"] and not w["licensed"] for w in works.values()),
                "paid": len(paid_works) if log is not None else None,
            },
            licence_offers_declined={cur: _money(cur, minor, lang) for cur, minor in sorted(declined.items())},
            retroactive_licences=[
                {
                    "licence": int(g["licence"]),
                    "organisation": (org_names or {}).get(g["grantor"], g["grantor"]),
                    "works": len(g["works"]),
                    "price": _money(g["price"]["currency"], int(g["price"]["minor"]), lang),
                }
                for g in retroactive
                if g["licensee"] in licensees
            ],
            by_organisation=[
                {"organisation": o, **{k: n[k] for k in ("matched", "excluded", "licensed", "allowed")}}
                for o, n in sorted(by_org.items())
            ],
        ),
    }
    assert tuple(sections) == SECTIONS
    return {
        "format": "fairtrain-training-summary/1",
        "template": L["template"],
        "generated_at": (now or datetime.now(UTC)).isoformat(timespec="seconds"),
        "lang": lang,
        "sections": sections,
    }


_PUBLIC_SCHEMES = ("http://", "https://", "hf://")


def public_input(value: str | None, fmt: str | None) -> bool:
    """Whether a clearance's input names a public dataset: a web URL, ``hf://``, or a Hugging Face dataset id
    (``owner/name`` read as ``hf``). A local folder or file (absolute, relative, ``file://``) is not."""
    v = str(value or "")
    if v.lower().startswith(_PUBLIC_SCHEMES):
        return True
    return (
        fmt == "hf"
        and "://" not in v
        and not v.startswith((".", "/", "~"))
        and not Path(v).exists()
        and len(v.split("/")) <= 2
    )


def _link(value: str | None) -> str | None:
    v = str(value or "")
    if v.lower().startswith(("http://", "https://")):
        return v
    if v.lower().startswith("hf://"):
        v = v[5:].removeprefix("datasets/")
    return f"https://huggingface.co/datasets/{v}" if v else None


def _identifier(c: _Clearance) -> str:
    return Path(str(c.manifest.get("input", c.out))).name or str(c.out)


def _money(currency: str, minor: int, lang: str) -> str:
    from babel.numbers import format_currency

    from fairtrain.core.money import Money

    amount = Decimal(Money(currency, minor).major_str())  # exact: money is never a float
    return format_currency(amount, currency, locale=babel_locale(lang))


def summary_log_entry(summary: dict, info: ModelInfo, document: bytes, fmt: str):
    """The log entry that publishes a summary: what it is about and the SHA-256 of the published bytes."""
    from fairtrain.services.log import Entry

    cl = summary["sections"]["creators"]["clearances"]
    return Entry(
        "summary",
        {
            "model": info.model,
            "version": info.version,
            "provider": info.provider,
            "format": fmt,
            "lang": summary["lang"],
            "sha256": hashlib.sha256(document).hexdigest(),
            "clearances": [
                {"job_id": c["job_id"], "log_index": c["log_index"], "manifest_sha256": c["manifest_sha256"]}
                for c in cl
            ],
        },
        subject=f"model:{info.model}@{info.version}",
    )


# -- rendering ---------------------------------------------------------------------------------------------


def _fmt_value(v, L: dict, lang: str, missing: str = "unknown") -> str:
    from babel.numbers import format_decimal

    if v is None:
        return L[missing]
    if isinstance(v, bool):
        return L["yes"] if v else L["no"]
    if isinstance(v, int):
        return format_decimal(v, locale=babel_locale(lang))
    if isinstance(v, float):
        return f"{v:.1%}"
    if isinstance(v, str):
        return L.get("mod_" + v, v)
    if isinstance(v, list):
        return "; ".join(_fmt_value(x, L, lang) for x in v) if v else L["none"]
    if isinstance(v, dict):
        if "approximate" in v:  # a size: "≈ 3 items", with the template's range when known
            a = v["approximate"]
            size = f"≈ {_fmt_value(a['value'], L, lang)} {L.get(a['unit'], a['unit'])}"
            if v.get("hours") is not None:  # video: the hours the items run, as the template asks
                size += f" ({format_decimal(v['hours'], locale=babel_locale(lang))} {L['hours']})"
            return size if v.get("range") is None else f"{v['range']} ({size})"
        if not v:
            return L["none"]
        return ", ".join(f"{L.get('mod_' + k, L.get(k, k))}: {_fmt_value(x, L, lang)}" for k, x in v.items())
    return str(v)


def _is_table(v) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def _sections(summary: dict, L: dict[str, str]) -> list[dict]:
    """Each section's title, note, rows of (label, text) and tables (label, column labels, rows of texts):
    a list of records (datasets, clearances, organisations) becomes a table of its own."""
    lang = summary["lang"]
    out = []
    for number in SECTIONS:
        s = summary["sections"][number]
        missing = "not_stated" if number in ("1.1", "1.2") else "unknown"  # the provider's own facts
        fields = [(L.get(k, k), v) for k, v in s.items() if k not in ("section", "title", "note")]
        out.append(
            {
                "title": s["title"],
                "note": s["note"],
                "rows": [(k, _fmt_value(v, L, lang, missing)) for k, v in fields if not _is_table(v)],
                "tables": [
                    (k, [L.get(c, c) for c in v[0]], [[_fmt_value(r[c], L, lang) for c in v[0]] for r in v])
                    for k, v in fields
                    if _is_table(v)
                ],
            }
        )
    return out


def render(summary: dict, fmt: str, model_title: str) -> str:
    """The summary as ``json``, ``md`` or ``html`` (self-contained, no scripts; ``summary.html``), in the
    summary's language."""
    if fmt == "json":
        return json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    lang = summary["lang"]
    L = labels(lang)
    title = L["doc_title"].format(model=model_title)
    if fmt == "md":

        def cell(text: str) -> str:
            return text.replace("|", "\\|").replace("\n", " ")

        lines = [f"# {title}", "", f"_{summary['template']}_", "", f"{summary['generated_at']}", ""]
        for sec in _sections(summary, L):
            lines += [f"## {sec['title']}", ""]
            if sec["note"]:
                lines += [f"> {sec['note']}", ""]
            lines += ["| | |", "|---|---|"]
            lines += [f"| {k} | {cell(text)} |" for k, text in sec["rows"]]
            lines.append("")
            for k, cols, rows in sec["tables"]:
                lines += [f"**{k}**", "", "| " + " | ".join(cell(c) for c in cols) + " |", "|" + "---|" * len(cols)]
                lines += ["| " + " | ".join(cell(x) for x in r) + " |" for r in rows]
                lines.append("")
        return "\n".join(lines)
    if fmt == "html":
        return render_document("summary.html", lang, title=title, summary=summary, sections=_sections(summary, L))
    raise SummaryError(f"format {fmt!r}: use html, json or md")
