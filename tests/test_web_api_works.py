"""The JSON API for shaping a work (issue 14, item 2): titles and withdrawal (beside the per-work policy's
PUT /api/works/{work}/policy), with an API key as on every /api route, answered by the same service calls as
the pages (the work page shows what the API set)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from web_helpers import Session, make_app, text_file


def _world(app):
    poet = Session(app, "poet-api@example.com", "creator", "이시인")
    wid = poet.request("POST", "/api/works", files=[("files", ("바람.txt", text_file(41), "text/plain"))]).json()[
        "results"
    ][0]["work"]
    keys = {
        s: poet.request("POST", "/api/keys", json={"name": s, "scopes": [s]}).json()["key"] for s in ("read", "write")
    }
    return poet, wid, {s: {"Authorization": f"Bearer {k}"} for s, k in keys.items()}


def test_a_holder_shapes_her_work_with_an_api_key(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with TestClient(app) as machine:
        poet, wid, auth = _world(app)
        r = machine.put(
            f"/api/works/{wid}/titles",
            json={"title": "바람의 노래", "title_latin": "Song of the Wind"},
            headers=auth["write"],
        )
        assert r.status_code == 200, r.text
        assert r.json()["title"] == "바람의 노래" and r.json()["title_latin"] == "Song of the Wind"

        # deny training, a paid licence for generative AI at 3만원, written as people write it
        body = {"values": {"train-ai": "deny", "train-genai": "licence"}, "price": "3만원", "currency": "KRW"}
        assert machine.put(f"/api/works/{wid}/policy", json=body, headers=auth["write"]).status_code == 200
        d = machine.get(f"/api/works/{wid}/decision?category=train-genai", headers=auth["read"]).json()
        assert d["value"] == "licence" and "30000" in str(d), d
        assert machine.get(f"/api/works/{wid}/decision?category=train-ai").json()["value"] == "deny"
        page = poet.client.get(f"/works/{wid}", headers={"Accept-Language": "ko"}).text
        assert "바람의 노래" in page and "이용허락 필요(유료)" in page

        bad = machine.put(f"/api/works/{wid}/policy", json={**body, "price": "3만 원쯤"}, headers=auth["write"])
        assert bad.status_code in (400, 422) and "3만 원쯤" in bad.text, bad.text

        # a read-only key, no key, someone else: refused, nothing changed
        assert machine.put(f"/api/works/{wid}/titles", json={"title": "x"}, headers=auth["read"]).status_code == 403
        assert machine.put(f"/api/works/{wid}/titles", json={"title": "x"}).status_code == 401
        rival = Session(app, "rival-api@example.com", "creator", "김도용")
        assert rival.request("PUT", f"/api/works/{wid}/titles", json={"title": "내 것"}).status_code == 403
        assert rival.request("POST", f"/api/works/{wid}/withdrawal", json={"confirm": True}).status_code == 403
        assert machine.get(f"/api/works/{wid}/decision?category=train-genai").json()["value"] == "licence"

        # withdrawal must be confirmed; then every use is denied and the work is dated withdrawn
        assert machine.post(f"/api/works/{wid}/withdrawal", json={}, headers=auth["write"]).status_code == 422
        r = machine.post(f"/api/works/{wid}/withdrawal", json={"confirm": True}, headers=auth["write"])
        assert r.status_code == 200 and r.json()["withdrawn_at"], r.text
        for cat in ("train-genai", "search", "tdm"):
            assert machine.get(f"/api/works/{wid}/decision?category={cat}").json()["value"] == "deny", cat
