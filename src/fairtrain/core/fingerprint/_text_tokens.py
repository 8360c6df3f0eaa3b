"""Decoding, normalisation and vectorised word tokenisation/hashing for text fingerprints.

Words are found and hashed in numpy over the code points of the normalised text (one byte each for
ASCII text, UTF-32 otherwise). A per-code-point class table says what each character is, and a
polynomial prefix sum hashes every word at once. There is no Python loop per word, and a whole batch of
documents, joined by NUL separators, goes through each numpy call at once, so the per-call overhead is
paid once per batch rather than once per document (benchmarks/fingerprint_text.py prints both ways).
"""

from __future__ import annotations

import html
import re
import sys
import unicodedata
from functools import lru_cache

import numpy as np

from fairtrain.core.fingerprint import FingerprintError

_U64 = np.uint64
_MASK64 = (1 << 64) - 1

# Token classes per code point.
_SEP, _WORD, _CHAR = 0, 1, 2

# Scripts written without spaces between words: every character is one token (character n-grams).
# Hangul is absent on purpose: Korean separates words (eojeol) with spaces.
_CHAR_TOKEN_RANGES = (
    (0x0E00, 0x0EFF),  # Thai, Lao
    (0x0F00, 0x0FFF),  # Tibetan
    (0x1000, 0x109F),  # Myanmar
    (0x1780, 0x17FF),  # Khmer
    (0x2E80, 0x2FDF),  # CJK radicals
    (0x3040, 0x30FF),  # Hiragana, Katakana
    (0x3100, 0x312F),  # Bopomofo
    (0x31A0, 0x31FF),  # Bopomofo ext., Katakana ext.
    (0x3400, 0x4DBF),  # CJK ext. A
    (0x4E00, 0x9FFF),  # CJK unified ideographs
    (0xF900, 0xFAFF),  # CJK compatibility ideographs
    (0xFF66, 0xFF9F),  # half-width Katakana
    (0x20000, 0x3134F),  # CJK ext. B-G
)

# A word broken at a line end ("recog-\nnition") is joined again, and characters that are invisible in
# print (soft hyphen, zero-width space and joiners, word joiner, BOM) are dropped: both split words where
# the printed text has none.
_LINE_HYPHEN_RE = re.compile(r"(?<=\w)[-\u2010\u00ad][ \t]*\r?\n[ \t]*(?=\w)")
_INVISIBLE = "\u00ad\u200b\u200c\u200d\u2060\ufeff"
_DROP_INVISIBLE = dict.fromkeys(map(ord, _INVISIBLE))
# Hangul syllables (U+AC00..U+D7A3): the spacing-invariant channel reads these and nothing else.
HANGUL_FIRST, HANGUL_COUNT = 0xAC00, 11172

_TAG_RE = re.compile(r"<!--.*?-->|<(script|style)\b[^>]*>.*?</\1\s*>|<[A-Za-z/!?][^<>]{0,2000}>", re.S | re.I)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13))


@lru_cache(maxsize=1)
def _class_table() -> np.ndarray:
    """uint8 class for every code point: letters, digits, marks and connectors are word characters."""
    table = np.zeros(sys.maxunicode + 1, dtype=np.uint8)
    for cp in range(sys.maxunicode + 1):
        cat = unicodedata.category(chr(cp))
        if cat[0] in "LNM" or cat == "Pc":
            table[cp] = _WORD
    for lo, hi in _CHAR_TOKEN_RANGES:
        seg = table[lo : hi + 1]
        seg[seg == _WORD] = _CHAR
    return table


def decode(data: bytes | str, item: str) -> str:
    """UTF-8 text of ``data``; FingerprintError for binary or undecodable input."""
    if isinstance(data, str):
        text = data
    elif isinstance(data, (bytes, bytearray, memoryview)):
        raw = bytes(data)
        if raw.find(b"\x00", 0, 65536) >= 0:
            raise FingerprintError(item, "binary data (NUL bytes), not text")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise FingerprintError(item, f"not UTF-8 text (invalid byte at offset {exc.start})") from None
        head = raw[:65536]
        # One pass deleting the control bytes: 28 bytes.count() passes cost 30 µs per 500-word document.
        if head and len(head) - len(head.translate(None, _CONTROL_BYTES)) > 0.01 * len(head):
            raise FingerprintError(item, "binary data (control bytes), not text")
    else:
        raise FingerprintError(item, f"expected bytes or str, got {type(data).__name__}")
    if "\x00" in text:
        raise FingerprintError(item, "binary data (NUL characters), not text")
    if not text.strip():
        raise FingerprintError(item, "empty text")
    return text


def fold(text: str) -> str:
    """Markup stripped, words broken at line ends joined, invisible characters dropped, NFKC, casefolded,
    stripped at both ends; inner whitespace not yet collapsed."""
    if "<" in text:
        text = _TAG_RE.sub(" ", text)
    if "&" in text:
        text = html.unescape(text)
    # One substring scan for the usual case ("\r" is a one-byte scan): 2 µs per 500-word document.
    if "-\n" in text or ("\r" in text and "-\r\n" in text):
        text = _LINE_HYPHEN_RE.sub("", text)
    if text.isascii():  # NFKC leaves ASCII alone and casefold is lower there; both skipped
        return text.lower().strip()
    if "\u00ad\n" in text or "\u2010\n" in text:
        text = _LINE_HYPHEN_RE.sub("", text)
    if any(c in text for c in _INVISIBLE):
        text = text.translate(_DROP_INVISIBLE)
    return unicodedata.normalize("NFKC", text).casefold().strip()


def normalise(text: str) -> str:
    """Markup stripped, NFKC, casefolded, whitespace collapsed: the text the exact stage and tokens use."""
    # str.split() is 5x faster than re.sub(r"\s+") here (16 vs 79 µs on 500 words).
    return " ".join(fold(text).split())


def collapse_ascii(buf: np.ndarray) -> np.ndarray:
    """``" ".join(t.split())`` for each of NUL-joined ASCII texts that have no whitespace at either end,
    as one numpy pass over the whole batch (uint8 in, uint8 out, NUL separators kept): 1-8 µs per
    500-word document (the boolean compress of whitespace runs is most of it) against 34 µs for split and
    join."""
    space = _ascii_space(buf)
    # buf + (32 - buf) wraps to 32 in uint8: every whitespace byte becomes a space, in SIMD arithmetic
    # (0.4 µs per document against 5.6 for np.where).
    out = buf + space.view(np.uint8) * (np.uint8(32) - buf)
    run = space[1:] & space[:-1]
    if run.any():  # text joined from single-spaced words has no runs: no copy then
        keep = np.empty(len(buf), dtype=bool)
        keep[0] = True
        np.logical_not(run, out=keep[1:])  # the first space of each run stays
        out = out[keep]
    return out


# Range tests by wrapping uint8 subtraction, not table lookups: comparisons run in SIMD, while a gather
# costs about 2 ns per byte (7 vs 0.5 µs per 500-word document).
def _ascii_space(buf: np.ndarray) -> np.ndarray:
    """str.isspace() of each ASCII byte: tab to carriage return, the information separators, space."""
    space = (buf - np.uint8(9)) < 5
    space |= (buf - np.uint8(28)) < 5
    return space


def _ascii_word(buf: np.ndarray, out: np.ndarray) -> None:
    """Word characters (letters, digits, underscore: categories L, N, M, Pc) of ASCII bytes into ``out``."""
    np.less(np.bitwise_or(buf, np.uint8(0x20)) - np.uint8(97), 26, out=out)
    out |= (buf - np.uint8(48)) < 10
    out |= buf == 95


def fmix64(x: np.ndarray) -> np.ndarray:
    """MurmurHash3 finaliser, in place on a uint64 array (and returned)."""
    x ^= x >> _U64(33)
    x *= _U64(0xFF51AFD7ED558CCD)
    x ^= x >> _U64(33)
    x *= _U64(0xC4CEB9FE1A85EC53)
    x ^= x >> _U64(33)
    return x


_BASE = 0x100000001B3 * 2 + 1  # odd, so invertible modulo 2**64
_BASE_INV = pow(_BASE, -1, 1 << 64)


class _Powers:
    """BASE**i and BASE**-i modulo 2**64, grown on demand."""

    def __init__(self) -> None:
        self.pow = np.ones(1, dtype=np.uint64)
        self.inv = np.ones(1, dtype=np.uint64)

    def ensure(self, n: int) -> None:
        if len(self.pow) >= n:
            return
        size = max(n, 2 * len(self.pow), 1 << 16)
        pw = np.full(size, _BASE, dtype=np.uint64)
        pw[0] = 1
        iv = np.full(size, _BASE_INV, dtype=np.uint64)
        iv[0] = 1
        self.pow = np.cumprod(pw, dtype=np.uint64)
        self.inv = np.cumprod(iv, dtype=np.uint64)


_POWERS = _Powers()


def code_points(text: str) -> np.ndarray:
    """Code points of ``text``: uint8 when it is ASCII, uint32 otherwise (lone surrogates kept)."""
    if text.isascii():
        return np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")


def word_hashes(norm: str) -> np.ndarray:
    """64-bit hash of every token of normalised text, in order (uint64 array).

    A token is a run of word characters, or a single character of a script written without spaces.
    """
    return token_hashes(code_points(norm))[0]


def token_hashes(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash, start position) of every token in the code points ``cp`` (uint8 or uint32), in order.

    A word's hash depends on its characters only, never on its position, so texts joined by separator
    characters give each text's hashes in turn.
    """
    n = len(cp)
    if n == 0:
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.intp)
    padded = np.zeros(n + 2, dtype=bool)  # word characters, with a non-word character at each end
    if cp.dtype == np.uint8:
        _ascii_word(cp, padded[1:-1])
        single = None
    else:
        cls = _class_table()[cp]
        np.equal(cls, _WORD, out=padded[1:-1])
        single = np.flatnonzero(cls == _CHAR)
    edges = np.flatnonzero(padded[1:] != padded[:-1])  # word starts and ends, alternating
    starts, ends = edges[0::2], edges[1::2]
    if single is not None and len(single):
        starts = np.concatenate([starts, single])
        ends = np.concatenate([ends, single + 1])
        order = np.argsort(starts, kind="stable")
        starts, ends = starts[order], ends[order]
    if len(starts) == 0:
        return np.empty(0, dtype=np.uint64), starts
    _POWERS.ensure(n + 1)
    values = np.add(cp, _U64(0x9E3779B97F4A7C15), dtype=np.uint64)  # no code point hashes to zero
    values *= _POWERS.pow[:n]
    prefix = np.empty(n + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(values, out=prefix[1:])
    h = prefix[ends] - prefix[starts]
    h *= _POWERS.inv[starts]
    h += (ends - starts).astype(np.uint64)
    return fmix64(h), starts


_HANGUL_SALT = _U64(0x243F6A8885A308D3)


def hangul_tokens(cp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(64-bit hash, position in ``cp``) of every Hangul syllable of the code points ``cp``, in order.

    Spaces, punctuation, digits and other scripts are skipped, so the sequence is the same however the
    text is spaced: a phrase with its word spaces and the same phrase run together give the same hashes.
    """
    if cp.dtype == np.uint8:  # ASCII: no Hangul
        return np.empty(0, dtype=np.uint64), np.empty(0, dtype=np.intp)
    at = np.flatnonzero((cp - np.uint32(HANGUL_FIRST)) < np.uint32(HANGUL_COUNT))
    h = cp[at].astype(np.uint64)
    h += _HANGUL_SALT
    return fmix64(h), at
