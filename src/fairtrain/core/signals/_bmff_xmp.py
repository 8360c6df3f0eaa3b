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

import os
import struct
from pathlib import Path
from xml.etree import ElementTree as ET

import defusedxml.ElementTree as SafeET

from fairtrain.core.errors import InvalidInput

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


class BoxError(InvalidInput):
    """An ISO BMFF (MP4/MOV) file whose boxes do not add up: a cut header, a size past the end."""


def is_bmff(data: bytes) -> bool:
    """An ISO base media file (MP4/M4V/MOV…): it starts with an ``ftyp`` box, or (old QuickTime) with a
    ``moov``, ``mdat``, ``wide`` or ``free`` box."""
    return len(data) >= 12 and data[4:8] in (b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip")


def _boxes(read, n: int) -> list[tuple[int, int, bytes]]:
    """``(start, size, type)`` of every top-level box, reading only their headers (``read(pos, k)``); a file
    that does not parse to its end is refused."""
    out, pos = [], 0
    while pos < n:
        if pos + 8 > n:
            raise BoxError(f"a box header is cut off at byte {pos}")
        size, kind = struct.unpack(">I4s", read(pos, 8))
        if size == 1:
            if pos + 16 > n:
                raise BoxError(f"a large box header is cut off at byte {pos}")
            size = struct.unpack(">Q", read(pos + 8, 8))[0]
        elif size == 0:
            size = n - pos
        if size < 8 or pos + size > n:
            raise BoxError(f"box {kind!r} at byte {pos} claims {size} bytes, beyond the end of the file")
        out.append((pos, size, kind))
        pos += size
    return out


def top_level_boxes(data: bytes) -> list[tuple[int, int, bytes]]:
    return _boxes(lambda pos, k: data[pos : pos + k], len(data))


def _xmp_boxes(read, boxes) -> list[tuple[int, int]]:
    return [
        (start, size)
        for start, size, kind in boxes
        if kind == b"uuid" and size >= 24 and read(start + 8, 16) == XMP_UUID
    ]


def read_xmp(data: bytes) -> str | None:
    """The XMP packet of the file's XMP ``uuid`` box (None without one)."""
    read = lambda pos, k: data[pos : pos + k]  # noqa: E731
    found = _xmp_boxes(read, top_level_boxes(data))
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


def _plan(read, n: int, props: dict[str, object]) -> tuple[list[tuple[int, bytes]], int, bytes]:
    """What writing ``props`` changes: byte patches ``(offset, bytes)``, where the file is cut, the box to append."""
    boxes = _boxes(read, n)
    old = _xmp_boxes(read, boxes)
    existing = read(old[-1][0] + 24, old[-1][1] - 24).decode("utf-8", "replace") if old else None
    packet = _packet(existing, props)
    box = struct.pack(">I4s", 24 + len(packet), b"uuid") + XMP_UUID + packet
    patches: list[tuple[int, bytes]] = []
    last_start, last_size, _ = boxes[-1]
    if read(last_start, 4) == b"\0\0\0\0":  # "to the end of the file": say its size, or it would swallow the box
        if last_size > 0xFFFFFFFF:
            raise BoxError("the last box runs to the end of the file and is too large to give a 32-bit size")
        patches.append((last_start, struct.pack(">I", last_size)))
    end = n
    for start, size in reversed(old):
        if start + size == end:  # the last box: cut it off, the new one takes its place
            end = start
        else:  # elsewhere: it becomes free space of the same size, so nothing after it moves
            patches.append((start + 4, b"free"))
    return [(at, b) for at, b in patches if at < end], end, box


def embed(data: bytes, props: dict[str, object]) -> bytes:
    """``data`` with ``props`` in its XMP ``uuid`` box (see the module docstring for where and why)."""
    patches, end, box = _plan(lambda pos, k: data[pos : pos + k], len(data), props)
    out = bytearray(data[:end])
    for at, b in patches:
        out[at : at + len(b)] = b
    return bytes(out) + box


def embed_file(source: Path, dest: Path, props: dict[str, object]) -> None:
    """:func:`embed` from file to file, streamed: only box headers and the old XMP packet are read into
    memory, the rest is copied in blocks (a video of many gigabytes is signed in constant memory)."""
    with open(source, "rb") as src:

        def read(pos: int, k: int) -> bytes:
            src.seek(pos)
            return src.read(k)

        n = os.fstat(src.fileno()).st_size
        patches, end, box = _plan(read, n, props)
        src.seek(0)
        with open(dest, "wb") as out:
            left = end
            while left > 0 and (block := src.read(min(left, 1 << 20))):
                out.write(block)
                left -= len(block)
            for at, b in patches:
                out.seek(at)
                out.write(b)
            out.seek(end)
            out.write(box)
