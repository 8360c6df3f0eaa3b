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
from collections.abc import Callable

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
    arrays: list[np.ndarray] = []
    tree = _encode(obj, arrays)
    buf = io.BytesIO()
    np.savez(
        buf,
        __tree__=np.frombuffer(json.dumps(tree).encode(), dtype=np.uint8),
        **{f"a{i}": a for i, a in enumerate(arrays)},
    )
    return buf.getvalue()


def loads(data: bytes) -> object:
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as z:
        members = {name: z.read(name) for name in z.namelist()}
    tree = json.loads(_read_npy(members["__tree__.npy"]).tobytes())
    return _decode(tree, lambda i: _read_npy(members[f"a{i}.npy"]))


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
