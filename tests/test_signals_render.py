"""Every rendered signal, read back with an independent parser, says what the declaration says."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path

import http_sfv
import httpx
import pytest
from jwm.robotstxt import googlebot
from protego import Protego

from conftest import TESTDATA
from fairtrain.core.money import Money
from fairtrain.core.signals import render as R
from fairtrain.core.signals.bots import BotListError, classify, load_bots
from fairtrain.core.vocab import Category, Decision, Offer, PriceModel, Purpose, Value
from worlds import signal_policy

TDMREP_EXAMPLES = TESTDATA / "tdmrep"
BASE = "https://creator.example"
BOTS = load_bots()

C = Category
A, D, L = Value.ALLOW, Value.DENY, Value.LICENCE
PARTY = R.Party("김작가 <Studio>", R.PartyKind.HOLDER, "kim@creator.example", "https://creator.example/about")
CMO = R.Party("Korea Music Society", R.PartyKind.ORGANISATION, "ai@cmo.example", "https://cmo.example")
OFFER = Offer(PriceModel.PER_WORK, Money.parse("50000", "KRW"), purposes=frozenset({Purpose.COMMERCIAL}))


@dataclass(frozen=True)
class Case:
    """A declaration and, written out by hand, what every category must read as."""

    name: str
    policy: R.SignalPolicy
    expected: dict[Category, Value]


CASES = [
    Case("all-deny", signal_policy(PARTY, {"tdm": "deny"}), {c: D for c in C}),
    Case(
        "deny-training-allow-search",
        signal_policy(CMO, {"tdm": "deny", "search": "allow"}),
        {C.TDM: D, C.TRAIN_AI: D, C.TRAIN_GENAI: D, C.AI_INPUT: D, C.SEARCH: A},
    ),
    Case(
        "licence-training",
        signal_policy(PARTY, {"tdm": "deny", "train-ai": "licence", "search": "allow"}, {"train-ai": OFFER}),
        {C.TDM: D, C.TRAIN_AI: L, C.TRAIN_GENAI: L, C.AI_INPUT: D, C.SEARCH: A},
    ),
    Case("allow-all", signal_policy(CMO, {"tdm": "allow"}), {c: A for c in C}),
    Case(
        "deny-genai-only",
        signal_policy(PARTY, {"tdm": "allow", "train-genai": "deny"}),
        {C.TDM: A, C.TRAIN_AI: A, C.TRAIN_GENAI: D, C.AI_INPUT: A, C.SEARCH: A},
    ),
    Case(
        "licence-mining-allow-search",
        signal_policy(PARTY, {"tdm": "licence", "search": "allow"}, {"tdm": OFFER}),
        {C.TDM: L, C.TRAIN_AI: L, C.TRAIN_GENAI: L, C.AI_INPUT: L, C.SEARCH: A},
    ),
]
IDS = [c.name for c in CASES]


def _free(case: Case, *cats: Category) -> bool:
    """Yes/no formats with one token for several categories may say yes only if all are allowed."""
    return all(case.expected[c] is A for c in cats)


def _tdm_licensed(case: Case) -> bool:
    """TDMRep's one bit carries the strictest value of the tree; a policy only where that is licence."""
    return max(case.expected.values(), key=lambda v: v.restrictiveness) is L


def _kit(case: Case) -> dict[str, str]:
    return {k: v.decode("utf-8") for k, v in R.render_kit(case.policy, BOTS).items()}


# ---------------------------------------------------------------------------------------------------
# The policy


def test_policy_fills_children_from_parents_and_inherits_offers():
    p = CASES[2].policy
    assert p.value(C.TRAIN_GENAI) is L and p.offer(C.TRAIN_GENAI) == OFFER
    assert p.value(C.AI_INPUT) is D and p.offer(C.AI_INPUT) is None
    assert {c: p.value(c) for c in C} == CASES[2].expected


def test_policy_from_decisions_matches_from_values():
    decisions = [
        Decision(C.TDM, D),
        Decision(C.TRAIN_AI, L, offers=(OFFER,)),
        Decision(C.SEARCH, A),
        Decision(C.AI_INPUT, Value.UNKNOWN),  # left out: inherits deny from tdm
    ]
    p = R.SignalPolicy.from_decisions(
        PARTY, BASE, decisions, policy_url=f"{BASE}/ai-policy", licence_urls=[f"{BASE}/licence"]
    )
    assert p.digest == CASES[2].policy.digest
    assert R.render_kit(p, BOTS) == R.render_kit(CASES[2].policy, BOTS)


@pytest.mark.parametrize(
    "values, offers, licence_urls, message",
    [
        (
            {"tdm": "deny", "train-ai": "licence"},
            None,
            ["https://x.example/l"],
            "train-ai: a licence value needs an offer",
        ),
        ({"tdm": "unknown"}, None, [], "tdm: unknown value"),
        ({"tdm": "deny", "painting": "allow"}, None, [], "painting: unknown usage category"),
        ({"tdm": "licence"}, {"tdm": OFFER}, [], "needs at least one licence URL"),
        (
            {"tdm": "deny"},
            {"train-ai": OFFER},
            ["https://x.example/l"],
            "train-ai: an offer is given but the value is deny",
        ),
    ],
)
def test_policy_refuses_bad_declarations_naming_the_item(values, offers, licence_urls, message):
    with pytest.raises(R.SignalRenderError, match=re.escape(message)):
        R.SignalPolicy.from_values(
            PARTY, BASE, values, policy_url=f"{BASE}/p", offers=offers, licence_urls=licence_urls
        )


@pytest.mark.parametrize(
    "party_args, base, message",
    [
        (("A", R.PartyKind.HOLDER, "not-an-email"), BASE, "not a contact email"),
        (("A", R.PartyKind.HOLDER, "a@b.example", "javascript:alert(1)"), BASE, "website"),
        (("A", R.PartyKind.HOLDER, "a@b.example"), "ftp://creator.example", "site base URL"),
        (("A", R.PartyKind.HOLDER, "a@b.example"), "https://creator.example/blog", "without a path"),
        (("A", R.PartyKind.HOLDER, "a@b.example"), 'https://x.example/"onload=', "site base URL"),
    ],
)
def test_policy_refuses_bad_party_and_urls(party_args, base, message):
    with pytest.raises(R.SignalRenderError, match=message):
        R.SignalPolicy.from_values(R.Party(*party_args), base, {"tdm": "deny"}, policy_url=f"{BASE}/p")


def test_digest_changes_with_any_value_and_is_written_everywhere_it_fits():
    a, b = CASES[0].policy, CASES[1].policy
    assert a.digest != b.digest
    kit = _kit(CASES[0])
    for path in (R.ROBOTS_TXT, R.RSL_XML, R.AI_TXT, R.STATEMENT_EN, R.STATEMENT_KO):
        assert a.digest in kit[path], path
    for path in (R.NGINX_CONF, R.APACHE_CONF, R.CADDYFILE, R.HTML_HEAD):
        assert a.digest[:16] in kit[path], path


# ---------------------------------------------------------------------------------------------------
# Bots


def test_bot_list_classification_follows_the_function_field():
    by_token = {b.token: b.categories for b in BOTS}
    assert len(BOTS) == 166
    assert by_token["GPTBot"] == {C.TRAIN_AI, C.TRAIN_GENAI}
    assert by_token["Google-Extended"] == {C.TRAIN_AI, C.TRAIN_GENAI}
    assert by_token["CCBot"] == {C.TRAIN_AI, C.TRAIN_GENAI}
    assert by_token["OAI-SearchBot"] == {C.SEARCH}
    assert by_token["Claude-SearchBot"] == {C.SEARCH}
    assert by_token["ChatGPT-User"] == {C.AI_INPUT}
    assert by_token["Perplexity-User"] == {C.AI_INPUT}
    assert by_token["YouBot"] == {C.SEARCH, C.TRAIN_AI, C.TRAIN_GENAI}  # "search engine and LLMs"
    assert classify("NewBot", "Unclear at this time.") == {C.TRAIN_AI, C.TRAIN_GENAI}  # permission first
    # Google's parser reads "AI2Bot-DeepResearchEval" and "AI2Bot" both as "AI": one merged group.
    assert by_token["AI2Bot-DeepResearchEval"] == {C.AI_INPUT, C.TRAIN_AI, C.TRAIN_GENAI}
    assert classify("AI2Bot-DeepResearchEval", "AI Assistants") == {C.AI_INPUT}


def test_bot_list_errors_name_the_file(tmp_path):
    bad = tmp_path / "robots.json"
    bad.write_text("[1, 2]")
    with pytest.raises(BotListError, match=re.escape(str(bad))):
        load_bots(bad)
    bad.write_text('{"Evil: Bot": {"function": "x"}}')
    with pytest.raises(BotListError, match="Evil: Bot"):
        load_bots(bad)
    with pytest.raises(BotListError, match="cannot read"):
        load_bots(tmp_path / "missing.json")


def test_bot_list_path_can_be_given(tmp_path):
    f = tmp_path / "bots.json"
    f.write_text(
        json.dumps({"TinyTrainer": {"function": "AI Data Scrapers"}, "TinySearch": {"function": "AI Search Crawlers"}})
    )
    bots = load_bots(f)
    text = R.render_robots_txt(CASES[1].policy, bots)
    rp = Protego.parse(text)
    assert not rp.can_fetch(f"{BASE}/a", "TinyTrainer")
    assert rp.can_fetch(f"{BASE}/a", "TinySearch")


# ---------------------------------------------------------------------------------------------------
# robots.txt


class _Lines(googlebot.RobotsParseHandler):
    """Google's parser as a line reporter: every directive it sees, and any malformed line."""

    def __init__(self) -> None:
        super().__init__()
        self.unknown: list[tuple[str, str]] = []
        self.bad_lines: list[str] = []
        self.agents = 0

    def HandleRobotsStart(self): ...
    def HandleRobotsEnd(self): ...
    def HandleUserAgent(self, line_num, value):
        self.agents += 1

    def HandleAllow(self, line_num, value): ...
    def HandleDisallow(self, line_num, value): ...
    def HandleSitemap(self, line_num, value): ...
    def HandleUnknownAction(self, line_num, action, value):
        self.unknown.append((action, value))

    def ReportLineMetadata(self, line_num, metadata):
        if metadata.is_line_too_long or metadata.is_missing_colon_separator or metadata.is_acceptable_typo:
            self.bad_lines.append(line_num)
        if not (metadata.is_empty or metadata.is_comment or metadata.has_directive):
            self.bad_lines.append(line_num)


def _google_token(ua: str) -> str:
    # A crawler presents its product token: the leading run of [A-Za-z_-] (RFC 9309 §2.2.1).
    return re.match(r"[A-Za-z_-]+", ua).group(0)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_robots_txt_gives_every_listed_bot_its_verdict_in_two_parsers(case):
    text = _kit(case)[R.ROBOTS_TXT]
    rp = Protego.parse(text)
    matcher = googlebot.RobotsMatcher()
    url = f"{BASE}/works/poem.html"
    checked = 0
    for bot in BOTS:
        want = _free(case, *bot.categories)
        assert rp.can_fetch(url, bot.token) is want, (bot.token, "protego")
        assert matcher.OneAgentAllowedByRobots(text, _google_token(bot.token), url) is want, (bot.token, "google")
        checked += 1
    assert checked == 166
    # Crawlers not in the list fall to '*', which follows search.
    for ua in ("Googlebot", "Bingbot", "SomeNewCrawler"):
        assert rp.can_fetch(url, ua) is _free(case, C.SEARCH)
        assert matcher.OneAgentAllowedByRobots(text, ua, url) is _free(case, C.SEARCH)


def test_robots_txt_named_bots_in_the_mixed_case():
    rp = Protego.parse(_kit(CASES[1])[R.ROBOTS_TXT])
    url = f"{BASE}/"
    assert not rp.can_fetch(url, "GPTBot") and not rp.can_fetch(url, "ClaudeBot") and not rp.can_fetch(url, "CCBot")
    assert not rp.can_fetch(url, "ChatGPT-User")  # ai-input is denied
    assert rp.can_fetch(url, "OAI-SearchBot") and rp.can_fetch(url, "PerplexityBot") and rp.can_fetch(url, "Googlebot")


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_robots_txt_extension_lines_parse_and_agree(case):
    text = _kit(case)[R.ROBOTS_TXT]
    lines = _Lines()
    googlebot.ParseRobotsTxt(text, lines)
    assert lines.bad_lines == []
    assert lines.agents == len({b.token.lower() for b in BOTS}) + 1
    keys = {k.lower() for k, _ in lines.unknown}
    assert keys == {"content-usage", "content-signal", "license"}
    assert [v for k, v in lines.unknown if k.lower() == "license"] == [f"{BASE}/license.xml"]
    groups = text.count("User-agent: *") + len(re.findall(r"\n(?:Allow|Disallow): /\n", text)) - 1
    usages = [v for k, v in lines.unknown if k.lower() == "content-usage"]
    signals = [v for k, v in lines.unknown if k.lower() == "content-signal"]
    assert len(usages) == len(signals) == groups  # one of each in every group
    want_usage = {
        "train-ai": "y" if _free(case, C.TRAIN_AI, C.TRAIN_GENAI) else "n",
        "search": "y" if _free(case, C.SEARCH) else "n",
    }
    want_signal = {
        "search": "yes" if _free(case, C.SEARCH) else "no",
        "ai-input": "yes" if _free(case, C.AI_INPUT) else "no",
        "ai-train": "yes" if _free(case, C.TRAIN_AI, C.TRAIN_GENAI) else "no",
    }
    for value in set(usages):
        assert _sf_dict(value) == want_usage
    for value in set(signals):
        assert _sf_dict(value) == want_signal


def _sf_dict(value: str) -> dict[str, str]:
    d = http_sfv.Dictionary()
    d.parse(value.encode())
    out = {}
    for k, item in d.items():
        assert isinstance(item.value, http_sfv.Token), (k, item.value)
        out[k] = str(item.value)
    return out


# ---------------------------------------------------------------------------------------------------
# TDMRep


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tdmrep_json_has_the_spec_shape_and_the_reservation(case):
    kit = _kit(case)
    rules = json.loads(kit[R.TDMREP_JSON])
    example = json.loads((TDMREP_EXAMPLES / "spec-example-02-tdmrep.json").read_text())
    assert isinstance(rules, list) and len(rules) == 1
    allowed_keys = set().union(*(r.keys() for r in example))
    assert set(rules[0]) <= allowed_keys and {"location", "tdm-reservation"} <= set(rules[0])
    reserved = any(case.expected[c] is not A for c in C)
    assert rules[0]["location"] == "/"
    assert rules[0]["tdm-reservation"] == (1 if reserved else 0)
    assert type(rules[0]["tdm-reservation"]) is int
    assert ("tdm-policy" in rules[0]) is _tdm_licensed(case)
    if _tdm_licensed(case):
        assert rules[0]["tdm-policy"] == f"{BASE}/{R.TDM_POLICY_JSON}"


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_tdm_policy_is_an_odrl_offer_with_contact_and_duties(case):
    kit = _kit(case)
    if not _tdm_licensed(case):  # nothing to point TDMRep at: no licensing policy is rendered
        assert R.TDM_POLICY_JSON not in kit and R.TDM_POLICY_JSON not in kit[R.STATEMENT_EN]
        return
    doc = json.loads(kit[R.TDM_POLICY_JSON])
    ctx = json.loads((TDMREP_EXAMPLES / "tdmrep.jsonld").read_text())["@context"]
    assert doc["@context"] == ["http://www.w3.org/ns/odrl.jsonld", "http://www.w3.org/ns/tdmrep.jsonld"]
    assert doc["@type"] == "Offer" and doc["profile"] == "http://www.w3.org/ns/tdmrep"
    assert doc["uid"].startswith(f"{BASE}/{R.TDM_POLICY_JSON}")
    party = case.policy.party
    assert doc["assigner"]["vcard:fn"] == party.name
    assert doc["assigner"]["vcard:hasEmail"] == f"mailto:{party.email}"
    assert set(doc) == {"@context", "@type", "profile", "uid", "assigner", "permission"}  # no prohibitions
    [perm] = doc["permission"]
    prefix, term = perm["action"].split(":")
    assert ctx[prefix] == "http://www.w3.org/ns/tdmrep#" and ctx[term] == "tdm:mine"
    duties = [d["action"] for d in perm["duty"]]
    licensed = any(v is L for v in case.expected.values())
    assert duties == (["obtainConsent", "compensate"] if licensed else ["obtainConsent"])
    if licensed:  # OFFER is for commercial use only
        assert perm["constraint"] == [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "tdm:non-research"}]
        assert ctx["non-research"] == "tdm:non-research"
    else:
        assert "constraint" not in perm


# ---------------------------------------------------------------------------------------------------
# HTTP headers: the snippets are loaded by real servers, and the served headers are read back


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def _running(cmd: list[str], port: int, env: dict | None = None):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"{cmd[0]} exited: {proc.stdout.read().decode(errors='replace')}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"{cmd[0]} did not listen on {port}")
        yield f"http://127.0.0.1:{port}"
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _serve_nginx(tmp: Path, snippet: str, port: int):
    (tmp / "logs").mkdir()
    (tmp / "www").mkdir()
    (tmp / "www" / "index.html").write_text("ok")
    (tmp / "signals.conf").write_text(snippet)
    conf = tmp / "nginx.conf"
    conf.write_text(
        f"""daemon off; worker_processes 1; pid {tmp}/nginx.pid; error_log {tmp}/logs/error.log;
events {{ worker_connections 16; }}
http {{ access_log off; client_body_temp_path {tmp}; proxy_temp_path {tmp}; fastcgi_temp_path {tmp};
  uwsgi_temp_path {tmp}; scgi_temp_path {tmp};
  server {{ listen 127.0.0.1:{port}; root {tmp}/www; include {tmp}/signals.conf; }} }}
"""
    )
    check = subprocess.run(["nginx", "-t", "-c", str(conf), "-p", str(tmp)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    return ["nginx", "-c", str(conf), "-p", str(tmp)], None


def _serve_apache(tmp: Path, snippet: str, port: int):
    (tmp / "www").mkdir()
    (tmp / "www" / "index.html").write_text("ok")
    (tmp / "signals.conf").write_text(snippet)
    mods = "/usr/lib/apache2/modules"
    conf = tmp / "httpd.conf"
    conf.write_text(
        f"""ServerRoot {tmp}
ServerName localhost
Listen 127.0.0.1:{port}
PidFile {tmp}/httpd.pid
ErrorLog {tmp}/error.log
Mutex file:{tmp} default
LoadModule mpm_event_module {mods}/mod_mpm_event.so
LoadModule authz_core_module {mods}/mod_authz_core.so
LoadModule headers_module {mods}/mod_headers.so
User nobody
Group nogroup
DocumentRoot {tmp}/www
<Directory {tmp}/www>
  Require all granted
</Directory>
Include {tmp}/signals.conf
"""
    )
    os.chmod(tmp, 0o755)
    os.chmod(tmp / "www", 0o755)
    check = subprocess.run(["apache2", "-t", "-f", str(conf)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    return ["apache2", "-f", str(conf), "-DFOREGROUND"], None


def _serve_caddy(tmp: Path, snippet: str, port: int):
    (tmp / "signals.caddy").write_text(snippet)
    conf = tmp / "Caddyfile"
    conf.write_text(
        f"""{{
\tadmin off
\tauto_https off
}}
http://127.0.0.1:{port} {{
\timport {tmp}/signals.caddy
\trespond "ok"
}}
"""
    )
    env = {**os.environ, "HOME": str(tmp), "XDG_DATA_HOME": str(tmp), "XDG_CONFIG_HOME": str(tmp)}
    check = subprocess.run(
        ["caddy", "validate", "--config", str(conf), "--adapter", "caddyfile"], capture_output=True, text=True, env=env
    )
    assert check.returncode == 0, check.stdout + check.stderr
    return ["caddy", "run", "--config", str(conf), "--adapter", "caddyfile"], env


SERVERS = {
    "nginx": (R.NGINX_CONF, _serve_nginx),
    "apache": (R.APACHE_CONF, _serve_apache),
    "caddy": (R.CADDYFILE, _serve_caddy),
}


@pytest.mark.parametrize("server", sorted(SERVERS))
@pytest.mark.parametrize("case", [CASES[1], CASES[2], CASES[3]], ids=IDS[1:4])
def test_header_snippets_load_in_real_servers_and_serve_thesignal_policy(case, server, tmp_path):
    binary = {"nginx": "nginx", "apache": "apache2", "caddy": "caddy"}[server]
    if shutil.which(binary) is None:
        pytest.fail(f"{binary} is not installed (apt-get install nginx-light apache2 caddy; .ci/run does)")
    path, serve = SERVERS[server]
    port = _free_port()
    cmd, env = serve(tmp_path, _kit(case)[path], port)
    with _running(cmd, port, env) as url:
        headers = httpx.get(url + "/index.html", timeout=5).headers

    reserved = any(case.expected[c] is not A for c in C)
    assert headers["tdm-reservation"] == ("1" if reserved else "0")
    assert headers.get("tdm-policy") == (f"{BASE}/{R.TDM_POLICY_JSON}" if _tdm_licensed(case) else None)
    assert _sf_dict(headers["content-usage"]) == {
        "train-ai": "y" if _free(case, C.TRAIN_AI, C.TRAIN_GENAI) else "n",
        "search": "y" if _free(case, C.SEARCH) else "n",
    }
    tags = {t.strip() for t in headers.get("x-robots-tag", "").split(",") if t.strip()}
    training_reserved = not _free(case, C.TRAIN_AI, C.TRAIN_GENAI)
    assert ({"noai", "noimageai"} <= tags) is training_reserved
    assert ("noindex" in tags) is (not _free(case, C.SEARCH))
    link = httpx.Headers(headers).get("link")
    assert link == f'<{BASE}/license.xml>; rel="license"; type="application/rsl+xml"'


# ---------------------------------------------------------------------------------------------------
# HTML


class _Head(HTMLParser):
    def __init__(self):
        super().__init__()
        self.meta: dict[str, str] = {}
        self.links: list[dict[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "meta":
            self.meta[a["name"]] = a["content"]
        elif tag == "link":
            self.links.append(a)


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_html_snippet(case):
    head = _Head()
    head.feed(_kit(case)[R.HTML_HEAD])
    reserved = any(case.expected[c] is not A for c in C)
    assert head.meta["tdm-reservation"] == ("1" if reserved else "0")
    assert head.meta.get("tdm-policy") == (f"{BASE}/{R.TDM_POLICY_JSON}" if _tdm_licensed(case) else None)
    robots = {t.strip() for t in head.meta.get("robots", "").split(",") if t.strip()}
    assert ({"noai", "noimageai"} <= robots) is (not _free(case, C.TRAIN_AI, C.TRAIN_GENAI))
    assert ("noindex" in robots) is (not _free(case, C.SEARCH))
    assert {"rel": "license", "type": "application/rsl+xml", "href": f"{BASE}/license.xml"} in head.links


def test_html_snippet_escapes_the_party_name():
    text = _kit(CASES[0])[R.HTML_HEAD]
    assert "<Studio>" not in text and "&lt;Studio&gt;" in text
    hostile = R.Party('<script>alert(1)</script> {{7*7}} "quoted"', R.PartyKind.HOLDER, "a@creator.example", None)
    text = R.render_html_head(signal_policy(hostile, {"tdm": "deny"}))
    head = _Head()
    head.feed(text)
    assert "<script>" not in text and "&lt;script&gt;" in text and "{{7*7}}" in text
    assert head.meta["tdm-reservation"] == "1" and len(head.links) == 2  # the name broke no element


# ---------------------------------------------------------------------------------------------------
# RSL 1.0

_RSL = "{https://rslstandard.org/rsl}"
_USAGE = {"all", "ai-all", "ai-train", "ai-input", "ai-index", "search"}
_PAYMENT_TYPES = {"purchase", "subscription", "training", "crawl", "use", "contribution", "attribution", "free"}


def _rsl_licensed(doc: ET.Element, token: str) -> tuple[bool, list[ET.Element]]:
    """RSL 1.0 evaluation for one usage token: (free licence exists, payments of paid licences)."""
    free, paid = False, []
    for lic in doc.iter(f"{_RSL}license"):
        permits = [p.text.split() for p in lic.findall(f"{_RSL}permits") if p.get("type") == "usage"]
        prohibits = [p.text.split() for p in lic.findall(f"{_RSL}prohibits") if p.get("type") == "usage"]
        permitted = (not permits) or any(token in p or "all" in p for p in permits)  # permits whitelist
        prohibited = any(token in p or "all" in p for p in prohibits)  # prohibition wins
        if permitted and not prohibited:
            payment = lic.find(f"{_RSL}payment")
            if payment is None or payment.get("type") == "free":
                free = True
            else:
                paid.append(payment)
    return free, paid


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_rsl_document_structure_and_verdicts(case):
    text = _kit(case)[R.RSL_XML]
    root = ET.fromstring(text.encode())
    assert root.tag == f"{_RSL}rsl"
    for el in root.iter():
        assert el.tag.startswith(_RSL), el.tag  # nothing outside the RSL namespace
    [content] = root.findall(f"{_RSL}content")
    assert content.get("url") == f"{BASE}/"
    assert content.findall(f"{_RSL}license")
    for lic in content.findall(f"{_RSL}license"):
        for kind in ("permits", "prohibits"):
            types_ = [e.get("type") for e in lic.findall(f"{_RSL}{kind}")]
            assert len(types_) == len(set(types_)), "at most one per type"
            for e in lic.findall(f"{_RSL}{kind}"):
                assert set(e.text.split()) <= _USAGE and "," not in e.text
        for pay in lic.findall(f"{_RSL}payment"):
            assert pay.get("type") in _PAYMENT_TYPES
            amount = pay.find(f"{_RSL}amount")
            Money.parse(amount.text, amount.get("currency"))  # ISO 4217 with the currency's decimals
    copyright_ = content.find(f"{_RSL}copyright")
    assert copyright_.get("contactEmail") == case.policy.party.email
    assert copyright_.get("type") == ("person" if case.policy.party.kind is R.PartyKind.HOLDER else "organization")
    assert content.find(f"{_RSL}terms").text == f"{BASE}/ai-policy"

    tokens = {"ai-train": (C.TRAIN_AI, C.TRAIN_GENAI), "ai-input": (C.AI_INPUT,), "search": (C.SEARCH,)}
    for token, cats in tokens.items():
        free, paid = _rsl_licensed(root, token)
        values = {case.expected[c] for c in cats}
        assert free is (values == {A}), token
        if values == {L}:
            [payment] = paid  # where all mining is licensed, one licence permits "all"
            want = "purchase" if case.expected[C.TDM] is L else {"ai-train": "training", "ai-input": "use"}[token]
            assert payment.get("type") == want
            assert payment.find(f"{_RSL}amount").text == "50000"
            assert payment.find(f"{_RSL}amount").get("currency") == "KRW"
            assert payment.find(f"{_RSL}custom").text == f"{BASE}/licence"
        elif values != {A}:
            assert paid == [], token


# ---------------------------------------------------------------------------------------------------
# ai.txt


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_ai_txt(case):
    rp = Protego.parse(_kit(case)[R.AI_TXT])
    for path in ("/images/a.jpg", "/audio/b.mp3", "/"):
        assert rp.can_fetch(BASE + path, "img2dataset") is _free(case, C.TRAIN_AI, C.TRAIN_GENAI)


# ---------------------------------------------------------------------------------------------------
# Statements


def _statement_rows(text: str) -> dict[str, tuple[str, str]]:
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\| .*\(`([a-z-]+)`\) \| (.*?) \| (.*?) \|$", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    return rows


@pytest.mark.parametrize("case", CASES, ids=IDS)
@pytest.mark.parametrize(
    "lang, words",
    [
        ("en", {A: "Allowed", D: "Not allowed (rights reserved)", L: "Only under a paid licence"}),
        ("ko", {A: "허용", D: "불허(권리 유보)", L: "유료 이용허락 필요"}),
    ],
)
def test_statement_says_who_reserves_what_at_which_price(case, lang, words):
    text = _kit(case)[R.STATEMENT_EN if lang == "en" else R.STATEMENT_KO]
    rows = _statement_rows(text)
    assert set(rows) == {c.value for c in C}
    for c in C:
        status, terms = rows[c.value]
        assert status == words[case.expected[c]], c
        if case.expected[c] is L:
            assert "₩50,000" in terms
            assert ("commercial" if lang == "en" else "상업적 이용") in terms
            assert ("research" if lang == "en" else "연구") not in terms
        else:
            assert terms == ""
    assert case.policy.party.email in text
    assert f"{BASE}/license.xml" in text and f"{BASE}/robots.txt" in text
    name = case.policy.party.name
    assert ("\\<Studio\\>" in text) if "<" in name else (name in text)


def test_the_korean_statement_takes_every_phrase_from_the_catalogue():
    from fairtrain.core.i18n import translations

    ko = translations("ko")
    text = _kit(CASES[2])[R.STATEMENT_KO]
    for phrase in (
        "Reservation of rights for text and data mining and AI",
        "Declared by",
        "rights holder",
        "This declaration applies to the works published at",
        "Contact",
        "Use",
        "Status",
        "Licence terms",
        "Licence documents",
        "Machine-readable forms of this declaration",
        "Declaration digest",
        "Training generative AI models",
        "per work",
        "for",
        "commercial",
    ):
        assert ko.gettext(phrase) != phrase and ko.gettext(phrase) in text, phrase
    assert not re.search(r"[A-Za-z]{4,}", re.sub(r"<[^>]*>|`[^`]*`|\\<Studio\\>|AI|RAG", "", text))  # no English left


def test_statement_in_an_unknown_language_is_refused():
    with pytest.raises(R.SignalRenderError, match="'fr'"):
        R.render_statement(CASES[0].policy, "fr")


# ---------------------------------------------------------------------------------------------------
# Writing the kit


def test_write_kit_writes_every_file_and_replaces_an_old_kit(tmp_path):
    written = R.write_kit(CASES[0].policy, tmp_path, BOTS)
    kit = R.render_kit(CASES[0].policy, BOTS)
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(kit)
    R.write_kit(CASES[3].policy, tmp_path, BOTS)
    new = R.render_kit(CASES[3].policy, BOTS)
    for rel, data in new.items():
        assert (tmp_path / rel).read_bytes() == data
    assert not list(tmp_path.rglob("*.tmp"))


def test_write_kit_removes_a_tdm_policy_the_new_kit_does_not_point_to(tmp_path):
    licensed = next(c for c in CASES if _tdm_licensed(c))
    R.write_kit(licensed.policy, tmp_path, BOTS)
    assert (tmp_path / R.TDM_POLICY_JSON).is_file()
    written = R.write_kit(CASES[0].policy, tmp_path, BOTS)
    assert not (tmp_path / R.TDM_POLICY_JSON).exists()
    assert {p.relative_to(tmp_path).as_posix() for p in written} == set(R.render_kit(CASES[0].policy, BOTS))


def test_write_kit_failure_leaves_the_previous_kit_whole(tmp_path):
    R.write_kit(CASES[0].policy, tmp_path, BOTS)
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    (tmp_path / R.AI_TXT).unlink()
    (tmp_path / R.AI_TXT).mkdir()  # the rename onto it will fail
    (tmp_path / R.AI_TXT / "keep").write_text("x")
    with pytest.raises(OSError):
        R.write_kit(CASES[3].policy, tmp_path, BOTS)
    for p, data in before.items():
        if p.name != R.AI_TXT:
            assert p.read_bytes() == data, p
    assert not list(tmp_path.rglob("*.tmp"))
