"""Render every machine-readable signal from one declaration (optout-standards.md §14.1).

A :class:`SignalPolicy` holds one value per usage category (and an offer where the value is
``licence``); :func:`render_kit` turns it into robots.txt, TDMRep, HTTP header snippets, HTML, an RSL
licence, ai.txt and a Korean/English statement. Standards whose tokens are coarser than our
categories (AIPREF ``train-ai``, Content-Signal ``ai-train``, RSL ``ai-train``, TDMRep's single bit)
are given the most restrictive value among the categories the token covers, so no rendered file ever
permits what the declaration reserves. ``licence`` counts as a reservation in every yes/no format:
what is licensable, and at what price, is said by the RSL document, the TDM policy and the statement.

TDMRep's one bit (and its ``tdm-policy``) carries the most restrictive value of the whole tree: ``0``
when everything is allowed, ``1`` with a policy when the strictest value is ``licence``, ``1`` without a
policy when something is denied. The TDM policy is rendered only where TDMRep points to it, so no kit
offers a licence for mining where something is not licensable. The RSL document carries ``all`` where
``tdm`` itself is licensed, and the machine-readable files stay fetchable for every crawler, so a reader
shut out of the pages still finds the terms. ``fairtrain.core.signals.combine`` reads all this back.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import types
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from babel.numbers import format_currency

from fairtrain.core.documents import render_document
from fairtrain.core.errors import InvalidInput
from fairtrain.core.i18n import LANGUAGES, N_, babel_locale, translator
from fairtrain.core.signals import crosswalk
from fairtrain.core.signals.bots import AiBot, load_bots
from fairtrain.core.vocab import Category, Decision, Offer, PriceModel, Purpose, Value, most_restrictive

ROBOTS_TXT = "robots.txt"
TDMREP_JSON = ".well-known/tdmrep.json"
TDM_POLICY_JSON = "tdm-policy.json"
RSL_XML = "license.xml"
AI_TXT = "ai.txt"
NGINX_CONF = "headers/nginx.conf"
APACHE_CONF = "headers/apache.conf"
CADDYFILE = "headers/Caddyfile"
HTML_HEAD = "html/head.html"
STATEMENT_EN = "reservation.en.md"
STATEMENT_KO = "reservation.ko.md"

RSL_NS = "https://rslstandard.org/rsl"
RSL_MEDIA_TYPE = "application/rsl+xml"
_TRAINING = (Category.TRAIN_AI, Category.TRAIN_GENAI)
_SCOPE = re.compile(r"(/[A-Za-z0-9._~%-]+)+")


class SignalRenderError(InvalidInput):
    """A declaration that cannot be rendered: names the item and the reason."""


class PartyKind(str, Enum):
    HOLDER = "holder"  # an individual creator or rights holder
    ORGANISATION = "organisation"  # a CMO or publisher declaring for a repertoire


@dataclass(frozen=True, slots=True)
class Party:
    """The declaring party, named in every signal that has room for a licensor."""

    name: str
    kind: PartyKind
    email: str
    website: str | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise SignalRenderError("party: the declaring party needs a name")
        local, at, domain = self.email.partition("@")
        if not (local and at and "." in domain) or any(c in self.email for c in " <>\"'\r\n"):
            raise SignalRenderError(f"party {self.name!r}: {self.email!r} is not a contact email address")
        if self.website is not None:
            _check_url(self.website, f"party {self.name!r} website")


@dataclass(frozen=True, slots=True)
class SignalPolicy:
    """One declaration, complete: a value for every category, an offer wherever the value is licence.

    Build it with :meth:`from_values` or :meth:`from_decisions`, which fill unspecified categories
    from their parent (an unspecified ``tdm`` is ``deny``: permission first).
    """

    party: Party
    base_url: str  # the site the signals are published on, e.g. "https://creator.example"
    values: Mapping[Category, Value]
    offers: Mapping[Category, Offer]
    policy_url: str  # the human-readable reservation statement
    licence_urls: tuple[str, ...] = ()  # licence terms / licensing process, for licence values
    issued: date | None = None
    # A path under the origin the declaration covers, where the kit's files live too ("/blog", or a
    # registry's reservation page "/r/h/7"); empty: the whole site, files at its root.
    scope: str = ""
    _digest: str = field(default="", init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        base = _check_url(self.base_url, "site base URL").rstrip("/")
        object.__setattr__(self, "base_url", base)
        if urlsplit(base).path not in ("", "/"):
            raise SignalRenderError(
                f"site base URL {self.base_url!r}: must be an origin, without a path "
                "(give the path as the policy's scope)"
            )
        scope = self.scope.rstrip("/")
        if scope and not _SCOPE.fullmatch(scope):
            raise SignalRenderError(f"scope {self.scope!r}: a path of letters, digits and -._~ segments, like /blog")
        object.__setattr__(self, "scope", scope)
        _check_url(self.policy_url, "policy URL")
        for u in self.licence_urls:
            _check_url(u, "licence URL")
        missing = [c.value for c in Category if c not in self.values]
        if missing:
            raise SignalRenderError(f"policy: no value for {', '.join(missing)}; use SignalPolicy.from_values")
        for c, v in self.values.items():
            if v is Value.UNKNOWN:
                raise SignalRenderError(f"policy {c.value}: 'unknown' is a verdict, not something to declare")
            if v is Value.LICENCE and c not in self.offers:
                raise SignalRenderError(f"policy {c.value}: a licence value needs an offer")
        if any(v is Value.LICENCE for v in self.values.values()) and not self.licence_urls:
            raise SignalRenderError("policy: a licence value needs at least one licence URL to point licensees at")
        object.__setattr__(self, "values", types.MappingProxyType(dict(self.values)))
        object.__setattr__(
            self,
            "offers",
            types.MappingProxyType({c: o for c, o in self.offers.items() if self.values[c] is Value.LICENCE}),
        )
        object.__setattr__(self, "licence_urls", tuple(self.licence_urls))
        object.__setattr__(self, "_digest", hashlib.sha256(self.canonical_json().encode()).hexdigest())

    @classmethod
    def from_values(
        cls,
        party: Party,
        base_url: str,
        values: Mapping[Category | str, Value | str],
        *,
        policy_url: str,
        offers: Mapping[Category | str, Offer] | None = None,
        licence_urls: Iterable[str] = (),
        issued: date | None = None,
        scope: str = "",
    ) -> SignalPolicy:
        """Per-category values (and offers) as stored in a declaration; children inherit from parents."""
        given: dict[Category, Value] = {}
        for k, v in values.items():
            try:
                cat = k if isinstance(k, Category) else Category.parse(k)
                val = v if isinstance(v, Value) else Value.parse(v)
            except ValueError as e:
                raise SignalRenderError(f"policy {k}: {e}") from None
            given[cat] = val
        given_offers: dict[Category, Offer] = {}
        for k, o in (offers or {}).items():
            try:
                given_offers[k if isinstance(k, Category) else Category.parse(k)] = o
            except ValueError as e:
                raise SignalRenderError(f"policy offer {k}: {e}") from None
        full: dict[Category, Value] = {}
        full_offers: dict[Category, Offer] = {}
        for cat in sorted(Category, key=lambda c: c.depth):
            parent = cat.parent
            if cat in given:
                full[cat] = given[cat]
                if cat in given_offers:
                    full_offers[cat] = given_offers[cat]
                elif given[cat] is Value.LICENCE and parent is not None and full[parent] is Value.LICENCE:
                    full_offers[cat] = full_offers[parent]
            elif parent is None:
                full[cat] = Value.DENY
            else:
                full[cat] = full[parent]
                if parent in full_offers:
                    full_offers[cat] = full_offers[parent]
        for cat in given_offers:
            if full[cat] is not Value.LICENCE:
                raise SignalRenderError(f"policy {cat.value}: an offer is given but the value is {full[cat].value}")
        return cls(party, base_url, full, full_offers, policy_url, tuple(licence_urls), issued, scope)

    @classmethod
    def from_decisions(
        cls,
        party: Party,
        base_url: str,
        decisions: Iterable[Decision],
        *,
        policy_url: str,
        licence_urls: Iterable[str] = (),
        issued: date | None = None,
        scope: str = "",
    ) -> SignalPolicy:
        """From the decision engine's per-category decisions (the effective terms of a work or catalogue).

        ``unknown`` decisions are left out and inherit from their parent; a licence decision takes its
        first offer.
        """
        values: dict[Category, Value] = {}
        offers: dict[Category, Offer] = {}
        for d in decisions:
            if d.value is Value.UNKNOWN:
                continue
            values[d.category] = d.value
            if d.value is Value.LICENCE:
                if not d.offers:
                    raise SignalRenderError(f"decision {d.category.value}: licence without an offer")
                offers[d.category] = d.offers[0]
        return cls.from_values(
            party,
            base_url,
            values,
            policy_url=policy_url,
            offers=offers,
            licence_urls=licence_urls,
            issued=issued,
            scope=scope,
        )

    def value(self, category: Category) -> Value:
        return self.values[category]

    def offer(self, category: Category) -> Offer | None:
        return self.offers.get(category)

    def reserved(self, category: Category) -> bool:
        """Not free to use: denied, or only under licence."""
        return self.values[category] is not Value.ALLOW

    def covered_value(self, categories: Iterable[Category]) -> Value:
        """The value a token covering all of ``categories`` must carry: the most restrictive."""
        v = most_restrictive(self.values[c] for c in categories)
        if v is None:
            raise SignalRenderError("policy: a token must cover at least one category")
        return v

    def web_values(self) -> dict[Category, Value]:
        """What a reader of the rendered kit decides per category (``combine.decide_signals``).

        Coarser than the declaration only where the formats are: no web format writes ``train-genai``
        apart from ``train-ai``, so both read as the stricter of the two; TDMRep's one bit cannot say
        "mining allowed" while a part is reserved, so an allowed ``tdm`` reads as the strictest value
        under it. Never less restrictive than the declaration.
        """
        out = dict(self.values)
        out[Category.TRAIN_AI] = out[Category.TRAIN_GENAI] = self.covered_value(_TRAINING)
        if self.values[Category.TDM] is Value.ALLOW:
            out[Category.TDM] = self.covered_value(Category)
        return {c: out[c] for c in Category}

    def url(self, kit_path: str) -> str:
        return f"{self.base_url}{self.scope}/{kit_path}"

    @property
    def content_url(self) -> str:
        """What the declaration covers: the site, or the path of its scope (and everything under it)."""
        return f"{self.base_url}{self.scope}" if self.scope else f"{self.base_url}/"

    @property
    def rsl_url(self) -> str:
        return self.url(RSL_XML)

    @property
    def tdm_policy_url(self) -> str:
        return self.url(TDM_POLICY_JSON)

    @property
    def tdm_reserved(self) -> bool:
        """TDMRep has one bit for all mining: reserved if anything under ``tdm`` is."""
        return any(self.reserved(c) for c in Category)

    @property
    def tdm_licensed(self) -> bool:
        """Whether TDMRep points to a TDM policy: the strictest value anywhere is ``licence``."""
        return self.covered_value(Category) is Value.LICENCE

    @property
    def digest(self) -> str:
        """sha256 of the canonical declaration, written into every rendered file that has comments."""
        return self._digest

    def canonical_json(self) -> str:
        return json.dumps(
            {
                "party": {
                    "name": self.party.name,
                    "kind": self.party.kind.value,
                    "email": self.party.email,
                    "website": self.party.website,
                },
                "base_url": self.base_url,
                "values": {c.value: self.values[c].value for c in Category},
                "offers": {c.value: o.to_dict() for c, o in sorted(self.offers.items(), key=lambda x: x[0].value)},
                "policy_url": self.policy_url,
                "licence_urls": list(self.licence_urls),
                "issued": self.issued.isoformat() if self.issued else None,
            }
            | ({"scope": self.scope} if self.scope else {}),
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )


def _check_url(url: str, what: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.netloc or any(c in url for c in " <>\"'\r\n\t`\\"):
        raise SignalRenderError(f"{what} {url!r}: not an absolute http(s) URL")
    return url


# ---------------------------------------------------------------------------------------------------
# Token values shared by several formats


def _token_categories(write_table: Mapping[Category, str], token: str) -> tuple[Category, ...]:
    """Every category a written token speaks for: those mapped to it and everything below them."""
    roots = [c for c, t in write_table.items() if t == token]
    return tuple(c for c in Category if any(r.covers(c) for r in roots))


def aipref_preferences(policy: SignalPolicy) -> dict[str, bool]:
    """AIPREF ``Content-Usage`` labels → allowed (``y``) or not (``n``)."""
    tokens = dict.fromkeys(crosswalk.AIPREF_WRITE.values())
    return {t: policy.covered_value(_token_categories(crosswalk.AIPREF_WRITE, t)) is Value.ALLOW for t in tokens}


def content_signals(policy: SignalPolicy) -> dict[str, bool]:
    """Cloudflare ``Content-Signal`` keys → ``yes``/``no``."""
    order = ("search", "ai-input", "ai-train")  # the order contentsignals.org writes them in
    return {t: policy.covered_value(_token_categories(crosswalk.CONTENT_SIGNAL_WRITE, t)) is Value.ALLOW for t in order}


def content_usage_value(policy: SignalPolicy) -> str:
    return ", ".join(f"{k}={'y' if v else 'n'}" for k, v in aipref_preferences(policy).items())


def content_signal_value(policy: SignalPolicy) -> str:
    return ", ".join(f"{k}={'yes' if v else 'no'}" for k, v in content_signals(policy).items())


def robots_tag_directives(policy: SignalPolicy) -> tuple[str, ...]:
    """``X-Robots-Tag`` / ``<meta name=robots>`` directives: noai, noimageai where training is reserved."""
    out: list[str] = []
    if policy.covered_value(_TRAINING) is not Value.ALLOW:
        out += ["noai", "noimageai"]
    if policy.reserved(Category.SEARCH):
        out.append("noindex")
    return tuple(out)


def _rsl_tokens() -> tuple[str, ...]:
    return tuple(t for t in dict.fromkeys(crosswalk.RSL_WRITE.values()) if t != "all")


def rsl_usage_values(policy: SignalPolicy) -> dict[str, Value]:
    """RSL usage tokens (``ai-train``, ``ai-input``, ``search``) → the value each must carry."""
    return {t: policy.covered_value(_token_categories(crosswalk.RSL_WRITE, t)) for t in _rsl_tokens()}


# ---------------------------------------------------------------------------------------------------
# robots.txt


def _bot_groups(policy: SignalPolicy, bots: Iterable[AiBot]) -> list[tuple[frozenset[Category], Value, list[str]]]:
    groups: dict[frozenset[Category], list[str]] = {}
    seen: set[str] = set()
    for b in bots:
        if b.token.lower() in seen:  # the list holds some tokens twice in different case
            continue
        seen.add(b.token.lower())
        groups.setdefault(b.categories, []).append(b.token)
    out = [(cats, policy.covered_value(cats), tokens) for cats, tokens in groups.items()]
    # Blocked groups first, then by the categories they serve, so the file reads in a stable order.
    out.sort(key=lambda g: (g[1] is Value.ALLOW, sorted(c.value for c in g[0])))
    return out


def render_robots_txt(policy: SignalPolicy, bots: Iterable[AiBot]) -> str:
    cu = content_usage_value(policy)
    cs = content_signal_value(policy)
    lines = [
        f"# Rendered by fairtrain from one declaration by {_one_line(policy.party.name)} ({policy.party.kind.value}).",
        f"# Statement: {policy.policy_url}",
        f"# Declaration digest: sha256:{policy.digest}",
        "#",
        "# As a condition of accessing this website, you agree to abide by the following content signals:",
        "# (a) If a content-signal = yes, you may collect content for the corresponding use.",
        "# (b) If a content-signal = no, you may not collect content for the corresponding use.",
        "# (c) If the website operator does not include a content signal for a corresponding use, the",
        "#     website operator neither grants nor restricts permission via content signal with respect",
        "#     to the corresponding use.",
        "# The content signals and their meanings are:",
        "# search: building a search index and providing search results (links and short excerpts).",
        "# ai-input: inputting content into one or more AI models (RAG, grounding, generative answers).",
        "# ai-train: training or fine-tuning AI models.",
        "# ANY RESTRICTIONS EXPRESSED VIA CONTENT SIGNALS ARE EXPRESS RESERVATIONS OF RIGHTS UNDER ARTICLE 4",
        "# OF THE EUROPEAN UNION DIRECTIVE 2019/790 ON COPYRIGHT AND RELATED RIGHTS IN THE DIGITAL SINGLE MARKET.",
        "",
        f"License: {policy.rsl_url}",
        "",
    ]
    for cats, verdict, tokens in _bot_groups(policy, bots):
        names = ", ".join(sorted(c.value for c in cats))
        lines.append(f"# AI crawlers serving {names}: {verdict.value} ({len(tokens)} user agents)")
        lines += [f"User-agent: {t}" for t in tokens]
        lines += ["Allow: /"] if verdict is Value.ALLOW else _disallow_all_but_terms(policy)
        lines += [f"Content-Usage: {cu}", f"Content-Signal: {cs}", ""]
    star = policy.value(Category.SEARCH)
    lines.append(f"# Every other crawler (search engines): search is {star.value}")
    lines.append("User-agent: *")
    lines += ["Allow: /"] if star is Value.ALLOW else _disallow_all_but_terms(policy)
    lines += [f"Content-Usage: {cu}", f"Content-Signal: {cs}", ""]
    return "\n".join(lines)


def _disallow_all_but_terms(policy: SignalPolicy) -> list[str]:
    # A crawler that may not fetch the pages may still read the terms (RFC 9309 longest match: the
    # longer Allow wins), so it can find the licence instead of only the refusal.
    terms = [TDMREP_JSON, RSL_XML] + ([TDM_POLICY_JSON] if policy.tdm_licensed else [])
    return [f"Disallow: {policy.scope}/"] + [f"Allow: {policy.scope}/{path}" for path in terms]


def _one_line(text: str) -> str:
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------
# TDMRep


def render_tdmrep_json(policy: SignalPolicy) -> str:
    rule: dict[str, object] = {"location": policy.scope or "/", "tdm-reservation": 1 if policy.tdm_reserved else 0}
    if policy.tdm_licensed:
        rule["tdm-policy"] = policy.tdm_policy_url
    return json.dumps([rule], indent=2) + "\n"


def render_tdm_policy(policy: SignalPolicy) -> str:
    """The TDM Policy (ODRL 2.2, TDMRep profile): who to ask, and whether mining is paid for."""
    party = policy.party
    assigner: dict[str, object] = {
        "uid": party.website or policy.base_url,
        "vcard:fn": party.name,
        "vcard:hasEmail": f"mailto:{party.email}",
        "vcard:hasURL": party.website or policy.policy_url,
    }
    # TDMRep asks for permissions only: mining is permitted once consent is obtained (every
    # reservation), and paid for where something is offered under licence.
    duty: list[dict[str, str]] = [{"action": "obtainConsent"}]
    licensed = [c for c in Category if policy.value(c) is Value.LICENCE]
    if licensed:
        duty.append({"action": "compensate"})
    permission: dict[str, object] = {"target": policy.content_url, "action": "tdm:mine", "duty": duty}
    purposes = {p for c in licensed for p in policy.offers[c].purposes}
    if purposes == {Purpose.RESEARCH}:
        permission["constraint"] = [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "tdm:research"}]
    elif purposes == {Purpose.COMMERCIAL}:
        permission["constraint"] = [{"leftOperand": "purpose", "operator": "eq", "rightOperand": "tdm:non-research"}]
    doc = {
        "@context": ["http://www.w3.org/ns/odrl.jsonld", "http://www.w3.org/ns/tdmrep.jsonld"],
        "@type": "Offer",
        "profile": "http://www.w3.org/ns/tdmrep",
        "uid": f"{policy.tdm_policy_url}#sha256-{policy.digest[:16]}",
        "assigner": assigner,
        "permission": [permission],
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------------------
# HTTP headers and HTML


def response_headers(policy: SignalPolicy) -> list[tuple[str, str]]:
    """The headers every response of the site should carry, in the order the snippets write them."""
    h: list[tuple[str, str]] = [("tdm-reservation", "1" if policy.tdm_reserved else "0")]
    if policy.tdm_licensed:
        h.append(("tdm-policy", policy.tdm_policy_url))
    h.append(("Content-Usage", content_usage_value(policy)))
    directives = robots_tag_directives(policy)
    if directives:
        h.append(("X-Robots-Tag", ", ".join(directives)))
    h.append(("Link", f'<{policy.rsl_url}>; rel="license"; type="{RSL_MEDIA_TYPE}"'))
    return h


def _config_comment(policy: SignalPolicy) -> str:
    """The first line of a server configuration snippet: whose signals, and which declaration (its digest)."""
    return f"# fairtrain signals for {_one_line(policy.party.name)} (sha256:{policy.digest[:16]})."


def render_nginx(policy: SignalPolicy) -> str:
    lines = [
        _config_comment(policy),
        "# Include inside a server { } block. add_header is not inherited by a location that has its own",
        "# add_header lines: include this file there too.",
    ]
    for name, value in response_headers(policy):
        lines.append(f"add_header {name} '{value}' always;")
    return "\n".join(lines) + "\n"


def render_apache(policy: SignalPolicy) -> str:
    lines = [
        _config_comment(policy),
        "# Needs mod_headers (a2enmod headers). Valid in server config, <VirtualHost>, <Directory>, .htaccess.",
    ]
    for name, value in response_headers(policy):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'Header always set {name} "{escaped}"')
    return "\n".join(lines) + "\n"


def render_caddy(policy: SignalPolicy) -> str:
    lines = [
        _config_comment(policy),
        "# Paste inside a site block.",
        "header {",
    ]
    for name, value in response_headers(policy):
        lines.append(f"\t{name} `{value}`")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_html_head(policy: SignalPolicy) -> str:
    """The ``<meta>`` and ``<link>`` elements a site puts in its pages' ``<head>`` (``signals-head.html``)."""
    return render_document(
        "signals-head.html",
        policy=policy,
        name=_one_line(policy.party.name),
        digest=policy.digest[:16],
        directives=robots_tag_directives(policy),
        rsl_media_type=RSL_MEDIA_TYPE,
    )


# ---------------------------------------------------------------------------------------------------
# RSL 1.0


def _rsl_payment_type(offer: Offer, token: str) -> str:
    if offer.price_model is PriceModel.FLAT_FEE:
        return "purchase"
    return {"ai-train": "training", "ai-input": "use", "search": "crawl", "all": "purchase"}[token]


def _rsl_offer(policy: SignalPolicy, token: str) -> Offer:
    # A token covering several licensed categories uses the most specific one's offer
    # (for ai-train: train-genai's, the use AI crawlers actually train for).
    cats = sorted(_token_categories(crosswalk.RSL_WRITE, token), key=lambda c: -c.depth)
    return next(policy.offers[c] for c in cats if c in policy.offers)


def render_rsl(policy: SignalPolicy) -> str:
    """An RSL 1.0 document: one free licence for what is allowed, one paid licence per offer.

    A free licence that permits nothing is written only when nothing is for sale either: beside paid
    licences it would read as "all usage prohibited" and deny ``tdm`` as a whole where it is licensable.
    """
    ET.register_namespace("", RSL_NS)
    q = lambda tag: f"{{{RSL_NS}}}{tag}"  # noqa: E731
    root = ET.Element(q("rsl"), {"max-age": "1"})
    content = ET.SubElement(root, q("content"), {"url": policy.content_url})
    usage = rsl_usage_values(policy)
    allowed = [t for t, v in usage.items() if v is Value.ALLOW]
    reserved = [t for t, v in usage.items() if v is not Value.ALLOW]

    by_offer: dict[Offer, list[str]] = {}
    for t, v in usage.items():
        if v is Value.LICENCE:
            by_offer.setdefault(_rsl_offer(policy, t), []).append(t)
    # Where mining as a whole is licensed, its offer's licence permits ``all`` (less what is denied or
    # sold under another offer), so the document speaks for ``tdm`` itself and not only for its parts.
    whole = policy.offer(Category.TDM)
    if whole is not None:
        by_offer.setdefault(whole, [])

    if not policy.tdm_reserved:
        free = ET.SubElement(content, q("license"))
        ET.SubElement(free, q("permits"), {"type": "usage"}).text = "all"
    elif allowed:
        free = ET.SubElement(content, q("license"))
        ET.SubElement(free, q("permits"), {"type": "usage"}).text = " ".join(allowed)
        ET.SubElement(free, q("prohibits"), {"type": "usage"}).text = " ".join(reserved)
    elif not by_offer:
        free = ET.SubElement(content, q("license"))
        ET.SubElement(free, q("prohibits"), {"type": "usage"}).text = "all"
    for offer, tokens in by_offer.items():
        lic = ET.SubElement(content, q("license"))
        permitted = ["all"] if offer == whole else tokens
        ET.SubElement(lic, q("permits"), {"type": "usage"}).text = " ".join(permitted)
        others = [t for t in reserved if t not in tokens]
        if others:
            ET.SubElement(lic, q("prohibits"), {"type": "usage"}).text = " ".join(others)
        pay = ET.SubElement(lic, q("payment"), {"type": _rsl_payment_type(offer, permitted[0])})
        ET.SubElement(pay, q("custom")).text = policy.licence_urls[0]
        ET.SubElement(pay, q("amount"), {"currency": offer.price.currency}).text = offer.price.major_str()

    ET.SubElement(
        content,
        q("copyright"),
        {
            "type": "person" if policy.party.kind is PartyKind.HOLDER else "organization",
            "contactEmail": policy.party.email,
            "contactUrl": policy.party.website or policy.policy_url,
        },
    ).text = policy.party.name
    ET.SubElement(content, q("terms")).text = policy.policy_url
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    comment = f"<!-- Rendered by fairtrain; declaration sha256:{policy.digest} -->"
    return f'<?xml version="1.0" encoding="UTF-8"?>\n{comment}\n{body}\n'


# ---------------------------------------------------------------------------------------------------
# ai.txt (Spawning, legacy)


def render_ai_txt(policy: SignalPolicy) -> str:
    """Spawning's ai.txt: one verdict for use of the site's media in AI training datasets."""
    blocked = policy.covered_value(_TRAINING) is not Value.ALLOW
    return "\n".join(
        [
            "# ai.txt (Spawning format, legacy): may files from this site be used to train AI models?",
            f"# Rendered by fairtrain for {_one_line(policy.party.name)}; declaration sha256:{policy.digest}",
            f"# Terms and licences: {policy.policy_url}",
            "",
            "User-Agent: *",
            "Disallow: /" if blocked else "Allow: /",
            "",
        ]
    )


# ---------------------------------------------------------------------------------------------------
# Human-readable statement (Korean and English)

# English words; every language's from the catalogue (fairtrain.core.i18n).
_CATEGORY_WORDS = {
    Category.TDM: N_("Any automated text and data mining"),
    Category.TRAIN_AI: N_("Training AI models"),
    Category.TRAIN_GENAI: N_("Training generative AI models"),
    Category.AI_INPUT: N_("Use as input to AI (inference, RAG, grounding)"),
    Category.SEARCH: N_("Search engine indexing (links and short excerpts)"),
}
_VALUE_WORDS = {
    Value.ALLOW: N_("Allowed"),
    Value.DENY: N_("Not allowed (rights reserved)"),
    Value.LICENCE: N_("Only under a paid licence"),
}
_PRICE_WORDS = {
    PriceModel.PER_WORK: N_("per work"),
    PriceModel.FLAT_FEE: N_("flat fee"),
    PriceModel.REVENUE_SHARE: N_("revenue share"),
}
_PURPOSE_WORDS = {Purpose.COMMERCIAL: N_("commercial"), Purpose.RESEARCH: N_("research")}


def describe_value(category: Category, value: Value, lang: str) -> str:
    """A category and its value in plain words, in ``en`` or ``ko``."""
    _ = translator(lang)
    return f"{_(_CATEGORY_WORDS[category])}: {_(_VALUE_WORDS[value])}"


def describe_offer(offer: Offer, lang: str) -> str:
    """An offer's price, model, purposes and validity in plain words, in ``en`` or ``ko``."""
    _ = translator(lang)
    amount = format_currency(Decimal(offer.price.major_str()), offer.price.currency, locale=babel_locale(lang))
    model = _(_PRICE_WORDS[offer.price_model])
    if offer.price_model is PriceModel.REVENUE_SHARE:
        minimum = _("minimum")
        text = f"{model} {offer.revenue_share_bp / 100:g}% ({minimum} {amount})"
    else:
        text = f"{amount} ({model})"
    purposes = ", ".join(_(_PURPOSE_WORDS[p]) for p in sorted(offer.purposes, key=lambda p: p.value))
    for_ = _("for")  # before the purposes an offer is for: "for commercial, research"
    text += f"; {for_} {purposes}"
    if offer.valid_from or offer.valid_until:
        start = offer.valid_from.date().isoformat() if offer.valid_from else ""
        end = offer.valid_until.date().isoformat() if offer.valid_until else ""
        valid = _("valid")
        text += f"; {valid} {start}–{end}"
    return text


def statement_rows(policy: SignalPolicy, lang: str) -> list[dict[str, str]]:
    """One row per category in plain words: the use, its value (code and words) and the licence terms."""
    _ = translator(lang)
    rows = []
    for c in Category:
        v = policy.value(c)
        offer = policy.offer(c)
        rows.append(
            {
                "category": c.value,
                "use": _(_CATEGORY_WORDS[c]),
                "value": v.value,
                "status": _(_VALUE_WORDS[v]),
                "terms": describe_offer(offer, lang) if offer else "",
            }
        )
    return rows


def render_statement(policy: SignalPolicy, lang: str) -> str:
    """The reservation in plain words, in ``en`` or ``ko`` (Markdown). Messages are looked up outside the
    f-strings, where ``pybabel extract`` (and the catalogue test) can see them."""
    if lang not in LANGUAGES:
        raise SignalRenderError(f"statement language {lang!r}: expected one of {', '.join(LANGUAGES)}")
    _ = translator(lang)
    p = policy.party
    kind = _("rights holder") if p.kind is PartyKind.HOLDER else _("organisation acting for its members' repertoire")
    title, by, site, contact = (
        _("Reservation of rights for text and data mining and AI"),
        _("Declared by"),
        _("This declaration applies to the works published at"),
        _("Contact"),
    )
    out = [
        f"# {title}",
        "",
        f"- {by}: **{_md(p.name)}** ({kind})",
        f"- {site}: <{(policy.party.website or policy.content_url) if policy.scope else policy.content_url}>",
        f"- {contact}: <{p.email}>" + (f", <{p.website}>" if p.website else ""),
    ]
    if policy.issued:
        issued = _("Issued")
        out.append(f"- {issued}: {policy.issued.isoformat()}")
    intro = _(
        "Under Article 4(3) of Directive (EU) 2019/790 and applicable copyright law, including the "
        "Copyright Act of the Republic of Korea, the rights holder expressly reserves the uses marked "
        "below. Absence of permission is not permission: a use not allowed here needs the prior "
        "permission of the rights holder."
    )
    head = " | ".join((_("Use"), _("Status"), _("Licence terms")))
    out += ["", intro, "", f"| {head} |", "|---|---|---|"]
    for r in statement_rows(policy, lang):
        out.append(f"| {r['use']} (`{r['category']}`) | {r['status']} | {r['terms']} |")
    out.append("")
    if policy.licence_urls:
        out.append(_("Licence documents") + ": " + ", ".join(f"<{u}>" for u in policy.licence_urls))
        out.append("")
    out.append(_("Machine-readable forms of this declaration") + ":")
    # robots.txt and ai.txt are read at a site's root only: a scoped declaration's lie elsewhere, if anywhere.
    root_only = () if policy.scope else (ROBOTS_TXT,)
    for path in (
        root_only
        + (TDMREP_JSON,)
        + ((TDM_POLICY_JSON,) if policy.tdm_licensed else ())
        + (RSL_XML,)
        + (() if policy.scope else (AI_TXT,))
    ):
        out.append(f"- <{policy.url(path)}>")
    out += ["", _("Declaration digest") + f": `sha256:{policy.digest}`", ""]
    return "\n".join(out)


def _md(text: str) -> str:
    return "".join("\\" + ch if ch in "\\`*_[]<>|#" else ch for ch in _one_line(text))


# ---------------------------------------------------------------------------------------------------
# The kit


def render_kit(policy: SignalPolicy, bots: Iterable[AiBot] | None = None) -> dict[str, bytes]:
    """Every signal for ``policy``, keyed by path relative to the kit root (robots.txt at the site root)."""
    bot_list = tuple(bots) if bots is not None else load_bots()
    texts = {
        ROBOTS_TXT: render_robots_txt(policy, bot_list),
        TDMREP_JSON: render_tdmrep_json(policy),
        RSL_XML: render_rsl(policy),
        AI_TXT: render_ai_txt(policy),
        NGINX_CONF: render_nginx(policy),
        APACHE_CONF: render_apache(policy),
        CADDYFILE: render_caddy(policy),
        HTML_HEAD: render_html_head(policy),
        STATEMENT_EN: render_statement(policy, "en"),
        STATEMENT_KO: render_statement(policy, "ko"),
    }
    if policy.tdm_licensed:  # only where TDMRep points to it
        texts[TDM_POLICY_JSON] = render_tdm_policy(policy)
    return {path: text.encode("utf-8") for path, text in texts.items()}


# Every path a kit may hold: one a new kit lacks is removed, so an old TDM policy cannot linger.
_KIT_PATHS = (
    ROBOTS_TXT,
    TDMREP_JSON,
    TDM_POLICY_JSON,
    RSL_XML,
    AI_TXT,
    NGINX_CONF,
    APACHE_CONF,
    CADDYFILE,
    HTML_HEAD,
    STATEMENT_EN,
    STATEMENT_KO,
)


def write_kit(policy: SignalPolicy, out_dir: str | os.PathLike[str], bots: Iterable[AiBot] | None = None) -> list[Path]:
    """Render and write the kit under ``out_dir``; each file appears whole or not at all.

    Every file is first written to a temporary file beside its target and renamed into place only
    when all are written; a file an earlier kit had and this one lacks is then removed. If a rename
    or removal fails, the files already changed get their old bytes back, so a failure never leaves a
    kit mixing two declarations.
    """
    kit = render_kit(policy, bots)
    root = Path(out_dir)
    staged: list[tuple[Path, Path]] = []
    try:
        for rel, data in kit.items():
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            staged.append((_stage(target, data), target))
        stale = [root / rel for rel in _KIT_PATHS if rel not in kit and (root / rel).is_file()]
        previous = {t: (t.read_bytes() if t.is_file() else None) for t in [t for _, t in staged] + stale}
        replaced: list[Path] = []
        try:
            for tmp, target in staged:
                os.replace(tmp, target)
                replaced.append(target)
            for target in stale:
                target.unlink()
                replaced.append(target)
        except BaseException:
            for target in replaced:
                old = previous[target]
                if old is None:
                    target.unlink(missing_ok=True)
                else:
                    os.replace(_stage(target, old), target)
            raise
    finally:
        for tmp, _ in staged:
            tmp.unlink(missing_ok=True)
    return [target for _, target in staged]


def _stage(target: Path, data: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return Path(tmp)
