"""A reservation without a website: what a registry publishes for a creator who has only a blog.

A creator whose works live on Naver Blog, Tistory, Brunch, Instagram or YouTube controls neither the
site's robots.txt nor its headers. The registry therefore publishes her reservation on a page of its
own (a :class:`~fairtrain.core.signals.render.SignalPolicy` whose ``scope`` is that page's path), and
gives her what such platforms let her paste: a link, a badge, a QR code, one line of text and, where
the platform lets her edit the page head, the HTML head snippet. This module renders those pieces and
says what each platform allows (:func:`platform_for`); the policy's other forms come from ``render``.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from fairtrain.core.i18n import N_, translator
from fairtrain.core.signals.render import (
    RSL_XML,
    TDM_POLICY_JSON,
    TDMREP_JSON,
    SignalPolicy,
    SignalRenderError,
    robots_tag_directives,
    statement_rows,
)
from fairtrain.core.vocab import Category, Value

JSONLD = "terms.jsonld"
ODRL_JSON = "odrl.json"
QR_SVG = "qr.svg"
BADGE_SVG = "badge.svg"


# ---------------------------------------------------------------------------------------------------
# Platforms


@dataclass(frozen=True, slots=True)
class Platform:
    """What a creator can change where her works are published."""

    key: str  # "naver-blog", "tistory", …, "site" (a site of her own), "site-path" (a folder of one)
    name: str  # the platform's own name, in English (translated where shown)
    head: bool  # she can paste the HTML head snippet into every page
    robots: bool  # she controls the robots.txt of the origin (per-path rules where the site has a path)
    hosted: bool  # the machine-readable files cannot live there: they live on the registry's page


# Hosts of the platforms the guides name; a subdomain counts as its platform (poet.tistory.com).
_PLATFORMS = {
    "blog.naver.com": Platform("naver-blog", N_("Naver Blog"), False, False, True),
    "m.blog.naver.com": Platform("naver-blog", N_("Naver Blog"), False, False, True),
    "tistory.com": Platform("tistory", N_("Tistory"), True, False, True),
    "brunch.co.kr": Platform("brunch", N_("Brunch"), False, False, True),
    "instagram.com": Platform("instagram", N_("Instagram"), False, False, True),
    "youtube.com": Platform("youtube", N_("YouTube"), False, False, True),
    "youtu.be": Platform("youtube", N_("YouTube"), False, False, True),
}
SITE = Platform("site", N_("Your own website"), True, True, False)
SITE_PATH = Platform("site-path", N_("A folder of your own website"), True, True, False)
GUIDES = ("naver-blog", "tistory", "brunch", "instagram", "youtube", "book")  # one guide each, in the kit


def platform_for(url: str) -> Platform:
    """The platform of a site address, with or without a path; refuses what is not an http(s) URL."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c in url for c in " <>\"'\r\n\t`\\"):
        raise SignalRenderError(f"site {url!r}: not an http(s) address, like https://blog.naver.com/poetlee")
    host = parts.hostname.lower()
    if host.startswith("www."):
        host = host[4:]
    for h, platform in _PLATFORMS.items():
        if host == h or host.endswith("." + h):
            return platform
    return SITE_PATH if parts.path.strip("/") else SITE


def site_scope(url: str) -> tuple[str, str]:
    """(origin, path) of a site of her own: the path becomes the policy's scope."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}", parts.path.rstrip("/")


# ---------------------------------------------------------------------------------------------------
# The pieces to paste


def render_jsonld(policy: SignalPolicy, *, name: str, page_url: str, lang: str) -> str:
    """schema.org JSON-LD of the reservation: who holds the rights, where the licence and terms are, and
    each category's value as a ``PropertyValue`` (its code, so a machine reads it without the words)."""
    doc = {
        "@context": "https://schema.org",
        "@type": "WebPage",
        "@id": page_url,
        "url": page_url,
        "name": name,
        "inLanguage": lang,
        "copyrightHolder": {
            "@type": "Person" if policy.party.kind.value == "holder" else "Organization",
            "name": policy.party.name,
            "email": policy.party.email,
        },
        "license": policy.url(RSL_XML),
        "usageInfo": page_url,
        "isAccessibleForFree": True,
        "additionalProperty": [
            {
                "@type": "PropertyValue",
                "propertyID": "fairtrain:" + r["category"],
                "name": r["use"],
                "value": r["value"],
            }
            | ({"description": r["terms"]} if r["terms"] else {})
            for r in statement_rows(policy, lang)
        ],
        "sameAs": [policy.url(TDMREP_JSON), policy.url(ODRL_JSON)]
        + ([policy.url(TDM_POLICY_JSON)] if policy.tdm_licensed else []),
        "identifier": f"sha256:{policy.digest}",
    }
    return json.dumps(doc, ensure_ascii=False, indent=2)


def one_line(policy: SignalPolicy, page_url: str, lang: str) -> str:
    """The text to paste into a blog footer, a profile, a video description or a colophon."""
    _ = translator(lang)
    training = policy.covered_value((Category.TRAIN_AI, Category.TRAIN_GENAI))
    if training is Value.ALLOW:
        head = _("The author allows AI training on these works; other uses are reserved.")
    elif training is Value.LICENCE:
        head = _("AI training on these works only under a paid licence (rights reserved, TDM opt-out).")
    else:
        head = _("No AI training or text and data mining without permission (rights reserved, TDM opt-out).")
    return f"{head} {page_url}"


def render_qr_svg(url: str) -> str:
    """A QR code of ``url`` as SVG, drawn here (the ``qrcode`` package; no network)."""
    import qrcode
    import qrcode.image.svg

    img = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, border=2)
    buf = io.BytesIO()
    img.save(buf)
    return buf.getvalue().decode("utf-8")


def render_badge_svg(policy: SignalPolicy, lang: str) -> str:
    """A small badge saying what the reservation says about AI training, in ``lang``."""
    _ = translator(lang)
    training = policy.covered_value((Category.TRAIN_AI, Category.TRAIN_GENAI))
    label = _("AI training")
    value = {Value.ALLOW: _("allowed"), Value.LICENCE: _("licence only"), Value.DENY: _("not allowed")}[training]
    colour = {Value.ALLOW: "#2e7d32", Value.LICENCE: "#8a5a00", Value.DENY: "#b3261e"}[training]
    # Hangul is about twice as wide as Latin at the same size.
    width = lambda t: sum(14 if ord(ch) > 0x2E80 else 7 for ch in t) + 16  # noqa: E731
    lw, vw = width(label), width(value)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lw + vw}" height="24" role="img" '
        f'aria-label="{xml_escape(label)}: {xml_escape(value)}">'
        f"<title>{xml_escape(label)}: {xml_escape(value)} (TDM opt-out)</title>"
        f'<rect width="{lw}" height="24" fill="#444"/><rect x="{lw}" width="{vw}" height="24" fill="{colour}"/>'
        f'<g fill="#fff" font-family="sans-serif" font-size="12" text-anchor="middle">'
        f'<text x="{lw / 2:g}" y="16">{xml_escape(label)}</text>'
        f'<text x="{lw + vw / 2:g}" y="16">{xml_escape(value)}</text></g></svg>\n'
    )


def head_elements(policy: SignalPolicy, page_url: str) -> dict[str, object]:
    """What the reservation page's own ``<head>`` carries, for its template."""
    return {
        "tdm_reservation": 1 if policy.tdm_reserved else 0,
        "tdm_policy": policy.tdm_policy_url if policy.tdm_licensed else None,
        "robots": ", ".join(robots_tag_directives(policy)),
        "rsl": policy.url(RSL_XML),
        "tdmrep": policy.url(TDMREP_JSON),
        "odrl": policy.url(ODRL_JSON),
        "jsonld_url": policy.url(JSONLD),
        "canonical": page_url,
    }


def statement_html(markdown_text: str) -> str:
    """A statement (Markdown from :func:`render.render_statement`) as HTML; raw HTML in it is escaped."""
    from markdown_it import MarkdownIt

    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table").render(markdown_text)
