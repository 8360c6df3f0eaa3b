"""robots.txt: Google's robots_test.cc cases, CPython's cases, the protego corpus against Google's
verdicts, ai.robots.txt, a differential test against Google's own matcher, and the extension lines."""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TESTDATA
from fairtrain.core.signals.evidence import Retrieval
from fairtrain.core.signals.robots import (
    MAX_BYTES,
    RobotsTxt,
    path_of,
    product_token,
    terms_from_robots,
)
from fairtrain.core.vocab import Category, Level, Value

DATA = TESTDATA / "robots"
PROTEGO_SDIST = Path(os.environ.get("FAIRTRAIN_PROTEGO_SDIST", Path.home() / ".cache/fairtrain/protego-0.7.0.tar.gz"))


def _body(case: dict) -> bytes:
    if case.get("robotstxt_hex"):
        return bytes.fromhex(case["robotstxt_hex"])
    return case["robotstxt"].encode("utf-8")


GOOGLE_CASES = json.loads((DATA / "google_robots_test_cc_cases.json").read_text())


@pytest.mark.parametrize("case", GOOGLE_CASES, ids=[f"{c['test']}-{i}" for i, c in enumerate(GOOGLE_CASES)])
def test_google_robots_test_cc(case):
    robots = RobotsTxt.parse(_body(case))
    assert robots.allowed(case["url"], case["useragent"]) == (case["expected"] == "ALLOWED")


def test_google_case_count():
    assert len(GOOGLE_CASES) == 142


CPYTHON_CASES = json.loads((DATA / "cpython_test_robotparser_cases.json").read_text())


@pytest.mark.parametrize("case", CPYTHON_CASES, ids=[f"{c['test']}-{i}" for i, c in enumerate(CPYTHON_CASES)])
def test_cpython_cases_agree_with_google(case):
    # "expected" is urllib.robotparser's verdict; where Google's parser disagrees with it, we side with Google
    got = RobotsTxt.parse(case["robotstxt"]).allowed(case["url"], case["useragent"])
    want = case["expected"] == "ALLOWED"
    assert got == (want if case["google_parser_agrees"] else not want)


def test_protego_corpus_against_google_verdicts():
    assert PROTEGO_SDIST.exists(), (
        f"corpus sdist not present at {PROTEGO_SDIST}: `make test` fetches it "
        "(pip download --no-deps --no-binary :all: protego==0.7.0)"
    )
    bodies: dict[str, bytes] = {}
    with tarfile.open(PROTEGO_SDIST) as tar:
        for member in tar.getmembers():
            if "/tests/test_data/" in member.name and member.isfile():
                bodies[member.name.rsplit("/", 1)[1]] = tar.extractfile(member).read()
    rows = list(csv.DictReader(io.TextIOWrapper(gzip.open(DATA / "protego_corpus_google_verdicts.csv.gz"))))
    parsed: dict[str, RobotsTxt] = {}
    agree = missing = 0
    disagreements = []
    for row in rows:
        body = bodies.get(row["site"])
        if body is None:
            missing += 1
            continue
        robots = parsed.get(row["site"]) or parsed.setdefault(row["site"], RobotsTxt.parse(body))
        got = "ALLOWED" if robots.allowed(row["path"], row["useragent"]) else "DISALLOWED"
        if got == row["google_robotstxt_verdict"]:
            agree += 1
        else:
            disagreements.append((row["site"], row["useragent"]))
    total = len(rows) - missing
    rate = agree / total
    protego_agree = sum(
        1 for r in rows if r["protego_0.7.0_verdict"] and r["protego_0.7.0_verdict"] == r["google_robotstxt_verdict"]
    )
    protego_total = sum(1 for r in rows if r["protego_0.7.0_verdict"])
    print(
        f"\n[robots corpus] fairtrain vs Google: {agree}/{total} verdicts agree ({100 * rate:.3f}%); "
        f"protego 0.7.0 vs Google: {protego_agree}/{protego_total} "
        f"({100 * protego_agree / protego_total:.3f}%); files missing: {missing}; "
        f"first disagreements: {disagreements[:5]}"
    )
    assert missing == 0
    assert total == 46_541
    assert rate >= 0.9999


def test_ai_robots_txt_blocks_every_listed_bot():
    robots = RobotsTxt.parse((DATA / "ai-robots-txt/robots.txt").read_bytes())
    bots = json.loads((DATA / "ai-robots-txt/robots.json").read_text())
    assert len(bots) == 166
    for token in bots:
        # product tokens stop at the first character outside [A-Za-z_-] ("Brightbot 1.0" -> "Brightbot")
        assert not robots.allowed("https://example.org/", product_token(token)), token
    assert robots.allowed("https://example.org/", "Googlebot")  # not listed: no group, no '*'


def test_differential_fixed_cases_against_google_matcher():
    from jwm.robotstxt import googlebot

    body = (
        "User-agent: FooBot\nDisallow: /a\nAllow: /a/b$\nDisallow: /*.gif$\nAllow: /c*d\nuser-agent: *\ndisallow: /\n"
    )
    for ua in ("FooBot", "foobot", "Other"):
        for path in ("/", "/a", "/a/b", "/a/bc", "/x.gif", "/x.gifs", "/cxd", "/c"):
            want = googlebot.RobotsMatcher().OneAgentAllowedByRobots(body, ua, "http://h" + path)
            assert RobotsTxt.parse(body).allowed("http://h" + path, ua) == want, (ua, path)


_LINE = st.one_of(
    st.sampled_from(
        [
            "User-agent: FooBot",
            "User-agent: *",
            "user-agent: foobot",
            "User-agent: BarBot",
            "",
            "# comment",
            "Sitemap: http://x/s.xml",
            "Content-Usage: train-ai=n",
        ]
    ),
    st.builds(
        lambda k, p: f"{k}: {p}",
        st.sampled_from(["Allow", "Disallow", "disallow", "allow"]),
        st.text(alphabet="/ab*$%2Fc", max_size=6).map(lambda s: "/" + s if not s.startswith("*") else s),
    ),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lines=st.lists(_LINE, max_size=10),
    path=st.text(alphabet="/ab$%2Fc", max_size=6),
    ua=st.sampled_from(["FooBot", "BarBot", "Other"]),
)
def test_differential_random_against_google_matcher(lines, path, ua):
    from jwm.robotstxt import googlebot

    body = "\n".join(lines) + "\n"
    url = "http://h/" + path.lstrip("/")
    want = googlebot.RobotsMatcher().OneAgentAllowedByRobots(body, ua, url)
    assert RobotsTxt.parse(body).allowed(url, ua) == want


def test_bom_invalid_utf8_and_size_limit():
    body = b"\xef\xbb\xbfUser-agent: FooBot\nDisallow: /\xff\xfe\n"
    robots = RobotsTxt.parse(body)
    assert not robots.allowed("/%FF%FE", "FooBot")
    assert robots.allowed("/ok", "FooBot")
    filler = b"# " + b"x" * 1000 + b"\n"
    big = b"User-agent: *\nDisallow: /early\n" + filler * (MAX_BYTES // len(filler) + 10) + b"Disallow: /late\n"
    robots = RobotsTxt.parse(big)
    assert robots.truncated and robots.size == len(big)
    assert not robots.allowed("/early", "x")
    assert robots.allowed("/late", "x")  # beyond 500 KiB: not parsed


def test_groups_merge_case_insensitively_and_star_falls_back():
    body = "User-agent: GPTBot\nDisallow: /a\n\nUser-agent: *\nDisallow: /\n\nuser-agent: gptbot\nDisallow: /b\n"
    robots = RobotsTxt.parse(body)
    assert not robots.allowed("/a", "GPTBot") and not robots.allowed("/b", "gptbot")
    assert robots.allowed("/c", "GPTBot")
    assert not robots.allowed("/c", "CCBot")


def test_hostile_wildcard_pattern_is_fast_enough_to_finish():
    robots = RobotsTxt.parse("User-agent: *\nDisallow: /" + "*a" * 200 + "b\n")
    assert robots.allowed("/" + "a" * 5000, "x")


def test_path_of():
    assert path_of("http://example.com/a/b?c=d#frag") == "/a/b?c=d"
    assert path_of("http://example.com") == "/"
    assert path_of("http://example.com?x") == "/?x"
    assert path_of("/just/a/path") == "/just/a/path"


def test_product_token():
    assert product_token("fairtrain/0.1.0 (+https://fairtrain.invalid/bot)") == "fairtrain"
    assert product_token("Brightbot 1.0") == "Brightbot"


EXT = """\
License: https://example.org/global-license.xml
User-agent: *
Content-Signal: search=yes, ai-train=no
Content-Usage: train-ai=n
Content-Usage: /press/ train-ai=y
Content-Usage: /mixed/ train-ai=y
Content-Usage: /mixed/ train-ai=n, search=y
Allow: /
Disallow: /private/
Content-Usage: /private/ train-ai=y

User-agent: NiceBot
License: https://example.org/nicebot-license.xml
Allow: /
DisallowAITraining: /books/
"""


def test_extension_lines():
    robots = RobotsTxt.parse(EXT)
    assert robots.content_signals("/x", "anybot") == {"search": True, "ai-train": False}
    assert robots.content_usage("/x", "anybot") == {"train-ai": False}
    assert robots.content_usage("/press/kit", "anybot") == {"train-ai": True}
    assert robots.content_usage("/mixed/a", "anybot") == {"train-ai": False, "search": True}
    assert robots.content_usage("/private/a", "anybot") == {}  # not crawlable: no preference
    assert robots.license_urls("anybot") == ("https://example.org/global-license.xml",)
    assert robots.license_urls("NiceBot") == ("https://example.org/nicebot-license.xml",)
    assert robots.ai_training("/books/1", "NiceBot") == {"train-ai": False}
    assert robots.allowed("/books/1", "NiceBot")  # a legacy AI-training line is not an access rule
    # extension lines do not end a group: "Content-Usage" between two user-agent lines keeps one group
    robots = RobotsTxt.parse("User-agent: a\nContent-Usage: train-ai=n\nUser-agent: b\nDisallow: /\n")
    assert not robots.allowed("/", "a") and not robots.allowed("/", "b")


def test_aipref_parse_failure_means_unknown():
    robots = RobotsTxt.parse('User-agent: *\nContent-Usage: Train-AI=n\nContent-Usage: /p/ train-ai="n"\n')
    assert robots.content_usage("/x", "bot") == {}
    assert robots.content_usage("/p/x", "bot") == {}


def test_terms_from_robots():
    retrieval = Retrieval.of(EXT, url="https://example.org/robots.txt", status=200)
    terms = terms_from_robots(
        RobotsTxt.parse(EXT), "https://example.org/x", user_agent="fairtrain/0.1.0", retrieval=retrieval
    )
    got = {(s.provenance.source, s.category, s.value) for s in terms.statements}
    assert ("robots.txt:content-usage", Category.TRAIN_AI, Value.DENY) in got
    assert ("robots.txt:content-signal", Category.TRAIN_AI, Value.DENY) in got
    assert ("robots.txt:content-signal", Category.SEARCH, Value.ALLOW) in got
    assert all(s.level is Level.SIGNAL for s in terms.statements)
    ev = terms.statements[0].provenance.evidence
    assert ev["url"] == "https://example.org/robots.txt" and ev["status"] == 200
    assert len(ev["sha256"]) == 64 and ev["parser"].startswith("fairtrain.signals.robots/")
    assert terms.statements[0].provenance.party == "https://example.org"

    denied = terms_from_robots(
        RobotsTxt.parse("User-agent: fairtrain\nDisallow: /\n"), "https://e.org/a", user_agent="fairtrain/0.1.0"
    )
    assert [(s.category, s.value) for s in denied.statements] == [(Category.TDM, Value.DENY)]
    heuristic = terms_from_robots(
        RobotsTxt.parse("User-agent: GPTBot\nUser-agent: CCBot\nDisallow: /\n"),
        "https://e.org/a",
        user_agent="fairtrain",
    )
    (s,) = heuristic.statements
    assert (s.category, s.value) == (Category.TRAIN_AI, Value.DENY)
    assert s.provenance.evidence["tokens"] == ["GPTBot", "CCBot"]
