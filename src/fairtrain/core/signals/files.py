"""Signals embedded in downloaded bytes: XMP (IPTC ``plus:DataMining``, TDMRep ``tdm:*``) and C2PA/CAWG.

XMP packets are found by scanning the raw bytes for ``<x:xmpmeta>``/``<rdf:RDF>`` (JPEG APP1, PNG iTXt,
TIFF, WebP, PDF metadata streams and MP4/MP3 carriers all hold the packet uncompressed), then read with
the tolerant scanner of :mod:`.markup`. C2PA manifests are read with ``c2pa-python``; both the C2PA 1.x
``c2pa.training-mining`` and the CAWG ``cawg.training-mining`` labels are honoured, ``constrained`` is
``notAllowed`` unless more is known, and the manifest's validation state is kept as evidence (an invalid
or untrusted manifest is still reported, marked as such).
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from fairtrain.core.signals import crosswalk
from fairtrain.core.signals.evidence import Retrieval, SignalError, parser_id, statement
from fairtrain.core.signals.markup import scan
from fairtrain.core.signals.tdmrep import TdmSignal, terms_from_tdmrep
from fairtrain.core.signals.tdmrep import from_xmp as tdm_from_xmp
from fairtrain.core.vocab import Category, Terms, Value

PARSER = parser_id("files")
PLUS_NS = "http://ns.useplus.org/ldf/xmp/1.0/"
MAX_XMP_PACKETS = 8
MAX_XMP_BYTES = 2 * 1024 * 1024
TRAINING_MINING_LABELS = ("c2pa.training-mining", "cawg.training-mining")
_XMP_START = re.compile(rb"<x:xmpmeta\b|<rdf:RDF\b")
_XMP_END = {b"<x:xmpmeta": b"</x:xmpmeta>", b"<rdf:RDF": b"</rdf:RDF>"}

# IPTC's 2023 public-draft values and ExifTool's human labels, mapped to the final vocabulary.
_DMI_ALIASES = {
    "DMI-ALLOWED-NOAITRAINING": "DMI-PROHIBITED-AIMLTRAINING",
    "DMI-ALLOWED-NOGENAITRAINING": "DMI-PROHIBITED-GENAIMLTRAINING",
    "DMI-ALLOWED-SEARCHENGINEINDEXINGONLY": "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "DMI-SEE-CONSTRAINT": "DMI-PROHIBITED-SEECONSTRAINT",
    "UNSPECIFIED - NO PROHIBITION DEFINED": "DMI-UNSPECIFIED",
    "ALLOWED": "DMI-ALLOWED",
    "PROHIBITED FOR AI/ML TRAINING": "DMI-PROHIBITED-AIMLTRAINING",
    "PROHIBITED FOR GENERATIVE AI/ML TRAINING": "DMI-PROHIBITED-GENAIMLTRAINING",
    "PROHIBITED EXCEPT FOR SEARCH ENGINE INDEXING": "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING",
    "PROHIBITED": "DMI-PROHIBITED",
    "PROHIBITED, SEE PLUS:OTHERCONSTRAINTS": "DMI-PROHIBITED-SEECONSTRAINT",
}
# prohibited, with the details in another field we do not evaluate: read as prohibited for all mining
_DMI_SEE = (
    "DMI-PROHIBITED-SEECONSTRAINT",
    "DMI-PROHIBITED-SEEEMBEDDEDRIGHTSEXPR",
    "DMI-PROHIBITED-SEELINKEDRIGHTSEXPR",
)


@dataclass(frozen=True, slots=True)
class C2paTrainingMining:
    manifest: str
    label: str
    entries: Mapping[str, str]  # entry key (e.g. "cawg.ai_training") -> use
    validation_state: str | None


@dataclass(frozen=True, slots=True)
class FileSignals:
    data_mining: tuple[str, ...] = ()  # plus:DataMining values, normalised to DMI-* codes
    other_constraints: tuple[str, ...] = ()
    tdm: TdmSignal | None = None
    c2pa: tuple[C2paTrainingMining, ...] = ()
    errors: tuple[str, ...] = field(default=())


def xmp_packets(data: bytes) -> list[bytes]:
    """The XMP packets in a file's bytes (at most ``MAX_XMP_PACKETS``)."""
    out: list[bytes] = []
    pos = 0
    while len(out) < MAX_XMP_PACKETS:
        m = _XMP_START.search(data, pos)
        if m is None:
            break
        end_tag = _XMP_END[m.group(0)]
        end = data.find(end_tag, m.start(), m.start() + MAX_XMP_BYTES)
        if end < 0:
            pos = m.end()
            continue
        out.append(data[m.start() : end + len(end_tag)])
        pos = end + len(end_tag)
    return out


def read_xmp(xmp: bytes | str) -> tuple[tuple[str, ...], tuple[str, ...], TdmSignal]:
    """``(plus:DataMining codes, plus:OtherConstraints texts, TDMRep signal)`` from one XMP packet."""
    s = scan(xmp)
    prefixes = s.prefixes_for(PLUS_NS, default="plus")
    codes: list[str] = []
    constraints: list[str] = []
    for i, el in enumerate(s.elements):
        prefix, _, local = el.tag.partition(":")
        if prefix in prefixes and local == "datamining":
            v = el.text or el.attrs.get("rdf:resource", "")
            if v:
                codes.append(v)
        elif prefix in prefixes and local == "otherconstraints":
            # a lang-alt: the text sits in the first rdf:li below it
            text = el.text or next((e.text for e in s.elements[i + 1 : i + 4] if e.tag == "rdf:li" and e.text), "")
            if text:
                constraints.append(text)
        for k, v in el.attrs.items():
            p, _, loc = k.partition(":")
            if p in prefixes and loc == "datamining" and v:
                codes.append(v)
    return tuple(_dmi_code(c) for c in codes), tuple(constraints), tdm_from_xmp(s)


def read_c2pa(data: bytes, *, media_type: str | None = None, item: str = "file") -> tuple[C2paTrainingMining, ...]:
    """Training-and-mining assertions of every manifest in the file (none: an empty tuple).

    Raises :class:`SignalError` when the bytes carry a manifest that cannot be read.
    """
    import c2pa

    try:
        reader = c2pa.Reader(media_type or None, io.BytesIO(data))
    except c2pa.C2paError as e:
        kind = type(e).__name__
        if "ManifestNotFound" in kind or "NotSupported" in kind:
            return ()  # no manifest, or a format C2PA does not cover: nothing to read
        raise SignalError(item, f"C2PA manifest not readable ({kind.strip('_')}: {str(e)[:200]})") from None
    try:
        store = json.loads(reader.json())
    finally:
        reader.close()
    return training_mining_from_store(store)


def training_mining_from_store(store: Mapping) -> tuple[C2paTrainingMining, ...]:
    """Training-mining assertions from a c2pa-python manifest-store JSON (``Reader.json()``)."""
    state = store.get("validation_state")
    out = []
    for label_id, manifest in (store.get("manifests") or {}).items():
        for a in manifest.get("assertions") or ():
            label = str(a.get("label", ""))
            base = re.sub(r"\.v\d+$", "", label)  # versioned labels, e.g. cawg.training-mining.v2
            if base not in TRAINING_MINING_LABELS:
                continue
            entries = (a.get("data") or {}).get("entries") or {}
            uses = {str(k): str((v or {}).get("use", "")) for k, v in entries.items() if isinstance(v, Mapping)}
            out.append(C2paTrainingMining(label_id, base, uses, state))
    return tuple(out)


def read_file(data: bytes, *, media_type: str | None = None, item: str = "file", with_c2pa: bool = True) -> FileSignals:
    """Every embedded signal in a file's bytes. Unreadable parts are recorded in ``errors``."""
    codes: list[str] = []
    constraints: list[str] = []
    tdm: TdmSignal | None = None
    errors: list[str] = []
    for packet in xmp_packets(data):
        c, oc, t = read_xmp(packet)
        codes.extend(c)
        constraints.extend(oc)
        if t.reservation is not None or t.policy is not None:
            tdm = t
        errors.extend(t.errors)
    assertions: tuple[C2paTrainingMining, ...] = ()
    if with_c2pa:
        try:
            assertions = read_c2pa(data, media_type=media_type, item=item)
        except SignalError as e:
            errors.append(e.reason)
    return FileSignals(tuple(dict.fromkeys(codes)), tuple(constraints), tdm, assertions, tuple(errors))


def terms_from_file(signals: FileSignals, *, retrieval: Retrieval | None = None) -> Terms:
    out = []
    for code in signals.data_mining:
        detail = {"plus:DataMining": code}
        if signals.other_constraints:
            detail["plus:OtherConstraints"] = signals.other_constraints[0]
        if code == "DMI-ALLOWED":
            out.append(
                statement(
                    Category.TDM, Value.ALLOW, source="xmp:plus", retrieval=retrieval, parser=PARSER, detail=detail
                )
            )
            continue
        cats = (Category.TDM,) if code in _DMI_SEE else crosswalk.IPTC_DMI.get(code, ())
        for cat in cats:
            out.append(statement(cat, Value.DENY, source="xmp:plus", retrieval=retrieval, parser=PARSER, detail=detail))
        if code == "DMI-PROHIBITED-EXCEPTSEARCHENGINEINDEXING":
            out.append(
                statement(
                    Category.SEARCH, Value.ALLOW, source="xmp:plus", retrieval=retrieval, parser=PARSER, detail=detail
                )
            )
    for a in signals.c2pa:
        prefix = a.label.split(".", 1)[0] + "."
        for key, use in a.entries.items():
            cat = crosswalk.CAWG.get(key[len(prefix) :] if key.startswith(prefix) else key)
            if cat is None:
                continue
            value = Value.ALLOW if use == "allowed" else Value.DENY  # constrained => notAllowed
            out.append(
                statement(
                    cat,
                    value,
                    source=a.label,
                    retrieval=retrieval,
                    parser=PARSER,
                    detail={
                        "entry": key,
                        "use": use,
                        "manifest": a.manifest,
                        "validation_state": a.validation_state,
                        "verified": a.validation_state in ("Valid", "Trusted"),
                    },
                )
            )
    terms = Terms(tuple(out))
    if signals.tdm is not None:
        terms += terms_from_tdmrep(signals.tdm, retrieval=retrieval)
    return terms


def _dmi_code(value: str) -> str:
    v = value.strip()
    if v.startswith(crosswalk.IPTC_DMI_PREFIX):
        v = v[len(crosswalk.IPTC_DMI_PREFIX) :]
    key = v.upper()
    return _DMI_ALIASES.get(key, key)
