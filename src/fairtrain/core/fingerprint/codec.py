"""Store registered fingerprints as bytes, without pickle.

A fingerprint is a (nested) dataclass of numpy arrays and plain values. It is written as one ``.npz``
archive: the arrays, plus a JSON tree naming each dataclass by an allow-listed type name. Loading can
only build those types, so a stored blob cannot run code.
"""

from __future__ import annotations

import dataclasses
import functools
import io
import json
import math
import re
import struct
import zlib
from collections.abc import Callable, Iterable

import numpy as np

_TYPES: dict[str, type] = {}


def register_type(cls: type) -> type:
    """Allow ``cls`` (a dataclass) to be stored and loaded; use as a decorator or a call."""
    _TYPES[cls.__qualname__] = cls
    return cls


@functools.cache
def _fields(cls: type) -> tuple[tuple[str, ...], frozenset[str]]:
    """A dataclass's constructor fields, in order, and its other fields (``dataclasses.fields`` builds a new
    tuple on every call: a fingerprint's dozen fields cost more than its arrays)."""
    fs = dataclasses.fields(cls)
    return tuple(f.name for f in fs if f.init), frozenset(f.name for f in fs if not f.init)


def _encode(obj: object, arrays: list[np.ndarray], state: bool = False) -> object:
    """The JSON tree of ``obj``, its arrays appended to ``arrays``; with ``state``, a dataclass's fields that
    are not constructor arguments (caches a fingerprint computes from on demand) too, under ``__state__``."""
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__qualname__
        if _TYPES.get(name) is not type(obj):
            raise TypeError(f"{name} is not registered for storage (fingerprint.codec.register_type)")
        init, other = _fields(type(obj))
        if state:  # a field computed on first read (a scan-side text's winnowing) stays unset: its inputs are kept
            values, lazy = {}, []
            for k in init:
                try:
                    values[k] = object.__getattribute__(obj, k)
                except AttributeError:
                    lazy.append(k)
        else:
            values, lazy = {k: getattr(obj, k) for k in init}, []
        tree = {"__type__": name, **{k: _encode(v, arrays, state) for k, v in values.items()}}
        if lazy:
            tree["__lazy__"] = lazy
        if state and (
            kept := {k: _encode(v, arrays, state) for k in sorted(other) if (v := getattr(obj, k, None)) is not None}
        ):
            tree["__state__"] = kept
        return tree
    if isinstance(obj, tuple | list):
        return {"__seq__": [_encode(x, arrays, state) for x in obj], "tuple": isinstance(obj, tuple)}
    if isinstance(obj, bytes):
        return {"__bytes__": obj.hex()}
    if isinstance(obj, np.generic):
        return obj.item()
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a fingerprint")


def _decode(tree: object, arrays: Callable[[int], np.ndarray]) -> object:
    if isinstance(tree, dict):
        if "__array__" in tree:
            return arrays(tree["__array__"])
        if "__bytes__" in tree:
            return bytes.fromhex(tree["__bytes__"])
        if "__seq__" in tree:
            items = [_decode(x, arrays) for x in tree["__seq__"]]
            return tuple(items) if tree.get("tuple") else items
        name = tree.get("__type__")
        cls = _TYPES.get(name)
        if cls is None:
            raise ValueError(f"stored fingerprint names an unknown type {name!r}")
        given = {k: _decode(v, arrays) for k, v in tree.items() if k not in ("__type__", "__state__", "__lazy__")}
        lazy = tree.get("__lazy__")
        if lazy:  # built without __init__: the fields given, the lazy ones left to compute, the rest defaults
            init, other = _fields(cls)
            if not set(lazy) <= set(init) or not set(given) <= set(init):
                raise ValueError(f"stored fingerprint names fields {name} does not have")
            obj = object.__new__(cls)
            for f in dataclasses.fields(cls):
                if f.name in given:
                    object.__setattr__(obj, f.name, given[f.name])
                elif f.name not in lazy and f.default is not dataclasses.MISSING:
                    object.__setattr__(obj, f.name, f.default)
        else:
            obj = cls(**given)
        for k, v in tree.get("__state__", {}).items():
            if k not in _fields(cls)[1]:
                raise ValueError(f"stored fingerprint sets {k!r}, not a field of {name}")
            object.__setattr__(obj, k, _decode(v, arrays))
        return obj
    return tree


def dumps(obj: object) -> bytes:
    """``obj`` as the ``.npz`` bytes ``np.savez`` writes for its JSON tree and arrays, byte for byte
    (``tests/test_fingerprint_codec.py`` holds the two together), assembled directly: ``np.savez`` builds a
    ``zipfile`` archive member by member in Python, which cost a 200-word text ≈ 0.3 ms, as much as its
    fingerprint."""
    arrays: list[np.ndarray] = []
    tree = _encode(obj, arrays)
    return _npz([np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8), *arrays])


def dumps_savez(obj: object) -> bytes:
    """:func:`dumps` through ``np.savez`` itself: the reference the direct writer is held to."""
    arrays: list[np.ndarray] = []
    tree = _encode(obj, arrays)
    return _savez([np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8), *arrays])


def _savez(arrays: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, __tree__=arrays[0], **{f"a{i}": a for i, a in enumerate(arrays[1:])})
    return buf.getvalue()


_HEADERS: dict[tuple[np.dtype, tuple[int, ...]], bytes] = {}  # (dtype, shape) -> the .npy header numpy writes


def _npy_parts(a: np.ndarray) -> tuple[bytes, bytes | memoryview]:
    """The ``.npy`` bytes ``np.lib.format.write_array`` writes for ``a``, as (header, data): numpy's own
    header for the dtype and shape, kept (numpy's writer costs more than the copy)."""
    if a.dtype.hasobject or a.ndim > 1 and not a.flags.c_contiguous or not getattr(type(a.dtype), "_legacy", 0):
        return _npy_savez(a), b""  # what savez writes for these (never in a fingerprint): numpy's own writer
    data = memoryview(a if a.flags.c_contiguous else np.ascontiguousarray(a)).cast("B") if a.size else b""
    key = (a.dtype, a.shape)
    header = _HEADERS.get(key)
    if header is None:
        whole = _npy_savez(a)
        header = whole[: len(whole) - a.nbytes]
        if len(_HEADERS) < 1 << 16:
            _HEADERS[key] = header
    return header, data


def _npy_savez(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=True)
    return buf.getvalue()


def _npz(arrays: list[np.ndarray]) -> bytes:
    """The archive of ``__tree__.npy`` (``arrays[0]``) and ``a0.npy``, ``a1.npy``, … (the rest), as
    ``np.savez`` writes it (ZIP_STORED, members in that order)."""
    names = [b"__tree__.npy", *(b"a%d.npy" % i for i in range(len(arrays) - 1))]
    archive = _stored_zip(zip(names, map(_npy_parts, arrays)), zip64_local=True)
    return archive if archive is not None else _savez(arrays)


def loads(data: bytes) -> object:
    members = _members(data)
    tree = json.loads(_read_npy(members["__tree__.npy"]).tobytes())
    return _decode(tree, lambda i: _read_npy(members[f"a{i}.npy"]))


# -- the zip container, read and written directly ----------------------------------------------------
#
# A stored fingerprint is an uncompressed zip (``np.savez``'s, or ``public_copy``'s). Going through
# ``zipfile`` cost most of a snapshot export's CPU (about 40 Python calls a member, a fingerprint has
# eight members), so the plain layout both write is read from the central directory here, each member's
# CRC-32 checked as ``zipfile`` checks it; anything else (compressed, zip64 sizes, a comment) goes
# through ``zipfile`` as before. ``_stored_zip`` writes the bytes ``zipfile.writestr`` writes for members
# with a fixed timestamp (tests/test_codec_zip.py compares them with ``zipfile``'s own).
_EOCD = struct.Struct("<4s4H2LH")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_ZIP64_EXTRA = struct.Struct("<HHQQ")
_DOS_DATE = (1980 - 1980) << 9 | 1 << 5 | 1  # 1980-01-01, a ZipInfo's default; time 00:00
_UNIX, _RW = 3, 0o600 << 16  # made on Unix, rw-------
_ZIP64_LIMIT = (1 << 31) - 1  # zipfile's: past it a central record carries ZIP64 fields


def _members(data: bytes) -> dict[str, bytes]:
    """Every member of the zip ``data`` by name."""
    fast = _stored_members(data)
    if fast is not None:
        return fast
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _stored_members(data: bytes) -> dict[str, bytes] | None:
    if len(data) < _EOCD.size:
        return None
    sig, disk, disk_cd, n, n_total, cd_size, cd_at, comment = _EOCD.unpack_from(data, len(data) - _EOCD.size)
    if sig != b"PK\x05\x06" or disk or disk_cd or n != n_total or comment or cd_at + cd_size > len(data) - _EOCD.size:
        return None
    out: dict[str, bytes] = {}
    at = cd_at
    for _ in range(n):
        if at + _CENTRAL.size > len(data):
            return None
        c = _CENTRAL.unpack_from(data, at)
        # c: sig, made-by version/system, extract version, reserved, flags, method, time, date, crc, sizes...
        flags, method, crc, csize, usize, nlen, xlen, clen, local = (
            c[5],
            c[6],
            c[9],
            c[10],
            c[11],
            c[12],
            c[13],
            c[14],
            c[18],
        )
        if (
            c[0] != b"PK\x01\x02"
            or method
            or flags & 0x1
            or csize != usize
            or csize == 0xFFFFFFFF
            or local == 0xFFFFFFFF
        ):
            return None
        name = data[at + _CENTRAL.size : at + _CENTRAL.size + nlen].decode("utf-8" if flags & 0x800 else "cp437")
        at += _CENTRAL.size + nlen + xlen + clen
        if local + _LOCAL.size > len(data):
            return None
        h = _LOCAL.unpack_from(data, local)
        if h[0] != b"PK\x03\x04":
            return None
        start = local + _LOCAL.size + h[10] + h[11]
        member = data[start : start + csize]
        if len(member) != csize or zlib.crc32(member) != crc:
            return None  # zipfile says what is wrong with it
        out[name] = member
    return out


def _stored_zip(
    members: Iterable[tuple[bytes, tuple[bytes | memoryview, ...]]], *, zip64_local: bool = False
) -> bytes | None:
    """An uncompressed zip of ``members`` (a name, the member's bytes in pieces), each dated 1980-01-01 00:00,
    byte for byte what Python's ``zipfile`` writes on POSIX: with ``zip64_local`` as ``np.savez`` writes
    (the local header's sizes in a ZIP64 extra field, version 4.5; tests/test_fingerprint_codec.py), without
    as ``writestr(ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)`` (tests/test_codec_zip.py).
    None past 2 GiB, where zipfile's central records grow ZIP64 fields."""
    version = 45 if zip64_local else 20
    parts: list[bytes | memoryview] = []
    central: list[bytes] = []
    at = 0
    for name, pieces in members:
        size, crc = 0, 0
        for piece in pieces:
            size, crc = size + len(piece), zlib.crc32(piece, crc)
        if zip64_local:
            head = _LOCAL.pack(
                b"PK\x03\x04", version, 0, 0, 0, 0, _DOS_DATE, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 20
            )
            extra = _ZIP64_EXTRA.pack(1, 16, size, size)
        else:
            head = _LOCAL.pack(b"PK\x03\x04", version, 0, 0, 0, 0, _DOS_DATE, crc, size, size, len(name), 0)
            extra = b""
        central.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                version,
                _UNIX,
                version,
                0,
                0,
                0,
                0,
                _DOS_DATE,
                crc,
                size,
                size,
                len(name),
                0,
                0,
                0,
                0,
                _RW,
                at,
            )
            + name
        )
        parts += (head, name, extra, *pieces)
        at += len(head) + len(name) + len(extra) + size
        if size > _ZIP64_LIMIT or at > _ZIP64_LIMIT:
            return None
    cd = b"".join(central)
    return b"".join([*parts, cd, _EOCD.pack(b"PK\x05\x06", 0, 0, len(central), len(central), len(cd), at, 0)])


def _public_zip(members: dict[str, bytes]) -> bytes:
    """A public copy's archive (the names codec writes, a0.npy and __tree__.npy, are ASCII)."""
    archive = _stored_zip(((name.encode("ascii"), (data,)) for name, data in members.items()))
    if archive is None:
        raise ValueError("a fingerprint of 2 GiB or more cannot be published")
    return archive


def pack(obj: object) -> bytes:
    """Like :func:`dumps`, in a plain container loaded many times faster (:func:`unpack`): a 4-byte length,
    the JSON tree with each array's dtype and shape, then the arrays' bytes. For many small fingerprints
    kept and read back in bulk (a clearance's items); a registry stores :func:`dumps`' ``.npz``. Fields a
    fingerprint computes from on demand are kept too, so what was packed matches exactly as it would have."""
    arrays: list[np.ndarray] = []
    tree = _encode(obj, arrays, state=True)
    head = json.dumps({"tree": tree, "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}).encode()
    return len(head).to_bytes(4, "little") + head + b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)


def unpack(data: bytes) -> object:
    """What :func:`pack` wrote; only plain numeric arrays and the allow-listed types are built."""
    n = int.from_bytes(data[:4], "little")
    head = json.loads(data[4 : 4 + n])
    arrays, at = [], 4 + n
    for dtype, shape in head["arrays"]:
        dt = np.dtype(dtype)
        if dt.kind not in "biuf" or dt.hasobject:
            raise ValueError(f"stored fingerprint holds an array of {dtype!r}")
        count = math.prod(shape)
        if count < 0 or at + count * dt.itemsize > len(data):
            raise ValueError("stored fingerprint is truncated")
        arrays.append(np.frombuffer(data, dtype=dt, count=count, offset=at).reshape(shape))
        at += count * dt.itemsize
    return _decode(head["tree"], arrays.__getitem__)


_NPY_HEADER = re.compile(
    rb"\{'descr': '([<>|=]?[a-zA-Z]\d*)', 'fortran_order': False, 'shape': \(([0-9, ]*)\), *\} *\n?"
)


def _read_npy(npy: bytes) -> np.ndarray:
    """One ``.npy`` member: the plain headers ``write_array`` writes parsed directly (a writable array, as
    ``np.load`` gives), anything else through ``np.load``'s own reader."""
    if npy[:6] == b"\x93NUMPY" and npy[6] in (1, 2, 3):
        start = 10 if npy[6] == 1 else 12
        size = int.from_bytes(npy[8:start], "little")
        m = _NPY_HEADER.fullmatch(npy, start, start + size)
        if m:
            shape = tuple(int(x) for x in m.group(2).split(b",") if x.strip())
            dtype = np.dtype(m.group(1).decode())
            count = math.prod(shape)
            return np.frombuffer(bytearray(npy[start + size :]), dtype=dtype, count=count).reshape(shape)
    return _array(npy)


# what a published snapshot must not carry: the registered file's name and a video's thumbnail strip
_PRIVATE = {"item": "", "strip": {"__bytes__": ""}}
# arrays a match index reads only at some positions (text: the winnowed 8-grams and syllable 10-grams);
# the others are zeroed in a snapshot's rows, where they compress to nearly nothing
_USED_AT = {"TextFingerprint": (("grams", "winnow_positions"), ("hangul_grams", "hangul_positions"))}
# MinHash signatures an index keeps only the low 8 bits of (b-bit MinHash): the rest are zeroed likewise
_LOW_BYTE = {"TextFingerprint": ("minhash", "hangul_minhash")}


def public_copy(payload: bytes) -> bytes:
    """A stored fingerprint (``dumps``' bytes) minus its private fields (the registered file's ``item`` name,
    a video's thumbnail strip), written byte for byte the same every time (fixed zip timestamps, the arrays'
    ``.npy`` bytes copied as they are): a snapshot's fingerprint rows, which a delta compares and a puller
    rebuilds the match indexes from. :func:`loads` reads it."""
    return _public_zip(_public_members(payload)[0])


def public_copy_loaded(payload: bytes) -> tuple[bytes, object]:
    """``public_copy(payload)`` and ``loads`` of it, from one reading of ``payload`` (what an export does
    with every stored fingerprint: the row it publishes and the fingerprint its index is built from)."""
    raw, tree, made = _public_members(payload)

    def array(i: int) -> np.ndarray:
        name = f"a{i}.npy"
        return made[name] if name in made else _read_npy(raw[name])

    return _public_zip(raw), _decode(tree, array)


def _public_members(payload: bytes) -> tuple[dict[str, bytes], object, dict[str, np.ndarray]]:
    """The public copy's members, its tree, and the arrays it rewrote (what reading them back would give)."""
    raw = _members(payload)
    made: dict[str, np.ndarray] = {}
    tree = json.loads(_read_npy(raw["__tree__.npy"]).tobytes())
    kind = tree.get("__type__") if isinstance(tree, dict) else None
    for values, positions in _USED_AT.get(kind, ()):
        v, p = tree.get(values), tree.get(positions)
        if isinstance(v, dict) and "__array__" in v and isinstance(p, dict) and "__array__" in p:
            name = f"a{v['__array__']}.npy"
            full, at = _read_npy(raw[name]), _read_npy(raw[f"a{p['__array__']}.npy"])
            sparse = np.zeros_like(full)
            sparse[at] = full[at]
            raw[name], made[name] = _npy(sparse), sparse
    for field in _LOW_BYTE.get(kind, ()):
        if isinstance(v := tree.get(field), dict) and "__array__" in v:
            name = f"a{v['__array__']}.npy"
            made[name] = _read_npy(raw[name]) & np.uint32(0xFF)
            raw[name] = _npy(made[name])
    public = _blank_private(tree)
    raw["__tree__.npy"] = _npy(np.frombuffer(json.dumps(public).encode(), dtype=np.uint8))
    # (the blanked tree is plain JSON values, as loads would parse it back from the written member)
    return raw, public, made


def _array(npy: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(npy), allow_pickle=False)


def _npy(a: np.ndarray) -> bytes:
    """``np.lib.format.write_array``'s bytes for ``a``."""
    header, data = _npy_parts(a)
    return header + bytes(data)


def _blank_private(tree: object) -> object:
    if isinstance(tree, dict):
        if "__type__" in tree:
            return {k: (_PRIVATE[k] if k in _PRIVATE else _blank_private(v)) for k, v in tree.items()}
        if "__seq__" in tree:
            return {**tree, "__seq__": [_blank_private(x) for x in tree["__seq__"]]}
    return tree
