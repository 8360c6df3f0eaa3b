"""Signals in HTTP response headers.

- ``X-Robots-Tag`` and its un-prefixed successor ``robots-tag`` (draft-illyes-repext): repeated fields,
  ``;``-separated groups, each either global (``noai, noimageai``) or scoped to one product token
  (``GPTBot: noai`` or ``GPTBot=noai``); directives are case-insensitive. A scope applies to every
  directive after it in its group, unlike datadiligence, which scopes only the first.
- ``Content-Usage`` (AIPREF, RFC 9651 Dictionary, ``y``/``n``) and ``Content-Signal`` (``yes``/``no``).
- ``tdm-reservation`` / ``tdm-policy`` (TDMRep, see :mod:`.tdmrep`).
- ``Link: <…>; rel="license"`` (RSL discovery; ``type="application/rsl+xml"`` preferred).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urljoin

from fairtrain.core.signals import crosswalk
from fairtrain.core.signals.evidence import (
    Retrieval,
    header_values,
    parser_id,
    statement,
    yes_no_statements,
)
from fairtrain.core.signals.prefs import parse_aipref, parse_content_signal
from fairtrain.core.signals.robots import product_token
from fairtrain.core.signals.tdmrep import TdmSignal
from fairtrain.core.signals.tdmrep import from_headers as tdm_from_headers
from fairtrain.core.vocab import Category, Terms, Value

PARSER = parser_id("headers")
RSL_TYPE = "application/rsl+xml"
MAX_HEADER_CHARS = 64 * 1024  # repext asks for at least 8 KiB per field; more is ignored
_SCOPE = re.compile(r"^\s*([A-Za-z_-]+|\*)\s*[:=]\s*(.*)$", re.S)
# directives that carry their own ":" value and must not be taken for a product-token scope
_VALUED = frozenset({"unavailable_after", "max-snippet", "max-image-preview", "max-video-preview"})

# What each robots directive says in our vocabulary. noai/noimageai: DeviantArt's convention (no AI
# datasets, training or input); noarchive/nocache: Bing's reading for chat answers and model training.
DIRECTIVES: Mapping[str, tuple[Category, ...]] = {
    "noai": (Category.TRAIN_AI, Category.AI_INPUT),
    "noimageai": (Category.TRAIN_AI, Category.AI_INPUT),  # images only
    "noml": (Category.TRAIN_AI,),
    "noarchive": (Category.TRAIN_AI, Category.AI_INPUT),
    "nocache": (Category.AI_INPUT,),
    "noindex": (Category.SEARCH,),
    "none": (Category.SEARCH,),
}
# Readings that go beyond what the directive names (noai names training; input is DeviantArt's gloss;
# noarchive and nocache name caching): marked ``inferred``, so an explicit signal of the same origin for
# that category prevails (fairtrain.core.signals.combine).
INFERRED: frozenset[tuple[str, Category]] = frozenset(
    {
        ("noai", Category.AI_INPUT),
        ("noimageai", Category.AI_INPUT),
        ("noarchive", Category.TRAIN_AI),
        ("noarchive", Category.AI_INPUT),
        ("nocache", Category.AI_INPUT),
    }
)


@dataclass(frozen=True, slots=True)
class RobotsDirectives:
    """``{scope: directives}``; scope ``*`` is global, others are lower-cased product tokens."""

    scopes: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def for_agent(self, user_agent: str) -> frozenset[str]:
        return self.scopes.get("*", frozenset()) | self.scopes.get(user_agent.lower(), frozenset())

    def __bool__(self) -> bool:
        return any(self.scopes.values())


def parse_robots_directives(values: list[str], *, scope: str = "*") -> RobotsDirectives:
    """Parse X-Robots-Tag / robots-tag values (or meta robots contents, with ``scope`` preset)."""
    out: dict[str, set[str]] = {}
    for value in values:
        for group in value[:MAX_HEADER_CHARS].split(";"):
            current = scope
            m = _SCOPE.match(group)
            if m and m.group(1).lower() not in _VALUED:
                current, group = m.group(1).lower(), m.group(2)
            for d in group.split(","):
                d = d.strip().lower()
                if d:
                    out.setdefault(current, set()).add(d.split(":", 1)[0].strip())
    return RobotsDirectives({k: frozenset(v) for k, v in out.items()})


def parse_links(values: list[str], *, base_url: str | None = None) -> list[tuple[str, dict[str, str]]]:
    """RFC 8288 ``Link`` values as ``(absolute URL, {param: value})``."""
    out = []
    for value in values:
        for m in re.finditer(
            r"<([^>]*)>((?:\s*;\s*[^;,=\s]+(?:\s*=\s*(?:\"[^\"]*\"|[^;,\s]*))?)*)", value[:MAX_HEADER_CHARS]
        ):
            params = {}
            for p in re.finditer(r";\s*([^;,=\s]+)(?:\s*=\s*(\"[^\"]*\"|[^;,\s]*))?", m.group(2)):
                params[p.group(1).lower()] = (p.group(2) or "").strip('"')
            url = m.group(1).strip()
            out.append((urljoin(base_url, url) if base_url else url, params))
    return out


def license_links(links: list[tuple[str, dict[str, str]]]) -> tuple[str, ...]:
    """RSL documents among ``rel=license`` links (a licence link of another type is not RSL)."""
    return tuple(
        url
        for url, p in links
        if "license" in p.get("rel", "").lower().split() and p.get("type", RSL_TYPE).lower() == RSL_TYPE
    )


@dataclass(frozen=True, slots=True)
class HeaderSignals:
    robots: RobotsDirectives
    content_usage: Mapping[str, bool]
    content_signal: Mapping[str, bool]
    tdm: TdmSignal
    licenses: tuple[str, ...]
    media_type: str | None


def read_headers(headers: object, *, base_url: str | None = None) -> HeaderSignals:
    robots = parse_robots_directives(header_values(headers, "x-robots-tag") + header_values(headers, "robots-tag"))
    usage = ", ".join(header_values(headers, "content-usage"))  # repeated fields combine (RFC 9110 §5.3)
    signal = ", ".join(header_values(headers, "content-signal"))
    links = parse_links(header_values(headers, "link"), base_url=base_url)
    ctype = next(iter(header_values(headers, "content-type")), None)
    return HeaderSignals(
        robots=robots,
        content_usage=parse_aipref(usage) if usage else {},
        content_signal=parse_content_signal(signal) if signal else {},
        tdm=tdm_from_headers(headers),
        licenses=license_links(links),
        media_type=ctype.split(";")[0].strip().lower() if ctype else None,
    )


def terms_from_directives(
    directives: RobotsDirectives,
    *,
    user_agent: str,
    media_type: str | None,
    source: str,
    retrieval: Retrieval | None,
    parser: str = PARSER,
) -> Terms:
    out = []
    for d in sorted(directives.for_agent(user_agent)):
        cats = DIRECTIVES.get(d)
        if not cats:
            continue
        if d == "noimageai" and media_type is not None and not media_type.startswith("image/"):
            continue  # says nothing about non-image resources
        for cat in cats:
            detail: dict[str, object] = {"directive": d}
            if (d, cat) in INFERRED:
                detail["inferred"] = f"{d} read as {cat.value}"
            out.append(statement(cat, Value.DENY, source=source, retrieval=retrieval, parser=parser, detail=detail))
    return Terms(tuple(out))


def terms_from_headers(signals: HeaderSignals, *, user_agent: str, retrieval: Retrieval | None = None) -> Terms:
    """Statements from robots-tag directives, Content-Usage and Content-Signal headers.

    TDMRep header values are *not* included: they are one layer of :func:`.tdmrep.resolve`.
    """
    token = product_token(user_agent) or user_agent
    terms = terms_from_directives(
        signals.robots, user_agent=token, media_type=signals.media_type, source="http:x-robots-tag", retrieval=retrieval
    )
    terms += yes_no_statements(
        signals.content_usage, crosswalk.AIPREF, source="http:content-usage", retrieval=retrieval, parser=PARSER
    )
    terms += yes_no_statements(
        signals.content_signal,
        crosswalk.CONTENT_SIGNAL,
        source="http:content-signal",
        retrieval=retrieval,
        parser=PARSER,
    )
    return terms
