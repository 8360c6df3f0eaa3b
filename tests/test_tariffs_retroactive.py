"""Tariffs and retroactive licences (issue 15, items 4 and 5): an organisation's tariff prices its
repertoire's ``licence`` terms (per media type, flat fee, revenue share); a developer who already trained
declares the use and the organisation's retroactive tariff, with its surcharge, prices a retroactive
licence that is granted, invoiced, paid and distributed like any other, and marked retroactive."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fairtrain.core.distribution import Formula, Period
from fairtrain.core.errors import InvalidInput
from fairtrain.core.keys import SigningKey
from fairtrain.core.money import Money
from fairtrain.core.store.models import LogEntry, utcnow
from fairtrain.core.tariff import parse_tariff
from fairtrain.core.vocab import Category, Level, PriceModel, Value
from fairtrain.services.clearance.report import quote
from fairtrain.services.ledger import distribution as dist
from fairtrain.services.ledger.licensing import Licensing, LicensingError
from fairtrain.services.registry import RegistryError, ShareSpec
from fairtrain.services.registry.snapshot_export import _terms_rows

KEY = SigningKey.generate()
TARIFF = {"currency": "KRW", "model": "per-work", "per_work": {"text": "1000", "image": "2000", "other": "1500"}}
_names = itertools.count()


def _member_org(registry, shares: list[list[int]] | None = None, media=("text", "image")):
    """An organisation with confirmed members and their works (one per entry of ``shares``: the members'
    weights)."""
    n = next(_names)
    org = registry.add_org(f"KOMCA-{n}")
    shares = shares or [[1] for _ in media]
    members = [registry.add_holder(f"member-{n}-{i}") for i in range(max(len(s) for s in shares))]
    for h in members:
        registry.add_mandate(h, org, list(Category))  # confirmed: the holder consented directly
    works = []
    for i, weights in enumerate(shares):
        total = sum(weights)
        from fractions import Fraction

        kind = media[i % len(media)]
        data = (f"work {n}-{i} " * 40).encode() if kind == "text" else None
        w = registry.add_work(
            title=f"work {n}-{i}",
            data=data,
            file_name=f"w{n}-{i}.txt" if data else "",
            shares=[ShareSpec(members[j], "composer", Fraction(x, total)) for j, x in enumerate(weights) if x],
        )["work"]
        works.append(w)
    return org, members, works


def test_an_organisations_licence_terms_take_the_tariffs_price_by_media_type(registry):
    org, _, (text_work, meta_work) = _member_org(registry)
    with pytest.raises(RegistryError, match="published tariff"):
        registry.declare(
            level=Level.REPERTOIRE, target_id=org, party=f"org:{org}", values={Category.TRAIN_GENAI: Value.LICENCE}
        )
    registry.publish_tariff(org, TARIFF)
    registry.declare(
        level=Level.REPERTOIRE, target_id=org, party=f"org:{org}", values={Category.TRAIN_GENAI: Value.LICENCE}
    )
    d = registry.decide(text_work, Category.TRAIN_GENAI)
    assert d.value is Value.LICENCE and d.offers[0].price == Money("KRW", 1000)
    assert registry.decide(meta_work, Category.TRAIN_GENAI).offers[0].price == Money("KRW", 1500)  # no file: other
    # a newer tariff is the one in use, in decisions and in the snapshot's terms
    registry.publish_tariff(org, {**TARIFF, "per_work": {"text": "1200", "other": "1500"}})
    assert registry.decide(text_work, Category.TRAIN_GENAI).offers[0].price == Money("KRW", 1200)
    [row] = _terms_rows(registry, [text_work], utcnow())
    offers = json.loads(row["offers"])["commercial"]["train-genai"]
    assert Money.from_dict(offers[0]["price"]) == Money("KRW", 1200)
    # the licence request is priced from the tariff, whatever the developer's quote says
    q = {
        "licensee": "acme",
        "purpose": "train-genai",
        "groups": [{"party": f"org:{org}", "works": [{"work_id": text_work}, {"work_id": meta_work}], "total": {}}],
    }
    [lid] = Licensing(registry).request(q)
    assert Money.from_dict(Licensing(registry).get(lid)["price"]) == Money("KRW", 2700)


def test_a_revenue_share_tariff_per_model_version(registry):
    org, _, (w, _) = _member_org(registry)
    registry.publish_tariff(
        org,
        {
            "currency": "KRW",
            "model": "revenue-share",
            "revenue_share_percent": "3",
            "minimum": "1000000",
            "model_versions": ["v2"],
        },
    )
    registry.declare(
        level=Level.REPERTOIRE, target_id=org, party=f"org:{org}", values={Category.TRAIN_GENAI: Value.LICENCE}
    )
    o = registry.decide(w, Category.TRAIN_GENAI).offers[0]
    assert (o.price_model, o.revenue_share_bp, o.price, o.model_versions) == (
        PriceModel.REVENUE_SHARE,
        300,
        Money("KRW", 1_000_000),
        ("v2",),
    )


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"currency": "KRW", "per_work": {"video": "1"}}, "per_work: unknown media types"),
        ({"currency": "KRW", "per_work": {"text": "-1"}}, "per_work.text"),
        ({"per_work": {"text": "1"}}, "needs the tariff's currency"),
        ({"currency": "KRW", "model": "flat-fee"}, "flat_fee"),
        ({"currency": "KRW", "model": "revenue-share", "minimum": "1"}, "revenue_share_percent"),
        ({"currency": "KRW", "per_work": {"text": "1"}, "surcharge_percent": "10"}, "only a retroactive tariff"),
        ({"currency": "KRW", "per_work": {"text": "1"}, "colour": "red"}, "unknown fields"),
    ],
)
def test_a_bad_tariff_is_refused_naming_the_field(doc, message):
    with pytest.raises(InvalidInput, match=message):
        parse_tariff(doc)


def test_the_quote_names_the_organisation_not_its_ref():
    entries = [
        {
            "snapshot": "s",
            "work_id": 1,
            "items": 2,
            "offers": [{"party": "org:1", "price_model": "per-work", "price": {"currency": "KRW", "minor": 1000}}],
            "holders": [{"party": "holder:1", "name": "Kim", "orgs": ["org:1"], "org_names": {"org:1": "KOMCA"}}],
        }
    ]

    class C:
        licensee, research = "acme", False

        class purpose:
            value = "train-genai"

    [g] = quote(entries, C)["groups"]
    assert (g["party"], g["name"]) == ("org:1", "KOMCA")


def test_the_snapshot_carries_organisation_names_for_the_quote(registry):
    org, _, (w, _) = _member_org(registry)
    [row] = _terms_rows(registry, [w], utcnow())
    [h] = json.loads(row["holders"])
    assert h["org_names"] == {f"org:{org}": registry.find_org(org)["name"]}


# -- retroactive licences ---------------------------------------------------------------------------


def _retro_setup(registry, surcharge="50", shares=None):
    org, members, works = _member_org(registry, shares)
    registry.publish_tariff(org, TARIFF)
    registry.publish_tariff(org, {"surcharge_percent": surcharge}, retroactive=True)
    return org, members, works


def test_declared_past_use_becomes_a_retroactive_licence_priced_with_the_surcharge(registry):
    org, _members, (text_work, meta_work) = _retro_setup(registry)
    lonely = registry.add_work(title="self-managed", shares=[ShareSpec(registry.add_holder("solo"), "author", 1)])[
        "work"
    ]
    lic = Licensing(registry)
    out = lic.declare_past_use(
        {
            "licensee": "acme",
            "model": "acme-lm",
            "model_versions": ["v1"],
            "used_from": (utcnow() - timedelta(days=90)).isoformat(),
            "works": [text_work, f"work:{meta_work}", lonely],
        }
    )
    [x] = out["licences"]
    assert x["grantor"] == f"org:{org}" and x["surcharge_bp"] == 5000
    assert Money.from_dict(x["price"]) == Money("KRW", 1500 + 2250)  # (1000 + 1500) × 1.5
    assert out["uncovered"] == [
        {"work_id": lonely, "reason": "no organisation answers for it (its holders license it themselves)"}
    ]
    got = lic.get(x["licence"])
    assert got["retroactive"] and got["status"] == "requested"
    done = lic.accept(x["licence"], party=f"org:{org}", key=KEY)
    assert done["grant"]["retroactive"] is True
    # the grant covers the licensee from when the use began (asked as of a past time, the registry still
    # answers with what had been declared by then: history is not rewritten)
    assert registry.decide(text_work, Category.TRAIN_GENAI, licensee="acme").value is Value.ALLOW
    assert registry.decide(text_work, Category.TRAIN_GENAI, licensee="other").value is Value.DENY
    assert lic.get(x["licence"])["valid_from"] < (utcnow() - timedelta(days=89)).isoformat()
    with registry.engine.connect() as c:
        bodies = [
            json.loads(b)["body"] for b in c.execute(select(LogEntry.leaf).where(LogEntry.kind == "licence")).scalars()
        ]
    assert [b.get("retroactive") for b in bodies if b["event"] == "requested"] == [True]
    assert [b["grant"].get("retroactive") for b in bodies if b["event"] == "granted"] == [True]
    with pytest.raises(LicensingError, match="no work is priced retroactively"):
        lic.declare_past_use({"licensee": "acme", "works": [lonely]})
    with pytest.raises(LicensingError, match="in the future"):
        lic.declare_past_use(
            {"licensee": "acme", "works": [text_work], "used_from": (utcnow() + timedelta(days=1)).isoformat()}
        )


def _settle(registry, lic: Licensing, org: int, works: list[int], ref: str) -> dict:
    out = lic.declare_past_use({"licensee": f"acme-{ref}", "works": works})
    [x] = out["licences"]
    done = lic.accept(x["licence"], party=f"org:{org}", key=KEY)
    amount = Money.from_dict(x["price"])
    lic.record_payment(done["invoice"], amount, reference=ref)
    return {"licence": x["licence"], "amount": amount}


def _formula(registry, fee_bp: int) -> Formula:
    return Formula(fee_bp={f"org:{o['id']}": fee_bp for o in registry.list_orgs()})


PERIOD = Period(date.today().replace(day=1) - timedelta(days=31), date.today() + timedelta(days=1))


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    shares=st.lists(st.lists(st.integers(0, 5), min_size=1, max_size=3).filter(any), min_size=1, max_size=3),
    surcharge=st.integers(0, 300),
    fee_bp=st.integers(0, 3000),
)
def test_retroactive_money_is_neither_created_nor_lost_through_distribution(registry, shares, surcharge, fee_bp):
    org, _members, works = _retro_setup(registry, str(surcharge), shares)
    paid = _settle(registry, Licensing(registry), org, works, f"pay-{next(_names)}")
    formula = _formula(registry, fee_bp)
    inputs = dist.gather(registry, PERIOD, formula)
    mine = [e for e in inputs["licences"] if e["licence_id"] == str(paid["licence"])]
    assert [(e["currency"], e["minor"]) for e in mine] == [(paid["amount"].currency, paid["amount"].minor)]
    run = dist.compute(inputs)
    money_in = sum(e["minor"] for e in inputs["licences"]) + sum(c["minor"] for c in inputs["carried"])
    out = sum(h.paid + h.carried_forward for h in run.holders)
    out += sum(e.item.amount.minor for e in run.suspense) + sum(e.item.amount.minor for e in run.released)
    out += sum(f.fee for f in run.fees)
    assert out == money_in
    placed = sum(ln.gross for ln in run.lines if ln.licence_id == str(paid["licence"]))
    placed += sum(e.item.amount.minor for e in run.suspense if e.item.licence_id == str(paid["licence"]))
    assert placed == paid["amount"].minor


def test_a_members_statement_marks_the_retroactive_licence(registry):
    org, members, works = _retro_setup(registry)
    paid = _settle(registry, Licensing(registry), org, works, "pay-statement")
    rid = dist.run_distribution(registry, PERIOD, _formula(registry, 1500))["run"]
    st_ = dist.statement(registry, rid, members[0])
    lines = [ln for ln in st_["lines"] if ln["licence"] == str(paid["licence"])]
    assert lines and all(ln["retroactive"] and ln["licensee"] == "acme-pay-statement" for ln in lines)
