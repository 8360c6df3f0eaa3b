"""Signals in an HTML page: robots meta (global and bot-named), TDMRep meta, and RSL links/inline RSL."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from fairtrain.core.signals.evidence import Retrieval, parser_id
from fairtrain.core.signals.headers import (
    RSL_TYPE,
    RobotsDirectives,
    parse_robots_directives,
    terms_from_directives,
)
from fairtrain.core.signals.markup import scan
from fairtrain.core.signals.robots import product_token
from fairtrain.core.signals.tdmrep import TdmSignal
from fairtrain.core.signals.tdmrep import from_html as tdm_from_html
from fairtrain.core.vocab import Terms

PARSER = parser_id("html")
_NOT_BOTS = frozenset(
    {
        "description",
        "keywords",
        "viewport",
        "author",
        "generator",
        "referrer",
        "theme-color",
        "tdm-reservation",
        "tdm-policy",
        "format-detection",
        "color-scheme",
    }
)


@dataclass(frozen=True, slots=True)
class HtmlSignals:
    robots: RobotsDirectives
    tdm: TdmSignal
    licenses: tuple[str, ...]  # RSL documents from <link rel="license" type="application/rsl+xml">
    inline_rsl: tuple[str, ...]  # <script type="application/rsl+xml"> bodies


def read_html(html: bytes | str, *, base_url: str | None = None) -> HtmlSignals:
    s = scan(html, text_tags=frozenset({"script"}))
    values: dict[str, list[str]] = {}
    for el in s.find("meta"):
        name = el.attrs.get("name", "").strip().lower()
        if not name or name in _NOT_BOTS or "content" not in el.attrs:
            continue
        scope = "*" if name == "robots" else product_token(name).lower()
        if scope == "*" and name != "robots":
            continue
        values.setdefault(scope, []).append(el.attrs["content"])
    scopes: dict[str, frozenset[str]] = {}
    for scope, vals in values.items():
        parsed = parse_robots_directives(vals, scope=scope)
        for k, v in parsed.scopes.items():
            scopes[k] = scopes.get(k, frozenset()) | v
    licenses = []
    for el in s.find("link"):
        rels = el.attrs.get("rel", "").lower().split()
        if "license" in rels and el.attrs.get("type", "").lower() == RSL_TYPE and el.attrs.get("href"):
            href = el.attrs["href"].strip()
            licenses.append(urljoin(base_url, href) if base_url else href)
    inline = tuple(
        el.text for el in s.find("script") if el.attrs.get("type", "").strip().lower() == RSL_TYPE and el.text
    )
    return HtmlSignals(RobotsDirectives(scopes), tdm_from_html(s), tuple(licenses), inline)


def terms_from_html(signals: HtmlSignals, *, user_agent: str, retrieval: Retrieval | None = None) -> Terms:
    """Statements from robots meta. TDMRep meta is a layer of :func:`.tdmrep.resolve`; RSL needs :mod:`.rsl`."""
    token = product_token(user_agent) or user_agent
    return terms_from_directives(
        signals.robots,
        user_agent=token,
        media_type="text/html",
        source="html:meta-robots",
        retrieval=retrieval,
        parser=PARSER,
    )
