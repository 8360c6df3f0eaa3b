"""The money side and transparency for the web: licences, invoices, usage reports, distribution runs,
statements, "was my work used?" and model summaries. Shared by the JSON API and the pages; every function
takes the caller and answers only with what is theirs."""

from __future__ import annotations

import json
from datetime import date
from functools import partial

from sqlalchemy import or_, select, update

from fairtrain.core import jsontext
from fairtrain.core.charts import Bar, bar_chart
from fairtrain.core.distribution import DistributionError, Formula, Period
from fairtrain.core.i18n import translator
from fairtrain.core.keys import SignatureError, SigningKey, verify_document
from fairtrain.core.money import Money
from fairtrain.core.numbers import parse_basis_points
from fairtrain.core.store.models import DistributionRunParty, DistributionRunRow, Holder, Organisation, User
from fairtrain.core.vocab import Category
from fairtrain.services.ledger import distribution as dist
from fairtrain.services.ledger.licensing import Licensing
from fairtrain.services.log import Log
from fairtrain.services.registry import RegistryError
from fairtrain.web.errors import WebError, forbidden
from fairtrain.web.security import Principal

MAX_QUOTE_BYTES = 8 * 1024 * 1024


def licensee_of(p: Principal) -> str:
    """A developer account's licensee identity: assigned by the server, so a licence or report can be
    tied to the account that asked for it (a quote's own ``licensee`` field is not trusted)."""
    return f"developer:{p.account.id}"


def _licensing(state) -> Licensing:
    return Licensing(state.registry)


def _mandated_holders(state, org_id: int) -> set[str]:
    return {m["holder"] for m in state.registry.mandates(org_id=org_id) if m["in_force"]}


def _party(p: Principal) -> str:
    return p.holder_ref or p.org_ref


# -- licences ----------------------------------------------------------------------------------------


def _json_upload(data: bytes, what: str) -> object:
    if len(data) > MAX_QUOTE_BYTES:
        raise WebError(413, f"{what}: larger than {MAX_QUOTE_BYTES} bytes")
    try:
        return jsontext.loads(data.removeprefix(b"\xef\xbb\xbf"), what=what)
    except jsontext.JsonRefused as e:
        raise WebError(400, str(e)) from None


def request_licences(state, p: Principal, data: bytes, categories: list[str] | None, valid_until: str | None) -> dict:
    quote = _json_upload(data, "licence-quote.json")
    if not isinstance(quote, dict) or not isinstance(quote.get("groups", []), list):
        raise WebError(400, "licence-quote.json: expected an object with 'groups' (a clearance's licence quote)")
    until = None
    if valid_until:
        from datetime import UTC, datetime

        try:
            until = datetime.fromisoformat(valid_until)
        except ValueError:
            raise WebError(400, f"valid_until {valid_until!r}: expected an ISO date") from None
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
    try:
        cats = [Category(c) for c in categories] if categories else None
        ids = _licensing(state).request(
            quote, licensee=licensee_of(p), categories=cats, valid_until=until, licensee_name=p.account.display_name
        )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, RegistryError):  # LicensingError (400), NotAllowed (403): the service's own answer
            raise
        raise WebError(400, f"licence-quote.json: malformed quote ({type(e).__name__}: {e})") from None
    return {"licences": ids, "licensee": licensee_of(p)}


def declare_past_use(state, p: Principal, data: bytes, categories: list[str] | None) -> dict:
    usage = _json_upload(data, "usage report")
    if not isinstance(usage, dict):
        raise WebError(400, "usage report: expected an object with 'works' or a licence quote's 'groups'")
    try:
        cats = [Category(c) for c in categories] if categories else None
        return _licensing(state).declare_past_use(usage, licensee=licensee_of(p), categories=cats)
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, RegistryError):
            raise
        raise WebError(400, f"usage report: malformed ({type(e).__name__}: {e})") from None


def licences_for(state, p: Principal) -> list[dict]:
    """A developer's own licences; a creator's licences asked of them; an organisation's licences asked of
    it or of the holders who mandated it."""
    lic = _licensing(state)
    if p.role == "developer":
        return lic.list(licensee=licensee_of(p))
    if p.role == "creator":
        return lic.list(grantor=p.holder_ref)
    parties = {p.org_ref} | _mandated_holders(state, p.account.org_id)
    return [x for x in lic.list() if x["grantor"] in parties]


def licence_for(state, p: Principal, licence_id: int) -> dict:
    for x in licences_for(state, p):
        if x["id"] == licence_id:
            return x
    raise WebError(404, f"no licence {licence_id} of yours")


def _party_key(state, party: str) -> SigningKey:
    """The grantor's signing key, kept by the server for people without keys of their own (a custodial
    key per holder or organisation, created on first use, mode 0600 under the data directory)."""
    path = state.data_dir / "keys" / f"{party.replace(':', '-')}.key"
    if not path.exists():
        SigningKey.generate().save(path)
    return SigningKey.load(path)


def accept(
    state,
    p: Principal,
    licence_id: int,
    *,
    collective: bool,
    price: str | None,
    currency: str | None,
    revenue_share_percent: str | None,
) -> dict:
    party = _party(p)
    licence_for(state, p, licence_id)  # 404 unless it is addressed to the caller
    lic = _licensing(state)
    lic.authorise(licence_id, party)
    if collective and p.role != "org-admin":
        raise forbidden("a collective licence is granted by an organisation")
    amount = None
    if price:
        try:
            amount = Money.parse(price, currency or "")
        except ValueError as e:
            raise WebError(400, f"price {price!r} {currency or ''}: {e}") from None
    share = None
    if revenue_share_percent:
        try:
            share = parse_basis_points(revenue_share_percent)
        except ValueError as e:
            raise WebError(400, f"revenue share {revenue_share_percent!r}: {e}") from None
    if (amount is not None or share is not None) and not collective:
        raise WebError(400, "own terms (price, revenue share) go with a collective licence")
    return lic.accept(
        licence_id,
        party=party,
        key=_party_key(state, party),
        collective=collective,
        price=amount,
        revenue_share_bp=share,
    )


def decline(state, p: Principal, licence_id: int, note: str) -> dict:
    licence_for(state, p, licence_id)
    return _licensing(state).decline(licence_id, party=_party(p), note=note)


def invoices_for(state, p: Principal) -> list[dict]:
    return _licensing(state).invoices(licensee=licensee_of(p))


def party_names(state, rows: list[dict], *keys: str) -> dict[str, str]:
    """The names people read for the parties ``rows`` name under ``keys`` (``holder:3`` → the holder's name,
    ``org:1`` → the organisation's, ``developer:7`` → the developer account's display name); a party with no
    name row keeps its code."""
    ids: dict[str, set[int]] = {"holder": set(), "org": set(), "developer": set()}
    for r in rows:
        for k in keys:
            kind, _, num = str(r.get(k) or "").partition(":")
            if kind in ids and num.isdigit():
                ids[kind].add(int(num))
    names: dict[str, str] = {}
    with state.registry.engine.connect() as c:
        for kind, model, col in (
            ("holder", Holder, Holder.name),
            ("org", Organisation, Organisation.name),
            ("developer", User, User.display_name),
        ):
            if ids[kind]:
                for i, name in c.execute(select(model.id, col).where(model.id.in_(ids[kind]))):
                    names[f"{kind}:{i}"] = name
    return names


def income_for(state, p: Principal) -> list[dict]:
    """A creator's income from the licences she granted herself: each invoice to her licensees, with what was
    paid on it (money an organisation collects for her reaches her through its distribution statements)."""
    return _licensing(state).invoices(grantor=p.holder_ref)


# -- usage reports -----------------------------------------------------------------------------------


def file_usage_report(state, p: Principal, document: dict) -> dict:
    """Accept a usage report signed by the developer's own Ed25519 key (never signed here).

    The key is pinned on first use: the first report an account files fixes its key, and later reports
    must be signed by the same key, so a stolen session or API key alone cannot file reports in the
    account's name once it has filed one. The report must name the account as licensee and only the
    account's own licences."""
    if not isinstance(document, dict):
        raise WebError(400, "usage report: expected a JSON object")
    try:
        signer = verify_document(document)
    except (SignatureError, KeyError, TypeError, ValueError) as e:
        raise WebError(400, f"usage report {document.get('idempotency_key')!r}: signature refused ({e})") from None
    me = licensee_of(p)
    if document.get("licensee") != me:
        raise forbidden(f"usage report: licensee is {document.get('licensee')!r}; this account reports as {me!r}")
    own = {x["id"] for x in _licensing(state).list(licensee=me)}
    licences = document.get("licences") or []
    if not isinstance(licences, list) or any(not isinstance(x, int) or x not in own for x in licences):
        raise forbidden(f"usage report: licences {licences!r} are not all licences of {me}")
    weights = document.get("weights")
    if weights is not None and (
        not isinstance(weights, dict) or any(not isinstance(v, int) or v < 0 for v in weights.values())
    ):
        raise WebError(400, "usage report: 'weights' must map work ids to non-negative integers")
    pinned = pinned_key(state, p)
    if pinned is not None and pinned != signer.b64():
        raise forbidden(
            f"usage report: signed by key {signer.key_id}, but this account's reports are signed by "
            "another key (pinned by its first report)"
        )
    return _licensing(state).usage_report(document)


def pinned_key(state, p: Principal) -> str | None:
    reports = _licensing(state).usage_reports(licensee=licensee_of(p))
    return reports[0]["signature"]["public_key"] if reports else None


def usage_reports_for(state, p: Principal) -> list[dict]:
    return _licensing(state).usage_reports(licensee=licensee_of(p))


# -- distribution runs and statements ----------------------------------------------------------------


def start_run(state, p: Principal, start: str, end: str, fee_percent: str, thresholds: dict[str, str]) -> dict:
    try:
        period = Period(date.fromisoformat(start), date.fromisoformat(end))
    except ValueError as e:
        raise WebError(400, f"period {start}..{end}: {e}") from None
    try:
        bp = parse_basis_points(fee_percent)
    except ValueError as e:
        raise WebError(400, f"fee {fee_percent!r}: {e}") from None
    limits = {}
    for cur, amount in thresholds.items():
        try:
            limits[cur.upper()] = Money.parse(amount, cur).minor
        except ValueError as e:
            raise WebError(400, f"threshold {cur}={amount}: {e}") from None
    # Each organisation sets only its own fee; the others' come from the service's one fee rule.
    fees = {p.org_ref: bp}
    try:
        result = dist.run_distribution(
            state.registry, period, Formula(fee_bp=fees, thresholds=limits), started_by=p.org_ref
        )
    except DistributionError as e:
        raise WebError(400, f"distribution {start}..{end}: {e}") from None
    return result


def _runs(state) -> list:
    with state.registry.engine.connect() as c:
        return c.execute(
            select(
                DistributionRunRow.id,
                DistributionRunRow.period_start,
                DistributionRunRow.period_end,
                DistributionRunRow.formula_version,
                DistributionRunRow.inputs,
                DistributionRunRow.output,
                DistributionRunRow.output_sha256,
                DistributionRunRow.created_at,
            ).order_by(DistributionRunRow.id)
        ).all()


def runs_for(state, p: Principal) -> list[dict]:
    """An organisation's runs: those it started, and those that split money it collected or that pay
    its mandated holders (read from the runs' index, not their documents)."""
    me = p.org_ref
    concerns = select(DistributionRunParty.run_id).where(DistributionRunParty.party == me)
    with state.registry.engine.connect() as c:
        rows = c.execute(
            select(
                DistributionRunRow.id,
                DistributionRunRow.started_by,
                DistributionRunRow.period_start,
                DistributionRunRow.period_end,
                DistributionRunRow.output_sha256,
                DistributionRunRow.created_at,
                DistributionRunRow.summary,
            )
            .where(or_(DistributionRunRow.started_by == me, DistributionRunRow.id.in_(concerns)))
            .order_by(DistributionRunRow.id)
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


def member_of(state, p: Principal, holder_id: int) -> str:
    """``holder:ID`` when that holder is (or was) a consenting member of the caller's organisation: a
    mandate to it that was confirmed, in force now or not (statements concern past periods)."""
    if p.org_ref is None or not any(
        m["confirmed_at"] for m in state.registry.mandates(org_id=p.account.org_id, holder_id=holder_id)
    ):
        raise WebError(404, f"holder {holder_id} is not a member of your organisation (no confirmed mandate)")
    return f"holder:{holder_id}"


def statements_for(state, p: Principal, holder: str | None = None) -> list[dict]:
    """A creator's statements (or, for an organisation admin, a member's: ``holder`` from :func:`member_of`):
    one per run that has lines or a balance for them, with totals."""
    me = holder or p.holder_ref
    with state.registry.engine.connect() as c:
        rows = c.execute(
            select(
                DistributionRunRow.id,
                DistributionRunRow.period_start,
                DistributionRunRow.period_end,
                DistributionRunParty.totals,
            )
            .join(DistributionRunParty, DistributionRunParty.run_id == DistributionRunRow.id)
            .where(DistributionRunParty.party == me)
            .order_by(DistributionRunRow.id)
        ).all()
    return [
        {"run": r.id, "period": {"start": r.period_start, "end": r.period_end}, "totals": json.loads(r.totals or "[]")}
        for r in rows
    ]


def import_legacy_starters(state) -> None:
    """Move who started which run from ``distribution-runs-started.json`` (kept beside the database before
    revision 0008) into the runs themselves, once; the file is renamed so that it is not read again."""
    path = state.data_dir / "distribution-runs-started.json"
    try:
        started = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as e:
        raise WebError(500, f"{path}: cannot read who started which distribution run ({e})") from None
    with state.registry.engine.begin() as c:
        for run_id, org in started.items():
            if str(run_id).isdigit() and isinstance(org, str):
                c.execute(
                    update(DistributionRunRow)
                    .where(DistributionRunRow.id == int(run_id), DistributionRunRow.started_by.is_(None))
                    .values(started_by=org)
                )
    try:
        path.replace(path.with_name(path.name + ".imported"))
    except FileNotFoundError:  # another server starting on the same directory moved it first
        pass


def statement_for(state, p: Principal, run_id: int, holder: str | None = None) -> dict:
    if not any(s["run"] == run_id for s in statements_for(state, p, holder)):
        raise WebError(404, f"no statement of {holder or 'yours'} in distribution run {run_id}")
    return dist.statement(state.registry, run_id, int(holder.split(":")[1]) if holder else p.account.holder_id)


def income_chart(statements: list[dict], lang: str = "en") -> str:
    """Net income per run (period end) as an inline SVG bar chart, one group of bars per currency."""
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


# -- transparency ------------------------------------------------------------------------------------


def lookup_plan(state, name: str, data: bytes):
    """The database half of a lookup: the published clearances (those published to this registry under
    ``clearances/``), and the snapshots a file is recognised with."""
    from fairtrain.services.transparency.lookup import (
        WorkLookup,
        WorkLookupError,
        lookup_snapshot_dirs,
        published_clearance_dirs,
    )

    if not data:
        raise WebError(400, f"{name}: empty file")
    try:
        wl = WorkLookup(Log(state.registry.engine), published_clearance_dirs(state.data_dir), state.registry_keys)
    except WorkLookupError as e:
        raise WebError(400, str(e)) from None
    return wl, lookup_snapshot_dirs(wl, state.data_dir)


async def lookup(state, name: str, data: bytes) -> dict:
    """ "Was my work used?": ``data`` is fingerprinted in memory (in the application's worker processes)
    and never stored; answered by :func:`fairtrain.services.transparency.lookup.was_used`, the answer the
    CLI's ``lookup`` gives."""
    from starlette.concurrency import run_in_threadpool

    from fairtrain.services.transparency.lookup import WorkLookupError, identify_in, was_used

    state.cpu.check_size(name, len(data))
    wl, snapshot_dirs = await run_in_threadpool(lookup_plan, state, name, data)
    found = await state.cpu.run(
        name,
        len(data),
        partial(identify_in, require_snapshot=False),
        name,
        data,
        snapshot_dirs,
        None,
        state.registry_keys,
    )  # CpuError: 4xx
    try:
        return await run_in_threadpool(was_used, wl, found, state.registry)
    except WorkLookupError as e:
        raise WebError(400, str(e)) from None


def lookup_proof(state, log_index: int, work: str | None, item: str | None) -> dict:
    """The inclusion or non-inclusion proof behind one answer of "was my work used?"."""
    from fairtrain.services.transparency.lookup import WorkLookup, WorkLookupError, proof_of, published_clearance_dirs

    try:
        wl = WorkLookup(Log(state.registry.engine), published_clearance_dirs(state.data_dir), state.registry_keys)
        return proof_of(wl, log_index, work_key=work, item=item)
    except WorkLookupError as e:
        raise WebError(409 if "no log proof yet" in str(e) else 400, str(e)) from None


def record_clearance(state, manifest: bytes, leaves: dict[str, bytes], decisions: bytes | None) -> dict:
    """A developer publishes a clearance (manifest and leaves): verified, stored under ``clearances/`` and
    logged (:func:`fairtrain.services.transparency.lookup.record_published_clearance`)."""
    from fairtrain.services.transparency.lookup import WorkLookupError, record_published_clearance

    try:
        return record_published_clearance(Log(state.registry.engine), state.data_dir, manifest, leaves, decisions)
    except WorkLookupError as e:
        raise WebError(400, str(e)) from None


def summaries(state, limit: int = 100) -> list[dict]:
    """The newest ``limit`` model training-data summaries published in the log, newest first."""
    out = []
    for e in Log(state.registry.engine).latest("summary", limit):
        b = e["body"]
        out.append(
            {
                "log_index": e["idx"],
                "model": b.get("model"),
                "version": b.get("version"),
                "provider": b.get("provider"),
                "format": b.get("format"),
                "lang": b.get("lang"),
                "sha256": b.get("sha256"),
                "clearances": b.get("clearances", []),
                "at": e.get("at"),
            }
        )
    return out
