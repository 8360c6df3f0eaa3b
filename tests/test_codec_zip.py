"""The fingerprint codec reads and writes its zip container and .npy members directly (a snapshot export's
CPU went mostly to ``zipfile`` and numpy's header code): the bytes must be exactly those ``zipfile`` and
``np.lib.format.write_array`` write, so snapshots exported before and after are the same files and a delta
over them sees no change that is not one."""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import numpy as np
import pytest

from fairtrain.core.fingerprint import codec


def _reference_public_copy(payload: bytes) -> bytes:
    """``codec.public_copy`` as written before (through ``zipfile`` and ``np.lib.format``)."""

    def array(npy: bytes) -> np.ndarray:
        return np.lib.format.read_array(io.BytesIO(npy), allow_pickle=False)

    def npy(a: np.ndarray) -> bytes:
        buf = io.BytesIO()
        np.lib.format.write_array(buf, a, allow_pickle=False)
        return buf.getvalue()

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(payload)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as dst:
        raw = {name: src.read(name) for name in src.namelist()}
        tree = json.loads(array(raw["__tree__.npy"]).tobytes())
        kind = tree.get("__type__") if isinstance(tree, dict) else None
        for values, positions in codec._USED_AT.get(kind, ()):
            v, p = tree.get(values), tree.get(positions)
            if isinstance(v, dict) and "__array__" in v and isinstance(p, dict) and "__array__" in p:
                name = f"a{v['__array__']}.npy"
                full, at = array(raw[name]), array(raw[f"a{p['__array__']}.npy"])
                sparse = np.zeros_like(full)
                sparse[at] = full[at]
                raw[name] = npy(sparse)
        for field in codec._LOW_BYTE.get(kind, ()):
            if isinstance(v := tree.get(field), dict) and "__array__" in v:
                name = f"a{v['__array__']}.npy"
                raw[name] = npy(array(raw[name]) & np.uint32(0xFF))
        raw["__tree__.npy"] = npy(np.frombuffer(json.dumps(codec._blank_private(tree)).encode(), dtype=np.uint8))
        for name, data in raw.items():
            dst.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    return out.getvalue()


def _texts(n: int) -> list[tuple[str, bytes]]:
    rnd = np.random.default_rng(3)
    words = ["alpha", "beta", "gamma", "delta", "강물", "바람", "하늘", "노래", "사람", "시간", "x", "yy"]
    out = [("empty.txt", b""), ("one.txt", b"word"), ("ko.txt", "한국어 문장 하나".encode())]
    for i in range(n):
        k = int(rnd.integers(3, 700))
        out.append((f"t{i}.txt", " ".join(rnd.choice(words, size=k)).encode()))
    return out


def test_public_copy_writes_the_bytes_zipfile_wrote_and_loads_reads_them():
    from fairtrain.core.fingerprint.text import register_text

    for item, data in _texts(40):
        try:
            fp = register_text(data, item)
        except Exception:  # an empty text is refused at registration: nothing to store
            continue
        stored = codec.dumps(fp)
        public = codec.public_copy(stored)
        assert public == _reference_public_copy(stored), item
        for blob in (stored, public):
            with zipfile.ZipFile(io.BytesIO(blob)) as z:
                assert codec._members(blob) == {n: z.read(n) for n in z.namelist()}
        back = codec.loads(public)
        blob, loaded = codec.public_copy_loaded(stored)  # the export's one reading of a stored fingerprint
        assert blob == public
        for f in dataclasses.fields(back):
            a, b = getattr(loaded, f.name), getattr(back, f.name)
            assert (np.array_equal(a, b) and a.dtype == b.dtype) if isinstance(b, np.ndarray) else a == b, f.name
        assert back.item == "" and np.array_equal(back.winnow_positions, fp.winnow_positions)
        assert np.array_equal(back.grams[fp.winnow_positions], fp.grams[fp.winnow_positions])


@pytest.mark.parametrize(
    "a",
    [
        np.zeros(0, np.uint64),
        np.arange(1, dtype=np.int64),
        np.arange(7, dtype=np.uint32),
        np.arange(10**6, dtype=np.uint8),
        np.arange(12, dtype=">u8"),
        np.arange(24, dtype=np.float32).reshape(4, 6),
        np.arange(24, dtype=np.uint16).reshape(2, 3, 4),
        np.asfortranarray(np.arange(24, dtype=np.int32).reshape(4, 6)),
        np.arange(10, dtype=np.int64)[::2],
        np.array(5, dtype=np.uint64),
        np.zeros(3, dtype=[("a", "<u4"), ("b", "<f8")]),
        np.zeros(2, dtype="S5"),
        np.zeros((1, 10**5), dtype=bool),
    ],
    ids=lambda a: f"{a.dtype.str}{a.shape}",
)
def test_npy_is_numpys_own(a):
    buf = io.BytesIO()
    np.lib.format.write_array(buf, a, allow_pickle=False)
    assert codec._npy(a) == buf.getvalue()
    assert np.array_equal(codec._read_npy(codec._npy(a)), a)


def test_stored_zip_is_zipfiles_and_a_damaged_zip_is_refused_as_zipfile_refuses_it():
    members = [("__tree__.npy", b"{}"), ("a0.npy", bytes(range(256)) * 40), ("a1.npy", b"")]
    ref = io.BytesIO()
    with zipfile.ZipFile(ref, "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), data)
    blob = codec._public_zip(dict(members))
    assert codec._stored_zip((n.encode(), (d[:7], d[7:])) for n, d in members) == blob  # pieces joined
    assert blob == ref.getvalue()
    assert codec._members(blob) == dict(members)
    damaged = bytearray(blob)
    damaged[100] ^= 0xFF  # inside a0.npy: its CRC no longer holds
    assert codec._stored_members(bytes(damaged)) is None
    with pytest.raises(zipfile.BadZipFile):
        codec._members(bytes(damaged))
    # a compressed zip (not what codec writes) is still read, through zipfile
    deflated = io.BytesIO()
    with zipfile.ZipFile(deflated, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members:
            z.writestr(name, data)
    assert codec._stored_members(deflated.getvalue()) is None
    assert codec._members(deflated.getvalue()) == dict(members)
