"""XMP in ISO base media files (MP4, M4V, MOV): the XMP packet in a top-level ``uuid`` box whose user type is
``BE7ACFCB-97A9-42E8-9C71-999491E3AFAC`` (XMP Specification Part 3, "MPEG-4").

The new box is appended after the last top-level box: nothing before it moves, so the chunk offsets in
``moov`` (``stco``/``co64``), which point into ``mdat`` by absolute position, stay right and no media
data is rewritten. An XMP box already in the file is merged: its packet's other properties are kept, and
the old box becomes a ``free`` box of the same size (again, nothing moves) unless it is the last box, in
which case it is replaced.

Matroska/WebM and MPEG-TS have no XMP carrier; AVI's (a RIFF ``_PMX`` chunk) is not written here.
"""

from __future__ import annotations

import struct
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET

XMP_UUID = bytes.fromhex("BE7ACFCB97A942E89C71999491E3AFAC")
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
X = "adobe:ns:meta/"
XML = "http://www.w3.org/XML/1998/namespace"
NS = {
    "plus": "http://ns.useplus.org/ldf/xmp/1.0/",
    "xmpRights": "http://ns.adobe.com/xap/1.0/rights/",
    "rdf": RDF,
    "x": X,
}


class BoxError(ValueError):
    pass


def is_bmff(data: bytes) -> bool:
    """An ISO base media file (MP4/M4V/MOV…): it starts with an ``ftyp`` box, or (old QuickTime) with a
    ``moov``, ``mdat``, ``wide`` or ``free`` box."""
    return len(data) >= 12 and data[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")


def top_level_boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    """``(start, size, type)`` of every top-level box; a file that does not parse to its end is refused."""
    out, pos, n = [], 0, len(data)
    while pos < n:
        if pos + 8 > n:
            raise BoxError(f"a box header is cut off at byte {pos}")
        size, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if size == 1:
            if pos + 16 > n:
                raise BoxError(f"a large box header is cut off at byte {pos}")
            size = struct.unpack(">Q", data[pos + 8 : pos + 16])[0]
        elif size == 0:
            size = n - pos
        if size < 8 or pos + size > n:
            raise BoxError(f"box {kind!r} at byte {pos} claims {size} bytes, beyond the end of the file")
        out.append((pos, size, kind))
        pos += size
    return out


def _xmp_boxes(data: bytes, boxes) -> list[tuple[int, int]]:
    return [
        (start, size)
        for start, size, kind in boxes
        if kind == b"uuid" and data[start + 8 : start + 24] == XMP_UUID and size >= 24
    ]


def read_xmp(data: bytes) -> str | None:
    """The XMP packet of the file's XMP ``uuid`` box (None without one)."""
    found = _xmp_boxes(data, top_level_boxes(data))
    if not found:
        return None
    start, size = found[-1]
    return data[start + 24 : start + size].decode("utf-8")


def _packet(existing: str | None, props: dict[str, object]) -> bytes:
    """An XMP packet with ``props`` (Exiv2-style keys ``Xmp.<prefix>.<Name>``: a string, or a dict of
    ``'lang="xx"'`` → text for a language alternative), keeping the other properties of ``existing``."""
    for prefix, uri in NS.items():
        ET.register_namespace(prefix, uri)
    root = None
    if existing:
        try:
            root = SafeET.fromstring(existing.split("?>", 1)[1].rsplit("<?xpacket", 1)[0].strip())
        except (SafeET.ParseError, IndexError, ValueError):
            root = None  # an unreadable packet is replaced
    if root is None:
        root = ET.Element(f"{{{X}}}xmpmeta")
    rdf = root.find(f"{{{RDF}}}RDF") if root.tag != f"{{{RDF}}}RDF" else root
    if rdf is None:
        rdf = ET.SubElement(root, f"{{{RDF}}}RDF")
    desc = rdf.find(f"{{{RDF}}}Description")
    if desc is None:
        desc = ET.SubElement(rdf, f"{{{RDF}}}Description", {f"{{{RDF}}}about": ""})
    for key, value in props.items():
        _, prefix, name = key.split(".", 2)
        tag = f"{{{NS[prefix]}}}{name}"
        desc.attrib.pop(tag, None)
        for old in desc.findall(tag):
            desc.remove(old)
        el = ET.SubElement(desc, tag)
        if isinstance(value, dict):
            alt = ET.SubElement(el, f"{{{RDF}}}Alt")
            for lang_attr, text in value.items():
                li = ET.SubElement(alt, f"{{{RDF}}}li", {f"{{{XML}}}lang": lang_attr.split('"')[1]})
                li.text = str(text)
        else:
            el.text = str(value)
    body = ET.tostring(root, encoding="unicode")
    return (
        '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n'
        + body
        + "\n"
        + " " * 2048
        + '\n<?xpacket end="w"?>'
    ).encode("utf-8")


def embed(data: bytes, props: dict[str, object]) -> bytes:
    """``data`` with ``props`` in its XMP ``uuid`` box (see the module docstring for where and why)."""
    boxes = top_level_boxes(data)
    old = _xmp_boxes(data, boxes)
    existing = data[old[-1][0] + 24 : old[-1][0] + old[-1][1]].decode("utf-8", "replace") if old else None
    packet = _packet(existing, props)
    box = struct.pack(">I4s", 24 + len(packet), b"uuid") + XMP_UUID + packet
    out = bytearray(data)
    end = len(data)
    last_start, last_size, _ = boxes[-1]
    if data[last_start : last_start + 4] == b"\0\0\0\0":  # "to the end of the file": say its size, or it
        if last_size > 0xFFFFFFFF:  # would swallow the new box
            raise BoxError("the last box runs to the end of the file and is too large to give a 32-bit size")
        out[last_start : last_start + 4] = struct.pack(">I", last_size)
    for start, size in reversed(old):
        if start + size == end:  # the last box: cut it off and append the new one in its place
            del out[start:end]
            end = start
        else:  # elsewhere: it becomes free space of the same size, so nothing after it moves
            out[start + 4 : start + 8] = b"free"
    return bytes(out) + box
