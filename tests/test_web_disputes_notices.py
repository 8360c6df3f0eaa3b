"""Disputes a creator can answer, and the notices she hears about, in the app and by e-mail over a real
SMTP server on 127.0.0.1 (aiosmtpd)."""

from __future__ import annotations

import hashlib

from fastapi.testclient import TestClient

from fairtrain.services.notify import Mailer
from web_helpers import Session, free_port, make_app, text_file


def _two_creators(app):
    poet = Session(app, "poet@example.com", "creator", "이시인")
    rival = Session(app, "rival@example.com", "creator", "김도용")
    data = text_file(7)
    r = poet.request("POST", "/api/works", files=[("files", ("바람.txt", data, "text/plain"))])
    assert r.status_code == 201, r.text
    return poet, rival, data


def test_a_colliding_upload_says_disputed_in_korean_and_both_sides_answer(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with TestClient(app):
        poet, rival, data = _two_creators(app)
        r = rival.request(
            "POST", "/api/works", files=[("files", ("copy.txt", data, "text/plain"))], headers={"Accept-Language": "ko"}
        )
        res = r.json()["results"][0]
        assert res["status"] == "disputed" and res["disputes"]
        assert "바람" in res["notice"] and "이시인" in res["notice"] and "동일한 내용" in res["notice"]
        did = res["disputes"][0]

        # the work page says it in words, with the reason and a link to the dispute
        page = rival.client.get(f"/works/{res['work']}", headers={"Accept-Language": "ko"}).text
        assert "분쟁 중" in page and f"/disputes/{did}" in page and ">disputed<" not in page

        # each side sees the competing claim: title, date, parties; never the file or internal ids
        seen = poet.request("GET", f"/api/disputes/{did}").json()
        assert seen["me"] == "existing" and seen["claim"]["parties"] == ["김도용"]
        assert seen["existing"]["title"] == "바람" and "holder_ids" not in seen["claim"]
        assert seen["status"] == "open" and seen["age_days"] == 0

        # the newcomer answers with a certificate from elsewhere; the earlier author with a link
        cert = b"%PDF-1.4 registration certificate 2019"
        a = rival.request(
            "POST",
            f"/api/disputes/{did}/answers",
            data={"statement": "2019년에 먼저 썼습니다"},
            files={"file": ("certificate.pdf", cert, "application/pdf")},
        )
        assert a.status_code == 201, a.text
        sha = hashlib.sha256(cert).hexdigest()
        assert a.json()["evidence_sha256"] == sha
        assert (tmp_path / "data" / "evidence" / sha).read_bytes() == cert
        log = poet.client.get("/api/log/entries?start=0&count=100")
        if log.status_code == 200:
            assert sha in log.text
        page = poet.client.post(
            f"/disputes/{did}/answer",
            data={"csrf": poet.csrf, "link": "blog.naver.com/poet"},
            headers={"Accept-Language": "ko"},
        )
        assert page.status_code == 400 and "blog.naver.com/poet" in page.text  # kept what she typed
        page = poet.client.post(
            f"/disputes/{did}/answer",
            data={"csrf": poet.csrf, "link": "https://blog.naver.com/poet/2018", "statement": "2018년 발표"},
            headers={"Accept-Language": "ko"},
        )
        assert page.status_code == 200 and "2018년 발표" in page.text and "certificate.pdf" in page.text
        assert sha[:16] in page.text and "김도용" in page.text and "진술 내용" in page.text

        # a stranger sees nothing; a party cannot answer twice after resolution
        stranger = Session(app, "x@example.com", "creator", "남")
        assert stranger.request("GET", f"/api/disputes/{did}").status_code == 403
        assert stranger.request("POST", f"/api/disputes/{did}/answers", data={"statement": "x"}).status_code == 403
        empty = rival.request("POST", f"/api/disputes/{did}/answers", data={})
        assert empty.status_code == 400 and "statement, a link or an evidence file" in empty.text

        # both parties heard about the dispute and about each other's answer, in the app
        n = poet.request("GET", "/api/notifications", headers={"Accept-Language": "ko"}).json()
        assert n["unread"] == 2
        assert {i["event"] for i in n["items"]} == {"opened-existing", "answered"}
        assert any("김도용" in i["title"] for i in n["items"])
        assert rival.request("GET", "/api/notifications").json()["unread"] == 2
        creator = poet.client.get("/creator", headers={"Accept-Language": "ko"}).text
        assert 'id="bell-count">2<' in creator and f"/disputes/{did}" in creator


def test_the_registry_resolves_and_both_parties_are_notified(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with TestClient(app):
        poet, rival, data = _two_creators(app)
        res = rival.request("POST", "/api/works", files=[("files", ("c.txt", data, "text/plain"))]).json()["results"][0]
        did = res["disputes"][0]
        state = app.state.web
        state.registry.resolve_dispute(did, keep="existing", note="earlier evidence")
        for who, event in ((poet, "resolved"), (rival, "resolved")):
            items = who.request("GET", "/api/notifications", headers={"Accept-Language": "ko"}).json()["items"]
            assert items[0]["event"] == event and "먼저 등록된" in items[0]["text"]
        d = rival.request("GET", f"/api/disputes/{did}").json()
        assert d["status"] == "resolved" and d["claim"]["status"] == "rejected"
        late = rival.request("POST", f"/api/disputes/{did}/answers", data={"statement": "late"})
        assert late.status_code == 400 and "already resolved" in late.text


def test_preferences_choose_what_she_hears(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    with TestClient(app):
        poet = Session(app, "poet@example.com", "creator", "이시인")
        bad = poet.request("PUT", "/api/notifications/preferences", json={"email": ["dispute", "gossip"]})
        assert bad.status_code == 400 and "gossip" in bad.text and "email" in bad.text
        r = poet.request("PUT", "/api/notifications/preferences", json={"app": [], "email": [], "language": "ko"})
        assert r.json() == {"app": [], "email": [], "language": "ko"}
        rival = Session(app, "rival@example.com", "creator", "김도용")
        data = text_file(3)
        poet.request("POST", "/api/works", files=[("files", ("a.txt", data, "text/plain"))])
        rival.request("POST", "/api/works", files=[("files", ("b.txt", data, "text/plain"))])
        assert poet.request("GET", "/api/notifications").json() == {"unread": 0, "items": []}
        assert rival.request("GET", "/api/notifications").json()["unread"] == 1
        # the page form saves the same choice
        r = poet.client.post(
            "/notifications/preferences",
            data={"csrf": poet.csrf, "email_dispute": "on"},
            headers={"Accept-Language": "ko"},
        )
        assert r.status_code == 200 and "저장" in r.text
        assert poet.request("GET", "/api/notifications/preferences").json()["email"] == ["dispute"]


def test_korean_e_mail_arrives_for_a_dispute_over_real_smtp(tmp_path, database_url, smtp):
    inbox = smtp
    app = make_app(tmp_path, database_url)
    app.state.web.mailer = mailer = Mailer(
        app.state.web.registry.engine,
        "127.0.0.1",
        inbox.port,
        "registry@fairtrain.test",
        interval=0.2,
    )
    with TestClient(app):
        mailer.start()
        try:
            poet, rival, data = _two_creators(app)
            poet.request("PUT", "/api/notifications/preferences", json={"language": "ko"})
            rival.request("POST", "/api/works", files=[("files", ("c.txt", data, "text/plain"))])
            msgs = inbox.wait(2)
        finally:
            mailer.stop()
    by_rcpt = {rcpt[0]: m for rcpt, m in msgs}
    assert set(by_rcpt) == {"poet@example.com", "rival@example.com"}
    korean = by_rcpt["poet@example.com"]
    assert "다른 사람이" in korean["Subject"] and "바람" in korean["Subject"]
    assert "김도용" in korean.get_content() and "/disputes/" in korean.get_content()
    assert "collides" in by_rcpt["rival@example.com"]["Subject"]  # her rival kept English


def test_e_mail_retries_then_records_the_failure(tmp_path, database_url):
    from sqlalchemy import select

    from fairtrain.core.store.models import Notification

    app = make_app(tmp_path, database_url)
    with TestClient(app):
        poet, rival, data = _two_creators(app)
        rival.request("POST", "/api/works", files=[("files", ("c.txt", data, "text/plain"))])
    engine = app.state.web.registry.engine
    dead = Mailer(engine, "127.0.0.1", free_port(), "r@fairtrain.test", timeout=2, backoff=0)
    first = dead.send_pending()
    assert first["retried"] == 2 and first["sent"] == 0
    for _ in range(4):
        dead.send_pending()
    with engine.connect() as c:
        rows = c.execute(select(Notification.email_status, Notification.email_attempts, Notification.email_error)).all()
    assert {(r.email_status, r.email_attempts) for r in rows} == {("failed", 5)}
    assert all("Connection" in r.email_error or "refused" in r.email_error.lower() for r in rows)


def test_korean_e_mail_arrives_for_a_licence_request(tmp_path, database_url, smtp):
    from fairtrain.core.money import Money
    from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Value
    from fairtrain.services.ledger.licensing import Licensing

    inbox = smtp
    app = make_app(tmp_path, database_url)
    with TestClient(app):
        poet = Session(app, "poet@example.com", "creator", "이시인")
        poet.request("PUT", "/api/notifications/preferences", json={"language": "ko"})
        wid = poet.request("POST", "/api/works", files=[("files", ("a.txt", text_file(5), "text/plain"))]).json()[
            "results"
        ][0]["work"]
    reg = app.state.web.registry
    party = f"holder:{poet.holder_id}"
    reg.declare(
        level=Level.WORK,
        target_id=wid,
        party=party,
        values={Category.TRAIN_GENAI: Value.LICENCE},
        offer=Offer(PriceModel.PER_WORK, Money.parse("30000", "KRW")),
    )
    quote = {
        "licensee": "모델회사",
        "purpose": "train-genai",
        "groups": [{"party": party, "works": [{"work_id": wid}]}],
    }
    Licensing(reg).request(quote)
    mailer = Mailer(reg.engine, "127.0.0.1", inbox.port, "registry@fairtrain.test")
    assert mailer.send_pending()["sent"] == 1
    ((rcpt, msg),) = inbox.wait(1)
    assert rcpt == ["poet@example.com"]
    assert "모델회사" in msg["Subject"] and "라이선스" in msg["Subject"]
    assert "₩30,000" in msg.get_content()
