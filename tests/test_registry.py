"""The registry service on a real database (SQLite, and PostgreSQL when configured)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

import pytest
from sqlalchemy import func, select

from conftest import make_image
from fairtrain.core.money import Money
from fairtrain.core.store.models import Declaration
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value
from fairtrain.services.registry import NotAllowed, NotFound, RegistryError, ShareSpec, holder_ref, org_ref

KRW_1000 = Offer(PriceModel.PER_WORK, Money.parse("1000", "KRW"))


@pytest.fixture
def creator(registry):
    return registry.add_holder("김민지 Kim Minji", email="minji@example.org")


def test_a_creator_registers_a_work_and_gets_deny_by_default(registry, creator, tmp_path):
    f = tmp_path / "poem.txt"
    f.write_text("바람이 분다, 살아야겠다.\nThe wind rises; we must try to live.\n", encoding="utf-8")
    w = registry.add_work_file(f, shares=[ShareSpec(creator, "author", 1)], iswc="T-034.524.680-1")
    shown = registry.work(w["work"])
    assert shown["media_type"] == "text" and shown["status"] == "active"
    assert shown["iswc"] == "T0345246801"
    assert shown["holders"] == [
        {"holder": holder_ref(creator), "name": "김민지 Kim Minji", "role": "author", "share": "1"}
    ]
    for cat in Category:
        assert registry.decide(w["work"], cat).value is Value.DENY


def test_declarations_at_every_level_with_an_offer(registry, creator):
    wid = registry.add_work(title="Song", shares=[ShareSpec(creator, "composer", 1)])["work"]
    registry.declare(
        level=Level.CATALOGUE,
        target_id=creator,
        party=holder_ref(creator),
        values={Category.TDM: Value.DENY, Category.SEARCH: Value.ALLOW},
    )
    assert registry.decide(wid, Category.SEARCH).value is Value.ALLOW
    assert registry.decide(wid, Category.TRAIN_AI).value is Value.DENY
    registry.declare(
        level=Level.WORK,
        target_id=wid,
        party=holder_ref(creator),
        values={Category.TRAIN_GENAI: Value.LICENCE},
        offer=KRW_1000,
    )
    d = registry.decide(wid, Category.TRAIN_GENAI, licensee="acme")
    assert d.value is Value.LICENCE
    assert d.offers == (KRW_1000,)
    counted = [r for r in d.reasons if r.counted]
    assert [r.statement.provenance.party for r in counted] == [holder_ref(creator)]
    assert [r.statement.level for r in d.reasons] == [Level.WORK, Level.CATALOGUE]


def test_history_stays_queryable(registry, creator):
    wid = registry.add_work(title="Song", shares=[ShareSpec(creator, "composer", 1)])["work"]
    registry.declare(
        level=Level.WORK, target_id=wid, party=holder_ref(creator), values={Category.TRAIN_AI: Value.ALLOW}
    )
    between = datetime.now(UTC)
    registry.declare(level=Level.WORK, target_id=wid, party=holder_ref(creator), values={Category.TRAIN_AI: Value.DENY})
    assert registry.decide(wid, Category.TRAIN_AI).value is Value.DENY
    assert registry.decide(wid, Category.TRAIN_AI, at=between).value is Value.ALLOW
    assert registry.decide(wid, Category.TRAIN_AI, at=between - timedelta(days=1)).value is Value.DENY
    with registry.engine.connect() as c:  # superseded, never edited: both rows remain
        assert c.execute(select(func.count()).select_from(Declaration)).scalar_one() == 2


def test_an_organisation_declares_only_within_its_mandates(registry, creator):
    org = registry.add_org("KOMCA", country="KR")
    other = registry.add_holder("Not a member")
    mine = registry.add_work(title="Member's song", shares=[ShareSpec(creator, "composer", 1)])["work"]
    theirs = registry.add_work(title="Outsider's song", shares=[ShareSpec(other, "composer", 1)])["work"]
    with pytest.raises(NotAllowed, match="no mandate"):
        registry.declare(level=Level.WORK, target_id=mine, party=org_ref(org), values={Category.TRAIN_AI: Value.ALLOW})
    registry.add_mandate(creator, org, [Category.TRAIN_AI])
    registry.declare(level=Level.WORK, target_id=mine, party=org_ref(org), values={Category.TRAIN_AI: Value.ALLOW})
    assert registry.decide(mine, Category.TRAIN_GENAI).value is Value.ALLOW
    with pytest.raises(NotAllowed):
        registry.declare(level=Level.WORK, target_id=mine, party=org_ref(org), values={Category.SEARCH: Value.ALLOW})
    # a repertoire-wide declaration reaches members' works only
    registry.declare(
        level=Level.REPERTOIRE,
        target_id=org,
        party=org_ref(org),
        values={Category.AI_INPUT: Value.LICENCE},
        offer=KRW_1000,
    )
    assert registry.decide(theirs, Category.AI_INPUT).value is Value.DENY
    assert registry.decide(mine, Category.AI_INPUT).value is Value.DENY  # mandate covers train-ai only
    registry.add_mandate(creator, org, [Category.TDM])
    assert registry.decide(mine, Category.AI_INPUT).value is Value.LICENCE
    with pytest.raises(NotAllowed):
        registry.declare(
            level=Level.CATALOGUE, target_id=creator, party=org_ref(org), values={Category.TDM: Value.DENY}
        )


def test_co_holders_and_the_most_restrictive_value(registry, creator):
    lyricist = registry.add_holder("Lee")
    wid = registry.add_work(
        title="Duet",
        shares=[ShareSpec(creator, "composer", Fraction(1, 2)), ShareSpec(lyricist, "lyricist", Fraction(1, 2))],
    )["work"]
    registry.declare(
        level=Level.WORK, target_id=wid, party=holder_ref(creator), values={Category.TRAIN_AI: Value.ALLOW}
    )
    registry.declare(
        level=Level.CATALOGUE,
        target_id=lyricist,
        party=holder_ref(lyricist),
        values={Category.TRAIN_AI: Value.LICENCE},
        offer=KRW_1000,
    )
    d = registry.decide(wid, Category.TRAIN_AI)
    assert d.value is Value.LICENCE  # one co-holder cannot loosen the other's reservation


def test_shares_must_sum_to_exactly_one(registry, creator):
    other = registry.add_holder("B")
    with pytest.raises(RegistryError, match="sum to 2/3"):
        registry.add_work(
            title="x", shares=[ShareSpec(creator, "author", Fraction(1, 3)), ShareSpec(other, "author", Fraction(1, 3))]
        )
    with pytest.raises(RegistryError, match="unknown role"):
        registry.add_work(title="x", shares=[ShareSpec(creator, "singer-songwriter", 1)])


def test_a_competing_claim_opens_a_dispute_instead_of_overwriting(registry, creator):
    rival = registry.add_holder("Rival")
    data = make_image(7)
    first = registry.add_work(
        title="Photo", shares=[ShareSpec(creator, "photographer", 1)], data=data, file_name="a.jpg"
    )
    again = registry.add_work(
        title="Photo", shares=[ShareSpec(creator, "photographer", 1)], data=data, file_name="a.jpg"
    )
    assert again == {"work": first["work"], "created": False, "disputes": [], "refreshed": False}
    claim = registry.add_work(
        title="My photo", shares=[ShareSpec(rival, "photographer", 1)], data=data, file_name="b.jpg"
    )
    assert claim["created"] and len(claim["disputes"]) == 1
    assert registry.work(first["work"])["holders"][0]["name"] == creator_name(registry, creator)
    assert registry.work(claim["work"])["status"] == "disputed"
    (d,) = registry.disputes()
    assert (d["work"], d["claim"], d["key"]) == (first["work"], claim["work"], "content_hash")
    with pytest.raises(RegistryError, match="cannot be two works"):
        registry.resolve_dispute(d["id"], keep="both")
    registry.resolve_dispute(d["id"], keep="existing", note="original negatives shown")
    assert registry.work(claim["work"])["status"] == "rejected"
    assert registry.disputes() == []
    assert registry.disputes(status="resolved")[0]["resolution"] == "kept existing: original negatives shown"


def test_identifier_clash_opens_a_dispute_and_both_can_be_kept(registry, creator):
    rival = registry.add_holder("Rival")
    a = registry.add_work(title="A", shares=[ShareSpec(creator, "author", 1)], isbn="978-3-16-148410-0")
    b = registry.add_work(title="B", shares=[ShareSpec(rival, "author", 1)], isbn="9783161484100")
    (d,) = registry.disputes()
    assert (d["key"], d["value"], d["work"], d["claim"]) == ("isbn", "9783161484100", a["work"], b["work"])
    registry.resolve_dispute(d["id"], keep="both")
    assert registry.work(b["work"])["status"] == "active"


def creator_name(registry, hid):
    return registry.find_holder(hid)["name"]


def test_bad_requests_name_the_field(registry, creator):
    with pytest.raises(NotFound):
        registry.decide(12345, Category.TDM)
    with pytest.raises(ValueError, match="not a valid ISWC"):
        registry.add_work(title="x", shares=[ShareSpec(creator, "author", 1)], iswc="nope")
    wid = registry.add_work(title="x", shares=[ShareSpec(creator, "author", 1)])["work"]
    with pytest.raises(RegistryError, match="needs an offer"):
        registry.declare(
            level=Level.WORK, target_id=wid, party=holder_ref(creator), values={Category.TDM: Value.LICENCE}
        )
    with pytest.raises(NotAllowed, match="not a holder"):
        registry.declare(
            level=Level.WORK, target_id=wid, party=holder_ref(creator + 99), values={Category.TDM: Value.DENY}
        )
    with pytest.raises(RegistryError, match="unsupported file type"):
        registry.add_work(
            title="junk", shares=[ShareSpec(creator, "author", 1)], data=b"\x00\x01\x02\xfe" * 50, file_name="x.bin"
        )


def test_purpose_scoped_declaration(registry, creator):
    wid = registry.add_work(title="Paper", shares=[ShareSpec(creator, "author", 1)])["work"]
    registry.declare(
        level=Level.WORK,
        target_id=wid,
        party=holder_ref(creator),
        values={Category.TRAIN_AI: Value.ALLOW},
        purpose=Purpose.RESEARCH,
    )
    assert registry.decide(wid, Category.TRAIN_AI, purpose=Purpose.RESEARCH).value is Value.ALLOW
    assert registry.decide(wid, Category.TRAIN_AI).value is Value.DENY
