"""The authorisation matrix: every API endpoint × every role × own or someone else's resource, on SQLite
and (with FAIRTRAIN_TEST_POSTGRES_URL) PostgreSQL."""

from __future__ import annotations

from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from web_helpers import Session, make_app, text_file

CSV_HEADER = "work_ref,title,holders,iswc,tdm\n"


def _world(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    w = {"app": app, "public": TestClient(app)}
    w["creator"] = Session(app, "a@example.org", "creator", "Creator A")
    w["creator_b"] = Session(app, "b@example.org", "creator", "Creator B")
    w["org"] = Session(app, "o@example.org", "org-admin", "Org O")
    w["org_p"] = Session(app, "p@example.org", "org-admin", "Org P")
    w["developer"] = Session(app, "d@example.org", "developer", "Dev D")
    for name, seed in (("creator", 1), ("creator_b", 2)):
        r = w[name].request("POST", "/api/works", files=[("files", (f"{name}.txt", text_file(seed), "text/plain"))])
        assert r.status_code == 201 and r.json()["stored"] == 1, r.text
        w[name + "_work"] = r.json()["results"][0]["work"]
        r = w[name].request(
            "PUT",
            f"/api/works/{w[name + '_work']}/policy",  # the offer licences are priced from
            json={"values": {"train-genai": "licence"}, "price": "50000", "currency": "KRW"},
        )
        assert r.status_code == 200, r.text
    r = w["creator"].request(
        "POST", "/api/mandates", json={"org_id": w["org"].org_id, "categories": ["train-ai", "search"]}
    )
    assert r.status_code == 201, r.text
    # Two imports claiming one ISWC open a dispute inside org O's repertoire.
    for ref in ("K-1", "K-2"):
        csv = CSV_HEADER + f"{ref},Song {ref},Member M:composer:1,T-034.524.680-1,deny\n"
        r = w["org"].request("POST", "/api/org/import", files={"file": ("r.csv", csv.encode(), "text/csv")})
        assert r.status_code == 200 and r.json()["imported"], r.text
    disputes = w["org"].request("GET", "/api/disputes").json()
    assert len(disputes) == 1
    w["dispute"] = disputes[0]["id"]
    for name in ("creator", "creator_b", "org", "developer"):
        r = w[name].request("POST", "/api/keys", json={"name": "k", "scopes": ["read", "write"]})
        assert r.status_code == 201
        w[name + "_key"] = r.json()["id"]
    _money_world(w)
    return w


def _quote(work_id: int, holder: int) -> bytes:
    import json

    return json.dumps(
        {
            "groups": [
                {
                    "party": f"holder:{holder}",
                    "works": [{"work_id": work_id}],
                    "total": {"KRW": {"currency": "KRW", "minor": 50000}},
                }
            ]
        }
    ).encode()


def _request_licence(session, work_id: int, holder: int) -> int:
    r = session.request("POST", "/api/licences/requests", files={"quote": ("q.json", _quote(work_id, holder))})
    assert r.status_code == 201, r.text
    return r.json()["licences"][0]


def _money_world(w) -> None:
    """A licence granted by A, paid, and a distribution run by O (A's statement); a run by P; a licence
    another developer asked of B."""
    from fairtrain.core.money import Money
    from fairtrain.services.ledger.licensing import Licensing

    w["developer_b"] = Session(w["app"], "e@example.org", "developer", "Dev E")
    lid = _request_licence(w["developer"], w["creator_work"], w["creator"].holder_id)
    assert w["creator"].request("POST", f"/api/licences/{lid}/accept", json={}).status_code == 200
    w["licence"] = lid
    (inv,) = w["developer"].request("GET", "/api/invoices").json()
    Licensing(w["app"].state.web.registry).record_payment(inv["id"], Money("KRW", 50000), reference="B-1")
    w["licence_b"] = _request_licence(w["developer_b"], w["creator_b_work"], w["creator_b"].holder_id)
    from datetime import date

    year = date.today().year
    run = {"start": f"{year}-01-01", "end": f"{year}-12-31", "fee_percent": "5"}
    w["run"] = w["org"].request("POST", "/api/distribution/runs", json=run).json()["run"]
    # P's run of an earlier, empty period: nothing of O's in it (a run splitting O's money would be O's too)
    r = w["org_p"].request("POST", "/api/distribution/runs", json={"start": "2020-01-01", "end": "2020-12-31"})
    assert r.status_code == 201, r.text
    w["run_p"] = r.json()["run"]


POLICY = {"values": {"train-ai": "deny", "search": "allow"}}
CSV_OK = (CSV_HEADER + "N-1,New song,Member N:composer:1,,deny\n").encode()

# (route, actor, resource) → expected status. Actors: public, creator (A), org (O, mandated by A),
# developer. "own" is the actor's own resource (A's work, O's dispute, the actor's key); "other" belongs to
# someone else (B's work, a key of another account); org "other" is org P acting on A's work.
CASES = [
    # accounts
    ("GET /api/me", {"public": 401, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/keys", {"public": 401, "creator": 200, "org": 200, "developer": 200}),
    ("POST /api/keys", {"public": 401, "creator": 201, "org": 201, "developer": 201}),
    ("DELETE /api/keys/{own}", {"public": 401, "creator": 200, "org": 200, "developer": 200}),
    ("DELETE /api/keys/{other}", {"public": 401, "creator": 404, "org": 404, "developer": 404}),
    ("POST /api/auth/signin", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("POST /api/auth/signout", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("POST /api/auth/signup", {"public": 201, "creator": 201, "org": 201, "developer": 201}),
    # works and declarations
    ("POST /api/works", {"public": 401, "creator": 201, "org": 403, "developer": 403}),
    ("GET /api/works", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("GET /api/works/{own}", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/works/{own}/decision", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/works/{own}/policy", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("PUT /api/works/{own}/policy", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("PUT /api/works/{other}/policy", {"public": 401, "creator": 403, "org": 403, "developer": 403}),
    ("GET /api/works/{own}/kit", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("GET /api/works/{other}/kit", {"public": 401, "creator": 403, "org": 403, "developer": 403}),
    ("GET /api/policy", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("PUT /api/policy", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("GET /api/kit", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    # resumable video uploads (another account's upload, or none, is 404 to a creator)
    ("POST /api/video-uploads", {"public": 401, "creator": 201, "org": 403, "developer": 403}),
    ("GET /api/video-uploads/{upload}", {"public": 401, "creator": 404, "org": 403, "developer": 403}),
    ("PUT /api/video-uploads/{upload}", {"public": 401, "creator": 404, "org": 403, "developer": 403}),
    ("POST /api/video-uploads/{upload}/finish", {"public": 401, "creator": 404, "org": 403, "developer": 403}),
    ("DELETE /api/video-uploads/{upload}", {"public": 401, "creator": 404, "org": 403, "developer": 403}),
    # organisations
    ("GET /api/orgs", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/mandates", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("POST /api/mandates", {"public": 401, "creator": 201, "org": 403, "developer": 403}),
    ("GET /api/org/members", {"public": 401, "creator": 403, "org": 200, "developer": 403}),
    ("POST /api/org/import", {"public": 401, "creator": 403, "org": 200, "developer": 403}),
    ("GET /api/disputes", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("POST /api/disputes/{other}/resolve", {"public": 401, "creator": 403, "org": 403, "developer": 403}),
    ("POST /api/disputes/{own}/resolve", {"public": 401, "creator": 403, "org": 200, "developer": 403}),
    # developers
    ("POST /api/outputs/check", {"public": 401, "creator": 403, "org": 403, "developer": 404}),
    # public
    ("GET /api/registry/search", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/snapshots", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/snapshots/{own}/verify", {"public": 404, "creator": 404, "org": 404, "developer": 404}),
    ("GET /api/snapshots/{own}/files/manifest.json", {"public": 404, "creator": 404, "org": 404, "developer": 404}),
    ("GET /api/log", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/log/entries", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/log/proof/{own}", {"public": 400, "creator": 400, "org": 400, "developer": 400}),
    ("GET /api/log/consistency", {"public": 400, "creator": 400, "org": 400, "developer": 400}),
    ("POST /api/lookup", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/summaries", {"public": 200, "creator": 200, "org": 200, "developer": 200}),
    # money: licences ("own": asked by this developer, or of A / of O's mandating A; "other": asked by
    # another developer of B), invoices, usage reports, distribution runs, statements
    ("POST /api/licences/requests", {"public": 401, "creator": 403, "org": 403, "developer": 201}),
    ("GET /api/licences", {"public": 401, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/licences/{own}", {"public": 401, "creator": 200, "org": 200, "developer": 200}),
    ("GET /api/licences/{other}", {"public": 401, "creator": 404, "org": 404, "developer": 404}),
    ("POST /api/licences/{own}/accept", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("POST /api/licences/{other}/accept", {"public": 401, "creator": 404, "org": 404, "developer": 403}),
    ("POST /api/licences/{own}/decline", {"public": 401, "creator": 200, "org": 200, "developer": 403}),
    ("POST /api/licences/{other}/decline", {"public": 401, "creator": 404, "org": 404, "developer": 403}),
    ("GET /api/invoices", {"public": 401, "creator": 403, "org": 403, "developer": 200}),
    ("POST /api/usage-reports", {"public": 401, "creator": 403, "org": 403, "developer": 201}),
    ("GET /api/usage-reports", {"public": 401, "creator": 403, "org": 403, "developer": 200}),
    ("POST /api/distribution/runs", {"public": 401, "creator": 403, "org": 201, "developer": 403}),
    ("GET /api/distribution/runs", {"public": 401, "creator": 403, "org": 200, "developer": 403}),
    ("GET /api/distribution/runs/{own}/recompute", {"public": 401, "creator": 403, "org": 200, "developer": 403}),
    ("GET /api/distribution/runs/{other}/recompute", {"public": 401, "creator": 403, "org": 404, "developer": 403}),
    ("GET /api/statements", {"public": 401, "creator": 200, "org": 403, "developer": 403}),
    ("GET /api/statements/{own}", {"public": 401, "creator": 200, "org": 403, "developer": 403}),
    ("GET /api/statements/{other}", {"public": 401, "creator": 404, "org": 403, "developer": 403}),
]


def _call(w, label: str, actor: str, n: int):
    method, path = label.split(" ", 1)
    session = None if actor == "public" else w[actor]
    # org "other" on a work is org P (no mandate) acting on A's work: the resource is A's, the standing is not.
    if actor == "org" and "/works/{other}" in path:
        session = w["org_p"]
    if actor == "org" and "/disputes/{other}" in path:
        session = w["org_p"]
    work_own = w["creator_work"]
    work_other = w["creator_b_work"] if actor in ("creator", "public", "developer") else w["creator_work"]
    key_own = w.get(f"{actor}_key", 1)
    key_other = w["creator_b_key"]
    subst = {
        "/works/{own}": f"/works/{work_own}",
        "/works/{other}": f"/works/{work_other}",
        "/keys/{own}": f"/keys/{key_own}",
        "/keys/{other}": f"/keys/{key_other}",
        "/disputes/{own}": f"/disputes/{w['dispute']}",
        "/disputes/{other}": f"/disputes/{w['dispute']}",
        "/snapshots/{own}": "/snapshots/none",
        "/log/proof/{own}": "/log/proof/0",
        "/video-uploads/{upload}": "/video-uploads/" + "0" * 24,
    }
    if actor == "creator" and "/statements/{other}" in path:
        session = w["creator_b"]  # B reading the run that has A's statement
    licence_own = w["licence"]
    if method == "POST" and "/licences/{own}/" in path:  # a fresh request for each answer
        licence_own = _request_licence(w["developer"], work_own, w["creator"].holder_id)
    subst.update(
        {
            "/licences/{own}": f"/licences/{licence_own}",
            "/licences/{other}": f"/licences/{w['licence_b']}",
            "/runs/{own}": f"/runs/{w['run']}",
            "/runs/{other}": f"/runs/{w['run_p']}",
            "/statements/{own}": f"/statements/{w['run']}",
            "/statements/{other}": f"/statements/{w['run']}",
        }
    )
    for k, v in subst.items():
        path = path.replace(k, v)
    kw: dict = {}
    if method in ("PUT",) and "policy" in path:
        kw["json"] = POLICY
    elif path == "/api/keys" and method == "POST":
        kw["json"] = {"name": "another", "scopes": ["read"]}
    elif path == "/api/works" and method == "POST":
        kw["files"] = [("files", (f"w{n}.txt", text_file(100 + n), "text/plain"))]
    elif path == "/api/video-uploads":
        kw["json"] = {"name": "film.mp4", "size": 1000}
    elif path.startswith("/api/video-uploads/") and method == "PUT":
        kw["params"], kw["content"] = {"offset": 0}, b"x"
    elif path == "/api/mandates" and method == "POST":
        kw["json"] = {"org_id": w["org_p"].org_id, "categories": ["search"]}
    elif path == "/api/org/import":
        kw["files"] = {"file": ("n.csv", CSV_OK, "text/csv")}
    elif path == "/api/outputs/check":
        kw["files"] = [("files", ("out.txt", text_file(7), "text/plain"))]
        kw["data"] = {"snapshot": "none"}
    elif path == "/api/licences/requests":
        kw["files"] = {"quote": ("q.json", _quote(work_own, w["creator"].holder_id))}
    elif path.endswith(("/accept", "/decline")):
        kw["json"] = {}
    elif path == "/api/usage-reports" and method == "POST":
        from fairtrain.core.keys import SigningKey, sign_document

        w.setdefault("usage_key", SigningKey.generate())
        me = session.user["id"] if session is not None else 0
        kw["json"] = sign_document(
            {"idempotency_key": f"u{n}", "licensee": f"developer:{me}", "model": "m", "version": "1", "licences": []},
            w["usage_key"],
        )
    elif path == "/api/distribution/runs" and method == "POST":
        kw["json"] = {"start": "2025-01-01", "end": "2025-12-31"}
    elif path == "/api/lookup":
        kw["files"] = {"file": ("x.txt", text_file(3), "text/plain")}
    elif path.endswith("/resolve"):
        kw["json"] = {"keep": "existing"}
    elif path == "/api/auth/signin":
        kw["json"] = {"email": "b@example.org", "password": "correct horse battery"}
    elif path == "/api/auth/signup":
        kw["json"] = {
            "email": f"new{n}@example.org",
            "password": "correct horse battery",
            "role": "developer",
            "name": f"New {n}",
        }
    if path.endswith("/kit"):
        kw["params"] = {"site": "https://creator.example"}
    if path.endswith("/decision"):
        kw["params"] = {"category": "train-ai"}
    if path == "/api/registry/search":
        kw["params"] = {"title": "Song"}
    if path == "/api/log/consistency":
        kw["params"] = {"old": 0}
    if session is None:
        w["public"].cookies.clear()  # the public never carries a session (sign-in cases would set one)
        return w["public"].request(method, path, **kw)
    return session.request(method, path, **kw)


def test_authorisation_matrix(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    wrong = []
    n = 0
    # Sign-in/out and sign-up change the session: run them on fresh clients after the rest.
    ordered = sorted(CASES, key=lambda c: c[0].startswith("POST /api/auth"))
    for label, expected in ordered:
        for actor in ("public", "developer", "creator", "org"):
            n += 1
            if label.startswith("POST /api/auth") and actor != "public":
                w[actor].client.cookies.clear()  # a person signing in again from a fresh browser
                w[actor].csrf = ""
            r = _call(w, label, actor, n)
            if r.status_code != expected[actor]:
                wrong.append(f"{label} as {actor}: {r.status_code} (expected {expected[actor]}) {r.text[:120]}")
    assert not wrong, "\n".join(wrong)


def test_every_api_route_is_in_the_matrix(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    covered = {(label.split(" ")[0], label.split(" ")[1]) for label, _ in CASES}

    def norm(path: str) -> str:
        import re

        return re.sub(r"\{[^}]+\}", "{}", path.replace("{path:path}", "manifest.json"))

    covered_norm = {(m, norm(p)) for m, p in covered}
    missing = [
        f"{m} {r.path}"
        for r in app.routes
        if isinstance(r, APIRoute) and r.path.startswith("/api/")
        for m in r.methods
        if (m, norm(r.path)) not in covered_norm
    ]
    assert not missing, f"API routes without an authorisation case: {missing}"


def test_what_each_role_sees_is_its_own(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    a_works = {x["id"] for x in w["creator"].request("GET", "/api/works").json()}
    assert a_works == {w["creator_work"]}
    o_works = {x["title"] for x in w["org"].request("GET", "/api/works").json()}
    assert {"Song K-1", "Song K-2"} <= o_works and w["creator_b_work"] not in o_works
    assert w["org_p"].request("GET", "/api/works").json() == []
    assert [m["name"] for m in w["org"].request("GET", "/api/org/members").json()] == ["Creator A", "Member M"]
    assert w["org_p"].request("GET", "/api/org/members").json() == []
    keys = w["developer"].request("GET", "/api/keys").json()
    assert [k["id"] for k in keys] == [w["developer_key"]]
    assert "key_hash" not in keys[0] and "key" not in keys[0]
    assert w["creator_b"].request("GET", "/api/disputes").json() == []
    # A mandated O for train-ai (which covers train-genai) and search, not ai-input.
    url = f"/api/works/{w['creator_work']}/policy"
    assert (
        w["org"]
        .request("PUT", url, json={"values": {"train-genai": "licence"}, "price": "1000", "currency": "KRW"})
        .status_code
        == 200
    )
    r = w["org"].request("PUT", url, json={"values": {"ai-input": "allow"}})
    assert r.status_code == 403 and "mandate" in r.json()["detail"]
