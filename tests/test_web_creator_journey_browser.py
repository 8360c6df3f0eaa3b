"""A Korean creator's whole journey with the pages alone (issue 14), in Debian's Chromium against
`fairtrain serve --smtp` with a real SMTP server (aiosmtpd) on 127.0.0.1: she signs up, uploads an HWP, a
DOCX, a PDF, a JPEG and an MP3 at once, edits a title and invites a co-holder, sets "deny training, paid
licence for generative AI at 3만원", opens her public reservation page and copies the badge, receives a
licence request by e-mail, accepts it and sees the income once it is paid. The developer asks on his own
pages; the payment is confirmed by the registry operator with the CLI (there is no payment processor). Every
creator page: axe-core 0 serious/critical, no sideways scroll at 390 px, no English word outside the
allow-list, screenshots at 1280 and 390 px to artifacts/screenshots/."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from browser_helpers import checked as korean_checks
from browser_helpers import cli_json, needs_axe, needs_chromium, person, serving, work_terms
from conftest import make_image
from mail_helpers import smtp_server
from test_extract import HWP_DIR, POEM, make_docx, make_pdf
from test_fingerprint_audio import synth_piece, write_wav

pytestmark = [needs_chromium, needs_axe]

# her own file names, shown back to her on the upload results, the Latin title she gave her work and the
# registry's contact address (registry@127.0.0.1) on her reservation statement
FILE_WORDS = {"hwp", "docx", "mp", "jpg", "pdf", "poems", "of", "the", "wind", "registry"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A registry served with e-mail notices going to a real SMTP server on 127.0.0.1."""
    data = tmp_path_factory.mktemp("journey-data")
    with smtp_server() as inbox, serving(data, "--smtp", inbox.addr, "--mail-from", "registry@fairtrain.test") as base:
        yield base, data, inbox


def checked(page, name: str) -> None:
    """The Korean page checks (browser_helpers.checked), her own file names allowed."""
    korean_checks(page, f"ko-journey-{name}", FILE_WORDS)


def _her_files(folder: Path) -> list[Path]:
    mp3 = folder / "봄의 노래.mp3"
    wav = write_wav(folder / "song.wav", synth_piece(14, seconds=20.0))
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(wav), "-b:a", "128k", str(mp3)], check=True)
    files = {
        "시집.hwp": (HWP_DIR / "sample_document.hwp").read_bytes(),
        "산문.docx": make_docx(POEM),
        "낭독 원고.pdf": make_pdf(list(reversed(POEM))),
        "정원.jpg": make_image(1414, size=(1200, 900)),
    }
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return [folder / n for n in files] + [mp3]


def test_a_korean_creator_does_everything_alone_with_the_pages(site, browser, tmp_path):  # noqa: F811
    base, data, inbox = site
    friend_ctx, _ = person(browser, base, "creator", "김사진", "friend-journey@example.org")
    friend_ctx.close()
    ctx, poet = person(browser, base, "creator", "이시인", "poet-journey@example.org")
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    checked(poet, "01-creator")

    # she hears about licence requests by e-mail, in Korean (saving the choice on a Korean page says so)
    poet.goto(base + "/notifications")
    poet.click("#preferences button")
    poet.wait_for_selector("p.ok")
    checked(poet, "02-notifications")

    # five files at once: an HWP, a DOCX, a PDF, a JPEG and an MP3; the results stay until she closes them
    poet.goto(base + "/creator")
    poet.set_input_files("#file-input", [str(p) for p in _her_files(tmp_path)])
    poet.wait_for_function("document.querySelectorAll('#upload-results li').length >= 5", timeout=120_000)
    results = poet.inner_text("#upload-results")
    assert poet.locator("#upload-results li.error").count() == 0, results
    for name in ("시집.hwp", "산문.docx", "낭독 원고.pdf", "정원.jpg", "봄의 노래.mp3"):
        assert name in results, (name, results)
    poet.wait_for_timeout(800)
    assert poet.is_visible("#upload-results li")
    checked(poet, "03-uploaded")
    poet.goto(base + "/creator")
    types = poet.locator("#works tbody tr td:nth-child(3)").all_inner_texts()
    assert sorted(types) == sorted(["글", "글", "글", "이미지", "음원"]), types

    # the HWP's work: a real title in Korean and Latin script, a co-holder invited by e-mail
    row = poet.locator("#works tbody tr", has_text="시집")
    row.locator("a").click()
    poet.wait_for_selector("#work-edit")
    work_url = poet.url
    wid = int(work_url.rstrip("/").rsplit("/", 1)[1])
    checked(poet, "04-work")
    poet.click("#work-edit")
    poet.fill("#title", "바람의 시집")
    poet.fill("#title_latin", "Poems of the Wind")
    poet.click("#titles-submit")
    poet.wait_for_selector("#edit-saved")
    poet.fill("#invite-email", "friend-journey@example.org")
    poet.fill("#invite-share", "1/4")
    poet.click("#invite-submit")
    poet.wait_for_selector("#invitations li")
    assert "friend-journey@example.org" in poet.inner_text("#invitations")

    # "학습 거부, 생성형 AI는 유료 라이선스 3만원"
    poet.check("#v_train-ai_deny")
    poet.check("#v_train-genai_licence")
    poet.fill("#price", "3만원")
    poet.click("#policy-submit")
    poet.wait_for_selector("#edit-saved")
    checked(poet, "05-edit")
    poet.goto(work_url)
    assert poet.inner_text("h1") == "바람의 시집"
    terms = work_terms(poet)
    assert terms["AI 모델 학습"] == "거부" and terms["생성형 AI 학습"] == "이용허락 필요(유료)"

    # her public reservation page for this work, and the badge copied to paste into her blog
    poet.click("#work-reservation")
    poet.wait_for_selector("#r-terms")
    assert "바람의 시집" in poet.inner_text("#r-title")
    poet.wait_for_function("document.querySelector('#r-badge').complete")  # loaded, or failed to
    assert poet.evaluate("document.querySelector('#r-badge').naturalWidth") > 0
    poet.click("button.copy[data-target=r-badge-code]")
    assert poet.inner_text("button.copy[data-target=r-badge-code]") == "✓"
    copied = poet.evaluate("navigator.clipboard.readText()")
    assert f"/r/w/{wid}" in copied and "badge.svg" in copied and "<img" in copied
    checked(poet, "06-reservation")

    # a developer asks for a licence on his own pages, with the quote of his clearance
    dev_ctx, dev = person(browser, base, "developer", "모델연구소", "lab-journey@example.org")
    quote = tmp_path / "licence-quote.json"
    quote.write_text(
        json.dumps(
            {
                "licensee": "모델연구소",
                "purpose": "train-genai",
                "groups": [{"party": f"holder:{_holder_id(poet, base)}", "works": [{"work_id": wid}]}],
            }
        ),
        encoding="utf-8",
    )
    dev.goto(base + "/money")
    dev.set_input_files("#quote-file", str(quote))
    dev.click("#quote-submit")
    dev.wait_for_selector("#done")

    # the e-mail reaches her, in Korean, naming who asks and the price
    mail = _mail_to(inbox, "poet-journey@example.org")
    assert "모델연구소" in mail["Subject"] and "라이선스" in mail["Subject"], mail["Subject"]
    assert "30,000" in mail.get_content()

    # she accepts on her money page
    poet.goto(base + "/money")
    (lid,) = [
        int(i.split("-")[1]) for i in poet.locator("#licences tbody tr[id]").evaluate_all("r => r.map(x => x.id)")
    ]
    assert "모델연구소" in poet.inner_text(f"#licence-{lid}") and "30,000원" in poet.inner_text(f"#licence-{lid}")
    checked(poet, "07-licence-request")
    poet.click(f"#licence-{lid} button.accept")
    poet.wait_for_url(base + "/money")
    assert poet.inner_text(f"#licence-{lid} .status") != "요청됨"
    assert "아직 수입이 없습니다" not in poet.inner_text("#income")  # invoiced, not yet paid
    assert "0원" in poet.inner_text("#income td.paid")

    # the developer pays; the registry operator confirms the bank transfer (no payment processor)
    dev.goto(base + "/money")
    invoice = int(dev.locator("#invoices tbody tr td").first.inner_text())
    paid = cli_json(
        data, "payments", "record", str(invoice), "--amount", "30000", "--currency", "KRW", "--reference", "B-1"
    )
    assert paid["invoice"] == invoice
    dev_ctx.close()

    poet.reload()
    assert poet.inner_text("#income td.paid") == "30,000원"
    assert "모델연구소" in poet.inner_text("#income")
    checked(poet, "08-income")
    ctx.close()


def _mail_to(inbox, address: str, timeout: float = 30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for rcpt, m in inbox.messages:
            if rcpt == [address]:
                return m
        time.sleep(0.1)
    raise AssertionError(f"no e-mail to {address} in {timeout} s: {[r for r, _ in inbox.messages]}")


def _holder_id(page, base: str) -> int:
    """Her holder number, as the developer's clearance quote names her: read off her public page's link."""
    href = page.evaluate("fetch('/creator').then(r => r.text())")
    return int(re.search(r'id="creator-reservation" href="/r/h/(\d+)"', href).group(1))
