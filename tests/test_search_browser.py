"""The public search page in Debian's Chromium, Korean and English: a CMO's repertoire imported through the
page, then found by a two-syllable word, a holder's name and an ISWC as printed, paged with the next link;
axe-core finds no serious violation, nothing scrolls sideways at 390 px; screenshots in artifacts/screenshots/."""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from browser_helpers import axe_findings, needs_axe, needs_chromium, shot, sign_up

pytestmark = [needs_chromium, needs_axe]

NEXT = {"ko": "다음 쪽", "en": "Next page"}
WORD = {"ko": "봄비", "en": "단비"}  # the server is shared by both runs: a word of its own for each


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_the_public_finds_works_by_word_holder_and_iswc_and_pages_on(server, browser, tmp_path, lang):
    ctx = browser.new_context(
        locale={"ko": "ko-KR", "en": "en-GB"}[lang], viewport={"width": 1280, "height": 900}, bypass_csp=True
    )
    page = ctx.new_page()
    sign_up(page, server, "org-admin", f"검색 CMO {lang}", f"search-cmo-{lang}@example.org", country="KR")
    page.wait_for_url(server + "/org")
    rows = [f"S{lang}-{i},{WORD[lang]} {lang} {i:02d},정가수{lang}:author:1,deny,allow,\n" for i in range(23)]
    rows.append(f"S{lang}-X,겨울 노래 {lang},윤작곡{lang}:composer:1,deny,allow,T-034.524.680-1\n")
    csv = tmp_path / "repertoire.csv"
    csv.write_text("work_ref,title,holders,tdm,search,iswc\n" + "".join(rows), encoding="utf-8")
    page.set_input_files("#upload-file", str(csv))
    page.click("#upload-submit")
    page.wait_for_selector("#upload-report")
    page.click("#store-submit")  # stored by a background job
    page.wait_for_url(server + "/org/jobs/*")
    deadline = time.monotonic() + 60
    while page.goto(server + "/search?q=" + quote(f"겨울 노래 {lang}")) and page.locator("#results").count() == 0:
        assert time.monotonic() < deadline, "the import job did not finish in 60 s"
        time.sleep(0.5)

    page.goto(server + "/search")
    page.fill("#search-title", WORD[lang])  # two syllables: the start of a word
    page.click("#search-submit")
    page.wait_for_selector("#results")
    assert page.locator("#results tbody tr").count() == 20
    assert f"정가수{lang}" in page.inner_text("#results")  # the holders are shown
    assert axe_findings(page) == []
    shot(page, f"{lang}-search-01-word-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways"
    shot(page, f"{lang}-search-01-word-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert page.inner_text("#next-page") == NEXT[lang]
    page.click("#next-page")
    page.wait_for_selector("#results")
    assert page.locator("#results tbody tr").count() >= 3 and page.locator("#next-page").count() == 0
    second = page.inner_text("#results")
    assert f"{WORD[lang]} {lang} 22" in second and f"{WORD[lang]} {lang} 00" not in second

    for query in (f"윤작곡{lang}", "T-034.524.680-1", "t0345246801"):
        page.fill("#search-title", query)
        page.click("#search-submit")
        page.wait_for_selector("#results")
        assert f"겨울 노래 {lang}" in page.inner_text("#results"), query
    shot(page, f"{lang}-search-02-iswc")
    ctx.close()
