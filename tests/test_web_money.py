"""The money side and transparency over the web: a developer requests licences from a quote, the creator
(or the organisation it mandated) answers, the developer files a usage report signed with its own key,
the organisation runs a distribution and the creator reads the statement; the public asks "was my work
used?" and reads model summaries. Each step also checks that nobody else sees or changes it."""

from __future__ import annotations

import json
from datetime import date

from fastapi.testclient import TestClient

from fairtrain.core.keys import SigningKey, sign_document
from fairtrain.core.money import Money
from fairtrain.services.ledger.licensing import Licensing
from fairtrain.services.log import Entry, Log
from test_transparency_lookup import published  # noqa: F401
from web_helpers import Session, make_app, text_file


def _quote(work_id: int, holder: int, minor: int = 50000) -> bytes:
    return json.dumps(
        {
            "licensee": "someone-else",
            "purpose": "train-genai",
            "works": 1,
            "groups": [
                {
                    "party": f"holder:{holder}",
                    "works": [{"work_id": work_id}],
                    "total": {"KRW": Money("KRW", minor).to_dict()},
                }
            ],
        }
    ).encode()


def _world(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    w = {"app": app, "public": TestClient(app)}
    for name, email, role in (
        ("a", "a@example.org", "creator"),
        ("b", "b@example.org", "creator"),
        ("org", "o@example.org", "org-admin"),
        ("org_p", "p@example.org", "org-admin"),
        ("dev", "d@example.org", "developer"),
        ("dev2", "e@example.org", "developer"),
    ):
        w[name] = Session(app, email, role, name.upper())
    for name, seed in (("a", 1), ("b", 2)):
        r = w[name].request("POST", "/api/works", files=[("files", (f"{name}.txt", text_file(seed), "text/plain"))])
        assert r.status_code == 201, r.text
        w[name + "_work"] = r.json()["results"][0]["work"]
        r = w[name].request(
            "PUT",
            f"/api/works/{w[name + '_work']}/policy",  # the offer a licence is priced from
            json={"values": {"train-genai": "licence"}, "price": "50000", "currency": "KRW"},
        )
        assert r.status_code == 200, r.text
    return w


def _request(w, who="dev", work="a_work", holder="a", minor=50000) -> int:
    r = w[who].request(
        "POST",
        "/api/licences/requests",
        files={"quote": ("licence-quote.json", _quote(w[work], w[holder].holder_id, minor))},
    )
    assert r.status_code == 201, r.text
    (lid,) = r.json()["licences"]
    return lid


def _report(lid: int, dev: Session, key: SigningKey, idem: str, **extra) -> dict:
    doc = {
        "format": "fairtrain-usage-report/1",
        "idempotency_key": idem,
        "licensee": f"developer:{dev.user['id']}",
        "model": "dev-7b",
        "version": "1.0",
        "licences": [lid],
        **extra,
    }
    return sign_document(doc, key)


def test_licence_request_answer_invoice_and_usage_report(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    lid = _request(w)
    mine = w["dev"].request("GET", "/api/licences").json()
    assert [(x["id"], x["status"], x["licensee"]) for x in mine] == [
        (lid, "requested", f"developer:{w['dev'].user['id']}")
    ]
    assert w["dev2"].request("GET", "/api/licences").json() == []
    assert w["dev2"].request("GET", f"/api/licences/{lid}").status_code == 404
    assert [x["id"] for x in w["a"].request("GET", "/api/licences").json()] == [lid]
    assert w["b"].request("GET", "/api/licences").json() == []

    # a bad quote is refused with the reason; someone else's quote cannot be answered by B
    r = w["dev"].request("POST", "/api/licences/requests", files={"quote": ("q.json", b"{not json")})
    assert r.status_code == 400 and "not JSON" in r.json()["detail"]
    r = w["dev"].request(
        "POST",
        "/api/licences/requests",
        files={
            "quote": (
                "q.json",
                json.dumps(
                    {
                        "groups": [
                            {
                                "party": "holder:1",
                                "works": [{"work_id": 999999}],
                                "total": {"KRW": {"currency": "KRW", "minor": 1}},
                            }
                        ]
                    }
                ).encode(),
            )
        },
    )
    assert r.status_code == 400 and "999999" in r.json()["detail"]
    assert w["b"].request("POST", f"/api/licences/{lid}/accept", json={}).status_code == 404
    r = w["a"].request("POST", f"/api/licences/{lid}/accept", json={"collective": True})
    assert r.status_code == 403 and "organisation" in r.json()["detail"]

    r = w["a"].request("POST", f"/api/licences/{lid}/accept", json={})
    assert r.status_code == 200, r.text
    grant = r.json()["grant"]
    assert grant["grantor"] == f"holder:{w['a'].holder_id}" and grant["signature"]["alg"] == "Ed25519"
    assert w["a"].request("POST", f"/api/licences/{lid}/accept", json={}).status_code == 400  # already granted
    (inv,) = w["dev"].request("GET", "/api/invoices").json()
    assert inv["licence"] == lid and inv["amount"]["minor"] == 50000 and inv["status"] == "open"
    assert w["dev2"].request("GET", "/api/invoices").json() == []
    assert w["a"].request("GET", "/api/invoices").status_code == 403

    # a declined request (the quote's 1000 KRW is the developer's claim: the price is A's offer)
    lid2 = _request(w, minor=1000)
    assert w["dev"].request("GET", f"/api/licences/{lid2}").json()["price"]["minor"] == 50000
    assert w["a"].request("POST", f"/api/licences/{lid2}/decline", json={"note": "no"}).json()["status"] == "declined"

    # usage reports: signed by the developer's own key, for its own licences, pinned to the first key
    key = SigningKey.generate()
    dev = w["dev"]
    bad = _report(lid, dev, key, "r0")
    bad["model"] = "tampered"
    r = dev.request("POST", "/api/usage-reports", json=bad)
    assert r.status_code == 400 and "signature" in r.json()["detail"]
    r = dev.request(
        "POST",
        "/api/usage-reports",
        json=sign_document({**_report(lid, dev, key, "r0"), "licensee": "developer:999"}, key),
    )
    assert r.status_code == 403 and "licensee" in r.json()["detail"]
    r = w["dev2"].request("POST", "/api/usage-reports", json=_report(lid, w["dev2"], key, "r0"))
    assert r.status_code == 403 and "licences" in r.json()["detail"]  # dev's licence, not dev2's
    doc = _report(lid, dev, key, "r1", weights={str(w["a_work"]): 10})
    first = dev.request("POST", "/api/usage-reports", json=doc)
    assert first.status_code == 201 and first.json()["duplicate"] is False, first.text
    again = dev.request("POST", "/api/usage-reports", json=doc)
    assert again.json() == {"report": first.json()["report"], "duplicate": True}
    r = dev.request("POST", "/api/usage-reports", json=_report(lid, dev, SigningKey.generate(), "r2"))
    assert r.status_code == 403 and "pinned" in r.json()["detail"]
    assert [x["idempotency_key"] for x in dev.request("GET", "/api/usage-reports").json()] == ["r1"]
    assert w["dev2"].request("GET", "/api/usage-reports").json() == []


def test_nobody_grants_a_licence_for_someone_elses_work(tmp_path, database_url):
    """Issue 12, item 3: a quote naming B as the party for A's work at 1 KRW is refused; the server never
    signs a grant covering A's work for B, logs it or invoices it to B."""
    w = _world(tmp_path, database_url)
    r = w["dev"].request(
        "POST",
        "/api/licences/requests",
        files={"quote": ("licence-quote.json", _quote(w["a_work"], w["b"].holder_id, minor=1))},
    )
    assert r.status_code == 403, r.text
    assert f"holder:{w['b'].holder_id} may not answer for works [{w['a_work']}]" in r.json()["detail"]
    assert w["b"].request("GET", "/api/licences").json() == [] and w["dev"].request("GET", "/api/licences").json() == []
    assert w["dev"].request("GET", "/api/invoices").json() == []


def test_organisation_answers_for_its_members_and_runs_a_distribution(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    r = w["a"].request("POST", "/api/mandates", json={"org_id": w["org"].org_id, "categories": ["train-ai"]})
    assert r.status_code == 201
    lid = _request(w)
    assert [x["id"] for x in w["org"].request("GET", "/api/licences").json()] == [lid]
    assert w["org_p"].request("GET", "/api/licences").json() == []
    assert w["org_p"].request("POST", f"/api/licences/{lid}/accept", json={}).status_code == 404
    r = w["org"].request(
        "POST", f"/api/licences/{lid}/accept", json={"collective": True, "price": "80000", "currency": "KRW"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["grant"]["price_model"] == "collective" and r.json()["grant"]["price"]["minor"] == 80000
    (inv,) = w["dev"].request("GET", "/api/invoices").json()
    assert inv["amount"]["minor"] == 80000 and inv["grantor"] == f"org:{w['org'].org_id}"
    Licensing(w["app"].state.web.registry).record_payment(inv["id"], Money("KRW", 80000), reference="BANK-1")

    today = date.today().isoformat()
    body = {
        "start": today[:4] + "-01-01",
        "end": today[:4] + "-12-31",
        "fee_percent": "10",
        "thresholds": {"KRW": "1000"},
    }
    assert w["a"].request("POST", "/api/distribution/runs", json=body).status_code == 403
    r = w["org"].request("POST", "/api/distribution/runs", json={**body, "fee_percent": "150"})
    assert r.status_code == 400 and "between 0 and 100" in r.json()["detail"]
    r = w["org"].request("POST", "/api/distribution/runs", json=body)
    assert r.status_code == 201, r.text
    run = r.json()["run"]
    runs = w["org"].request("GET", "/api/distribution/runs").json()
    assert [x["id"] for x in runs] == [run] and runs[0]["formula"]["fee_bp"] == {f"org:{w['org'].org_id}": 1000}
    assert w["org_p"].request("GET", "/api/distribution/runs").json() == []
    assert w["org"].request("GET", f"/api/distribution/runs/{run}/recompute").json()["identical"] is True
    assert w["org_p"].request("GET", f"/api/distribution/runs/{run}/recompute").status_code == 404

    (st,) = w["a"].request("GET", "/api/statements").json()
    assert st["run"] == run
    (total,) = st["totals"]
    assert (total["gross"], total["net"]) == (80000, 72000)  # the organisation's 10 % fee
    assert w["b"].request("GET", "/api/statements").json() == []
    assert w["b"].request("GET", f"/api/statements/{run}").status_code == 404
    full = w["a"].request("GET", f"/api/statements/{run}").json()
    assert full["holder"] == f"holder:{w['a'].holder_id}" and full["lines"][0]["net"] == 72000
    csv = w["a"].request("GET", f"/api/statements/{run}", params={"format": "csv"})
    assert csv.headers["content-type"].startswith("text/csv") and ",72000" in csv.text
    ko = w["a"].request("GET", f"/api/statements/{run}", params={"format": "html", "lang": "ko"})
    assert "분배 명세서" in ko.text and "72000 KRW" in ko.text
    en = w["a"].request("GET", f"/api/statements/{run}", params={"format": "html", "lang": "en"})
    assert "Statement" in en.text and "분배" not in en.text


def test_public_lookup_and_summaries(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    r = w["public"].post("/api/lookup", files={"file": ("mine.txt", text_file(1), "text/plain")})
    assert r.status_code == 200 and r.json()["clearances"] == 0 and r.json()["used"] is False
    r = w["public"].post("/api/lookup", files={"file": ("empty.txt", b"", "text/plain")})
    assert r.status_code == 400 and "empty" in r.json()["detail"]
    assert not (w["app"].state.web.data_dir / "uploads").exists() or not any(
        (w["app"].state.web.data_dir / "uploads").iterdir()
    )  # never stored
    assert w["public"].get("/api/summaries").json() == []
    Log(w["app"].state.web.registry.engine).append(
        [
            Entry(
                "summary",
                {
                    "model": "acme-7b",
                    "version": "1.0",
                    "provider": "Acme",
                    "format": "html",
                    "lang": "ko",
                    "sha256": "ab" * 32,
                    "clearances": [],
                },
                subject="model:acme-7b@1.0",
            )
        ]
    )
    (s,) = w["public"].get("/api/summaries").json()
    assert (s["model"], s["provider"], s["lang"]) == ("acme-7b", "Acme", "ko")


def _form(s: Session, url: str, data: dict | None = None, files=None, lang: str = "en"):
    s.client.cookies.set("ft_lang", lang)
    return s.client.post(url, data={"csrf": s.csrf, **(data or {})}, files=files, follow_redirects=True)


def test_pages_in_english_and_korean(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    dev, a = w["dev"], w["a"]
    r = _form(dev, "/money/quote", files={"quote": ("licence-quote.json", _quote(w["a_work"], a.holder_id))})
    assert r.status_code == 200 and 'id="done"' in r.text and "₩50,000" in r.text
    (lid,) = [x["id"] for x in dev.request("GET", "/api/licences").json()]
    a.client.cookies.set("ft_lang", "ko")
    page = a.client.get("/money")
    assert "받은 이용허락 요청" in page.text and f'action="/money/licences/{lid}/accept"' in page.text
    assert "요청됨" in page.text
    assert w["b"].client.get("/money").text.count("/accept") == 0  # B sees no request of A's
    r = a.client.post(f"/money/licences/{lid}/accept", data={})  # no CSRF token: refused
    assert r.status_code == 403
    r = _form(a, f"/money/licences/{lid}/accept", lang="ko")
    assert r.status_code == 200 and "허락됨" in r.text

    key = SigningKey.generate()
    r = _form(dev, "/money/usage-report", {"document": json.dumps(_report(lid, dev, key, "page-1"))})
    assert r.status_code == 200 and "Usage report filed" in r.text and key.public.key_id in r.text
    r = _form(dev, "/money/usage-report", {"document": "{oops"})
    assert r.status_code == 400 and "not JSON" in r.text

    (inv,) = dev.request("GET", "/api/invoices").json()
    Licensing(w["app"].state.web.registry).record_payment(inv["id"], Money("KRW", 50000), reference="P-1")
    year = date.today().year
    r = _form(
        w["org"],
        "/money/runs",
        {"start": f"{year}-01-01", "end": f"{year}-12-31", "fee_percent": "0", "threshold": "1000", "currency": "KRW"},
    )
    assert r.status_code == 200 and "Distribution run started" in r.text
    for lang, heading in (("en", "Statements"), ("ko", "분배 명세서")):
        a.client.cookies.set("ft_lang", lang)
        page = a.client.get("/money").text
        assert heading in page and "<svg" in page and "50000 KRW" in page
        assert page.count("<script") == page.count('<script src="/static/')  # the chart brings no script of its own

    w["public"].cookies.set("ft_lang", "ko")
    r = w["public"].post("/used", files={"file": ("mine.txt", text_file(1), "text/plain")})
    assert r.status_code == 200 and "아직 로그에 게시된 권리 확인이 없습니다." in r.text
    w["public"].cookies.set("ft_lang", "en")
    assert "No model summary published yet." in w["public"].get("/summaries").text
    assert w["public"].get("/money", follow_redirects=False).status_code == 401


def test_lookup_against_published_clearances(published, database_url):  # noqa: F811
    """The CLI's two published clearances, published to the server by a developer (POST /api/clearances,
    what `record-clearance --to` sends): the web lookup answers like `fairtrain lookup`, and nothing of the
    uploaded file is kept."""
    run, tmp, a, b = published
    app = make_app(tmp, database_url)
    dev = Session(app, "dev@example.org", "developer", "acme-ai")
    key = dev.request("POST", "/api/keys", json={"name": "ci", "scopes": ["read", "write"]}).json()["key"]
    for name in ("out-a", "out-b"):
        files = {
            f: (n, (tmp / name / n).read_bytes())
            for f, n in (
                ("manifest", "manifest.json"),
                ("leaves_works", "leaves-works.parquet"),
                ("leaves_items", "leaves-items.parquet"),
                ("decisions", "decisions.parquet"),
            )
        }
        r = TestClient(app).post("/api/clearances", files=files, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 201, r.text
    client = TestClient(app)
    before = sorted(p.name for p in (tmp / "data").rglob("*"))
    r = client.post("/api/lookup", files={"file": ("free.txt", (tmp / "works" / "free.txt").read_bytes())})
    assert r.status_code == 200, r.text
    ans = r.json()
    by = {x["log_index"]: x for x in ans["answers"]}
    assert ans["used"] and ans["clearances"] == 2 and by[a]["included"] and by[b]["included"]
    assert by[b]["models"] == ["acme-7b"] and by[a]["works"][0]["coverage"]["licence"].startswith("not needed")
    lic = {
        x["log_index"]: x
        for x in client.post(
            "/api/lookup", files={"file": ("licensed.txt", (tmp / "works" / "licensed.txt").read_bytes())}
        ).json()["answers"]
    }
    assert lic[a]["included"] is False and lic[b]["works"][0]["coverage"]["licence"] == "licence granted to acme-ai"
    assert sorted(p.name for p in (tmp / "data").rglob("*")) == before  # fingerprinted in memory only
    client.cookies.set("ft_lang", "ko")
    page = client.post("/used", files={"file": ("denied.txt", (tmp / "works" / "denied.txt").read_bytes())})
    assert "게시된 어떤 권리 확인에도 저작물이 들어 있지 않습니다." in page.text
