"""What every dataset reader shares: the Item and Shard types, column roles, atomic output."""

from __future__ import annotations

import functools
import stat
import tarfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fairtrain.core.errors import ItemError
from fairtrain.core.media import DOCUMENT_FORMATS, detect_media_type

# Failures that end the reading of one shard early: the shard gets an error item, the job goes on.
SHARD_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, tarfile.TarError, zlib.error)
try:
    import pyarrow as _pa

    SHARD_ERRORS += (_pa.ArrowException,)
except ImportError:  # pragma: no cover - pyarrow is a dependency
    pass


# One item (a file, an archive member, a payload, all members of a WebDataset sample together) bigger
# than this is refused rather than read into memory; gzip members are cut off at it, which also stops
# decompression bombs.
MAX_ITEM_BYTES = 256 << 20
VIDEO_HEAD_BYTES = 8192  # the first bytes that tell a local file is a video (kept as its path, any size)
# Text is held once as bytes and once decoded, and fingerprinting it takes about 35 times its size (8 MiB:
# 280 MB, 3 s): a text item larger than this is an error, refused before it is read where the size is known.
MAX_TEXT_BYTES = 8 << 20
# One line of a JSONL or CSV file longer than this is refused without being held: a row's parsed form
# takes several times its bytes (a JSON line of empty objects about twenty times).
MAX_LINE_BYTES = 16 << 20


class ReaderError(ItemError):
    """A dataset input (a path, a shard, a format) could not be read; names the item and the reason."""


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Shard:
    """One unit of work: a file, or one row group of a big Parquet file. One output shard per input shard."""

    id: str  # stable: the path relative to the input; ``path#rowgroup-k``; ``.`` for a root folder
    path: str
    size_hint: int  # bytes, to balance work across executors
    row_group: int | None = None  # the Parquet row group this shard covers, None for the whole file


@dataclass(slots=True)
class Item:
    """One row, sample, file or record of the input, as the clearance steps see it."""

    item: str  # stable identifier: ``<shard>:<row>``, ``<shard>:<key>`` or a relative path
    shard: str
    row: int  # position in the shard; write_cleared selects rows by it
    url: str | None = None
    data: bytes | Path | None = None  # the content, when it is local: a video's is its file's path (never read whole)
    text: str | None = None  # the row's text: the content of a text row, the caption of an image row
    media_type: str | None = None  # "text" | "image" | "audio" | "video" when known
    error: str | None = None  # why the item could not be read; the shard goes on
    record: dict[str, Any] = field(default_factory=dict)  # the input's own columns for this row
    error_field: str | None = None  # which part of the item ``error`` is about: a column, member, line, …

    @property
    def content(self) -> bytes | None:
        """The bytes to fingerprint: the local data, else the text as UTF-8."""
        if self.data is not None:
            return self.data
        return self.text.encode("utf-8") if self.text is not None else None


def error_item(
    shard: Shard, row: int, reason: str, item: str | None = None, record: dict | None = None, field: str | None = None
) -> Item:
    """An item that could not be read: which (``item``), what part of it (``field``) and why (``reason``)."""
    return Item(
        item=item or f"{shard.id}:{row}", shard=shard.id, row=row, error=reason, record=record or {}, error_field=field
    )


def batched(items: Iterable[T], batch_size: int) -> Iterator[list[T]]:
    if batch_size < 1:
        raise ReaderError("batch_size", f"must be at least 1, got {batch_size}")
    batch: list[T] = []
    for it in items:
        batch.append(it)
        if len(batch) >= batch_size:
            yield batch
            batch = []
    if batch:
        yield batch


def kept_rows(shard: Shard, items_kept: Iterable[Item]) -> set[int]:
    rows = set()
    for it in items_kept:
        if it.shard != shard.id:
            raise ReaderError(it.item, f"belongs to shard {it.shard!r}, not {shard.id!r}")
        rows.add(it.row)
    return rows


# Column roles. Names are matched exactly: LAION/img2dataset manifests call the caption ``TEXT`` (or
# ``caption``/``txt``), while text corpora (C4, FineWeb, Dolma) call the content ``text``.
_URL_NAMES = ("url", "URL", "image_url", "img_url", "source_url", "link")
_PATH_NAMES = (
    "path",
    "image_path",
    "audio_path",
    "video_path",
    "filepath",
    "file_path",
    "file",
    "filename",
    "file_name",
)
_DATA_NAMES = (
    "jpg",
    "jpeg",
    "png",
    "webp",
    "image",
    "img",
    "audio",
    "mp3",
    "wav",
    "flac",
    "video",
    "mp4",
    "bytes",
    "data",
)
_CAPTION_NAMES = ("caption", "TEXT", "txt", "alt", "alt_text", "Caption")
_CONTENT_NAMES = ("text", "content", "body", "raw_content")


@dataclass(frozen=True, slots=True)
class Columns:
    """Which input column plays which role; any of them may be absent."""

    url: str | None = None
    path: str | None = None
    data: str | None = None
    text: str | None = None
    text_is_caption: bool = False  # the text describes the URL's or data's media rather than being the work

    @classmethod
    def infer(
        cls, names: Iterable[str], binary: Iterable[str] = (), override: Mapping[str, str] | None = None
    ) -> Columns:
        """Roles from column names; ``binary`` lists the columns that hold bytes; ``override`` wins."""
        names = list(names)
        binary = [n for n in names if n in set(binary)]
        override = dict(override or {})
        unknown = set(override) - {"url", "path", "data", "text", "caption"}
        if unknown:
            raise ReaderError("columns", f"unknown roles {sorted(unknown)}; known: url, path, data, text, caption")
        for role, col in override.items():
            if col not in names:
                raise ReaderError("columns", f"{role}={col!r} is not a column (columns: {names})")

        def first(candidates: Iterable[str], pool: list[str]) -> str | None:
            return next((c for c in candidates if c in pool), None)

        data = override.get("data") or first(_DATA_NAMES, binary) or (binary[0] if binary else None)
        if "caption" in override:
            text, caption = override["caption"], True
        elif "text" in override:
            text, caption = override["text"], False
        elif c := first(_CAPTION_NAMES, names):
            text, caption = c, True
        else:
            text, caption = first(_CONTENT_NAMES, names), False
        return cls(
            url=override.get("url") or first(_URL_NAMES, names),
            path=override.get("path") or first(_PATH_NAMES, names),
            data=data,
            text=text,
            text_is_caption=caption,
        )


def _as_bytes(v: Any) -> bytes | None:
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, Mapping) and isinstance(v.get("bytes"), (bytes, bytearray)):  # HF Image/Audio features
        return bytes(v["bytes"])
    return None


def item_from_record(shard: Shard, row: int, record: dict[str, Any], cols: Columns, base_dir: Path | None) -> Item:
    """An Item from one tabular row: URL, text, and the content from a bytes column or a local path.

    A role column holding a value of the wrong type (a number where the URL or text should be) makes the
    row an error naming the column, not a row that silently has no URL or text."""
    url = record.get(cols.url) if cols.url else None
    text = record.get(cols.text) if cols.text else None
    local = record.get(cols.path) if cols.path else None
    for col, v in ((cols.url, url), (cols.text, text), (cols.path, local)):
        if v is not None and not isinstance(v, str):
            return Item(
                f"{shard.id}:{row}",
                shard.id,
                row,
                error=f"column {col!r} holds {type(v).__name__}, not a string",
                record=record,
                error_field=col,
            )
    url = url or None
    value = record.get(cols.data) if cols.data else None
    if value is None and not local:  # a manifest or text row, the common case: no content to load
        media = "text" if text is not None and not cols.text_is_caption else _media_of_url(url, cols)
        return Item(f"{shard.id}:{row}", shard.id, row, url, None, text, media, None, record)
    item = Item(f"{shard.id}:{row}", shard.id, row, url, None, text, record=record)
    name = ""
    if isinstance(value, dict):  # HF Image/Audio: {"bytes": …, "path": …}; bytes may be absent
        name = value.get("path") or ""
        if value.get("bytes") is None:
            value, local = None, value.get("path") or local
    if value is not None:
        item.data = _as_bytes(value)
        if item.data is None:
            item.error, item.error_field = f"column {cols.data!r} holds {type(value).__name__}, not bytes", cols.data
            return item
    elif isinstance(local, str) and local:
        name = local
        item.data, item.error = read_local(
            Path(local) if Path(local).is_absolute() or base_dir is None else base_dir / local, local
        )
        if item.error:
            item.error_field = cols.path
            return item
    if isinstance(item.data, Path):
        item.media_type = "video"  # read_local keeps a video as its path
    elif item.data is not None:
        item.media_type = detect_media_type(item.data[:4096], name)
    elif text is not None and not cols.text_is_caption:
        item.media_type = "text"
    else:
        item.media_type = _media_of_url(url, cols)
    return item


def read_local(path: Path, name: str) -> tuple[bytes | Path | None, str | None]:
    """``(bytes, None)`` or ``(None, why not)``; never opens a FIFO or device, which could block. A file over
    :data:`MAX_ITEM_BYTES` (:data:`MAX_TEXT_BYTES` for text by its name) is refused by its size, unread.
    A video (by its first bytes) is ``(path, None)`` whatever its size: FFmpeg decodes it from the file and
    its hash is taken in blocks, so it is never held in memory."""
    # a document (PDF, HWP, DOCX, …) is bigger than its text: core.extract caps what it unpacks
    is_text = detect_media_type(b"", name) == "text" and name.rpartition(".")[2].lower() not in DOCUMENT_FORMATS
    cap = MAX_TEXT_BYTES if is_text else MAX_ITEM_BYTES
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return None, f"local file {name!r} is not a regular file"
        with open(path, "rb") as f:
            head = f.read(VIDEO_HEAD_BYTES)
            if not is_text and detect_media_type(head, name) == "video":
                return path, None
            if st.st_size > cap:  # before the rest is read: a sparse 10 GB file costs nothing
                return None, f"local file {name!r} is larger than {cap} bytes ({st.st_size})"
            data = head + f.read(cap + 1 - len(head))  # it may have grown since
        if len(data) > cap:
            return None, f"local file {name!r} is larger than {cap} bytes"
        return data, None
    except FileNotFoundError:
        return None, f"local file {name!r} is missing"
    except OSError as e:
        return None, f"local file {name!r} is unreadable: {e.strerror or e}"


@functools.lru_cache(maxsize=1024)
def _media_of_ext(ext: str) -> str | None:
    # per extension, not per row: parsing every URL with urlsplit and PurePath took 2/3 of a manifest read
    return detect_media_type(b"", f"x.{ext}")


def _media_of_url(url: str | None, cols: Columns) -> str | None:
    if not url:
        return None
    name = url.split("#", 1)[0].split("?", 1)[0].rsplit("/", 1)[-1]
    by_name = _media_of_ext(name.rpartition(".")[2].lower()) if "." in name else None
    if by_name is None and cols.text_is_caption:
        return "image"  # an image-text manifest (LAION, CC, img2dataset) whose URL has no telling suffix
    return by_name
