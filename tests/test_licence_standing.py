"""Who may license a work, and at what price (issue 12, item 3): only the parties that hold the work, or
an organisation under a mandate in force, may answer for it, and the price is their offer or tariff, never
the developer's quote. The rule lives in the ledger service, so the CLI and the web share it."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from fairtrain.core.keys import SigningKey
from fairtrain.core.money import Money
from fairtrain.core.store.models import Invoice, Licence, LicensedWork, LogEntry, utcnow
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value
from fairtrain.services.ledger.licensing import Licensing, LicensingError
from fairtrain.services.registry import NotAllowed, ShareSpec

GENAI = {Category.TRAIN_GENAI: Value.LICENCE}


def _quote(party: str, work_ids: list[int], minor: int = 1) -> dict:
    return {
        "licensee": "acme-ai",
        "purpose": "train-genai",
        "works": len(work_ids),
        "groups": [
            {
                "party": party,
                "works": [{"work_id": w} for w in work_ids],
                "total": {"KRW": Money("KRW", minor).to_dict()},
            }
        ],
    }


@pytest.fixture
def two_holders(registry):
    a, b = registry.add_holder("A"), registry.add_holder("B")
    wa = registry.add_work(title="A's song", shares=[ShareSpec(a, "composer", 1)])["work"]
    wb = registry.add_work(title="B's song", shares=[ShareSpec(b, "composer", 1)])["work"]
    registry.declare(
        level=Level.WORK,
        target_id=wa,
        party=f"holder:{a}",
        values=GENAI,
        offer=Offer(PriceModel.PER_WORK, Money("KRW", 30000)),
    )
    registry.declare(
        level=Level.WORK,
        target_id=wb,
        party=f"holder:{b}",
        values=GENAI,
        offer=Offer(PriceModel.PER_WORK, Money("KRW", 20000)),
    )
    return registry, Licensing(registry), (a, wa), (b, wb)


def _counts(registry) -> tuple[int, int, int]:
    with registry.engine.connect() as c:
        return (
            c.execute(select(func.count()).select_from(Licence)).scalar_one(),
            c.execute(select(func.count()).select_from(Invoice)).scalar_one(),
            c.execute(select(func.count()).select_from(LogEntry).where(LogEntry.kind == "licence")).scalar_one(),
        )


def test_a_quote_naming_another_party_for_a_work_is_refused(two_holders):
    registry, lic, (a, wa), (b, wb) = two_holders
    with pytest.raises(NotAllowed, match=rf"holder:{b} may not answer for works \[{wa}\]"):
        lic.request(_quote(f"holder:{b}", [wa]))
    with pytest.raises(NotAllowed, match=rf"may not answer for works \[{wa}\]"):  # one foreign work spoils the group
        lic.request(_quote(f"holder:{b}", [wb, wa]))
    assert _counts(registry) == (0, 0, 0)


def test_the_price_is_the_holders_offer_not_the_developers_quote(two_holders):
    registry, lic, (a, wa), (b, wb) = two_holders
    (lid,) = lic.request(_quote(f"holder:{a}", [wa], minor=1))
    got = lic.get(lid)
    assert got["price"]["minor"] == 30000 and got["price"]["currency"] == "KRW"
    granted = lic.accept(lid, party=f"holder:{a}", key=SigningKey.generate())
    assert granted["grant"]["price"]["minor"] == 30000
    assert lic.invoices()[0]["amount"]["minor"] == 30000


def test_a_holder_without_an_offer_cannot_be_asked_at_a_made_up_price(two_holders):
    registry, lic, (a, wa), (b, wb) = two_holders
    wa2 = registry.add_work(title="A's other song", shares=[ShareSpec(a, "composer", 1)])["work"]
    with pytest.raises(LicensingError, match=rf"work {wa2}: holder:{a} offers no licence for train-genai"):
        lic.request(_quote(f"holder:{a}", [wa2], minor=1))


def test_a_request_stored_for_someone_elses_work_cannot_be_granted(two_holders):
    """A request written before this rule (or by hand) naming B for A's work: B's acceptance is refused,
    and nothing is signed, covered, invoiced or logged."""
    registry, lic, (a, wa), (b, wb) = two_holders
    with registry.engine.begin() as c:
        lid = c.execute(
            insert(Licence)
            .values(
                licensee="acme-ai",
                grantor=f"holder:{b}",
                status="requested",
                categories="train-genai",
                model_versions="[]",
                valid_from=utcnow(),
                price_model="per-work",
                price_minor=1,
                currency="KRW",
                revenue_share_bp=0,
                collective=False,
                request=json.dumps({"works": [wa]}),
                created_at=utcnow(),
            )
            .returning(Licence.id)
        ).scalar_one()
    with pytest.raises(NotAllowed, match=rf"licence {lid}: holder:{b} may not answer for works \[{wa}\]"):
        lic.authorise(lid, f"holder:{b}")
    with pytest.raises(NotAllowed, match="may not answer for works"):
        lic.accept(lid, party=f"holder:{b}", key=SigningKey.generate())
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(LicensedWork)).scalar_one() == 0
    assert _counts(registry) == (1, 0, 0) and lic.get(lid)["status"] == "requested"
    assert lic.decline(lid, party=f"holder:{b}")["status"] == "declined"  # the party asked may still say no


def test_an_organisation_answers_only_under_a_mandate_in_force_at_its_tariff(two_holders):
    registry, lic, (a, wa), (b, wb) = two_holders
    org = registry.add_org("KOSA")
    registry.add_mandate(a, org, [Category.TRAIN_AI], valid_until=utcnow() + timedelta(days=30))
    registry.declare(
        level=Level.REPERTOIRE,
        target_id=org,
        party=f"org:{org}",
        values=GENAI,
        offer=Offer(PriceModel.PER_WORK, Money("KRW", 45000)),
    )  # the organisation's tariff
    wa2 = registry.add_work(title="A's unpriced song", shares=[ShareSpec(a, "composer", 1)])["work"]
    (lid,) = lic.request(_quote(f"org:{org}", [wa2]))
    assert lic.get(lid)["price"]["minor"] == 45000
    with pytest.raises(LicensingError, match=rf"work {wa}: org:{org} offers no licence"):
        lic.request(_quote(f"org:{org}", [wa]))  # A's own offer for that work overrides the tariff
    with pytest.raises(NotAllowed, match=rf"org:{org} may not answer for works \[{wb}\]"):  # B never mandated it
        lic.request(_quote(f"org:{org}", [wb]))
    assert lic.accept(lid, party=f"org:{org}", key=SigningKey.generate())["grant"]["grantor"] == f"org:{org}"

    expired = registry.add_org("Former")
    registry.add_mandate(
        b, expired, [Category.TDM], valid_from=utcnow() - timedelta(days=60), valid_until=utcnow() - timedelta(days=1)
    )
    with pytest.raises(NotAllowed, match=rf"org:{expired} may not answer for works \[{wb}\]"):
        lic.request(_quote(f"org:{expired}", [wb]))


def test_a_licence_priced_for_research_does_not_cover_commercial_use(two_holders):
    """The quote's research flag picks the offer that prices the licence; the grant then covers only that
    purpose, so a cheaper research offer never buys commercial use."""
    registry, lic, (a, wa), (b, wb) = two_holders
    wr = registry.add_work(title="A's research song", shares=[ShareSpec(a, "composer", 1)])["work"]
    registry.declare(
        level=Level.WORK,
        target_id=wr,
        party=f"holder:{a}",
        values=GENAI,
        offer=Offer(PriceModel.PER_WORK, Money("KRW", 100), purposes=frozenset({Purpose.RESEARCH})),
    )
    with pytest.raises(LicensingError, match="offers no licence for train-genai \\(commercial use\\)"):
        lic.request(_quote(f"holder:{a}", [wr]))
    (lid,) = lic.request({**_quote(f"holder:{a}", [wr]), "research": True})
    assert lic.get(lid)["price"]["minor"] == 100 and lic.get(lid)["request"]["purpose"] == "research"
    assert lic.accept(lid, party=f"holder:{a}", key=SigningKey.generate())["grant"]["purpose"] == "research"
    assert registry.decide(wr, Category.TRAIN_GENAI, licensee="acme-ai", purpose=Purpose.RESEARCH).value is Value.ALLOW
    assert registry.decide(wr, Category.TRAIN_GENAI, licensee="acme-ai").value is Value.LICENCE
