"""A tolerant, entity-free scan of HTML and XML-ish metadata (HTML heads, EPUB OPF, XMP packets).

Real-world metadata is often not well-formed (the TDMRep spec's own OPF and XMP examples contain literal
``...``), so a strict XML parser would drop signals a person can plainly read. ``html.parser`` reads tags
and attributes leniently, never fetches anything, and does not expand DTD entities, so entity-expansion
bombs cost nothing. Names are lower-cased; XML namespace prefixes are resolved through the ``xmlns:``
declarations seen anywhere in the document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser

MAX_SCAN_BYTES = 4 * 1024 * 1024  # metadata lives at the top; a page beyond this is not scanned further


@dataclass(slots=True)
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass(slots=True)
class Scan:
    elements: list[Element] = field(default_factory=list)
    namespaces: dict[str, str] = field(default_factory=dict)  # prefix -> URI (lower-cased prefix)

    def prefixes_for(self, *uris: str, default: str | None = None) -> set[str]:
        found = {p for p, u in self.namespaces.items() if u in uris}
        if not found and default:
            found.add(default)
        return found

    def find(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]


class _Scanner(HTMLParser):
    def __init__(self, text_tags: frozenset[str] | None):
        super().__init__(convert_charrefs=True)
        self.scan = Scan()
        self._open: list[Element] = []
        self._text_tags = text_tags

    def handle_starttag(self, tag, attrs):
        d = {k: (v or "") for k, v in attrs}
        for k, v in d.items():
            if k.startswith("xmlns:"):
                self.scan.namespaces[k[6:]] = v.strip()
        el = Element(tag, d)
        self.scan.elements.append(el)
        if self._text_tags is None or tag in self._text_tags:
            self._open.append(el)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if self._open and self._open[-1].tag == tag:
            self._open.pop()

    def handle_endtag(self, tag):
        for i in range(len(self._open) - 1, -1, -1):
            if self._open[i].tag == tag:
                del self._open[i:]
                break

    def handle_data(self, data):
        if self._open:
            self._open[-1].text += data


def scan(data: bytes | str, *, text_tags: frozenset[str] | None = None) -> Scan:
    """Scan markup; ``text_tags`` limits which elements collect their text (``None``: all)."""
    if isinstance(data, bytes):
        data = data[:MAX_SCAN_BYTES].decode("utf-8", "replace")
    else:
        data = data[:MAX_SCAN_BYTES]
    p = _Scanner(text_tags)
    try:
        p.feed(data)
        p.close()
    except Exception:  # html.parser is lenient; keep whatever was read before an oddity
        pass
    for el in p.scan.elements:
        el.text = el.text.strip()
    return p.scan
