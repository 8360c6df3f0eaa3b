"""The text index's memory-mapped format (fingerprint.text index format 3, a snapshot's segments since /7):
saved as uncompressed .npy and opened by mapping them, it answers every query exactly as the Parquet format
(2) does after decoding, and holds the same arrays."""

from __future__ import annotations

import json

import numpy as np

from fairtrain.core.fingerprint import _buckets
from fairtrain.core.fingerprint.text import TextIndex, TextIndexBuilder, fingerprint_text, register_text, register_texts
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


# -- format 4: bucket directories (issue 17) ---------------------------------------------------------------

_KO_WORDS = (
    "강물 바람 하늘 노래 사람 시간 마음 나무 별빛 바다 구름 들판 고향 어머니 아침 저녁 봄날 겨울 꽃잎 이야기".split()
)


def _generated_texts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    letters = list("abcdefghiklmnoprstuvwy")
    vocab = ["".join(rng.choice(letters, size=int(rng.integers(2, 9)))) for _ in range(3000)] + _KO_WORDS * 15
    return [" ".join(rng.choice(vocab, size=int(rng.integers(120, 260)))) for _ in range(n)]


def test_format_4_and_format_3_find_the_same_works_on_a_generated_corpus(tmp_path):
    """The bucket directories (format 4) change how keys are found, never what is found: the index built in
    memory, saved as format 4 and saved as format 3 (binary search, a /7 snapshot's segments) give the same
    matches, including keys held by many works (runs longer than a bucket) and Korean copied without spaces."""
    texts = _generated_texts(160, 17)
    b = TextIndexBuilder()
    fps = register_texts([(f"w{i}", t) for i, t in enumerate(texts)])
    for i, fp in enumerate(fps):
        b.add(i + 1, fp)
    for k in range(30):  # three works registered ten more times each: their band keys and digests repeat
        b.add(1000 + k, fps[k % 3])
    built = b.build()
    assert np.max(np.unique(built.band_key, return_counts=True)[1]) > 2 * _buckets.LOAD
    written4 = built.save_mapped(tmp_path / "v4")
    written3 = built.save_mapped(tmp_path / "v3", version=3)
    v4, v3 = TextIndex.load(tmp_path / "v4"), TextIndex.load(tmp_path / "v3")
    assert json.loads((tmp_path / "v3" / "index.json").read_text())["format"] == "fairtrain-text-index/3"
    assert json.loads((tmp_path / "v4" / "index.json").read_text())["format"] == "fairtrain-text-index/4"
    buckets = {"excerpt_buckets.npy", "hangul_buckets.npy", "band_buckets.npy", "exact_buckets.npy"}
    assert {p.name for p in written4} == {p.name for p in written3} | buckets
    for p in written3:  # format 3's files are what they were: only the directories are added
        assert p.read_bytes() == (tmp_path / "v4" / p.name).read_bytes() or p.name == "index.json", p.name
    assert v3._words.buckets is None and v3._band_buckets is None and v3._exact_buckets is None
    assert v4._words.buckets is not None and v4._hangul.buckets is not None and v4._band_buckets is not None

    rng = np.random.default_rng(5)
    queries = []
    for i in range(0, 160, 2):
        words = texts[i].split()
        a = int(rng.integers(0, max(1, len(words) - 80)))
        queries.append("intro words " + " ".join(words[a : a + 80]) + " closing")
    queries += texts[:6] + _generated_texts(40, 99)
    queries += ["".join(w for w in texts[i].split() if w in _KO_WORDS) for i in range(10)]
    qfps = [fingerprint_text(q, f"q{i}") for i, q in enumerate(queries)]
    want = built.match(qfps)
    assert sum(bool(m) for m in want[:80]) >= 70  # excerpts are found
    assert max(len(m) for m in want) >= 11  # a registered-eleven-times work: every copy found
    assert not any(want[86:126])  # unrelated texts are not
    assert v4.match(qfps) == want and v3.match(qfps) == want


def test_bucket_lookup_finds_what_binary_search_finds():
    rng = np.random.default_rng(3)
    for n in (0, 1, 7, 1000, 50_000):
        uniform = rng.integers(0, 2**64, n, dtype=np.uint64)
        low = rng.integers(0, 2**56, n // 2, dtype=np.uint64)  # winnowing minima lean to small values
        keys = np.sort(np.concatenate([uniform, low, np.repeat(uniform[:3], 40)]))
        offsets = _buckets.directory(keys)
        assert len(offsets) == 2 ** _buckets.bits_of(offsets) + 1 and offsets[-1] == len(keys)
        needles = np.concatenate([keys[:: max(1, len(keys) // 500)], rng.integers(0, 2**64, 500, dtype=np.uint64)])
        left, right = _buckets.find(keys, offsets, needles)
        sl, sr = np.searchsorted(keys, needles, "left"), np.searchsorted(keys, needles, "right")
        present = sr > sl
        assert present.sum() >= min(len(keys), 100)
        assert np.array_equal(left[present], sl[present]) and np.array_equal(right[present], sr[present])
        assert np.array_equal(left[~present], right[~present])
        bits = _buckets.bits_of(offsets)
        cut = int(np.searchsorted(keys, np.uint64(1 << 63)))  # the second half's directory, written apart
        half = 1 << max(0, bits - 1)
        if bits:
            part = _buckets.directory_part(keys[cut:], cut, bits, half, 2 * half)
            assert np.array_equal(part, offsets[half:-1])


def test_keys_known_present_are_the_only_ones_looked_up_and_the_answers_stay_the_same(index, corpus):  # noqa: F811
    """A snapshot's routing table tells a segment which of a batch's keys it holds (``present``): the
    segment then looks up only those, and finds what looking every key up finds; a key left out is not
    found (so the hint is what is used)."""
    qs = _queries(corpus)
    want = index.match(qs)
    assert sum(bool(m) for m in want) >= 20

    def held(arrays, keys):
        cat = np.concatenate([np.empty(0, np.uint64), *[a for a in arrays if a is not None]])
        return np.isin(cat, np.asarray(keys))

    present = {
        "grams": held([q.grams for q in qs], index.fp_hash),
        "bands": held([q.bands for q in qs], index.band_key),
        "hangul": held([q.hangul_grams for q in qs], index.hangul.hash),
    }
    assert present["grams"].any() and present["bands"].any() and present["hangul"].any()
    assert index.match(qs, present=present) == want
    everything = {k: np.ones_like(v) for k, v in present.items()}  # a superset: the same answers
    assert index.match(qs, present=everything) == want
    nothing = {k: np.zeros_like(v) for k, v in present.items()}  # only the exact digests are left
    assert all(m.stage == "exact" for ms in index.match(qs, present=nothing) for m in ms)
