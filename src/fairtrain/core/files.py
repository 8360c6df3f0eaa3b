"""Writing files so that a reader sees the old content or the new, never half of either; reading a file
that a sheet names only when it is a regular file inside the folder it is confined to."""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from fairtrain.core.errors import ItemError


class FileRefused(ItemError):
    """A named file that is not read: outside its folder, not a regular file, too large or unreadable."""


def _open_confined(root: str | os.PathLike, name: str, max_bytes: int) -> tuple[Path, int, int]:
    """``(path, fd, size)`` of the regular file ``name`` inside ``root``, checked as :func:`read_confined` says."""
    base = Path(root).resolve()
    try:
        path = (base / name).resolve()
    except (OSError, RuntimeError) as e:  # a link loop
        raise FileRefused(name, f"cannot resolve the path ({e})") from None
    if not path.is_relative_to(base):
        raise FileRefused(name, f"outside the files folder {base} (give a path inside it, or --files-root)")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as e:
        raise FileRefused(name, str(e.strerror or e)) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise FileRefused(name, "not a regular file")
        if st.st_size > max_bytes:
            raise FileRefused(name, f"{st.st_size} bytes, above the {max_bytes} byte limit")
    except OSError as e:
        os.close(fd)
        raise FileRefused(name, str(e.strerror or e)) from None
    except FileRefused:
        os.close(fd)
        raise
    return path, fd, st.st_size


def head_confined(root: str | os.PathLike, name: str, *, max_bytes: int, head: int = 8192) -> tuple[Path, int, bytes]:
    """``(path, size, first bytes)`` of the regular file ``name`` inside ``root``, refused as
    :func:`read_confined` refuses, without reading the rest: for files (videos) that are read from disk
    where they lie, never whole in memory."""
    path, fd, size = _open_confined(root, name, max_bytes)
    try:
        return path, size, os.read(fd, head)
    except OSError as e:
        raise FileRefused(name, str(e.strerror or e)) from None
    finally:
        os.close(fd)


def head_then_read_confined(
    root: str | os.PathLike,
    name: str,
    *,
    max_bytes: int,
    read_max_bytes: int,
    stays: Callable[[bytes], bool],
    whole: str = "a file read whole",
    head: int = 8192,
) -> tuple[Path, int, bytes, bytes | None]:
    """:func:`head_confined` and then, unless ``stays(first bytes)`` (a video, read later where it lies),
    :func:`read_confined` with ``read_max_bytes``, through one open of the file: ``(path, size, first bytes,
    whole content or None)``, refused as those two refuse (``whole`` names what is read whole, in the reason
    a file above ``read_max_bytes`` is refused for). An import opened and resolved each named file
    twice, ≈ 0.1 ms of a text work's ≈ 1.5."""
    path, fd, size = _open_confined(root, name, max_bytes)
    try:
        first = os.read(fd, head)
        if size and stays(first):
            return path, size, first, None
        if size > read_max_bytes:
            raise FileRefused(name, f"{size} bytes, above the {read_max_bytes} byte limit for {whole}")
        chunks, left = [first], read_max_bytes + 1 - len(first)
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise FileRefused(name, f"grew above the {read_max_bytes} byte limit while being read")
        return path, size, first, b"".join(chunks)
    except OSError as e:
        raise FileRefused(name, str(e.strerror or e)) from None
    finally:
        os.close(fd)


def read_confined(root: str | os.PathLike, name: str, *, max_bytes: int) -> bytes:
    """The bytes of the regular file ``name`` (relative to ``root``), which must lie inside ``root`` once
    links are resolved and hold at most ``max_bytes``.

    Refused with a reason, never read: absolute paths and ``..`` leading out of ``root``, links pointing
    out of it, devices (``/dev/zero`` reads for ever), FIFOs (opening one blocks for ever: it is opened
    non-blocking and refused by its type) and files larger than the cap (checked on the open file, and
    the read stops one byte past the cap in case it grew meanwhile)."""
    _, fd, _ = _open_confined(root, name, max_bytes)
    try:
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        if left <= 0:
            raise FileRefused(name, f"grew above the {max_bytes} byte limit while being read")
        return b"".join(chunks)
    except OSError as e:
        raise FileRefused(name, str(e.strerror or e)) from None
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_file(out_path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``out_path``, renamed onto it only when the block succeeds."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        os.replace(tmp, out)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)


def write_atomic(out_path: str | os.PathLike, data: bytes, *, mode: int | None = None, fsync: bool = False) -> Path:
    """Write ``data`` to ``out_path`` through :func:`atomic_file`: a reader sees the old file or the new one.

    ``mode``: the file's permissions from its creation on (0o600 for a private key: never readable by
    others, not even for a moment); otherwise the process's umask applies. ``fsync``: the bytes reach the
    disk before the rename, for files that must survive a power cut (signals published for crawlers)."""
    with atomic_file(out_path) as tmp:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666 if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if fsync:
                f.flush()
                os.fsync(f.fileno())
    return Path(out_path)


@contextlib.contextmanager
def atomic_dir(out_path: str | os.PathLike) -> Iterator[Path]:
    """A temporary directory beside ``out_path`` that replaces it when the block succeeds."""
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp-{uuid.uuid4().hex[:8]}")
    tmp.mkdir()
    old = out.with_name(f".{out.name}.old-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if out.exists():  # a directory cannot be replaced in one rename: move the old one aside first
            os.rename(out, old)
        os.rename(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
