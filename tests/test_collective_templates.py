"""Collective licence templates (issue 15): an organisation publishes a template; a developer requests a
licence from it for the organisation's repertoire; the organisation grants it; the grant covers every work
under a mandate in force for the template's categories at grant time (core.decide.mandate_in_force), the
quote and invoice name the organisation, the log records it, and a clearance afterwards says ``allow`` for
those works for that developer and purpose. Edges: a withdrawn template takes no new requests, a mandate
revoked before the grant is not covered, nobody but the organisation publishes. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import random
from datetime import timedelta

import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from fairtrain.core.keys import SigningKey
from fairtrain.core.store.models import LogEntry, utcnow
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.clearance.pipeline import ClearanceConfig
from fairtrain.services.clearance.run import clear
from fairtrain.services.ledger import collective
from fairtrain.services.ledger.licensing import Licensing, LicensingError
from fairtrain.services.registry import NotAllowed, ShareSpec
from fairtrain.services.registry.snapshot_export import export_snapshot

TEMPLATE = {
    "name": {"ko": "생성형 AI 학습 포괄 이용허락", "en": "Generative AI training, whole repertoire"},
    "purposes": ["commercial"],
    "categories": ["train-genai"],
    "media_types": ["text"],
    "term_months": 12,
    "price": {"model": "flat-fee", "amount": "5000000", "currency": "KRW"},
    "retroactive": False,
}


def _text(i: int) -> str:
    rnd = random.Random(1000 + i)  # each work its own words: an exact copy matches that work only
    return (
        " ".join(f"{rnd.choice(('바다', 'river', '빛', 'stone', '노래'))}{rnd.randrange(10**6)}" for _ in range(200))
        + "."
    )


@pytest.fixture
def cmo(registry):
    """KOMCA with three members: two with a mandate in force for AI training, one whose mandate covers
    only search; each with one text work, and the members' works deny generative training by default."""
    org = registry.add_org("KOMCA", country="KR")
    members, works = [], []
    for i, cats in enumerate(([Category.TRAIN_GENAI], [Category.TRAIN_GENAI, Category.TDM], [Category.SEARCH])):
        h = registry.add_holder(f"Member {i}")
        mid = registry.add_mandate(h, org, cats, valid_from=utcnow() - timedelta(days=1))
        w = registry.add_work(
            title=f"Song {i}", shares=[ShareSpec(h, "composer", 1)], data=_text(i).encode(), file_name=f"s{i}.txt"
        )["work"]
        registry.declare(level=Level.WORK, target_id=w, party=f"holder:{h}", values={Category.TRAIN_GENAI: Value.DENY})
        members.append((h, mid))
        works.append(w)
    return registry, org, members, works


def test_a_template_licence_covers_the_mandated_repertoire_and_clearance_allows_it(cmo, tmp_path):
    registry, org, members, works = cmo
    t = collective.publish(registry, org, TEMPLATE, party=f"org:{org}")
    assert [x["id"] for x in collective.templates(registry)] == [t["id"]] and t["org_name"] == "KOMCA"
    q = collective.request(registry, t["id"], licensee="acme-ai", purpose="commercial")
    assert q["organisation"] == {"ref": f"org:{org}", "name": "KOMCA"} and q["status"] == "requested"
    assert q["works"] == works[:2] and q["price"]["minor"] == 5_000_000  # member 2 mandated search only
    with pytest.raises(NotAllowed):  # a developer cannot grant it to herself, nor another organisation
        collective.accept(registry, q["id"], party="holder:1", key=SigningKey.generate())
    got = collective.accept(registry, q["id"], party=f"org:{org}", key=SigningKey.generate())
    assert got["works"] == works[:2] and got["grant"]["organisation"] == "KOMCA"
    assert got["grant"]["grantor"] == f"org:{org}" and got["grant"]["template"] == t["id"]
    assert got["invoice"]["grantor_name"] == "KOMCA" and got["invoice"]["amount"]["minor"] == 5_000_000
    assert Licensing(registry).get(q["id"])["collective"]
    with registry.engine.connect() as c:
        leaves = [
            json.loads(x)["body"]
            for x in c.execute(
                select(LogEntry.leaf).where(LogEntry.subject == f"licence:{q['id']}", LogEntry.kind == "licence")
            ).scalars()
        ]
    assert [b["event"] for b in leaves] == ["requested", "granted"]
    assert leaves[0]["organisation"] == "KOMCA" and leaves[0]["template"] == t["id"]
    assert leaves[1]["grant"]["organisation"] == "KOMCA"

    # the developer's clearance now allows the two works for commercial generative training, not the third
    registry_key, licensee_key = SigningKey.generate(), SigningKey.generate()
    export_snapshot(registry, tmp_path / "snap", registry_key)
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"id": w, "text": _text(i)}) + "\n" for i, w in enumerate(works)), "utf-8")
    config = ClearanceConfig(
        snapshots=(tmp_path / "snap",),
        purpose=Category.TRAIN_GENAI,
        licensee="acme-ai",
        trusted_keys=(registry_key.public.b64(),),
    )
    clear(data, tmp_path / "out", config, licensee_key)
    rows = pq.read_table(tmp_path / "out" / "decisions.parquet").to_pylist()
    assert [r["decision"] for r in rows] == ["allow", "allow", "deny"]
    assert all(w in r["work_ids"] for w, r in zip(works, rows, strict=True))  # each copy is recognised
    other = ClearanceConfig(
        snapshots=(tmp_path / "snap",),
        purpose=Category.TRAIN_GENAI,
        licensee="someone-else",
        trusted_keys=(registry_key.public.b64(),),
    )
    clear(data, tmp_path / "out2", other, licensee_key)
    assert {r["decision"] for r in pq.read_table(tmp_path / "out2" / "decisions.parquet").to_pylist()} == {"deny"}


def test_a_withdrawn_template_refuses_new_requests_and_only_the_organisation_publishes(cmo):
    registry, org, _, _ = cmo
    other = registry.add_org("KOSA", country="KR")
    for party in (f"org:{other}", "holder:1"):
        with pytest.raises(NotAllowed, match=f"only organisation org:{org} itself"):
            collective.publish(registry, org, TEMPLATE, party=party)
    assert collective.templates(registry, org, published_only=False) == []
    t = collective.publish(registry, org, TEMPLATE, party=f"org:{org}")
    with pytest.raises(NotAllowed):
        collective.withdraw(registry, t["id"], party=f"org:{other}")
    assert collective.withdraw(registry, t["id"], party=f"org:{org}")["status"] == "withdrawn"
    with pytest.raises(LicensingError, match="withdrawn: it takes no new requests"):
        collective.request(registry, t["id"], licensee="acme-ai", purpose="commercial")
    assert collective.templates(registry) == []  # the public list shows published ones only
    with pytest.raises(LicensingError, match="purpose 'research' is not one of"):
        t2 = collective.publish(registry, org, TEMPLATE, party=f"org:{org}")
        collective.request(registry, t2["id"], licensee="acme-ai", purpose="research")
    with pytest.raises(LicensingError, match="does not license past use"):
        collective.request(
            registry, t2["id"], licensee="acme-ai", purpose="commercial", valid_from=utcnow() - timedelta(days=30)
        )


def test_a_mandate_revoked_before_the_grant_is_not_covered(cmo):
    registry, org, members, works = cmo
    t = collective.publish(registry, org, TEMPLATE, party=f"org:{org}")
    q = collective.request(registry, t["id"], licensee="acme-ai", purpose="commercial")
    assert q["works"] == works[:2]
    registry.revoke_mandate(members[0][1])  # ends now: before the grant
    got = collective.accept(registry, q["id"], party=f"org:{org}", key=SigningKey.generate())
    assert got["works"] == [works[1]] and got["grant"]["works"] == [works[1]]
    assert registry.decide(works[0], Category.TRAIN_GENAI, licensee="acme-ai").value is Value.DENY
    assert registry.decide(works[1], Category.TRAIN_GENAI, licensee="acme-ai").value is Value.ALLOW


_FIELDS = st.sampled_from(["name", "purposes", "categories", "media_types", "term_months", "price", "retroactive"])
_JUNK = st.one_of(st.none(), st.integers(-5, 500), st.text(max_size=5), st.lists(st.text(max_size=8), max_size=3))


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=_FIELDS, junk=_JUNK)
def test_a_bad_field_is_refused_by_name_or_the_template_is_whole(field, junk):
    doc = {**TEMPLATE, field: junk}
    try:
        got = collective.check_template(doc, tariffed=False)
    except LicensingError as e:
        assert f"licence template {field}" in str(e)
    else:  # accepted: then it reads back whole and as given where the junk was meaningful
        assert set(got) == set(TEMPLATE) and got["name"]["ko"] and got["purposes"] and got["categories"]
        assert 1 <= got["term_months"] <= 120


def test_the_command_line_publishes_lists_requests_grants_and_withdraws(cmo, cli, tmp_path):
    registry, org, _, works = cmo
    doc = tmp_path / "template.json"
    doc.write_text(json.dumps({**TEMPLATE, "price": {**TEMPLATE["price"], "model": "revenue-share", "share_bp": 500}}))
    t = json.loads(cli("licences", "templates", "publish", doc, "--org", "KOMCA", "--json").stdout)
    assert t["price"] == {"model": "revenue-share", "amount": t["price"]["amount"], "share_bp": 500}
    (listed,) = json.loads(cli("licences", "templates", "list", "--org", "KOMCA", "--json").stdout)
    assert listed["name"]["ko"] == "생성형 AI 학습 포괄 이용허락" and listed["org_name"] == "KOMCA"
    cli("licences", "templates", "list")  # the table prints
    q = json.loads(cli("licences", "templates", "request", t["id"], "--licensee", "acme-ai", "--json").stdout)
    assert q["organisation"]["name"] == "KOMCA" and q["works"] == works[:2]
    cli("keys", "create", "--name", f"org-{org}")
    # the generic accept would skip deciding the works again at grant time: it refuses, naming the command
    generic = cli("licences", "accept", q["id"], "--as", f"org:{org}", "--collective", code=1)
    said = generic.output + str(generic.exception)
    assert f"licences templates accept {q['id']}" in said and f"template {t['id']}" in said, said
    g = json.loads(cli("licences", "templates", "accept", q["id"], "--json").stdout)
    assert g["grant"]["revenue_share_bp"] == 500 and g["invoice"]["grantor_name"] == "KOMCA"
    cli("licences", "templates", "withdraw", t["id"])
    assert json.loads(cli("licences", "templates", "list", "--json").stdout) == []
    refused = cli("licences", "templates", "request", t["id"], "--licensee", "acme-ai", code=1)
    assert "withdrawn" in refused.output + str(refused.exception)


def test_the_web_page_and_api_publish_request_and_grant_and_check_who_asks(tmp_path, database_url):
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url)
    reg = app.state.web.registry
    admin = Session(app, "komca@example.org", "org-admin", "KOMCA")
    rival = Session(app, "kosa@example.org", "org-admin", "KOSA")
    dev = Session(app, "dev@example.com", "developer", "Acme AI")
    org = admin.org_id
    members = [reg.add_holder(f"Member {i}") for i in range(2)]
    for h in members:
        reg.add_mandate(h, org, [Category.TRAIN_GENAI], valid_from=utcnow() - timedelta(days=1))
    works = [
        reg.add_work(
            title=f"Song {i}", shares=[ShareSpec(h, "composer", 1)], data=_text(i).encode(), file_name="s.txt"
        )["work"]
        for i, h in enumerate(members)
    ]
    # the page, in Korean, with its form; only the organisation's administrators publish
    page = admin.request("GET", "/org/licence-templates", headers={"Accept-Language": "ko"})
    assert page.status_code == 200 and "포괄 이용허락 양식" in page.text and 'id="template-form"' in page.text
    assert dev.request("GET", "/org/licence-templates").status_code == 403
    assert rival.request("POST", f"/api/orgs/{org}/licence-templates", json=TEMPLATE).status_code == 403
    assert dev.request("POST", f"/api/orgs/{org}/licence-templates", json=TEMPLATE).status_code == 403
    bad = admin.request("POST", f"/api/orgs/{org}/licence-templates", json={**TEMPLATE, "term_months": 0})
    assert bad.status_code == 400 and "term_months" in bad.json()["detail"]
    form = {
        "name_ko": "생성형 AI 학습 포괄 이용허락",
        "name_en": "Generative AI training",
        "purposes": "commercial",
        "categories": "train-genai",
        "term_months": "12",
        "model": "flat-fee",
        "amount": "3000000",
        "currency": "KRW",
        "csrf": admin.csrf,
    }
    assert admin.client.post("/org/licence-templates", data=form, follow_redirects=False).status_code == 303
    (t,) = TestClient(app).get(f"/api/orgs/{org}/licence-templates").json()  # public: the published ones
    assert t["name"]["ko"] == "생성형 AI 학습 포괄 이용허락" and t["price"]["amount"]["minor"] == 3_000_000
    assert [x["id"] for x in TestClient(app).get("/api/licence-templates").json()] == [t["id"]]
    # a developer asks; the organisation grants it from its page; the licence covers both members' works
    q = dev.request("POST", f"/api/licence-templates/{t['id']}/request", json={"purpose": "commercial"}).json()
    assert q["organisation"]["name"] == "KOMCA" and q["works"] == works
    assert rival.request("POST", f"/api/licence-templates/licences/{q['id']}/accept").status_code == 403
    # the generic accept route refuses a template licence, naming the route that decides the works again
    generic = admin.request("POST", f"/api/licences/{q['id']}/accept", json={"collective": True})
    assert generic.status_code == 400, generic.text
    assert f"/api/licence-templates/licences/{q['id']}/accept" in generic.json()["detail"]
    money = admin.request("GET", "/money").text  # its Accept button there goes the template's way too
    assert f'action="/org/licence-templates/licences/{q["id"]}/accept"' in money
    assert f'action="/money/licences/{q["id"]}/accept"' not in money
    asked = admin.request("GET", "/org/licence-templates").text
    assert f'action="/org/licence-templates/licences/{q["id"]}/accept"' in asked
    done = admin.client.post(
        f"/org/licence-templates/licences/{q['id']}/accept", data={"csrf": admin.csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    (inv,) = dev.request("GET", "/api/invoices").json()
    assert inv["amount"]["minor"] == 3_000_000 and inv["grantor"] == f"org:{org}"
    for w in works:
        assert reg.decide(w, Category.TRAIN_GENAI, licensee=q["licensee"]).value is Value.ALLOW
    # withdrawn: no new requests, gone from the public list, still on the organisation's own page
    assert admin.request("POST", f"/api/licence-templates/{t['id']}/withdraw").json()["status"] == "withdrawn"
    again = dev.request("POST", f"/api/licence-templates/{t['id']}/request", json={"purpose": "commercial"})
    assert again.status_code == 400 and "withdrawn" in again.json()["detail"]
    assert TestClient(app).get("/api/licence-templates").json() == []
    assert len(admin.request("GET", f"/api/orgs/{org}/licence-templates").json()) == 1
