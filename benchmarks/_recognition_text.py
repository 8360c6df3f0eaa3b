"""Text recognition on independent material: every edit family of issue 16, its own row, beside datasketch.

Run through ``benchmarks/recognition.py`` (``--modality text``); ``run(args)`` returns the rows.

Works (registered): 150 texts the project does not generate, Korean and English in equal parts:
- Korean: the Korean corpora shipped in the konlpy wheel (``kolaw``: the Constitution of the Republic of
  Korea; ``kobill``: ten National Assembly bills; public-domain official texts, package GPL-3.0), fetched
  with ``pip download konlpy==0.6.0 --no-deps`` into ``--cache`` when missing; and the Korean Debian FAQ
  (Debian package ``debian-faq-ko``, HTML pages; GPL-2+).
- English: the Debian Reference (``debian-reference-en``, HTML chapters; GPL-2+).
Korean works are 180-eojeol passages, English works 300-word passages, in the source's own wording.

Negatives (never registered; also hosts for excerpts): 500-word chunks of ``/usr/share/doc`` (changelogs,
READMEs, copyright files of every installed package, the two sources above left out) and of the
docstrings of the Python standard library, Korean passages of the GIMP manual (``gimp-help-ko``, GFDL),
Japanese and Chinese chapters of the Debian Reference (``debian-reference-ja``, ``-zh-cn``), and the
Korean FAQ passages not chosen as works. A negative that really contains a work is a true match, not a
false one: any negative sharing a run of 20 words (``\\w+`` of the casefolded text) or of 40 Hangul
syllables (spaces and everything else dropped) with a work is removed before use, by exact comparison
that shares no code with the fingerprints; the count is printed.

Edit families (parameters drawn per query, uniformly in the stated ranges, from ``--seed``): see
``FAMILIES``. Baseline in the same run: datasketch MinHash (128 permutations, word 5-gram shingles of
``\\w+`` tokens) + MinHashLSH (threshold 0.5). Speed: documents per CPU second of this process (per core;
fingerprint + match against the 150 works, batched), on negatives half Korean and half English, for this
checkout and for ``main``'s text fingerprint modules loaded from git beside it (the current release's code
path), as a ratio; turns alternate and the best of each is kept.

False-match rate per query at 10**7 works: an index of unrelated material (the negatives of 3/4 of the
source packages, as works) is queried with the negatives of the other 1/4 (none sharing a verbatim run
with an indexed one). Candidates of the rewording stage (works sharing at least MIN_EDIT_HITS
fingerprints; the span stage needs a shared 20-word or 40-syllable run, a true overlap) grow linearly with
the index, so their count per query is scaled to 10**7 works. A candidate passes only with two independent
pieces of evidence: its MinHash agreement (the binomial tail of reaching the threshold at the pair's own
Jaccard estimate) and the order of its shared fingerprints (1 where they line up along one alignment
spanning MIN_EDIT_SPAN of the work, else the Monte-Carlo chance that as many hits at random places would).
Expected false matches per query = scaled sum over candidates of the product (see ``fmr_estimate``); a
pair really matched counts 1. The index holds thousands of works, not 10**6: the rate is scaled from it.
"""

from __future__ import annotations

import gzip
import html
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

from fingerprint_text import STDLIB, _docstrings, longest_shared_run, scan_speeds, verbatim_copies  # noqa: E402

from fairtrain.core.fingerprint import _text_sketch as sk  # noqa: E402
from fairtrain.core.fingerprint import text as ft  # noqa: E402

KONLPY = "konlpy==0.6.0"
FAQ_KO = Path("/usr/share/doc/debian/FAQ/ko")
REF = Path("/usr/share/doc/debian-reference-en/docs")
GIMP_KO = Path("/usr/share/gimp/2.0/help/ko")
DEBIAN_PACKAGES = (
    "debian-faq-ko",
    "debian-reference-en",
    "debian-reference-ja",
    "debian-reference-zh-cn",
    "gimp-help-ko",
)
KO_WORDS, EN_WORDS = 180, 300
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<[^>]+>", re.S | re.I)
_WORD = re.compile(r"\w+")
_HANGUL = re.compile(r"[\uac00-\ud7a3]")


# ---- corpus ---------------------------------------------------------------------------------------------


def _html_text(path: Path) -> str:
    raw = path.read_text(encoding="utf-8", errors="replace")
    body = raw[raw.lower().find("<body") :] if "<body" in raw.lower() else raw
    return html.unescape(_TAG.sub(" ", body))


def _passages(text: str, size: int) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + size]) for i in range(0, len(words) - size + 1, size)]


def _konlpy_texts(cache: Path) -> list[str]:
    wheels = sorted(cache.glob("konlpy-0.6.0-*.whl"))
    if not wheels:
        cache.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", KONLPY, "--no-deps", "-q", "-d", str(cache)], check=True
        )
        wheels = sorted(cache.glob("konlpy-0.6.0-*.whl"))
    with zipfile.ZipFile(wheels[0]) as z:
        names = sorted(n for n in z.namelist() if n.startswith("konlpy/data/corpus/") and n.endswith(".txt"))
        return [z.read(n).decode("utf-8") for n in names]


def _unpacked(cache: Path, package: str) -> Path:
    """A Debian package's files, unpacked into ``cache`` with ``apt-get download`` and ``dpkg-deb -x``
    (not installed: the LibreOffice help packages depend on LibreOffice itself)."""
    root = cache / package
    if not root.exists():
        cache.mkdir(parents=True, exist_ok=True)
        debs = sorted(cache.glob(f"{package}_*.deb"))
        if not debs:
            subprocess.run(["apt-get", "download", package], cwd=cache, check=True, capture_output=True)
            debs = sorted(cache.glob(f"{package}_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root) + ".tmp"], check=True)
        os.replace(str(root) + ".tmp", root)
    return root


def _doc_passages(limit: int, per_package: int, skip: set[str]) -> list[tuple[str, str]]:
    """(package, 500-word passage) from /usr/share/doc, at most ``per_package`` per package: one package's
    machine-made logs (gdb ships its whole test-suite log) must not fill the negatives with one text."""
    out: list[tuple[str, str]] = []
    for d in sorted(p for p in Path("/usr/share/doc").iterdir() if p.is_dir() and p.name not in skip):
        got: list[str] = []
        for path in sorted(d.rglob("*")):
            if len(got) >= per_package:
                break
            if not path.is_file() or path.is_symlink():
                continue
            try:
                data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
                text = data.decode("utf-8")
            except (OSError, UnicodeDecodeError, EOFError, zlib.error):
                continue
            if "\x00" not in text:
                got.extend(_passages(text, 500))
        out.extend((d.name, c) for c in got[:per_package])
        if len(out) >= limit:
            break
    return out[:limit]


def _source_packages() -> dict[str, str]:
    """Debian binary package -> its source package, from dpkg."""
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\t${source:Package}\n"], capture_output=True, text=True, check=False
    ).stdout
    return dict(line.split("\t", 1) for line in out.splitlines() if "\t" in line)


def distinct(candidates: list[str], n: int) -> list[str]:
    """The first ``n`` candidates that share no 20-word or 40-syllable run with one chosen before: works
    are distinct, so a query matching another work than its own is a false match, not a shared passage
    (bills amending one law repeat whole paragraphs)."""
    chosen: list[str] = []
    for c in candidates:
        if not chosen or not true_overlaps(chosen, [c]):
            chosen.append(c)
        if len(chosen) == n:
            break
    return chosen


def _hangul_share(text: str) -> float:
    return len(_HANGUL.findall(text)) / max(1, len(text.replace(" ", "")))


def load(cache: Path, n_per_lang: int, n_negatives: int):
    """Works (Korean, English) and negatives as (language, source, text); a source is a package or corpus."""
    from _common import ensure_debian_packages

    ensure_debian_packages(DEBIAN_PACKAGES)
    missing = [p for p in (FAQ_KO, REF, GIMP_KO) if not p.exists()]
    if missing:
        raise SystemExit(f"missing {', '.join(map(str, missing))}: apt-get install {' '.join(DEBIAN_PACKAGES)}")
    law = [p for t in _konlpy_texts(cache) for p in _passages(t, KO_WORDS)]
    faq = [p for f in sorted(FAQ_KO.glob("*.ko.html")) for p in _passages(_html_text(f), KO_WORDS)]
    faq = [p for p in faq if _hangul_share(p) > 0.5]
    rng = random.Random(7)
    faq = rng.sample(faq, len(faq))
    ko_works = distinct(law[::2] + faq[:40] + law[1::2] + faq[40:], n_per_lang)
    chosen = set(ko_works)
    en_all = [p for f in sorted(REF.glob("*.en.html")) for p in _passages(_html_text(f), EN_WORDS)]
    en_works = distinct(rng.sample(en_all, len(en_all)), n_per_lang)
    negatives = [("ko", "debian-faq-ko", p) for p in faq if p not in chosen]
    for source, root in (("gimp-help-ko", GIMP_KO), ("libreoffice-help-ko", _unpacked(cache, "libreoffice-help-ko"))):
        negatives += [
            ("ko", source, p)
            for f in sorted(root.rglob("*.html"))
            for p in _passages(_html_text(f), 80)
            if _hangul_share(p) > 0.3
        ]
    negatives = negatives[: n_negatives * 2 // 5]
    for pkg in ("libreoffice-help-ja", "libreoffice-help-zh-cn"):  # not the Debian Reference: a translation
        root = _unpacked(cache, pkg)  # of the English works is not unrelated to them
        negatives += [("cjk", pkg, p) for f in sorted(root.rglob("*.html")) for p in _cjk_chunks(_html_text(f), 400)][
            : n_negatives // 20
        ]
    skip = set(DEBIAN_PACKAGES) | {"debian-reference-common", "debian-faq"}
    n_en = max(0, n_negatives - len(negatives))
    negatives += [("en", "python-stdlib", p) for p in _docstrings(sorted(STDLIB.glob("*.py")), n_en // 4)]
    negatives += [("en", pkg, p) for pkg, p in _doc_passages(n_negatives - len(negatives), 25, skip)]
    return ko_works, en_works, negatives


def _cjk_chunks(text: str, size: int) -> list[str]:
    t = " ".join(text.split())
    return [t[i : i + size] for i in range(0, len(t) - size + 1, size)]


def _spaceless_hangul(text: str) -> str:
    return " ".join(_HANGUL.findall(text))


def true_overlaps(works: list[str], negatives: list[str]) -> set[int]:
    """Negatives sharing a 20-word run or a 40-syllable Hangul run with some work (exact comparison).
    Words are ``\\w+``, and also ``\\w+`` with underscores read as spaces: two GnuPG libraries' changelogs
    share one commit message ("--disable-new-dtags ... LDADD for tests kludge") that is 21 words when
    ``LD_LIBRARY_PATH`` counts as three and 17 when it counts as one."""
    hits = set(verbatim_copies(works, negatives, 20))
    hits |= set(verbatim_copies([w.replace("_", " ") for w in works], [n.replace("_", " ") for n in negatives], 20))
    hits |= set(verbatim_copies([_spaceless_hangul(w) for w in works], [_spaceless_hangul(n) for n in negatives], 40))
    return hits


# ---- edit families --------------------------------------------------------------------------------------

_OCR_EN = [
    ("rn", "m"),
    ("m", "rn"),
    ("l", "1"),
    ("1", "l"),
    ("O", "0"),
    ("o", "0"),
    ("e", "c"),
    ("c", "e"),
    ("i", "l"),
    ("cl", "d"),
    ("d", "cl"),
    ("h", "b"),
    ("u", "v"),
    ("S", "5"),
    ("B", "8"),
    ("g", "q"),
]
# Korean OCR: a vowel read as its look-alike, or a final consonant lost.
_VOWEL_LOOKALIKE = {0: 2, 2: 0, 4: 6, 6: 4, 8: 12, 12: 8, 13: 17, 17: 13, 18: 13, 20: 18}


def _ocr_ko(ch: str, rng: random.Random) -> str:
    s = ord(ch) - 0xAC00
    lead, vowel, tail = s // 588, (s % 588) // 28, s % 28
    if tail and rng.random() < 0.5:
        tail = 0
    elif vowel in _VOWEL_LOOKALIKE:
        vowel = _VOWEL_LOOKALIKE[vowel]
    else:
        tail = (tail + 1) % 28
    return chr(0xAC00 + lead * 588 + vowel * 28 + tail)


def respace(text: str, rng: random.Random) -> str:
    """Korean spacing changed: a share of spaces removed (sometimes all), spaces inserted between syllables."""
    p_remove = 1.0 if rng.random() < 0.25 else rng.uniform(0.1, 1.0)
    p_insert = rng.uniform(0.0, 0.3)
    out = []
    for ch in text:
        if ch == " " and rng.random() < p_remove:
            continue
        out.append(ch)
        if _HANGUL.match(ch) and rng.random() < p_insert:
            out.append(" ")
    return "".join(out)


def edit_words(text: str, rng: random.Random, vocab: list[str], kinds: str) -> str:
    rate = rng.uniform(0.02, 0.20)
    words = text.split()
    n = max(1, round(len(words) * rate))
    if kinds == "mixed":
        cuts = sorted(rng.sample(range(n + 2), 2))
        counts = {"del": cuts[0], "ins": cuts[1] - cuts[0], "sub": n + 1 - cuts[1]}
    else:
        counts = {kinds: n}
    for i in rng.sample(range(len(words)), min(len(words), counts.get("sub", 0))):
        words[i] = rng.choice(vocab)
    for i in sorted(rng.sample(range(len(words)), min(len(words) - 1, counts.get("del", 0))), reverse=True):
        del words[i]
    for _ in range(counts.get("ins", 0)):
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocab))
    return " ".join(words)


def excerpt(text: str, host: str, rng: random.Random, korean: bool) -> str:
    words = text.split()
    if korean:  # at least 80 Hangul syllables
        start = rng.randrange(0, len(words) // 2)
        want, end, got = rng.randint(80, 240), start, 0
        while end < len(words) and got < want:
            got += len(_HANGUL.findall(words[end]))
            end += 1
    else:
        length = rng.randint(40, 120)
        start = rng.randrange(0, len(words) - length)
        end = start + length
    h = host.split()
    at = rng.randrange(len(h) + 1)
    return " ".join(h[:at] + words[start:end] + h[at:])


def change_case(text: str, rng: random.Random) -> str:
    mode = rng.choice(["upper", "title", "random"])
    if mode == "upper":
        return text.upper()
    if mode == "title":
        return text.title()
    return " ".join(
        w.upper() if rng.random() < 0.3 else w.capitalize() if rng.random() < 0.3 else w for w in text.split()
    )


def punctuate(text: str, rng: random.Random) -> str:
    p = rng.uniform(0.05, 0.3)
    if rng.random() < 0.5:  # punctuation removed
        return re.sub(r"[^\w\s]", lambda m: "" if rng.random() < 0.8 else " ", text)
    marks = [",", ".", ";", ":", "!", "?", " -", "…", "「", "」", "(", ")", '"']
    return " ".join(w + rng.choice(marks) if rng.random() < p else w for w in text.split())


def wrap(text: str, rng: random.Random, korean: bool) -> str:
    """Line wrapping at a random width; English words broken with a hyphen at line ends, Korean lines
    broken anywhere (as print layout does), which moves spaces inside eojeol."""
    width = rng.randint(20, 80)
    if korean:
        t = " ".join(text.split())
        return "\n".join(t[i : i + width] for i in range(0, len(t), width))
    lines, line = [], ""
    for w in text.split():
        if len(line) + 1 + len(w) <= width:
            line = f"{line} {w}" if line else w
            continue
        room = width - len(line) - 2
        if len(w) >= 6 and room >= 3 and rng.random() < 0.7:
            cut = min(room, len(w) - 3)
            lines.append(f"{line} {w[:cut]}-" if line else f"{w[:cut]}-")
            line = w[cut:]
        else:
            lines.append(line)
            line = w
    lines.append(line)
    return "\n".join(lines)


def markup(text: str, rng: random.Random) -> str:
    words = [html.escape(w, quote=False) for w in text.split()]
    out = ['<html><head><title>copy</title><style>p{margin:0}</style></head><body><div class="post"><p>']
    for w in words:
        r = rng.random()
        if r < 0.05:
            out.append(f"<b>{w}</b>")
        elif r < 0.08:
            out.append(f'<a href="https://example.org/{rng.randrange(999)}">{w}</a>')
        elif r < 0.10:
            out.append(f"{w}</p>\n<p>")
        elif r < 0.13:
            out.append(f"{w}&nbsp;")
        else:
            out.append(w)
    out.append("</p></div><script>var x = 1;</script></body></html>")
    return " ".join(out)


def ocr(text: str, rng: random.Random) -> str:
    p = rng.uniform(0.005, 0.03)
    out, i = [], 0
    while i < len(text):
        ch = text[i]
        if rng.random() < p:
            if _HANGUL.match(ch):
                out.append(_ocr_ko(ch, rng))
                i += 1
                continue
            for a, b in rng.sample(_OCR_EN, len(_OCR_EN)):
                if text.startswith(a, i):
                    out.append(b)
                    i += len(a)
                    break
            else:
                out.append(ch)
                i += 1
            continue
        out.append(ch)
        i += 1
    return "".join(out)


# family: (languages, description of the parameters, transform(work, rng, ctx) -> query)
FAMILIES = {
    "exact copy": ("ko en", "unchanged", lambda t, r, c: t),
    "Korean spacing": (
        "ko",
        "spaces removed p~U(.1,1), 1/4 all; inserted after syllables p~U(0,.3)",
        lambda t, r, c: respace(t, r),
    ),
    "word deletions": ("ko en", "2-20 % of words", lambda t, r, c: edit_words(t, r, c["vocab"], "del")),
    "word insertions": ("ko en", "2-20 % of words", lambda t, r, c: edit_words(t, r, c["vocab"], "ins")),
    "word substitutions": ("ko en", "2-20 % of words", lambda t, r, c: edit_words(t, r, c["vocab"], "sub")),
    "mixed word edits": (
        "ko en",
        "2-20 % deleted+inserted+replaced",
        lambda t, r, c: edit_words(t, r, c["vocab"], "mixed"),
    ),
    "excerpt in other text": (
        "ko en",
        ">= 40 words (40-120) / >= 80 Hangul (80-240) in a host",
        lambda t, r, c: excerpt(t, c["host"], r, c["ko"]),
    ),
    "excerpt, respaced": (
        "ko",
        "Korean excerpt >= 80 Hangul, then spacing changed",
        lambda t, r, c: respace(excerpt(t, c["host"], r, True), r),
    ),
    "mixed edits + respaced": (
        "ko",
        "2-20 % word edits, then spacing changed",
        lambda t, r, c: respace(edit_words(t, r, c["vocab"], "mixed"), r),
    ),
    "case": ("en", "upper / title / random per word", lambda t, r, c: change_case(t, r)),
    "punctuation": ("ko en", "removed, or added after 5-30 % of words", lambda t, r, c: punctuate(t, r)),
    "line wrap + hyphenation": (
        "ko en",
        "width 20-80; English words hyphenated at line ends",
        lambda t, r, c: wrap(t, r, c["ko"]),
    ),
    "HTML markup": ("ko en", "page, tags and entities around words", lambda t, r, c: markup(t, r)),
    "OCR confusions": ("ko en", "0.5-3 % of characters confused", lambda t, r, c: ocr(t, r)),
}


def make_queries(ko_works, en_works, ko_hosts, en_hosts, seed: int, families=None):
    rng = random.Random(seed)
    ko_vocab = " ".join(ko_hosts[:300]).split()
    en_vocab = " ".join(en_hosts[:300]).split()
    works = ko_works + en_works
    out: dict[str, list[tuple[int, str]]] = {}
    for name, (langs, _, fn) in FAMILIES.items():
        if families and name not in families:
            continue
        qs = []
        for wid, text in enumerate(works):
            ko = wid < len(ko_works)
            if ("ko" if ko else "en") not in langs.split():
                continue
            hosts = ko_hosts if ko else en_hosts
            ctx = {"vocab": ko_vocab if ko else en_vocab, "host": rng.choice(hosts), "ko": ko}
            qs.append((wid, fn(text, rng, ctx)))
        out[name] = qs
    return out


# ---- matchers -------------------------------------------------------------------------------------------


def build_index(mod, works: list[str]):
    b = mod.TextIndexBuilder()
    for i, w in enumerate(works):
        b.add(i, mod.register_text(w, f"w{i}"))
    return b.build()


def ours_found(mod, index, queries: list[str]) -> list[set[int]]:
    res = index.match([fp for fp in mod.fingerprint_texts([(f"q{i}", q) for i, q in enumerate(queries)])])
    return [{m.work_id for m in ms} for ms in res]


class Datasketch:
    def __init__(self, works: list[str]):
        from datasketch import LeanMinHash, MinHash, MinHashLSH

        self._MinHash, proto = MinHash, MinHash(num_perm=128)
        self._perms, self._scheme = proto.permutations, proto.scheme
        self.lsh = MinHashLSH(threshold=0.5, num_perm=128)
        for i, w in enumerate(works):
            self.lsh.insert(i, LeanMinHash(self.sketch(w)))

    def sketch(self, text: str):
        words = _WORD.findall(text.lower())
        shingles = {" ".join(words[i : i + 5]).encode() for i in range(max(1, len(words) - 4))}
        m = self._MinHash(num_perm=128, permutations=self._perms, scheme=self._scheme)
        m.update_batch(list(shingles))
        return m

    def found(self, queries: list[str]) -> list[set[int]]:
        return [set(self.lsh.query(self.sketch(q))) for q in queries]


def load_main_text_module():
    """``main``'s text fingerprint modules (text, _text_tokens, _text_sketch), loaded from git as a
    separate package beside this checkout's: the current release's code path for the speed ratio."""
    pkg = "_main_textfp"
    if pkg in sys.modules:
        return sys.modules[f"{pkg}.text"]
    root = Path(tempfile.mkdtemp(prefix="main-textfp-")) / pkg
    root.mkdir()
    (root / "__init__.py").write_text("")
    for name in ("text", "_text_tokens", "_text_sketch"):
        src = subprocess.run(
            ["git", "-C", str(REPO), "show", f"main:src/fairtrain/core/fingerprint/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        src = (
            src.replace("from fairtrain.core.fingerprint import _text_sketch", f"from {pkg} import _text_sketch")
            .replace("from fairtrain.core.fingerprint import _text_tokens", f"from {pkg} import _text_tokens")
            .replace("from fairtrain.core.fingerprint._text_tokens import", f"from {pkg}._text_tokens import")
            .replace("    register_type(_cls)", "    pass  # not registered with the codec twice")
        )
        (root / f"{name}.py").write_text(src)
    sys.path.insert(0, str(root.parent))
    import importlib

    return importlib.import_module(f"{pkg}.text")


# ---- false-match rate at 10**7 works ----------------------------------------------------------------------


def _binom_tail(n: int, p: float, k: int) -> float:
    from math import comb

    return float(sum(comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1)))


def _random_order_pass(c: int, n_query: int, n_work: int, gram: int, trials: int = 2000) -> tuple[float, float]:
    """Chance that ``c`` hits at random places (query positions uniform over the query's n-grams, work
    positions uniform over the work) hold MIN_EDIT_CHAIN in order along one alignment spanning
    MIN_EDIT_SPAN of the work, by seeded Monte Carlo with the rule of ``ordered_chain`` (numpy over the
    trials); the second figure for a chain of MIN_EDIT_CHAIN_STRONG."""
    if c >= 48:
        return 1.0, 1.0  # as good as certain, and counted so
    rng = np.random.default_rng(c * 1_000_003 + n_query * 1009 + n_work)
    q = rng.integers(0, max(1, n_query), size=(trials, c))
    w = np.sort(rng.integers(0, max(1, n_work), size=(trials, c)), axis=1)
    best = np.ones((trials, c), dtype=np.int64)
    first = w.copy()
    big = 1 << 32
    for i in range(1, c):
        dw = w[:, i : i + 1] - w[:, :i]
        dq = q[:, i : i + 1] - q[:, :i]
        ok = (dw > 0) & (dq > 0) & (np.abs(dw - dq) <= gram + dw // 4)
        score = np.where(ok, best[:, :i] * big - first[:, :i], -1)
        j = score.argmax(axis=1)
        has = ok.any(axis=1)
        rows = np.arange(trials)
        best[:, i] = np.where(has, best[rows, j] + 1, 1)
        first[:, i] = np.where(has, first[rows, j], w[:, i])
    top = best.max(axis=1)
    span = np.where(best == top[:, None], w - first, -1).max(axis=1) + gram
    ok = span >= ft.MIN_EDIT_SPAN * n_work
    return float((ok & (top >= ft.MIN_EDIT_CHAIN)).mean()), float((ok & (top >= ft.MIN_EDIT_CHAIN_STRONG)).mean())


def fmr_estimate(index_docs: list[str], query_docs: list[str]) -> dict:
    """Candidates per query against an index of unrelated documents, scaled to 10**7 works, times the
    probability that an unrelated candidate passes the rewording verification.

    The span stage cannot match unrelated text by chance: it needs a verbatim chain of 20 words (40
    syllables), which is a shared run, that is a true overlap. The rewording stage reads candidates only
    (works sharing MIN_EDIT_HITS fingerprints with the query, and for Hangul a quarter of the work's
    fingerprints) and needs two independent pieces of evidence:

    - the 8-bit MinHash Jaccard estimate: at least k of the 128 values agree. For an unrelated pair this
      happens with the binomial tail P(X >= k), X ~ B(128, p), p = J + (1 - J) / 256 at the pair's own
      Jaccard estimate J (the chance of the hash sample, whatever the texts);
    - the order: at least MIN_EDIT_CHAIN shared fingerprints in the work's order along one alignment,
      spanning MIN_EDIT_SPAN of the work (``ordered_chain``). A pair whose hits do line up counts with probability 1; one whose hits do not
      counts with the chance that as many hits at random places in texts of its lengths would
      (``_random_order_pass``), so a pair that failed by luck is not counted as safe. A chain of
      MIN_EDIT_CHAIN_STRONG lowers the Jaccard threshold by EDIT_JACCARD_RELIEF: P = P(strong chain) x
      tail(lower k) + P(shorter chain) x tail(k).

    The MinHash sample is drawn by hash functions that know nothing of where the shingles stand, so the
    two are multiplied. Expected false matches per query = (sum over candidate pairs of P(Jaccard) x
    P(order)) / queries x 10**7 / indexed works: candidate counts grow linearly with the index (each
    indexed work is a candidate of a query independently of the others). Pairs the index really matched
    count 1 each and are listed with their longest shared run.
    """
    idx = build_index(ft, index_docs)
    fps = [
        fp
        for fp in ft.fingerprint_texts([(f"u{i}", q) for i, q in enumerate(query_docs)])
        if not isinstance(fp, Exception)
    ]
    found = idx.match(fps)
    seen = [(q, m) for q, ms in enumerate(found) for m in ms]
    matched = {(q, m.work_id) for q, m in seen}
    n_cand, p_sum, p_jac_sum, lined_up = 0, 0.0, 0.0, 0
    order_cache: dict[tuple[int, int, int, int], float] = {}
    per_work = idx._hangul.per_work(len(idx.work_ids))
    for ch, grams, thr in (
        (idx._words, [fp.grams for fp in fps], ft.MIN_EDIT_JACCARD),
        (idx._hangul, [fp.hangul_grams for fp in fps], ft.MIN_EDIT_JACCARD_HANGUL),
    ):
        got = ch.hits(grams)
        if got is None:
            continue
        hq, hp, hw, wp = got
        o = np.lexsort((hp, wp, hw, hq))
        hq, hp, hw, wp = hq[o], hp[o], hw[o], wp[o]
        key = hq * (1 << 32) + hw
        pairs, counts = np.unique(np.unique(np.stack([hq, hw, wp], axis=1), axis=0)[:, :2], axis=0, return_counts=True)
        k_needed = int(np.ceil((thr * (1 - 1 / 256) + 1 / 256) * sk.NUM_PERM))
        low = thr - ft.EDIT_JACCARD_RELIEF  # the threshold for a chain of MIN_EDIT_CHAIN_STRONG
        k_low = int(np.ceil((low * (1 - 1 / 256) + 1 / 256) * sk.NUM_PERM))
        work_len = np.zeros(len(idx.work_ids), dtype=np.int64)
        np.maximum.at(work_len, ch.widx.astype(np.int64), ch.pos.astype(np.int64) + ch.gram)
        for (q, w), c in zip(pairs.tolist(), counts.tolist()):
            if c < ft.MIN_EDIT_HITS or (ch is idx._hangul and c < ft.MIN_EDIT_CONTAINMENT_HANGUL * per_work[w]):
                continue
            if ch is idx._hangul:
                qs = fps[q].hangul_signature()
                if qs is None or not idx.hangul.has_sig[w]:
                    continue
                j = float(sk.bbit_jaccard(sk.bbit(qs), idx.hangul.sigs[w]))
            else:
                if not fps[q].has_minhash:
                    continue
                j = float(sk.bbit_jaccard(sk.bbit(fps[q].minhash), idx.sigs[w]))
            n_cand += 1
            if (q, w) in matched:
                continue  # counted below, as 1 each
            lo, hi = np.searchsorted(key, [q * (1 << 32) + w, q * (1 << 32) + w + 1])
            p_jac = _binom_tail(sk.NUM_PERM, j + (1 - j) / 256, k_needed)
            p_low = _binom_tail(sk.NUM_PERM, j + (1 - j) / 256, k_low)
            p_jac_sum += p_jac
            chain, span = ft.ordered_chain(hp[lo:hi], wp[lo:hi], ch.gram)
            if span >= ft.MIN_EDIT_SPAN * work_len[w] and chain >= ft.MIN_EDIT_CHAIN_STRONG:
                lined_up += 1
                p_sum += p_low
            elif span >= ft.MIN_EDIT_SPAN * work_len[w] and chain >= ft.MIN_EDIT_CHAIN:
                lined_up += 1
                p_sum += p_jac
            else:
                n_q = len(grams[q])
                bucket = (c, -(-n_q // 25) * 25, -(-int(work_len[w]) // 25) * 25, ch.gram)
                if bucket not in order_cache:
                    order_cache[bucket] = _random_order_pass(c, bucket[1], bucket[2], ch.gram)
                p3, p6 = order_cache[bucket]
                p_sum += p6 * p_low + (p3 - p6) * p_jac
    scale = 1e7 / len(index_docs)
    for q, m in seen[:5]:
        print(
            f"  fmr: unrelated query {q} matched indexed document {m.work_id} ({m.evidence.get('method')}); "
            f"longest shared run {longest_shared_run(query_docs[q], index_docs[m.work_id])} words",
            flush=True,
        )
    return {
        "index works": len(index_docs),
        "queries": len(fps),
        "matches seen": len(seen),
        "candidates per query": n_cand / len(fps),
        "candidates per query at 1e7": n_cand / len(fps) * scale,
        "candidates in order": lined_up,
        "Jaccard pass probability per candidate": p_jac_sum / max(n_cand, 1),
        "pass probability per candidate": (p_sum + len(seen)) / max(n_cand, 1),
        "Jaccard-only false matches per query at 1e7": (p_jac_sum + len(seen)) / len(fps) * scale,
        "false matches per query at 1e7": (p_sum + len(seen)) / len(fps) * scale,
    }


# ---- run ------------------------------------------------------------------------------------------------


def run(args) -> list[dict]:
    quick = getattr(args, "quick", False)
    seed = getattr(args, "seed", 16)
    cache = Path(getattr(args, "cache", None) or Path(tempfile.gettempdir()) / "fairtrain-bench-cache")
    n_per_lang = 75
    n_negatives = 2500 if quick else 11000
    t0 = time.perf_counter()
    ko_works, en_works, loaded = load(cache, n_per_lang, n_negatives)
    works = ko_works + en_works
    dropped = true_overlaps(works, [t for _, _, t in loaded])
    kept = [x for i, x in enumerate(loaded) if i not in dropped]
    negatives = [t for _, _, t in kept]
    lang_of = [lang for lang, _, _ in kept]
    source_of = [src for _, src, _ in kept]
    ko_hosts = [n for n, lang in zip(negatives, lang_of) if lang == "ko"]
    en_hosts = [n for n, lang in zip(negatives, lang_of) if lang == "en"]
    print(
        f"text: {len(ko_works)} Korean + {len(en_works)} English works; {len(negatives)} negatives "
        f"({lang_of.count('ko')} ko, {lang_of.count('en')} en, {lang_of.count('cjk')} ja/zh; "
        f"{len(set(source_of))} sources) after dropping {len(dropped)} that share a 20-word or 40-syllable "
        f"run with a work; loaded in {time.perf_counter() - t0:.0f} s",
        flush=True,
    )
    queries = make_queries(ko_works, en_works, ko_hosts, en_hosts, seed)

    index = build_index(ft, works)
    base = Datasketch(works)
    rows = []
    for name, qs in queries.items():
        truth = [w for w, _ in qs]
        texts = [q for _, q in qs]
        ours = ours_found(ft, index, texts)
        theirs = base.found(texts)
        hit = [w in f for w, f in zip(truth, ours)]
        wrong = sum(len(f - {w}) for w, f in zip(truth, ours))
        rows.append(
            {
                "modality": "text",
                "family": name,
                "params": FAMILIES[name][1],
                "n": len(qs),
                "recall": float(np.mean(hit)),
                "recall ko": _mean([h for (w, _), h in zip(qs, hit) if w < len(ko_works)]),
                "recall en": _mean([h for (w, _), h in zip(qs, hit) if w >= len(ko_works)]),
                "false matches": wrong,
                "baseline": "datasketch MinHashLSH",
                "baseline recall": float(np.mean([w in f for w, f in zip(truth, theirs)])),
                "target": ">= 0.95",
            }
        )
    all_hits = sum(r["recall"] * r["n"] for r in rows)
    all_n = sum(r["n"] for r in rows)
    base_hits = sum(r["baseline recall"] * r["n"] for r in rows)
    ours_neg = ours_found(ft, index, negatives)
    theirs_neg = base.found(negatives)
    flagged = [i for i, f in enumerate(ours_neg) if f]
    for i in flagged[:5]:
        print(f"  false match: negative {i} ({lang_of[i]}) -> works {sorted(ours_neg[i])}", flush=True)
    rows.append(
        {
            "modality": "text",
            "family": "ALL edit families",
            "params": "",
            "n": all_n,
            "recall": all_hits / all_n,
            "false matches": sum(r["false matches"] for r in rows),
            "baseline": "datasketch MinHashLSH",
            "baseline recall": base_hits / all_n,
            "target": ">= 0.97",
        }
    )
    rows.append(
        {
            "modality": "text",
            "family": "unrelated negatives",
            "params": "checked for true overlaps",
            "n": len(negatives),
            "recall": None,
            "false matches": len(flagged),
            "baseline": "datasketch MinHashLSH",
            "baseline false matches": sum(bool(f) for f in theirs_neg),
            "target": "0 false matches",
        }
    )

    # Speed per core: this checkout vs main's text modules, interleaved turns, best of each.
    old = load_main_text_module()
    old_index = build_index(old, works)
    ko_s = [n for n, lang in zip(negatives, lang_of) if lang == "ko"]
    en_s = [n for n, lang in zip(negatives, lang_of) if lang == "en"]
    half = 500 if quick else 1500
    docs = ko_s[:half] + en_s[:half]
    random.Random(seed).shuffle(docs)
    # CPU time of this process: per-core figures that other jobs on a shared machine disturb less.
    sp = scan_speeds(
        {
            "ours": lambda d: index.match(ft.fingerprint_texts([("", x) for x in d])),
            "main": lambda d: old_index.match(old.fingerprint_texts([("", x) for x in d])),
        },
        docs,
        3 if quick else 5,
        clock=time.process_time,
    )
    rows.append(
        {
            "modality": "text",
            "family": "speed (docs/s per core)",
            "params": f"{len(docs)} docs, half Korean",
            "n": len(docs),
            "docs/s": sp["ours"],
            "main docs/s": sp["main"],
            "ratio": sp["ours"] / sp["main"],
            "target": ">= 5000 docs/s and >= 0.8x main",
        }
    )

    # False-match rate per query at 10**7 works, from candidate counts against unrelated material.
    # Index and queries from disjoint sources (packages), so that "unrelated" is unrelated: chunks of one
    # package's documentation share its templates. Queries sharing a verbatim run with an indexed document
    # are left out as well.
    upstream = _source_packages()  # binary packages of one source package ship one upstream's documents
    side = {src: zlib.crc32(upstream.get(src, src).encode()) % 4 == 0 for src in set(source_of)}
    index_docs = [n for n, lang, src in zip(negatives, lang_of, source_of) if lang != "cjk" and not side[src]]
    query_docs = [n for n, lang, src in zip(negatives, lang_of, source_of) if lang != "cjk" and side[src]]
    shared = true_overlaps(index_docs, query_docs)
    query_docs = [q for i, q in enumerate(query_docs) if i not in shared]
    est = fmr_estimate(index_docs, query_docs)
    rows.append(
        {
            "modality": "text",
            "family": "false-match rate at 1e7 works",
            "params": f"{est['index works']} unrelated works indexed, {est['queries']} unrelated queries",
            "n": est["queries"],
            "false matches": est["matches seen"],
            "candidates/query at 1e7": est["candidates per query at 1e7"],
            "in order": est["candidates in order"],
            "pass probability": est["pass probability per candidate"],
            "Jaccard-only FMR": est["Jaccard-only false matches per query at 1e7"],
            "estimated FMR": est["false matches per query at 1e7"],
            "target": "<= 1e-6",
        }
    )
    return rows


def _mean(xs: list) -> float | None:
    return float(np.mean(xs)) if xs else None


if __name__ == "__main__":  # python benchmarks/_recognition_text.py: the text rows alone
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=16)
    for r in run(ap.parse_args()):
        print(r)
