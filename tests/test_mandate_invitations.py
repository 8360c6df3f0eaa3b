"""Mandate invitations delivered (issue 15, item 3; issue 14, item 7): the organisation's "send the
invitation" mails the member a Korean e-mail (real SMTP server on 127.0.0.1, aiosmtpd) whose single-use link
confirms the mandate, a re-send replaces the token and is rate-limited, a member with an account also hears
in the app; and sign-up / sign-in follow a same-origin ``next`` back to the invitation, never another host.
SQLite, and PostgreSQL when configured."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from fairtrain.core.store.models import Holder
from fairtrain.core.vocab import Category
from fairtrain.services.notify import Mailer, Notifications
from fairtrain.services.registry import holder_ref
from fairtrain.services.registry import work_editing as we
from fairtrain.web.security import local_path
from web_helpers import PASSWORD, Session, make_app, text_file

KO = {"Accept-Language": "ko"}
CSV = (
    "work_ref,title,holders,tdm,train-genai,search,price,currency\n"
    "K-1,아리랑 변주곡,김작곡:composer:1/2;이작사:lyricist:1/2,,licence,allow,,\n"
).encode()


def _imported(app, org: Session) -> dict[str, dict]:
    app.state.web.registry.publish_tariff(org.org_id, {"currency": "KRW", "per_work": {"other": "10000"}})
    assert org.request("POST", "/api/org/import", files={"file": ("rep.csv", CSV, "text/csv")}).json()["imported"]
    reg = app.state.web.registry
    return {reg.find_holder(int(m["holder"].split(":")[1]))["name"]: m for m in reg.mandates(org_id=org.org_id)}


def _link_path(text: str) -> str:
    link = re.search(r"(http://testserver/mandates/\d+/confirm\?token=[\w-]+)", text)[1]
    return link.split("testserver", 1)[1]


def test_an_imported_member_gets_one_korean_e_mail_whose_link_confirms_and_a_resend_replaces_it(
    tmp_path, database_url, smtp
):
    inbox = smtp
    app = make_app(tmp_path, database_url)
    reg = app.state.web.registry
    app.state.web.mailer = Mailer(reg.engine, "127.0.0.1", inbox.port, "registry@fairtrain.test")
    anon = TestClient(app)
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    other = Session(app, "other@example.org", "org-admin", "Other CMO")
    members = _imported(app, org)
    kim, lee = members["김작곡"], members["이작사"]
    with reg.engine.begin() as c:  # the member's address, as the organisation keeps it
        c.execute(update(Holder).where(Holder.name == "김작곡").values(email="kim@example.kr"))

    r = org.request("POST", f"/org/mandates/{kim['id']}/invite", data={"csrf": org.csrf}, headers=KO)
    assert r.status_code == 200 and 'id="invitation-sent"' in r.text and "kim@example.kr 주소로" in r.text
    (to, msg), *rest = inbox.wait(1)
    assert not rest and to == ["kim@example.kr"]
    assert msg["Subject"] == "KOMCA에서 신탁(관리 위임) 동의를 요청합니다"
    body = msg.get_content()
    assert "생성형 AI" in body and "train-genai" not in body and "동의하거나 거절하세요" in body
    first = _link_path(body)
    page = anon.get(first, headers=KO)
    assert page.status_code == 200 and "KOMCA" in page.text and "김작곡" in page.text

    # another organisation may not send it (and does not spend its limit)
    r = other.request("POST", f"/org/mandates/{kim['id']}/invite", data={"csrf": other.csrf}, headers=KO)
    assert r.status_code == 403 and "초대는 해당 단체만" in r.text
    assert other.request("POST", f"/api/mandates/{kim['id']}/invite").status_code == 403

    # a re-send: a new token, the old link no longer works
    r = org.request("POST", f"/org/mandates/{kim['id']}/invite", data={"csrf": org.csrf}, headers=KO)
    assert r.status_code == 200 and 'id="invitation-sent"' in r.text
    second = _link_path(inbox.wait(2)[1][1].get_content())
    assert second != first and anon.get(first).status_code == 403
    assert anon.get(second).status_code == 200
    # a third, then the limit (3 an hour per mandate)
    assert org.request("POST", f"/org/mandates/{kim['id']}/invite", data={"csrf": org.csrf}).status_code == 200
    third = _link_path(inbox.wait(3)[2][1].get_content())
    r = org.request("POST", f"/org/mandates/{kim['id']}/invite", data={"csrf": org.csrf})
    assert r.status_code == 429 and len(inbox.messages) == 3
    token = third.split("token=")[1]
    r = anon.post(f"/mandates/{kim['id']}/confirm", data={"token": token, "answer": "confirm"}, headers=KO)
    assert r.status_code == 200 and 'id="mandate-done"' in r.text
    assert reg.mandate(kim["id"])["in_force"] and reg.mandate(kim["id"])["confirmation"] == "token"
    assert anon.get(second).status_code == 403

    # no address: the page says it was not sent, and still shows the link to pass on by hand
    r = org.request("POST", f"/org/mandates/{lee['id']}/invite", data={"csrf": org.csrf}, headers=KO)
    assert (
        'id="invitation-unsent"' in r.text and "이메일 주소가 없습니다" in r.text and 'id="invitation-link"' in r.text
    )
    # no SMTP configured: not sent, said so (the API says why)
    with reg.engine.begin() as c:
        c.execute(update(Holder).where(Holder.name == "이작사").values(email="lee@example.kr"))
    app.state.web.mailer = None
    r = org.request("POST", f"/org/mandates/{lee['id']}/invite", data={"csrf": org.csrf}, headers=KO)
    assert 'id="invitation-unsent"' in r.text and "메일 서버" in r.text
    out = org.request("POST", f"/api/mandates/{lee['id']}/invite").json()
    assert out["sent"] is False and out["reason"] == "no-smtp" and out["to"] == "lee@example.kr"
    assert len(inbox.messages) == 3


def test_a_member_with_an_account_hears_in_the_app_and_by_e_mail(tmp_path, database_url, smtp):
    inbox = smtp
    app = make_app(tmp_path, database_url)
    reg = app.state.web.registry
    app.state.web.mailer = Mailer(reg.engine, "127.0.0.1", inbox.port, "registry@fairtrain.test")
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    poet = Session(app, "poet@example.kr", "creator", "이시인")
    mid = reg.add_mandate(poet.holder_id, org.org_id, [Category.TRAIN_GENAI], pending=True)
    Notifications(reg.engine).set_preferences(poet.holder_id, language="en")  # she reads English
    out = org.request("POST", f"/api/mandates/{mid}/invite").json()
    assert out["sent"] and out["noticed"] and out["to"] == "poet@example.kr"
    (to, msg), *rest = inbox.wait(1)
    assert not rest and to == ["poet@example.kr"] and out["token"] in msg.get_content()
    assert msg["Subject"] == "KOMCA asks you to confirm its mandate" and "Training generative AI" in msg.get_content()
    notices = Notifications(reg.engine).list(poet.holder_id, "ko")
    assert [n["kind"] for n in notices] == ["mandate-invitation"]
    assert notices[0]["path"] == f"/mandates/{mid}/confirm" and out["token"] not in notices[0]["text"]
    assert "KOMCA" in notices[0]["title"] and notices[0]["email"] == "none"  # the e-mail went with the token
    # she opens the notice signed in and confirms without the token
    r = poet.request("POST", f"/mandates/{mid}/confirm", data={"csrf": poet.csrf, "answer": "confirm"})
    assert r.status_code == 200 and reg.mandate(mid)["confirmation"] == "holder"


@pytest.mark.parametrize(
    ("target", "safe"),
    [
        ("/invitations/t/abc", "/invitations/t/abc"),
        ("/mandates/3/confirm?token=x-y", "/mandates/3/confirm?token=x-y"),
        ("https://evil.example", None),
        ("//evil.example", None),
        ("/\\evil.example", None),
        ("evil.example", None),
        ("/ok\r\nSet-Cookie: x", None),
        ("", None),
    ],
)
def test_local_path_keeps_only_this_sites_paths(target, safe):
    assert local_path(target) == safe


def test_sign_up_and_sign_in_return_to_the_invitation_and_never_elsewhere(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    reg = app.state.web.registry
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    members = _imported(app, org)
    mid = members["김작곡"]["id"]
    token = reg.mandate_invitation(mid)
    back = f"/mandates/{mid}/confirm?token={token}"

    # signed out, the confirm page links to sign-up and sign-in carrying the way back
    newcomer = TestClient(app)
    page = newcomer.get(back, headers=KO).text
    href = re.search(r'id="mandate-signup" href="([^"]+)"|href="([^"]+)" id="mandate-signup"', page)
    signup_href = (href[1] or href[2]).replace("&amp;", "&")
    assert unquote(signup_href.split("next=", 1)[1]) == back
    form = newcomer.get(signup_href).text
    assert 'name="next"' in form and token in form
    r = newcomer.post(
        "/signup",
        data={"email": "kim@example.kr", "password": PASSWORD, "role": "creator", "name": "김작곡", "next": back},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == back
    assert newcomer.get(back, headers=KO).status_code == 200

    # sign-in follows a same-origin path; an absolute URL or //host leads home instead
    for target, where in ((back, back), ("https://evil.example", "/creator"), ("//evil.example", "/creator")):
        c = TestClient(app)
        assert ('name="next"' in c.get("/signin", params={"next": target}).text) == (where == back)
        r = c.post(
            "/signin",
            data={"email": "kim@example.kr", "password": PASSWORD, "next": target},
            follow_redirects=False,
        )
        assert r.status_code == 303 and r.headers["location"] == where, target
    c = TestClient(app)
    r = c.post(
        "/signup",
        data={"email": "x@example.kr", "password": PASSWORD, "role": "creator", "name": "X", "next": "//evil.example"},
        follow_redirects=False,
    )
    assert r.status_code == 303 and "evil" not in r.headers["location"]

    # a co-holder invitation opened signed out: the sign-up link leads straight back to it
    poet = Session(app, "poet@example.kr", "creator", "이시인")
    r = poet.request("POST", "/api/works", files=[("files", ("바람.txt", text_file(3), "text/plain"))])
    assert r.status_code == 201, r.text
    work = r.json()["results"][0]["work"]
    _, inv_token = we.invite(
        reg, work, holder_ref(poet.holder_id), email="friend@example.kr", role="author", share="1/2"
    )
    friend = TestClient(app)
    page = friend.get(f"/invitations/t/{inv_token}", headers=KO).text
    assert "이 초대로 바로 돌아옵니다" in page
    signup_href = re.search(r'href="(/signup[^"]+)" id="invitation-signup"', page)[1].replace("&amp;", "&")
    r = friend.post(
        "/signup",
        data={
            "email": "friend@example.kr",
            "password": PASSWORD,
            "role": "creator",
            "name": "친구",
            "next": unquote(signup_href.split("next=", 1)[1]),
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == f"/invitations/t/{inv_token}"
    r = friend.get(r.headers["location"], headers=KO)
    assert r.status_code == 200 and 'id="invitation-signin"' not in r.text


def test_mandates_add_pending_and_invite_mail_the_holder_when_smtp_is_given(cli, smtp):
    import json

    inbox = smtp
    cli("orgs", "add", "KOMCA")
    cli("holders", "add", "김작곡", "--email", "kim@example.kr")
    cli("holders", "add", "이작사")
    site = ("--site", "https://fairtrain.example")
    a = json.loads(
        cli(
            "mandates",
            "add",
            "--holder",
            "김작곡",
            "--org",
            "KOMCA",
            "--pending",
            "--smtp",
            inbox.addr,
            *site,
            "--json",
        ).stdout
    )
    (to, msg), *rest = inbox.wait(1)
    assert a["invitation"]["sent"] and not rest and to == ["kim@example.kr"]
    first = a["invitation"]["link"]
    assert (
        first.startswith(f"https://fairtrain.example/mandates/{a['id']}/confirm?token=") and first in msg.get_content()
    )
    # without a server nothing is sent (as before); a holder without an address is said so
    b = json.loads(cli("mandates", "add", "--holder", "이작사", "--org", "KOMCA", "--pending", "--json").stdout)
    assert "invitation" not in b
    out = cli("mandates", "invite", b["id"], "--smtp", inbox.addr).stdout
    assert "NOT sent: the holder has no e-mail address" in out and len(inbox.messages) == 1
    # a re-send replaces the token: the first link stops working, the new one confirms
    again = json.loads(cli("mandates", "invite", a["id"], "--smtp", inbox.addr, *site, "--json").stdout)
    assert len(inbox.wait(2)) == 2 and again["token"] in inbox.messages[1][1].get_content()
    old = first.split("token=")[1]
    refused = cli("mandates", "confirm", a["id"], "--token", old, code=1)
    assert "not valid" in str(refused.exception)
    ok = json.loads(cli("mandates", "confirm", a["id"], "--token", again["token"], "--json").stdout)
    assert ok["in_force"] and ok["confirmation"] == "token"
