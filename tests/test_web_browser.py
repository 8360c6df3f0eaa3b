"""Browser tests: Playwright for Python driving Debian's chromium (never a downloaded browser) against
`fairtrain serve` in a subprocess on 127.0.0.1, in English and in Korean. Screenshots of every page go to
artifacts/screenshots/."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import httpx
import pytest

from browser_helpers import needs_chromium, shot, sign_up
from conftest import make_image
from web_helpers import text_file

pytestmark = needs_chromium


TEXTS = {
    "en": {
        "nav": "Look up a work",
        "saved": "Saved.",
        "nothing": "nothing was stored.",
        "deny": "Denied",
        "money": "Licences and money",
        "image": "Image",
        "text": "Text",
    },
    "ko": {
        "nav": "저작물 찾기",
        "saved": "저장했습니다.",
        "nothing": "아무것도 저장되지 않았습니다.",
        "deny": "거부",
        "money": "이용허락과 정산",
        "image": "이미지",
        "text": "글",
    },
}


@pytest.mark.parametrize("lang", ["en", "ko"])
def test_creator_cmo_and_public_flows(server, browser, tmp_path, lang):
    t = TEXTS[lang]
    locale = {"en": "en-GB", "ko": "ko-KR"}[lang]
    title = f"Poem {lang} 바람의 노래"

    # -- a creator signs up, uploads an image and a text, denies training, downloads the kit --
    ctx = browser.new_context(locale=locale, accept_downloads=True)
    page = ctx.new_page()
    page.goto(server + "/")
    assert page.locator("html").get_attribute("lang") == lang and t["nav"] in page.inner_text("header")
    shot(page, f"{lang}-01-home")
    sign_up(page, server, "creator", f"Creator {lang}", f"creator-{lang}@example.org", submit=False)
    shot(page, f"{lang}-02-signup")
    page.click("#signup-submit")
    page.wait_for_url(server + "/creator")
    img = tmp_path / "photo.jpg"
    img.write_bytes(make_image(11 + ord(lang[0])))  # distinct per language: the same photo twice is a dispute
    page.set_input_files("#file-input", str(img))  # the click-to-choose path
    page.wait_for_selector("#works tbody tr:nth-child(1) a")
    # the drag-and-drop path: a real drop event carrying a File
    page.evaluate(
        """([name, text]) => {
        const dt = new DataTransfer();
        dt.items.add(new File([text], name, {type: "text/plain"}));
        document.getElementById("dropzone").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true}));
    }""",
        [f"{title}.txt", text_file(ord(lang[0])).decode()],
    )
    page.wait_for_selector("#works tbody tr:nth-child(2) a")
    rows = page.inner_text("#works tbody")
    assert "photo" in rows and t["image"] in rows and title in rows and t["text"] in rows
    assert lang == "en" or ("image" not in rows and "active" not in rows)  # words, not codes
    shot(page, f"{lang}-03-creator-works")
    # upload results stay on screen, across the reload that lists the new works, until dismissed
    page.wait_for_timeout(1000)
    results = page.locator("#upload-results li")
    assert results.count() == 2 and "photo.jpg" in results.nth(0).inner_text()
    results.nth(0).locator("button.dismiss").click()
    assert page.locator("#upload-results li").count() == 1
    page.reload()
    assert page.locator("#upload-results li").count() == 1  # dismissed stays dismissed
    assert page.is_checked("#v_search_allow") and page.is_checked("#v_train-ai_deny")
    page.check("#v_train-ai_deny")
    page.check("#v_tdm_deny")
    page.click("#policy-submit")
    page.wait_for_selector("#policy-saved")
    assert t["saved"] in page.inner_text("#policy-saved")
    shot(page, f"{lang}-04-creator-policy")
    page.fill("#kit-site", f"https://creator-{lang}.example")
    page.click("#kit-submit")
    page.click("#kit-admin > summary")  # the server files are for website administrators, folded away
    page.wait_for_selector("#kit-download")
    shot(page, f"{lang}-05-kit")
    with page.expect_download() as dl:
        page.click("#kit-download")
    kit = zipfile.ZipFile(io.BytesIO(Path(dl.value.path()).read_bytes()))
    robots = kit.read("robots.txt").decode()
    assert "train-ai=n" in robots and "search=y" in robots
    # the creator's licences-and-money page: requests addressed to them, statements (none yet)
    page.goto(server + "/money")
    assert page.locator("html").get_attribute("lang") == lang and page.locator("h1").count() == 1
    assert t["money"] in page.inner_text("h1")
    shot(page, f"{lang}-05b-creator-money")
    ctx.close()

    # -- a CMO imports a CSV with one bad row and sees the report --
    ctx = browser.new_context(locale=locale)
    page = ctx.new_page()
    sign_up(page, server, "org-admin", f"CMO {lang}", f"cmo-{lang}@example.org", country="KR")
    page.wait_for_url(server + "/org")
    csv = tmp_path / "repertoire.csv"
    csv.write_text(
        "work_ref,title,holders,tdm,search\n"
        f"K-1,아리랑 {lang},김작곡:composer:1,deny,allow\n"
        f"K-2,Bad row {lang},김작곡:composer:1/2;이작사:lyricist:1/3,deny,\n"
        f"K-3,Third {lang},김작곡:composer:1,sometimes,\n",
        encoding="utf-8",
    )
    page.set_input_files("#upload-file", str(csv))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-report")
    report = page.inner_text("#upload-report")
    assert t["nothing"] in report and "holders" in report and "tdm" in report
    assert [r.split("\t")[0] for r in page.inner_text("#upload-errors tbody").splitlines()] == ["3", "4"]
    shot(page, f"{lang}-06-cmo-import-report")
    ctx.close()

    # -- the public looks up the creator's work by title, reads its terms and the log --
    ctx = browser.new_context(locale=locale)
    page = ctx.new_page()
    page.goto(server + "/search")
    page.fill("#search-title", title)
    page.click("#search-submit")
    page.wait_for_selector("#results")
    assert title in page.inner_text("#results") and t["deny"] in page.inner_text("#results")
    assert f"아리랑 {lang}" not in page.content()  # the invalid import stored nothing
    shot(page, f"{lang}-07-public-search")
    page.click(f"#results a:has-text('{title}')")
    page.wait_for_selector("#terms")
    shot(page, f"{lang}-08-public-work")
    page.goto(server + "/log")
    assert int(page.inner_text("#log-head dd")) >= 2  # the creator's declarations are logged
    shot(page, f"{lang}-09-public-log")
    # "was my work used?": the photo is recognised in memory and answered against published clearances
    page.goto(server + "/used")
    page.set_input_files("#lookup-file", str(img))
    page.click("#lookup-submit")
    page.wait_for_selector("#lookup-result")
    assert page.locator("#no-clearances").count() == 1  # none has been published on this server yet
    assert page.get_attribute("#lookup-result", "data-verdict") == "no"  # recognised: no clearance to be in
    assert page.locator("#recognised .lookup-card").count() == 1
    shot(page, f"{lang}-10-public-was-my-work-used")
    page.goto(server + "/summaries")
    assert page.locator("html").get_attribute("lang") == lang
    shot(page, f"{lang}-11-public-summaries")
    ctx.close()


def test_language_switch_and_developer_keys(server, browser):
    ctx = browser.new_context(locale="en-US")
    page = ctx.new_page()
    sign_up(page, server, "developer", "Acme AI", "dev@example.org")
    page.wait_for_url(server + "/developer")
    page.fill("#key-name", "training cluster")
    page.click("#key-create")
    key = page.inner_text("#new-key").strip()
    assert key.startswith("ft_")
    shot(page, "en-10-developer-keys")
    assert (
        httpx.get(server + "/api/me", headers={"Authorization": f"Bearer {key}"}).json()["user"]["role"] == "developer"
    )
    page.goto(server + "/developer")
    assert key not in page.content() and "training cluster" in page.inner_text("#keys")  # shown once
    page.click("#lang-ko")
    page.wait_for_load_state()
    assert "API 키" in page.inner_text("h1")
    shot(page, "ko-10-developer-keys")
    ctx.close()


def test_api_docs_render_offline_under_the_csp(server, browser):
    """/docs in Chromium: Swagger UI draws the API's operations from same-origin assets only, and the
    Content-Security-Policy blocks nothing."""
    page = browser.new_page()
    elsewhere, refused = [], []
    page.on("request", lambda r: None if r.url.startswith(server) else elsewhere.append(r.url))
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock", timeout=20_000)
    assert page.locator(".opblock").count() > 10 and "fairtrain" in page.locator(".title").first.inner_text()
    assert elsewhere == [] and refused == []
    page.close()
