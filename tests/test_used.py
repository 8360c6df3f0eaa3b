"""Issue 14, item 5: "was my work used?" tells the truth — yes, no or unknown (and why), never a "no" where
the truth is unknown — and the CLI's ``lookup`` and the web's ``/used`` give the same answer, on clearances
that reached the registry through the product (the API, ``record-clearance --to`` against a real
``fairtrain serve``), never a folder copied by hand."""

from __future__ import annotations

import json
import subprocess

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
from fastapi.testclient import TestClient

from cli_helpers import FAIRTRAIN, clear
from fairtrain.core.keys import SigningKey
from fairtrain.services.transparency.lookup import verify_membership_proof
from test_transparency_lookup import published  # noqa: F401
from web_helpers import Session, cli_env, make_app, served, text_file

SAME = ("verdict", "reason", "recognised", "answers", "content_hash", "identified")


def _files(out) -> dict:
    files = {
        "manifest": ("manifest.json", (out / "manifest.json").read_bytes()),
        "leaves_works": ("leaves-works.parquet", (out / "leaves-works.parquet").read_bytes()),
        "leaves_items": ("leaves-items.parquet", (out / "leaves-items.parquet").read_bytes()),
    }
    if (out / "decisions.parquet").exists():
        files["decisions"] = ("decisions.parquet", (out / "decisions.parquet").read_bytes())
    return files


def _developer_key(dev: Session) -> str:
    r = dev.request("POST", "/api/keys", json={"name": "ci", "scopes": ["read", "write"]})
    assert r.status_code == 201, r.text
    return r.json()["key"]


def _both(run, client, path, lang="ko"):
    """The CLI's and the web's answer for one file, and the /used page in ``lang``."""
    cli = json.loads(run("lookup", path, "--json").stdout)
    r = client.post("/api/lookup", files={"file": (path.name, path.read_bytes())})
    assert r.status_code == 200, r.text
    client.cookies.set("ft_lang", lang)
    page = client.post("/used", files={"file": (path.name, path.read_bytes())})
    assert page.status_code == 200, page.text
    web = r.json()
    assert {k: cli[k] for k in SAME} == {k: web[k] for k in SAME}  # one service, one answer
    return web, page.text


def test_cli_and_web_give_the_same_three_answers(published, database_url):  # noqa: F811
    run, tmp, a, b = published
    app = make_app(tmp, database_url)
    dev = Session(app, "dev@example.org", "developer", "acme-ai")
    key = _developer_key(dev)
    reader = Session(app, "reader@example.org", "creator", "Reader")
    anyone = TestClient(app)  # anybody, signed out
    unregistered = tmp / "mine.txt"
    unregistered.write_bytes(text_file(5))

    # Only A's item lists are published: B's clearance is in the log without them.
    r = reader.client.post(
        "/api/clearances", files=_files(tmp / "out-a"), headers={"Authorization": f"Bearer {_developer_key(reader)}"}
    )
    assert r.status_code == 403 and "developer" in r.json()["detail"]  # a creator's key cannot publish
    r = dev.client.post("/api/clearances", files=_files(tmp / "out-a"), headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text
    assert r.json()["index"] == a and r.json()["new"] is False  # already in the log: not logged twice
    assert len(list((tmp / "data" / "clearances").iterdir())) == 1  # stored by the registry, named by digest

    yes, page = _both(run, anyone, tmp / "works" / "free.txt")
    assert yes["verdict"] == "yes" and yes["recognised"][0]["title"] == "free"
    assert yes["recognised"][0]["score"] == 1.0 and yes["recognised"][0]["holders"] == ["Commons"]
    by = {x["log_index"]: x for x in yes["answers"]}
    assert by[a]["included"] is True and by[b]["included"] is None
    assert 'data-verdict="yes"' in page and "예: 게시된 권리 확인 중 적어도 하나에 저작물이 들어 있습니다." in page
    assert ">free<" in page and "유사도" in page and "포함 증명 내려받기" in page
    # each answer names the exact snapshot version its clearance used (the SHA-256 of its signed manifest)
    sid = json.loads((tmp / "out-a" / "manifest.json").read_text())["snapshots"][0]["snapshot_id"]
    assert by[a]["snapshots"][0]["snapshot_id"] == sid and f'<code title="{sid}">{sid}</code>' in page
    assert "스냅숏 ID: <code" in page

    unknown, page = _both(run, anyone, tmp / "works" / "denied.txt")
    assert unknown["verdict"] == "unknown" and unknown["reason"] == "leaves-missing"  # B might include it
    assert 'data-verdict="unknown"' in page and "목록을 공개하지 않은 권리 확인이 있어" in page
    assert "게시된 어떤 권리 확인에도 저작물이 들어 있지 않습니다." not in page  # the old, false "No"

    stranger, page = _both(run, anyone, unregistered)
    assert stranger["verdict"] == "unknown" and stranger["reason"] == "not-recognised" and not stranger["recognised"]
    assert "등록되지 않은 파일입니다" in page and 'href="/creator"' in page and "지금 등록하기" in page

    # B's item lists published too: now the denied work is provably absent from every clearance.
    r = dev.client.post("/api/clearances", files=_files(tmp / "out-b"), headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 201, r.text
    no, page = _both(run, anyone, tmp / "works" / "denied.txt")
    assert no["verdict"] == "no" and no["reason"] is None and all(x["included"] is False for x in no["answers"])
    assert 'data-verdict="no"' in page and "미포함 증명 내려받기" in page
    anyone.cookies.set("ft_lang", "en")
    assert (
        "No published clearance includes your work."
        in anyone.post("/used", files={"file": ("denied.txt", (tmp / "works" / "denied.txt").read_bytes())}).text
    )

    # The proofs behind the answers download and verify offline: inclusion for yes, non-inclusion for no.
    trusted = [SigningKey.load(tmp / "data" / "keys" / "registry.key").public]
    key_yes = {x["log_index"]: x for x in yes["answers"]}[a]["works"][0]["key"]
    proof = anyone.get(f"/api/lookup/proof/{a}", params={"work": key_yes})
    assert proof.status_code == 200 and verify_membership_proof(proof.json(), trusted)["included"] is True
    key_no = no["answers"][0]["works"][0]["key"]
    proof = anyone.get(f"/api/lookup/proof/{no['answers'][0]['log_index']}", params={"work": key_no})
    assert proof.status_code == 200 and verify_membership_proof(proof.json(), trusted)["included"] is False
    assert anyone.get(f"/api/lookup/proof/{a}", params={"item": "zz"}).status_code == 400


def test_a_forged_or_incomplete_clearance_is_refused_with_the_reason(published, database_url, tmp_path):  # noqa: F811
    run, tmp, a, b = published
    app = make_app(tmp, database_url)
    dev = Session(app, "dev@example.org", "developer", "acme-ai")
    key = _developer_key(dev)
    auth = {"Authorization": f"Bearer {key}"}
    files = _files(tmp / "out-a")
    pq.write_table(pa.table({"leaf": ["x:1"]}), tmp_path / "forged.parquet")
    forged = {**files, "leaves_works": ("leaves-works.parquet", (tmp_path / "forged.parquet").read_bytes())}
    r = dev.client.post("/api/clearances", files=forged, headers=auth)
    assert r.status_code == 400 and "leaves-works.parquet" in r.json()["detail"] and "root" in r.json()["detail"]
    doc = json.loads(files["manifest"][1])
    doc["licensee"] = "someone-else"  # signature no longer matches
    r = dev.client.post(
        "/api/clearances", files={**files, "manifest": ("manifest.json", json.dumps(doc).encode())}, headers=auth
    )
    assert r.status_code == 400 and "signature refused" in r.json()["detail"]
    r = dev.client.post("/api/clearances", files={k: v for k, v in files.items() if k != "leaves_items"}, headers=auth)
    assert r.status_code == 422
    assert not (tmp / "data" / "clearances").exists() or not any((tmp / "data" / "clearances").iterdir())
    assert dev.client.post("/api/clearances", files=files).status_code in (401, 403)  # no key, no CSRF


def _served_developer_key(c: httpx.Client) -> str:
    """Sign up acme-ai as a developer on the served site and make it a read-write API key."""
    r = c.post(
        "/api/auth/signup",
        json={"email": "dev@example.org", "password": "correct horse battery", "role": "developer", "name": "acme-ai"},
    )
    assert r.status_code == 201, r.text
    r = c.post(
        "/api/keys", json={"name": "cli", "scopes": ["read", "write"]}, headers={"X-CSRF-Token": r.json()["csrf"]}
    )
    assert r.status_code in (200, 201), r.text
    return r.json()["key"]


def test_record_clearance_to_a_running_server(world, database_url):  # noqa: F811
    """A developer's `fairtrain log record-clearance OUT --to URL` against a real `fairtrain serve`: the
    server checks, stores and logs it, and /used then answers "yes" for a work in it."""
    run, env, tmp, manifest = world
    clear(run, manifest, tmp / "snap", tmp / "out-c", "--purpose", "train-genai")
    data_dir = tmp / "data"
    with served(data_dir, database_url) as srv:
        with httpx.Client(base_url=srv.base, timeout=120) as c:
            key = _served_developer_key(c)
            cmd = [*FAIRTRAIN, "log", "record-clearance", str(tmp / "out-c"), "--to", srv.base, "--json"]
            other = cli_env(tmp / "elsewhere", database_url)  # the developer's own machine: no data dir shared
            refused = subprocess.run(cmd, env=other, capture_output=True, text=True, timeout=120)
            assert refused.returncode == 2 and "FAIRTRAIN_API_KEY" in refused.stderr
            done = subprocess.run(
                cmd, env={**other, "FAIRTRAIN_API_KEY": key}, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            body = json.loads(done.stdout)
            assert body["new"] is True and body["licensee"] == "acme-ai"
            stored = data_dir / "clearances" / body["stored"]
            assert sorted(p.name for p in stored.iterdir()) == [
                "decisions.parquet",
                "leaves-items.parquet",
                "leaves-works.parquet",
                "manifest.json",
            ]
            r = c.post("/api/lookup", files={"file": ("free.txt", (tmp / "works" / "free.txt").read_bytes())})
            assert r.status_code == 200 and r.json()["verdict"] == "yes", r.text
            assert {x["log_index"]: x for x in r.json()["answers"]}[body["index"]]["included"] is True
            again = subprocess.run(
                cmd, env={**other, "FAIRTRAIN_API_KEY": key}, capture_output=True, text=True, timeout=120
            )
            assert again.returncode == 0 and json.loads(again.stdout)["index"] == body["index"]  # logged once
            bad = subprocess.run(
                [*cmd[:-1], "--api-key", "ft_wrong"], env=other, capture_output=True, text=True, timeout=120
            )
            assert bad.returncode == 1 and "refused the clearance (401)" in bad.stderr


def test_used_page_in_korean_shows_the_three_answers(published, database_url):  # noqa: F811
    """Chromium (Debian's) in Korean on a real `fairtrain serve`: the three answers, the recognised work,
    the unregistered file's offer to register it; screenshots at 1280 and 390 px."""
    from pathlib import Path

    import pytest

    from browser_helpers import ARGS, CHROMIUM, SHOTS

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    run, tmp, a, b = published
    unregistered = tmp / "mine.txt"
    unregistered.write_bytes(text_file(5))
    shots = []
    with (
        served(tmp / "data", database_url) as srv,
        sync_playwright() as pw,
        httpx.Client(base_url=srv.base, timeout=120) as c,
    ):
        key = _served_developer_key(c)

        def publish(out):
            r = httpx.post(
                srv.base + "/api/clearances", files=_files(out), headers={"Authorization": f"Bearer {key}"}, timeout=120
            )
            assert r.status_code == 201, r.text

        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
        page = ctx.new_page()

        def ask(path: Path, name: str) -> str:
            page.goto(srv.base + "/used")
            page.set_input_files("#lookup-file", str(path))
            page.click("#lookup-submit")
            page.wait_for_selector("#lookup-result")
            assert page.locator("html").get_attribute("lang") == "ko"
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900})
                # a phone never scrolls sideways on this page
                assert page.evaluate("document.documentElement.scrollWidth") <= width + 1, (name, width)
                SHOTS.mkdir(parents=True, exist_ok=True)
                shot = SHOTS / f"ko-used-{name}-{width}.png"
                page.screenshot(path=str(shot), full_page=True)
                shots.append(shot)
            page.set_viewport_size({"width": 1280, "height": 900})
            return page.get_attribute("#lookup-result", "data-verdict")

        publish(tmp / "out-a")
        assert ask(tmp / "works" / "free.txt", "yes") == "yes"
        assert "예:" in page.inner_text("#verdict") and "free" in page.inner_text("#recognised")
        assert "100%" in page.inner_text(".similarity") and page.locator("a.proof").count() >= 1
        assert ask(tmp / "works" / "denied.txt", "unknown-leaves") == "unknown"
        assert "목록을 공개하지 않은" in page.inner_text("#verdict")
        assert ask(unregistered, "unknown-unregistered") == "unknown"
        assert "등록되지 않은 파일" in page.inner_text("#not-registered")
        page.click("#register-it")
        assert "/creator" in page.url or "/signin" in page.url  # signed out: asked to sign in first
        publish(tmp / "out-b")
        assert ask(tmp / "works" / "denied.txt", "no") == "no"
        assert "미포함 증명 내려받기" in page.inner_text("#answers")
        with page.expect_download() as dl:
            page.click("a.proof >> nth=0")
        assert json.loads(Path(dl.value.path()).read_text())["membership"]["included"] is False
        browser.close()
    assert all(s.stat().st_size > 5000 for s in shots) and len(shots) == 8
