"""Which modality a file is: text, image, audio or video, by its first bytes, then by its name.

Documents whose text ``core.extract`` reads (HWP, HWPX, DOCX, ODT, EPUB, PDF, RTF) are text; which of
them a file is, :func:`document_format` tells from the same first bytes.
"""

from __future__ import annotations

from pathlib import PurePath

_IMAGE_MAGIC = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",
    b"II*\x00",  # TIFF
    b"MM\x00*",
)
_AUDIO_MAGIC = (b"ID3", b"fLaC", b"OggS", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
# ISO base media (``ftyp`` box) brands: HEIF/HEIC/AVIF still images, and MPEG-4 audio (M4A/M4B, AAC).
_HEIF_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis")
_M4A_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_ADTS_AAC = (b"\xff\xf1", b"\xff\xf9")  # raw AAC in ADTS frames (.aac)
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # OLE2 compound file: HWP 5, or an encrypted Office file
DOCUMENT_FORMATS = ("hwp", "hwpx", "docx", "odt", "epub", "pdf", "rtf")
_ZIP_MIMETYPES = {
    b"application/hwp+zip": "hwpx",
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/epub+zip": "epub",
}
_EXT = {
    **dict.fromkeys(("txt", "md", "html", "htm", "xml", "json", "csv", "rst", "tex", "srt", "lrc"), "text"),
    **dict.fromkeys(("markdown", "xhtml", *DOCUMENT_FORMATS), "text"),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "avif", "heic"), "image"),
    **dict.fromkeys(("heif", "hif"), "image"),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "aac", "aiff", "aif", "wma"), "audio"),
    # not "ts": TypeScript sources share it; MPEG-TS is recognised by its sync bytes
    **dict.fromkeys(("mp4", "m4v", "mkv", "webm", "mov", "m2ts", "mts", "avi", "mpg", "mpeg"), "video"),
}
MEDIA_TYPES = ("text", "image", "audio", "video")


def _video(head: bytes) -> bool:
    """MP4/MOV/3GP (an ``ftyp`` whose brand is neither audio-only nor a still image), Matroska/WebM, AVI,
    QuickTime without ``ftyp``, MPEG-TS and MPEG program streams."""
    if head[4:8] == b"ftyp":
        return head[8:12] not in _M4A_BRANDS + _HEIF_BRANDS + (b"heif",)
    if head.startswith(b"\x1a\x45\xdf\xa3"):  # EBML: Matroska and WebM
        return True
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return True
    if head[4:12] in (b"moov\x00\x00\x00", b"mdat\x00\x00\x00") or head[4:8] in (b"moov", b"wide", b"mdat"):
        return True  # QuickTime without ftyp
    # MPEG-TS: 188-byte packets, each starting with the 0x47 sync byte
    if len(head) >= 188 * 3 and all(head[i] == 0x47 for i in (0, 188, 376)):
        return True
    return head.startswith(b"\x00\x00\x01\xba")  # MPEG program stream


def detect_media_type(head: bytes, name: str = "") -> str | None:
    """``"text"``, ``"image"``, ``"audio"``, ``"video"``, or None when neither the bytes nor the name tell."""
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if (
        head.startswith(_AUDIO_MAGIC)
        or (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
        or head[4:8] == b"ftyp"
        and (name.lower().endswith((".m4a", ".aac")))
    ):
        return "audio"
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return "image"
    if (head[4:8] == b"ftyp" and head[8:12] in _M4A_BRANDS) or head.startswith(_ADTS_AAC):
        return "audio"
    if _video(head):
        return "video"
    if document_format(head, name) is not None:
        return "text"
    ext = PurePath(name).suffix.lower().lstrip(".")
    if ext in _EXT:
        return _EXT[ext]
    if head and b"\x00" not in head[:4096]:
        try:
            head[:4096].decode("utf-8")
        except UnicodeDecodeError as e:
            if e.start < len(head[:4096]) - 4:  # a cut multi-byte sequence at the end is fine
                return None
        return "text"
    return None


def document_format(head: bytes, name: str = "") -> str | None:
    """``"hwp"``, ``"hwpx"``, ``"docx"``, ``"odt"``, ``"epub"``, ``"pdf"``, ``"rtf"``, or None, from the first
    bytes (the name decides only between containers the bytes leave open). Plain text costs one look at
    the first bytes."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    if head.startswith(OLE_MAGIC):
        # HWP 5 keeps a FileHeader stream (its directory entry is near the start); Office keeps a password-
        # protected .docx as an EncryptedPackage stream. Other OLE2 files (.doc, .xls, .msi) are neither.
        ext = _ext(name)
        if "FileHeader".encode("utf-16-le") in head or ext == "hwp":
            return "hwp"
        if "EncryptedPackage".encode("utf-16-le") in head and ext in ("docx", ""):
            return "docx"
        return None
    if head.startswith(b"HWP Document File V3"):
        return "hwp"  # HWP 3: recognised so that it is refused with a reason, not as an unknown file
    if head.startswith(b"PK\x03\x04") and len(head) >= 30:
        # OCF/ODF/OWPML put an uncompressed "mimetype" member first; OOXML starts with [Content_Types].xml.
        name_len, extra_len = int.from_bytes(head[26:28], "little"), int.from_bytes(head[28:30], "little")
        first = head[30 : 30 + name_len]
        if first == b"mimetype":
            start = 30 + name_len + extra_len
            body = head[start : start + int.from_bytes(head[18:22], "little")].strip()
            return _ZIP_MIMETYPES.get(body)
        if (ext := _ext(name)) in ("docx", "hwpx", "odt", "epub"):
            return ext
        if first == b"[Content_Types].xml" and b"word/" in head:
            return "docx"
    return None


def media_type_by_name(name: str) -> str | None:
    """What a file's name alone says it is (``.ts`` says nothing: TypeScript shares it with MPEG-TS)."""
    return _EXT.get(_ext(name))


def _ext(name: str) -> str:
    return PurePath(name).suffix.lower().lstrip(".")
