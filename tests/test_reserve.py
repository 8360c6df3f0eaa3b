"""A reservation without a website: the registry's public reservation pages (``/r/h/<id>``, ``/r/w/<id>``),
their machine-readable forms, and the signal kit for a blog address. The signal reader reads a page over
real HTTP from ``fairtrain serve`` on 127.0.0.1, as a crawler that lands on it would."""

from __future__ import annotations

import json
import re
import subprocess
import xml.etree.ElementTree as ET

import httpx
import pytest

from cli_helpers import FAIRTRAIN
from fairtrain.core.signals import rsl as rsl_mod
from fairtrain.core.signals import tdmrep
from fairtrain.core.signals.html import read_html
from fairtrain.core.signals.render import Party, PartyKind, SignalPolicy, render_robots_txt, render_rsl
from fairtrain.core.signals.reservation import platform_for, render_badge_svg, render_qr_svg, statement_html
from web_helpers import PASSWORD, Session, make_app, served, text_file

DENY_TRAINING = {
    "values": {"tdm": "deny", "train-ai": "licence", "search": "allow"},
    "price": "30000",
    "currency": "KRW",
}


@pytest.fixture
def app(tmp_path, database_url):
    return make_app(tmp_path, database_url)


def _poet(app) -> Session:
    s = Session(app, "poet@example.kr", "creator", "이시인")
    assert s.request("PUT", "/api/policy", json=DENY_TRAINING).status_code == 200
    return s


def _jsonld(html: str) -> dict:
    m = re.search(r'<script type="application/ld\+json">(.*?)</script>', html, re.S)
    assert m, "no inline JSON-LD"
    return json.loads(m.group(1))


def test_a_creators_reservation_page_carries_the_reservation_in_words_and_in_every_machine_form(app):
    s = _poet(app)
    r = s.client.get(f"/r/h/{s.holder_id}", headers={"Accept-Language": "ko"})
    assert r.status_code == 200 and r.headers["content-language"] == "ko"
    # Headers: what a crawler reads before the body.
    assert r.headers["tdm-reservation"] == "1"
    assert "noai" in r.headers["x-robots-tag"] and "noimageai" in r.headers["x-robots-tag"]
    assert "noindex" not in r.headers["x-robots-tag"]  # search is allowed
    rsl_url = f"http://testserver/r/h/{s.holder_id}/license.xml"
    assert rsl_url in r.headers["link"] and 'rel="license"' in r.headers["link"]
    # The head: TDMRep and robots meta, RSL, TDMRep, ODRL and JSON-LD links.
    hs = read_html(r.text, base_url=str(r.url))
    assert hs.tdm.reservation == 1 and hs.licenses == (rsl_url,)
    assert {"noai", "noimageai"} <= hs.robots.scopes["*"]
    assert (
        f'<link rel="tdm-reservation" type="application/json" href="http://testserver/r/h/{s.holder_id}/.well-known/tdmrep.json">'
        in r.text
    )
    assert 'type="application/odrl+json"' in r.text
    # JSON-LD: each category's value as a code; Korean words for a Korean reader.
    doc = _jsonld(r.text)
    values = {p["propertyID"]: p["value"] for p in doc["additionalProperty"]}
    assert values == {
        "fairtrain:tdm": "deny",
        "fairtrain:train-ai": "licence",
        "fairtrain:train-genai": "licence",
        "fairtrain:ai-input": "deny",
        "fairtrain:search": "allow",
    }
    assert doc["copyrightHolder"]["name"] == "이시인" and doc["license"] == rsl_url and doc["inLanguage"] == "ko"
    genai = next(p for p in doc["additionalProperty"] if p["propertyID"] == "fairtrain:train-genai")
    assert "30,000" in genai["description"] and "₩" in genai["description"]
    # Words: the statement is HTML, not Markdown; the one line to paste is there to copy.
    assert "<table>" in r.text and "| --- |" not in r.text and "|---|" not in r.text.split('id="r-statement-text"')[0]
    assert 'id="r-line"' in r.text and f"/r/h/{s.holder_id}</pre>" not in r.text.split('id="r-line"')[0]
    assert "생성형 AI 모델 학습" in r.text
    en = s.client.get(f"/r/h/{s.holder_id}", headers={"Accept-Language": "en"})
    assert "Training generative AI models" in en.text and en.headers["content-language"] == "en"
    # A person's e-mail address is never published: the registry is the contact for licences.
    for page in (r, en, s.client.get(f"/r/h/{s.holder_id}/license.xml"), s.client.get(f"/r/h/{s.holder_id}/odrl.json")):
        assert "poet@example.kr" not in page.text and "registry@testserver.invalid" in page.text


def test_the_machine_readable_forms_lie_beside_the_page_and_read_back_as_declared(app):
    s = _poet(app)
    base = f"/r/h/{s.holder_id}"
    page = "http://testserver" + base
    t = s.client.get(base + "/.well-known/tdmrep.json")
    assert t.status_code == 200 and t.headers["content-type"].startswith("application/json")
    rules = tdmrep.TdmRepFile.parse(t.content, item="tdmrep")
    sig = rules.signal(page)
    assert sig.reservation == 1 and sig.policy is None  # something is denied outright: no TDM policy
    assert rules.signal("http://testserver/search").reservation is None  # the rule covers the page, not the registry
    rsl = s.client.get(base + "/license.xml")
    assert rsl.headers["content-type"].startswith("application/rsl+xml")
    doc = rsl_mod.RslDocument.parse(rsl.content, item="rsl")
    read = {c.value: v.value for c, v in doc.values(page).items()}
    assert read["train-genai"] == "licence" and read["search"] == "allow" and read["ai-input"] == "deny"
    odrl = s.client.get(base + "/odrl.json").json()
    assert odrl["permission"][0]["target"] == page and odrl["permission"][0]["action"] == "tdm:mine"
    assert {d["action"] for d in odrl["permission"][0]["duty"]} == {"obtainConsent", "compensate"}
    assert s.client.get(base + "/tdm-policy.json").json() == odrl
    ld = s.client.get(base + "/terms.jsonld")
    assert ld.headers["content-type"].startswith("application/ld+json") and ld.json()["@id"] == page
    for svg in ("qr.svg", "badge.svg"):
        got = s.client.get(f"{base}/{svg}")
        assert got.headers["content-type"].startswith("image/svg+xml")
        assert ET.fromstring(got.content).tag == "{http://www.w3.org/2000/svg}svg"
    assert "라이선스" in s.client.get(base + "/badge.svg?lang=ko").text
    assert s.client.get("/r/h/999").status_code == 404
    assert s.client.get("/r/x/1").status_code in (404, 422)


def test_every_work_has_a_reservation_page_linked_from_its_work_page_and_the_creators(app):
    s = _poet(app)
    r = s.request("POST", "/api/works", files=[("files", ("시.txt", text_file(3), "text/plain"))])
    assert r.status_code in (200, 201), r.text
    wid = s.request("GET", "/api/works").json()[0]["id"]
    page = s.client.get(f"/r/w/{wid}", headers={"Accept-Language": "ko"})
    assert page.status_code == 200 and page.headers["tdm-reservation"] == "1"
    assert _jsonld(page.text)["@id"] == f"http://testserver/r/w/{wid}"
    assert f'href="/r/w/{wid}"' in s.client.get(f"/r/h/{s.holder_id}").text
    assert f'href="/r/w/{wid}"' in s.client.get(f"/works/{wid}").text
    assert f'href="/r/h/{s.holder_id}"' in s.client.get("/creator").text


def test_the_kit_accepts_a_blog_address_and_gives_what_the_platform_allows(app):
    s = _poet(app)
    bare = s.client.get("/kit")  # no site at all: the reservation page, its line, badge and QR code still
    assert (
        f'id="kit-page-link" href="http://testserver/r/h/{s.holder_id}"' in bare.text and 'id="kit-line"' in bare.text
    )
    r = s.client.get("/kit", params={"site": "https://blog.naver.com/poetlee"}, headers={"Accept-Language": "ko"})
    assert r.status_code == 200, r.text  # refused before: "must be an origin, without a path"
    assert 'id="guide-naver-blog" open' in r.text and 'id="guide-tistory" open' not in r.text
    assert 'id="kit-admin"' not in r.text  # nothing to upload to a Naver blog
    assert 'id="kit-head"' not in r.text  # and no page head to edit
    assert f"http://testserver/r/h/{s.holder_id}" in r.text and 'id="kit-line"' in r.text
    assert "<table>" in r.text and "레이아웃·위젯 설정" in r.text
    tistory = s.client.get("/kit", params={"site": "https://poet.tistory.com"})
    head = re.search(r'<pre id="kit-head-code">(.*?)</pre>', tistory.text, re.S).group(1)
    assert f"http://testserver/r/h/{s.holder_id}/license.xml" in head  # the head points at the registry page
    assert 'id="kit-admin"' not in tistory.text
    folder = s.client.get("/kit", params={"site": "https://poet.example/blog"})
    assert '<details class="kit-admin" id="kit-admin">' in folder.text  # collapsed: for website administrators
    assert "Disallow: /blog/" in folder.text and "Allow: /blog/license.xml" in folder.text
    bad = s.client.get("/kit", params={"site": "blog.naver.com/poetlee"})
    assert bad.status_code == 422 and "blog.naver.com/poetlee" in bad.text


def test_platforms_and_a_site_folder_scope():
    assert platform_for("https://blog.naver.com/poetlee").key == "naver-blog"
    assert platform_for("https://m.blog.naver.com/poetlee").key == "naver-blog"
    assert platform_for("https://poet.tistory.com/").key == "tistory"
    assert platform_for("https://brunch.co.kr/@poet").key == "brunch"
    assert platform_for("https://www.instagram.com/poet").key == "instagram"
    assert platform_for("https://www.youtube.com/@poet").key == "youtube"
    assert platform_for("https://poet.example").key == "site"
    assert platform_for("https://poet.example/blog/").key == "site-path"
    party = Party("A", PartyKind.HOLDER, "a@b.example")
    policy = SignalPolicy.from_values(
        party, "https://poet.example", {"tdm": "deny"}, policy_url="https://poet.example/blog/p", scope="/blog"
    )
    robots = render_robots_txt(policy, [])
    assert "Disallow: /blog/\n" in robots and "Disallow: /\n" not in robots
    assert 'url="https://poet.example/blog"' in render_rsl(policy)
    with pytest.raises(ValueError, match="scope"):
        SignalPolicy.from_values(
            party, "https://poet.example", {"tdm": "deny"}, policy_url="https://x.example/p", scope="/a b"
        )


def test_qr_badge_and_statement_html_are_well_formed_and_escape_what_they_show():
    qr = render_qr_svg("https://registry.example/r/h/7")
    assert ET.fromstring(qr).tag.endswith("svg") and "path" in qr
    party = Party("<b>A&B</b>", PartyKind.HOLDER, "a@b.example")
    policy = SignalPolicy.from_values(party, "https://r.example", {"tdm": "deny"}, policy_url="https://r.example/p")
    assert ET.fromstring(render_badge_svg(policy, "en")).get("aria-label") == "AI training: not allowed"
    html = statement_html("# T\n\n<script>alert(1)</script>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<table>" in html


# -- the signal reader, over real HTTP ------------------------------------------------------------------


def test_the_signal_reader_reads_a_reservation_page_as_declared(tmp_path, database_url):
    with served(tmp_path / "data", database_url) as server:
        _reader_reads(server.base, server.env)


def _reader_reads(base: str, env: dict) -> None:
    with httpx.Client(base_url=base) as c:
        r = c.post(
            "/api/auth/signup",
            json={"email": "poet@example.kr", "password": PASSWORD, "role": "creator", "name": "이시인"},
        )
        assert r.status_code == 201, r.text
        holder = int(r.json()["user"]["holder"].split(":")[1])
        assert c.put("/api/policy", json=DENY_TRAINING, headers={"X-CSRF-Token": r.json()["csrf"]}).status_code == 200
    url = f"{base}/r/h/{holder}"
    out = subprocess.run(
        [*FAIRTRAIN, "signals", "check", url, "--allow-private-urls", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)[0]
    assert report["status"] == 200 and report["robots_allowed"] is True and report["reserved"] is True
    got = {c: d["value"] for c, d in report["decisions"].items()}
    # Training is sold under licence (RSL), mining and AI input are denied, search is allowed.
    assert got["train-genai"] == "licence" and got["ai-input"] == "deny" and got["search"] == "allow"
    assert got["train-ai"] == "licence" and got["tdm"] in ("deny", "licence")
    sources = {r["provenance"]["source"] for d in report["decisions"].values() for r in d["reasons"]}
    # Read from the page's headers, its HTML head, TDMRep and the RSL document it links to.
    assert {"http:x-robots-tag", "html:meta-robots"} <= sources, sources
    assert any(s.startswith("rsl:") for s in sources) and any(s.startswith("tdmrep:") for s in sources), sources


def test_a_reservation_pages_statement_names_only_forms_that_exist(app):
    s = _poet(app)
    page = s.client.get(f"/r/h/{s.holder_id}")
    links = re.findall(r'href="(http://testserver/r/h/\d+/[^"]+)"', page.text)
    assert links and not any(u.endswith(("robots.txt", "ai.txt")) for u in links)
    for link in set(links):
        assert s.client.get(link.removeprefix("http://testserver")).status_code == 200, link
