"""The work-shaping pages over HTTP (issue 14, item 2): who may, what the forms store, the co-holder's e-mail
link (a real SMTP server on 127.0.0.1, aiosmtpd), withdrawal, the preview and the certificate."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from conftest import make_image
from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Value
from fairtrain.web import create_app
from web_helpers import FAST_HASHER, Session

KO = {"Accept-Language": "ko"}


def _app(tmp_path, database_url, smtp_addr=None):
    return create_app(
        tmp_path / "data", database_url, password_hasher=FAST_HASHER, secret_key=b"test-secret", smtp=smtp_addr
    )


def _upload(s: Session, name: str, data: bytes) -> int:
    r = s.request("POST", "/api/works", files=[("files", (name, data, "image/jpeg"))])
    assert r.status_code == 201, r.text
    return r.json()["results"][0]["work"]


def _form(s: Session, url: str, **data):
    return s.client.post(url, data={"csrf": s.csrf, **data}, headers=KO, follow_redirects=False)


def test_only_holders_shape_a_work_and_the_forms_store_what_they_say(tmp_path, database_url):
    app = _app(tmp_path, database_url)
    with TestClient(app):
        poet = Session(app, "poet@example.kr", "creator", "이시인")
        other = Session(app, "other@example.kr", "creator", "남")
        wid = _upload(poet, "그림.jpg", make_image(7, size=(900, 700)))
        reg = app.state.web.registry
        for path in (f"/works/{wid}/edit", f"/works/{wid}/preview", f"/works/{wid}/certificate"):
            r = other.client.get(path, headers=KO)
            assert r.status_code == 403, path
        assert "권리자" in other.client.get(f"/works/{wid}/edit", headers=KO).text
        assert _form(other, f"/works/{wid}/titles", title="가로챈 제목").status_code == 403
        assert reg.work(wid)["title"] == "그림"
        # the preview was kept at registration and is hers to see
        r = poet.client.get(f"/works/{wid}/preview")
        assert r.status_code == 200 and r.headers["content-type"] == "image/png" and r.content[:4] == b"\x89PNG"
        # titles
        assert _form(poet, f"/works/{wid}/titles", title="", title_latin="x").status_code == 422
        r = _form(poet, f"/works/{wid}/titles", title="봄", title_latin="Spring")
        assert r.status_code == 303
        assert poet.client.get(f"/works/{wid}", headers={"Accept-Language": "en"}).text.count("Spring") >= 1
        assert "봄 (Spring)" in TestClient(app).get(f"/r/w/{wid}", headers=KO).text  # the public reservation page
        # per-work policy with a Korean price; a wrong price keeps what was typed
        form = {"v_train-ai": "deny", "v_train-genai": "licence", "v_tdm": "inherit", "currency": "KRW"}
        r = _form(poet, f"/works/{wid}/policy", price="삼만원", **form)
        assert r.status_code == 422 and 'value="삼만원"' in r.text and "가격" in r.text
        assert _form(poet, f"/works/{wid}/policy", price="3만원", **form).status_code == 303
        genai = reg.decide(wid, Category.TRAIN_GENAI)
        assert genai.value is Value.LICENCE and genai.offers[0].price == Money.parse("30000", "KRW")
        assert reg.decide(wid, Category.TRAIN_AI).value is Value.DENY
        page = poet.client.get(f"/works/{wid}/edit", headers=KO).text
        assert 'id="v_train-genai_licence" aria-label' in page and 'value="30000"' in page
        # no SMTP server here: inviting someone without an account says the e-mail could not go
        r = _form(poet, f"/works/{wid}/invite", email="nobody@example.kr", role="author", share="1/2")
        assert r.status_code == 303 and r.headers["location"].endswith("saved=unsent")
        assert 'id="invite-unsent"' in poet.client.get(r.headers["location"], headers=KO).text
        # the certificate, in Korean, as HTML and PDF
        html = poet.client.get(f"/works/{wid}/certificate", headers=KO).text
        assert "등록 증명서" in html and "봄" in html and f"/works/{wid}" in html
        pdf = poet.client.get(f"/works/{wid}/certificate.pdf", headers=KO)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        # withdrawal: a box to tick, then the work page says since when
        r = _form(poet, f"/works/{wid}/withdraw")
        assert r.status_code == 422 and "확인란" in r.text
        assert _form(poet, f"/works/{wid}/withdraw", confirm="yes").status_code == 303
        page = poet.client.get(f"/works/{wid}", headers=KO).text
        assert 'id="work-withdrawn"' in page and "철회됨" in page
        assert all(reg.decide(wid, c).value is Value.DENY for c in Category)
        r = _form(poet, f"/works/{wid}/titles", title="다시")
        assert r.status_code == 409 and "철회" in r.text
        page = poet.client.get(f"/works/{wid}/edit", headers=KO).text
        assert 'id="work-withdrawn"' in page and 'id="titles-form"' not in page and 'id="certificate-pdf"' in page


def test_a_co_holder_without_an_account_gets_a_single_use_link_by_e_mail(tmp_path, database_url, smtp):
    inbox = smtp
    app = _app(tmp_path, database_url, inbox.addr)
    with TestClient(app):
        poet = Session(app, "poet@example.kr", "creator", "이시인")
        wid = _upload(poet, "그림.jpg", make_image(8))
        r = _form(poet, f"/works/{wid}/invite", email="new@example.kr", role="photographer", share="2/3", keep="1/2")
        assert r.status_code == 422 and "지분" in r.text and 'value="new@example.kr"' in r.text
        assert (
            _form(poet, f"/works/{wid}/invite", email="new@example.kr", role="photographer", share="1/4").status_code
            == 303
        )
        ((rcpt, msg),) = inbox.wait(1)
        assert rcpt == ["new@example.kr"] and "이시인" in msg["Subject"]
        link = re.search(r"https?://\S+/invitations/t/\S+", msg.get_content()).group(0)
        path = link.split("://", 1)[1].split("/", 1)[1]
        page = TestClient(app).get("/" + path, headers=KO).text
        assert "가입" in page and "그림" in page
        # pending: listed, and the shares have not moved
        assert "new@example.kr" in poet.client.get(f"/works/{wid}/edit", headers=KO).text
        newcomer = Session(app, "new@example.kr", "creator", "새사람")
        r = newcomer.client.post("/" + path, data={"csrf": newcomer.csrf}, headers=KO, follow_redirects=False)
        assert r.status_code == 303
        shares = {h["name"]: h["share"] for h in app.state.web.registry.work(wid)["holders"]}
        assert shares == {"이시인": "3/4", "새사람": "1/4"}
        again = newcomer.client.post("/" + path, data={"csrf": newcomer.csrf}, headers=KO)
        assert again.status_code == 403 and "유효하지 않습니다" in again.text
