"""Mandates with consent (issue 15, item 3): a holder first named in an organisation's import gets a
*pending* mandate that counts only once the holder confirms it (signed in, or with the single-use token of
an invitation) or the organisation attaches the signed paper; a mandate is revoked with an end date and
its history stays. ``core.decide.mandate_in_force`` is the one rule every layer uses."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from typer.testing import CliRunner

from cli_helpers import cli_runner
from fairtrain.cli.app import app
from fairtrain.core.decide import (
    Declaration,
    Mandate,
    Query,
    WorkFacts,
    decide_registered,
    has_standing,
    mandate_in_force,
)
from fairtrain.core.money import Money
from fairtrain.core.store.models import LogEntry, Work, utcnow
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Value
from fairtrain.services.registry import NotAllowed, RegistryError, import_csv

T0 = datetime(2026, 1, 1, tzinfo=UTC)
times = st.integers(min_value=0, max_value=400).map(lambda d: T0 + timedelta(days=d))
OFFER = Offer(PriceModel.PER_WORK, Money("KRW", 1000))
REPERTOIRE_LICENCE = Declaration(
    id=1,
    level=Level.REPERTOIRE,
    target="org:1",
    party="org:1",
    category=Category.TDM,
    value=Value.LICENCE,
    declared_at=T0,
    valid_from=T0,
    offer=OFFER,
)


@st.composite
def mandates(draw):
    declared = draw(times)
    start = declared + timedelta(days=draw(st.integers(0, 30)))
    confirmed = draw(st.none() | st.integers(0, 200).map(lambda d: declared + timedelta(days=d)))
    until = draw(st.none() | st.integers(1, 300).map(lambda d: start + timedelta(days=d)))
    ends = draw(st.none() | st.integers(0, 300).map(lambda d: declared + timedelta(days=d)))
    return Mandate(
        "holder:1",
        "org:1",
        frozenset({Category.TDM}),
        valid_from=start,
        valid_until=until,
        declared_at=declared,
        confirmed_at=confirmed,
        ends_at=ends,
    )


def _org_counts(m: Mandate, at: datetime) -> bool:
    """Whether the organisation's repertoire licence decides the work at ``at`` (else: default deny)."""
    facts = WorkFacts("work:1", frozenset({"holder:1"}), (REPERTOIRE_LICENCE,), (m,))
    return decide_registered(facts, Query(Category.TRAIN_GENAI, at)).value is Value.LICENCE


@settings(max_examples=400)
@given(mandates(), times)
def test_pending_revoked_and_expired_mandates_never_count_and_confirmed_ones_do_from_confirmation_on(m, at):
    facts = WorkFacts("work:1", frozenset({"holder:1"}), (REPERTOIRE_LICENCE,), (m,))
    counts = _org_counts(m, at)
    assert counts == mandate_in_force(m, at) == has_standing(facts, "org:1", Category.TRAIN_GENAI, at)
    if m.confirmed_at is None:  # pending
        assert not counts
    if m.ends_at is not None and at >= m.ends_at:  # revoked by then
        assert not counts
    if m.valid_until is not None and at >= m.valid_until:  # expired
        assert not counts
    if m.confirmed_at is not None and at < m.confirmed_at:  # not yet confirmed then
        assert not counts
    live = (
        m.confirmed_at is not None
        and at >= max(m.confirmed_at, m.valid_from, m.declared_at)
        and (m.valid_until is None or at < m.valid_until)
        and (m.ends_at is None or at < m.ends_at)
    )
    assert counts == live


@given(times, st.integers(0, 100))
def test_a_confirmed_mandate_counts_from_its_confirmation_on(start, days):
    confirmed = start + timedelta(days=days)
    m = Mandate(
        "holder:1", "org:1", frozenset({Category.TDM}), valid_from=start, declared_at=start, confirmed_at=confirmed
    )
    assert not _org_counts(m, confirmed - timedelta(seconds=1))
    assert _org_counts(m, confirmed) and _org_counts(m, confirmed + timedelta(days=365))


# -- the registry: import, confirm, paper, revoke -----------------------------------------------------

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
ROW = "K-1,아리랑,,김작곡:composer:1,,,,,,licence,,,50000,KRW\n"


@pytest.fixture
def imported(registry, tmp_path):
    org = registry.add_org("KOMCA", country="KR")
    p = tmp_path / "rep.csv"
    p.write_text(HEADER + ROW, encoding="utf-8")
    assert import_csv(registry, p, org_id=org).imported
    with registry.engine.connect() as c:
        work = c.execute(select(Work.id).where(Work.work_ref == "K-1")).scalar_one()
    [m] = registry.mandates(org_id=org)
    return registry, org, work, m


def test_an_imported_holder_gets_a_pending_mandate_that_does_not_count(imported):
    registry, _org, work, m = imported
    assert (m["status"], m["in_force"], m["confirmed_at"]) == ("pending", False, None)
    # the organisation's licence terms do not speak for the work without the holder's consent
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.DENY


def test_the_holder_confirms_with_the_single_use_token(imported):
    registry, _org, work, m = imported
    first = registry.mandate_invitation(m["id"])
    token = registry.mandate_invitation(m["id"])  # a new invitation replaces the old link
    with pytest.raises(NotAllowed, match="not valid"):
        registry.confirm_mandate(m["id"], token=first)
    with pytest.raises(NotAllowed, match="not valid"):
        registry.confirm_mandate(m["id"], token="guess")
    done = registry.confirm_mandate(m["id"], token=token)
    assert (done["status"], done["confirmation"], done["in_force"]) == ("confirmed", "token", True)
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.LICENCE
    with pytest.raises(NotAllowed):  # single use
        registry.confirm_mandate(m["id"], token=token)
    with pytest.raises(RegistryError, match="already confirmed"):
        registry.confirm_mandate(m["id"], holder=m["holder"])


def test_only_the_holder_confirms_when_signed_in(imported):
    registry, _org, _work, m = imported
    with pytest.raises(NotAllowed, match="only holder"):
        registry.confirm_mandate(m["id"], holder="holder:999")
    assert registry.confirm_mandate(m["id"], holder=m["holder"])["confirmation"] == "holder"


def test_the_signed_paper_is_stored_by_its_hash_and_logged(imported, tmp_path):
    registry, org, work, m = imported
    paper = "서명한 위임 계약서 — signed mandate".encode() * 100
    with pytest.raises(NotAllowed):
        registry.attach_mandate_paper(m["id"], io.BytesIO(paper), tmp_path, party="org:999")
    done = registry.attach_mandate_paper(m["id"], io.BytesIO(paper), tmp_path, party=f"org:{org}")
    digest = hashlib.sha256(paper).hexdigest()
    assert (done["paper_sha256"], done["confirmation"], done["in_force"]) == (digest, "paper", True)
    assert (tmp_path / "mandates" / digest).read_bytes() == paper
    assert not [p for p in (tmp_path / "mandates").iterdir() if p.name != digest]  # no temporary left
    with registry.engine.connect() as c:
        bodies = [
            json.loads(b)
            for b in c.execute(select(LogEntry.leaf).where(LogEntry.kind == "mandate-confirmed")).scalars()
        ]
    assert bodies and bodies[-1]["body"]["sha256"] == digest and bodies[-1]["body"]["by"] == "paper"
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.LICENCE


def test_an_empty_paper_is_refused_and_the_mandate_stays_pending(imported, tmp_path):
    registry, _org, _work, m = imported
    with pytest.raises(Exception, match="empty"):
        registry.attach_mandate_paper(m["id"], io.BytesIO(b""), tmp_path)
    assert registry.mandate(m["id"])["status"] == "pending"


def test_a_revoked_mandate_stops_counting_at_its_end_date_and_its_history_stays(imported):
    registry, org, work, m = imported
    registry.confirm_mandate(m["id"], holder=m["holder"])
    with pytest.raises(RegistryError, match="in the past"):
        registry.revoke_mandate(m["id"], end=utcnow() - timedelta(days=1))
    with pytest.raises(NotAllowed):
        registry.revoke_mandate(m["id"], party="org:999")
    end = utcnow() + timedelta(days=30)
    done = registry.revoke_mandate(m["id"], end=end, party=f"org:{org}")
    assert done["status"] == "revoked" and done["in_force"]  # until its end date
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.LICENCE
    assert registry.decide(work, Category.TRAIN_GENAI, at=end + timedelta(seconds=1)).value is Value.DENY
    assert [x["id"] for x in registry.mandates(org_id=org)] == [m["id"]]  # the row stays
    with pytest.raises(RegistryError, match="already revoked"):
        registry.revoke_mandate(m["id"])
    with pytest.raises(RegistryError, match="revoked"):
        registry.mandate_invitation(m["id"])


def test_revoking_now_ends_it_now(imported):
    registry, _org, work, m = imported
    registry.confirm_mandate(m["id"], holder=m["holder"])
    before = utcnow()
    registry.revoke_mandate(m["id"], party=m["holder"])
    assert registry.decide(work, Category.TRAIN_GENAI).value is Value.DENY
    assert registry.decide(work, Category.TRAIN_GENAI, at=before).value is Value.LICENCE  # history as it was


# -- the CLI ------------------------------------------------------------------------------------------


def test_the_cli_invites_confirms_attaches_and_revokes(database_url, tmp_path):
    run, env = cli_runner(database_url, tmp_path / "data")

    run("orgs", "add", "KOMCA")
    run("holders", "add", "Kim")
    run("holders", "add", "Lee")
    a = json.loads(run("mandates", "add", "--holder", "Kim", "--org", "KOMCA", "--pending", "--json").stdout)
    b = json.loads(run("mandates", "add", "--holder", "Lee", "--org", "KOMCA", "--pending", "--json").stdout)
    assert a["status"] == "pending"
    invite = json.loads(run("mandates", "invite", str(a["id"]), "--json").stdout)
    assert invite["link"].endswith(invite["token"])
    bad = run("mandates", "confirm", str(a["id"]), "--token", "wrong", code=1)
    assert isinstance(bad.exception, NotAllowed) and "not valid" in str(bad.exception)  # `main` exits 2 with it
    ok = json.loads(run("mandates", "confirm", str(a["id"]), "--token", invite["token"], "--json").stdout)
    assert ok["in_force"] and ok["confirmation"] == "token"
    paper = tmp_path / "signed.pdf"
    paper.write_bytes(b"%PDF-1.4 signed by Lee")
    run("mandates", "attach", str(b["id"]), str(tmp_path / "missing.pdf"), code=2)
    att = json.loads(run("mandates", "attach", str(b["id"]), str(paper), "--json").stdout)
    assert (tmp_path / "data" / "mandates" / att["paper_sha256"]).exists()
    end = (utcnow() + timedelta(days=10)).date().isoformat()
    rev = json.loads(run("mandates", "revoke", str(a["id"]), "--end", end, "--json").stdout)
    assert rev["status"] == "revoked" and rev["ends_at"].startswith(end)
    listed = json.loads(run("mandates", "list", "--org", "KOMCA", "--json").stdout)
    assert [m["status"] for m in listed] == ["revoked", "confirmed"]


def test_init_creates_the_registry_key_so_snapshot_export_needs_no_keys_create(tmp_path):
    runner = CliRunner()
    env = {"FAIRTRAIN_DATA_DIR": str(tmp_path / "d"), "FAIRTRAIN_DATABASE_URL": ""}
    r = runner.invoke(app, ["init", "--json"], env=env)
    assert r.exit_code == 0, r.output
    made = json.loads(r.stdout)
    assert made["key_created"] and (tmp_path / "d" / "keys" / "registry.key").exists()
    role = json.loads((tmp_path / "d" / "keys" / "registry.key.json").read_text())
    assert role["role"] == "registry"
    again = json.loads(runner.invoke(app, ["init", "--json"], env=env).stdout)
    assert not again["key_created"] and again["key_id"] == made["key_id"]  # kept, never replaced
    r = runner.invoke(app, ["snapshot", "export", str(tmp_path / "snap")], env=env)
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["snapshot", "verify", str(tmp_path / "snap"), "--json"], env=env)
    assert r.exit_code == 0 and json.loads(r.stdout)["key_id"] == made["key_id"], r.output
