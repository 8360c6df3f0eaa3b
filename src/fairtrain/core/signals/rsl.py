"""RSL 1.0 licence documents (``application/rsl+xml``, namespace ``https://rslstandard.org/rsl``).

Evaluation, for the ``<content>`` whose ``url`` pattern matches most specifically (longest pattern,
RFC 9309 ``*``/``$`` semantics): each ``<license>`` is an alternative term set; inside one, a usage that
is both permitted and prohibited is prohibited, and a ``<permits type="usage">`` list is a whitelist.
Across alternatives the most favourable one counts (a user may pick any). A paid licence, or a
``server`` attribute (a licence token is required even when free), reads as *licence*; a free one as
*allow*; a prohibited or unlisted use as *deny*.

Parsed with defusedxml: DTDs, entity declarations and external references are refused, so
billion-laughs and external-entity documents raise :class:`SignalError` instead of expanding.
0.9-style comma-separated lists and the 0.9 payment type ``inference`` are read leniently and flagged.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import defusedxml.ElementTree as SafeET
from defusedxml import DefusedXmlException

from fairtrain.core.money import Money
from fairtrain.core.signals import crosswalk
from fairtrain.core.signals.evidence import Retrieval, SignalError, parser_id, statement
from fairtrain.core.signals.robots import path_of, pattern_matches
from fairtrain.core.vocab import Category, Terms, Value

PARSER = parser_id("rsl")
NS = "https://rslstandard.org/rsl"
MAX_BYTES = 1024 * 1024
DEFAULT_MAX_AGE_DAYS = 30
_FREE = frozenset({"free", "attribution", ""})


@dataclass(frozen=True, slots=True)
class RslLicense:
    permits: dict[str, frozenset[str]] = field(default_factory=dict)  # type -> tokens
    prohibits: dict[str, frozenset[str]] = field(default_factory=dict)
    payment_type: str | None = None  # None: no <payment>, i.e. free
    amount: Money | None = None
    standard: str | None = None  # URI of a shared (e.g. collective) licence
    custom: str | None = None  # URL of the owner's own licensing process

    @property
    def paid(self) -> bool:
        return self.payment_type is not None and self.payment_type not in _FREE

    def value_for(self, category: Category) -> Value | None:
        """This alternative's value for ``category``; None when it only speaks for narrower categories."""
        if _covers(self.prohibits.get("usage", frozenset()), category):
            return Value.DENY
        permits = self.permits.get("usage")
        if permits is None or _covers(permits, category):
            return Value.LICENCE if self.paid else Value.ALLOW
        if any(c in category_descendants(category) for t in permits for c in crosswalk.rsl_categories(t)):
            return None
        return Value.DENY


@dataclass(frozen=True, slots=True)
class RslContent:
    url: str
    server: str | None
    licenses: tuple[RslLicense, ...]


@dataclass(frozen=True, slots=True)
class RslDocument:
    contents: tuple[RslContent, ...]
    max_age_days: int = DEFAULT_MAX_AGE_DAYS
    warnings: tuple[str, ...] = ()

    @classmethod
    def parse(cls, xml: bytes | str, *, item: str = "rsl") -> RslDocument:
        raw = xml.encode("utf-8") if isinstance(xml, str) else xml
        if len(raw) > MAX_BYTES:
            raise SignalError(item, f"RSL document larger than {MAX_BYTES} bytes")
        try:
            root = SafeET.fromstring(raw, forbid_dtd=True, forbid_entities=True, forbid_external=True)
        except DefusedXmlException as e:
            raise SignalError(item, f"unsafe XML refused ({type(e).__name__})") from None
        except SafeET.ParseError as e:
            raise SignalError(item, f"not well-formed XML ({e})") from None
        warnings: list[str] = []
        if _local(root.tag) != "rsl":
            raise SignalError(item, f"root element is <{_local(root.tag)}>, not <rsl>")
        if not root.tag.startswith("{" + NS + "}"):
            warnings.append("root <rsl> is not in the RSL namespace")
        try:
            max_age = int(root.get("max-age", DEFAULT_MAX_AGE_DAYS))
        except ValueError:
            warnings.append(f"max-age {root.get('max-age')!r} is not an integer; default used")
            max_age = DEFAULT_MAX_AGE_DAYS
        contents = []
        for c in _children(root, "content"):
            licenses = tuple(_license(lic, warnings) for lic in _children(c, "license"))
            contents.append(RslContent(c.get("url", ""), c.get("server") or None, licenses))
        if not contents:
            raise SignalError(item, "no <content> element")
        return cls(tuple(contents), max(0, max_age), tuple(warnings))

    def content_for(self, url: str) -> RslContent | None:
        """The ``<content>`` whose url pattern matches ``url`` most specifically (empty url: any)."""
        best: tuple[int, RslContent] | None = None
        target = urlsplit(url)
        for c in self.contents:
            pattern = c.url
            if pattern:
                parts = urlsplit(pattern)
                if parts.scheme and parts.netloc:
                    if parts.netloc.lower() != target.netloc.lower():
                        continue
                    pattern = path_of(pattern)
                if not pattern_matches(pattern, path_of(url)):
                    continue
            score = len(pattern)
            if best is None or score > best[0]:
                best = (score, c)
        return best[1] if best else None

    def values(self, url: str) -> dict[Category, Value]:
        """Our categories' values for ``url``; categories a document does not speak for are left out."""
        content = self.content_for(url)
        if content is None:
            return {}
        out: dict[Category, Value] = {}
        for cat in Category:
            vals = [v for lic in content.licenses if (v := lic.value_for(cat)) is not None]
            if not content.licenses:
                vals = [Value.DENY]  # a content with no licence is not licensed for anything
            if not vals:
                continue
            best = min(vals, key=lambda v: v.restrictiveness)
            if best is Value.ALLOW and content.server:
                best = Value.LICENCE
            out[cat] = best
        return out


def category_descendants(category: Category) -> set[Category]:
    return {c for c in Category if category in c.lineage and c is not category}


def terms_from_rsl(doc: RslDocument, url: str, *, retrieval: Retrieval | None = None, channel: str = "rsl") -> Terms:
    content = doc.content_for(url)
    out = []
    for cat, value in doc.values(url).items():
        detail: dict[str, object] = {"content_url": content.url if content else None, "channel": channel}
        if content and content.server:
            detail["server"] = content.server
        offers = [
            {
                "payment": lic.payment_type,
                "amount": lic.amount.to_dict() if lic.amount else None,
                "standard": lic.standard,
                "custom": lic.custom,
            }
            for lic in (content.licenses if content else ())
            if lic.paid
        ]
        if value is Value.LICENCE and offers:
            detail["payments"] = offers
        if doc.warnings:
            detail["warnings"] = list(doc.warnings)
        out.append(statement(cat, value, source=f"rsl:{channel}", retrieval=retrieval, parser=PARSER, detail=detail))
    return Terms(tuple(out))


# -- internals -----------------------------------------------------------------------------------


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _children(el, name: str):
    return [c for c in el if isinstance(c.tag, str) and _local(c.tag) == name]


def _tokens(text: str | None, warnings: list[str]) -> frozenset[str]:
    text = (text or "").strip()
    if "," in text:
        warnings.append(f"comma-separated list {text!r} (RSL 0.9 style) read leniently")
    return frozenset(t for t in re.split(r"[\s,]+", text.lower()) if t)


def _license(el, warnings: list[str]) -> RslLicense:
    permits: dict[str, frozenset[str]] = {}
    prohibits: dict[str, frozenset[str]] = {}
    for p in _children(el, "permits"):
        permits[p.get("type", "usage")] = _tokens(p.text, warnings)
    for p in _children(el, "prohibits"):
        prohibits[p.get("type", "usage")] = _tokens(p.text, warnings)
    payment_type = amount = standard = custom = None
    pay = next(iter(_children(el, "payment")), None)
    if pay is not None:
        payment_type = (pay.get("type") or "purchase").strip().lower()
        if payment_type == "inference":
            warnings.append("payment type 'inference' (RSL 0.9) read as 'use'")
            payment_type = "use"
        a = next(iter(_children(pay, "amount")), None)
        if a is not None and a.text:
            try:
                amount = Money.parse(a.text, a.get("currency", ""))
            except (ValueError, TypeError) as e:
                warnings.append(f"amount not read: {e}")
        s = next(iter(_children(pay, "standard")), None)
        standard = s.text.strip() if s is not None and s.text else None
        c = next(iter(_children(pay, "custom")), None)
        custom = c.text.strip() if c is not None and c.text else None
    return RslLicense(permits, prohibits, payment_type, amount, standard, custom)


def _covers(tokens: frozenset[str], category: Category) -> bool:
    """Does any token speak for ``category`` itself (its own category or one of its ancestors)?"""
    lineage = category.lineage
    return any(c in lineage for t in tokens for c in crosswalk.rsl_categories(t))
