"""The fast ISCC Text-Code is bit-identical to iscc-core's: its own test vectors, a fixed
Korean/English/Japanese corpus, and hypothesis-generated Unicode text, compared on the full
256-bit soft hash as well as the 64-bit code a registry stores."""

import json
from pathlib import Path

import iscc_core
import numpy as np
import pytest
import xxhash
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrain.core.fingerprint import _iscc_fast as fast

VECTORS = json.loads((Path(iscc_core.__file__).with_name("data.json")).read_text("utf-8"))["gen_text_code_v0"]

CORPUS = [
    "",
    " ",
    "a",
    "Hello World",
    "동해 물과 백두산이 마르고 닳도록 하느님이 보우하사 우리나라 만세",
    "무궁화 삼천리 화려 강산 대한 사람 대한으로 길이 보전하세. 남산 위에 저 소나무, 철갑을 두른 듯",
    "吾輩は猫である。名前はまだ無い。どこで生れたかとんと見当がつかぬ。",
    "いろはにほへと ちりぬるを わかよたれそ つねならむ ｶﾀｶﾅ ﾊﾝｶｸ",
    "The quick brown fox jumps over the lazy dog. Ünïcödé, çedillas & naïve café — “quotes”…",
    "Ｆｕｌｌｗｉｄｔｈ ＡＳＣＩＩ ①②③ ﬁ ligature Ⅻ ㎏ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 emoji \u200b zero-width \u00ad soft hyphen",
    "Mixed 한국어 and English 텍스트 with numbers 12345 and 기호 !@#$%^&*()",
    "\t\n\r\x0b\x0c\x00\x1f control \u2028 line \u2029 para \ufeff bom",
    "짧은",
    "x" * 12,
    "y" * 13,
    "가" * 14,
]


def test_ngram_size_and_filter_are_iscc_cores():
    assert fast.NGRAM == iscc_core.core_opts.text_ngram_size == 13
    assert fast._FILTER == set(iscc_core.core_opts.text_unicode_filter)


@pytest.mark.parametrize("name", sorted(VECTORS))
def test_iscc_core_test_vectors(name):
    text, bits = VECTORS[name]["inputs"]
    assert fast.gen_text_code_v0(text, bits) == VECTORS[name]["outputs"]


@pytest.mark.parametrize("text", CORPUS)
def test_fixed_corpus_matches_iscc_core(text):
    assert fast.text_collapse(text) == iscc_core.text_collapse(text)
    collapsed = iscc_core.text_collapse(text)
    # 256 bits, so that a single differing minhash bit anywhere fails, not only the 64 a code keeps.
    assert fast.soft_hash_text_v0(collapsed) == iscc_core.soft_hash_text_v0(collapsed)
    for bits in (64, 256):
        assert fast.gen_text_code_v0(text, bits) == iscc_core.gen_text_code_v0(text, bits)


def test_batch_equals_one_by_one():
    texts = CORPUS * 3 + [" ".join(CORPUS)]
    assert fast.gen_text_codes(texts) == [iscc_core.gen_text_code_v0(t)["iscc"] for t in texts]
    assert fast.gen_text_codes([]) == []


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_any_unicode_text_matches_iscc_core(text):
    assert fast.gen_text_code_v0(text, 256) == iscc_core.gen_text_code_v0(text, 256)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.sampled_from(list("가나다라마바사아자차카타파하 한국어abc XYZ.,!日本語")), max_size=120),
        max_size=12,
    )
)
def test_batches_of_hangul_latin_kanji_match_iscc_core(texts):
    assert fast.gen_text_codes(texts) == [iscc_core.gen_text_code_v0(t)["iscc"] for t in texts]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), min_size=1, max_size=20))
def test_xxh32_spans_matches_xxhash(chunks):
    buf = b"".join(chunks)
    lengths = np.array([len(c) for c in chunks])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    padded = np.concatenate([np.frombuffer(buf, np.uint8), np.zeros(64, np.uint8)])
    got = fast.xxh32_spans(padded, starts, lengths)
    assert got.tolist() == [xxhash.xxh32_intdigest(c) for c in chunks]


def test_a_flipped_minhash_bit_is_caught():
    # The comparison this file relies on is bit-exact: flip one bit of the digest and it differs.
    text = CORPUS[4]
    digest = bytearray(fast.soft_hash_text_v0(iscc_core.text_collapse(text)))
    digest[-1] ^= 1
    assert bytes(digest) != iscc_core.soft_hash_text_v0(iscc_core.text_collapse(text))


# Hangul syllables with and without a trailing consonant beside ASCII, Korean punctuation, hanja, Greek
# (Σ lower-cases by what follows it), jamo, combining marks and compatibility characters: text_collapse
# skips the NFD/NFKC round trip where every character allows it, which must not change a character.
_MIXED = [chr(0xAC00 + i) for i in (0, 1, 27, 28, 587, 588, 4000, 11171)] + list(
    "가각갂나낙한글aZ09 \t\n.,!?'\"-_()~\x00\x7f“”‘’·ㆍ①「」｢事人ΣσςΑάé\u0301\u0308\u1100\u1161\u11a8ㄱㅏﬁ㎏Ｆİ\u200b\ufeff"
)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(_MIXED), max_size=200))
def test_korean_text_with_its_punctuation_collapses_as_iscc_core(text):
    assert fast.text_collapse(text) == iscc_core.text_collapse(text)


@pytest.mark.parametrize("text", ["각 ㄱ", "가\u11a8", "가 \u11a8", "Ａ가", "가\u0301", "가。나", "ΑΣ Σ", "İ가"])
def test_text_whose_collapse_needs_the_normalisations(text):
    assert fast.text_collapse(text) == iscc_core.text_collapse(text)


def test_spans_of_many_lengths_in_one_batch():
    rng = np.random.default_rng(3)
    lengths = rng.integers(0, 70, size=2000)
    starts = rng.integers(0, 5000, size=2000)
    buf = rng.integers(0, 256, size=5100, dtype=np.uint8)
    got = fast.xxh32_spans(np.concatenate([buf, np.zeros(64, np.uint8)]), starts, lengths)
    assert got.tolist() == [xxhash.xxh32_intdigest(buf[s : s + n].tobytes()) for s, n in zip(starts, lengths)]


def test_every_character_collapsed_by_the_table_collapses_as_iscc_core():
    """Each code point of the Basic Multilingual Plane that the table maps (not sent to the normalisations),
    in runs of 16 beside Hangul syllables with and without a trailing consonant and ASCII."""
    plain = [chr(cp) for cp in range(0x10000) if fast._plain(cp) is not fast._ELSEWHERE]
    assert len(plain) > 60_000
    glue = ["", "가", "각", "a", " "]
    texts = [
        "".join(ch + glue[(i + j) % len(glue)] for j, ch in enumerate(plain[i : i + 16]))
        for i in range(0, len(plain), 16)
    ]
    assert [fast.text_collapse(t) for t in texts] == [iscc_core.text_collapse(t) for t in texts]
