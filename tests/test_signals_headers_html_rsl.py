"""HTTP header and HTML signals, and RSL 1.0 documents."""

from __future__ import annotations

import httpx
import pytest

from fairtrain.core.money import Money
from fairtrain.core.signals.evidence import Retrieval, SignalError
from fairtrain.core.signals.headers import parse_links, parse_robots_directives, read_headers, terms_from_headers
from fairtrain.core.signals.html import read_html, terms_from_html
from fairtrain.core.signals.prefs import parse_aipref, parse_content_signal
from fairtrain.core.signals.rsl import RslDocument, terms_from_rsl
from fairtrain.core.vocab import Category, Value


def _cv(terms):
    return {(s.category, s.value) for s in terms.statements}


# -- robots directives -----------------------------------------------------------------------------


def test_x_robots_tag_scoping_and_case():
    d = parse_robots_directives(
        [
            "NoAI, noimageai",
            "otherbot: noindex, noai",
            "GPTBot=nofollow; *: noarchive",
            "unavailable_after: 25 Jun 2010 15:00:00 PST",
        ]
    )
    assert d.for_agent("fairtrain") == {"noai", "noimageai", "noarchive", "unavailable_after"}
    # the scope covers every directive after it, not only the first (datadiligence's mistake)
    assert {"noindex", "noai"} <= d.for_agent("OtherBot")
    assert "nofollow" in d.for_agent("gptbot") and "nofollow" not in d.for_agent("fairtrain")


def test_headers_from_httpx_with_repeated_fields():
    h = httpx.Headers(
        [
            ("X-Robots-Tag", "noai"),
            ("x-robots-tag", "fairtrain: noindex"),
            ("Content-Usage", "train-ai=n"),
            ("Content-Usage", "search=y"),
            ("Content-Signal", "ai-input=no"),
            ("tdm-reservation", "1"),
            ("Content-Type", "image/jpeg"),
            ("Link", '</lic.xml>; rel="license"; type="application/rsl+xml", </cc>; rel=license; type="text/html"'),
        ]
    )
    s = read_headers(h, base_url="https://ex.org/a/b.jpg")
    assert s.content_usage == {"train-ai": False, "search": True}
    assert s.content_signal == {"ai-input": False}
    assert s.tdm.reservation == 1
    assert s.licenses == ("https://ex.org/lic.xml",)
    assert s.media_type == "image/jpeg"
    got = _cv(
        terms_from_headers(
            s,
            user_agent="fairtrain/0.1.0 (+https://fairtrain.invalid/bot)",
            retrieval=Retrieval.of(b"", url="https://ex.org/a/b.jpg", status=200),
        )
    )
    assert (Category.TRAIN_AI, Value.DENY) in got  # noai and Content-Usage
    assert (Category.SEARCH, Value.DENY) in got  # our scoped noindex
    assert (Category.SEARCH, Value.ALLOW) in got  # Content-Usage search=y
    assert (Category.AI_INPUT, Value.DENY) in got


def test_noimageai_only_for_images():
    s = read_headers({"X-Robots-Tag": "noimageai", "Content-Type": "text/html; charset=utf-8"})
    assert terms_from_headers(s, user_agent="fairtrain").statements == ()
    s = read_headers({"X-Robots-Tag": "noimageai", "Content-Type": "image/png"})
    assert (Category.TRAIN_AI, Value.DENY) in _cv(terms_from_headers(s, user_agent="fairtrain"))


def test_aipref_vocab_edge_cases():
    # from draft-ietf-aipref-vocab: non-token values and bare keys are unknown; parameters are ignored
    assert parse_aipref('train-ai=y, train-ai, search=n, search="n"') == {}
    assert parse_aipref("train-ai;allow=n, train-ai=y") == {"train-ai": True}
    assert parse_aipref("Train-AI=n") == {}  # upper-case keys: a Dictionary parse failure, all unknown
    assert parse_aipref("train-ai=n, search=y") == {"train-ai": False, "search": True}
    assert parse_content_signal("search=yes,ai-train=no") == {"search": True, "ai-train": False}
    assert parse_content_signal("Search=Yes, AI-Train=No") == {"search": True, "ai-train": False}


def test_link_parsing():
    links = parse_links(
        ['<https://a/x>; rel="license nofollow"; type="application/rsl+xml", <y>;rel=next'], base_url="https://b/dir/"
    )
    assert links[0] == ("https://a/x", {"rel": "license nofollow", "type": "application/rsl+xml"})
    assert links[1] == ("https://b/dir/y", {"rel": "next"})


# -- HTML ------------------------------------------------------------------------------------------

PAGE = """<!doctype html><html><head>
<meta name="robots" content="noai, NoImageAI">
<meta name="GPTBot" content="noindex">
<meta name="description" content="noai is not a directive here">
<meta name="tdm-reservation" content="1">
<link rel="license" type="application/rsl+xml" href="/license.xml">
<link rel="license" href="https://creativecommons.org/licenses/by/4.0/">
<script type="application/rsl+xml"><rsl xmlns="https://rslstandard.org/rsl"><content url="">
<license><prohibits type="usage">ai-train</prohibits></license></content></rsl></script>
</head><body>x</body></html>"""


def test_html_signals():
    s = read_html(PAGE, base_url="https://ex.org/page")
    assert s.robots.for_agent("fairtrain") == {"noai", "noimageai"}
    assert "noindex" in s.robots.for_agent("GPTBot")
    assert s.tdm.reservation == 1
    assert s.licenses == ("https://ex.org/license.xml",)
    assert len(s.inline_rsl) == 1
    doc = RslDocument.parse(s.inline_rsl[0])
    assert doc.values("https://ex.org/page")[Category.TRAIN_AI] is Value.DENY
    got = _cv(terms_from_html(s, user_agent="fairtrain"))
    assert got == {(Category.TRAIN_AI, Value.DENY), (Category.AI_INPUT, Value.DENY)}


# -- RSL -------------------------------------------------------------------------------------------

RSL_SITE = """<rsl xmlns="https://rslstandard.org/rsl" max-age="7">
  <content url="/">
    <license>
      <permits type="usage">all</permits>
    </license>
  </content>
  <content url="/articles/*">
    <license>
      <permits type="usage">all</permits>
      <prohibits type="usage">ai-train</prohibits>
    </license>
    <license>
      <permits type="usage">ai-train ai-input</permits>
      <payment type="training"><amount currency="EUR">0.05</amount>
        <standard>https://rslcollective.org/license</standard></payment>
    </license>
  </content>
  <content url="https://ex.org/search-only/" server="https://licence.ex.org">
    <license><permits type="usage">search</permits></license>
  </content>
</rsl>"""


def test_rsl_specific_over_general_and_alternatives():
    doc = RslDocument.parse(RSL_SITE)
    assert doc.max_age_days == 7
    site = doc.values("https://ex.org/about")
    assert site[Category.TDM] is Value.ALLOW and site[Category.TRAIN_AI] is Value.ALLOW
    art = doc.values("https://ex.org/articles/1")
    # alternative 1 prohibits training; alternative 2 licences it for a fee: the licence is on offer
    assert art[Category.TRAIN_AI] is Value.LICENCE
    assert art[Category.SEARCH] is Value.ALLOW
    so = doc.values("https://ex.org/search-only/x")
    assert so[Category.SEARCH] is Value.LICENCE  # a licence server: a token is needed even when free
    assert so[Category.TRAIN_AI] is Value.DENY and Category.TDM not in so  # whitelist
    terms = terms_from_rsl(doc, "https://ex.org/articles/1", retrieval=Retrieval.of(RSL_SITE, url="https://ex.org/l"))
    lic = [s for s in terms.statements if s.category is Category.TRAIN_AI][0]
    assert lic.provenance.evidence["payments"][0]["amount"] == Money("EUR", 5).to_dict()
    assert lic.provenance.evidence["payments"][0]["standard"] == "https://rslcollective.org/license"


def test_rsl_prohibit_beats_permit_in_one_licence():
    doc = RslDocument.parse(
        '<rsl xmlns="https://rslstandard.org/rsl"><content url="/"><license>'
        '<permits type="usage">ai-all</permits><prohibits type="usage">ai-input</prohibits>'
        "</license></content></rsl>"
    )
    v = doc.values("https://x/")
    assert v[Category.AI_INPUT] is Value.DENY and v[Category.TRAIN_AI] is Value.ALLOW
    assert v[Category.SEARCH] is Value.DENY


def test_rsl_09_leniency_is_flagged():
    doc = RslDocument.parse(
        '<rsl xmlns="https://rslstandard.org/rsl"><content url="/"><license>'
        '<permits type="usage">search, ai-input</permits><payment type="inference"/>'
        "</license></content></rsl>"
    )
    assert doc.values("https://x/")[Category.AI_INPUT] is Value.LICENCE
    assert any("comma" in w for w in doc.warnings) and any("inference" in w for w in doc.warnings)


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<rsl xmlns="https://rslstandard.org/rsl"><content url="/">&lol3;</content></rsl>"""
XXE = b"""<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<rsl xmlns="https://rslstandard.org/rsl"><content url="&x;"/></rsl>"""


@pytest.mark.parametrize(
    "xml,reason",
    [
        (BOMB, "unsafe"),
        (XXE, "unsafe"),
        (b"<rsl><content", "well-formed"),
        (b"<html/>", "root"),
        (b"<rsl xmlns='https://rslstandard.org/rsl'/>", "content"),
    ],
)
def test_rsl_bad_documents(xml, reason):
    with pytest.raises(SignalError) as e:
        RslDocument.parse(xml, item="https://x/license.xml")
    assert reason in e.value.reason and e.value.item == "https://x/license.xml"
