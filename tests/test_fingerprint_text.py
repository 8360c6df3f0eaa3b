"""Text fingerprints and the text match index, on real texts found on this machine."""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import random
import re
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrain.core.fingerprint import FingerprintError, Match, codec
from fairtrain.core.fingerprint import _text_tokens as tok
from fairtrain.core.fingerprint import text as text_module
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.fingerprint.text import (
    MIN_VERBATIM_WORDS,
    TextFingerprint,
    TextIndex,
    TextIndexBuilder,
    fingerprint_text,
    fingerprint_texts,
    register_text,
)

STDLIB = Path(sys.base_prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
LICENSES = Path("/usr/share/common-licenses")

# Korean paragraphs written for these tests (not taken from anywhere).
KO_WORK = (
    "가을이 깊어지면 할머니는 항상 마당 한쪽에 장독대를 정리하셨다. 크고 작은 항아리들이 햇볕 아래 나란히 "
    "서 있는 모습은 마치 오래된 가족 사진처럼 정겨웠다. 나는 어린 시절 그 항아리들 사이를 뛰어다니며 "
    "숨바꼭질을 하곤 했는데, 할머니는 한 번도 나를 나무라지 않으셨다. 대신 항아리 뚜껑을 열어 된장 냄새를 "
    "맡게 하시고는 이것이 우리 집의 시간이라고 말씀하셨다. 그때는 그 말의 뜻을 알지 못했지만, 지금 생각해 "
    "보면 발효란 기다림의 다른 이름이었다. 콩을 삶고 메주를 빚어 겨울 내내 처마 밑에 매달아 두는 일은 "
    "조급한 사람에게는 결코 허락되지 않는 일이었다. 봄이 오면 메주를 소금물에 담그고, 숯과 고추를 띄워 "
    "잡귀를 막는다고 하셨다. 그 작은 의식 속에는 수백 년 동안 이어져 온 사람들의 지혜와 믿음이 고스란히 "
    "담겨 있었다. 도시로 떠난 뒤 나는 오랫동안 그 냄새를 잊고 살았다. 마트에서 사 온 플라스틱 통의 된장은 "
    "편리했지만 어딘가 허전했다. 어느 해 겨울, 할머니가 편찮으시다는 소식을 듣고 고향에 내려갔을 때 "
    "장독대는 이미 절반이 비어 있었다. 할머니는 힘없는 목소리로 남은 항아리들을 내게 맡기고 싶다고 하셨다. "
    "나는 대답 대신 할머니의 거친 손을 오래도록 잡고 있었다. 그해 봄, 나는 처음으로 혼자서 메주를 띄웠다. "
    "물의 양도 소금의 농도도 제대로 알지 못해 몇 번이나 전화를 걸어 여쭈었다. 할머니는 매번 같은 대답을 "
    "하셨다. 손이 기억할 때까지 해 보라고, 맛은 결국 정성이 만든다고. 여름이 지나고 처음 항아리를 열었을 "
    "때, 나는 익숙한 냄새에 그만 눈물이 났다. 그것은 단지 음식의 냄새가 아니라 한 사람이 평생 지켜 온 "
    "시간의 냄새였다. 이제 나는 아이들에게 장독대 사이를 뛰어다니게 한다. 언젠가 그 아이들도 이 냄새를 "
    "기억하며 자신의 항아리를 열게 될 것이다."
)
KO_HOST = (
    "지난 주말에는 친구들과 함께 북한산에 올랐다. 아침 일찍 출발했는데도 등산로 입구에는 벌써 사람들이 "
    "많이 모여 있었다. 우리는 계곡을 따라 천천히 걸으며 서로의 근황을 이야기했다. 한 친구는 새로 시작한 "
    "회사 일이 생각보다 바쁘다고 했고, 다른 친구는 요즘 자전거 타는 재미에 빠졌다고 했다. 중턱쯤 올라가자 "
    "바람이 시원하게 불어와 땀이 금세 식었다. 바위에 걸터앉아 김밥과 과일을 나누어 먹으니 세상 부러울 것이 "
    "없었다. 정상에 가까워질수록 길이 가팔라져 모두 말수가 줄어들었다. 마침내 백운대에 올라 서울 시내를 "
    "내려다보았을 때, 멀리 한강이 은빛으로 반짝이고 있었다. 우리는 사진을 몇 장 찍고 하산을 서둘렀다. "
    "내려오는 길에는 무릎이 조금 아팠지만 마음만은 가벼웠다. 산 아래 식당에서 파전과 막걸리를 먹으며 "
    "다음에는 설악산에 가자고 약속했다."
)
KO_UNRELATED = (
    "우리 동네 도서관이 새 단장을 마치고 다시 문을 열었다. 일 층에는 어린이를 위한 그림책 코너가 넓게 "
    "마련되었고, 이 층에는 조용히 공부할 수 있는 열람실이 생겼다. 특히 눈에 띄는 것은 창가에 놓인 긴 나무 "
    "책상이었다. 오후가 되면 햇빛이 책장 위로 부드럽게 쏟아져 들어와 책을 읽기에 더없이 좋았다. 도서관에서는 "
    "매달 작가와의 만남 행사도 열린다고 한다. 지난달에는 동화 작가가 찾아와 아이들에게 직접 이야기를 "
    "들려주었다고 들었다. 나는 앞으로 주말마다 이곳에 들러 읽고 싶었던 소설들을 하나씩 읽어 볼 생각이다. "
    "할머니와 함께 읽던 옛날이야기 책도 다시 찾아보고 싶다."
)

LICENCE_HEADER = (
    'Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in '
    "compliance with the License. You may obtain a copy of the License at http://www.apache.org/licenses/"
    "LICENSE-2.0 Unless required by applicable law or agreed to in writing, software distributed under the "
    'License is distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either '
    "express or implied. See the License for the specific language governing permissions and limitations "
    "under the License."
)


# Modules whose docstrings were copied from one another (gzip/lzma from bz2): real shared text, so only
# one of them may be in the corpus, or "unrelated" documents would rightly match.
_COPIED_FAMILIES = {"gzip", "lzma"}


def _docstring_texts(min_words: int, max_words: int) -> list[str]:
    """Docstring prose of stdlib modules, one text per module, in a stable order."""
    texts = []
    for path in sorted(STDLIB.glob("*.py")):
        if path.stem in _COPIED_FAMILIES:
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        docs = [
            ast.get_docstring(n)
            for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        ]
        words = " ".join(d for d in docs if d).split()
        if len(words) >= min_words:
            texts.append(" ".join(words[:max_words]))
    return texts


@pytest.fixture(scope="module")
def corpus() -> dict[str, list[str]]:
    texts = _docstring_texts(400, 700)
    assert len(texts) >= 80, "expected the stdlib docstrings of at least 80 modules"
    return {"works": texts[0:80:2], "others": texts[1:80:2]}


@pytest.fixture(scope="module")
def index(corpus) -> TextIndex:
    builder = TextIndexBuilder()
    for i, text in enumerate(corpus["works"]):
        builder.add(i, register_text(text.encode(), f"work-{i}"))
    builder.add(1000, register_text(KO_WORK, "ko-work"))
    for lic in ("Apache-2.0", "MPL-2.0", "GPL-3"):
        builder.add(2000 + len(builder), register_text((LICENSES / lic).read_bytes(), lic))
    return builder.build()


def _tokens(words: list[str]) -> int:
    """Number of tokens (the unit of fingerprint positions) in whitespace-separated words."""
    return fingerprint_text(" ".join(words)).n_words if words else 0


def _ids(matches: list[Match]) -> list[int]:
    return [m.work_id for m in matches]


# ---- fingerprints --------------------------------------------------------------------------------------


def test_fingerprint_shapes_and_determinism():
    text = (LICENSES / "Apache-2.0").read_text()
    a, b = fingerprint_text(text, "apache"), fingerprint_text(text.encode(), "apache")
    assert isinstance(a, TextFingerprint) and a.item == "apache"
    assert a.n_words == len(a.grams) + 7 > 1000
    assert a.grams.dtype == np.uint64 and a.minhash.dtype == np.uint32 and a.minhash.shape == (128,)
    assert a.bands.shape == (16,) and len(a.raw_hash) == len(a.norm_hash) == 16
    assert np.array_equal(a.grams, b.grams) and np.array_equal(a.minhash, b.minhash)
    assert a.raw_hash == b.raw_hash and a.norm_hash == b.norm_hash
    # Winnowing density is about 2 / (w + 1) and the gap between picks never exceeds the window.
    density = len(a.winnow_positions) / len(a.grams)
    assert 0.08 < density < 0.16
    assert np.diff(a.winnow_positions).max() <= 16


def test_normalised_hash_ignores_case_markup_and_whitespace():
    plain = fingerprint_text("The quick brown fox jumps over the lazy dog.", "a")
    marked = fingerprint_text("<p>The  QUICK <b>brown</b>\n fox jumps over\tthe lazy dog.</p>", "b")
    other = fingerprint_text("The quick brown fox jumps over the lazy cat.", "c")
    assert plain.raw_hash != marked.raw_hash
    assert plain.norm_hash == marked.norm_hash
    assert plain.norm_hash != other.norm_hash
    fullwidth = fingerprint_text("ＴＨＥ ｑｕｉｃｋ brown fox jumps over the lazy dog.", "d")  # NFKC
    assert fullwidth.norm_hash == plain.norm_hash


def test_korean_and_cjk_tokenisation():
    # Hangul words are separated by spaces: one token per eojeol.
    assert fingerprint_text("저작권자는 자신의 작품이 학습에 쓰이는지 알 권리가 있다.", "ko").n_words == 8
    # Japanese and Chinese have no spaces: one token per character.
    assert fingerprint_text("吾輩は猫である。名前はまだ無い。", "ja").n_words == 14
    assert fingerprint_text("床前明月光", "zh").n_words == 5
    assert fingerprint_text(KO_WORK, "ko").n_words == len(KO_WORK.split())


def test_register_text_adds_iscc_code():
    fp = register_text(KO_WORK.encode(), "ko-work")
    assert fp.iscc_code is not None and fp.iscc_code.startswith("ISCC:")
    assert fingerprint_text(KO_WORK, "ko-work").iscc_code is None
    assert np.array_equal(fp.grams, fingerprint_text(KO_WORK).grams)


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"", "empty text"),
        (b"   \n\t  ", "empty text"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00", "binary"),
        (bytes(range(1, 32)) * 20, "binary"),
        (b"caf\xe9 au lait", "not UTF-8"),
        ("!!! ... --- ???", "no words"),
        (12345, "expected bytes or str"),
    ],
)
def test_bad_input_raises_fingerprint_error_naming_the_item(data, reason):
    with pytest.raises(FingerprintError) as err:
        fingerprint_text(data, "shard-7/item-42")
    assert err.value.item == "shard-7/item-42"
    assert reason in err.value.reason
    assert "shard-7/item-42" in str(err.value)


def test_batch_records_bad_items_and_goes_on(index):
    items = {"good": KO_WORK.encode(), "junk": np.random.default_rng(3).bytes(4096), "empty": b""}
    fps, failures = [], {}
    for name, data in items.items():
        try:
            fps.append(fingerprint_text(data, name))
        except FingerprintError as exc:
            failures[exc.item] = exc.reason
    assert set(failures) == {"junk", "empty"}
    assert _ids(index.match(fps)[0]) == [1000]


def _digest(fp: TextFingerprint) -> str:
    h = hashlib.sha256()
    for v in (
        fp.raw_hash,
        fp.norm_hash,
        str(fp.n_words).encode(),
        fp.grams.tobytes(),
        fp.winnow_positions.astype("<i8").tobytes(),
        fp.minhash.tobytes(),
        fp.bands.tobytes(),
    ):
        h.update(v)
    return h.hexdigest()[:32]


MARKUP = "<p>The  QUICK <b>brown</b>\n fox &amp; jumps\tover the\x1clazy dog.</p>  " * 4


@pytest.mark.parametrize(
    "name, data, digest",
    [
        ("ko", KO_WORK.encode(), "a64e710d38b88b75a13dd06ccff3b451"),
        ("licence", LICENCE_HEADER.encode(), "1b84074c001ce7d95d48947a7508e1f5"),
        ("ja", ("吾輩は猫である。名前はまだ無い。" * 3).encode(), "217a1a40a1d6b9b2e1b1f217ff52d6e5"),
        ("markup", MARKUP, "8421570fe6b8eddce162090f65da92cc"),
    ],
)
def test_fingerprints_are_pinned(name, data, digest):
    """Registries and snapshots store these fingerprints: a faster implementation must give the same bits
    (digests computed by the first, per-document implementation)."""
    assert _digest(fingerprint_text(data, name)) == digest
    assert _digest(fingerprint_texts([(name, data)])[0]) == digest


def _mixed_items(corpus) -> list[tuple[str, bytes | str]]:
    items: list[tuple[str, bytes | str]] = []
    for i, text in enumerate(corpus["works"] + corpus["others"]):
        items.append((f"doc{i}", text.encode() if i % 2 else text))
    specials = [
        KO_WORK,
        KO_HOST.encode(),
        "吾輩は猫である。名前はまだ無い。",
        "床前明月光",
        MARKUP,
        "  tabs\tand\nnew\r\nlines\x0b\x0cand  runs   of\x1c\x1d\x1e\x1fseparators  ",
        "ＴＨＥ ｑｕｉｃｋ ﬁsh café cafe\u0301 Straße ΣΊΣΥΦΟΣ",
        "😀 emoji 🎉 text ☃ mixed 中文 and 한국어",
        "a b c d",
        "a b c d e",
        "one two three four five six seven",
        "one two three four five six seven eight",
        "0 0 0 0 1 1 1 1 j 0 0 j 0 0 " * 40,
        "under_score snake_case x2 9lives",
        b"",
        "!!! ... ---",
        b"caf\xe9",
        b"\x89PNG\r\n\x1a\n\x00\x00",
        42,
    ]
    items += [(f"special{i}", data) for i, data in enumerate(specials)]
    random.Random(5).shuffle(items)
    return items


def test_batch_equals_one_by_one(corpus, monkeypatch):
    items = _mixed_items(corpus)
    # Many times more code points than one numpy pass takes, so the batch is split and flushed often.
    monkeypatch.setattr(text_module, "_BATCH_CODE_POINTS", 20_000)
    assert sum(len(d) for _, d in items if isinstance(d, (str, bytes))) > 10 * text_module._BATCH_CODE_POINTS
    batched = fingerprint_texts(items)
    assert len(batched) == len(items)
    errors = 0
    for (name, data), got in zip(items, batched):
        try:
            want = fingerprint_text(data, name)
        except FingerprintError as exc:
            errors += 1
            assert isinstance(got, FingerprintError) and (got.item, got.reason) == (exc.item, exc.reason)
            continue
        assert isinstance(got, TextFingerprint) and got.item == name
        assert _digest(got) == _digest(want), name
        assert not got.grams.flags.writeable and not got.minhash.flags.writeable
    assert errors == 5  # empty, punctuation only, not UTF-8, binary, not bytes


def test_modality_fingerprint_many_uses_the_batch(corpus):
    items = [("a", corpus["works"][0].encode()), ("bad", b"\x00\x01"), ("b", KO_WORK.encode())]
    out = modality("text").fingerprint_many(items)
    assert isinstance(out[1], FingerprintError) and out[1].item == "bad"
    assert _digest(out[0]) == _digest(fingerprint_text(items[0][1], "a"))
    assert _digest(out[2]) == _digest(fingerprint_text(items[2][1], "b"))


def test_ascii_fast_paths_agree_with_unicode_rules():
    codes = np.arange(128, dtype=np.uint8)
    word = np.zeros(128, dtype=bool)
    tok._ascii_word(codes, word)
    assert np.array_equal(word, tok._class_table()[:128] == tok._WORD)
    assert np.array_equal(tok._ascii_space(codes), [chr(c).isspace() for c in range(128)])
    texts = ["a  b\t\tc\n\x1cd", "single spaced words", "x\r\n\r\ny", "tail"]
    buf = np.frombuffer("\x00".join(texts).encode(), dtype=np.uint8)
    assert tok.collapse_ascii(buf).tobytes().decode().split("\x00") == [" ".join(t.split()) for t in texts]


_ASCII_TEXT = st.text(st.sampled_from("ab_9 .\t\n\r\x0b\x0c\x1c\x1f-"), min_size=1, max_size=40)


@settings(max_examples=200, deadline=None)
@given(st.lists(_ASCII_TEXT, min_size=1, max_size=5))
def test_ascii_collapse_is_split_and_join(texts):
    texts = [t.strip() or "x" for t in texts]  # the batch holds folded texts: stripped, never empty
    buf = np.frombuffer("\x00".join(texts).encode(), dtype=np.uint8)
    assert tok.collapse_ascii(buf).tobytes().decode().split("\x00") == [" ".join(t.split()) for t in texts]


def test_scan_side_winnowing_is_deferred_but_the_same():
    scan, reg = fingerprint_text(KO_WORK, "k"), register_text(KO_WORK, "k")
    assert scan._words is not None  # not winnowed yet
    assert np.array_equal(scan.winnow_positions, reg.winnow_positions) and scan._words is None
    assert not scan.winnow_positions.flags.writeable
    for copy in (
        codec.loads(codec.dumps(fingerprint_text(KO_WORK, "k"))),
        pickle.loads(pickle.dumps(fingerprint_text(KO_WORK, "k"))),
    ):
        assert _digest(copy) == _digest(reg)
    with pytest.raises(AttributeError):
        scan.no_such_field  # noqa: B018


def test_bit_filter_never_turns_away_an_indexed_fingerprint(index):
    assert text_module._maybe_in(index._filter, index._filter_shift, index.fp_hash).all()
    absent = np.random.default_rng(9).integers(0, 2**64, size=20000, dtype=np.uint64)
    assert text_module._maybe_in(index._filter, index._filter_shift, absent).mean() < 0.1


def test_bit_filter_over_many_hashes_keeps_every_one_and_few_others():
    rng = np.random.default_rng(3)
    hashes = np.sort(rng.integers(0, 2**64, size=300_000, dtype=np.uint64))
    shift, packed = text_module._bit_filter(hashes)
    assert packed.nbytes <= 2 * len(hashes) * 2  # about 16 bits per hash
    assert text_module._maybe_in(packed, shift, hashes).all()
    absent = rng.integers(0, 2**64, size=100_000, dtype=np.uint64)
    assert 0.01 < text_module._maybe_in(packed, shift, absent).mean() < 0.1


# ---- matching ------------------------------------------------------------------------------------------


def test_exact_stage_raw_and_normalised(index, corpus):
    raw = index.match([fingerprint_text(corpus["works"][3].encode(), "copy")])[0]
    assert raw[0].work_id == 3 and raw[0].stage == "exact" and raw[0].score == 1.0
    assert raw[0].evidence["content"] == "raw"
    reformatted = "<div>" + corpus["works"][3].upper().replace(" ", "\n  ") + "</div>"
    norm = index.match([fingerprint_text(reformatted, "reformatted")])[0]
    assert norm[0].work_id == 3 and norm[0].stage == "exact" and norm[0].evidence["content"] == "normalised"


def test_50_word_excerpt_inside_unrelated_document(index, corpus):
    rng = random.Random(7)
    found = 0
    works, others = corpus["works"], corpus["others"]
    for wid in range(len(works)):
        words = works[wid].split()
        start = rng.randrange(50, len(words) - 100)
        excerpt = words[start : start + 50]
        host = others[wid].split()
        at = len(host) // 2
        query = " ".join(host[:at] + excerpt + host[at:])
        matches = index.match([fingerprint_text(query, f"q{wid}")])[0]
        hit = [m for m in matches if m.work_id == wid]
        if hit:
            found += 1
            m = hit[0]
            assert m.stage == "verified" and 0.0 < m.score <= 1.0
            spans = m.evidence["spans"]
            # The best span lies inside the inserted excerpt on the query side, and one span aligns it
            # with its origin in the work (a work that repeats itself may align elsewhere too).
            q0, w0, n = _tokens(host[:at]), _tokens(words[:start]), _tokens(excerpt)
            assert q0 <= spans[0]["query_words"][0] < spans[0]["query_words"][1] <= q0 + n
            assert any(w0 <= s["work_words"][0] < s["work_words"][1] <= w0 + n for s in spans)
            assert all(3 <= s["hits"] <= s["work_fingerprints"] for s in spans)
            # The verbatim chain lies inside the excerpt, and is as long as the rule demands.
            assert all(MIN_VERBATIM_WORDS <= s["verbatim_words"] <= n for s in spans)
    assert found >= 0.95 * len(works)


def _longest_shared_run(a: list[str], b: list[str]) -> int:
    """Length of the longest run of words that ``a`` and ``b`` share (dynamic programming)."""
    best, prev = 0, [0] * (len(b) + 1)
    for x in a:
        cur = [0] * (len(b) + 1)
        for j, y in enumerate(b):
            if x == y:
                cur[j + 1] = prev[j] + 1
        best = max(best, max(cur))
        prev = cur
    return best


def test_short_verbatim_runs_between_edits_do_not_make_an_excerpt_match(corpus):
    """An edited copy sharing only runs of 19 words with a work (like the benchmark's last false
    positives, which share 18-19) gives many hits on nearby diagonals, but no verbatim chain of
    MIN_VERBATIM_WORDS words; a 40-word verbatim passage still has one."""
    assert MIN_VERBATIM_WORDS > 19
    builder = TextIndexBuilder()
    # Words as the tokeniser sees them, so that word indices are fingerprint positions.
    works = [" ".join(re.findall(r"[a-z0-9_]+", t.lower())) for t in corpus["works"]]
    for i, t in enumerate(works):
        builder.add(i, register_text(t, f"w{i}"))
    index = builder.build()
    host = corpus["others"][0].split()
    cases = found = 0
    for wid in range(12):
        words = works[wid].split()
        # Runs of 19 words, two words deleted after each: every deletion moves the diagonal.
        edited = [w for i, w in enumerate(words[100:300]) if i % 21 < 19]
        longest = _longest_shared_run(edited, words)
        query = fingerprint_text(" ".join(host[:150] + edited + host[150:]), f"edited{wid}")
        before = [
            m
            for m in index.match([query], min_verbatim_words=text_module.GRAM_WORDS)[0]
            if m.work_id == wid and m.evidence.get("method") == "winnow"
        ]
        # No chain is longer than the longest verbatim run.
        assert all(s["verbatim_words"] <= longest for m in before for s in m.evidence["spans"])
        if before and longest < MIN_VERBATIM_WORDS:
            cases += 1
            # No excerpt span; the rewording stage may still recognise the edited copy (180 of the work's
            # words, a tenth of them deleted), which is what it is for.
            assert not [m for m in index.match([query])[0] if m.work_id == wid and "spans" in m.evidence]
        planted = fingerprint_text(" ".join(host[:150] + words[180:220] + host[150:]), f"planted{wid}")
        found += wid in _ids(index.match([planted], min_hits=2, min_containment=0.5)[0])
    assert cases >= 6, "the rule without chains should have matched most of these edited copies"
    assert found >= 10, found


def test_near_duplicates_with_10_percent_word_edits(index, corpus):
    rng = random.Random(11)
    vocabulary = " ".join(corpus["others"]).split()
    found = 0
    for wid, text in enumerate(corpus["works"]):
        words = text.split()
        for i in rng.sample(range(len(words)), len(words) // 10):
            words[i] = rng.choice(vocabulary)
        matches = index.match([fingerprint_text(" ".join(words), f"edit{wid}")])[0]
        found += bool(matches) and matches[0].work_id == wid
    assert found >= 0.95 * len(corpus["works"])


def test_light_edits_are_found_by_minhash_lsh_with_jaccard_estimate(index, corpus):
    words = corpus["works"][5].split()
    words[100] = "zebra"
    words[300] = "quokka"
    m = index.match([fingerprint_text(" ".join(words), "light")])[0][0]
    assert m.work_id == 5 and m.stage == "verified"
    assert m.evidence["method"] == "winnow+minhash-lsh"  # both detectors' evidence, merged
    assert m.evidence["spans"][0]["hits"] > 40
    assert 0.8 <= m.evidence["jaccard"] <= 1.0 and m.evidence["bands"] >= 1


def test_unrelated_documents_do_not_match(index, corpus):
    fps = [fingerprint_text(t, f"other{i}") for i, t in enumerate(corpus["others"])]
    fps.append(fingerprint_text(KO_UNRELATED, "ko-unrelated"))
    fps.append(fingerprint_text(KO_HOST, "ko-host"))
    results = index.match(fps)
    flagged = {fp.item: _ids(ms) for fp, ms in zip(fps, results) if ms}
    assert flagged == {}


def test_korean_excerpt(index):
    words = KO_WORK.split()
    excerpt = words[40:90]
    host = KO_HOST.split()
    query = " ".join(host[:30] + excerpt + host[30:])
    matches = index.match([fingerprint_text(query.encode(), "ko-query")])[0]
    assert _ids(matches) == [1000]
    span = matches[0].evidence["spans"][0]
    assert 40 <= span["work_words"][0] and span["work_words"][1] <= 90
    assert 30 <= span["query_words"][0] and span["query_words"][1] <= 80
    assert matches[0].score > 0.9


def test_boilerplate_shared_by_many_works_does_not_match_everything(corpus):
    def build(max_works: int) -> TextIndex:
        b = TextIndexBuilder(max_works_per_fingerprint=max_works)
        for i, text in enumerate(corpus["works"][:20]):
            b.add(i, fingerprint_text(LICENCE_HEADER + "\n\n" + text, f"w{i}"))
        return b.build()

    query = fingerprint_text(LICENCE_HEADER + "\n\n" + corpus["others"][0], "q")
    assert len(build(max_works=100).match([query])[0]) == 20  # without the stop list: everything
    idx = build(max_works=8)
    assert idx.match([query])[0] == []
    assert len(idx.stop) > 0
    # The works themselves are still recognised through their own text.
    assert _ids(idx.match([fingerprint_text(corpus["works"][4], "w4-copy")])[0])[:1] == [4]


def test_background_corpus_stops_generic_phrases(corpus):
    phrase = " ".join(corpus["others"][9].split()[:60])
    b = TextIndexBuilder()
    b.add(1, fingerprint_text(corpus["works"][0] + " " + phrase, "w"))
    query = fingerprint_text(corpus["others"][10] + " " + phrase, "q")
    assert _ids(b.build().match([query])[0]) == [1]
    b.add_background(fingerprint_text(corpus["others"][9], "bg1"))
    b.add_background(fingerprint_text(phrase + " " + corpus["others"][11], "bg2"))
    assert b.build().match([query])[0] == []


def test_builder_rejects_bad_work_ids():
    b = TextIndexBuilder()
    fp = fingerprint_text(KO_HOST)
    b.add(7, fp)
    with pytest.raises(ValueError, match="twice"):
        b.add(7, fp)
    with pytest.raises(ValueError, match="outside"):
        b.add(-1, fp)


def test_empty_index_and_empty_batch():
    idx = TextIndexBuilder().build()
    assert idx.match([fingerprint_text(KO_HOST)]) == [[]]
    assert idx.match([]) == []


# ---- size and persistence ------------------------------------------------------------------------------


def test_near_duplicate_index_is_an_order_of_magnitude_below_datasketch(index):
    sizes = index.nbytes()
    per_work = sizes["near_duplicate"] / len(index)
    assert per_work <= 490  # datasketch MinHashLSH: about 4.9 KB per document (reference §3.1)
    assert sizes["excerpt"] / len(index) < 3000  # about 20 B per winnowed fingerprint


def test_save_load_round_trip(index, corpus, tmp_path):
    paths = index.save(tmp_path / "idx", shards=4)
    assert {p.name for p in paths} >= {
        "works.parquet",
        "lsh.parquet",
        "exact.parquet",
        "stop.parquet",
        "excerpt-0000-of-0004.parquet",
        "excerpt-0003-of-0004.parquet",
    }
    for p in paths:  # hashes, positions and ids only: never the texts
        names = set(pq.read_schema(p).names)
        assert names <= {
            "work_id",
            "n_words",
            "minhash_b8",
            "iscc",
            "hash",
            "position",
            "band_key",
            "hash_hi",
            "hash_lo",
            "hangul_minhash_b8",
        }
    loaded = TextIndex.load(tmp_path / "idx")
    for name in (
        "work_ids",
        "n_words",
        "sigs",
        "fp_hash",
        "fp_widx",
        "fp_pos",
        "band_key",
        "band_widx",
        "exact_hi",
        "exact_lo",
        "exact_widx",
        "stop",
    ):
        a, b = getattr(index, name), getattr(loaded, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert loaded.iscc == index.iscc and loaded.params == index.params
    words = corpus["works"][2].split()
    fps = [fingerprint_text(" ".join(words[100:200]), "q"), fingerprint_text(KO_WORK, "k")]
    assert [[m.to_dict() for m in ms] for ms in loaded.match(fps)] == [
        [m.to_dict() for m in ms] for ms in index.match(fps)
    ]
    # Each hash lives in the shard of its low bits.
    shard3 = pq.read_table(tmp_path / "idx" / "excerpt-0003-of-0004.parquet")["hash"].to_numpy()
    assert len(shard3) and (shard3 & np.uint64(3) == 3).all()


# ---- issue 16: text copied the way people really copy it ----------------------------------------------
# Each family below is a reproduction: the code before the Hangul channel, the rewording stage and the
# line-end/invisible-character folding recognised none of these copies (or too few of them).

# Japanese and Chinese paragraphs written for these tests (not taken from anywhere).
JA_WORK = (
    "駅前の小さな本屋は、私が子どもの頃から同じ場所にある。店主のおじいさんは、いつも奥の机で古い辞書を"
    "めくりながら、客が来るとゆっくり顔を上げて微笑んだ。雨の日には、濡れた傘を入口の壺に立てかけて、"
    "何時間も棚の前で立ち読みをしたものだ。おじいさんは一度も私を追い出さず、帰り際には決まって、今日は"
    "どんな本に会えたかと尋ねた。大学に入って町を離れてからも、帰省するたびに店に寄った。棚の並びは"
    "少しずつ変わったが、紙とインクの匂いだけは昔のままだった。去年の冬、店の前に閉店のお知らせが貼られて"
    "いるのを見つけたとき、私はしばらくその場を動けなかった。最後の日、おじいさんは私に一冊の古い詩集を"
    "手渡し、これは君が最初に立ち読みした本だと言った。私はそのことをすっかり忘れていたのに、彼は覚えていた"
    "のだ。今でもその詩集を開くと、雨の音と、奥の机で辞書をめくる音が聞こえてくる気がする。"
)
ZH_WORK = (
    "我们村口有一棵老槐树，据说已经有三百多年了。夏天的傍晚，村里的老人们总喜欢搬着小板凳坐在树下乘凉，"
    "一边摇着蒲扇，一边讲过去的故事。孩子们围在旁边，听得入了迷，连母亲喊吃饭都听不见。爷爷说，这棵树"
    "见过饥荒，也见过丰年，见过有人离开，也见过有人回来。每年春天槐花开的时候，整个村子都飘着淡淡的"
    "甜香，奶奶会摘下一篮槐花，和面粉拌在一起蒸成槐花饭。后来我去城里读书、工作，很少再回村里。前年"
    "秋天回去，发现老槐树的一根大枝被雷劈断了，村里人用铁箍把伤口箍了起来。我站在树下很久，想起小时候"
    "那些讲不完的故事，才明白它一直在替我们记住那些被遗忘的日子。"
)


def _respace(text: str, rng: random.Random, p_remove: float, p_insert: float) -> str:
    out = []
    for ch in text:
        if ch == " " and rng.random() < p_remove:
            continue
        out.append(ch)
        if "\uac00" <= ch <= "\ud7a3" and rng.random() < p_insert:
            out.append(" ")
    return "".join(out)


def _edit(words: list[str], rng: random.Random, kind: str, rate: float, vocab: list[str]) -> list[str]:
    words = list(words)
    n = round(len(words) * rate)
    if kind == "sub":
        for i in rng.sample(range(len(words)), n):
            words[i] = rng.choice(vocab)
    elif kind == "del":
        for i in sorted(rng.sample(range(len(words)), n), reverse=True):
            del words[i]
    else:
        for _ in range(n):
            words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    return words


@pytest.fixture(scope="module")
def multilingual(corpus) -> TextIndex:
    builder = TextIndexBuilder()
    for i, text in enumerate(corpus["works"][:20]):
        builder.add(i, register_text(text, f"work-{i}"))
    builder.add(1000, register_text(KO_WORK, "ko"))
    builder.add(1001, register_text(JA_WORK, "ja"))
    builder.add(1002, register_text(ZH_WORK, "zh"))
    return builder.build()


@pytest.mark.parametrize("p_remove, p_insert", [(1.0, 0.0), (1.0, 0.3), (0.5, 0.1), (0.0, 0.25)])
def test_korean_with_other_spacing_is_recognised(multilingual, p_remove, p_insert):
    rng = random.Random(int(p_remove * 10 + p_insert * 100))
    query = _respace(KO_WORK, rng, p_remove, p_insert)
    assert query.replace(" ", "") == KO_WORK.replace(" ", "") and query != KO_WORK
    [matches] = multilingual.match([fingerprint_text(query, "respaced")])
    assert _ids(matches) == [1000]
    assert "hangul" in matches[0].evidence["method"]


def test_korean_excerpt_of_80_syllables_respaced_inside_other_text(multilingual):
    excerpt = KO_WORK[KO_WORK.index("콩을 삶고") :][:120]  # 80+ Hangul syllables
    assert len(re.findall("[\uac00-\ud7a3]", excerpt)) >= 80
    query = KO_HOST[:150] + " " + excerpt.replace(" ", "") + " " + KO_HOST[150:]
    [matches] = multilingual.match([fingerprint_text(query, "excerpt")])
    assert _ids(matches) == [1000]
    span = matches[0].evidence["hangul_spans"][0]
    assert span["verbatim_syllables"] >= text_module.MIN_VERBATIM_HANGUL


def test_unrelated_korean_texts_do_not_match_through_the_hangul_channel(multilingual):
    queries = [KO_HOST, KO_UNRELATED, KO_HOST.replace(" ", ""), KO_UNRELATED.replace(" ", "") + KO_HOST]
    results = multilingual.match([fingerprint_text(q, f"q{i}") for i, q in enumerate(queries)])
    assert results == [[], [], [], []]


@pytest.mark.parametrize("kind", ["sub", "del", "ins"])
def test_a_fifth_of_the_words_deleted_inserted_or_replaced(multilingual, corpus, kind):
    rng = random.Random(kind)
    vocab = " ".join(corpus["others"][:5]).split()
    ko_vocab = KO_UNRELATED.split()
    queries = [(i, " ".join(_edit(corpus["works"][i].split(), rng, kind, 0.2, vocab))) for i in range(20)]
    queries.append((1000, " ".join(_edit(KO_WORK.split(), rng, kind, 0.2, ko_vocab))))
    # Korean rewording and spacing changed together: only the Hangul channel still sees the work.
    queries.append((1000, _respace(" ".join(_edit(KO_WORK.split(), rng, kind, 0.2, ko_vocab)), rng, 1.0, 0.0)))
    results = multilingual.match([fingerprint_text(q, f"q{i}") for i, (_, q) in enumerate(queries)])
    assert [_ids(ms) for ms in results] == [[w] for w, _ in queries]


def test_rewording_needs_its_shared_fingerprints_in_the_works_order(multilingual, corpus):
    # The Jaccard estimate alone let unrelated texts of one upstream through by the chance of 128 MinHash
    # values; the rewording stage now also needs MIN_EDIT_CHAIN shared fingerprints in order.
    def chain(q, w, gram):
        return text_module.ordered_chain(q, w, gram)[0]

    gram = text_module.GRAM_WORDS
    q = np.arange(0, 200, 20)
    assert chain(q, q + 5, gram) == len(q)  # one alignment
    assert chain(q, q[::-1] + 5, gram) == 1  # the same places, reversed
    drift = np.array([0, 40, 80, 120])
    assert chain(drift, drift + np.array([0, 8, 16, 24]), gram) == 4  # a fifth inserted: the diagonal drifts
    assert chain(drift, drift + np.array([0, 30, 60, 90]), gram) == 1  # far off any one alignment
    rng = random.Random("order")
    vocab = " ".join(corpus["others"][:5]).split()
    edited = " ".join(_edit(corpus["works"][4].split(), rng, "sub", 0.2, vocab))
    [matches] = multilingual.match([fingerprint_text(edited, "edited")])
    assert _ids(matches) == [4]
    assert text_module.ordered_chain(q, q + 5, gram)[1] == q[-1] - q[0] + gram  # the stretch it spans
    if "minhash" in matches[0].evidence["method"]:
        assert matches[0].evidence["ordered_hits"] >= text_module.MIN_EDIT_CHAIN
        assert matches[0].evidence["ordered_span"] >= text_module.MIN_EDIT_SPAN


def test_ocr_confusions_are_recognised(multilingual, corpus):
    rng = random.Random(16)
    pairs = [("rn", "m"), ("l", "1"), ("o", "0"), ("e", "c"), ("i", "l"), ("h", "b")]

    def ocr(text: str) -> str:
        for a, b in pairs:  # about 3 % of characters confused
            text = re.sub(a, lambda m: b if rng.random() < 0.12 else m.group(0), text)
        return text

    queries = [ocr(corpus["works"][i]) for i in range(20)]
    results = multilingual.match([fingerprint_text(q, f"ocr{i}") for i, q in enumerate(queries)])
    assert [_ids(ms) for ms in results] == [[i] for i in range(20)]


def test_line_wrapping_and_hyphenation_give_the_same_normalised_text(multilingual, corpus):
    text = corpus["works"][3]
    lines, line = [], ""
    for word in text.split():  # wrapped at 40 columns, long words broken with a hyphen
        if len(line) + len(word) + 1 > 40 and len(word) > 6 and word.isalpha():
            lines.append(f"{line} {word[:3]}-")
            line = word[3:]
        elif len(line) + len(word) + 1 > 40:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    wrapped = "\n".join(lines + [line])
    assert wrapped.count("-\n") >= 10
    fp = fingerprint_text(wrapped, "wrapped")
    assert fp.norm_hash == fingerprint_text(text).norm_hash
    [matches] = multilingual.match([fp])
    assert matches[0].work_id == 3 and matches[0].stage == "exact"


def test_invisible_characters_inside_words_are_dropped(multilingual, corpus):
    text = corpus["works"][7]
    words = text.split()
    marked = " ".join(
        w[:2] + "\u00ad" + w[2:] if len(w) > 4 and i % 3 == 0 else w + "\u200b" for i, w in enumerate(words)
    )
    fp = fingerprint_text(marked, "invisible")
    assert fp.norm_hash == fingerprint_text(text).norm_hash
    assert _ids(multilingual.match([fp])[0]) == [7]


def test_case_punctuation_and_html_markup(multilingual, corpus):
    text = corpus["works"][9]
    page = (
        "<html><body><div class='post'><p>"
        + " ".join(f"<b>{w.upper()}</b>," if i % 7 == 0 else w for i, w in enumerate(text.split()))
        + "</p></div></body></html>"
    )
    assert _ids(multilingual.match([fingerprint_text(page, "page")])[0]) == [9]


@pytest.mark.parametrize("work_id, text", [(1001, JA_WORK), (1002, ZH_WORK)])
def test_japanese_and_chinese_copies(multilingual, work_id, text):
    rng = random.Random(work_id)
    chars = list(text)
    for i in rng.sample(range(len(chars)), len(chars) // 10):  # a tenth of the characters replaced
        chars[i] = rng.choice("的了是在不有人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动")
    edited = "".join(chars)
    wrapped = "\n".join(text[i : i + 30] for i in range(0, len(text), 30))  # line breaks anywhere
    excerpt = KO_HOST + text[40:140] + KO_UNRELATED  # 100 characters inside other text
    results = multilingual.match([fingerprint_text(q, "q") for q in (edited, wrapped, " ".join(text), excerpt)])
    assert [_ids(ms) for ms in results] == [[work_id]] * 4


def test_index_format_1_still_opens_and_says_what_needs_a_re_export(multilingual, tmp_path):
    d = tmp_path / "idx"
    multilingual.save(d)
    loaded = TextIndex.load(d)
    assert loaded.notices == [] and len(loaded.hangul.hash) == len(multilingual.hangul.hash) > 0
    respaced = fingerprint_text(KO_WORK.replace(" ", ""), "respaced")
    assert _ids(loaded.match([respaced])[0]) == [1000]
    # The same index as format 1 wrote it: no Hangul file or column, format 1 in the metadata.
    works = pq.read_table(d / "works.parquet")
    meta = json.loads(works.schema.metadata[b"fairtrain"])
    meta = {k: v for k, v in meta.items() if not k.startswith("hangul") and k != "works_without_hangul_channel"}
    meta["format"] = "fairtrain-text-index/1"
    for name in ("works.parquet", "excerpt-0000-of-0001.parquet", "lsh.parquet", "exact.parquet", "stop.parquet"):
        table = pq.read_table(d / name)
        if name == "works.parquet":
            table = table.drop_columns(["hangul_minhash_b8"])
        pq.write_table(table.replace_schema_metadata({"fairtrain": json.dumps(meta)}), d / name)
    (d / "hangul.parquet").unlink()
    old = TextIndex.load(d)
    assert len(old.notices) == 1 and "re-export" in old.notices[0] and "Korean" in old.notices[0]
    assert _ids(old.match([fingerprint_text(KO_WORK, "copy")])[0]) == [1000]  # the word channels still work
    assert old.match([respaced])[0] == []


def test_fingerprints_stored_before_the_hangul_channel_are_counted(corpus):
    fp = register_text(KO_WORK, "ko")
    stored = codec.loads(codec.dumps(fp))
    assert np.array_equal(stored.hangul_grams, fp.hangul_grams) and stored.hangul_minhash is not None
    # A blob written before the Hangul fields existed decodes with them None.
    before = TextFingerprint(
        fp.item,
        fp.raw_hash,
        fp.norm_hash,
        fp.n_words,
        fp.grams,
        fp.winnow_positions,
        fp.minhash,
        fp.bands,
        fp.iscc_code,
    )
    assert codec.loads(codec.dumps(before)).hangul_grams is None
    builder = TextIndexBuilder()
    builder.add(1, before)
    builder.add(2, register_text(corpus["works"][0], "en"))
    index = builder.build()
    assert index.params["works_without_hangul_channel"] == 1
    assert any("registered again" in n for n in index.notices)
    assert _ids(index.match([fingerprint_text(KO_WORK, "copy")])[0]) == [1]
