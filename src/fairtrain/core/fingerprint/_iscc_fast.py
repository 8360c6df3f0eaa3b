"""ISCC Text-Code v0, bit-identical to ``iscc_core.gen_text_code_v0`` and ~10x faster.

iscc-core 1.5 computes the Text-Code in three steps; two of them dominate a 200-word document
(~6 ms): ``alg_minhash`` (64 permutations × every 13-character n-gram on Python ints, even in its
compiled module) and ``text_collapse`` (a Python loop calling ``unicodedata.category`` per
character). Here:

- ``text_collapse``: the same NFD → lower → filter → NFKC, with the filter done by one
  ``str.translate`` whose table drops every code point that ``str.isspace`` or whose Unicode
  category starts with one of iscc-core's ``text_unicode_filter`` letters.
- n-gram features: XXH32 of each 13-character window's UTF-8, as iscc-core, but vectorised over
  all windows of a text at once (``xxh32_spans``) instead of one ``xxhash`` call per window.
- minhash: the 64 universal hashes ``((a·f + b) mod 2⁶⁴) mod (2⁶¹−1) mod 2³²`` as one uint64 numpy
  matrix over the windows of many texts at once (``gen_text_codes``; the modulus by Mersenne folding) (numpy's uint64 multiply wraps mod 2⁶⁴ exactly like iscc-core's ``& MAXI64``), the min over
  features, then iscc-core's bit compression (the lowest 4 bits of each minhash, bit plane by plane).
- the header and base32 come from ``iscc_core.encode_component`` itself.

``tests/test_iscc_fast.py`` holds this to iscc-core's own test vectors and to iscc-core's output for
Korean, Japanese and English corpora and hypothesis-generated Unicode text.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

import iscc_core as _ic
import numpy as np


def _minhash_source():
    """iscc-core's pure-Python minhash module (its compiled twin does not export the constants)."""
    import importlib.util
    from pathlib import Path

    path = Path(_ic.__file__).with_name("minhash.py")
    spec = importlib.util.spec_from_file_location("_iscc_core_minhash_py", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


_mh = _minhash_source()
NGRAM = _ic.core_opts.text_ngram_size
_FILTER = frozenset(_ic.core_opts.text_unicode_filter)
_A = np.array(_mh.MPA, dtype=np.uint64)[:, None]
_B = np.array(_mh.MPB, dtype=np.uint64)[:, None]
_MPRIME = np.uint64(_mh.MPRIME)
_MAXH = np.uint64(_mh.MAXH)


class _Dropped(dict):
    """``str.translate`` table: code point → None for every character iscc-core's ``text_collapse``
    drops (whitespace, or a Unicode category starting with a ``text_unicode_filter`` letter).

    Filled lazily, one code point at a time as texts meet them, from this interpreter's
    ``unicodedata`` — the same table iscc-core consults — so both agree on every code point.
    """

    def __missing__(self, cp: int):
        ch = chr(cp)
        value = None if ch.isspace() or unicodedata.category(ch)[0] in _FILTER else ch
        self[cp] = value
        return value


_DROPPED = _Dropped()


class _Plain(dict):
    """``str.translate`` table giving a text's collapse directly, without normalising the whole text twice,
    when every character of the text collapses on its own, whatever its neighbours:

    - a precomposed Hangul syllable: NFD splits it into jamo that the filter keeps and NFKC joins again;
    - a character that NFD leaves alone and whose lower case is one character that the filter drops;
    - or one whose lower case's NFKC form neither starts with a character that NFKC would join to what
      precedes it (a combining mark, or a trailing jamo after a syllable without one) nor holds a leading
      jamo that it would join to what follows: canonical composition joins nothing else, and every
      canonical decomposition's second part is a combining mark (Unicode 14, ``unicodedata``'s).

    Σ is left out (its lower case depends on what follows), and any character not above maps to
    ``_ELSEWHERE``, a value ``translate`` refuses: it raises TypeError and the text takes the full path.
    Korean text with its quotes, middle dots, circled numbers and hanja collapses ≈ 4x faster.
    """

    def __missing__(self, cp: int):
        self[cp] = value = _plain(cp)
        return value


_ELSEWHERE = 0.0


def _plain(cp: int) -> str | float | None:
    ch = chr(cp)
    if 0xAC00 <= cp <= 0xD7A3:
        return ch
    low = ch.lower()
    if cp == 0x3A3 or len(low) != 1 or unicodedata.normalize("NFD", ch) != ch:
        return _ELSEWHERE
    if low.isspace() or unicodedata.category(low)[0] in _FILTER:
        return None
    k = unicodedata.normalize("NFKC", low)
    joins_back = unicodedata.combining(k[0]) or unicodedata.category(k[0])[0] == "M" or 0x11A8 <= ord(k[0]) <= 0x11C2
    if joins_back or any(0x1100 <= ord(x) <= 0x1112 for x in k):
        return _ELSEWHERE
    return k


_PLAIN = _Plain()
# The same table for the Basic Multilingual Plane as a numpy array, filled 256 code points at a time as
# texts meet them: the code point a character collapses to, or _DROP, or _TRANSLATE (several characters,
# or the full path). A text of such characters collapses in a few vectorised steps (≈ 15 µs a 1,000-character
# Korean text, against ≈ 100 through ``translate`` and ≈ 200 through the two normalisations).
_DROP, _TRANSLATE, _UNKNOWN = -1, -2, -3
_BMP = np.full(0x10000, _UNKNOWN, dtype=np.int32)


def _fill(blocks: np.ndarray) -> None:
    for block in blocks.tolist():
        for cp in range(block << 8, (block + 1) << 8):
            v = _PLAIN[cp]
            _BMP[cp] = _DROP if v is None else ord(v) if isinstance(v, str) and len(v) == 1 else _TRANSLATE


def text_collapse(text: str) -> str:
    """``iscc_core.text_collapse``: where every character collapses on its own (see ``_Plain``), each
    mapped by a table; otherwise the same NFD → lower → filter → NFKC with the filter as one ``translate``."""
    if text.isascii():  # str.translate's own fast path
        return text.translate(_PLAIN)
    cp = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
    if not len(cp) or int(cp.max()) < 0x10000:
        mapped = _BMP[cp]
        if (mapped == _UNKNOWN).any():
            _fill(np.unique(cp[mapped == _UNKNOWN] >> 8))
            mapped = _BMP[cp]
        if not (mapped == _TRANSLATE).any():
            return mapped[mapped >= 0].astype("<u4").tobytes().decode("utf-32-le")
    try:
        return text.translate(_PLAIN)
    except TypeError:  # a character whose collapse depends on its neighbours (see _Plain)
        pass
    text = unicodedata.normalize("NFD", text).lower()
    return unicodedata.normalize("NFKC", text.translate(_DROPPED))


_P1, _P2, _P3, _P4, _P5 = (np.uint32(p) for p in (2654435761, 2246822519, 3266489917, 668265263, 374761393))
_PAD = np.zeros(64, dtype=np.uint8)


def _rotl(x: np.ndarray, r: int) -> np.ndarray:
    return (x << np.uint32(r)) | (x >> np.uint32(32 - r))


def xxh32_spans(buf: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """XXH32 (seed 0) of ``buf[start[i]:start[i]+length[i]]`` for every i at once, as uint32.

    The reference algorithm (16-byte stripes over four lanes, then 4-byte words, then single bytes,
    then the avalanche), for the spans of each length together: a window of 13 characters is 13 bytes
    of ASCII or 39 of Hangul, so a batch has a few lengths, each hashed without masks (1.6x faster than
    masking every span to the longest). ``buf`` must hold 16 readable bytes past the last span
    (``features`` pads it).
    """
    b = buf.astype(np.uint32)
    # the little-endian uint32 starting at every byte offset, so that each read is one gather
    w32 = b[:-3] | (b[1:-2] << np.uint32(8)) | (b[2:-1] << np.uint32(16)) | (b[3:] << np.uint32(24))
    start = start.astype(np.int64)
    length = length.astype(np.int64)
    out = np.empty(len(start), dtype=np.uint32)
    if not len(start):
        return out
    order = np.argsort(length, kind="stable")
    cuts = np.flatnonzero(np.diff(length[order])) + 1
    with np.errstate(over="ignore"):
        for group in np.split(order, cuts):
            out[group] = _xxh32_fixed(w32, b, start[group], int(length[group[0]]))
    return out


def _xxh32_fixed(w32: np.ndarray, b: np.ndarray, start: np.ndarray, length: int) -> np.ndarray:
    """XXH32 of the ``length`` bytes at each of ``start`` (``w32``: the uint32 at each byte offset)."""
    n = len(start)
    if length >= 16:
        v = [
            np.full(n, _P1 + _P2, np.uint32),
            np.full(n, _P2, np.uint32),
            np.zeros(n, np.uint32),
            np.full(n, np.uint32(0) - _P1, np.uint32),
        ]
        for k in range(length // 16):
            for j in range(4):
                v[j] = _rotl(v[j] + w32[start + (16 * k + 4 * j)] * _P2, 13) * _P1
        h = _rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)
    else:
        h = np.full(n, _P5, np.uint32)
    h += np.uint32(length)
    pos = 16 * (length // 16)
    for _ in range(length % 16 // 4):
        h = _rotl(h + w32[start + pos] * _P3, 17) * _P4
        pos += 4
    for _ in range(length % 4):
        h = _rotl(h + b[start + pos] * _P5, 11) * _P1
        pos += 1
    h ^= h >> np.uint32(15)
    h *= _P2
    h ^= h >> np.uint32(13)
    h *= _P3
    h ^= h >> np.uint32(16)
    return h


_CHUNK = 1 << 11  # windows per minhash matrix (64 × _CHUNK uint64 = 1 MiB: stays in the CPU cache)


def _window_spans(collapsed: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Byte spans of every NGRAM-character window of every text, all texts in one UTF-8 buffer.

    A text shorter than NGRAM has one window, the whole text (empty for an empty text), as
    iscc-core's ``sliding_window``. Returns (buffer, starts, lengths, windows per text).
    """
    raw = np.frombuffer("".join(collapsed).encode("utf-8"), dtype=np.uint8)
    bounds = np.append(np.flatnonzero((raw & 0xC0) != 0x80), len(raw))  # byte offset of each character
    chars = np.fromiter((len(t) for t in collapsed), dtype=np.int64, count=len(collapsed))
    first_char = np.cumsum(chars) - chars
    per_text = np.maximum(chars - NGRAM + 1, 1)
    text_of = np.repeat(np.arange(len(collapsed)), per_text)
    local = np.arange(int(per_text.sum())) - np.repeat(np.cumsum(per_text) - per_text, per_text)
    first = first_char[text_of] + local
    last = np.minimum(first + NGRAM, first_char[text_of] + chars[text_of])
    lo, hi = bounds[first], bounds[last]
    return np.concatenate([raw, _PAD]), lo, hi - lo, per_text


def _mersenne_minhash(feats: np.ndarray, segments: np.ndarray) -> np.ndarray:
    """``iscc_core.alg_minhash`` for consecutive feature segments starting at ``segments``: (texts, 64)."""
    x = np.multiply(_A, feats[None, :])  # wraps mod 2**64, as iscc-core's "& MAXI64"
    x += _B
    # x mod (2**61 - 1) without a division: fold the top 3 bits down; the sum is below 2**61 + 7, so
    # one subtraction of the modulus finishes it where the sum reached it (which almost never happens).
    top = x >> np.uint64(61)
    x &= _MPRIME
    x += top
    over = x >= _MPRIME
    if over.any():
        x[over] -= _MPRIME
    x &= _MAXH
    return np.minimum.reduceat(x, segments, axis=1).T


def soft_hashes(collapsed: Sequence[str]) -> np.ndarray:
    """``iscc_core.soft_hash_text_v0`` of each collapsed text: a (texts, 32) uint8 array."""
    if not collapsed:
        return np.empty((0, 32), dtype=np.uint8)
    buf, lo, length, per_text = _window_spans(collapsed)
    feats = xxh32_spans(buf, lo, length).astype(np.uint64)
    ends = np.cumsum(per_text)
    starts = ends - per_text
    out = np.empty((len(collapsed), 64), dtype=np.uint64)
    i = 0
    while i < len(collapsed):  # texts in groups of about _CHUNK windows (at least one text a group)
        j = max(int(np.searchsorted(ends, starts[i] + _CHUNK, side="right")), i + 1)
        base = starts[i]
        out[i:j] = _mersenne_minhash(feats[base : ends[j - 1]], starts[i:j] - base)
        i = j
    # alg_minhash_compress(lsb=4): bit plane 0 of all 64 values, then planes 1, 2, 3; big-endian.
    planes = (out[:, None, :] >> np.arange(4, dtype=np.uint64)[None, :, None]) & np.uint64(1)
    return np.packbits(planes.astype(np.uint8).reshape(len(collapsed), 256), axis=1)


def soft_hash_text_v0(text: str) -> bytes:
    """``iscc_core.soft_hash_text_v0``: the 256-bit soft hash of one collapsed text."""
    return soft_hashes([text])[0].tobytes()


def _encode(digest: bytes, bits: int) -> str:
    return "ISCC:" + _ic.encode_component(
        mtype=_ic.MT.CONTENT, stype=_ic.ST_CC.TEXT, version=_ic.VS.V0, bit_length=bits, digest=digest
    )


def gen_text_code_v0(text: str, bits: int = 64) -> dict:
    """Drop-in for ``iscc_core.gen_text_code_v0``: ``{"iscc": "ISCC:…", "characters": n}``."""
    text = text_collapse(text)
    return {"iscc": _encode(soft_hash_text_v0(text), bits), "characters": len(text)}


def gen_text_codes(texts: Sequence[str], bits: int = 64) -> list[str]:
    """The ISCC Text-Code of each text, computed together (several times faster than one by one)."""
    digests = soft_hashes([text_collapse(t) for t in texts])
    return [_encode(d.tobytes(), bits) for d in digests]
