"""Archive and file-tree inputs: WebDataset tar shards, WARC files, plain folders."""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from fairtrain.core import safejson
from fairtrain.core.files import atomic_dir, atomic_file
from fairtrain.core.media import DOCUMENT_FORMATS, detect_media_type

from ._readers_base import (
    MAX_ITEM_BYTES,
    MAX_TEXT_BYTES,
    SHARD_ERRORS,
    VIDEO_HEAD_BYTES,
    Item,
    ReaderError,
    Shard,
    error_item,
    kept_rows,
    read_local,
)
from ._readers_tabular import list_files, rebatch_rows

_TEXT_EXTS = {"txt", "text", "md", "html", "htm", "xml", "rst", "tex", "srt", "lrc"}
_CAPTION_EXTS = ("txt", "caption", "text", "cap")
# WebDataset's own rule: the key is everything up to the first dot of the base name.
_KEY_EXT = re.compile(r"^((?:.*/|)[^./]+)\.([^/]*)$")


def _unsafe_name(name: str) -> str | None:
    """Why an archive member name must not be used as a path, or None."""
    p = PurePosixPath(name.replace("\\", "/"))
    if p.is_absolute() or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in p.parts:
        return "a path that climbs out with '..'"
    return None


def _gunzip(data: bytes, what: str, cap: int = MAX_ITEM_BYTES) -> bytes:
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as g:
        out = g.read(cap + 1)
    if len(out) > cap:
        raise ValueError(f"{what} decompresses to more than the {cap} bytes it may hold")
    return out


# A member's bytes, or (a video, when the caller gives a spool directory) the temporary file holding them.
_Members = list[tuple[tarfile.TarInfo, bytes | Path]]
_SPOOL_BLOCK = 1 << 20


@contextmanager
def _spool_dir(scratch: Path | None) -> Iterator[Path]:
    """A fresh directory for a shard's video members, under ``scratch`` (the run's own, see
    ``ShardRunner``) or the system's temporary directory; removed when the pass ends, however it ends (an
    exception, the generator closed or collected). A killed run leaves it under ``scratch``, which the
    next run of the job removes first."""
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch, prefix="webdataset-", ignore_cleanup_errors=True) as d:
        yield Path(d)


def _spool_member(f: Any, ti: tarfile.TarInfo, head: bytes, spool: Path, ext: str) -> Path:
    """Copy the member ``ti`` (``head`` already read from ``f``) to a new file in ``spool``, in 1 MiB blocks;
    a member cut short raises as reading it whole did, leaving no file behind."""
    fd, name = tempfile.mkstemp(dir=spool, suffix=f".{ext}" if ext.isalnum() else "")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(head)
            n = len(head)
            while n < ti.size and (block := f.read(min(_SPOOL_BLOCK, ti.size - n))):
                out.write(block)
                n += len(block)
        if n != ti.size:
            raise tarfile.ReadError(f"member {ti.name!r} is cut short ({n} of {ti.size} bytes)")
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return Path(name)


@dataclass(frozen=True, slots=True)
class _Refused:
    """A tar entry that is not an item: which part (``field``: a member name, or ``archive``) and why."""

    field: str
    reason: str


class _Tap:
    """The (decompressed) archive as tarfile reads it: notes where the last non-zero byte read at or after
    ``watch_from`` ends (an archive's end-of-archive blocks are zeros: anything else after the last member
    is damage), and refuses a single read larger than ``max_read`` (a pax or GNU long-name header claiming
    gigabytes, which tarfile would read into memory)."""

    def __init__(self, f: Any, max_read: int):
        self.f = f
        self.max_read = max_read
        self.watch_from = 0
        self.nonzero_end = 0

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self.max_read:
            raise tarfile.ReadError(f"a header or member asks for {n} bytes at once, more than {self.max_read}")
        pos = self.f.tell()
        data = self.f.read(n)
        if pos + len(data) > self.watch_from:  # headers and what follows the last member, not member data
            skip = max(0, self.watch_from - pos)
            if tail := data[skip:].rstrip(b"\0"):
                self.nonzero_end = max(self.nonzero_end, pos + skip + len(tail))
        return data

    def seek(self, pos: int, whence: int = 0) -> int:
        return self.f.seek(pos, whence)

    def tell(self) -> int:
        return self.f.tell()


def _decompressed(raw: Any) -> Any:
    """``raw`` itself, or a seekable decompressing view of it (gzip, bzip2, xz), by its first bytes."""
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(b"\x1f\x8b"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    if head.startswith(b"BZh"):
        return bz2.BZ2File(raw)
    if head.startswith(b"\xfd7zXZ\x00"):
        return lzma.LZMAFile(raw)
    return raw


def _tar_samples(path: Path, spool: Path | None = None) -> Iterator[tuple[int, str, _Members | _Refused]]:
    """``(row, key, members or why the entry is refused)``, grouping consecutive members by key.

    With ``spool``, a member that is a video (by its first bytes and name, as :meth:`WebDatasetReader._item`
    tells) is copied there in blocks and given as the file's path, never held in memory; the caller removes
    the files (the sizes and caps below are the same either way).

    Never raises for a damaged archive: the reading pass and the pass that writes the cleared output both
    meet the damage at the same entry, as a refused entry that ends the shard. ``ignore_zeros`` makes
    tarfile skip a damaged header block by block until the next good header instead of ending the
    archive silently; the gap is reported, and so are bytes after the last member that are not the
    end-of-archive zeros (an archive cut inside a header). A member, or a sample's members together, over
    :data:`MAX_ITEM_BYTES` is refused unread; headers claiming more are refused before tarfile reads them."""
    row = 0
    key: str | None = None
    members: _Members = []
    group_bytes = 0
    skip_key: str | None = None  # a refused sample's key: its further members are skipped unread
    expected = 0
    last = "the start of the archive"
    try:
        with open(path, "rb") as raw, _decompressed(raw) as plain:
            tap = _Tap(plain, MAX_ITEM_BYTES + tarfile.BLOCKSIZE)
            with tarfile.open(fileobj=tap, mode="r:", ignore_zeros=True) as tf:
                while (ti := tf.next()) is not None:
                    tf.members.clear()  # tarfile keeps every header it read; a shard may hold millions
                    if ti.offset > expected:
                        if key is not None:
                            yield row, key, members
                            row, key, members, group_bytes = row + 1, None, [], 0
                        skipped = ti.offset - expected
                        yield (
                            row,
                            ti.name,
                            _Refused("archive", f"{skipped} bytes of damaged tar data skipped before {ti.name!r}"),
                        )
                        row += 1
                    expected = ti.offset_data + -(-ti.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                    tap.watch_from, last = expected, repr(ti.name)
                    if ti.isdir():
                        continue
                    m = _KEY_EXT.match(ti.name)
                    mkey = m.group(1) if m else ti.name
                    if mkey == skip_key:
                        continue
                    skip_key = None
                    refused = _unsafe_name(ti.name)
                    if refused is None and not ti.isfile():
                        refused = "a link or special file, not a regular member"
                    if refused is None and ti.size > MAX_ITEM_BYTES:
                        refused = f"{ti.size} bytes, more than {MAX_ITEM_BYTES}"
                    if refused is None and ti.size > MAX_TEXT_BYTES and _is_text_member(ti.name):
                        refused = f"{ti.size} bytes of text, more than {MAX_TEXT_BYTES}"
                    if refused is None and mkey == key and group_bytes + ti.size > MAX_ITEM_BYTES:
                        yield (
                            row,
                            key,
                            _Refused(
                                ti.name,
                                f"sample {key!r} refused: its members hold more than {MAX_ITEM_BYTES} bytes together",
                            ),
                        )
                        row, key, members, group_bytes, skip_key = row + 1, None, [], 0, mkey
                        continue
                    if refused is not None or mkey != key:
                        if key is not None:
                            yield row, key, members
                            row, key, members, group_bytes = row + 1, None, [], 0
                    if refused is not None:
                        yield row, ti.name, _Refused(ti.name, f"member {ti.name!r} refused: {refused}")
                        row += 1
                        continue
                    f = tf.extractfile(ti)
                    data: bytes | Path = b""
                    if f is not None:
                        data = f.read(min(ti.size, VIDEO_HEAD_BYTES) if spool is not None else ti.size)
                        suffix = _member_ext(ti).rsplit(".", 1)[-1].lower()
                        if spool is None or len(data) == ti.size:
                            pass  # whole already (small, or not spooling)
                        elif detect_media_type(data[:4096], f"x.{suffix}") == "video":
                            data = _spool_member(f, ti, data, spool, suffix)
                        else:
                            data += f.read(ti.size - len(data))
                    if not isinstance(data, Path) and len(data) != ti.size:
                        raise tarfile.ReadError(f"member {ti.name!r} is cut short ({len(data)} of {ti.size} bytes)")
                    key, group_bytes = mkey, group_bytes + ti.size
                    members.append((ti, data))
                if tap.nonzero_end > expected:
                    raise tarfile.ReadError(
                        f"{tap.nonzero_end - expected} bytes after {last} are neither a "
                        "member nor the end of the archive (cut inside a header?)"
                    )
    except SHARD_ERRORS as e:
        if key is not None:
            yield row, key, members
            row += 1
        yield (
            row,
            f"@{expected}",
            _Refused("archive", f"shard unreadable from row {row} on: after {last}: {e or type(e).__name__}"),
        )
        return
    if key is not None:
        yield row, key, members


def _is_text_member(name: str) -> bool:
    last = name.rsplit(".", 1)[-1].lower()
    return last in _TEXT_EXTS or last in _CAPTION_EXTS or last == "json"


def _member_ext(ti: tarfile.TarInfo) -> str:
    m = _KEY_EXT.match(ti.name)
    return m.group(2) if m else ""


class WebDatasetReader:
    """WebDataset tar shards (plain or gzip): one item per key (``000001.jpg`` + ``000001.txt`` + …).

    ``data`` is the first image or audio member (else the first text member), ``text`` the caption
    (``.txt``), ``url`` the ``url`` of the ``.json`` member; ``record`` is the sample as WebDataset gives
    it: ``{"__key__": key, ext: bytes, …}``. ``.gz`` members are decompressed for ``data``.

    A video member is never held in memory: it is copied in blocks to a temporary file under ``scratch``
    (the run's directory, given by ``ShardRunner``; else the system's temporary directory) and the item's
    ``data`` (and its ``record`` entry) is that file's path, as for a video in a folder. The file lives until
    the batch holding its item is done; the directory goes when the shard's pass ends, however it ends.
    ``spool_video = False`` reads them into memory instead, as before (the tests compare the two)."""

    format = "webdataset"
    suffixes = (".tar", ".tgz", ".tar.gz")
    spool_video = True

    def __init__(self, scratch: str | Path | None = None):
        self.scratch = Path(scratch) if scratch is not None else None

    def shards(self, input_path: str | Path) -> list[Shard]:
        return [Shard(sid, str(p), p.stat().st_size) for sid, p in list_files(input_path, self.suffixes)]

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        def items(spool: Path | None) -> Iterator[Item]:
            for row, key, members in _tar_samples(Path(shard.path), spool):
                if isinstance(members, _Refused):
                    yield error_item(shard, row, members.reason, item=f"{shard.id}:{key}", field=members.field)
                else:
                    item = self._item(shard, row, key, members)
                    for _ti, data in members:  # a second video of the sample, or one of an error item
                        if isinstance(data, Path) and data != item.data:
                            data.unlink(missing_ok=True)
                    yield item

        if not self.spool_video:
            return rebatch_rows(shard, items(None), batch_size)

        def batches() -> Iterator[list[Item]]:
            with _spool_dir(self.scratch) as spool:
                for batch in rebatch_rows(shard, items(spool), batch_size):
                    yield batch
                    for it in batch:  # the batch is done: its videos' files go
                        if isinstance(it.data, Path):
                            it.data.unlink(missing_ok=True)

        return batches()

    @staticmethod
    def _item(shard: Shard, row: int, key: str, members: _Members) -> Item:
        record: dict[str, Any] = {"__key__": key}
        item = Item(item=f"{shard.id}:{key}", shard=shard.id, row=row, record=record)
        media: list[tuple[str, str | None, bytes | Path]] = []
        budget = MAX_ITEM_BYTES  # the sample's bytes, decompressed members counted as decompressed
        for ti, raw in members:
            ext = _member_ext(ti)
            record[ext] = raw
            plain_ext = ext[:-3] if ext.endswith(".gz") else ext
            if isinstance(raw, Path):  # a video member, spooled to a file: FFmpeg reads it by its path
                budget -= ti.size
                media.append((plain_ext.rsplit(".", 1)[-1].lower(), "video", raw))
                continue
            try:
                cap = min(budget, MAX_TEXT_BYTES) if _is_text_member(ti.name[:-3]) else budget
                data = _gunzip(raw, ti.name, cap) if ext.endswith(".gz") else raw
            except (OSError, EOFError, ValueError) as e:
                item.error, item.error_field = f"member {ti.name!r} is not valid gzip: {e}", ti.name
                return item
            budget -= len(data)
            last = plain_ext.rsplit(".", 1)[-1].lower()
            kind = detect_media_type(data[:4096], f"x.{last}")
            media.append((last, kind, data))
            if last == "json" and item.url is None:
                try:
                    meta = safejson.loads(data)
                    if isinstance(meta, dict) and isinstance(meta.get("url"), str):
                        item.url = meta["url"]
                except safejson.JsonTooDeep as e:
                    item.error, item.error_field = f"sidecar {ti.name!r} refused: {e}", ti.name
                    return item
                except ValueError:
                    pass  # a sidecar we cannot read does not make the sample unreadable
        primary = next((m for m in media if m[1] in ("image", "audio", "video")), None)
        if primary is None:
            primary = next((m for m in media if m[0] in _TEXT_EXTS and m[1] == "text"), None)
        if primary is None:  # a document (HWP, DOCX, PDF, …): the text modality extracts its text
            primary = next((m for m in media if m[0] in DOCUMENT_FORMATS and m[1] == "text"), None)
        if primary is not None:
            item.data, item.media_type = primary[2], primary[1]
            if primary[1] == "text" and primary[0] not in DOCUMENT_FORMATS and isinstance(primary[2], bytes):
                item.text = primary[2].decode("utf-8", "replace")
        if item.media_type != "text":
            cap = next((m for m in media if m[0] in _CAPTION_EXTS), None)
            if cap is not None and isinstance(cap[2], bytes):
                item.text = cap[2].decode("utf-8", "replace")
        return item

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        keep = kept_rows(shard, items_kept)
        with open(shard.path, "rb") as f:
            gz = f.read(2) == b"\x1f\x8b"
        written = 0
        with _spool_dir(self.scratch) as spool, atomic_file(out_path) as tmp:
            with tarfile.open(tmp, "w:gz" if gz else "w", format=tarfile.PAX_FORMAT) as out:
                for row, _key, members in _tar_samples(Path(shard.path), spool if self.spool_video else None):
                    if isinstance(members, _Refused):
                        continue
                    if row in keep:
                        for ti, data in members:
                            if isinstance(data, Path):
                                with open(data, "rb") as f:
                                    out.addfile(ti, f)
                            else:
                                out.addfile(ti, io.BytesIO(data))
                        written += 1
                    for _ti, data in members:
                        if isinstance(data, Path):
                            data.unlink(missing_ok=True)
        return written


_WARCIO_PIN = "warcio==1.8.1"


def _warc() -> Any:
    try:
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed
    except ImportError as e:
        raise ReaderError("warc", f"reading WARC needs the warcio package: pip install {_WARCIO_PIN}") from e
    return ArchiveIterator, ArchiveLoadFailed


_ITEM_RECORDS = ("response", "resource", "revisit")


def _warc_records(path: Path, with_payload: bool) -> Iterator[dict[str, Any]]:
    """Every record: its type, ids, offset and length in the file, and (for items) the payload.

    Never raises for a damaged file: where records cannot be read any more (junk between records, a cut
    gzip member), one last entry of type ``None`` says why and where, so the reading pass and the pass
    that writes the cleared output stop at the same record. A record shorter than its Content-Length
    carries an ``error`` instead of a payload hashed from the part that is there."""
    archive_iterator, load_failed = _warc()
    with open(path, "rb") as f:
        it = archive_iterator(f)
        try:
            for rec in it:
                h = rec.rec_headers
                info: dict[str, Any] = {
                    "type": rec.rec_type,
                    "id": h.get_header("WARC-Record-ID"),
                    "uri": h.get_header("WARC-Target-URI"),
                    "date": h.get_header("WARC-Date"),
                    "concurrent_to": h.get_header("WARC-Concurrent-To"),
                    "refers_to": h.get_header("WARC-Refers-To"),
                }
                if with_payload and rec.rec_type in _ITEM_RECORDS:
                    if rec.http_headers is not None:
                        info["http_status"] = rec.http_headers.get_statuscode()
                        info["content_type"] = rec.http_headers.get_header("Content-Type")
                    else:
                        info["content_type"] = h.get_header("Content-Type")
                    cap = (
                        MAX_TEXT_BYTES
                        if _media_from_content_type(info["content_type"])[0] == "text"
                        else MAX_ITEM_BYTES
                    )
                    try:
                        payload = rec.content_stream().read(cap + 1)
                        info["payload"] = payload if len(payload) <= cap else None
                        if info["payload"] is None:
                            info["error"] = f"payload larger than {cap} bytes"
                    except (OSError, EOFError, ValueError) as e:  # a bad chunked or gzip body
                        info["payload"], info["error"] = None, f"payload unreadable: {e}"
                it.read_to_end()
                missing = getattr(rec.raw_stream, "limit", 0)
                if missing > 0:  # the file ended inside the record
                    info["payload"] = None
                    info["error"] = (
                        f"record cut short: {missing} of its {h.get_header('Content-Length')} bytes are missing"
                    )
                info["offset"] = it.get_record_offset()
                yield info
        except (load_failed, *SHARD_ERRORS) as e:
            yield {"type": None, "offset": it.offset, "error": f"WARC unreadable from byte {it.offset} on: {e}"}


def _media_from_content_type(ct: str | None) -> tuple[str | None, str]:
    if not ct:
        return None, "utf-8"
    main, _, params = ct.partition(";")
    main = main.strip().lower()
    m = re.search(r"charset\s*=\s*\"?([\w.:-]+)", params, re.I)
    charset = m.group(1) if m else "utf-8"
    if main.startswith("text/") or main in ("application/xhtml+xml", "application/xml"):
        return "text", charset
    if main.startswith("image/"):
        return "image", charset
    if main.startswith("audio/"):
        return "audio", charset
    return None, charset


class WarcReader:
    """WARC files (``.warc``, ``.warc.gz``): response, resource and revisit records are items (target URI,
    HTTP payload); the cleared shard keeps warcinfo records and the request/metadata records that belong
    to a kept item, all copied byte for byte."""

    format = "warc"
    suffixes = (".warc", ".warc.gz", ".arc", ".arc.gz")

    def shards(self, input_path: str | Path) -> list[Shard]:
        _warc()
        return [Shard(sid, str(p), p.stat().st_size) for sid, p in list_files(input_path, self.suffixes)]

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        def items() -> Iterator[Item]:
            row = 0
            for info in _warc_records(Path(shard.path), with_payload=True):
                if info["type"] is None:
                    yield error_item(
                        shard, row, f"shard unreadable from row {row} on: {info['error']}", field="archive"
                    )
                    return
                if info["type"] not in _ITEM_RECORDS:
                    continue
                payload = info.pop("payload", None)
                err = info.pop("error", None)
                del info["offset"]
                record = {k: v for k, v in info.items() if v is not None}
                item = Item(
                    item=f"{shard.id}:{row}",
                    shard=shard.id,
                    row=row,
                    url=info["uri"],
                    record=record,
                    error=err,
                    error_field="payload" if err else None,
                )
                if payload is not None and info["type"] != "revisit":
                    item.data = payload
                    by_type, charset = _media_from_content_type(info.get("content_type"))
                    name = PurePosixPath((info["uri"] or "").split("?")[0]).name
                    item.media_type = by_type or detect_media_type(payload[:4096], name)
                    if item.media_type == "text":
                        try:
                            item.text = payload.decode(charset, "replace")
                        except LookupError:
                            item.text = payload.decode("utf-8", "replace")
                yield item
                row += 1

        return rebatch_rows(shard, items(), batch_size)

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        keep = kept_rows(shard, items_kept)
        records = list(_warc_records(Path(shard.path), with_payload=False))  # headers only: small
        # A record's bytes run to the next record (or to the damage that ends the file's readable part):
        # warcio's record length leaves out the CRLFCRLF that ends an uncompressed record.
        ends = [r["offset"] for r in records[1:]] + [Path(shard.path).stat().st_size]
        if records and records[-1]["type"] is None:
            records.pop()
            ends.pop()
        kept_ids, kept_uris, row, ranges = set(), set(), 0, []
        for info in records:
            if info["type"] in _ITEM_RECORDS:
                info["row"] = row
                if row in keep:
                    kept_ids.add(info["id"])
                    kept_uris.add(info["uri"])
                row += 1
        for info, end in zip(records, ends):
            if info["type"] in _ITEM_RECORDS:
                wanted = info["row"] in keep
            elif info["type"] == "warcinfo":
                wanted = True
            else:
                linked = info["concurrent_to"] or info["refers_to"]
                wanted = linked in kept_ids if linked else info["uri"] in kept_uris
            if wanted:
                ranges.append((info["offset"], end - info["offset"]))
        with atomic_file(out_path) as tmp, open(shard.path, "rb") as src, open(tmp, "wb") as out:
            for offset, length in ranges:
                src.seek(offset)
                out.write(src.read(length))
        return len(keep & set(range(row)))


class FolderReader:
    """Every file under a directory; one shard per directory (its own files, not its subdirectories).

    Symbolic links are followed only while they stay inside the input root; a link leaving it, a broken
    link, a FIFO or device (which could block the reader) becomes an error item."""

    format = "folder"

    def shards(self, input_path: str | Path) -> list[Shard]:
        root = Path(input_path)
        if not root.is_dir():
            raise ReaderError(str(input_path), "not a directory")
        out = []
        for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
            dirnames.sort()
            d = Path(dirpath)
            links = [n for n in dirnames if (d / n).is_symlink()]
            if not filenames and not links:
                continue
            size = sum((d / n).lstat().st_size for n in filenames)
            rel = d.relative_to(root).as_posix()
            out.append(Shard(rel, str(d), size))
        return out

    @staticmethod
    def _root(shard: Shard) -> Path:
        root = Path(shard.path)
        for _ in PurePosixPath(shard.id).parts if shard.id != "." else ():
            root = root.parent
        return root

    def _entries(self, shard: Shard) -> Iterator[tuple[int, str, Path | str]]:
        """``(row, path relative to the root, file to read or the reason it is refused)``."""
        d, root = Path(shard.path), self._root(shard)
        real_root = root.resolve()
        row = 0
        for name in sorted(os.listdir(d)):
            p = d / name
            rel = p.relative_to(root).as_posix()
            st = p.lstat()
            if stat.S_ISDIR(st.st_mode):
                continue
            reason: str | None = None
            target = p
            if stat.S_ISLNK(st.st_mode):
                target = p.resolve()
                if not target.is_relative_to(real_root):
                    reason = f"symlink leaves the input root (-> {os.readlink(p)})"
                elif not target.exists():
                    reason = f"symlink target is missing (-> {os.readlink(p)})"
                elif target.is_dir():
                    continue  # its files are read where they really are
            if reason is None and not target.is_file():
                reason = "not a regular file (FIFO, socket or device)"
            yield row, rel, reason if reason is not None else target
            row += 1

    def read(self, shard: Shard, batch_size: int) -> Iterator[list[Item]]:
        def items() -> Iterator[Item]:
            for row, rel, target in self._entries(shard):
                if isinstance(target, str):
                    yield error_item(shard, row, target, item=rel, record={"path": rel}, field="file")
                    continue
                item = Item(item=rel, shard=shard.id, row=row, record={"path": rel})
                data, why = read_local(target, rel)  # refuses by size after its first 8 KiB; a video stays a path
                if data is None:
                    item.error, item.error_field = why, "file"
                    yield item
                    continue
                item.data = data
                if isinstance(data, Path):  # a video, by its path
                    item.record["size"], item.media_type = target.stat().st_size, "video"
                    yield item
                    continue
                item.record["size"] = len(data)
                item.media_type = detect_media_type(data[:4096], rel)
                if item.media_type == "text":
                    try:
                        item.text = data.decode("utf-8")
                    except UnicodeDecodeError:
                        pass  # text by name but not UTF-8: the bytes are still the content
                yield item

        return rebatch_rows(shard, items(), batch_size)

    def write_cleared(self, shard: Shard, items_kept: Iterable[Item], out_path: str | Path) -> int:
        """``out_path`` is the shard's output directory; kept files are copied into it under their names."""
        keep = kept_rows(shard, items_kept)
        written = 0
        with atomic_dir(out_path) as tmp:
            for row, rel, target in self._entries(shard):
                if row in keep and not isinstance(target, str):
                    shutil.copy2(target, tmp / PurePosixPath(rel).name)
                    written += 1
        return written
