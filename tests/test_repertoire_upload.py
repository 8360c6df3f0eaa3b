"""A repertoire as the office keeps it: ZIPs of a sheet and files, CP949, UTF-16 and XLSX sheets, one report
of every problem, a preview, and a background job that resumes after a kill without duplicating works."""

from __future__ import annotations

import io
import os
import signal
import time
import zipfile

import pytest
from sqlalchemy import func, select

from cli_helpers import FAIRTRAIN
from fairtrain.core.store.models import Fingerprint, Work
from fairtrain.services.registry import RegistryError
from fairtrain.services.registry import repertoire as rep
from test_csv_import import count

KO_HEADER = "작품코드,제목,파일,권리자,ISWC,ISRC,ISBN,TDM,AI학습,생성형AI학습,AI입력,검색,가격,통화\n"
EN_HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


def text_file(i: int) -> bytes:
    words = " ".join(f"낱말{(i * 7 + k) % 97}" for k in range(60))
    return f"작품 {i}번의 본문입니다. The body of work number {i}. {words}\n".encode()


def row(i: int, file: str = "", holders: str = "김작곡:composer:1/2;이작사:lyricist:1/2") -> str:
    return f"K-{i},작품 {i},{file},{holders},,,,,allow,licence,,,15000,KRW\n"


@pytest.fixture
def org(registry):
    return registry.add_org("KOMCA", country="KR")


def make_zip(path, sheet_name: str, sheet: bytes, files: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(sheet_name, sheet)
        for name, data in files.items():
            z.writestr(name, data)


def stage(tmp_path, path, name="upload"):
    return rep.prepare(path, tmp_path / "data" / "uploads" / name, source=path.name)


def test_cp949_zip_one_report_with_file_and_share_problems_then_preview_then_job(registry, org, tmp_path):
    files = {f"files/w{i}.txt": text_file(i) for i in range(1, 6)}
    files["files/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"not really a picture" * 10
    body = "".join(row(i, f"files/w{i}.txt") for i in range(1, 5))
    bad = body + row(5, "files/broken.png") + row(6, "files/w5.txt", holders="박작가:author:60%;출판사:publisher:60%")
    upload = tmp_path / "repertoire.zip"
    make_zip(upload, "목록.csv", (KO_HEADER + bad).encode("cp949"), files)
    report = rep.validate(registry, stage(tmp_path, upload, "a"), org)
    assert report["encoding"] == "CP949 (EUC-KR)"
    problems = {(e["line"], e["column"]) for e in report["errors"]}
    assert problems == {(6, "file"), (7, "holders")}, report["errors"]
    assert "not exactly 1" in next(e["reason"] for e in report["errors"] if e["column"] == "holders")
    assert count(registry, Work) == 0  # nothing stored by validation
    with pytest.raises(RegistryError, match="problem"):
        rep.create_job(registry, stage(tmp_path, upload, "a2"), org, report)

    # fixed: the broken file replaced, the shares mended
    files["files/fixed.txt"] = text_file(99)
    fixed = body + row(5, "files/fixed.txt") + row(6, "files/w5.txt", holders="박작가:author:40%;출판사:publisher:60%")
    make_zip(upload, "목록.csv", (KO_HEADER + fixed).encode("cp949"), files)
    prepared = stage(tmp_path, upload, "b")
    report = rep.validate(registry, prepared, org)
    assert report["errors"] == []
    assert (report["rows"], report["created"], report["updated"], report["disputes"]) == (6, 6, 0, 0)
    assert count(registry, Work) == 0
    job_id = rep.create_job(registry, prepared, org, report)
    assert rep.job(registry, job_id)["status"] == "queued"
    seen = []
    done = rep.run_job(registry, job_id, batch_rows=2, progress=lambda d, t: seen.append((d, t)))
    assert done["status"] == "done" and done["percent"] == 100 and done["report"]["created"] == 6
    assert seen == [(2, 6), (4, 6), (6, 6)]
    assert count(registry, Work) == 6
    assert count(registry, Fingerprint) == 6  # every file fingerprinted, like `works add`
    with registry.engine.connect() as c:
        assert all(c.execute(select(Work.iscc)).scalars())
    with pytest.raises(rep.NotFound):
        rep.job(registry, job_id, org_id=org + 1000)
    # the same upload again: a preview of nothing new
    again = rep.validate(registry, stage(tmp_path, upload, "c"), org)
    assert (again["created"], again["unchanged"]) == (0, 6)


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(tmp_path):
    upload = tmp_path / "bomb.zip"
    with zipfile.ZipFile(upload, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("sheet.csv", EN_HEADER)
        z.writestr("files/zeros.txt", b"\0" * (50 << 20))
    with pytest.raises(RegistryError, match=r"zeros.txt.*ZIP bomb"):
        stage(tmp_path, upload)
    assert not (tmp_path / "data" / "uploads" / "upload" / "unpacked" / "files").exists()
    with pytest.raises(RegistryError, match="in total"):
        rep.prepare(upload, tmp_path / "t", limits=rep.Limits(max_total_bytes=1 << 20, max_ratio=10**9))


@pytest.mark.parametrize("name", ["../evil.txt", "files/../../evil.txt", "/etc/evil.txt"])
def test_a_member_outside_the_zip_folder_is_refused(tmp_path, name):
    upload = tmp_path / "traversal.zip"
    with zipfile.ZipFile(upload, "w") as z:
        z.writestr("sheet.csv", EN_HEADER)
        z.writestr(zipfile.ZipInfo(name), b"x")
    with pytest.raises(RegistryError, match="outside the ZIP's folder"):
        stage(tmp_path, upload)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "data" / "evil.txt").exists()


def test_an_xlsx_sheet_with_korean_headers(registry, org, tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(KO_HEADER.strip().split(","))
    ws.append(
        [
            "K-1",
            "엑셀 작품",
            "",
            "김작곡:composer:1",
            None,
            None,
            None,
            None,
            "allow",
            "licence",
            None,
            None,
            15000,
            "KRW",
        ]
    )
    path = tmp_path / "repertoire.xlsx"
    wb.save(path)
    report = rep.validate(registry, stage(tmp_path, path), org)
    assert report["encoding"] == "XLSX" and report["errors"] == [] and report["created"] == 1


def test_excel_unicode_text_is_utf16_tab_separated(registry, org, tmp_path):
    lines = [EN_HEADER.strip().split(","), row(1).strip().split(","), row(2).strip().split(",")]
    path = tmp_path / "repertoire.txt"
    path.write_bytes("\r\n".join("\t".join(r) for r in lines).encode("utf-16"))
    report = rep.validate(registry, stage(tmp_path, path), org)
    assert report["encoding"] == "UTF-16, tab-separated"
    assert report["errors"] == [] and report["created"] == 2


def test_an_undecodable_sheet_names_the_line_and_the_fix(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(EN_HEADER.encode() + b"K-1,\x80\x80\xff,,a:author:1\n")
    with pytest.raises(RegistryError, match=r"line 2: .* neither UTF-8 nor CP949.*CSV UTF-8"):
        stage(tmp_path, path)


def test_templates_read_back_as_one_valid_row(registry, org, tmp_path):
    for kind in ("csv", "xlsx"):
        for lang in ("ko", "en"):
            path = tmp_path / f"t-{lang}.{kind}"
            path.write_bytes(rep.template(kind, lang))
            prepared = rep.prepare(path, tmp_path / f"s-{kind}-{lang}", source=path.name)
            report = rep.validate(registry, prepared, org)
            # the example row names a file the template does not ship: that is its only problem
            assert [(e["line"], e["column"]) for e in report["errors"]] == [(2, "file")], (kind, lang, report)


def test_a_killed_job_resumes_without_duplicating_works(registry, org, tmp_path):
    n = 300
    sheet = tmp_path / "big.csv"
    sheet.write_text(EN_HEADER + "".join(row(i) for i in range(1, n + 1)), encoding="utf-8")
    prepared = stage(tmp_path, sheet)
    report = rep.validate(registry, prepared, org)
    assert report["errors"] == [] and report["created"] == n
    job_id = rep.create_job(registry, prepared, org, report)
    proc = rep.start_job_process(registry, job_id, batch_rows=1)
    deadline = time.monotonic() + 60
    while rep.job(registry, job_id)["rows_done"] < 5:
        assert proc.poll() is None and time.monotonic() < deadline, rep.job(registry, job_id)
        time.sleep(0.002)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    state = rep.job(registry, job_id)
    assert state["status"] == "running" and 5 <= state["rows_done"] < n
    assert count(registry, Work) == state["rows_done"]  # each batch committed with its progress
    assert rep.interrupted_jobs(registry) == [job_id]
    done = rep.run_job(registry, job_id, batch_rows=50)
    assert done["status"] == "done" and done["rows_done"] == n
    assert done["report"]["created"] == n
    assert count(registry, Work) == n
    with registry.engine.connect() as c:
        refs = c.execute(select(Work.work_ref)).scalars().all()
    assert sorted(refs) == sorted(f"K-{i}" for i in range(1, n + 1))
    assert rep.interrupted_jobs(registry) == []


def test_the_command_line_takes_the_same_zip_with_a_dry_run(database_url, registry, org, tmp_path):
    import json
    import subprocess

    files = {f"files/w{i}.txt": text_file(i) for i in range(1, 4)}
    upload = tmp_path / "repertoire.zip"
    make_zip(
        upload, "목록.csv", (KO_HEADER + "".join(row(i, f"files/w{i}.txt") for i in range(1, 4))).encode("cp949"), files
    )
    env = {**os.environ, "FAIRTRAIN_DATA_DIR": str(tmp_path / "data"), "FAIRTRAIN_DATABASE_URL": database_url}

    def cli(*args):
        return subprocess.run(
            [*FAIRTRAIN, "registry", "import", str(upload), "--org", "KOMCA", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    r = cli("--dry-run", "--json")
    assert r.returncode == 0, r.stderr
    dry = json.loads(r.stdout)
    assert (dry["created"], dry["imported"], dry["encoding"], dry["dry_run"]) == (3, False, "CP949 (EUC-KR)", True)
    assert count(registry, Work) == 0
    r = cli()
    assert r.returncode == 0, r.stderr
    assert "CP949" in r.stderr
    assert count(registry, Work) == 3 and count(registry, Fingerprint) == 3
    assert not list((tmp_path / "data" / "uploads").iterdir())  # the staging folder is gone


# -- the web: streamed upload, one report, preview, store as a job, progress ----------------------------


def _wait_done(get, timeout=60):
    deadline = time.monotonic() + timeout
    while (j := get())["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, j
        time.sleep(0.1)
    return j


def _wait_until(condition, timeout=10):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "not within the timeout"
        time.sleep(0.05)


def test_web_upload_report_preview_store_and_job(database_url, tmp_path):
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url)
    admin = Session(app, "cmo@example.org", "org-admin", "KOMCA")
    files = {f"files/w{i}.txt": text_file(i) for i in range(1, 4)}
    files["files/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"junk" * 50
    bad = (
        "".join(row(i, f"files/w{i}.txt") for i in range(1, 3))
        + row(3, "files/broken.png")
        + row(4, "files/w3.txt", holders="박작가:author:60%;출판사:publisher:60%")
    )
    upload = tmp_path / "rep.zip"
    make_zip(upload, "목록.csv", (KO_HEADER + bad).encode("cp949"), files)
    r = admin.request("POST", "/api/org/upload", files={"file": ("rep.zip", upload.read_bytes(), "application/zip")})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["encoding"] == "CP949 (EUC-KR)"
    assert {(e["line"], e["column"]) for e in report["errors"]} == {(4, "file"), (5, "holders")}
    assert admin.request("POST", f"/api/org/upload/{report['upload']}/store").status_code == 400
    uploads = tmp_path / "data" / "uploads"
    assert uploads.is_dir()

    # a sheet and a selection of files (named in the sheet by their name alone)
    good = "".join(row(i, f"files/w{i}.txt") for i in range(1, 4))
    parts = [("file", ("rep.csv", (KO_HEADER + good).encode("cp949"), "text/csv"))] + [
        ("files", (name.rsplit("/", 1)[1], data, "text/plain")) for name, data in files.items() if "w" in name
    ]
    r = admin.request("POST", "/api/org/upload", files=parts)
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["errors"] == [] and (report["created"], report["updated"], report["disputes"]) == (3, 0, 0)
    r = admin.request("POST", f"/api/org/upload/{report['upload']}/store")
    assert r.status_code == 202, r.text
    job = _wait_done(lambda: admin.request("GET", f"/api/org/jobs/{r.json()['id']}").json())
    assert job["status"] == "done" and job["report"]["created"] == 3 and job["percent"] == 100
    # the job's process drops the stored upload's staging folder just after its last commit
    _wait_until(lambda: not (uploads / report["upload"]).exists())
    # stored once: the same upload cannot be stored twice
    assert admin.request("POST", f"/api/org/upload/{report['upload']}/store").status_code == 404
    with app.state.web.registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Fingerprint)).scalar_one() == 3
    # another organisation sees neither the job nor the upload
    other = Session(app, "other@example.org", "org-admin", "Other CMO")
    assert other.request("GET", f"/api/org/jobs/{job['id']}").status_code == 404
    # the templates
    t = admin.request("GET", "/api/org/template.xlsx?lang=ko")
    assert t.status_code == 200 and t.content[:2] == b"PK"
    assert "작품코드" in admin.request("GET", "/api/org/template.csv?lang=ko").content.decode("utf-8-sig")


def test_web_upload_refuses_a_traversal_zip_and_a_body_over_the_cap(database_url, tmp_path):
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url, max_import_bytes=200_000)
    admin = Session(app, "cmo@example.org", "org-admin", "KOMCA")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("sheet.csv", EN_HEADER)
        z.writestr(zipfile.ZipInfo("../../evil.txt"), b"x")
    r = admin.request("POST", "/api/org/upload", files={"file": ("evil.zip", evil.getvalue(), "application/zip")})
    assert r.status_code == 400 and "outside the ZIP's folder" in r.text
    assert not list((tmp_path / "data" / "uploads").iterdir())  # nothing left behind
    r = admin.request("POST", "/api/org/upload", files={"file": ("big.csv", b"x" * 300_000, "text/csv")})
    assert r.status_code == 413
    r = admin.client.post("/api/org/upload", files={"file": ("a.csv", b"x", "text/csv")})  # no CSRF token
    assert r.status_code == 403


def test_a_server_restart_resumes_an_interrupted_job(database_url, tmp_path):
    from web_helpers import Session, make_app

    app = make_app(tmp_path, database_url)
    admin = Session(app, "cmo@example.org", "org-admin", "KOMCA")
    registry = app.state.web.registry
    sheet = tmp_path / "s.csv"
    sheet.write_text(EN_HEADER + "".join(row(i) for i in range(1, 21)), encoding="utf-8")
    prepared = rep.prepare(sheet, tmp_path / "data" / "uploads" / "x", source="s.csv")
    job_id = rep.create_job(registry, prepared, admin.org_id, rep.validate(registry, prepared, admin.org_id))
    with registry.engine.begin() as c:  # as a server killed mid-job leaves it: running, its process gone
        from sqlalchemy import update

        from fairtrain.core.store.models import ImportJob

        c.execute(update(ImportJob).where(ImportJob.id == job_id).values(status="running", pid=2**22 + 1))
    app2 = make_app(tmp_path, database_url)
    from fastapi.testclient import TestClient

    with TestClient(app2):  # start-up resumes it
        job = _wait_done(lambda: rep.job(registry, job_id))
    assert job["status"] == "done" and job["report"]["created"] == 20
    assert count(registry, Work) == 20


# -- the browser: /org in Korean, upload → report → fix → preview → store → progress -------------------


def test_browser_cmo_uploads_a_zip_in_korean(tmp_path, request):
    from browser_helpers import CHROMIUM, shot, sign_up

    if not CHROMIUM.exists():
        pytest.skip("Debian chromium not installed (apt-get install chromium)")
    base = request.getfixturevalue("server")
    chrome = request.getfixturevalue("browser")

    def shots(page, name):
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            shot(page, f"ko-import-{name}-{width}")
        page.set_viewport_size({"width": 1280, "height": 900})

    files = {f"files/w{i}.txt": text_file(i + 500) for i in range(1, 5)}
    files["files/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"junk" * 50
    body = "".join(row(i + 500, f"files/w{i}.txt") for i in range(1, 4))
    bad = (
        body + row(504, "files/broken.png") + row(505, "files/w4.txt", holders="박작가:author:60%;출판사:publisher:60%")
    )
    upload = tmp_path / "목록.zip"
    make_zip(upload, "목록.csv", (KO_HEADER + bad).encode("cp949"), files)

    ctx = chrome.new_context(locale="ko-KR")
    page = ctx.new_page()
    sign_up(page, base, "org-admin", "한국음악저작권협회 시험", "cmo-upload@example.org", country="KR")
    page.wait_for_url(base + "/org")
    assert "작품코드" in page.locator("#column-guide").text_content()  # the Korean header of work_ref
    page.set_input_files("#upload-file", str(upload))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-report")
    assert page.inner_text("#upload-encoding") == "CP949 (EUC-KR)"
    errors = page.inner_text("#upload-errors tbody")
    assert [r.split("\t")[:2] for r in errors.splitlines()] == [["5", "file"], ["6", "holders"]]
    assert "지분의 합이" in errors and "지문을 만들 수 없습니다" in errors  # reasons in Korean
    assert page.locator("#store-submit").count() == 0
    shot(page, "1-report")

    files["files/fixed.txt"] = text_file(599)
    fixed = (
        body + row(504, "files/fixed.txt") + row(505, "files/w4.txt", holders="박작가:author:40%;출판사:publisher:60%")
    )
    make_zip(upload, "목록.csv", (KO_HEADER + fixed).encode("cp949"), files)
    page.set_input_files("#upload-file", str(upload))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-preview")
    assert "5건이 새로 등록" in page.inner_text("#upload-preview")
    shot(page, "2-preview")
    page.click("#store-submit")
    page.wait_for_url(base + "/org/jobs/*")
    shot(page, "3-progress")
    deadline = time.monotonic() + 60
    while page.inner_text("#job-status") != "완료":  # the page refreshes itself; a reload shows the same job
        assert time.monotonic() < deadline
        time.sleep(0.5)
        page.reload()
    assert "5" in page.inner_text("#job-counts")
    shot(page, "4-done")
    page.goto(base + "/org")
    assert "100%" in page.inner_text("#import-jobs")
    ctx.close()
