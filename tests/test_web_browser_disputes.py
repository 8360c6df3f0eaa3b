"""A dispute played from both sides in Korean, in Debian's Chromium against `fairtrain serve`: the collision
is said at once, in words; each side sees the competing claim and answers with evidence; the bell counts
what she has not read; the registry operator resolves it (`fairtrain disputes resolve`: the dispute is
between two creators of no organisation) and both sides read the outcome on their pages, where the answer
form is gone. Screenshots at 1280 and 390 px."""

from __future__ import annotations

import pytest

from browser_helpers import checked, cli_json, needs_axe, needs_chromium, person, serving
from web_helpers import text_file

pytestmark = [needs_chromium, needs_axe]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    data = tmp_path_factory.mktemp("dispute-data")
    with serving(data) as base:
        yield base, data


def _both_widths(page, name: str) -> None:
    """Screenshots at 1280 and 390 px; axe-core, no sideways scroll, no English word (the journey's checks)."""
    checked(page, f"ko-dispute-{name}")


def test_a_dispute_played_from_both_sides_in_korean(site, browser, tmp_path):
    server, data = site
    poem = tmp_path / "바람의 노래.txt"
    poem.write_bytes(text_file(1414))
    poet_ctx, poet = person(browser, server, "creator", "이시인", "poet-dispute@example.org")
    poet.set_input_files("#file-input", str(poem))
    poet.wait_for_selector("#works tbody tr:nth-child(1) a")

    rival_ctx, rival = person(browser, server, "creator", "김도용", "rival-dispute@example.org")
    copy = tmp_path / "베낀 시.txt"
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
    dispute_url = rival.url.split("?")[0]

    # the registry operator decides for the earlier registration; both sides hear it and read it
    did = int(dispute_url.rstrip("/").rsplit("/", 1)[1])
    assert cli_json(data, "disputes", "resolve", str(did), "--keep", "existing", "--note", "2018년 발표가 먼저")[
        "resolution"
    ]
    for page, who in ((poet, "poet"), (rival, "rival")):
        page.goto(server + "/notifications")
        first = page.locator("#notifications li").first.inner_text()
        assert "해결" in first or "결정" in first, (who, first)
        page.goto(dispute_url)
        assert page.inner_text("#dispute-status strong") == "해결됨", who
        assert page.locator("#answer-form").count() == 0, who  # nothing more to answer
        assert "2019년에 먼저 썼습니다" in page.inner_text("#answers") and "2018년 블로그에" in page.inner_text(
            "#answers"
        )
        _both_widths(page, f"06-{who}-resolved")
    poet_ctx.close()
    rival_ctx.close()
