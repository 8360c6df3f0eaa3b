"""Sessions end on the server (issue 12, item 16), and per-client limits trust X-Forwarded-For only from
configured proxies (item 17)."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from web_helpers import PASSWORD, Session, make_app, served


@pytest.fixture
def app(tmp_path, database_url):
    return make_app(tmp_path, database_url)


def _replay(app, cookie: str) -> TestClient:
    """Another client holding a copy of a session cookie (a stolen or kept copy)."""
    c = TestClient(app)
    c.cookies.set("ft_session", cookie)
    return c


def test_signing_out_ends_the_session_for_every_copy_of_its_cookie(app):
    s = Session(app, "kim@example.org", "creator", "Kim")
    kept = s.client.cookies.get("ft_session")
    assert _replay(app, kept).get("/api/me").status_code == 200
    assert s.request("POST", "/api/auth/signout").json() == {"signed_out": True}
    old = _replay(app, kept)
    assert old.get("/api/me").status_code == 401  # the old code still answered with the account
    # nor can the old cookie (with its CSRF token) mint a read/write API key
    r = old.post("/api/keys", json={"name": "k", "scopes": ["read", "write"]}, headers={"X-CSRF-Token": s.csrf})
    assert r.status_code == 401
    from fairtrain.core.store.models import WebSession

    with app.state.web.registry.engine.connect() as c:
        rows = c.execute(select(WebSession.token_hash, WebSession.revoked_at)).all()
    assert len(rows) == 1 and rows[0].revoked_at is not None
    assert len(rows[0].token_hash) == 64 and rows[0].token_hash not in kept  # only a hash of the token is stored
    # signing in again starts a new session and clears the ended one away: the table stays small
    assert s.client.post("/api/auth/signin", json={"email": "kim@example.org", "password": PASSWORD}).status_code == 200
    with app.state.web.registry.engine.connect() as c:
        assert c.execute(select(WebSession.revoked_at)).scalars().all() == [None]


def test_the_sign_out_form_ends_the_session_too(app):
    s = Session(app, "lee@example.org", "developer", "Lee")
    kept = s.client.cookies.get("ft_session")
    r = s.client.post("/signout", data={"csrf": s.csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert _replay(app, kept).get("/api/me").status_code == 401


def test_a_password_change_ends_every_other_session_and_keeps_this_one(app):
    s = Session(app, "park@example.org", "creator", "Park")
    laptop = TestClient(app)
    assert laptop.post("/api/auth/signin", json={"email": "park@example.org", "password": PASSWORD}).status_code == 200
    kept = s.client.cookies.get("ft_session")
    r = s.request("POST", "/api/auth/password", json={"current_password": "not it at all", "new_password": "x" * 12})
    assert r.status_code == 401 and "current password" in r.json()["detail"]
    r = s.request("POST", "/api/auth/password", json={"current_password": PASSWORD, "new_password": "short"})
    assert r.status_code == 400 and "at least" in r.json()["detail"]
    r = s.request("POST", "/api/auth/password", json={"current_password": PASSWORD, "new_password": "a new passphrase"})
    assert r.status_code == 200, r.text
    assert laptop.get("/api/me").status_code == 401  # the other browser is signed out
    assert _replay(app, kept).get("/api/me").status_code == 401  # and so is the old cookie of this one
    s.csrf = r.json()["csrf"]
    assert s.request("GET", "/api/me").json()["user"]["email"] == "park@example.org"  # the new session works
    anon = TestClient(app)
    assert anon.post("/api/auth/signin", json={"email": "park@example.org", "password": PASSWORD}).status_code == 401
    assert (
        anon.post("/api/auth/signin", json={"email": "park@example.org", "password": "a new passphrase"}).status_code
        == 200
    )


def test_sign_out_everywhere_ends_all_sessions_of_the_account_only(app):
    s = Session(app, "choi@example.org", "org-admin", "KOSCAP")
    other = Session(app, "jung@example.org", "creator", "Jung")
    phone = TestClient(app)
    assert phone.post("/api/auth/signin", json={"email": "choi@example.org", "password": PASSWORD}).status_code == 200
    r = s.request("POST", "/api/auth/signout-everywhere")
    assert r.json() == {"signed_out": True, "sessions_ended": 2}
    assert phone.get("/api/me").status_code == 401
    assert s.client.get("/api/me").status_code == 401
    assert other.request("GET", "/api/me").status_code == 200  # someone else's session is untouched


# -- X-Forwarded-For --------------------------------------------------------------------------------


def test_the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy():
    from fairtrain.web.security import client_address, parse_proxies

    none = parse_proxies([])
    proxies = parse_proxies(["10.0.0.0/8", "::1"])
    assert client_address("203.0.113.9", "198.51.100.1", none) == "203.0.113.9"  # header from an untrusted peer
    assert client_address("10.0.0.5", "198.51.100.1", proxies) == "198.51.100.1"
    # a client's own forged entries stay left of what the trusted proxy appended
    assert client_address("10.0.0.5", "1.2.3.4, 198.51.100.1", proxies) == "198.51.100.1"
    assert client_address("10.0.0.5", "1.2.3.4, 198.51.100.1, 10.1.1.1", proxies) == "198.51.100.1"
    assert client_address("::1", None, proxies) == "::1"
    with pytest.raises(ValueError, match="trusted proxy 'nonsense'"):
        parse_proxies(["nonsense"])


def _sign_up_codes(base: str, n: int, forwarded: bool) -> list[int]:
    with httpx.Client(base_url=base, timeout=30) as c:
        # malformed emails: refused (400) right after the per-client limit (10 an hour by default) is counted
        return [
            c.post(
                "/api/auth/signup",
                json={"email": f"not an email {i}", "password": "x" * 12, "role": "creator", "name": "N"},
                headers={"X-Forwarded-For": f"198.51.100.{i}"} if forwarded else {},
            ).status_code
            for i in range(n)
        ]


def test_a_real_server_ignores_x_forwarded_for_from_an_untrusted_peer(tmp_path, database_url):
    with served(tmp_path / "data", database_url) as server:
        codes = _sign_up_codes(server.base, 11, forwarded=True)
    assert codes == [400] * 10 + [429]  # the old server counted 11 different clients


def test_a_real_server_behind_a_configured_proxy_limits_each_forwarded_client(tmp_path, database_url):
    with served(tmp_path / "data", database_url, "--trusted-proxy", "127.0.0.1") as server:
        assert _sign_up_codes(server.base, 11, forwarded=True) == [400] * 11  # 11 clients, one attempt each
        assert _sign_up_codes(server.base, 1, forwarded=False) == [400]  # the proxy itself is a client too
