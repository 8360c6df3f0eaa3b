"""A CMO's office on the JSON API (issue 15, items 3–6): members consent to mandates (link, signed in,
signed paper), revocation, tariffs, retroactive licences declared by a developer, and the admin opening a
member's statement."""

from __future__ import annotations

import hashlib
import json
from datetime import date

from fastapi.testclient import TestClient

from fairtrain.core.money import Money
from fairtrain.core.vocab import Category
from fairtrain.services.ledger.licensing import Licensing
from web_helpers import Session, make_app

CSV = (
    "work_ref,title,holders,tdm,train-genai,search,price,currency\n"
    "K-1,아리랑 변주곡,김작곡:composer:1/2;이작사:lyricist:1/2,,licence,allow,,\n"
    "K-2,Spring Day,박가수:composer:1,,licence,,,\n"
).encode()


def test_a_cmo_runs_consent_tariffs_retroactive_licences_and_members_statements(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    anon = TestClient(app)
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    creator = Session(app, "minji@example.org", "creator", "Kim Minji")
    dev = Session(app, "dev@example.org", "developer", "Acme AI")
    reg = app.state.web.registry

    # tariffs: the organisation publishes them; anyone may read them; licence rows may then omit the price
    tariff = {"currency": "KRW", "model": "per-work", "per_work": {"other": "10000"}}
    assert creator.request("PUT", "/api/org/tariff", json=tariff).status_code == 403
    bad = org.request("PUT", "/api/org/tariff", json={**tariff, "per_work": {"video": "1"}})
    assert bad.status_code == 400 and "per_work" in bad.json()["detail"]
    assert org.request("PUT", "/api/org/tariff", json=tariff).status_code == 200
    r = org.request("PUT", "/api/org/tariff", params={"retroactive": "true"}, json={"surcharge_percent": "30"})
    assert r.status_code == 200 and r.json()["kind"] == "retroactive"
    assert anon.get(f"/api/orgs/{org.org_id}/tariff").json()["tariff"]["per_work"] == {"other": "10000"}

    r = org.request("POST", "/api/org/import", files={"file": ("rep.csv", CSV, "text/csv")})
    assert r.status_code == 200 and r.json()["imported"], r.text
    pending = org.request("GET", "/api/mandates").json()
    assert [m["status"] for m in pending] == ["pending"] * 3
    k1 = reg.resolve_work("K-1", org=org.org_id)
    assert anon.get("/api/works/K-1/decision", params={"category": "train-genai"}).json()["value"] == "deny"

    # consent: one by the e-mailed link, one by the signed paper; the third stays pending
    by_name = {reg.find_holder(int(m["holder"].split(":")[1]))["name"]: m for m in pending}
    first, second, third = by_name["김작곡"], by_name["이작사"], by_name["박가수"]  # K-1's two, K-2's one
    link = org.request("POST", f"/api/mandates/{first['id']}/invite").json()
    assert anon.post(f"/api/mandates/{first['id']}/confirm", json={"token": "nope"}).status_code == 403
    assert anon.post(f"/api/mandates/{first['id']}/confirm", json={"token": link["token"]}).json()["in_force"]
    paper = b"%PDF-1.4 signed mandate"
    assert (
        creator.request(
            "POST", f"/api/mandates/{second['id']}/paper", files={"file": ("m.pdf", paper, "application/pdf")}
        ).status_code
        == 403
    )
    r = org.request("POST", f"/api/mandates/{second['id']}/paper", files={"file": ("m.pdf", paper, "application/pdf")})
    assert r.status_code == 200 and r.json()["paper_sha256"] == hashlib.sha256(paper).hexdigest()
    assert (app.state.web.data_dir / "mandates" / hashlib.sha256(paper).hexdigest()).read_bytes() == paper
    # K-1's holders consented: the organisation's licence terms count, priced from its tariff
    d = anon.get("/api/works/K-1/decision", params={"category": "train-genai"}).json()
    assert d["value"] == "licence" and d["offers"][0]["price"]["minor"] == 10000
    assert anon.get("/api/works/K-2/decision", params={"category": "train-genai"}).json()["value"] == "deny"

    # a signed-in creator confirms a mandate of their own; a stranger cannot see or revoke it
    mid = reg.add_mandate(creator.holder_id, org.org_id, [Category.TRAIN_AI], pending=True)
    assert dev.request("POST", f"/api/mandates/{mid}/confirm").status_code == 403
    r = creator.request("POST", f"/api/mandates/{mid}/confirm")
    assert r.status_code == 200 and r.json()["confirmation"] == "holder"
    assert dev.request("POST", f"/api/mandates/{mid}/revoke", json={}).status_code == 403
    r = creator.request("POST", f"/api/mandates/{mid}/revoke", json={"end": "2000-01-01"})
    assert r.status_code == 400 and "in the past" in r.json()["detail"]
    r = creator.request("POST", f"/api/mandates/{mid}/revoke", json={})
    assert r.status_code == 200 and r.json()["status"] == "revoked" and not r.json()["in_force"]

    # a developer who already trained declares the use; the retroactive tariff prices it (+30 %)
    usage = {"works": ["K-1", "K-2"], "model": "acme-7b", "model_versions": ["1.0"], "used_from": "2026-01-01"}
    r = dev.request("POST", "/api/licences/past-use", files={"usage": ("usage.json", json.dumps(usage))})
    assert r.status_code == 201, r.text
    out = r.json()
    [x] = out["licences"]
    assert x["works"] == [k1] and x["price"]["minor"] == 13000
    assert [u["work_id"] for u in out["uncovered"]] == [reg.resolve_work("K-2")]  # its holder has not consented
    r = org.request("POST", f"/api/licences/{x['licence']}/accept", json={})
    assert r.status_code == 200 and r.json()["grant"]["retroactive"] is True, r.text
    (inv,) = dev.request("GET", "/api/invoices").json()
    Licensing(reg).record_payment(inv["id"], Money("KRW", 13000), reference="BANK-RETRO-1")
    today = date.today().isoformat()
    r = org.request(
        "POST",
        "/api/distribution/runs",
        json={
            "start": today[:4] + "-01-01",
            "end": today[:4] + "-12-31",
            "fee_percent": "10",
            "thresholds": {"KRW": "1"},
        },
    )
    assert r.status_code == 201, r.text
    run = r.json()["run"]

    # the admin opens a member's statement; not a non-member's, and a creator cannot use this route
    member = int(first["holder"].split(":")[1])
    (listed,) = org.request("GET", f"/api/org/members/{member}/statements").json()
    assert listed["run"] == run
    st = org.request("GET", f"/api/org/members/{member}/statements/{run}").json()
    assert st["holder"] == first["holder"] and all(ln["retroactive"] for ln in st["lines"])
    assert sum(ln["net"] for ln in st["lines"]) == 5850  # half of 13,000 less the 10 % fee
    html = org.request("GET", f"/api/org/members/{member}/statements/{run}", params={"format": "html", "lang": "ko"})
    assert html.status_code == 200 and "분배 명세서" in html.text
    outsider = int(third["holder"].split(":")[1])  # pending, never confirmed: not a member's statement to open
    assert org.request("GET", f"/api/org/members/{outsider}/statements").status_code == 404
    assert creator.request("GET", f"/api/org/members/{member}/statements").status_code == 403
