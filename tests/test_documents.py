"""One place for each concept: every language string comes from the Babel catalogue, every HTML document from
a Jinja2 template that escapes what it is given, every chart from one helper that draws well-formed SVG."""

from __future__ import annotations

import html
import io
import re
import tokenize
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from fairtrain.core import i18n
from fairtrain.core.charts import BAR_MAX, LABEL_CHARS, Bar, bar_chart
from fairtrain.core.money import Money
from fairtrain.core.signals import render as R
from fairtrain.core.vocab import Offer, PriceModel, Purpose
from fairtrain.services.clearance.report import render_html
from fairtrain.services.ledger.distribution import statement_html
from fairtrain.services.transparency.schema import SECTIONS
from fairtrain.services.transparency.summary import render as render_summary

SRC = Path(__file__).resolve().parents[1] / "src" / "fairtrain"
HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")
# Values the web translates by variable (a declaration's value), not by a literal in the source.
DYNAMIC = {"allow", "deny", "licence", "unknown"}


def _messages() -> set[tuple[str | None, str]]:
    """(context, id) of every message in the product's sources and templates, as ``pybabel extract`` sees them."""
    found = extract_from_dir(
        SRC,
        method_map=[("**.py", "python"), ("**/templates/**.html", "jinja2"), ("**/templates/**.svg", "jinja2")],
        keywords={**DEFAULT_KEYWORDS, **i18n.EXTRACT_KEYWORDS},
    )
    return {(ctx, msg) for _f, _line, msg, _comments, ctx in found} | {(None, m) for m in DYNAMIC}


def _untranslated(t, messages) -> set[tuple[str | None, str]]:
    return {m for m in messages if (t.pgettext(*m) if m[0] else t.gettext(m[1])) == m[1]}


def test_every_message_the_product_writes_has_a_korean_translation():
    messages = _messages()
    assert len(messages) > 300  # the web's pages, the signals kit, statements, summaries
    assert {(None, "Declared by"), (None, "Gross"), ("summary", "Created"), (None, "Base model")} <= messages
    assert not _untranslated(i18n.translations("ko"), messages)


def test_a_message_missing_from_the_catalogue_fails_the_check(tmp_path):
    with i18n.catalogue_path("ko").open("rb") as f:
        catalog = read_po(f, locale="ko")
    catalog.delete("Declared by")
    catalog.delete("Created", context="summary")
    buf = io.BytesIO()
    write_mo(buf, catalog)
    buf.seek(0)
    import gettext

    assert _untranslated(gettext.GNUTranslations(buf), _messages()) == {(None, "Declared by"), ("summary", "Created")}


def test_korean_is_written_only_in_the_catalogue():
    """No Korean string in code or templates (the demo's sample works are data, not product text)."""
    files = [p for ext in ("py", "html", "svg") for p in SRC.rglob(f"*.{ext}")]
    assert len(files) > 50
    offenders = [
        str(p.relative_to(SRC))
        for p in files
        if HANGUL.search(p.read_text(encoding="utf-8")) and p.relative_to(SRC).as_posix() != "cli/demo.py"
    ]
    assert not offenders


def test_no_message_is_looked_up_inside_an_f_string():
    """``pybabel extract`` cannot see ``_("…")`` inside an f-string (before Python 3.12): it would never
    reach the catalogue."""
    inside = []
    for p in SRC.rglob("*.py"):
        for tok in tokenize.generate_tokens(io.StringIO(p.read_text(encoding="utf-8")).readline):
            prefix = re.match(r"[A-Za-z]*", tok.string).group().lower()
            if tok.type == tokenize.STRING and "f" in prefix and re.search(r"\b(_|N_|gettext)\(\s*['\"]", tok.string):
                inside.append(f"{p.relative_to(SRC)}:{tok.start[0]}")
    assert not inside


# ---------------------------------------------------------------------------------------------------
# Every HTML document escapes untrusted values

HOSTILE = "<script>alert(1)</script>{{7*7}}"


class _Reader(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.text: list[str] = []
        self.attrs: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [v or "" for _, v in attrs]

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):  # the signals head names its party in a comment
        self.text.append(html.unescape(data))


def _report() -> dict:
    return {
        "licensee": HOSTILE,
        "purpose": "train-genai",
        "research": False,
        "mode": "reservation",
        "mode_note": HOSTILE,
        "engine": "local",
        "job_id": HOSTILE,
        "items": 3,
        "passed": 1,
        "excluded": 2,
        "licence_quote": {"works": 1, "totals": {"KRW": {"display": HOSTILE}}},
        "by_decision": {"allow": 1, "deny": 2},
        "by_reason": {HOSTILE: 2},
        "by_modality": {"text": 3},
        "domains": {HOSTILE: 3},
        "holders": {HOSTILE: 1},
        "errors": {},
        "snapshots": [{"snapshot_id": "ab" * 32, "registry": HOSTILE, "key_id": HOSTILE}],
        "input": HOSTILE,
        "format": "jsonl",
        "shards": 1,
    }


def _statement() -> dict:
    line = {"work": HOSTILE, "licence": "1", "licensee": HOSTILE, "currency": "KRW", "gross": 100, "fee": 10, "net": 90}
    total = {
        "currency": "KRW",
        "gross": 100,
        "fee": 10,
        "net": 90,
        "brought_forward": 0,
        "paid": 90,
        "carried_forward": 0,
    }
    return {
        "run": 1,
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
        "holder": "holder:1",
        "name": HOSTILE,
        "lines": [line],
        "totals": [total],
    }


def _summary(lang: str) -> dict:
    sections = {
        n: {
            "section": n,
            "title": HOSTILE,
            "note": HOSTILE,
            "provider_name": HOSTILE,
            "by_organisation": [{"organisation": HOSTILE, "matched": 1}],
        }
        for n in SECTIONS
    }
    return {
        "format": "fairtrain-training-summary/1",
        "template": HOSTILE,
        "generated_at": HOSTILE,
        "lang": lang,
        "sections": sections,
    }


def _policy() -> R.SignalPolicy:
    party = R.Party(HOSTILE + '"', R.PartyKind.HOLDER, "a@creator.example", None)
    offer = Offer(PriceModel.PER_WORK, Money.parse("1000", "KRW"), purposes=frozenset({Purpose.COMMERCIAL}))
    return R.SignalPolicy.from_values(
        party,
        "https://creator.example",
        {"tdm": "deny", "train-ai": "licence"},
        policy_url="https://creator.example/p?a=1&b=2",
        offers={"train-ai": offer},
        licence_urls=["https://creator.example/l"],
        issued=datetime(2026, 1, 1, tzinfo=UTC),
    )


DOCUMENTS = {
    "report.html": lambda: render_html(_report()),
    "statement.html (en)": lambda: statement_html(_statement(), "en"),
    "statement.html (ko)": lambda: statement_html(_statement(), "ko"),
    "summary.html (en)": lambda: render_summary(_summary("en"), "html", HOSTILE),
    "summary.html (ko)": lambda: render_summary(_summary("ko"), "html", HOSTILE),
    "signals-head.html": lambda: R.render_html_head(_policy()),
    "chart.svg": lambda: str(bar_chart(HOSTILE, [Bar(HOSTILE, 3, text=HOSTILE, title=HOSTILE, group=HOSTILE)])),
    "certificate.html (ko)": lambda: _certificate("ko"),
    "certificate.html (en)": lambda: _certificate("en"),
}


def _certificate(lang: str) -> str:
    from fairtrain.services.registry.certificate import render_html

    work = {
        "title": HOSTILE,
        "title_latin": HOSTILE,
        "media_type": "text",
        "content_hash": "ab" * 16,
        "iscc": HOSTILE,
        "registered_at": "2026-12-06T10:00:00+00:00",
        "withdrawn_at": None,
    }
    declaration = {
        "category": "train-genai",
        "value": "licence",
        "declared_at": "2026-12-06T10:00:00+00:00",
        "digest": "cd" * 32,
        "log_index": 3,
        "leaf_hash": "ef" * 32,
        "verified": True,
        "proof": {"leaf": HOSTILE},
    }
    return render_html(
        {
            "work": work,
            "holders": [{"name": HOSTILE, "role": "author", "share": "1"}],
            "declarations": [declaration],
            "tree_head": {"size": 4, "root": "00" * 32, "timestamp": "2026-12-06T10:00:00+00:00"},
            "page_url": "https://registry.example/works/1",
            "issued_at": "2026-12-06T10:00:00+00:00",
        },
        lang,
    )


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_html_document_shows_untrusted_values_as_text(name):
    out = DOCUMENTS[name]()
    page = _Reader()
    page.feed(out)
    assert "script" not in page.tags
    shown = "".join(page.text) + "".join(page.attrs)
    assert HOSTILE in shown or HOSTILE[:30] in shown  # read back as text (a label may be cut to 40 characters)
    assert "&lt;script&gt;" in out and "{{7*7}}" in out  # escaped, and never evaluated as a template
    if name.startswith("chart") or "report" in name:
        for svg in re.findall(r"<svg.*?</svg>", out, flags=re.DOTALL):
            ET.fromstring(svg)


def test_every_template_is_one_of_the_documents_checked():
    checked = {n.split(" ")[0] for n in DOCUMENTS}
    assert {p.name for p in (SRC / "core" / "templates").iterdir()} == checked


# ---------------------------------------------------------------------------------------------------
# The chart


def test_bar_chart_is_well_formed_svg_with_one_bar_per_value_scaled_within_its_group():
    bars = [
        Bar("2026-06-30", 50_000, group="KRW"),
        Bar("2026-12-31", 25_000, group="KRW"),
        Bar("2026-12-31", 7, text="0.07 USD", group="USD"),
        Bar("refund", -3, group="USD"),
        Bar("x" * 60, 0, group="USD"),
    ]
    svg = ET.fromstring(str(bar_chart("Net income", bars)))
    assert svg.tag == "svg" and svg.get("role") == "img" and svg.get("aria-label") == "Net income"
    rects = svg.findall("rect")
    assert len(rects) == len(bars)
    assert [int(r.get("width")) for r in rects] == [BAR_MAX, BAR_MAX // 2, BAR_MAX, 1, 1]
    texts = [t.text for t in svg.findall("text")]
    assert [t for t in texts if t in ("KRW", "USD")] == ["KRW", "USD"]  # one heading per group
    assert "50,000" in texts and "0.07 USD" in texts and "x" * LABEL_CHARS in texts and "x" * 41 not in texts
    ys = [int(r.get("y")) for r in rects]
    assert ys == sorted(ys) and int(svg.get("height")) > max(ys) + 16


def test_a_chart_without_groups_has_no_heading_and_no_namespace_url():
    out = str(bar_chart("Decisions", [Bar("allow", 1, colour="#2e7d32"), Bar("deny", 2, colour="#c62828")]))
    svg = ET.fromstring(out)
    assert [r.get("fill") for r in svg.findall("rect")] == ["#2e7d32", "#c62828"]
    assert len(svg.findall("text")) == 4 and "http" not in out
