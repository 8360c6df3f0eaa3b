"""codec.dumps writes the ``.npz`` bytes directly (issue 17: ``np.savez`` cost a text as much as its
fingerprint); what it writes is held byte for byte to ``np.savez``'s own archive, for real fingerprints of
every text kind and for arrays of every layout a dataclass could hold."""

from __future__ import annotations

import dataclasses
import random

import numpy as np
import pytest

from fairtrain.core.fingerprint import codec
from fairtrain.core.fingerprint.text import register_text, register_texts

KO = "동해 물과 백두산이 마르고 닳도록 하느님이 보우하사 우리나라 만세 무궁화 삼천리 화려 강산".split()
EN = "the registry keeps every work its holders declared and the terms under which it may be used".split()


@codec.register_type
@dataclasses.dataclass
class _Holder:
    name: str
    parts: tuple
    blob: bytes
    inner: object = None


def test_text_fingerprints_are_savez_bytes():
    rnd = random.Random(5)
    texts = [" ".join(rnd.choices(rnd.choice([KO, EN, KO + EN]), k=rnd.randint(1, 400))) for _ in range(150)]
    texts += ["한", "a", "가나다라마바사아자차카타파하 " * 3, "word " * 7, "word " * 8, "x" * 5000]
    for text, fp in zip(texts, register_texts([(f"t{i}", t) for i, t in enumerate(texts)]), strict=True):
        assert codec.dumps(fp) == codec.dumps_savez(fp) == codec.dumps(register_text(text, fp.item)), text[:40]
        back = codec.loads(codec.dumps(fp))
        assert back.iscc_code == fp.iscc_code and np.array_equal(back.grams, fp.grams)


@pytest.mark.parametrize(
    "array",
    [
        np.arange(10, dtype=np.uint64),
        np.empty(0, dtype=np.int64),
        np.zeros((0, 3), dtype=np.float32),
        np.array(7, dtype=np.int16),  # 0-d
        np.arange(12, dtype=">u4").reshape(3, 4),  # big-endian, 2-D
        np.arange(12, dtype=np.int32).reshape(3, 4).T,  # Fortran order
        np.arange(40, dtype=np.uint8)[::3],  # strided
        np.arange(24, dtype=np.float64).reshape(2, 3, 4)[:, ::2],  # neither C nor Fortran
        np.array([True, False, True]),
        np.zeros(3, dtype=[("a", "<u2"), ("b", "<f8")]),  # structured
        np.zeros(3, dtype=[("x", "<u4"), ("y", "<u4")]),  # another structure of the same size
        np.array(["ab", "c"]),
        np.arange(100_000, dtype=np.uint32),  # a header numpy pads for the growth axis
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_any_array_layout_is_savez_bytes(array):
    holder = _Holder(
        "x", (array, [array[..., :1] if array.ndim else array], None, 1.5), b"\x00\xff", _Holder("y", (), b"")
    )
    for _ in range(2):  # the second time from the header cache
        assert codec.dumps(holder) == codec.dumps_savez(holder)
    back = codec.loads(codec.dumps(holder))
    assert back.parts[0].dtype == array.dtype and np.array_equal(back.parts[0], array)
