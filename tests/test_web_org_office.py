"""The CMO office's pages (issue 15): a member's confirm page from the invitation link, the organisation's
mandates in words (invite, signed paper, revoke with an end date), the tariff form with its errors in
Korean and what was typed kept, members' statements, and repertoire uploads checked in a process of their
own behind a progress page that survives a reload and a restart. Service and HTTP, SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
import zipfile
from datetime import date
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrain.core.money import Money
from fairtrain.core.vocab import Category
from fairtrain.services.ledger.licensing import Licensing
from fairtrain.services.log import Log
from fairtrain.services.registry import repertoire
from web_helpers import Session, make_app

KO = {"Accept-Language": "ko"}
CSV = (
    "work_ref,title,holders,tdm,train-genai,search,price,currency\n"
    "K-1,아리랑 변주곡,김작곡:composer:1/2;이작사:lyricist:1/2,,licence,allow,,\n"
    "K-2,Spring Day,박가수:composer:1,,licence,,,\n"
).encode()
KO_HEADER = "작품코드,제목,파일,권리자,ISWC,ISRC,ISBN,TDM,AI학습,생성형AI학습,AI입력,검색,가격,통화\n"


def _csrf(s: Session) -> dict:
    return {"csrf": s.csrf}


def _mandates(app, org: Session) -> dict[str, dict]:
    reg = app.state.web.registry
    return {reg.find_holder(int(m["holder"].split(":")[1]))["name"]: m for m in reg.mandates(org_id=org.org_id)}


def test_mandate_pages_confirm_decline_paper_and_revoke(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    anon = TestClient(app)
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    other = Session(app, "other@example.org", "org-admin", "Other CMO")
    creator = Session(app, "minji@example.org", "creator", "Kim Minji")
    reg = app.state.web.registry
    reg.publish_tariff(org.org_id, {"currency": "KRW", "per_work": {"other": "10000"}})
    assert org.request("POST", "/api/org/import", files={"file": ("rep.csv", CSV, "text/csv")}).json()["imported"]

    # /org lists the three pending mandates in words, in Korean, with no codes
    page = org.request("GET", "/org", headers=KO).text
    assert page.count("회원의 동의 대기 중") == 3 and "pending" not in page
    assert "생성형 AI 학습" in page and "train-genai" not in page.split('id="members"')[1].split("</table>")[0]

    by_name = _mandates(app, org)
    first, second, third = by_name["김작곡"], by_name["이작사"], by_name["박가수"]

    # the invitation link: issued on the page, opened by anyone holding it, wrong or used links refused
    r = org.request("POST", f"/org/mandates/{first['id']}/invite", data=_csrf(org), headers=KO)
    assert r.status_code == 200
    link = re.search(r'id="invitation-link">([^<]+)<', r.text)[1]
    path = link.split("testserver", 1)[1].replace("&amp;", "&")
    assert other.request("POST", f"/org/mandates/{first['id']}/invite", data=_csrf(other)).status_code == 403
    assert anon.get(f"/mandates/{first['id']}/confirm?token=nope").status_code == 403
    r = anon.get(f"/mandates/{first['id']}/confirm", headers=KO)
    assert r.status_code == 403 and "초대에 담긴 링크를" in r.text  # no link, not signed in
    page = anon.get(path, headers=KO)
    assert page.status_code == 200 and "KOMCA" in page.text and "김작곡" in page.text and "동의합니다" in page.text
    token = path.split("token=")[1]
    r = anon.post(f"/mandates/{first['id']}/confirm", data={"token": token, "answer": "confirm"}, headers=KO)
    assert r.status_code == 200 and "효력 있음" in r.text and 'id="mandate-done"' in r.text
    assert reg.mandate(first["id"])["in_force"] and reg.mandate(first["id"])["confirmation"] == "token"
    assert anon.post(f"/mandates/{first['id']}/confirm", data={"token": token, "answer": "confirm"}).status_code == 403

    # the second member declines through their link: it never counted, and says so
    token2 = reg.mandate_invitation(second["id"])
    r = anon.post(f"/mandates/{second['id']}/confirm", data={"token": token2, "answer": "decline"})
    assert r.status_code == 200 and "Declined by the member" in r.text
    m2 = reg.mandate(second["id"])
    assert m2["standing"] == "declined" and not m2["in_force"] and m2["confirmed_at"] is None
    assert "mandate-declined" in [e["kind"] for e in Log(reg.engine).entries(0, 1000)]

    # the signed paper for the third: stored by its SHA-256, the mandate counts
    paper = b"%PDF-1.4 signed paper mandate"
    files = {"file": ("mandate.pdf", paper, "application/pdf")}
    assert (
        other.request("POST", f"/org/mandates/{third['id']}/paper", data=_csrf(other), files=files).status_code == 403
    )
    r = org.request("POST", f"/org/mandates/{third['id']}/paper", data=_csrf(org), files=files, follow_redirects=False)
    assert r.status_code == 303, r.text
    digest = hashlib.sha256(paper).hexdigest()
    assert reg.mandate(third["id"])["paper_sha256"] == digest
    assert (app.state.web.data_dir / "mandates" / digest).read_bytes() == paper
    page = org.request("GET", "/org", headers=KO).text
    assert "서명한 문서" in page and page.count("효력 있음") == 2

    # revoking: an end date in the past is refused in words; a later one leaves it in force until then
    r = org.request("POST", f"/org/mandates/{third['id']}/revoke", data={**_csrf(org), "end": "2000-01-01"})
    assert r.status_code == 400 and "in the past" in r.text
    r = org.request("POST", f"/org/mandates/{third['id']}/revoke", data={**_csrf(org), "end": "2000-13-01"}, headers=KO)
    assert r.status_code == 400 and "종료일 &#39;2000-13-01&#39;: 2027-06-30처럼" in r.text
    assert other.request("POST", f"/org/mandates/{third['id']}/revoke", data=_csrf(other)).status_code == 404
    end = f"{date.today().year + 1}-06-30"
    r = org.request("POST", f"/org/mandates/{third['id']}/revoke", data={**_csrf(org), "end": end}, headers=KO)
    m3 = reg.mandate(third["id"])
    assert (
        m3["standing"] == "ending"
        and m3["in_force"]
        and m3["ends_at"].startswith(f"{date.today().year + 1}-06-29T15:00")
    )
    assert "철회됨, 종료일까지 효력 있음" in org.request("GET", "/org", headers=KO).text
    r = org.request("POST", f"/org/mandates/{first['id']}/revoke", data=_csrf(org), follow_redirects=False)
    assert r.status_code == 303 and reg.mandate(first["id"])["standing"] == "revoked"

    # a signed-in member confirms without a link; somebody else's mandate is not theirs to see
    mid = reg.add_mandate(creator.holder_id, org.org_id, [Category.TRAIN_AI], pending=True)
    r = creator.request("GET", f"/mandates/{mid}/confirm")
    assert r.status_code == 200 and "KOMCA" in r.text
    assert creator.request("GET", f"/mandates/{third['id']}/confirm").status_code == 403
    r = creator.request("POST", f"/mandates/{mid}/confirm", data={**_csrf(creator), "answer": "confirm"})
    assert r.status_code == 200 and reg.mandate(mid)["confirmation"] == "holder"
    assert creator.client.post(f"/mandates/{mid}/confirm", data={"answer": "confirm"}).status_code == 403  # no CSRF


def test_tariff_page_publishes_and_refuses_in_korean_keeping_what_was_typed(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    creator = Session(app, "minji@example.org", "creator", "Kim Minji")
    assert creator.request("GET", "/org/tariffs").status_code == 403
    page = org.request("GET", "/org/tariffs", headers=KO).text
    assert "요금표 게시" in page and "작품당" in page and "per-work" not in page.split('id="tariff-model"')[1][:30]

    typed = {**_csrf(org), "kind": "licence", "model": "per-work", "currency": "KRW", "per_work.text": "1,000원x"}
    r = org.request("POST", "/org/tariffs", data={**typed, "purposes": ["commercial"]}, headers=KO)
    assert r.status_code == 422
    error = re.search(r'id="tariff-error">([^<]+)<', r.text)[1]
    assert error.startswith("텍스트 1건당: 가격 ") and "1,000원x" in error, error  # the reason in Korean too
    assert 'value="1,000원x"' in r.text and 'aria-invalid="true"' in r.text  # what was typed stays, marked
    assert 'value="commercial" checked' in r.text and 'value="research" checked' not in r.text

    r = org.request("POST", "/org/tariffs", data={**typed, "model": "revenue-share", "per_work.text": ""}, headers=KO)
    assert r.status_code == 422 and re.search(r'id="tariff-error">최저 금액:', r.text)

    good = {**typed, "per_work.text": "1000", "per_work.other": "2000", "model_versions": "v1, v2"}
    r = org.request("POST", "/org/tariffs", data=good, follow_redirects=False)
    assert r.status_code == 303
    t = app.state.web.registry.tariff(org.org_id)
    assert t["tariff"] == {
        "currency": "KRW",
        "model": "per-work",
        "per_work": {"text": "1000", "other": "2000"},
        "model_versions": ["v1", "v2"],
    }
    r = org.request("POST", "/org/tariffs", data={**_csrf(org), "kind": "retroactive", "surcharge_percent": "abc"})
    assert r.status_code == 422 and "Retroactive surcharge (%)" in r.text and 'value="abc"' in r.text
    r = org.request("POST", "/org/tariffs", data={**_csrf(org), "kind": "retroactive", "surcharge_percent": "30"})
    assert r.status_code == 200  # followed to the list
    r = org.request("POST", "/org/tariffs", data={**good, "per_work.text": "1,500원"})  # as a Korean reader writes it
    page = org.request("GET", "/org/tariffs", headers=KO).text
    rows = page.split('id="tariffs"')[1].split("</table>")[0].split("<tr>")[2:]
    assert len(rows) == 3
    assert "글 1,500원" in rows[0] and "기타 2,000원" in rows[0] and "<td>예</td>" in rows[0]  # newest: in use
    assert "소급 요금표" in rows[1] and "소급 할증률 (%) 30" in rows[1] and "<td>예</td>" in rows[1]
    assert "글 1,000원" in rows[2] and "<td>예</td>" not in rows[2]  # the older one is history
    assert [x["in_use"] for x in app.state.web.registry.tariffs(org.org_id)] == [True, True, False]
    assert app.state.web.registry.tariff(org.org_id)["tariff"]["per_work"]["text"] == "1500"
    r = org.request("POST", "/org/tariffs", data={**good, "currency": "USD", "per_work.text": "12.345"}, headers=KO)
    error = html.unescape(re.search(r'id="tariff-error">([^<]+)<', r.text)[1])
    assert r.status_code == 422 and error.startswith("텍스트 1건당: '12.345'은(는) 소수점 아래 자릿수가 USD"), error


def test_members_statements_pages_follow_the_api_access_rule(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    other = Session(app, "other@example.org", "org-admin", "Other CMO")
    creator = Session(app, "minji@example.org", "creator", "Kim Minji")
    dev = Session(app, "dev@example.org", "developer", "Acme AI")
    reg = app.state.web.registry
    assert org.request("PUT", "/api/org/tariff", json={"currency": "KRW", "per_work": {"other": "10000"}}).status_code
    assert org.request("PUT", "/api/org/tariff", params={"retroactive": "true"}, json={"surcharge_percent": "30"})
    assert org.request("POST", "/api/org/import", files={"file": ("rep.csv", CSV, "text/csv")}).json()["imported"]
    by_name = _mandates(app, org)
    for name in ("김작곡", "이작사"):
        reg.confirm_mandate(by_name[name]["id"], token=reg.mandate_invitation(by_name[name]["id"]))
    usage = {"works": ["K-1"], "model": "acme-7b", "model_versions": ["1.0"], "used_from": "2026-01-01"}
    [x] = dev.request("POST", "/api/licences/past-use", files={"usage": ("u.json", json.dumps(usage))}).json()[
        "licences"
    ]
    assert org.request("POST", f"/api/licences/{x['licence']}/accept", json={}).status_code == 200
    (inv,) = dev.request("GET", "/api/invoices").json()
    Licensing(reg).record_payment(inv["id"], Money("KRW", 13000), reference="BANK-1")
    year = date.today().year
    r = org.request(
        "POST",
        "/api/distribution/runs",
        json={"start": f"{year}-01-01", "end": f"{year}-12-31", "fee_percent": "10", "thresholds": {"KRW": "1"}},
    )
    run = r.json()["run"]

    member = int(by_name["김작곡"]["holder"].split(":")[1])
    page = org.request("GET", "/org", headers=KO).text
    assert f'href="/org/members/{member}/statements"' in page
    page = org.request("GET", f"/org/members/{member}/statements", headers=KO)
    assert page.status_code == 200 and "김작곡" in page.text and "5,850원" in page.text
    view = org.request("GET", f"/org/members/{member}/statements/{run}", headers=KO)
    assert view.status_code == 200 and "분배 명세서" in view.text and "김작곡" in view.text
    assert org.request("GET", f"/org/members/{member}/statements/{run + 1}").status_code == 404
    outsider = int(by_name["박가수"]["holder"].split(":")[1])  # pending: not a member whose statement to open
    assert org.request("GET", f"/org/members/{outsider}/statements").status_code == 404
    assert other.request("GET", f"/org/members/{member}/statements").status_code == 404
    assert creator.request("GET", f"/org/members/{member}/statements").status_code == 403
    assert TestClient(app).get(f"/org/members/{member}/statements/{run}").status_code == 401


def _zip(path, sheet: bytes, files: dict[str, bytes]) -> bytes:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("목록.csv", sheet)
        for name, data in files.items():
            z.writestr(name, data)
    return path.read_bytes()


def _row(i: int, file: str, holders: str = "김작곡:composer:1/2;이작사:lyricist:1/2") -> str:
    return f"K-{i},작품 {i},{file},{holders},,,,,allow,licence,,,15000,KRW\n"


def _text(i: int) -> bytes:
    return (
        f"작품 {i}번의 본문입니다. The body of work number {i}. ".encode()
        + " ".join(f"낱말{(i * 7 + k) % 97}" for k in range(60)).encode()
    )


def _until_checked(org: Session, url: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        page = org.request("GET", url, headers=KO)
        assert page.status_code == 200, page.text
        if 'id="check"' not in page.text:
            return page.text
        assert "행 검사" in page.text and '<meta http-equiv="refresh"' in page.text  # the progress page
        assert time.monotonic() < deadline, "the check did not end"
        time.sleep(0.3)


def test_upload_check_runs_as_a_job_behind_a_progress_page(tmp_path, database_url):
    app = make_app(tmp_path, database_url)
    org = Session(app, "komca@example.org", "org-admin", "KOMCA")
    other = Session(app, "other@example.org", "org-admin", "Other CMO")
    files = {f"files/w{i}.txt": _text(i) for i in range(1, 4)}
    files["files/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"junk" * 50
    bad = (
        _row(1, "files/w1.txt")
        + _row(2, "files/broken.png")
        + _row(3, "files/w3.txt", "박작가:author:60%;출판사:publisher:60%")
    )
    data = _zip(tmp_path / "bad.zip", (KO_HEADER + bad).encode("cp949"), files)

    # the POST only receives: the answer is a redirect to the check's page, which shows progress, then the report
    r = org.request(
        "POST",
        f"/org/upload?csrf={org.csrf}",
        files={"file": ("rep.zip", data, "application/zip")},
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"].startswith("/org/uploads/")
    url = r.headers["location"]
    assert other.request("GET", url).status_code == 404  # another organisation's upload is not there
    page = _until_checked(org, url)
    assert "CP949" in page and 'id="store-form"' not in page
    errors = page.split('id="upload-errors"')[1].split("</table>")[0]
    assert "<td>3</td><td>file</td>" in errors and "<td>4</td><td>holders</td>" in errors
    assert "지분의 합이" in errors  # the row reasons in Korean
    assert _until_checked(org, url) == page  # a reload shows the same report

    # fixed: the preview, then storing it is an import job
    good = _row(1, "files/w1.txt") + _row(2, "files/w2.txt") + _row(3, "files/w3.txt")
    data = _zip(tmp_path / "good.zip", (KO_HEADER + good).encode("cp949"), files)
    r = org.request("POST", f"/org/upload?csrf={org.csrf}", files={"file": ("rep.zip", data, "application/zip")})
    assert r.status_code == 200 and r.url.path.startswith("/org/uploads/")
    url = r.url.path
    page = _until_checked(org, url)
    assert 'id="upload-preview"' in page and 'id="store-form"' in page
    upload = url.rsplit("/", 1)[1]
    folder = app.state.web.uploads_dir / upload

    # a server restart while checking: the check's process is gone, and the page starts it again
    state = repertoire.check_state(folder)
    (folder / repertoire.CHECK_FILE).write_text(
        json.dumps({**state, "status": "running", "pid": 2**22 + 12345, "report": None}), encoding="utf-8"
    )
    page = _until_checked(org, url)
    assert 'id="upload-preview"' in page and repertoire.check_state(folder)["status"] == "done"

    r = org.request("POST", f"/org/upload/{upload}/store", data=_csrf(org), follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/org/jobs/")
    assert org.request("GET", url).status_code == 404  # stored: the check's page is gone with it
    assert org.request("POST", f"/org/upload/{upload}/store", data=_csrf(org)).status_code == 404

    # no sheet at all: refused, and nothing is left behind
    before = sorted(app.state.web.uploads_dir.iterdir())
    r = org.request("POST", f"/org/upload?csrf={org.csrf}", files={"files": ("a.txt", b"x", "text/plain")})
    assert r.status_code == 422
    assert sorted(app.state.web.uploads_dir.iterdir()) == before


def test_run_check_records_progress_and_the_report(tmp_path, registry):
    org = registry.add_org("KOMCA", country="KR")
    folder = tmp_path / "uploads" / ("ab" * 12)
    (folder / "parts").mkdir(parents=True)
    sheet = folder / "parts" / "rep.csv"
    sheet.write_bytes((KO_HEADER + "".join(_row(i, "") for i in range(1, 2001))).encode("cp949"))
    repertoire.queue_check(folder, org_id=org, source="rep.csv", sheet=sheet, selection=False)
    state = repertoire.run_check(registry, folder, every=0)
    assert state["status"] == "done" and state["rows_total"] == 2000 and state["rows_done"] == 2000
    assert state["report"]["created"] == 2000 and state["report"]["errors"] == []
    assert json.loads((folder / repertoire.CHECKED_FILE).read_text())["org_id"] == org
    assert registry.list_works(limit=10) == []  # a check stores nothing
    # an upload refused as a whole (a path outside the folder) is recorded as such, in words
    evil = folder / "parts" / "evil.zip"
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../escape.csv", KO_HEADER)
    repertoire.queue_check(folder, org_id=org, source="evil.zip", sheet=evil, selection=False)
    state = repertoire.run_check(registry, folder)
    assert state["status"] == "refused" and "evil.zip" in state["error"], state
    # a check that breaks is recorded as failed and raises
    repertoire.queue_check(folder, org_id=org, source="x.csv", sheet=folder / "parts" / "gone.csv", selection=False)
    with pytest.raises(FileNotFoundError):
        repertoire.run_check(registry, folder)
    assert repertoire.check_state(folder)["status"] == "failed"


_moments = st.one_of(st.none(), st.integers(min_value=-400, max_value=400))


@settings(max_examples=300, deadline=None)
@given(confirmed=_moments, revoked=_moments, ends=_moments, valid_from=st.integers(-400, 400), until=_moments)
def test_a_mandates_standing_in_words_agrees_with_the_one_rule(confirmed, revoked, ends, valid_from, until):
    """Whatever the dates, the words a page shows say "in force" (or "ending") exactly when
    ``core.decide.mandate_in_force`` counts the mandate."""
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from fairtrain.services.registry.registry import _mandate_dict

    now = datetime(2026, 6, 1, tzinfo=UTC)

    def day(n):
        return None if n is None else now + timedelta(days=n)

    row = SimpleNamespace(
        id=1,
        holder_id=1,
        org_id=1,
        categories="tdm",
        declared_at=now - timedelta(days=500),
        valid_from=day(valid_from),
        valid_until=day(until),
        confirmed_at=day(confirmed),
        confirmation=None if confirmed is None else "holder",
        paper_sha256=None,
        revoked_at=day(revoked),
        ends_at=day(ends) if revoked is not None else None,
    )
    m = _mandate_dict(row, now)
    assert (m["standing"] in ("in-force", "ending")) == m["in_force"]
    assert (m["standing"] == "pending") == (confirmed is None and revoked is None)
    assert m["standing"] != "declined" or not m["in_force"]


def test_a_sheet_over_2_mib_is_checked_and_stored_by_the_background_processes(tmp_path, registry):
    """The importer parses a sheet over 2 MiB in worker processes; the check's and the job's own processes
    (plain ``python -m`` children that die with the server) must be able to start them."""
    org = registry.add_org("KOMCA", country="KR")
    folder = tmp_path / "uploads" / ("cd" * 12)
    (folder / "parts").mkdir(parents=True)
    sheet = folder / "parts" / "big.csv"
    rows = "".join(f"K-{i},Work number {i},,Holder {i % 500}:composer:1,,,,deny,,,,allow,,\n" for i in range(36_000))
    sheet.write_text(KO_HEADER + rows, encoding="utf-8")
    assert sheet.stat().st_size > 2 << 20
    repertoire.queue_check(folder, org_id=org, source="big.csv", sheet=sheet, selection=False)
    repertoire.start_check_process(registry, folder).wait(timeout=300)
    state = repertoire.check_state(folder)
    assert state["status"] == "done", state.get("error")
    assert state["report"]["created"] == 36_000 and state["rows_total"] == 36_000
    checked = json.loads((folder / repertoire.CHECKED_FILE).read_text(encoding="utf-8"))
    p = checked["prepared"]
    prepared = repertoire.Prepared(
        p["source"], Path(p["sheet"]), Path(p["files_root"]), p["encoding"], Path(p["staging"])
    )
    job_id = repertoire.create_job(registry, prepared, org, checked["report"])
    repertoire.start_job_process(registry, job_id).wait(timeout=300)
    job = repertoire.job(registry, job_id)
    assert job["status"] == "done" and job["report"]["created"] == 36_000, job.get("error")
