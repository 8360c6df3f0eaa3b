"""Shared helpers of the Chromium tests: Debian's chromium driven by Playwright (never a downloaded browser)
against `fairtrain serve` in a subprocess on 127.0.0.1; signing up and in through the pages, axe-core,
the words a Korean page may show, screenshots to artifacts/screenshots/. The ``browser`` and ``server``
fixtures are registered in conftest.py."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest

from web_helpers import free_port, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
AXE = ROOT / ".cache" / "axe" / "node_modules" / "axe-core" / "axe.min.js"
SHOTS = ROOT / "artifacts" / "screenshots"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
PASSWORD = "a long enough password"

needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian chromium not installed (apt-get install chromium)"
)
needs_axe = pytest.mark.skipif(
    not AXE.exists(), reason="axe-core not installed: make .cache/axe/node_modules/axe-core/axe.min.js"
)

# Words a Korean page may show in Latin letters: brand and standard names, units, file names of the test.
ALLOWED = {
    "fairtrain",
    # video container formats and the unit of their size cap, named as people know them
    "mp",
    "mkv",
    "webm",
    "mov",
    "mpeg",
    "ts",
    "avi",
    "gib",
    "iscc",
    "ai",
    "rag",
    "krw",
    "eur",
    "usd",
    "json",
    "api",
    "url",
    "csv",
    "sha",
    "pdf",
    "qr",
    "html",
    "tdmrep",
    "odrl",
    "rsl",
    "robots",
    "txt",
    "merkle",
    "cmo",
    "kr",
    "id",
    "photo",
    "jpg",
    "e",
    "mail",
    "example",
    "org",
    "https",
    "www",
    "com",
    "poet",
    "dev",
    "ko",
    "en",
    "name",
    "png",
    "svg",
    "zip",
    "rfc",
    "utc",
    "apache",
    "caddy",
    "nginx",
    "wordpress",
    "tistory",
    "naver",
    "blog",
    "head",
    "well",
    "known",
    "license",
    "xml",
    "sns",
    "youtube",
    "http",
    "isbn",
    "isrc",
    "iswc",
    "iso",
    "utf",
    "cp",
    "xlsx",
    "tdm",
}
# The visible text of a page, less what is code or another language on purpose (pre/code blocks, inputs,
# the language switch, brand names marked translate=no, and the organisation's sheet column guide, whose
# values are what a sheet must hold, written as codes).
VISIBLE_TEXT = """() => {
  const body = document.body.cloneNode(true);
  body.querySelectorAll('pre, code, kbd, script, style, [lang]:not([lang="ko"]), [translate="no"], .brand, #column-guide')
      .forEach(e => e.remove());
  return body.innerText;
}"""
SERIOUS = """async () => {
  const r = await axe.run(document, {resultTypes: ["violations"]});
  return r.violations.filter(v => v.impact === "serious" || v.impact === "critical")
      .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`);
}"""


def data_env(data: Path) -> dict:
    """The environment of a `fairtrain` process on the data directory ``data`` and its own SQLite registry."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FAIRTRAIN_DATA_DIR": str(data)}
    env.pop("FAIRTRAIN_DATABASE_URL", None)
    return env


FAIRTRAIN = [sys.executable, "-c", "from fairtrain.cli.app import main; main()"]


def cli(data: Path, *args: str) -> subprocess.CompletedProcess:
    """``fairtrain ARGS…`` in its own process on the served registry, as its operator would run it."""
    r = subprocess.run([*FAIRTRAIN, *args], env=data_env(data), capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r


def cli_json(data: Path, *args: str) -> dict:
    return json.loads(cli(data, *args, "--json").stdout)


@contextmanager
def serving(data: Path, *extra: str, seconds: float = 30):
    """`fairtrain serve` on a free port of 127.0.0.1 over the data directory ``data`` (its own SQLite
    registry); yields the base URL once it answers, stops the server after."""
    port = free_port()
    proc = subprocess.Popen(
        [*FAIRTRAIN, "serve", "--host", "127.0.0.1", "--port", str(port), *extra],
        env=data_env(data),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(proc, base + "/", seconds)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A registry served on 127.0.0.1 for the tests of one module (they do not depend on a fresh one)."""
    with serving(tmp_path_factory.mktemp("web-data")) as base:
        yield base


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, for the tests of one module (each test opens contexts of its own). Not one
    per worker: Playwright's sync API runs an event loop on the worker's main thread while it is open, and
    every later test on that worker calling ``asyncio.run`` (the signal checker, other browser tests) fails."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS, headless=True)
        yield b
        b.close()


def korean_context(browser, width: int = 1280, height: int = 900, **kw):
    """A Korean reader's browser context; CSP bypassed only so that axe-core can be injected as a script tag."""
    return browser.new_context(
        locale="ko-KR",
        viewport={"width": width, "height": height},
        extra_http_headers={"Accept-Language": "ko"},
        bypass_csp=True,
        **kw,
    )


def sign_up(page, base: str, role: str, name: str, email: str, *, country: str | None = None, submit: bool = True):
    """Fill the sign-up form as a person would (the organisation's country too); submit it unless told not to."""
    page.goto(f"{base}/signup?role={role}")
    page.fill("#name", name)
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    if country is not None:
        page.fill("#country", country)
    if submit:
        page.click("#signup-submit")


def sign_in(page, base: str, email: str) -> None:
    page.goto(f"{base}/signin")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("#signin-submit")


def person(browser, base: str, role: str, name: str, email: str):
    """A Korean reader signed up with ``role``, on her own first page: (context, page)."""
    ctx = korean_context(browser)
    page = ctx.new_page()
    sign_up(page, base, role, name, email)
    page.wait_for_url(f"{base}/{role}")
    return ctx, page


def work_terms(page) -> dict[str, str]:
    """A work page's terms table (#terms): each category's name to what it reads."""
    rows = page.locator("#terms tr")
    return dict(zip(rows.locator("th").all_inner_texts(), rows.locator("td").all_inner_texts(), strict=True))


def shot(page, name: str) -> None:
    """A full-page screenshot to artifacts/screenshots/NAME.png."""
    path = SHOTS / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 1000


def axe_findings(page) -> list[str]:
    """axe-core's serious and critical findings on the page as it is now."""
    page.add_script_tag(path=str(AXE))
    return page.evaluate(SERIOUS)


def sideways(page) -> int:
    """How many pixels the page scrolls sideways (0 or less: it fits)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def english_words(text: str, allowed: set[str] = frozenset()) -> list[str]:
    """Words in Latin letters that a Korean page should not show (outside ALLOWED and ``allowed``)."""
    return sorted({w for w in re.findall(r"[A-Za-z]{2,}", text) if w.lower() not in ALLOWED | allowed})


def checked(page, name: str, allowed: set[str] = frozenset()) -> None:
    """No English word on the Korean page (outside the allow-lists), axe-core at 1280 and 390 px, nothing
    scrolls sideways on the phone, a full-page screenshot NAME-WIDTH at each width."""
    text = page.evaluate(VISIBLE_TEXT)
    english = english_words(text, allowed)
    assert english == [], (name, page.url, [text[max(0, text.find(w) - 40) : text.find(w) + 40] for w in english])
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.wait_for_timeout(100)
        shot(page, f"{name}-{width}")
        assert axe_findings(page) == [], (name, width)
        if width == 390:
            assert sideways(page) <= 0, name
    page.set_viewport_size({"width": 1280, "height": 900})
