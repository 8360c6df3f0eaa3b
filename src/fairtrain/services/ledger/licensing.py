"""Licences before use: requests from a clearance's quote, grants signed by the grantor, invoices,
payments and usage reports. Every step is an entry of the public log, in the same transaction."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, insert, select, update

from fairtrain.core import csvcells
from fairtrain.core.decide import Query, decide_registered, has_standing, mandate_in_force
from fairtrain.core.keys import SigningKey, sign_document, verify_document
from fairtrain.core.money import Money
from fairtrain.core.store.limits import check_text
from fairtrain.core.store.models import (
    Invoice,
    Licence,
    LicensedWork,
    Mandate,
    Payment,
    UsageReport,
    Work,
    utcnow,
)
from fairtrain.core.tariff import parse_tariff
from fairtrain.core.vocab import Category, Offer, PriceModel, Purpose, Value
from fairtrain.services import log
from fairtrain.services.notify import notify
from fairtrain.services.registry import (
    NotAllowed,
    NotFound,
    Registry,
    RegistryError,
    bump_facts_version,
    parse_party,
)
from fairtrain.services.registry.registry import load_facts


class LicensingError(RegistryError):
    pass


class NotYours(LicensingError):
    """Something the asking party may not see, or that is not there: answered as "not found" (404), so that a
    stranger learns nothing of other parties' licences, runs or statements."""

    http_status = 404


class TooLarge(LicensingError):
    http_status = 413


MAX_UPLOAD_BYTES = 8 * 1024 * 1024  # a licence quote or usage report sent as a file


def json_upload(data: bytes, what: str) -> object:
    """A quote or report sent as a file: at most :data:`MAX_UPLOAD_BYTES`, strict JSON (a BOM allowed)."""
    from fairtrain.core import jsontext

    if len(data) > MAX_UPLOAD_BYTES:
        raise TooLarge(f"{what}: larger than {MAX_UPLOAD_BYTES} bytes")
    try:
        return jsontext.loads(data.removeprefix(b"\xef\xbb\xbf"), what=what)
    except jsontext.JsonRefused as e:
        raise LicensingError(str(e)) from None


def parse_terms(
    price: str | None, currency: str | None, revenue_share_percent: str | None
) -> tuple[Money | None, int | None]:
    """A collective licence's own terms as given by a person: a price (major units) with its currency, and a
    revenue share in percent; each None where not given."""
    from fairtrain.core.numbers import parse_basis_points

    amount = share = None
    if price or currency:
        if not (price and currency):
            raise LicensingError(f"price {price or ''!r} {currency or ''}: a price and its currency go together")
        try:
            amount = Money.parse(price, currency)
        except ValueError as e:
            raise LicensingError(f"price {price!r} {currency}: {e}") from None
    if revenue_share_percent:
        try:
            share = parse_basis_points(revenue_share_percent)
        except ValueError as e:
            raise LicensingError(f"revenue share {revenue_share_percent!r}: {e}") from None
    return amount, share


def custodial_key(data_dir: Path, party: str) -> SigningKey:
    """The grantor's signing key, kept by the server for people without keys of their own (a custodial
    key per holder or organisation, created on first use, mode 0600 under ``data_dir/keys``)."""
    path = Path(data_dir) / "keys" / f"{party.replace(':', '-')}.key"
    if not path.exists():
        SigningKey.generate().save(path)
    return SigningKey.load(path)


def party_names(engine, rows: list[dict], *keys: str) -> dict[str, str]:
    """The names people read for the parties ``rows`` name under ``keys`` (``holder:3`` → the holder's name,
    ``org:1`` → the organisation's, ``developer:7`` → the developer account's display name); a party with no
    name row keeps its code."""
    from fairtrain.core.store.models import Holder, Organisation, User

    ids: dict[str, set[int]] = {"holder": set(), "org": set(), "developer": set()}
    for r in rows:
        for k in keys:
            kind, _, num = str(r.get(k) or "").partition(":")
            if kind in ids and num.isdigit():
                ids[kind].add(int(num))
    names: dict[str, str] = {}
    with engine.connect() as c:
        for kind, model, col in (
            ("holder", Holder, Holder.name),
            ("org", Organisation, Organisation.name),
            ("developer", User, User.display_name),
        ):
            if ids[kind]:
                for i, name in c.execute(select(model.id, col).where(model.id.in_(ids[kind]))):
                    names[f"{kind}:{i}"] = name
    return names


@contextmanager
def _readable(what: str):
    """Answer a shape of a person's document that a parse cannot read (a KeyError, TypeError or ValueError
    deep inside) as a refusal naming the document; the service's own refusals pass through."""
    try:
        yield
    except RegistryError:
        raise
    except (KeyError, TypeError, ValueError) as e:
        raise LicensingError(f"{what}: malformed ({type(e).__name__}: {e})") from None


def _licence_dict(r) -> dict:
    return {
        "id": r.id,
        "licensee": r.licensee,
        "grantor": r.grantor,
        "status": r.status,
        "categories": r.categories.split(","),
        "model_versions": json.loads(r.model_versions or "[]"),
        "valid_from": r.valid_from.isoformat(),
        "valid_until": r.valid_until.isoformat() if r.valid_until else None,
        "price": Money(r.currency, r.price_minor).to_dict(),
        "price_model": r.price_model,
        "revenue_share_bp": r.revenue_share_bp,
        "collective": r.collective,
        "request": json.loads(r.request),
        "retroactive": bool(json.loads(r.request).get("retroactive")),
        "grant": json.loads(r.grant) if r.grant else None,
        "note": r.note,
        "created_at": r.created_at.isoformat(),
        "decided_at": r.decided_at.isoformat() if r.decided_at else None,
    }


def _when(value, field: str) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        t = datetime.fromisoformat(str(value))
    except ValueError:
        raise LicensingError(f"past use: {field} {value!r} is not an ISO date or date-time") from None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def _answerable(c, party: str, work_ids: list[int], categories: list[Category], at: datetime, *, what: str) -> dict:
    """The works' decision facts, after checking that ``party`` may answer for every one of them in every
    category at ``at`` (the engine's own rule of standing); raises NotAllowed naming the works it may not."""
    parse_party(party)
    facts = load_facts(c, work_ids)
    bad = sorted(
        w for w in work_ids if w not in facts or not all(has_standing(facts[w], party, cat, at) for cat in categories)
    )
    if bad:
        raise NotAllowed(
            f"{what}: {party} may not answer for works {bad[:20]} ({', '.join(x.value for x in categories)}):"
            " only a work's holders, or an organisation a holder mandated for these categories, may "
            "license it"
        )
    return facts


def _offered_price(
    facts: dict, party: str, work_ids: list[int], categories: list[Category], purpose: Purpose, at: datetime
) -> tuple[Money, PriceModel, int]:
    """The price of licensing the works from ``party``, from the licence offers it made in the registry (its
    own declarations or its organisation's tariff) and that the engine counts: per-work prices summed per
    work, a flat fee once per offer, revenue shares at their minimum with the highest share."""
    per_work = flat = 0
    minimums: list[Money] = []
    share_bp = 0
    currencies: set[str] = set()
    flat_seen: set[str] = set()
    for w in work_ids:
        offers: dict[str, Offer] = {}
        for cat in categories:
            for r in decide_registered(facts[w], Query(category=cat, at=at, purpose=purpose)).reasons:
                st = r.statement
                o = st.offer
                if (
                    r.counted
                    and st.value is Value.LICENCE
                    and o is not None
                    and st.provenance.party == party
                    and purpose in o.purposes
                    and (o.valid_from is None or o.valid_from <= at)
                    and (o.valid_until is None or at < o.valid_until)
                ):
                    offers[st.provenance.source] = o
        if not offers:
            raise LicensingError(
                f"work {w}: {party} offers no licence for {', '.join(x.value for x in categories)} "
                f"({purpose.value} use) in the registry; the price comes from the grantor's offer, "
                "so it must declare one first"
            )
        for source, o in sorted(offers.items()):
            currencies.add(o.price.currency)
            if o.price_model is PriceModel.PER_WORK:
                per_work += o.price.minor
            elif o.price_model is PriceModel.FLAT_FEE:
                if source not in flat_seen:
                    flat_seen.add(source)
                    flat += o.price.minor
            else:
                minimums.append(o.price)
                share_bp = max(share_bp, o.revenue_share_bp)
    if len(currencies) > 1:
        raise LicensingError(
            f"{party} prices these works in several currencies ({', '.join(sorted(currencies))}); request per currency"
        )
    (currency,) = currencies
    if per_work or flat or not minimums:
        return Money(currency, per_work + flat), PriceModel.PER_WORK, share_bp
    return max(minimums, key=lambda m: m.minor), PriceModel.REVENUE_SHARE, share_bp


def _store_request(
    c,
    *,
    licensee: str,
    grantor: str,
    categories,
    model_versions,
    valid: tuple,
    offer: tuple,
    request: dict,
    logged: dict,
    at: datetime | None,
) -> int:
    """Store one requested licence at ``offer`` (price model, price, revenue share) and log it in the same
    transaction; ``logged`` is what the log entry says besides the licence, parties and price."""
    model, price, share_bp = offer
    lid = c.execute(
        insert(Licence)
        .values(
            licensee=licensee,
            grantor=grantor,
            status="requested",
            categories=",".join(x.value for x in categories),
            model_versions=json.dumps(list(model_versions)),
            valid_from=valid[0],
            valid_until=valid[1],
            price_model=model.value,
            price_minor=price.minor,
            currency=price.currency,
            revenue_share_bp=share_bp,
            collective=False,
            request=json.dumps(request, sort_keys=True, ensure_ascii=False),
            created_at=at or utcnow(),
        )
        .returning(Licence.id)
    ).scalar_one()
    body = {
        "licence": lid,
        "event": "requested",
        "licensee": licensee,
        "grantor": grantor,
        "price": price.to_dict(),
        **logged,
    }
    log.append(c, [log.Entry("licence", body, subject=f"licence:{lid}")], at=at)
    return lid


def _template_grant_only(licence_id: int, request: dict, grant_extra: dict | None = None) -> None:
    """A licence requested from a collective licence template is granted only through
    :func:`fairtrain.services.ledger.collective.accept` (which decides the works its mandates cover at grant
    time and passes the template on in ``grant_extra``); the generic accept refuses it, naming the way."""
    if "template" in request and (grant_extra or {}).get("template") != request["template"]:
        raise LicensingError(
            f"licence {licence_id} was requested from collective licence template {request['template']}: grant it "
            f"with `fairtrain licences templates accept {licence_id}` or POST "
            f"/api/licence-templates/licences/{licence_id}/accept (or its button on /org), which decides again "
            "the works the organisation's mandates cover now"
        )


class Licensing:
    def __init__(self, registry: Registry):
        self.registry = registry
        self.engine = registry.engine

    # -- requests ----------------------------------------------------------------------------------

    def request(
        self,
        quote: dict,
        *,
        licensee: str | None = None,
        categories: list[Category] | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        model_versions: tuple[str, ...] = (),
        licensee_name: str | None = None,
    ) -> list[int]:
        """One licence request per offering party in a clearance's ``licence-quote.json``. ``licensee_name`` is
        what the notices to the holders call the licensee (a web account's display name, where ``licensee`` is
        its code); without it, the licensee itself."""
        licensee = licensee or quote.get("licensee")
        if not licensee or not isinstance(licensee, str):
            raise LicensingError("licence-quote.json names no licensee; give --licensee")
        check_text(Licence.licensee, licensee, "licensee", LicensingError)
        cats = categories or [Category(quote.get("purpose", "train-genai"))]
        purpose = Purpose.RESEARCH if quote.get("research") else Purpose.COMMERCIAL
        now = utcnow()
        start = valid_from or now
        if valid_until is not None and valid_until <= start:
            raise LicensingError(f"licence ends ({valid_until.isoformat()}) before it starts ({start.isoformat()})")
        groups = quote.get("groups") or []
        if not groups:
            raise LicensingError("the quote has no licensable works: nothing to request")
        ids = []
        with self.engine.begin() as c:
            for g in groups:
                grantor = g["party"]
                parse_party(grantor)
                work_ids = sorted({w["work_id"] for w in g["works"]})
                known = set(c.execute(select(Work.id).where(Work.id.in_(work_ids))).scalars())
                if missing := set(work_ids) - known:
                    raise LicensingError(
                        f"quote group {grantor}: works {sorted(missing)} are not in this registry "
                        "(was the clearance run against another registry's snapshot?)"
                    )
                # Only the works' holders (or their mandated organisation) answer for them, at the price they
                # offer: the quote is the developer's file, so its parties and prices are claims, not terms.
                facts = _answerable(c, grantor, work_ids, cats, now, what=f"quote group {grantor}")
                price, model, share_bp = _offered_price(facts, grantor, work_ids, cats, purpose, now)
                lid = _store_request(
                    c,
                    licensee=licensee,
                    grantor=grantor,
                    categories=cats,
                    model_versions=model_versions,
                    valid=(start, valid_until),
                    offer=(model, price, share_bp),
                    # the purpose it was priced for is the only one the grant will cover (registry.load_facts)
                    request={"works": work_ids, "quote_group": g, "purpose": purpose.value},
                    logged={"works": work_ids, "purpose": purpose.value},
                    at=None,
                )
                kind, gid = parse_party(grantor)
                if kind == "holder":
                    notify(
                        c,
                        [gid],
                        "licence-request",
                        "requested",
                        {
                            "licence": lid,
                            "licensee": licensee_name or licensee,
                            "works": len(work_ids),
                            "price": price.to_dict(),
                            "path": "/money",
                        },
                        subject=f"licence:{lid}",
                    )
                ids.append(lid)
        return ids

    def declare_past_use(
        self, usage: dict, *, licensee: str | None = None, categories: list[Category] | None = None
    ) -> dict:
        """A developer who already trained declares the use ("use first, pay later"): ``usage`` is a
        clearance's ``licence-quote.json`` (a run in reservation mode over the training set) or a usage
        report ``{"works": [id, work_ref, ISWC/ISRC/ISBN …], "model", "model_versions", "used_from",
        "used_until"}``. Each work goes to the organisation answering for it that publishes a retroactive
        tariff; its price (the retroactive tariff's, or the licence tariff's) plus the surcharge makes one
        retroactive licence request per organisation, answered like any other (accept → grant + invoice).
        Works no organisation prices retroactively are listed, not licensed."""
        licensee = licensee or usage.get("licensee")
        if not licensee:
            raise LicensingError("past use: the report names no licensee; give --licensee")
        cats = categories or [Category(usage.get("purpose", "train-genai"))]
        purpose = Purpose.RESEARCH if usage.get("research") else Purpose.COMMERCIAL
        if "groups" in usage:
            refs = [w["work_id"] for g in usage.get("groups") or [] for w in g.get("works", [])]
        else:
            refs = usage.get("works")
        if not isinstance(refs, list) or not refs:
            raise LicensingError('past use: list the works used ("works": [...]) or give a licence-quote.json')
        work_ids = sorted({self.registry.resolve_work(r) for r in refs})
        now = utcnow()
        used_from = _when(usage.get("used_from"), "used_from") or now
        used_until = _when(usage.get("used_until"), "used_until")
        if used_from > now:
            raise LicensingError(f"past use: used_from {used_from.isoformat()} is in the future; request a licence")
        versions = tuple(usage.get("model_versions") or ())
        with self.engine.connect() as c:
            facts = load_facts(c, work_ids)
            media = dict(c.execute(select(Work.id, Work.media_type).where(Work.id.in_(work_ids))).all())
        by_org: dict[str, list[int]] = {}
        uncovered: dict[int, str] = {}
        tariffs: dict[str, tuple] = {}
        for w in work_ids:
            orgs = sorted(
                {m.org for m in facts[w].mandates if all(has_standing(facts[w], m.org, cat, now) for cat in cats)}
            )
            for org in orgs:
                if org not in tariffs:
                    oid = parse_party(org)[1]
                    retro, base = self.registry.tariff(oid, retroactive=True), self.registry.tariff(oid)
                    tariffs[org] = (
                        parse_tariff(retro["tariff"], retroactive=True) if retro else None,
                        parse_tariff(base["tariff"]) if base else None,
                    )
                retro, base = tariffs[org]
                if retro is not None and (retro.priced or base is not None):
                    by_org.setdefault(org, []).append(w)
                    break
            else:
                uncovered[w] = (
                    "no organisation answering for it publishes a retroactive tariff"
                    if orgs
                    else "no organisation answers for it (its holders license it themselves)"
                )
        licences = []
        with self.engine.begin() as c:
            for org, ws in sorted(by_org.items()):
                retro, base = tariffs[org]
                pricing = retro if retro.priced else base
                lines, per_work, flat = [], 0, None
                for w in ws:
                    offer = pricing.offer(media.get(w))
                    if offer is None:
                        uncovered[w] = f"{org}'s tariff prices no {media.get(w) or 'such'} work"
                        continue
                    o = retro.surcharged(offer)
                    lines.append({"work_id": w, "base": offer.price.to_dict(), "price": o.price.to_dict()})
                    if o.price_model is PriceModel.PER_WORK:
                        per_work += o.price.minor
                    else:
                        flat = o
                if not lines:
                    continue
                currency = flat.price.currency if flat else Money.from_dict(lines[0]["price"]).currency
                price = Money(currency, per_work + (flat.price.minor if flat else 0))
                model = flat.price_model if flat and not per_work else PriceModel.PER_WORK
                share = flat.revenue_share_bp if flat else 0
                covered = [x["work_id"] for x in lines]
                request = {
                    "works": covered,
                    "purpose": purpose.value,
                    "retroactive": True,
                    "surcharge_bp": retro.surcharge_bp,
                    "lines": lines,
                    "used": {
                        "model": usage.get("model"),
                        "model_versions": list(versions),
                        "from": used_from.isoformat(),
                        "until": used_until.isoformat() if used_until else None,
                    },
                }
                lid = _store_request(
                    c,
                    licensee=licensee,
                    grantor=org,
                    categories=cats,
                    model_versions=versions,
                    valid=(used_from, used_until),
                    offer=(model, price, share),
                    request=request,
                    logged={
                        "retroactive": True,
                        "works": covered,
                        "purpose": purpose.value,
                        "surcharge_bp": retro.surcharge_bp,
                    },
                    at=now,
                )
                licences.append(
                    {
                        "licence": lid,
                        "grantor": org,
                        "works": covered,
                        "price": price.to_dict(),
                        "surcharge_bp": retro.surcharge_bp,
                        "lines": lines,
                    }
                )
        if not licences:
            raise LicensingError(
                f"past use: no work is priced retroactively ({len(uncovered)} works: {sorted(set(uncovered.values()))})"
            )
        return {
            "licensee": licensee,
            "retroactive": True,
            "licences": licences,
            "uncovered": [{"work_id": w, "reason": r} for w, r in sorted(uncovered.items())],
        }

    def get(self, licence_id: int) -> dict:
        with self.engine.connect() as c:
            r = c.execute(select(Licence.__table__).where(Licence.id == licence_id)).first()
        if r is None:
            raise NotFound("licence", licence_id)
        return _licence_dict(r)

    def list(self, *, licensee: str | None = None, grantor: str | None = None) -> list[dict]:
        q = select(Licence.__table__).order_by(Licence.id)
        if licensee:
            q = q.where(Licence.licensee == licensee)
        if grantor:
            q = q.where(Licence.grantor == grantor)
        with self.engine.connect() as c:
            return [_licence_dict(r) for r in c.execute(q)]

    def visible_to(self, party: str) -> list[dict]:
        """The licences ``party`` may see: a developer's (``developer:N``) own; a holder's asked of it; an
        organisation's asked of it or of the holders whose mandate to it is in force."""
        kind, _, num = party.partition(":")
        if kind == "developer":
            return self.list(licensee=party)
        if kind == "holder":
            return self.list(grantor=party)
        parties = {party} | {m["holder"] for m in self.registry.mandates(org_id=int(num)) if m["in_force"]}
        return [x for x in self.list() if x["grantor"] in parties]

    def visible(self, licence_id: int, party: str) -> dict:
        for x in self.visible_to(party):
            if x["id"] == licence_id:
                return x
        raise NotYours(f"no licence {licence_id} of yours")

    def request_upload(
        self,
        data: bytes,
        *,
        licensee: str,
        categories: list[str] | None = None,
        valid_until: str | None = None,
        licensee_name: str | None = None,
    ) -> dict:
        """:meth:`request` for a ``licence-quote.json`` sent as a file, with the end date as ISO text."""
        quote = json_upload(data, "licence-quote.json")
        if not isinstance(quote, dict) or not isinstance(quote.get("groups", []), list):
            raise LicensingError("licence-quote.json: expected an object with 'groups' (a clearance's licence quote)")
        until = None
        if valid_until:
            try:
                until = datetime.fromisoformat(valid_until)
            except ValueError:
                raise LicensingError(f"valid_until {valid_until!r}: expected an ISO date") from None
            until = until if until.tzinfo else until.replace(tzinfo=UTC)
        with _readable("licence-quote.json"):
            cats = [Category(c) for c in categories] if categories else None
            ids = self.request(
                quote, licensee=licensee, categories=cats, valid_until=until, licensee_name=licensee_name
            )
        return {"licences": ids, "licensee": licensee}

    def declare_past_use_upload(self, data: bytes, *, licensee: str, categories: list[str] | None = None) -> dict:
        """:meth:`declare_past_use` for a usage report or licence quote sent as a file."""
        usage = json_upload(data, "usage report")
        if not isinstance(usage, dict):
            raise LicensingError("usage report: expected an object with 'works' or a licence quote's 'groups'")
        with _readable("usage report"):
            cats = [Category(c) for c in categories] if categories else None
            return self.declare_past_use(usage, licensee=licensee, categories=cats)

    # -- decisions on requests ---------------------------------------------------------------------

    def _may_decide(self, c, lic, party: str) -> None:
        """``party`` is the grantor asked (or the grantor's mandated organisation) and, now, holds every
        work of the licence or acts for a holder under a mandate in force for its categories."""
        self._asked(c, lic, party)
        _answerable(
            c,
            party,
            json.loads(lic.request)["works"],
            [Category(x) for x in lic.categories.split(",")],
            utcnow(),
            what=f"licence {lic.id}",
        )

    def _asked(self, c, lic, party: str) -> None:
        if party == lic.grantor:
            return
        kind, pid = parse_party(lic.grantor)
        okind, oid = parse_party(party)
        if kind == "holder" and okind == "org":  # the holder's mandated organisation may answer for it
            now = utcnow()
            for m in c.execute(select(Mandate.__table__).where(Mandate.holder_id == pid, Mandate.org_id == oid)):
                if mandate_in_force(m, now):
                    return
        raise NotAllowed(f"{party} may not answer licence {lic.id}: it was asked of {lic.grantor}")

    def _requested(self, c, licence_id: int, party: str, *, granting: bool = True):
        """The licence, still awaiting an answer, that ``party`` may answer (declining needs only to be asked)."""
        lic = c.execute(select(Licence.__table__).where(Licence.id == licence_id)).first()
        if lic is None:
            raise NotFound("licence", licence_id)
        if lic.status != "requested":
            raise LicensingError(f"licence {licence_id} is already {lic.status}")
        (self._may_decide if granting else self._asked)(c, lic, party)
        return lic

    def authorise(self, licence_id: int, party: str) -> None:
        """Raise unless ``party`` may accept or decline this licence (its grantor or the grantor's organisation)."""
        with self.engine.connect() as c:
            lic = c.execute(select(Licence.__table__).where(Licence.id == licence_id)).first()
            if lic is None:
                raise NotFound("licence", licence_id)
            self._may_decide(c, lic, party)

    def grant_as(
        self,
        licence_id: int,
        *,
        party: str,
        key: Callable[[], SigningKey],
        collective: bool = False,
        price: str | None = None,
        currency: str | None = None,
        revenue_share_percent: str | None = None,
    ) -> dict:
        """:meth:`accept` with the terms as a person gives them (text); ``key`` is asked for only once the
        party is known to be the one who may answer, so that a stranger hears "not yours" before "no key"."""
        self.authorise(licence_id, party)
        with self.engine.connect() as c:
            _template_grant_only(
                licence_id, json.loads(c.execute(select(Licence.request).where(Licence.id == licence_id)).scalar_one())
            )
        if collective and not party.startswith("org:"):
            raise NotAllowed("a collective licence is granted by an organisation")
        amount, share = parse_terms(price, currency, revenue_share_percent)
        if (amount is not None or share is not None) and not collective:
            raise LicensingError("own terms (price, revenue share) go with a collective licence")
        return self.accept(
            licence_id, party=party, key=key(), collective=collective, price=amount, revenue_share_bp=share
        )

    def accept(
        self,
        licence_id: int,
        *,
        party: str,
        key: SigningKey,
        collective: bool = False,
        price: Money | None = None,
        revenue_share_bp: int | None = None,
        grant_extra: dict | None = None,
    ) -> dict:
        """Grant: sign the licence, cover its works, issue the invoice. ``collective``: an organisation's
        licence on its own terms (flat fee or revenue share with ``price`` as the minimum); ``grant_extra``:
        more the signed grant says (a collective template's id and the organisation's name)."""
        with self.engine.begin() as c:
            lic = self._requested(c, licence_id, party)
            if collective and not party.startswith("org:"):
                raise LicensingError("only an organisation grants a collective licence")
            amount = price or Money(lic.currency, lic.price_minor)
            share = lic.revenue_share_bp if revenue_share_bp is None else revenue_share_bp
            request = json.loads(lic.request)
            _template_grant_only(licence_id, request, grant_extra)
            works = request["works"]
            now = utcnow()
            grant = sign_document(
                {
                    "format": "fairtrain-licence-grant/1",
                    "licence": licence_id,
                    "licensee": lic.licensee,
                    "grantor": party,
                    "works": works,
                    "categories": lic.categories.split(","),
                    "purpose": request.get("purpose"),  # None: asked before purposes were recorded, any purpose
                    "model_versions": json.loads(lic.model_versions or "[]"),
                    "valid_from": lic.valid_from.isoformat(),
                    "valid_until": lic.valid_until.isoformat() if lic.valid_until else None,
                    "price": amount.to_dict(),
                    "price_model": "collective" if collective else lic.price_model,
                    "revenue_share_bp": share,
                    "granted_at": now.isoformat(),
                    **({"retroactive": True} if request.get("retroactive") else {}),
                    **(grant_extra or {}),
                },
                key,
            )
            c.execute(
                update(Licence)
                .where(Licence.id == licence_id)
                .values(
                    status="granted",
                    grantor=party,
                    grant=json.dumps(grant, sort_keys=True),
                    decided_at=now,
                    collective=collective,
                    price_minor=amount.minor,
                    currency=amount.currency,
                    revenue_share_bp=share,
                )
            )
            c.execute(insert(LicensedWork), [{"licence_id": licence_id, "work_id": w} for w in works])
            inv = c.execute(
                insert(Invoice)
                .values(
                    licence_id=licence_id,
                    amount_minor=amount.minor,
                    currency=amount.currency,
                    status="open",
                    issued_at=now,
                )
                .returning(Invoice.id)
            ).scalar_one()
            log.append(
                c,
                [
                    log.Entry(
                        "licence",
                        {"licence": licence_id, "event": "granted", "grant": grant},
                        subject=f"licence:{licence_id}",
                    ),
                    log.Entry(
                        "invoice",
                        {"invoice": inv, "licence": licence_id, "amount": amount.to_dict()},
                        subject=f"licence:{licence_id}",
                    ),
                ],
                at=now,
            )
            bump_facts_version(c)  # the grant is a statement decisions for its works now see
        self.registry._changed()
        return {"licence": licence_id, "invoice": inv, "grant": grant}

    def decline(self, licence_id: int, *, party: str, note: str = "") -> dict:
        with self.engine.begin() as c:
            self._requested(c, licence_id, party, granting=False)
            c.execute(
                update(Licence)
                .where(Licence.id == licence_id)
                .values(status="declined", note=note, decided_at=utcnow())
            )
            log.append(
                c,
                [
                    log.Entry(
                        "licence",
                        {"licence": licence_id, "event": "declined", "by": party, "note": note},
                        subject=f"licence:{licence_id}",
                    )
                ],
            )
        return {"licence": licence_id, "status": "declined"}

    # -- invoices and payments ---------------------------------------------------------------------

    def invoices(self, *, licensee: str | None = None, grantor: str | None = None) -> list[dict]:
        q = (
            select(Invoice.__table__, Licence.licensee, Licence.grantor)
            .join(Licence, Licence.id == Invoice.licence_id)
            .order_by(Invoice.id)
        )
        if licensee:
            q = q.where(Licence.licensee == licensee)
        if grantor:
            q = q.where(Licence.grantor == grantor)
        with self.engine.connect() as c:
            rows = c.execute(q).all()
            paid = dict(
                c.execute(select(Payment.invoice_id, func.sum(Payment.amount_minor)).group_by(Payment.invoice_id)).all()
            )
        return [
            {
                "id": r.id,
                "licence": r.licence_id,
                "licensee": r.licensee,
                "grantor": r.grantor,
                "amount": Money(r.currency, r.amount_minor).to_dict(),
                "paid": Money(r.currency, int(paid.get(r.id, 0))).to_dict(),
                "status": r.status,
                "issued_at": r.issued_at.isoformat(),
            }
            for r in rows
        ]

    def record_payment(
        self,
        invoice_id: int,
        amount: Money,
        *,
        reference: str,
        source: str = "manual",
        received_at: datetime | None = None,
    ) -> dict:
        """Record money received against an invoice; the same settlement reference twice is a no-op."""
        check_text(Payment.reference, reference, "payment reference", LicensingError)
        if amount.minor <= 0:
            raise LicensingError(f"payment {reference}: amount must be positive")
        with self.engine.begin() as c:
            inv = c.execute(select(Invoice.__table__).where(Invoice.id == invoice_id)).first()
            if inv is None:
                raise NotFound("invoice", invoice_id)
            if amount.currency != inv.currency:
                raise LicensingError(f"payment {reference}: {amount.currency} against a {inv.currency} invoice")
            prior = c.execute(select(Payment.__table__).where(Payment.reference == reference)).first()
            if prior is not None:
                if prior.invoice_id != invoice_id or prior.amount_minor != amount.minor:
                    raise LicensingError(f"payment reference {reference!r} was already recorded differently")
                return {"payment": prior.id, "invoice": invoice_id, "duplicate": True}
            paid = c.execute(
                select(func.coalesce(func.sum(Payment.amount_minor), 0)).where(Payment.invoice_id == invoice_id)
            ).scalar_one()
            if paid + amount.minor > inv.amount_minor:
                raise LicensingError(
                    f"payment {reference}: {Money(amount.currency, paid + amount.minor)} would exceed "
                    f"the invoice's {Money(inv.currency, inv.amount_minor)}"
                )
            when = received_at or utcnow()
            pid = c.execute(
                insert(Payment)
                .values(
                    invoice_id=invoice_id,
                    amount_minor=amount.minor,
                    currency=amount.currency,
                    reference=reference,
                    source=source,
                    received_at=when,
                )
                .returning(Payment.id)
            ).scalar_one()
            if paid + amount.minor == inv.amount_minor:
                c.execute(update(Invoice).where(Invoice.id == invoice_id).values(status="paid"))
            log.append(
                c,
                [
                    log.Entry(
                        "payment",
                        {
                            "payment": pid,
                            "invoice": invoice_id,
                            "amount": amount.to_dict(),
                            "reference": reference,
                            "source": source,
                            "received_at": when.isoformat(),
                        },
                        subject=f"invoice:{invoice_id}",
                    )
                ],
            )
            grantor = c.execute(select(Licence.grantor).where(Licence.id == inv.licence_id)).scalar_one()
            kind, gid = parse_party(grantor)
            if kind == "holder":
                notify(
                    c,
                    [gid],
                    "payment",
                    "received",
                    {
                        "payment": pid,
                        "invoice": invoice_id,
                        "licence": inv.licence_id,
                        "amount": amount.to_dict(),
                        "path": "/money",
                    },
                    subject=f"invoice:{invoice_id}",
                )
        return {
            "payment": pid,
            "invoice": invoice_id,
            "duplicate": False,
            "status": "paid" if paid + amount.minor == inv.amount_minor else "open",
        }

    def import_payments(self, path: Path) -> dict:
        """Settlement records CSV: ``invoice,amount,currency,reference,received_at``; bad rows are reported."""
        text = path.read_text(encoding="utf-8-sig")
        done, errors = [], []
        reader = csv.reader(io.StringIO(text, newline=""))
        header = next(csvcells.records(reader), [])
        for n, fields in enumerate(csvcells.records(reader), start=2):
            try:
                if isinstance(fields, csvcells.RecordError):
                    raise fields
                if not any(f.strip() for f in fields):
                    continue
                row = dict(zip(header if isinstance(header, list) else [], fields, strict=False))
                when = datetime.fromisoformat(row["received_at"]) if row.get("received_at") else None
                if when is not None and when.tzinfo is None:
                    when = when.replace(tzinfo=UTC)
                done.append(
                    self.record_payment(
                        int(row["invoice"]),
                        Money.parse(row["amount"], row["currency"]),
                        reference=row["reference"].strip(),
                        source="import",
                        received_at=when,
                    )
                )
            except (KeyError, ValueError, RegistryError) as e:
                errors.append({"line": n, "reason": str(e)})
        return {
            "recorded": sum(not d["duplicate"] for d in done),
            "duplicates": sum(d["duplicate"] for d in done),
            "errors": errors,
        }

    # -- usage reports -----------------------------------------------------------------------------

    def usage_report(self, document: dict) -> dict:
        """Accept a signed usage report once per idempotency key (re-sending returns the first answer).

        ``weights`` ({work_id: integer}) or ``minutes`` ({work_id: decimal text}: how many minutes of each
        video or audio work the training used) split a licence's money among its works in distribution."""
        signer = verify_document(document)
        for field in ("idempotency_key", "licensee", "model", "version"):
            if not document.get(field):
                raise LicensingError(f"usage report: missing field {field!r}")
            if not isinstance(document[field], str):
                raise LicensingError(f"usage report: field {field!r} is not text")
            check_text(getattr(UsageReport, field), document[field], f"usage report: field {field!r}", LicensingError)
        if document.get("minutes") is not None:
            check_minutes(document)
        with self.engine.begin() as c:
            prior = c.execute(
                select(UsageReport.__table__).where(UsageReport.idempotency_key == document["idempotency_key"])
            ).first()
            if prior is not None:
                if json.loads(prior.document) != document:
                    raise LicensingError(
                        f"usage report {document['idempotency_key']!r} was already filed with "
                        "different content: use a new idempotency key"
                    )
                return {"report": prior.id, "duplicate": True}
            rid = c.execute(
                insert(UsageReport)
                .values(
                    idempotency_key=document["idempotency_key"],
                    licensee=document["licensee"],
                    model=document["model"],
                    version=document["version"],
                    document=json.dumps(document, sort_keys=True, ensure_ascii=False),
                    received_at=utcnow(),
                )
                .returning(UsageReport.id)
            ).scalar_one()
            log.append(
                c,
                [
                    log.Entry(
                        "usage-report",
                        {
                            "report": rid,
                            "signer": signer.key_id,
                            **{
                                k: document.get(k)
                                for k in (
                                    "licensee",
                                    "model",
                                    "version",
                                    "licences",
                                    "manifest_root",
                                    "weights",
                                    "minutes",
                                    "revenue",
                                    "idempotency_key",
                                )
                            },
                        },
                        subject=f"licensee:{document['licensee']}",
                    )
                ],
            )
        return {"report": rid, "duplicate": False, "signer": signer.key_id}

    def file_usage_report(self, document: dict, *, licensee: str) -> dict:
        """A usage report filed by ``licensee`` itself, signed by its own Ed25519 key (never signed here).

        The key is pinned on first use: the first report a licensee files fixes its key, and later reports
        must be signed by the same key, so a stolen session or API key alone cannot file reports in its
        name once it has filed one. The report must name ``licensee`` and only its own licences."""
        from fairtrain.core.keys import SignatureError

        if not isinstance(document, dict):
            raise LicensingError("usage report: expected a JSON object")
        try:
            signer = verify_document(document)
        except (SignatureError, KeyError, TypeError, ValueError) as e:
            raise LicensingError(f"usage report {document.get('idempotency_key')!r}: signature refused ({e})") from None
        if document.get("licensee") != licensee:
            raise NotAllowed(
                f"usage report: licensee is {document.get('licensee')!r}; this account reports as {licensee!r}"
            )
        own = {x["id"] for x in self.list(licensee=licensee)}
        licences = document.get("licences") or []
        if not isinstance(licences, list) or any(not isinstance(x, int) or x not in own for x in licences):
            raise NotAllowed(f"usage report: licences {licences!r} are not all licences of {licensee}")
        weights = document.get("weights")
        if weights is not None and (
            not isinstance(weights, dict) or any(not isinstance(v, int) or v < 0 for v in weights.values())
        ):
            raise LicensingError("usage report: 'weights' must map work ids to non-negative integers")
        pinned = self.pinned_key(licensee)
        if pinned is not None and pinned != signer.b64():
            raise NotAllowed(
                f"usage report: signed by key {signer.key_id}, but this account's reports are signed by "
                "another key (pinned by its first report)"
            )
        return self.usage_report(document)

    def pinned_key(self, licensee: str) -> str | None:
        """The public key of the licensee's first usage report, which all later ones must be signed with."""
        reports = self.usage_reports(licensee=licensee)
        return reports[0]["signature"]["public_key"] if reports else None

    def usage_reports(self, *, licensee: str | None = None) -> list[dict]:
        q = select(UsageReport.__table__).order_by(UsageReport.id)
        if licensee:
            q = q.where(UsageReport.licensee == licensee)
        with self.engine.connect() as c:
            return [{"id": r.id, **json.loads(r.document)} for r in c.execute(q)]


def check_minutes(document: dict) -> None:
    """A usage report's ``minutes``: {work_id: minutes as decimal text, at most 3 places}, not beside ``weights``."""
    from fairtrain.core.numbers import NumberError, parse_decimal

    minutes = document["minutes"]
    if document.get("weights"):
        raise LicensingError("usage report: give weights or minutes, not both")
    if not isinstance(minutes, dict):
        raise LicensingError("usage report: minutes must map work ids to minutes")
    for work, value in minutes.items():
        if not str(work).isdigit():
            raise LicensingError(f"usage report: minutes: {str(work)[:40]!r} is not a work id")
        try:
            parse_decimal(value, minimum=0, maximum=10**9, places=3, what="minutes")
        except NumberError as e:
            raise LicensingError(f"usage report: minutes of work {work}: {e}") from None


def minutes_as_seconds(value: str) -> int:
    """A usage report's minutes of one work as whole seconds (the distribution's usage weight)."""
    from decimal import ROUND_HALF_EVEN

    from fairtrain.core.numbers import parse_decimal

    return int((parse_decimal(value, minimum=0, places=3, what="minutes") * 60).to_integral_value(ROUND_HALF_EVEN))
