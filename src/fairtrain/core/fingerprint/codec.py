"""Store registered fingerprints as bytes, without pickle.

A fingerprint is a (nested) dataclass of numpy arrays and plain values. It is written as one ``.npz``
archive: the arrays, plus a JSON tree naming each dataclass by an allow-listed type name. Loading can
only build those types, so a stored blob cannot run code.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import struct
import zlib
from collections.abc import Callable

import numpy as np

_TYPES: dict[str, type] = {}


def register_type(cls: type) -> type:
    """Allow ``cls`` (a dataclass) to be stored and loaded; use as a decorator or a call."""
    _TYPES[cls.__qualname__] = cls
    return cls


def _encode(obj: object, arrays: list[np.ndarray]) -> object:
    if isinstance(obj, np.ndarray):
        arrays.append(obj)
        return {"__array__": len(arrays) - 1}
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        name = type(obj).__qualname__
        if _TYPES.get(name) is not type(obj):
            raise TypeError(f"{name} is not registered for storage (fingerprint.codec.register_type)")
        return {
            "__type__": name,
            **{f.name: _encode(getattr(obj, f.name), arrays) for f in dataclasses.fields(obj) if f.init},
        }
    if isinstance(obj, tuple | list):
        return {"__seq__": [_encode(x, arrays) for x in obj], "tuple": isinstance(obj, tuple)}
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
        return cls(**{k: _decode(v, arrays) for k, v in tree.items() if k != "__type__"})
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


# What np.savez (numpy 2, Python 3.11's zipfile) writes for each member ``NAME.npy``: a local header forced to
# ZIP64 (its sizes in the extra field), the stored (uncompressed) ``.npy`` bytes, then a central directory
# without ZIP64 fields while sizes and offsets stay below 4 GiB, and the end record. DOS date 1980-01-01
# (a ZipInfo's default), version 4.5 (ZIP64), made on Unix, permissions rw-------.
_LOCAL = struct.Struct("<4s2B4HL2L2H")
_ZIP64_EXTRA = struct.Struct("<HHQQ")
_CENTRAL = struct.Struct("<4s4B4HL2L5H2L")
_END = struct.Struct("<4s4H2LH")
_DOS_DATE, _DOS_TIME = (1980 - 1980) << 9 | 1 << 5 | 1, 0
_ZIP64_VERSION, _UNIX, _RW = 45, 3, 0o600 << 16
_ZIP64_LIMIT = (1 << 31) - 1  # zipfile's: past it a central record carries ZIP64 fields
_HEADERS: dict[tuple[np.dtype, tuple[int, ...]], bytes] = {}  # (dtype, shape) -> the .npy header numpy writes


def _npy_parts(a: np.ndarray) -> tuple[bytes, bytes | memoryview]:
    """The ``.npy`` bytes ``np.lib.format.write_array`` writes for ``a``, as (header, data)."""
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
    parts: list[bytes | memoryview] = []
    central: list[bytes] = []
    offset = 0
    for i, a in enumerate(arrays):
        name = b"__tree__.npy" if i == 0 else b"a%d.npy" % (i - 1)
        header, data = _npy_parts(a)
        size = len(header) + len(data)
        crc = zlib.crc32(data, zlib.crc32(header))
        local = _LOCAL.pack(
            b"PK\x03\x04", _ZIP64_VERSION, 0, 0, 0, _DOS_TIME, _DOS_DATE, crc, 0xFFFFFFFF, 0xFFFFFFFF, len(name), 20
        )
        parts += (local, name, _ZIP64_EXTRA.pack(1, 16, size, size), header, data)
        central.append(
            _CENTRAL.pack(
                b"PK\x01\x02",
                _ZIP64_VERSION,
                _UNIX,
                _ZIP64_VERSION,
                0,
                0,
                0,
                _DOS_TIME,
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
                offset,
            )
            + name
        )
        offset += len(local) + len(name) + 20 + size
        if size > _ZIP64_LIMIT or offset > _ZIP64_LIMIT:  # central records then grow ZIP64 fields
            return _savez(arrays)
    directory = b"".join(central)
    parts += (directory, _END.pack(b"PK\x05\x06", 0, 0, len(arrays), len(arrays), len(directory), offset, 0))
    return b"".join(parts)


def loads(data: bytes) -> object:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {name: z.read(name) for name in z.namelist()}
    tree = json.loads(_read_npy(members["__tree__.npy"]).tobytes())
    return _decode(tree, lambda i: _read_npy(members[f"a{i}.npy"]))


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
            count = int(np.prod(shape, dtype=np.int64)) if shape else 1
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
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        raw = {name: src.read(name) for name in src.namelist()}
        tree = json.loads(_array(raw["__tree__.npy"]).tobytes())
        kind = tree.get("__type__") if isinstance(tree, dict) else None
        for values, positions in _USED_AT.get(kind, ()):
            v, p = tree.get(values), tree.get(positions)
            if isinstance(v, dict) and "__array__" in v and isinstance(p, dict) and "__array__" in p:
                name = f"a{v['__array__']}.npy"
                full, at = _array(raw[name]), _array(raw[f"a{p['__array__']}.npy"])
                sparse = np.zeros_like(full)
                sparse[at] = full[at]
                raw[name] = _npy(sparse)
        for field in _LOW_BYTE.get(kind, ()):
            if isinstance(v := tree.get(field), dict) and "__array__" in v:
                name = f"a{v['__array__']}.npy"
                raw[name] = _npy(_array(raw[name]) & np.uint32(0xFF))
        raw["__tree__.npy"] = _npy(np.frombuffer(json.dumps(_blank_private(tree)).encode(), dtype=np.uint8))
        for name, data in raw.items():
            dst.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _array(npy: bytes) -> np.ndarray:
    return np.lib.format.read_array(io.BytesIO(npy), allow_pickle=False)


def _npy(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    return buf.getvalue()


def _blank_private(tree: object) -> object:
    if isinstance(tree, dict):
        if "__type__" in tree:
            return {k: (_PRIVATE[k] if k in _PRIVATE else _blank_private(v)) for k, v in tree.items()}
        if "__seq__" in tree:
            return {**tree, "__seq__": [_blank_private(x) for x in tree["__seq__"]]}
    return tree
