"""Which modality a file is: text, image or audio, by its first bytes, then by its name."""

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
_EXT = {
    **dict.fromkeys(("txt", "md", "html", "htm", "xml", "json", "csv", "rst", "tex", "srt", "lrc"), "text"),
    **dict.fromkeys(("jpg", "jpeg", "png", "gif", "bmp", "tif", "tiff", "webp", "avif", "heic"), "image"),
    **dict.fromkeys(("wav", "mp3", "flac", "ogg", "oga", "opus", "m4a", "aac", "aiff", "aif", "wma"), "audio"),
}
MEDIA_TYPES = ("text", "image", "audio")


def detect_media_type(head: bytes, name: str = "") -> str | None:
    """``"text"``, ``"image"``, ``"audio"``, or None when neither the bytes nor the name tell."""
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return "image"
    if head.startswith(_AUDIO_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WAVE") or head[4:8] == b"ftyp" and (
        name.lower().endswith((".m4a", ".aac"))
    ):
        return "audio"
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
