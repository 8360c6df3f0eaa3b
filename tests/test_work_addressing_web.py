"""A work's page, its sub-pages and its JSON mutations take every address the registry's one resolver takes
(issue 15, item 6): id, the organisation's work_ref (``?org=`` where two organisations use it), ISWC, ISRC,
ISBN; a reference naming two works is refused with the candidates (in Korean on a Korean page), an unknown
one is a 404 in words, and id URLs behave as before."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import update

from fairtrain.core.store.models import Work
from fairtrain.services.registry import import_csv
from web_helpers import Session, make_app, text_file

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
KO = {"Accept-Language": "ko"}


def _world(app, tmp_path):
    """The poet's uploaded work, KOMCA's ``K-1`` with an ISWC, ISRC and ISBN; KOSA's own work also ``K-1``."""
    poet = Session(app, "poet-addr@example.com", "creator", "이시인")
    wid = poet.request("POST", "/api/works", files=[("files", ("봄.txt", text_file(7), "text/plain"))]).json()[
        "results"
    ][0]["work"]
    reg = app.state.web.registry
    komca, kosa = reg.add_org("KOMCA"), reg.add_org("KOSA")
    with reg.engine.begin() as c:
        c.execute(
            update(Work)
            .where(Work.id == wid)
            .values(org_id=komca, work_ref="K-1", iswc="T0345246801", isrc="KRA401234567", isbn="9783161484100")
        )
    p = tmp_path / "kosa.csv"
    p.write_text(HEADER + "K-1,Other song,,Lee:composer:1,,,,,deny,,,,,\n", encoding="utf-8")
    assert import_csv(reg, p, org_id=kosa).imported
    key = poet.request("POST", "/api/keys", json={"name": "w", "scopes": ["write"]}).json()["key"]
    return poet, wid, reg.resolve_work("K-1", org="KOSA"), {"Authorization": f"Bearer {key}"}


def _main(html: str) -> str:
    """The page's own content (the header's language links carry the address it was reached by)."""
    return html.split('<main id="main">', 1)[1].split("</main>", 1)[0]


ADDRESSES = ("K-1?org=KOMCA", "T-034.524.680-1", "KR-A40-12-34567", "978-3-16-148410-0")


def test_pages_and_mutations_take_every_address_of_a_work(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with TestClient(app) as machine:
        poet, wid, other, auth = _world(app, tmp_path)
        by_id = poet.client.get(f"/works/{wid}", headers=KO)
        assert by_id.status_code == 200 and "봄" in by_id.text
        for ref in ADDRESSES:
            page = poet.client.get(f"/works/{ref}", headers=KO)
            assert page.status_code == 200 and _main(page.text) == _main(by_id.text), ref
            path, _, query = ref.partition("?")
            for sub in ("edit", "certificate"):
                r = poet.client.get(f"/works/{path}/{sub}" + (f"?{query}" if query else ""), headers=KO)
                assert r.status_code == 200 and f"/works/{wid}" in r.text, (ref, sub, r.text[:300])
            pdf = poet.client.get(f"/works/{path}/certificate.pdf" + (f"?{query}" if query else ""))
            assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), ref
            assert poet.client.get(f"/works/{path}/preview" + (f"?{query}" if query else "")).status_code == 200
            strip = poet.client.get(f"/works/{path}/strip.jpg" + (f"?{query}" if query else ""), headers=KO)
            assert strip.status_code == 404 and str(wid) in strip.text  # resolved: the work is not a video
        assert _main(poet.client.get(f"/works/{other}", headers=KO).text) != _main(by_id.text)

        # JSON mutations: resolve, then act on that work (and only it)
        r = machine.put("/api/works/K-1/titles?org=KOMCA", json={"title": "봄날"}, headers=auth)
        assert r.status_code == 200 and r.json()["id"] == wid and r.json()["title"] == "봄날", r.text
        r = machine.put("/api/works/KRA401234567/titles", json={"title": "봄밤"}, headers=auth)
        assert r.status_code == 200 and r.json()["id"] == wid, r.text
        assert app.state.web.registry.work(other)["title"] == "Other song"
        # KOSA's K-1 is not the poet's: refused as by its id
        assert machine.put("/api/works/K-1/titles?org=KOSA", json={"title": "x"}, headers=auth).status_code == 403
        r = machine.post("/api/works/9783161484100/withdrawal", json={"confirm": True}, headers=auth)
        assert r.status_code == 200 and r.json()["id"] == wid and r.json()["withdrawn_at"], r.text
        assert not app.state.web.registry.work(other).get("withdrawn_at")


def test_an_ambiguous_or_unknown_address_is_refused_in_words(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with TestClient(app) as machine:
        poet, wid, other, auth = _world(app, tmp_path)
        page = poet.client.get("/works/K-1", headers=KO)
        assert page.status_code == 409, page.text
        assert "작품이 여럿입니다" in page.text and "KOMCA" in page.text and "KOSA" in page.text
        assert f"#{wid}" in page.text and f"#{other}" in page.text
        assert poet.client.get("/works/K-1/edit", headers=KO).status_code == 409
        for mutation in (
            machine.put("/api/works/K-1/titles", json={"title": "x"}, headers=auth),
            machine.post("/api/works/K-1/withdrawal", json={"confirm": True}, headers=auth),
        ):
            assert mutation.status_code == 409 and "KOMCA" in mutation.text and "KOSA" in mutation.text
        reg = app.state.web.registry
        assert reg.work(wid)["title"] == "봄" and not reg.work(wid).get("withdrawn_at")

        for url in ("/works/K-404", "/works/K-1/edit?org=NOBODY", "/works/T-999.999.999-9/certificate"):
            r = poet.client.get(url, headers=KO)
            assert r.status_code == 404 and "찾을 수 없습니다" in r.text, (url, r.text[:300])
        r = machine.put("/api/works/K-404/titles", json={"title": "x"}, headers=auth)
        assert r.status_code == 404 and "K-404" in r.text, r.text
        # id URLs as before
        assert poet.client.get(f"/works/{wid}/edit", headers=KO).status_code == 200
        assert poet.client.get("/works/99999999", headers=KO).status_code == 404
