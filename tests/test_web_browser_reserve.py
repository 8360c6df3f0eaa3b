"""The signal kit for a blog and the public reservation page in Debian's Chromium, in Korean and English:
screenshots at 1280 and 390 px under artifacts/screenshots/, no sideways scrolling on a phone."""

from __future__ import annotations

import pytest

from browser_helpers import needs_chromium, shot, sign_up

pytestmark = needs_chromium

WORDS = {
    "ko": {"guide": "레이아웃·위젯 설정", "page": "권리 유보", "genai": "생성형 AI 모델 학습", "badge": "AI 학습"},
    "en": {
        "guide": "Layout and widget settings",
        "page": "Reservation of rights",
        "genai": "Training generative AI models",
        "badge": "AI training",
    },
}


def _fits(page, width: int) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "the page scrolls sideways"


@pytest.mark.parametrize("lang", ["ko", "en"])
def test_a_creator_with_only_a_naver_blog_marks_her_works(server, browser, lang):
    w = WORDS[lang]
    ctx = browser.new_context(locale={"ko": "ko-KR", "en": "en-GB"}[lang], viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    sign_up(page, server, "creator", f"이시인 {lang}", f"poet-reserve-{lang}@example.kr")
    page.wait_for_url(server + "/creator")
    page.check("#v_tdm_deny")
    page.check("#v_train-ai_deny")
    page.click("#policy-submit")
    page.wait_for_selector("#policy-saved")

    page.fill("#kit-site", "https://blog.naver.com/poetlee")
    page.click("#kit-submit")
    page.wait_for_selector("#kit-guides")
    assert page.locator("#guide-naver-blog").get_attribute("open") is not None
    assert w["guide"] in page.inner_text("#guide-naver-blog")
    assert page.locator("#kit-statement-html table").count() == 1  # formatted, not raw Markdown
    assert page.locator("#kit-admin").count() == 0  # nothing to upload to a Naver blog
    page.click("button.copy[data-target=kit-line]")
    assert page.inner_text("button.copy[data-target=kit-line]") == "✓"
    shot(page, f"{lang}-reserve-01-kit-naver-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page, 390)
    shot(page, f"{lang}-reserve-01-kit-naver-390")

    page.set_viewport_size({"width": 1280, "height": 900})
    page.click("#kit-page-link")
    page.wait_for_selector("#r-terms")
    assert page.locator("html").get_attribute("lang") == lang
    assert w["page"] in page.inner_text("main") and w["genai"] in page.inner_text("#r-terms")
    assert page.locator("meta[name=tdm-reservation]").get_attribute("content") == "1"
    for img in ("#r-qr", "#r-badge"):
        assert page.evaluate(f"document.querySelector('{img}').naturalWidth") > 0, img
    shot(page, f"{lang}-reserve-02-page-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _fits(page, 390)
    shot(page, f"{lang}-reserve-02-page-390")
    badge = page.request.get(page.url + f"/badge.svg?lang={lang}")
    assert w["badge"] in badge.text()
    ctx.close()
