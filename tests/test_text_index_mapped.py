"""The text index's memory-mapped format (fingerprint.text index format 3, a snapshot's segments since /7):
saved as uncompressed .npy and opened by mapping them, it answers every query exactly as the Parquet format
(2) does after decoding, and holds the same arrays."""

from __future__ import annotations

import numpy as np

from fairtrain.core.fingerprint.text import TextIndex, TextIndexBuilder, fingerprint_text, register_text
from test_fingerprint_text import KO_UNRELATED, KO_WORK, corpus, index  # noqa: F401 (fixtures)


def _queries(corpus) -> list:  # noqa: F811 (the fixture)
    qs = []
    for text in corpus["works"][:12] + corpus["others"][:6]:
        words = text.split()
        qs.append(" ".join(["some", "words", "before", *words[40:160], "and", "after"]))
        qs.append(text)
    qs += [KO_WORK.replace(" ", ""), KO_WORK[200:900], KO_UNRELATED, "tiny"]
    return [fingerprint_text(q, f"q{i}") for i, q in enumerate(qs)]


def _same_arrays(a: TextIndex, b: TextIndex) -> None:
    for name in ("work_ids", "n_words", "sigs", "fp_hash", "fp_widx", "fp_pos", "band_key", "band_widx"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("exact_hi", "exact_lo", "exact_widx", "stop"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("hash", "widx", "pos", "sigs", "has_sig"):
        assert np.array_equal(getattr(a.hangul, name), getattr(b.hangul, name)), name
    for ch in ("_words", "_hangul"):
        x, y = getattr(a, ch), getattr(b, ch)
        assert np.array_equal(x.work_pos, y.work_pos) and np.array_equal(x.filter, y.filter)
        assert x.filter_shift == y.filter_shift
    assert list(a.iscc) == list(b.iscc) and a.params == b.params and a.nbytes() == b.nbytes()


def test_mapped_index_answers_as_the_parquet_one(index, corpus, tmp_path):  # noqa: F811
    index.save(tmp_path / "parquet")
    written = index.save_mapped(tmp_path / "mapped")
    assert all(p.suffix in (".npy", ".json") for p in written)
    parquet, mapped = TextIndex.load(tmp_path / "parquet"), TextIndex.load(tmp_path / "mapped")
    _same_arrays(mapped, parquet)
    assert not mapped.fp_hash.flags.writeable and not mapped.sigs.flags.writeable  # maps of the files
    qs = _queries(corpus)
    want = parquet.match(qs)
    assert sum(bool(m) for m in want) >= 20  # the queries do find works
    assert mapped.match(qs) == want
    # saving is deterministic: the same index gives the same bytes (a snapshot's files are hashed)
    index.save_mapped(tmp_path / "again")
    for p in written:
        assert p.read_bytes() == (tmp_path / "again" / p.name).read_bytes(), p.name


def test_an_empty_index_and_missing_iscc_codes_round_trip(tmp_path):
    empty = TextIndexBuilder().build()
    empty.save_mapped(tmp_path / "empty")
    back = TextIndex.load(tmp_path / "empty")
    assert len(back) == 0 and back.match([fingerprint_text(KO_WORK, "q")]) == [[]]
    b = TextIndexBuilder()
    b.add(5, register_text(KO_WORK, "a"))
    b.add(9, fingerprint_text(KO_UNRELATED, "b"))  # no ISCC code (fingerprinted, not registered)
    ix = b.build()
    ix.save_mapped(tmp_path / "two")
    back = TextIndex.load(tmp_path / "two")
    assert back.iscc[1] is None and back.iscc[0] == ix.iscc[0] and back.iscc[0].startswith("ISCC:")
    assert back.iscc[-1] is None and back.iscc[0:2] == [ix.iscc[0], None]
    assert [m.work_id for m in back.match([fingerprint_text(KO_WORK, "q")])[0]] == [5]
