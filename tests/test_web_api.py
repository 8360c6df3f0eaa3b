"""The JSON API and pages as people and machines use them: sessions and CSRF, API keys, limits, uploads,
imports with their validation report, the signal kit, snapshots, the log and the two languages."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from conftest import make_image
from fairtrain.core.keys import SigningKey, verify_document
from fairtrain.core.store.models import ApiKey, User, Work
from fairtrain.services.log import Log, verify_proof
from fairtrain.services.registry.snapshot_export import export_snapshot
from web_helpers import PASSWORD, Session, make_app, text_file


@pytest.fixture
def app(tmp_path, database_url):
    return make_app(tmp_path, database_url)


def _count_works(app) -> int:
    with app.state.web.registry.engine.connect() as c:
        return len(c.execute(select(Work.id)).all())


def test_passwords_are_argon2_hashed_and_wrong_ones_refused(app):
    s = Session(app, "kim@example.org", "creator", "김민지 Kim Minji")
    with app.state.web.registry.engine.connect() as c:
        stored = c.execute(select(User.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored
    anon = TestClient(app)
    r = anon.post("/api/auth/signin", json={"email": "KIM@example.org", "password": "wrong password"})
    assert r.status_code == 401 and "wrong" in r.json()["detail"]
    r = anon.post("/api/auth/signin", json={"email": "nobody@example.org", "password": PASSWORD})
    assert r.status_code == 401
    r = anon.post("/api/auth/signin", json={"email": "Kim@Example.org", "password": PASSWORD})
    assert r.status_code == 200 and r.json()["user"]["id"] == s.user["id"]
    assert anon.get("/api/me").json()["user"]["role"] == "creator"
    r = TestClient(app).post(
        "/api/auth/signup", json={"email": "kim@example.org", "password": PASSWORD, "role": "creator", "name": "again"}
    )
    assert r.status_code == 400 and "exists" in r.json()["detail"]


def test_session_writes_need_the_csrf_token(app):
    s = Session(app, "a@example.org", "creator", "A")
    body = {"values": {"train-ai": "deny"}}
    assert s.client.put("/api/policy", json=body).status_code == 403
    assert s.client.put("/api/policy", json=body, headers={"X-CSRF-Token": "forged"}).status_code == 403
    assert s.request("PUT", "/api/policy", json=body).status_code == 200
    # the HTML form carries the token as a field
    assert s.client.post("/policy", data={"v_tdm": "deny"}, follow_redirects=False).status_code == 403
    r = s.client.post("/policy", data={"v_tdm": "deny", "v_search": "allow", "csrf": s.csrf}, follow_redirects=False)
    assert r.status_code == 303
    policy = s.request("GET", "/api/policy").json()
    assert policy["declared"] and policy["policy"]["search"]["value"] == "allow"
    assert policy["policy"]["train-genai"]["value"] == "deny"
    # a cookie signed with another secret is no session at all
    forged = s.client.cookies.get("ft_session")[:-3] + "AAA"
    s.client.cookies.clear()
    s.client.cookies.set("ft_session", forged)
    assert s.client.get("/api/me").status_code == 401


def test_api_keys_are_shown_once_stored_hashed_scoped_and_revocable(app):
    dev = Session(app, "dev@example.org", "developer", "Acme AI")
    read = dev.request("POST", "/api/keys", json={"name": "ci", "scopes": ["read"]}).json()
    write = dev.request("POST", "/api/keys", json={"name": "ops", "scopes": ["read", "write"]}).json()
    secret = read["key"]
    listed = dev.request("GET", "/api/keys").json()
    assert [k["name"] for k in listed] == ["ci", "ops"] and all("key" not in k for k in listed)
    with app.state.web.registry.engine.connect() as c:
        hashes = list(c.execute(select(ApiKey.key_hash)).scalars())
    assert secret not in hashes and all(len(h) == 64 for h in hashes)
    machine = TestClient(app)
    auth = {"Authorization": f"Bearer {secret}"}
    assert machine.get("/api/me", headers=auth).json()["via"] == "key"
    r = machine.post("/api/keys", json={"name": "x", "scopes": ["read"]}, headers=auth)
    assert r.status_code == 403 and "write" in r.json()["detail"]
    r = machine.post(
        "/api/keys", json={"name": "x", "scopes": ["read"]}, headers={"Authorization": f"Bearer {write['key']}"}
    )
    assert r.status_code == 403 and "session" in r.json()["detail"]  # keys do not mint keys
    assert dev.request("DELETE", f"/api/keys/{read['id']}").json()["revoked_at"]
    assert machine.get("/api/me", headers=auth).status_code == 401
    assert machine.get("/api/me", headers={"Authorization": "Bearer ft_000000000000_guess"}).status_code == 401


def test_sign_in_is_rate_limited(tmp_path, database_url):
    app = make_app(tmp_path, database_url, sign_in_per_email=(3, 600.0))
    Session(app, "a@example.org", "developer", "A")
    anon = TestClient(app)
    codes = [
        anon.post("/api/auth/signin", json={"email": "a@example.org", "password": "wrong one!"}).status_code
        for _ in range(4)
    ]
    assert codes == [401, 401, 401, 429]
    r = anon.post("/api/auth/signin", json={"email": "a@example.org", "password": PASSWORD})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_uploads_register_works_and_a_bad_file_does_not_stop_the_batch(app):
    s = Session(app, "a@example.org", "creator", "A")
    r = s.request(
        "POST",
        "/api/works",
        files=[
            ("files", ("photo.jpg", make_image(3), "image/jpeg")),
            ("files", ("poem.txt", text_file(7), "text/plain")),
            ("files", ("blob.bin", bytes(range(256)) * 40, "application/octet-stream")),
            ("files", ("empty.txt", b"", "text/plain")),
        ],
    )
    assert r.status_code == 201
    results = r.json()["results"]
    assert [x["ok"] for x in results] == [True, True, False, False]
    assert results[0]["media_type"] == "image" and results[0]["iscc"].startswith("ISCC:")
    assert results[1]["media_type"] == "text"
    assert "blob.bin" in results[2]["error"] and "empty.txt" in results[3]["error"]
    assert {w["title"] for w in s.request("GET", "/api/works").json()} == {"photo", "poem"}


def test_upload_size_count_and_rate_limits(tmp_path, database_url):
    app = make_app(tmp_path, database_url, max_upload_bytes=20_000, max_files=2, uploads_per_account=(2, 600.0))
    s = Session(app, "a@example.org", "creator", "A")
    r = s.request("POST", "/api/works", files=[("files", ("big.txt", b"word " * 10_000, "text/plain"))])
    assert r.status_code == 413 and "20000" in r.json()["detail"]
    assert _count_works(app) == 0
    r = s.request(
        "POST", "/api/works", files=[("files", (f"{i}.txt", text_file(i)[:3000], "text/plain")) for i in range(3)]
    )
    assert r.status_code == 413 and "at most 2 files" in r.json()["detail"]
    r = s.request("POST", "/api/works", files=[("files", ("ok.txt", text_file(1)[:3000], "text/plain"))])
    assert r.status_code == 201
    r = s.request("POST", "/api/works", files=[("files", ("ok2.txt", text_file(2)[:3000], "text/plain"))])
    assert r.status_code == 429
    assert _count_works(app) == 1


CSV_HEADER = "work_ref,title,holders,iswc,tdm,train-genai,search,price,currency\n"


def test_import_reports_a_bad_row_and_stores_nothing_until_asked(app):
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    csv = (
        CSV_HEADER
        + "K-1,아리랑 변주곡,김작곡:composer:1/2;이작사:lyricist:1/2,T-034.524.680-1,deny,licence,allow,50000,KRW\n"
        + "K-2,Broken shares,김작곡:composer:1/2;이작사:lyricist:1/3,,deny,,,,\n"
        + "K-3,Third song,김작곡:composer:1,,deny,,allow,,\n"
    ).encode()
    r = org.request("POST", "/api/org/import", files={"file": ("rep.csv", csv, "text/csv")})
    report = r.json()
    assert r.status_code == 200 and not report["imported"] and report["invalid"] == 1
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(3, "holders")]
    assert _count_works(app) == 0
    assert list((app.state.web.uploads_dir).iterdir()) == []  # staging cleaned up
    r = org.request(
        "POST", "/api/org/import", files={"file": ("rep.csv", csv, "text/csv")}, data={"skip_invalid": "true"}
    )
    assert r.json()["imported"] and r.json()["created"] == 2
    hits = TestClient(app).get("/api/registry/search", params={"title": "아리랑"}).json()
    assert [h["title"] for h in hits] == ["아리랑 변주곡"]
    # the new members have not consented yet: the organisation's terms do not count
    assert hits[0]["terms"]["train-genai"] == "deny" and hits[0]["terms"]["search"] == "deny"
    mandates = org.request("GET", "/api/mandates").json()
    assert [m["status"] for m in mandates] == ["pending", "pending"]
    for m in mandates:  # each member follows the e-mailed link
        link = org.request("POST", f"/api/mandates/{m['id']}/invite").json()
        r = TestClient(app).post(f"/api/mandates/{m['id']}/confirm", json={"token": link["token"]})
        assert r.status_code == 200 and r.json()["in_force"], r.text
    assert TestClient(app).post(f"/api/mandates/{m['id']}/confirm", json={"token": link["token"]}).status_code == 403
    hits = TestClient(app).get("/api/registry/search", params={"title": "아리랑"}).json()
    assert hits[0]["terms"]["train-genai"] == "licence" and hits[0]["terms"]["search"] == "allow"
    # the page shows the same report
    page = org.client.post("/org/import", files={"file": ("rep.csv", csv, "text/csv")}, data={"csrf": org.csrf})
    assert page.status_code == 200 and 'id="import-report"' in page.text
    assert "Nothing was stored." in page.text and "<td>3</td><td>holders</td>" in page.text


def test_a_web_import_cannot_make_the_server_read_a_file(app, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("server-side secret " * 50)
    org = Session(app, "o@example.org", "org-admin", "O")
    csv = (
        CSV_HEADER.replace("work_ref,", "work_ref,file,")
        + f"K-1,{secret},Stolen,A:author:1,,deny,,,,\n"
        + "K-2,../../secret.txt,Stolen 2,A:author:1,,deny,,,,\n"
    ).encode()
    report = org.request("POST", "/api/org/import", files={"file": ("evil.csv", csv, "text/csv")}).json()
    assert not report["imported"] and [e["line"] for e in report["errors"]] == [2, 3]
    assert all(e["column"] == "file" for e in report["errors"])
    assert _count_works(app) == 0


def test_kit_download_renders_the_declared_policy(app):
    s = Session(app, "a@example.org", "creator", "김민지")
    assert s.request("PUT", "/api/policy", json={"values": {"tdm": "deny", "search": "allow"}}).status_code == 200
    r = s.client.get("/api/kit", params={"site": "https://minji.example"})
    assert r.status_code == 200 and r.headers["content-type"] == "application/zip"
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {"robots.txt", ".well-known/tdmrep.json", "ai.txt"} <= names
    robots = z.read("robots.txt").decode()
    assert "train-ai=n" in robots and "search=y" in robots
    assert s.client.get("/api/kit", params={"site": "not a url"}).status_code == 422
    page = s.client.get("/kit", params={"site": "https://minji.example"})
    assert page.status_code == 200 and "robots.txt" in page.text and 'class="copy"' in page.text


def test_snapshots_are_listed_downloaded_with_signature_and_confined(app):
    state = app.state.web
    s = Session(app, "a@example.org", "creator", "A")
    s.request("POST", "/api/works", files=[("files", ("poem.txt", text_file(1), "text/plain"))])
    key = SigningKey.generate()
    key.save(state.data_dir / "keys" / "registry.key", role="registry")
    export_snapshot(state.registry, state.snapshots_dir / "2026-11", key)
    stranger = SigningKey.generate()  # e.g. a licensee's key: it signs, but not for the registry
    stranger.save(state.data_dir / "keys" / "acme-ai.key")
    export_snapshot(state.registry, state.snapshots_dir / "resealed", stranger)
    anon = TestClient(app)
    resealed = anon.get("/api/snapshots/resealed/verify").json()
    assert resealed["valid"] is False and "not among the trusted keys" in resealed["problem"]
    listed = anon.get("/api/snapshots").json()
    assert [x["name"] for x in listed] == ["2026-11", "resealed"] and listed[0]["key_id"] == key.public.key_id
    manifest = anon.get("/api/snapshots/2026-11/files/manifest.json").json()
    assert verify_document(manifest, [key.public]).key_id == key.public.key_id
    first = manifest["files"][0]["path"]
    assert anon.get(f"/api/snapshots/2026-11/files/{first}").status_code == 200
    assert anon.get("/api/snapshots/2026-11/verify").json()["valid"] is True
    for bad in (
        "/api/snapshots/2026-11/files/..%2F..%2Fregistry.sqlite3",
        "/api/snapshots/..%2F/files/web-secret",
        "/api/snapshots/2026-11/files/%2Fetc%2Fpasswd",
        "/api/snapshots/2026-11/files/nothing.parquet",
    ):
        assert anon.get(bad).status_code == 404, bad


def test_log_head_and_proofs_verify_offline(app):
    s = Session(app, "a@example.org", "creator", "A")
    s.request("PUT", "/api/policy", json={"values": {"train-ai": "deny"}})
    key = SigningKey.generate()
    Log(app.state.web.registry.engine).sign_head(key)
    anon = TestClient(app)
    head = anon.get("/api/log").json()
    assert head["size"] == 1 and head["signed_head"]["size"] == 1
    proof = anon.get("/api/log/proof/0").json()
    assert verify_proof(proof, [key.public])
    assert anon.get("/api/log/proof/5").status_code == 400
    assert anon.get("/api/log/entries").json()[0]["kind"] == "declaration"
    assert "inclusion proof" in anon.get("/log").text


def test_decision_endpoint_is_public_and_permission_first(app):
    s = Session(app, "a@example.org", "creator", "A")
    wid = s.request("POST", "/api/works", files=[("files", ("p.txt", text_file(1), "text/plain"))]).json()["results"][
        0
    ]["work"]
    anon = TestClient(app)
    d = anon.get(f"/api/works/{wid}/decision", params={"category": "train-genai"}).json()
    assert d["value"] == "deny"  # nothing declared: absence of permission is not permission
    s.request("PUT", f"/api/works/{wid}/policy", json={"values": {"train-ai": "allow"}})
    assert anon.get(f"/api/works/{wid}/decision", params={"category": "train-genai"}).json()["value"] == "allow"
    assert anon.get(f"/api/works/{wid}/decision", params={"category": "nope"}).status_code == 422
    assert anon.get("/api/works/999/decision", params={"category": "tdm"}).status_code == 404


def test_creator_page_defaults_to_deny_everything_but_search(app):
    s = Session(app, "a@example.org", "creator", "A")
    html = s.client.get("/creator").text
    assert 'id="v_search_allow" aria-label' in html
    import re

    checked = set(re.findall(r'id="(v_[a-z-]+_[a-z]+)"[^>]*checked', html))
    assert checked == {"v_tdm_deny", "v_train-ai_deny", "v_train-genai_deny", "v_ai-input_deny", "v_search_allow"}


def test_korean_for_accept_language_ko_and_the_switch_wins(app):
    anon = TestClient(app)
    ko = anon.get("/", headers={"Accept-Language": "ko-KR,ko;q=0.9,en;q=0.5"})
    assert ko.headers["content-language"] == "ko" and "저작물 찾기" in ko.text and 'lang="ko"' in ko.text
    assert "Look up a work" in anon.get("/", headers={"Accept-Language": "en-GB"}).text
    r = anon.get("/lang/en?next=/search", headers={"Accept-Language": "ko"}, follow_redirects=True)
    assert r.url.path == "/search" and "Look up a work" in r.text
    assert anon.get("/lang/en?next=//evil.example", follow_redirects=False).headers["location"] == "/"


def test_openapi_document_lists_the_api(app):
    doc = TestClient(app).get("/openapi.json").json()
    assert {
        "/api/works",
        "/api/works/{work}/decision",
        "/api/org/import",
        "/api/kit",
        "/api/log/proof/{index}",
        "/api/registry/search",
        "/api/snapshots",
    } <= set(doc["paths"])
    assert not any(p.startswith("/creator") for p in doc["paths"])
    json.dumps(doc)


def test_pages_forbid_framing_and_foreign_scripts(app):
    r = TestClient(app).get("/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY" and "<script>" not in r.text


def test_developers_check_a_batch_of_outputs_against_a_published_snapshot(app):
    state = app.state.web
    creator = Session(app, "a@example.org", "creator", "A")
    work = text_file(3)
    photo = make_image(31)
    creator.request(
        "POST",
        "/api/works",
        files=[("files", ("poem.txt", work, "text/plain")), ("files", ("photo.jpg", photo, "image/jpeg"))],
    )
    key = SigningKey.generate()
    key.save(state.data_dir / "keys" / "registry.key", role="registry")
    export_snapshot(state.registry, state.snapshots_dir / "current", key)
    export_snapshot(state.registry, state.snapshots_dir / "foreign", SigningKey.generate())
    dev = Session(app, "dev@example.org", "developer", "Dev Lab")
    refused = dev.request(
        "POST",
        "/api/outputs/check",
        data={"snapshot": "foreign"},
        files=[("files", ("out-1.txt", text_file(5), "text/plain"))],
    )
    assert refused.status_code == 409 and "not among the trusted keys" in refused.json()["detail"]
    generated = (
        "Here is a story the model wrote. "
        + " ".join(work.decode().split()[5:60])
        + " And that is where the story ends, as stories do."
    ).encode()
    buf = io.BytesIO()
    from PIL import Image

    Image.open(io.BytesIO(photo)).save(buf, "JPEG", quality=50)
    r = dev.request(
        "POST",
        "/api/outputs/check",
        data={"snapshot": "current"},
        files=[
            ("files", ("out-1.txt", generated, "text/plain")),
            ("files", ("out-2.jpg", buf.getvalue(), "image/jpeg")),
            ("files", ("out-3.txt", text_file(99), "text/plain")),
        ],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    flagged = {x["item"]: x for x in body["results"] if x["flagged"]}
    assert set(flagged) == {"out-1.txt", "out-2.jpg"} and body["flagged"] == 2
    assert sum(body["attribution_weights"].values()) > 0
    assert (
        dev.request(
            "POST",
            "/api/outputs/check",
            data={"snapshot": "../../etc"},
            files=[("files", ("x.txt", b"x", "text/plain"))],
        ).status_code
        == 404
    )


def test_docs_work_offline_from_same_origin_assets_under_the_csp(app):
    """/docs references only the app's own assets (no CDN), each answers 200, and no inline script needs
    the Content-Security-Policy relaxed."""
    import re

    anon = TestClient(app)
    r = anon.get("/docs")
    assert r.status_code == 200 and "swagger-ui" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    refs = re.findall(r"""(?:src|href)=["']([^"']+)""", r.text)
    assert len(refs) == 3 and all(u.startswith("/") and not u.startswith("//") for u in refs), refs
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", r.text)  # every script is a file: no inline code
    for u in refs:
        asset = anon.get(u)
        assert asset.status_code == 200 and len(asset.content) > 100, u
    assert "SwaggerUIBundle" in anon.get(refs[1]).text and "/openapi.json" in anon.get(refs[2]).text
    assert anon.get("/openapi.json").json()["info"]["title"] == "fairtrain"
    assert anon.get("/redoc").status_code == 404  # ReDoc would load from a CDN: not served
