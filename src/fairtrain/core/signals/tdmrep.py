"""W3C TDMRep (CG Final Report 2024-05-10): ``/.well-known/tdmrep.json``, headers, HTML, EPUB and XMP.

Layering (spec §"processing"): the origin file is read first; response headers supersede it; HTML meta
and embedded EPUB/PDF metadata supersede both. The *more embedded* value wins even when it is more
permissive, and a layer that lacks a property never resets it. Values other than ``0``/``1`` are
protocol errors and count as unset. A reservation with a ``tdm-policy`` reads as *licence* (the rights
are reserved but offered on the policy's terms); without one, as *deny*; ``0`` as *allow*.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from fairtrain.core.signals.evidence import Retrieval, SignalError, header_values, parser_id, statement
from fairtrain.core.signals.markup import Scan, scan
from fairtrain.core.signals.robots import path_of, pattern_matches
from fairtrain.core.vocab import Category, Terms, Value

PARSER = parser_id("tdmrep")
MAX_FILE_BYTES = 1024 * 1024
NAMESPACES = ("http://www.w3.org/ns/tdmrep#", "http://www.w3.org/ns/tdmrep/")  # EPUB 3 and PDF spellings
# Layer order, least to most embedded: later layers supersede earlier ones.
LAYERS = ("tdmrep.json", "http-header", "html-meta", "epub-opf", "xmp")
_UNRESERVED_ESCAPE = re.compile(r"%(2[dDeE]|3[0-9]|[46][1-9a-fA-F]|[57][0-9aA]|5[fF]|7[eE])")


@dataclass(frozen=True, slots=True)
class TdmRule:
    location: str
    reservation: int
    policy: str | None
    index: int


@dataclass(frozen=True, slots=True)
class TdmSignal:
    """What one layer says. ``None`` for a property the layer does not set (or sets wrongly)."""

    layer: str
    reservation: int | None = None
    policy: str | None = None
    rule: TdmRule | None = None  # the tdmrep.json rule that matched
    errors: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class TdmRepFile:
    rules: tuple[TdmRule, ...]
    errors: tuple[str, ...] = ()  # rules skipped as protocol errors, with the reason

    @classmethod
    def parse(cls, body: bytes | str, *, item: str = "tdmrep.json") -> TdmRepFile:
        """Parse the origin file. A body that is not a JSON array raises :class:`SignalError`."""
        if isinstance(body, bytes):
            if len(body) > MAX_FILE_BYTES:
                raise SignalError(item, f"larger than {MAX_FILE_BYTES} bytes")
            body = body.decode("utf-8-sig", "replace")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError) as e:
            raise SignalError(item, f"not valid JSON ({e})") from None
        if not isinstance(data, list):
            raise SignalError(item, "not a JSON array of rules")
        rules, errors = [], []
        for i, obj in enumerate(data):
            if not isinstance(obj, dict):
                errors.append(f"rule {i}: not an object")
                continue
            loc, res, pol = obj.get("location"), obj.get("tdm-reservation"), obj.get("tdm-policy")
            if not isinstance(loc, str) or not loc:
                errors.append(f"rule {i}: missing location")
                continue
            if isinstance(res, bool) or res not in (0, 1):
                errors.append(f"rule {i}: tdm-reservation must be 0 or 1, got {res!r}")
                continue
            rules.append(TdmRule(loc, int(res), pol if isinstance(pol, str) and pol else None, i))
        return cls(tuple(rules), tuple(errors))

    def match(self, url: str) -> TdmRule | None:
        """The first rule whose location matches (TDMRep: first in sequence, not longest)."""
        path = _decode_unreserved(path_of(url))
        for rule in self.rules:
            loc = rule.location
            if "://" in loc:
                loc = path_of(loc)
            if pattern_matches(_decode_unreserved(loc), path):
                return rule
        return None

    def signal(self, url: str) -> TdmSignal:
        rule = self.match(url)
        if rule is None:
            return TdmSignal("tdmrep.json", errors=self.errors)
        return TdmSignal("tdmrep.json", rule.reservation, rule.policy, rule, self.errors)


def from_headers(headers: object) -> TdmSignal:
    """``tdm-reservation`` / ``tdm-policy`` response headers."""
    return _signal("http-header", header_values(headers, "tdm-reservation"), header_values(headers, "tdm-policy"))


def from_html(html: bytes | str | Scan) -> TdmSignal:
    """``<meta name="tdm-reservation" content="1">`` and ``<meta name="tdm-policy" …>``."""
    s = html if isinstance(html, Scan) else scan(html, text_tags=frozenset())
    res, pol = [], []
    for el in s.find("meta"):
        name = el.attrs.get("name", "").strip().lower()
        if name == "tdm-reservation":
            res.append(el.attrs.get("content", ""))
        elif name == "tdm-policy":
            pol.append(el.attrs.get("content", ""))
    return _signal("html-meta", res, pol)


def from_opf(opf: bytes | str | Scan) -> TdmSignal:
    """EPUB 2 ``<meta name="tdm:reservation" content>`` and EPUB 3 ``<meta property="tdm:reservation">``."""
    s = opf if isinstance(opf, Scan) else scan(opf, text_tags=frozenset({"meta"}))
    prefixes = _opf_prefixes(s)
    res, pol = [], []
    for el in s.find("meta"):
        name = el.attrs.get("name") or el.attrs.get("property") or ""
        prefix, _, local = name.strip().lower().partition(":")
        if prefix not in prefixes:
            continue
        value = el.attrs["content"] if "content" in el.attrs else el.text
        if local == "reservation":
            res.append(value)
        elif local == "policy":
            pol.append(value)
    return _signal("epub-opf", res, pol)


def from_xmp(xmp: bytes | str | Scan) -> TdmSignal:
    """``tdm:reservation`` / ``tdm:policy`` in an XMP packet (either namespace spelling, element or attribute)."""
    s = xmp if isinstance(xmp, Scan) else scan(xmp)
    prefixes = s.prefixes_for(*NAMESPACES, default="tdm")
    res, pol = [], []
    for el in s.elements:
        prefix, _, local = el.tag.partition(":")
        if prefix in prefixes:
            if local == "reservation":
                res.append(el.text)
            elif local == "policy":
                pol.append(el.text or el.attrs.get("rdf:resource", ""))
        for k, v in el.attrs.items():
            p, _, loc = k.partition(":")
            if p in prefixes and loc == "reservation":
                res.append(v)
            elif p in prefixes and loc == "policy":
                pol.append(v)
    return _signal("xmp", res, pol)


def resolve(signals: Iterable[TdmSignal | None]) -> TdmSignal | None:
    """Combine layers per TDMRep: a more embedded layer supersedes; absence never resets a property."""
    ordered = sorted((s for s in signals if s is not None), key=lambda s: LAYERS.index(s.layer))
    reservation: int | None = None
    policy: str | None = None
    layer = None
    rule = None
    for s in ordered:
        if s.reservation is not None:
            reservation, layer = s.reservation, s.layer
            rule = s.rule
        if s.policy is not None:
            policy = s.policy
    if reservation is None and policy is None:
        return None
    return TdmSignal(layer or "tdm-policy-only", reservation, policy, rule)


def terms_from_tdmrep(signal: TdmSignal | None, *, retrieval: Retrieval | None = None) -> Terms:
    """One ``tdm`` statement: deny (reserved), licence (reserved, with a policy) or allow (``0``)."""
    if signal is None or signal.reservation is None:
        return Terms()
    if signal.reservation == 1:
        value = Value.LICENCE if signal.policy else Value.DENY
    else:
        value = Value.ALLOW
    detail: dict[str, object] = {"layer": signal.layer, "tdm-reservation": signal.reservation}
    if signal.reservation == 1 and signal.policy:
        detail["tdm-policy"] = signal.policy
    if signal.rule is not None:
        detail["location"] = signal.rule.location
        detail["rule_index"] = signal.rule.index
    return Terms(
        (
            statement(
                Category.TDM, value, source=f"tdmrep:{signal.layer}", retrieval=retrieval, parser=PARSER, detail=detail
            ),
        )
    )


# -- internals -----------------------------------------------------------------------------------


def _signal(layer: str, reservations: list[str], policies: list[str]) -> TdmSignal:
    errors: list[str] = []
    reservation: int | None = None
    for raw in reservations:
        v = raw.strip()
        if v in ("0", "1"):
            reservation = int(v)
        else:
            errors.append(f"{layer}: tdm-reservation {raw!r} is not 0 or 1")
    policy = next((p.strip() for p in reversed(policies) if p.strip()), None)
    return TdmSignal(layer, reservation, policy, None, tuple(errors))


def _opf_prefixes(s: Scan) -> set[str]:
    prefixes = s.prefixes_for(*NAMESPACES, default="tdm")
    for el in s.find("package"):  # EPUB 3: prefix="tdm: http://www.w3.org/ns/tdmrep#"
        parts = el.attrs.get("prefix", "").split()
        for name, uri in zip(parts[::2], parts[1::2]):
            if uri in NAMESPACES and name.endswith(":"):
                prefixes.add(name[:-1].lower())
    return prefixes


def _decode_unreserved(path: str) -> str:
    """TDMRep: %-escaped unreserved characters are decoded before comparing (other escapes stay)."""
    return _UNRESERVED_ESCAPE.sub(lambda m: bytes.fromhex(m.group(1)).decode("ascii"), path)
