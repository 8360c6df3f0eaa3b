"""Collective licence templates (issue 15): an organisation publishes the terms on which it licenses the
repertoire its members mandated to it (names in Korean and English, purposes, categories, media types, a
term in months, a price from its tariff or a flat fee / revenue share with a minimum, retroactive use
allowed or not); a developer requests a licence from a published template, and the organisation grants it.

The works a template's licence covers are decided when it is granted: every work one of whose holders has a
mandate with the organisation in force then (:func:`fairtrain.core.decide.mandate_in_force`, the one rule)
for all the template's categories, of the template's media types. The request and the grant go through
:mod:`fairtrain.services.ledger.licensing` (its licence rows, signed grant, invoice and log entries), so a
clearance for that developer and purpose afterwards says ``allow`` for those works. A withdrawn template
takes no new requests; only the organisation itself publishes or withdraws its templates.
"""

from __future__ import annotations

import calendar
import json
from datetime import datetime

from sqlalchemy import insert, select, update

from fairtrain.core.decide import mandate_in_force
from fairtrain.core.keys import SigningKey
from fairtrain.core.media import MEDIA_TYPES
from fairtrain.core.money import Money
from fairtrain.core.store.models import (
    Licence,
    LicenceTemplate,
    Mandate,
    Organisation,
    Work,
    WorkShare,
    utcnow,
)
from fairtrain.core.tariff import parse_tariff
from fairtrain.core.vocab import Category, PriceModel, Purpose
from fairtrain.services.ledger.licensing import Licensing, LicensingError, _store_request
from fairtrain.services.registry import NotAllowed, NotFound, Registry, parse_party

PRICE_MODELS = ("tariff", PriceModel.FLAT_FEE.value, PriceModel.REVENUE_SHARE.value)
_MAX_TERM_MONTHS = 120


def _org_of(party: str, org_id: int, what: str) -> None:
    kind, pid = parse_party(party)
    if kind != "org" or pid != org_id:
        raise NotAllowed(f"{what}: only organisation org:{org_id} itself may do this, not {party}")


def _bad(field: str, reason: str) -> LicensingError:
    return LicensingError(f"licence template {field}: {reason}")


def check_template(doc: object, *, tariffed: bool) -> dict:
    """The template document, normalised; raises naming the field and the reason."""
    if not isinstance(doc, dict):
        raise _bad("document", "expected a JSON object")
    name = doc.get("name") or {}
    if not isinstance(name, dict) or not all(isinstance(name.get(k), str) and name[k].strip() for k in ("ko", "en")):
        raise _bad("name", 'give it in Korean and English: {"ko": …, "en": …}')
    if any(len(name[k]) > 200 for k in ("ko", "en")):
        raise _bad("name", "at most 200 characters")

    def values(field: str, allowed: tuple[str, ...], *, empty_ok: bool = False) -> list[str]:
        got = doc.get(field) or []
        if not isinstance(got, list) or not all(isinstance(x, str) for x in got):
            raise _bad(field, "expected a list of words")
        if bad := sorted(set(got) - set(allowed)):
            raise _bad(field, f"unknown {bad} (use {', '.join(allowed)})")
        if not got and not empty_ok:
            raise _bad(field, "name at least one")
        return sorted(set(got), key=allowed.index)

    purposes = values("purposes", tuple(p.value for p in Purpose))
    categories = values("categories", tuple(c.value for c in Category))
    media = values("media_types", MEDIA_TYPES, empty_ok=True)  # none named: every media type
    term = doc.get("term_months")
    if not isinstance(term, int) or isinstance(term, bool) or not 1 <= term <= _MAX_TERM_MONTHS:
        raise _bad("term_months", f"a whole number of months from 1 to {_MAX_TERM_MONTHS}")
    price = doc.get("price") or {}
    model = price.get("model") if isinstance(price, dict) else None
    if model not in PRICE_MODELS:
        raise _bad("price.model", f"one of {', '.join(PRICE_MODELS)}")
    out_price: dict = {"model": model}
    if model == "tariff":
        if not tariffed:
            raise _bad("price.model", "'tariff' needs the organisation's published licence tariff")
    else:
        try:
            amount = Money.parse(str(price.get("amount") or ""), str(price.get("currency") or ""))
        except (TypeError, ValueError) as e:
            raise _bad("price.amount", f'{e} (e.g. "amount": "5000000", "currency": "KRW")') from None
        if amount.minor <= 0 and model == PriceModel.FLAT_FEE.value:
            raise _bad("price.amount", "a flat fee above zero")
        out_price["amount"] = amount.to_dict()
        if model == PriceModel.REVENUE_SHARE.value:
            share = price.get("share_bp")
            if not isinstance(share, int) or isinstance(share, bool) or not 1 <= share <= 10_000:
                raise _bad("price.share_bp", "basis points from 1 to 10000 (500 is 5%)")
            out_price["share_bp"] = share
    retro = doc.get("retroactive", False)
    if not isinstance(retro, bool):
        raise _bad("retroactive", "true or false")
    return {
        "name": {"ko": name["ko"].strip(), "en": name["en"].strip()},
        "purposes": purposes,
        "categories": categories,
        "media_types": media,
        "term_months": term,
        "price": out_price,
        "retroactive": retro,
    }


def _dict(r, org_name: str | None = None) -> dict:
    return {
        "id": r.id,
        "org": f"org:{r.org_id}",
        **({"org_name": org_name} if org_name is not None else {}),
        "status": r.status,
        **json.loads(r.document),
        "published_at": r.published_at.isoformat(),
        "withdrawn_at": r.withdrawn_at.isoformat() if r.withdrawn_at else None,
    }


def publish(registry: Registry, org_id: int, doc: object, *, party: str) -> dict:
    """Publish a template of organisation ``org_id``; ``party`` must be that organisation."""
    _org_of(party, org_id, "publishing a licence template")
    checked = check_template(doc, tariffed=registry.tariff(org_id) is not None)
    with registry.engine.begin() as c:
        tid = c.execute(
            insert(LicenceTemplate)
            .values(org_id=org_id, status="published", document=json.dumps(checked, ensure_ascii=False))
            .returning(LicenceTemplate.id)
        ).scalar_one()
    return template(registry, tid)


def withdraw(registry: Registry, template_id: int, *, party: str) -> dict:
    """Withdraw a template: it takes no new requests (licences already granted stand)."""
    t = template(registry, template_id)
    _org_of(party, int(t["org"].split(":")[1]), f"withdrawing licence template {template_id}")
    with registry.engine.begin() as c:
        c.execute(
            update(LicenceTemplate)
            .where(LicenceTemplate.id == template_id, LicenceTemplate.status == "published")
            .values(status="withdrawn", withdrawn_at=utcnow())
        )
    return template(registry, template_id)


def template(registry: Registry, template_id: int) -> dict:
    with registry.engine.connect() as c:
        r = c.execute(
            select(LicenceTemplate.__table__, Organisation.name.label("org_name"))
            .join(Organisation, Organisation.id == LicenceTemplate.org_id)
            .where(LicenceTemplate.id == template_id)
        ).first()
    if r is None:
        raise NotFound("licence template", template_id)
    return _dict(r, r.org_name)


def templates(registry: Registry, org_id: int | None = None, *, published_only: bool = True) -> list[dict]:
    """Templates, newest first: one organisation's (all of them for its own page) or every published one."""
    q = (
        select(LicenceTemplate.__table__, Organisation.name.label("org_name"))
        .join(Organisation, Organisation.id == LicenceTemplate.org_id)
        .order_by(LicenceTemplate.id.desc())
    )
    if org_id is not None:
        q = q.where(LicenceTemplate.org_id == org_id)
    if published_only:
        q = q.where(LicenceTemplate.status == "published")
    with registry.engine.connect() as c:
        return [_dict(r, r.org_name) for r in c.execute(q)]


def _add_months(when: datetime, months: int) -> datetime:
    y, m = divmod(when.month - 1 + months, 12)
    year, month = when.year + y, m + 1
    return when.replace(year=year, month=month, day=min(when.day, calendar.monthrange(year, month)[1]))


def covered_works(c, org_id: int, t: dict, at: datetime) -> list[tuple[int, str | None]]:
    """(work id, media type) of every work one of whose holders has a mandate with the organisation in
    force at ``at`` for all the template's categories, of its media types."""
    cats = set(t["categories"])
    holders = set()
    for m in c.execute(select(Mandate.__table__).where(Mandate.org_id == org_id)):
        if cats <= set(m.categories.split(",")) and mandate_in_force(m, at):
            holders.add(m.holder_id)
    if not holders:
        return []
    media = set(t["media_types"])
    out: dict[int, str | None] = {}
    ids = sorted(holders)
    for i in range(0, len(ids), 900):
        q = (
            select(Work.id, Work.media_type)
            .join(WorkShare, WorkShare.work_id == Work.id)
            .where(WorkShare.holder_id.in_(ids[i : i + 900]), Work.status == "active")
        )
        for wid, mt in c.execute(q):
            if not media or (mt or "other") in media:
                out[wid] = mt
    return sorted(out.items())


def _price(registry: Registry, org_id: int, t: dict, works: list[tuple[int, str | None]], *, retroactive: bool):
    """(works priced, PriceModel, Money, revenue share bp) for the template's price over ``works``."""
    p = t["price"]
    if p["model"] != "tariff":
        return [w for w, _ in works], PriceModel(p["model"]), Money.from_dict(p["amount"]), p.get("share_bp", 0)
    doc = registry.tariff(org_id, retroactive=retroactive) or registry.tariff(org_id)
    if doc is None:
        raise LicensingError(f"licence template {t['id']}: the organisation has no published tariff now")
    tariff = parse_tariff(doc["tariff"], retroactive=doc["kind"] == "retroactive")
    if tariff.model is not PriceModel.PER_WORK:
        offer = tariff.offer(None)
        return [w for w, _ in works], tariff.model, offer.price, offer.revenue_share_bp
    priced, total = [], None
    for wid, mt in works:
        offer = tariff.offer(mt)
        if offer is None:
            continue  # the tariff prices no such work: not covered
        if doc["kind"] == "retroactive":
            offer = tariff.surcharged(offer)
        priced.append(wid)
        total = offer.price if total is None else Money(total.currency, total.minor + offer.price.minor)
    if total is None:
        raise LicensingError(f"licence template {t['id']}: its tariff prices none of the works")
    return priced, PriceModel.PER_WORK, total, 0


def request(
    registry: Registry,
    template_id: int,
    *,
    licensee: str,
    purpose: str,
    valid_from: datetime | None = None,
    model_versions: tuple[str, ...] = (),
) -> dict:
    """A developer's request for a collective licence from a published template: the licence (requested,
    asked of the organisation), priced now over the works covered now; the grant decides the works again.
    ``valid_from`` in the past is retroactive use, which the template must allow."""
    t = template(registry, template_id)
    if t["status"] != "published":
        raise LicensingError(f"licence template {template_id} is withdrawn: it takes no new requests")
    if purpose not in t["purposes"]:
        raise LicensingError(f"licence template {template_id}: purpose {purpose!r} is not one of {t['purposes']}")
    now = utcnow()
    start = valid_from or now
    retroactive = start < now
    if retroactive and not t["retroactive"]:
        raise LicensingError(f"licence template {template_id} does not license past use (valid_from before now)")
    org_id = int(t["org"].split(":")[1])
    with registry.engine.begin() as c:
        works, model, price, share = _price(
            registry, org_id, t, covered_works(c, org_id, t, now), retroactive=retroactive
        )
        if not works:
            raise LicensingError(
                f"licence template {template_id}: no work is under a mandate in force with {t['org_name']} "
                f"for {', '.join(t['categories'])}"
            )
        lid = _store_request(
            c,
            licensee=licensee,
            grantor=t["org"],
            categories=[Category(x) for x in t["categories"]],
            model_versions=model_versions,
            valid=(start, _add_months(start, t["term_months"])),
            offer=(model, price, share),
            request={
                "works": works,
                "purpose": purpose,
                "template": template_id,
                **({"retroactive": True} if retroactive else {}),
            },
            logged={"template": template_id, "organisation": t["org_name"], "works": len(works), "purpose": purpose},
            at=None,
        )
    return quote(registry, lid)


def quote(registry: Registry, licence_id: int) -> dict:
    """A template licence as the developer sees it: the organisation by name, the works, the price."""
    lic = Licensing(registry).get(licence_id)
    with registry.engine.connect() as c:
        req = json.loads(c.execute(select(Licence.request).where(Licence.id == licence_id)).scalar_one())
    if "template" not in req:
        raise LicensingError(f"licence {licence_id} was not requested from a collective licence template")
    return _as_quote(lic, req, template(registry, req["template"]))


def asked_of(registry: Registry, org: str) -> list[dict]:
    """The licences asked of organisation ``org`` (``org:N``) from its templates, newest first, each as
    :func:`quote` gives it: one read of the licences and their requests, each template read once."""
    licences = Licensing(registry).list(grantor=org)
    with registry.engine.connect() as c:
        requests = dict(c.execute(select(Licence.id, Licence.request).where(Licence.grantor == org)).all())
    seen: dict[int, dict] = {}
    out = []
    for lic in reversed(licences):
        req = json.loads(requests.get(lic["id"]) or "{}")
        if "template" in req:
            t = seen.get(req["template"]) or seen.setdefault(req["template"], template(registry, req["template"]))
            out.append(_as_quote(lic, req, t))
    return out


def _as_quote(lic: dict, req: dict, t: dict) -> dict:
    return {
        **lic,
        "template": t["id"],
        "template_name": t["name"],
        "organisation": {"ref": t["org"], "name": t["org_name"]},
        "works": req["works"],
        "purpose": req["purpose"],
    }


def accept(registry: Registry, licence_id: int, *, party: str, key: SigningKey) -> dict:
    """The organisation grants a template licence: its works are decided again now (a mandate revoked or
    ended since the request no longer counts), priced again, and the licence granted collectively through
    :meth:`Licensing.accept`, which checks the organisation's standing for every work once more."""
    q = quote(registry, licence_id)
    t = template(registry, q["template"])
    org_id = int(t["org"].split(":")[1])
    _org_of(party, org_id, f"granting licence {licence_id}")
    if q["status"] != "requested":
        raise LicensingError(f"licence {licence_id} is already {q['status']}")
    with registry.engine.begin() as c:
        req = json.loads(c.execute(select(Licence.request).where(Licence.id == licence_id)).scalar_one())
        now = utcnow()
        works, _, price, share = _price(
            registry, org_id, t, covered_works(c, org_id, t, now), retroactive=bool(req.get("retroactive"))
        )
        if not works:
            raise LicensingError(
                f"licence {licence_id}: no work is under a mandate in force with {t['org_name']} now; nothing to grant"
            )
        req["works"] = works
        c.execute(update(Licence).where(Licence.id == licence_id).values(request=json.dumps(req, sort_keys=True)))
    granted = Licensing(registry).accept(
        licence_id,
        party=party,
        key=key,
        collective=True,
        price=price,
        revenue_share_bp=share,
        grant_extra={"template": t["id"], "organisation": t["org_name"]},
    )
    invoice = next(i for i in Licensing(registry).invoices(grantor=party) if i["id"] == granted["invoice"])
    return {**granted, "invoice": {**invoice, "grantor_name": t["org_name"]}, "works": works}
