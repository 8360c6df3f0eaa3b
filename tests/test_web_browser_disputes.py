"""A dispute played from both sides in Korean, in Debian's Chromium against `fairtrain serve` (the fixtures
of test_web_browser.py): the collision is said at once, in words; each side sees the competing claim and
answers with evidence; the bell counts what she has not read. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import pytest

from test_web_browser import CHROMIUM, _shot, browser, server  # noqa: F401 (pytest fixtures)
from web_helpers import text_file

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium not installed")


def _creator(browser, server, name: str, email: str):  # noqa: F811
    ctx = browser.new_context(locale="ko-KR", viewport={"width": 1280, "height": 900})
    page = ctx.new_page()
    page.goto(server + "/signup?role=creator")
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#password", "a long enough password")
    page.click("#signup-submit")
    page.wait_for_url(server + "/creator")
    return ctx, page


def _both_widths(page, name: str) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    _shot(page, f"ko-dispute-{name}-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    _shot(page, f"ko-dispute-{name}-390")
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_dispute_played_from_both_sides_in_korean(server, browser, tmp_path):  # noqa: F811
    poem = tmp_path / "바람의 노래.txt"
    poem.write_bytes(text_file(1414))
    poet_ctx, poet = _creator(browser, server, "이시인", "poet-dispute@example.org")
    poet.set_input_files("#file-input", str(poem))
    poet.wait_for_selector("#works tbody tr:nth-child(1) a")

    rival_ctx, rival = _creator(browser, server, "김도용", "rival-dispute@example.org")
    copy = tmp_path / "copy.txt"
    copy.write_bytes(poem.read_bytes())
    rival.set_input_files("#file-input", str(copy))
    notice = rival.wait_for_selector("#upload-results li.error")
    text = notice.inner_text()
    assert "⚠" in text and "겹칩니다" in text and "이시인" in text and "✓" not in text
    rival.wait_for_timeout(1000)
    assert rival.is_visible("#upload-results li")  # the result stays on screen: no reload hides it
    _both_widths(rival, "01-upload-notice")

    rival.goto(server + "/creator")
    rival.click("#disputes a")
    assert "분쟁 중" in rival.inner_text("#dispute-status")
    assert "이시인" in rival.inner_text("#claims") and "동일한 내용" in rival.inner_text("#dispute-status")
    cert = tmp_path / "certificate.pdf"
    cert.write_bytes(b"%PDF-1.4 registration certificate")
    rival.fill("textarea[name=statement]", "2019년에 먼저 썼습니다")
    rival.set_input_files("input[name=file]", str(cert))
    rival.click("#answer-submit")
    rival.wait_for_selector("#answers li:has-text('certificate.pdf')")
    _both_widths(rival, "02-rival-answered")

    poet.goto(server + "/creator")
    assert poet.inner_text("#bell-count") == "2"  # the dispute and the rival's answer
    _both_widths(poet, "03-poet-bell")
    poet.click("#bell")
    assert "다른 사람이 내 작품" in poet.inner_text("#notifications")
    _both_widths(poet, "04-poet-notifications")
    poet.click("#notifications a:has-text('열기') >> nth=-1")
    assert "2019년에 먼저 썼습니다" in poet.inner_text("#answers")
    poet.fill("input[name=link]", "https://blog.naver.com/poetlee/2018")
    poet.fill("textarea[name=statement]", "2018년 블로그에 처음 발표했습니다")
    poet.click("#answer-submit")
    poet.wait_for_selector("#answers li:has-text('blog.naver.com')")
    _both_widths(poet, "05-poet-answered")

    rival.reload()
    assert "2018년 블로그에" in rival.inner_text("#answers")
    poet_ctx.close()
    rival_ctx.close()
