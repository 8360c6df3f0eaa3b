"""The words a person reads for each code the product stores: categories, decision values, work and
dispute statuses, account and holder roles, media types, log entry kinds, licence and invoice states.

Codes (``tdm``, ``train-ai``, ``active``, ``image``, ``declaration`` …) stay in the API, the CLI and the
developer pages; every page a creator or an organisation reads shows :func:`word` of them, translated
through the one catalogue (:mod:`fairtrain.core.i18n`). A code without a label reads as itself.
"""

from __future__ import annotations

from fairtrain.core.i18n import NP_, translations

# Each entry: code -> (context, English label); the context keeps e.g. the status "active" apart from
# any other "Active" in the catalogue.
LABELS: dict[str, dict[str, tuple[str, str]]] = {
    "category": {
        "tdm": NP_("category", "Any text and data mining"),
        "train-ai": NP_("category", "Training AI models"),
        "train-genai": NP_("category", "Training generative AI"),
        "ai-input": NP_("category", "AI answers and search grounding (RAG)"),
        "search": NP_("category", "Search engine indexing"),
    },
    "value": {
        "allow": NP_("value", "Allowed"),
        "deny": NP_("value", "Denied"),
        "licence": NP_("value", "Licence needed"),
        "inherit": NP_("value", "As the catalogue says"),
    },
    "status": {
        "active": NP_("status", "Registered"),
        "disputed": NP_("status", "Disputed"),
        "rejected": NP_("status", "Rejected"),
        "open": NP_("status", "Open"),
        "resolved": NP_("status", "Resolved"),
        "requested": NP_("status", "Requested"),
        "granted": NP_("status", "Granted"),
        "declined": NP_("status", "Declined"),
        "paid": NP_("status", "Paid"),
    },
    "mandate": {
        "pending": NP_("mandate", "Awaiting the member's consent"),
        "in-force": NP_("mandate", "In force"),
        "ending": NP_("mandate", "Revoked, in force until its end date"),
        "revoked": NP_("mandate", "Revoked"),
        "declined": NP_("mandate", "Declined by the member"),
        "expired": NP_("mandate", "Expired"),
        "not-yet": NP_("mandate", "Not yet in force"),
    },
    "tariff": {
        "licence": NP_("tariff", "Licence tariff"),
        "retroactive": NP_("tariff", "Retroactive tariff (use already made)"),
    },
    "role": {
        "creator": NP_("role", "Creator"),
        "org-admin": NP_("role", "Organisation administrator"),
        "developer": NP_("role", "AI developer"),
        "author": NP_("role", "Author"),
        "composer": NP_("role", "Composer"),
        "lyricist": NP_("role", "Lyricist"),
        "arranger": NP_("role", "Arranger"),
        "performer": NP_("role", "Performer"),
        "producer": NP_("role", "Producer"),
        "publisher": NP_("role", "Publisher"),
        "photographer": NP_("role", "Photographer"),
        "illustrator": NP_("role", "Illustrator"),
        "translator": NP_("role", "Translator"),
        "owner": NP_("role", "Owner"),
        "director": NP_("role", "Director"),
        "screenwriter": NP_("role", "Screenwriter"),
        "choreographer": NP_("role", "Choreographer"),
        "label": NP_("role", "Record label"),
        "other": NP_("role", "Other"),
    },
    "media": {
        "text": NP_("media", "Text"),
        "image": NP_("media", "Image"),
        "audio": NP_("media", "Audio"),
        "video": NP_("media", "Video"),
    },
    "entry": {
        "declaration": NP_("entry", "Declaration"),
        "import": NP_("entry", "Repertoire import"),
        "snapshot": NP_("entry", "Registry snapshot"),
        "clearance": NP_("entry", "Clearance"),
        "distribution": NP_("entry", "Distribution"),
        "invoice": NP_("entry", "Invoice"),
        "licence": NP_("entry", "Licence"),
        "payment": NP_("entry", "Payment"),
        "summary": NP_("entry", "Training summary"),
        "usage-report": NP_("entry", "Usage report"),
    },
    "price-model": {
        "per-work": NP_("price-model", "per work"),
        "flat-fee": NP_("price-model", "flat fee"),
        "revenue-share": NP_("price-model", "revenue share with a minimum"),
    },
    "purpose": {
        "commercial": NP_("purpose", "Commercial use"),
        "research": NP_("purpose", "Research"),
    },
}


def word(code: object, kind: str, lang: str) -> str:
    """The label of ``code`` among ``kind`` in ``lang``; an unknown code (or None) reads as itself."""
    if code is None:
        return ""
    marked = LABELS[kind].get(str(code))
    return translations(lang).pgettext(*marked) if marked else str(code)


__all__ = ["LABELS", "word"]
