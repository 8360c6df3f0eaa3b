"""The text inside a creator's documents: HWP 5, HWPX, DOCX, ODT, RTF, PDF (text layer) and EPUB.

One entry point, :func:`extract_text`, used wherever a file becomes a text fingerprint (the text modality
in ``core.fingerprint.modalities`` wraps it, so registration, the CSV import, the web upload, the matcher
and clearance all read a document the same way: an HWP registered by its author is found again as the
same text in a .txt, a PDF or a DOCX). Plain text, Markdown and HTML need no extraction: they are text,
and the text fingerprint's normaliser strips their markup.

Which reader, and why (also in ARCHITECTURE.md):

- **HWP 5** — ``olefile`` (the OLE2 container) and the documented HWP 5 record format (FileHeader flags,
  ``BodyText/SectionN`` streams, raw deflate, ``HWPTAG_PARA_TEXT`` records): the one HWP library on PyPI
  with a long record, pyhwp, last released 0.1b15 in 2020 and is AGPL; the record walk is 100 lines.
- **HWPX, DOCX, ODT, EPUB** — each is a ZIP of XML; one bounded reader (:class:`_Zip`) reads members
  with a decompressed-size cap and parses them with ``defusedxml`` (entity declarations and external
  references refused). python-docx is used by the tests to write DOCX, not here: it reads parts with no
  size cap and would add lxml to the trusted surface.
- **PDF** — ``pypdf``: pure Python, maintained, with its own decompression caps; decrypts AES with the
  ``cryptography`` package already installed.
- **RTF** — ``striprtf``: a small pure-Python converter that honours ``\\ansicpg`` and ``\\uN``.

Bounds: input size (:data:`MAX_INPUT_BYTES`), total decompressed size (:data:`MAX_EXPANDED_BYTES`, so a
ZIP or deflate bomb stops early), members per archive, extracted text size, and a deadline
(:data:`DEFAULT_TIMEOUT_S`) checked between pages, members and records. Nothing here opens a file or a
socket: every reader works on the bytes it is given.

A document that cannot be read raises :class:`DocumentError` (an ``ItemError``) whose reason is a
catalogue message, so the CLI and the web can say it in Korean as well as English
(``err.localised("ko")``).
"""

from __future__ import annotations

import io
import re
import struct
import time
import zipfile
import zlib
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import PurePosixPath
from xml.etree.ElementTree import Element

from fairtrain.core.errors import FingerprintError
from fairtrain.core.i18n import N_
from fairtrain.core.media import DOCUMENT_FORMATS, OLE_MAGIC, document_format

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "DOCUMENT_FORMATS",
    "MAX_EXPANDED_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_TEXT_CHARS",
    "DocumentError",
    "extract_text",
    "is_document",
]

MAX_INPUT_BYTES = 256 * 1024 * 1024  # a document file
MAX_EXPANDED_BYTES = 256 * 1024 * 1024  # all decompressed members or streams of one document together
MAX_MEMBERS = 10_000  # ZIP members or OLE2 streams
MAX_TEXT_CHARS = 64 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0

# The reasons, written down here and translated where they are shown (core/locales/ko/…/messages.po).
R_TOO_LARGE = N_("the file is {size} bytes, above the {limit} byte limit for documents")
R_EXPANDS = N_("the file expands to more than {limit} bytes when unpacked (refused as a possible ZIP bomb)")
R_TOO_MANY = N_("the file holds more than {limit} parts")
R_TIMEOUT = N_("reading the file took longer than {seconds} seconds")
R_XML_REFUSED = N_("the document's XML declares entities or refers to external files, which is refused")
R_DAMAGED = N_("the {format} file is damaged and cannot be read ({detail})")
R_NO_TEXT = N_("no text was found in the {format} file")
R_PDF_ENCRYPTED = N_(
    "the PDF is encrypted: it needs a password to open. Save a copy without a password and register that"
)
R_PDF_SCANNED = N_(
    "the PDF is a scan: its pages are images with no text layer. Register the text (for example "
    "after OCR) or the page images instead"
)
R_HWP_PASSWORD = N_("the HWP file is protected by a password. Save a copy without a password and register that")
R_HWP_DISTRIBUTION = N_(
    "the HWP file is a distribution document (copy-protected), whose text cannot be read. "
    "Save it as an ordinary document and register that"
)
R_HWP_OLD = N_("the file is in the old HWP 3 format. Save it as HWP 5 (.hwp) or HWPX and register that")
R_OFFICE_PASSWORD = N_("the Word document is protected by a password. Save a copy without a password and register that")
_MAGIC4 = frozenset({b"%PDF", b"{\\rt", OLE_MAGIC[:4], b"PK\x03\x04", b"HWP "})  # document_format's openings
FORMAT_NAMES = {"hwp": "HWP", "hwpx": "HWPX", "docx": "DOCX", "odt": "ODT", "rtf": "RTF", "pdf": "PDF", "epub": "EPUB"}


class DocumentError(FingerprintError):
    """A document whose text cannot be read; ``reason`` is English, :meth:`localised` any catalogue language."""

    def __init__(self, item: str, message: str, **params: object):
        self.message_id = message
        self.params = {k: str(v) for k, v in params.items()}
        super().__init__(item, message.format(**self.params))

    def __reduce__(self):  # crosses process boundaries (clearance workers) whole, catalogue message included
        return _document_error, (self.item, self.message_id, self.params)

    def localised(self, lang: str) -> str:
        """``"<file>: <reason>"`` in ``lang`` (English where the catalogue has no translation)."""
        from fairtrain.core.i18n import translator

        _ = translator(lang)
        return f"{self.item}: {_(self.message_id).format(**self.params)}"


def _document_error(item: str, message: str, params: dict[str, str]) -> DocumentError:
    return DocumentError(item, message, **params)


def is_document(data: bytes | str, name: str = "") -> bool:
    """Whether ``data`` is a document format whose text :func:`extract_text` reads (cheap: looks at the head)."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or bytes(data[:4]) not in _MAGIC4:
        return False  # plain text, the common case: four bytes looked at
    return document_format(bytes(data[:8192]), name) is not None


def legacy_text(data: bytes | str) -> str | None:
    """The text of a plain-text file that is not UTF-8 but UTF-16 with a byte-order mark, or Korean in
    CP949/EUC-KR (what Windows Notepad saved before 2019): None when it is neither. Called only after UTF-8
    failed, so UTF-8 text never pays for it."""
    if not isinstance(data, (bytes, bytearray, memoryview)) or len(data) > MAX_INPUT_BYTES:
        return None
    raw = bytes(data)
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        text = raw.decode("cp949")
    except UnicodeDecodeError:
        return None
    wide = [c for c in text if ord(c) > 0x7F]
    hangul = sum(1 for c in wide if "\uac00" <= c <= "\ud7a3")
    return text if wide and hangul >= 0.8 * len(wide) else None


def extract_text(data: bytes, name: str = "", *, timeout: float = DEFAULT_TIMEOUT_S) -> str:
    """The text of the document ``data`` (its format found from the bytes, then ``name``).

    Paragraphs are separated by newlines. Raises :class:`DocumentError` naming ``name`` and the reason.
    """
    item = name or "document"
    data = bytes(data)
    fmt = document_format(data[:8192], name)
    if fmt is None:
        raise DocumentError(item, R_DAMAGED, format=_ext_name(name), detail="not a document format this reads")
    if len(data) > MAX_INPUT_BYTES:
        raise DocumentError(item, R_TOO_LARGE, size=len(data), limit=MAX_INPUT_BYTES)
    budget = _Budget(item, time.monotonic() + timeout, timeout)
    try:
        text = _READERS[fmt](data, budget)
    except DocumentError:
        raise
    except RecursionError:
        raise DocumentError(item, R_DAMAGED, format=FORMAT_NAMES[fmt], detail="nested too deeply") from None
    except MemoryError:
        raise DocumentError(item, R_EXPANDS, limit=MAX_EXPANDED_BYTES) from None
    except Exception as e:  # a reader library's own error on a malformed file: damaged, never a crash
        raise DocumentError(item, R_DAMAGED, format=FORMAT_NAMES[fmt], detail=_short(e)) from None
    text = _tidy(text)
    if not text.strip():
        raise DocumentError(item, R_NO_TEXT, format=FORMAT_NAMES[fmt])
    return text


def _ext_name(name: str) -> str:
    return PurePosixPath(name).suffix.lstrip(".").upper() or "document"


def _short(e: BaseException) -> str:
    s = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
    return s[:160]


def _tidy(text: str) -> str:
    lines = [" ".join(line.split()) for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


class _Budget:
    """What one extraction may still spend: decompressed bytes, text and time."""

    def __init__(self, item: str, deadline: float, timeout: float):
        self.item, self.deadline, self.timeout = item, deadline, timeout
        self.expanded = 0
        self.chars = 0

    def tick(self) -> None:
        if time.monotonic() > self.deadline:
            raise DocumentError(self.item, R_TIMEOUT, seconds=f"{self.timeout:g}")

    def spend(self, n: int) -> int:
        """Counts ``n`` more decompressed bytes; returns how many may still come."""
        self.expanded += n
        if self.expanded > MAX_EXPANDED_BYTES:
            raise DocumentError(self.item, R_EXPANDS, limit=MAX_EXPANDED_BYTES)
        return MAX_EXPANDED_BYTES - self.expanded

    def text(self, s: str) -> str:
        self.chars += len(s)
        if self.chars > MAX_TEXT_CHARS:
            raise DocumentError(self.item, R_EXPANDS, limit=MAX_EXPANDED_BYTES)
        return s


# -- ZIP of XML: HWPX, DOCX, ODT, EPUB -----------------------------------------------------------------


class _Zip:
    """A ZIP read member by member, each read stopping at the budget, never trusting declared sizes."""

    def __init__(self, data: bytes, budget: _Budget, fmt: str):
        self.budget, self.fmt = budget, fmt
        try:
            self.zf = zipfile.ZipFile(io.BytesIO(data))
            infos = self.zf.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
            raise DocumentError(budget.item, R_DAMAGED, format=FORMAT_NAMES[fmt], detail=_short(e)) from None
        if len(infos) > MAX_MEMBERS:
            raise DocumentError(budget.item, R_TOO_MANY, limit=MAX_MEMBERS)
        self.names = {i.filename for i in infos}

    def read(self, name: str) -> bytes:
        self.budget.tick()
        if name not in self.names:
            raise DocumentError(
                self.budget.item, R_DAMAGED, format=FORMAT_NAMES[self.fmt], detail=f"the part {name} is missing"
            )
        left = MAX_EXPANDED_BYTES - self.budget.expanded
        with self.zf.open(name) as f:
            raw = f.read(left + 1)
        self.budget.spend(len(raw))
        return raw

    def xml(self, name: str) -> Element:
        return _parse_xml(self.read(name), self.budget)


def _parse_xml(raw: bytes, budget: _Budget) -> Element:
    import defusedxml.ElementTree as DET
    from defusedxml import DefusedXmlException

    budget.tick()
    try:
        return DET.fromstring(raw, forbid_dtd=False, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise DocumentError(budget.item, R_XML_REFUSED) from None


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _walk_text(
    root: Element,
    budget: _Budget,
    *,
    text_tags: frozenset[str],
    block_tags: frozenset[str],
    breaks: dict[str, str],
    skip: frozenset[str] = frozenset(),
    all_text: bool = False,
) -> str:
    """Text of an XML tree: the text inside ``text_tags`` (every text where ``all_text``), a newline after
    each element of ``block_tags``, and ``breaks[tag]`` for elements that stand for a character."""
    out: list[str] = []

    def visit(el: Element, inside: bool) -> None:
        tag = _local(el.tag)
        if tag in skip:
            return
        if tag in breaks:
            out.append(breaks[tag])
        inside = inside or all_text or tag in text_tags
        if inside and el.text:
            out.append(budget.text(el.text))
        for child in el:
            visit(child, inside)
            if inside and child.tail:
                out.append(budget.text(child.tail))
        if tag in block_tags:
            out.append("\n")

    visit(root, False)
    return "".join(out)


def _numbered(names: set[str], pattern: str) -> list[str]:
    rx = re.compile(pattern)
    found = [(int(m.group(1)), n) for n in names if (m := rx.fullmatch(n))]
    return [n for _, n in sorted(found)]


def _read_hwpx(data: bytes, budget: _Budget) -> str:
    """OWPML (KS X 6101): ``Contents/content.hpf`` lists the sections; text is in ``hp:t`` under ``hp:p``."""
    z = _Zip(data, budget, "hwpx")
    sections: list[str] = []
    if "Contents/content.hpf" in z.names:
        opf = z.xml("Contents/content.hpf")
        items = {el.get("id"): el.get("href") for el in opf.iter() if _local(el.tag) == "item"}
        for ref in (el.get("idref") for el in opf.iter() if _local(el.tag) == "itemref"):
            href = items.get(ref) or ""
            path = href if href.startswith("Contents/") else f"Contents/{href}"
            if re.fullmatch(r"Contents/section\d+\.xml", path) and path in z.names:
                sections.append(path)
    sections = sections or _numbered(z.names, r"Contents/section(\d+)\.xml")
    if not sections:
        raise DocumentError(budget.item, R_DAMAGED, format="HWPX", detail="no section in Contents/")
    return "\n".join(
        _walk_text(
            z.xml(s),
            budget,
            text_tags=frozenset({"t"}),
            block_tags=frozenset({"p"}),
            breaks={"tab": "\t", "lineBreak": "\n"},
        )
        for s in sections
    )


def _read_docx(data: bytes, budget: _Budget) -> str:
    """WordprocessingML: the main document, then footnotes and endnotes; text in ``w:t`` under ``w:p``."""
    if data.startswith(OLE_MAGIC):  # Office keeps a password-protected .docx in an OLE2 EncryptedPackage
        raise DocumentError(budget.item, R_OFFICE_PASSWORD)
    z = _Zip(data, budget, "docx")
    parts = ["word/document.xml"] + [p for p in ("word/footnotes.xml", "word/endnotes.xml") if p in z.names]
    return "\n".join(
        _walk_text(
            z.xml(p),
            budget,
            text_tags=frozenset({"t"}),
            block_tags=frozenset({"p"}),
            breaks={"tab": "\t", "br": "\n", "cr": "\n"},
            skip=frozenset({"instrText", "delText"}),
        )
        for p in parts
    )


def _read_odt(data: bytes, budget: _Budget) -> str:
    """OpenDocument text: ``content.xml``'s ``office:body``; ``text:s``, ``text:tab``, ``text:line-break``."""
    z = _Zip(data, budget, "odt")
    root = z.xml("content.xml")
    body = next((el for el in root.iter() if _local(el.tag) == "body"), root)
    return _walk_text(
        body,
        budget,
        text_tags=frozenset({"p", "h"}),
        block_tags=frozenset({"p", "h"}),
        breaks={"s": " ", "tab": "\t", "line-break": "\n"},
        skip=frozenset({"tracked-changes", "annotation"}),
    )


def _read_epub(data: bytes, budget: _Budget) -> str:
    """EPUB 2/3: ``META-INF/container.xml`` → the package (OPF) → the spine's XHTML documents in order."""
    z = _Zip(data, budget, "epub")
    container = z.xml("META-INF/container.xml")
    opf_path = next((el.get("full-path") for el in container.iter() if _local(el.tag) == "rootfile"), None)
    if not opf_path:
        raise DocumentError(budget.item, R_DAMAGED, format="EPUB", detail="no rootfile in META-INF/container.xml")
    opf = z.xml(opf_path)
    base = PurePosixPath(opf_path).parent
    manifest = {el.get("id"): el.get("href") for el in opf.iter() if _local(el.tag) == "item"}
    out = []
    for ref in (el.get("idref") for el in opf.iter() if _local(el.tag) == "itemref"):
        href = manifest.get(ref)
        if not href:
            continue
        path = _join(base, href.split("#", 1)[0])
        if path in z.names:
            out.append(_html_text(z.read(path).decode("utf-8", "replace"), budget))
    return "\n".join(out)


def _join(base: PurePosixPath, href: str) -> str:
    from urllib.parse import unquote

    parts: list[str] = []
    for p in (base / unquote(href)).parts:
        if p == "..":
            if parts:
                parts.pop()
        elif p not in (".", ""):
            parts.append(p)
    return "/".join(parts)


_HTML_BLOCKS = frozenset(
    {
        "p",
        "div",
        "br",
        "li",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "tr",
        "blockquote",
        "pre",
        "section",
        "article",
        "dd",
        "dt",
        "hr",
        "table",
        "ul",
        "ol",
        "figcaption",
    }
)


class _HtmlText(HTMLParser):
    """Visible text of (X)HTML: the body without script and style, a newline after each block. The stdlib
    parser resolves HTML's named character references only, never a DTD or an external entity."""

    def __init__(self, budget: _Budget):
        super().__init__(convert_charrefs=True)
        self.budget, self.out, self.hidden = budget, [], 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "head", "title"):
            self.hidden += 1
        elif tag in _HTML_BLOCKS:
            self.out.append("\n")

    def handle_startendtag(self, tag, attrs):
        if tag in _HTML_BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "head", "title"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in _HTML_BLOCKS:
            self.out.append("\n")

    def handle_data(self, data):
        if not self.hidden:
            self.out.append(self.budget.text(data))


def _html_text(markup: str, budget: _Budget) -> str:
    budget.tick()
    p = _HtmlText(budget)
    p.feed(markup)
    p.close()
    return "".join(p.out)


# -- PDF ---------------------------------------------------------------------------------------------


def _read_pdf(data: bytes, budget: _Budget) -> str:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError, PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed files are judged here, not logged
    try:
        reader = PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")  # an owner password alone restricts printing, not reading
            except (FileNotDecryptedError, NotImplementedError, PdfReadError):
                opened = 0
            if not opened:
                raise DocumentError(budget.item, R_PDF_ENCRYPTED)
        pages = list(reader.pages)
    except DocumentError:
        raise
    except FileNotDecryptedError:
        raise DocumentError(budget.item, R_PDF_ENCRYPTED) from None
    out, has_text, images = [], False, 0
    for page in pages:
        budget.tick()
        out.append(budget.text(page.extract_text() or ""))
        has_text = has_text or bool(out[-1].strip())
        if not has_text:
            images += _page_has_image(page)
    text = "\n".join(out)
    if not has_text and images:
        raise DocumentError(budget.item, R_PDF_SCANNED)
    return text


def _page_has_image(page) -> int:
    try:
        res = page.get("/Resources") or {}
        xobjects = res.get_object().get("/XObject") if res else None
        if not xobjects:
            return 0
        return int(any(x.get_object().get("/Subtype") == "/Image" for x in xobjects.get_object().values()))
    except Exception:  # an unreadable resource dictionary says nothing either way
        return 0


# -- RTF ---------------------------------------------------------------------------------------------


def _read_rtf(data: bytes, budget: _Budget) -> str:
    from striprtf.striprtf import rtf_to_text

    raw = data.decode("latin-1")
    m = re.search(r"\\ansicpg(\d+)", raw[:4096])
    encoding = f"cp{m.group(1)}" if m else "cp1252"
    try:
        "".encode(encoding)
    except LookupError:
        encoding = "cp1252"
    budget.tick()
    return budget.text(rtf_to_text(raw, encoding=encoding, errors="replace"))


# -- HWP 5 -------------------------------------------------------------------------------------------

_HWPTAG_PARA_TEXT = 0x10 + 51  # HWPTAG_BEGIN + 51
# PARA_TEXT control characters (HWP 5.0 specification, "control characters"): "char" controls take one
# WCHAR; "inline" and "extended" controls take eight (the code, 6 WCHARs of data or a pointer, the code again).
_HWP_WIDE_CONTROLS = frozenset({1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23})
_HWP_CHAR_MAP = {9: "\t", 10: "\n", 13: "\n", 24: "-", 30: " ", 31: " "}


def _read_hwp(data: bytes, budget: _Budget) -> str:
    import olefile

    fmt = "HWP"
    if data.startswith(b"HWP Document File V3"):
        raise DocumentError(budget.item, R_HWP_OLD)
    try:
        ole = olefile.OleFileIO(io.BytesIO(data))
    except (OSError, ValueError, struct.error) as e:
        raise DocumentError(budget.item, R_DAMAGED, format=fmt, detail=_short(e)) from None
    with ole:
        streams = ole.listdir()
        if len(streams) > MAX_MEMBERS:
            raise DocumentError(budget.item, R_TOO_MANY, limit=MAX_MEMBERS)
        names = {"/".join(s) for s in streams}
        if "FileHeader" not in names:
            if "EncryptedPackage" in names:
                raise DocumentError(budget.item, R_OFFICE_PASSWORD)
            raise DocumentError(budget.item, R_DAMAGED, format=fmt, detail="no FileHeader stream")
        header = ole.openstream("FileHeader").read(256)
        if len(header) < 40 or not header.startswith(b"HWP Document File"):
            raise DocumentError(budget.item, R_DAMAGED, format=fmt, detail="bad FileHeader signature")
        version, flags = struct.unpack_from("<II", header, 32)
        if version >> 24 != 5:
            raise DocumentError(budget.item, R_DAMAGED, format=fmt, detail=f"unsupported version {version >> 24}")
        if flags & 0x2:
            raise DocumentError(budget.item, R_HWP_PASSWORD)
        if flags & 0x4:
            raise DocumentError(budget.item, R_HWP_DISTRIBUTION)
        compressed = bool(flags & 0x1)
        sections = _numbered(names, r"BodyText/Section(\d+)")
        if not sections:
            raise DocumentError(budget.item, R_DAMAGED, format=fmt, detail="no BodyText/Section stream")
        out = []
        for s in sections:
            budget.tick()
            raw = ole.openstream(s).read()
            stream = _inflate(raw, budget, s) if compressed else raw
            if not compressed:
                budget.spend(len(raw))
            out.append(_hwp_section_text(stream, budget, s))
    return "\n".join(out)


def _inflate(raw: bytes, budget: _Budget, stream: str) -> bytes:
    d = zlib.decompressobj(-15)  # raw deflate, no zlib header
    try:
        out = d.decompress(raw, MAX_EXPANDED_BYTES - budget.expanded + 1)
    except zlib.error as e:
        raise DocumentError(budget.item, R_DAMAGED, format="HWP", detail=f"{stream}: {e}") from None
    budget.spend(len(out))
    if d.unconsumed_tail:
        raise DocumentError(budget.item, R_EXPANDS, limit=MAX_EXPANDED_BYTES)
    return out


def _hwp_records(stream: bytes, budget: _Budget, name: str) -> Iterator[tuple[int, bytes]]:
    pos, n, end = 0, 0, len(stream)
    while pos + 4 <= end:
        (head,) = struct.unpack_from("<I", stream, pos)
        tag, size = head & 0x3FF, head >> 20
        pos += 4
        if size == 0xFFF:
            if pos + 4 > end:
                break
            (size,) = struct.unpack_from("<I", stream, pos)
            pos += 4
        if pos + size > end:
            raise DocumentError(budget.item, R_DAMAGED, format="HWP", detail=f"{name}: a record runs past the end")
        yield tag, stream[pos : pos + size]
        pos += size
        n += 1
        if n % 4096 == 0:
            budget.tick()


def _hwp_section_text(stream: bytes, budget: _Budget, name: str) -> str:
    out: list[str] = []
    for tag, payload in _hwp_records(stream, budget, name):
        if tag != _HWPTAG_PARA_TEXT:
            continue
        chars = struct.unpack(f"<{len(payload) // 2}H", payload[: len(payload) // 2 * 2])
        buf: list[int] = []
        i = 0
        while i < len(chars):
            c = chars[i]
            if c < 32:
                if c in _HWP_WIDE_CONTROLS:
                    if c == 9:
                        buf.append(9)
                    i += 8
                    continue
                if c in _HWP_CHAR_MAP:
                    buf.append(ord(_HWP_CHAR_MAP[c]))
                i += 1
                continue
            buf.append(c)
            i += 1
        text = struct.pack(f"<{len(buf)}H", *buf).decode("utf-16-le", "replace")
        out.append(budget.text(text))
        if not text.endswith("\n"):
            out.append("\n")
    return "".join(out)


_READERS: dict[str, Callable[[bytes, _Budget], str]] = {
    "hwp": _read_hwp,
    "hwpx": _read_hwpx,
    "docx": _read_docx,
    "odt": _read_odt,
    "epub": _read_epub,
    "pdf": _read_pdf,
    "rtf": _read_rtf,
}
