"""Which modality a file is: text, image, audio or video, by its first bytes, then by its name."""

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
    # not "ts": TypeScript sources share it; MPEG-TS is recognised by its sync bytes
    **dict.fromkeys(("mp4", "m4v", "mkv", "webm", "mov", "m2ts", "mts", "avi", "mpg", "mpeg"), "video"),
}
MEDIA_TYPES = ("text", "image", "audio", "video")
# ISO base media major brands of audio-only and still-image files; any other ``ftyp`` (isom, mp41, mp42,
# avc1, qt, 3gp…) is video.
_AUDIO_BRANDS = (b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B ")
_IMAGE_BRANDS = (b"avif", b"avis", b"heic", b"heix", b"mif1", b"msf1", b"heif")


def _video(head: bytes) -> bool:
    if head[4:8] == b"ftyp":  # MP4, MOV, 3GP
        return head[8:12] not in _AUDIO_BRANDS + _IMAGE_BRANDS
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
    if head[4:8] == b"ftyp" and (head[8:12] in _AUDIO_BRANDS or name.lower().endswith((".m4a", ".aac"))):
        return "audio"
    if _video(head):
        return "video"
    if head.startswith(_AUDIO_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WAVE"):
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
