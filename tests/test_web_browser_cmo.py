"""A CMO's office in Korean, in Debian's Chromium against `fairtrain serve` (issue 15): a ZIP with a CP949
sheet and files, one broken file and one bad share → one report with both → fixed → preview → stored as a
job with progress → a tariff published from the form → a member confirms a mandate by the invitation link
(another by the signed paper) → a licence accepted → paid → a distribution run → the member's statement
opened by the admin → a collective licence template published, asked for and accepted; first, a tariff
published from the form. axe-core checks the office's pages; screenshots at 1280 and 390 px."""

from __future__ import annotations

import json
import time
import zipfile

import httpx
import pytest

from browser_helpers import (
    axe_findings,
    cli,
    korean_context,
    needs_axe,
    needs_chromium,
    serving,
    shot,
    sideways,
    sign_up,
)

pytestmark = [needs_chromium, needs_axe]
HEADER = "작품코드,제목,파일,권리자,ISWC,ISRC,ISBN,TDM,AI학습,생성형AI학습,AI입력,검색,가격,통화\n"


@pytest.fixture(scope="module")
def office(tmp_path_factory):
    """`fairtrain serve` on a data directory of its own: (base URL, data directory)."""
    data = tmp_path_factory.mktemp("office-data")
    with serving(data) as base:
        yield base, data


def _text(i: int) -> bytes:
    words = " ".join(f"낱말{(i * 7 + k) % 97}" for k in range(80))
    return f"작품 {i}번의 본문입니다. The body of work number {i}. {words}\n".encode()


def _zip(path, rows: str, files: dict[str, bytes]) -> str:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("목록.csv", (HEADER + rows).encode("cp949"))
        for name, data in files.items():
            z.writestr(name, data)
    return str(path)


def _shots(page, name: str, problems: list[str]) -> None:
    """Screenshots at 1280 and 390 px, and axe-core's serious or critical findings."""
    for width, height in ((1280, 900), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        shot(page, f"ko-cmo-{name}-{width}")
        if width == 390 and (over := sideways(page)) > 0:
            problems.append(f"{name}: scrolls sideways by {over} px at 390")
    page.set_viewport_size({"width": 1280, "height": 900})
    problems += [f"{name}: axe {v}" for v in axe_findings(page)]


def _until(page, url: str, selector: str, timeout: float = 120) -> None:
    """Open ``url`` again until ``selector`` is on it (a page that refreshes itself while work goes on)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(url)
        if page.locator(selector).count():
            return
        assert time.monotonic() < deadline, f"{selector} never appeared on {url}"
        time.sleep(0.5)


def test_a_cmo_office_in_korean(office, browser, tmp_path):
    base, data = office
    problems: list[str] = []
    ctx = korean_context(browser)
    page = ctx.new_page()
    sign_up(page, base, "org-admin", "한국음악저작권협회 (시험)", "office@example.org", country="KR")
    page.wait_for_url(base + "/org")

    # the tariffs: a refused form says which field in Korean and keeps what was typed; then published
    page.goto(base + "/org/tariffs")
    page.fill("#tariff-per_work-text", "천 원")
    with page.expect_navigation():
        page.click("#tariff-submit")
    assert page.inner_text("#tariff-error").startswith("텍스트 1건당:")
    assert page.input_value("#tariff-per_work-text") == "천 원"
    _shots(page, "01-tariff-error", problems)
    page.fill("#tariff-per_work-text", "1,000원")  # as a Korean reader writes it
    with page.expect_navigation():
        page.click("#tariff-submit")
    page.wait_for_selector("#tariff-published")
    page.check("input[name=kind][value=retroactive]")
    page.fill("#tariff-per_work-text", "")
    page.fill("#tariff-surcharge_percent", "50")
    with page.expect_navigation():
        page.click("#tariff-submit")
    page.wait_for_selector("#tariff-published")
    assert page.locator("#tariffs tbody tr").count() == 2 and "소급 요금표" in page.inner_text("#tariffs")
    _shots(page, "02-tariffs", problems)

    # the repertoire: one broken file and one bad share, reported together, in Korean
    files = {"files/k1.txt": _text(1), "files/k2.txt": _text(2), "files/k3.txt": _text(3)}
    files["files/broken.png"] = b"\x89PNG\r\n\x1a\n" + b"junk" * 50
    rows = (
        "K-1,아리랑 변주곡,files/k1.txt,김작곡:composer:1,,,,,,licence,,allow,,\n"
        "K-2,봄날,files/broken.png,김작곡:composer:1,,,,,,licence,,,,\n"
        "K-3,바람의 노래,files/k3.txt,이작사:lyricist:60%;김작곡:composer:60%,,,,,,licence,,,,\n"
    )
    page.goto(base + "/org")
    page.set_input_files("#upload-file", _zip(tmp_path / "bad.zip", rows, files))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-report", timeout=120_000)  # through the check's progress page
    assert "/org/uploads/" in page.url
    lines = [r.split("\t")[:2] for r in page.inner_text("#upload-errors tbody").splitlines()]
    assert lines == [["3", "file"], ["4", "holders"]], lines
    assert "지분의 합이" in page.inner_text("#upload-errors") and "CP949" in page.inner_text("#upload-report")
    _shots(page, "03-report", problems)

    fixed = rows.replace("files/broken.png", "files/k2.txt").replace(
        "이작사:lyricist:60%;김작곡:composer:60%", "이작사:lyricist:1"
    )
    page.goto(base + "/org")
    page.set_input_files("#upload-file", _zip(tmp_path / "good.zip", fixed, files))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-preview", timeout=120_000)
    assert "3" in page.inner_text("#upload-preview")
    _shots(page, "04-preview", problems)
    page.click("#store-submit")
    page.wait_for_url(f"{base}/org/jobs/*")
    job = page.url
    # the rows are all stored (100 %) a moment before the job is marked done: wait for the word
    _until(page, job, "#job-status:has-text('완료')")
    assert page.locator("#job-progress[value='100']").count() == 1
    _shots(page, "05-stored", problems)

    # mandates: pending in words; 김작곡 confirms through the invitation link, 이작사's signed paper is attached
    page.goto(base + "/org")
    assert page.inner_text("#members").count("회원의 동의 대기 중") == 2
    page.click("#members tr:has-text('김작곡') button.invite")
    link = page.inner_text("#invitation-link")
    _shots(page, "06-mandates", problems)
    member_ctx = korean_context(browser)
    member = member_ctx.new_page()
    member.goto(link)
    assert "김작곡" in member.inner_text("#mandate") and "생성형 AI 학습" in member.inner_text("#mandate-uses")
    _shots(member, "07-member-invited", problems)
    member.click("#mandate-confirm")
    member.wait_for_selector("#mandate-done")
    assert member.inner_text("#mandate-status") == "효력 있음"
    _shots(member, "08-member-confirmed", problems)
    member_ctx.close()
    paper = tmp_path / "서명한 신탁계약서.pdf"
    paper.write_bytes(b"%PDF-1.4 signed paper mandate")
    page.goto(base + "/org")
    page.set_input_files("#members tr:has-text('이작사') input[type=file]", str(paper))
    page.click("#members tr:has-text('이작사') button.paper")
    page.wait_for_url(f"{base}/org?saved=1*")
    assert page.inner_text("#members").count("효력 있음") == 2 and "서명한 문서" in page.inner_text("#members")

    # a developer declares past use of the three works; the office accepts the licence on /money
    dev = httpx.Client(base_url=base)
    r = dev.post(
        "/api/auth/signup",
        json={"email": "dev@example.org", "password": "a long enough password", "role": "developer", "name": "Acme AI"},
    )
    csrf = r.json()["csrf"]
    usage = {"works": ["K-1", "K-2", "K-3"], "model": "acme-7b", "model_versions": ["1.0"], "used_from": "2026-01-01"}
    r = dev.post(
        "/api/licences/past-use", files={"usage": ("usage.json", json.dumps(usage))}, headers={"X-CSRF-Token": csrf}
    )
    assert r.status_code == 201, r.text
    [lic] = r.json()["licences"]
    assert lic["price"]["minor"] == 4500  # three texts at 1,000원, plus 50 %
    page.goto(base + "/money")
    with page.expect_navigation():
        page.click(f"#licence-{lic['licence']} button.accept")
    page.wait_for_load_state()
    assert "허락" in page.inner_text(f"#licence-{lic['licence']} .status")
    (invoice,) = dev.get("/api/invoices").json()
    cli(
        data, "payments", "record", str(invoice["id"]), "--amount", "4500", "--currency", "KRW", "--reference", "BANK-1"
    )
    year = time.strftime("%Y")
    page.fill("#run-start", f"{year}-01-01")
    page.fill("#run-end", f"{year}-12-31")
    page.fill("#run-fee", "10")
    page.fill("input[name=threshold]", "1")
    with page.expect_navigation():
        page.click("#run-submit")
    page.wait_for_selector("#done")

    # the admin opens a member's statement from the mandate list
    page.goto(base + "/org")
    page.click("#members a:has-text('김작곡')")
    page.wait_for_selector("#statements")
    assert "2,700원" in page.inner_text("#statements")  # K-1 and K-2: 3,000원 less the 10 % fee
    _shots(page, "09-member-statements", problems)
    with page.expect_navigation():
        page.click("#statements a.statement-view")
    page.wait_for_load_state()
    assert "분배 명세서" in page.content() and "김작곡" in page.content()
    shot(page, "ko-cmo-10-statement-1280")

    # a collective licence: the office publishes a template, the developer asks for it, the office grants it
    page.goto(base + "/org")
    with page.expect_navigation():
        page.click("#licence-templates-link")
    page.fill("#tpl-name_ko", "생성형 AI 학습 포괄 이용허락")
    page.fill("#tpl-name_en", "Generative AI training, whole repertoire")
    page.check("#tpl-cat-train-genai")
    page.select_option("#tpl-model", "flat-fee")
    page.fill("#tpl-amount", "3,000,000")
    with page.expect_navigation():
        page.click("#template-submit")
    assert "생성형 AI 학습 포괄 이용허락" in page.inner_text("#templates")
    (template,) = dev.get("/api/licence-templates").json()
    r = dev.post(
        f"/api/licence-templates/{template['id']}/request",
        json={"purpose": "commercial"},
        headers={"X-CSRF-Token": csrf},
    )
    assert r.status_code == 201, r.text
    asked = r.json()
    assert asked["organisation"]["name"] == "한국음악저작권협회 (시험)" and len(asked["works"]) == 3
    page.reload()
    with page.expect_navigation():
        page.click(f"#asked-{asked['id']} button.accept-collective")
    assert page.locator(f"#asked-{asked['id']} button.accept-collective").count() == 0
    _shots(page, "11-licence-templates", problems)
    invoices = {i["licence"]: i for i in dev.get("/api/invoices").json()}
    assert invoices[asked["id"]]["amount"]["minor"] == 3_000_000
    ctx.close()
    assert not problems, "\n".join(problems)
