"""A work's registration certificate: what the registry holds about it, and the proof that the public log
holds the declaration it stands on.

:func:`certificate` gathers it (a JSON-safe dict, what ``fairtrain works certificate --json`` prints);
:func:`render_html` writes it as a printable HTML document (``core/templates/certificate.html``, through
:func:`fairtrain.core.documents.render_document`); :func:`render_pdf` writes it as a PDF with fpdf2 in the
Nanum Gothic font of Debian's ``fonts-nanum`` package (Korean needs a font that has Hangul).

The declaration's digest is the SHA-256 of the canonical JSON of its log entry's body, so anyone holding
the inclusion proof recomputes it from the proof's leaf. The proof is against the newest signed tree head
that covers the entry; where none does yet, the certificate says so (it comes with the next signed head).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import select

from fairtrain.core.errors import ToolMissing
from fairtrain.core.keys import canonical_json
from fairtrain.core.store.models import Declaration, LogEntry
from fairtrain.services import log
from fairtrain.services.registry.registry import Registry, work_ref

FORMAT = "fairtrain-registration-certificate/1"
NANUM = Path("/usr/share/fonts/truetype/nanum/NanumGothic.ttf")
NANUM_BOLD = Path("/usr/share/fonts/truetype/nanum/NanumGothicBold.ttf")


def _current(c, target: str) -> list:
    """The newest declaration of each party and category about ``target`` (withdrawals included: they are
    what the engine sees)."""
    rows = c.execute(select(Declaration.__table__).where(Declaration.target == target).order_by(Declaration.id)).all()
    newest: dict[tuple, object] = {}
    for d in rows:
        newest[(d.party, d.category, d.purpose)] = d
    return sorted((d for d in newest.values() if d.value is not None), key=lambda d: d.id)


def _entries(c, targets: list[str]) -> dict[int, dict]:
    """Declaration id → its log entry (index, leaf hash, body), for declarations about ``targets``."""
    out = {}
    q = select(LogEntry.idx, LogEntry.leaf, LogEntry.leaf_hash).where(
        LogEntry.kind == "declaration", LogEntry.subject.in_(targets)
    )
    for r in c.execute(q):
        leaf = json.loads(r.leaf)
        out[leaf["body"]["id"]] = {"index": r.idx, "leaf_hash": r.leaf_hash, "body": leaf["body"]}
    return out


def certificate(registry: Registry, work_id: int, *, page_url: str = "", trusted=None) -> dict:
    """The certificate of one work. ``page_url``: the public work page the QR code points to."""
    w = registry.work(work_id)
    holders = [h["holder"] for h in w["holders"]]
    with registry.engine.connect() as c:
        decls = _current(c, work_ref(work_id))
        level = "work"
        if not decls:  # no terms of its own: the holders' catalogue terms are the ones it carries
            decls = [d for h in holders for d in _current(c, h)]
            level = "catalogue"
        entries = _entries(c, sorted({d.target for d in decls}))
    public_log = log.Log(registry.engine)
    heads = public_log.heads()
    declarations = []
    for d in decls:
        e = entries.get(d.id)
        item = {
            "id": d.id,
            "party": d.party,
            "category": d.category,
            "value": d.value,
            "offer": json.loads(d.offer) if d.offer else None,
            "declared_at": d.declared_at.isoformat(),
            "digest": hashlib.sha256(canonical_json(e["body"])).hexdigest() if e else None,
            "log_index": e["index"] if e else None,
            "leaf_hash": e["leaf_hash"] if e else None,
            "proof": None,
            "verified": False,
        }
        if e and heads and heads[-1]["size"] > e["index"]:
            proof = public_log.inclusion_proof(e["index"])
            checked = log.verify_proof(proof, trusted)
            item["proof"] = proof
            item["verified"] = bool(checked.get("valid")) and checked["entry"]["body"]["id"] == d.id
        declarations.append(item)
    head = heads[-1] if heads else None
    return {
        "format": FORMAT,
        "work": {
            "id": w["id"],
            "ref": work_ref(w["id"]),
            "title": w["title"],
            "title_latin": w.get("title_latin"),
            "media_type": w["media_type"],
            "status": w["status"],
            "content_hash": w["content_hash"],
            "iscc": w["iscc"],
            "iswc": w["iswc"],
            "isrc": w["isrc"],
            "isbn": w["isbn"],
            "registered_at": w["created_at"],
            "withdrawn_at": w.get("withdrawn_at"),
        },
        "holders": [
            {"holder": h["holder"], "name": h["name"], "role": h["role"], "share": h["share"]} for h in w["holders"]
        ],
        "terms_level": level,
        "declarations": declarations,
        "tree_head": {"size": head["size"], "root": head["root"], "timestamp": head["timestamp"]} if head else None,
        "page_url": page_url,
        "issued_at": datetime.now(UTC).isoformat(),
    }


def title_for(work: dict, lang: str) -> str:
    """The title a reader of ``lang`` sees: the Latin-script one for English where there is one."""
    if lang != "ko" and work.get("title_latin"):
        return work["title_latin"]
    return work["title"] or work.get("title_latin") or ""


def render_html(cert: dict, lang: str) -> str:
    from markupsafe import Markup

    from fairtrain.core.documents import render_document
    from fairtrain.core.i18n import format_share, format_when
    from fairtrain.core.labels import word
    from fairtrain.core.signals.reservation import render_qr_svg

    return render_document(
        "certificate.html",
        lang,
        cert=cert,
        title=title_for(cert["work"], lang),
        qr=Markup(render_qr_svg(cert["page_url"])) if cert["page_url"] else None,
        when=lambda v: format_when(v, lang),
        share=lambda s: format_share(s, lang),
        word=lambda code, kind: word(code, kind, lang),
    )


def _font() -> Path:
    if not NANUM.exists():
        raise ToolMissing(
            f"the PDF certificate needs the Nanum Gothic font ({NANUM}): install Debian's fonts-nanum package "
            "(apt-get install fonts-nanum)"
        )
    return NANUM


def render_pdf(cert: dict, lang: str) -> bytes:
    """The certificate as a PDF (fpdf2, Nanum Gothic), with the QR code drawn as vector squares."""
    from fpdf import FPDF

    from fairtrain.core.i18n import format_share, format_when, translations
    from fairtrain.core.labels import word

    _ = translations(lang).gettext
    font = _font()
    # Nanum's hinting tables (TSI*) cannot be subset and are dropped, as they should be: not worth a warning
    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.add_font("Nanum", "", str(font))
    pdf.add_font("Nanum", "B", str(NANUM_BOLD if NANUM_BOLD.exists() else font))
    w, cert_work = pdf.epw, cert["work"]

    def line(label: str, value: object, *, mono: bool = False) -> None:
        pdf.set_font("Nanum", "B", 9)
        pdf.cell(45, 6, label)
        pdf.set_font("Nanum", "", 8 if mono else 10)
        pdf.multi_cell(w - 45, 6, str(value or "—"), new_x="LMARGIN", new_y="NEXT")

    pdf.set_font("Nanum", "B", 16)
    pdf.multi_cell(w - 40, 9, _("Registration certificate"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Nanum", "B", 13)
    pdf.multi_cell(w - 40, 8, title_for(cert_work, lang), new_x="LMARGIN", new_y="NEXT")
    if cert["page_url"]:
        _qr(pdf, cert["page_url"], x=pdf.w - pdf.r_margin - 32, y=pdf.t_margin, size=32)
    pdf.ln(4)
    line(_("Title"), cert_work["title"])
    line(_("Title in Latin script"), cert_work.get("title_latin"))
    line(_("Registered"), format_when(cert_work["registered_at"], lang))
    if cert_work.get("withdrawn_at"):
        line(_("Withdrawn"), format_when(cert_work["withdrawn_at"], lang))
    line(_("Type"), word(cert_work["media_type"], "media", lang))
    holders = "; ".join(
        f"{h['name']} ({word(h['role'], 'role', lang)}, {format_share(h['share'], lang)})" for h in cert["holders"]
    )
    line(_("Holders"), holders)
    line(_("Content hash"), cert_work["content_hash"], mono=True)
    line("ISCC", cert_work["iscc"], mono=True)
    line(_("Public page"), cert["page_url"], mono=True)
    pdf.ln(3)
    pdf.set_font("Nanum", "B", 12)
    pdf.cell(0, 8, _("Declarations and their place in the public log"), new_x="LMARGIN", new_y="NEXT")
    if not cert["declarations"]:
        pdf.set_font("Nanum", "", 10)
        pdf.multi_cell(
            w, 6, _("Nothing declared yet: a registered work is denied by default."), new_x="LMARGIN", new_y="NEXT"
        )
    for d in cert["declarations"]:
        line(word(d["category"], "category", lang), word(d["value"], "value", lang))
        line(_("Declared"), format_when(d["declared_at"], lang))
        line(_("Digest (SHA-256)"), d["digest"], mono=True)
        line(_("Log entry"), f"#{d['log_index']} · {d['leaf_hash']}", mono=True)
        line(_("Inclusion proof"), _("verified") if d["verified"] else _("not yet covered by a signed tree head"))
        pdf.ln(1)
    if cert["tree_head"]:
        th = cert["tree_head"]
        line(_("Signed tree head"), f"{th['size']} · {th['root']}", mono=True)
    line(_("Certificate issued"), format_when(cert["issued_at"], lang))
    return bytes(pdf.output())


def _qr(pdf, url: str, *, x: float, y: float, size: float) -> None:
    import qrcode

    q = qrcode.QRCode(border=1)
    q.add_data(url)
    q.make(fit=True)
    matrix = q.get_matrix()
    cell = size / len(matrix)
    pdf.set_fill_color(0, 0, 0)
    for r, row in enumerate(matrix):
        for col, dark in enumerate(row):
            if dark:
                pdf.rect(x + col * cell, y + r * cell, cell, cell, style="F")


__all__ = ["FORMAT", "certificate", "render_html", "render_pdf", "title_for"]
