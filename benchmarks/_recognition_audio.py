"""Audio recognition on independent material: recall per edit family, false matches, baselines, speed.

Works: music tracks of several genres from Debian game-music packages the project does not generate —
orchestral (``wesnoth-1.16-music``), rock/pop/electronic (``hedgewars-data``, ``supertux-data``,
``warzone2100-music``, ``openclonk-data``, ``neverball-data``, ``extremetuxracer-data``, ``lincity-ng-data``,
``asc-music``), chiptune/techno (Kenta Cho's ``a7xpg-data``, ``torus-trooper-data``, ``tumiki-fighters-data``,
``rrootage-data``, ``parsec47-data``, ``noiz2sa-data``, ``gunroar-data``, ``mu-cade-data``, ``titanion-data``)
and ``megaglest-data``. Tracks of 30 s or more; a work is the first WORK_S seconds of its track; the tracks
not registered are the unrelated material of the negatives, after a check, whole and excerpt by excerpt, that
none of them shares material with a work (game packages reuse themes, remaster and re-arrange them); a track
that shares material with an earlier work is not made a work either (``distinct_works``). Registrations
(ours and the release's) are cached per work under CACHE.

Every edit family of issue 16 is generated with seeded random parameters within its range, from a random
excerpt of the work (10–30 s), and reported as its own row. Speech for the speech-over family is made of
the voice clips of ``hedgewars-data`` strung together. Negatives: excerpts of unrelated tracks under a
random edit, at least 10,000. Baselines in the same run: plain Chromaprint best-offset (raw ``fpcalc``
fingerprints, best BER over all offsets against every registered raw fingerprint, BER ≤ 0.20 over ≥ 10 s),
and the release before issue 16.

    apt-get install -y ffmpeg libchromaprint-tools wesnoth-1.16-music hedgewars-data supertux-data \\
        warzone2100-music openclonk-data neverball-data extremetuxracer-data lincity-ng-data asc-music \\
        a7xpg-data torus-trooper-data tumiki-fighters-data rrootage-data parsec47-data noiz2sa-data \\
        gunroar-data mu-cade-data titanion-data megaglest-data
    PYTHONPATH=src python benchmarks/_recognition_audio.py [--quick] [--seed N] [--works N] [--negatives N]

The false-match rate per query at 10⁷ works is derived from the negatives' candidates (``fmr_estimate``).
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
# The packages' folders, named one by one: other game packages installed on the same machine (for other
# benchmarks) would otherwise change the corpus, and with it which tracks are works.
ROOTS = [
    Path("/usr/share/games") / name
    for name in (
        "wesnoth",
        "hedgewars",
        "supertux2",
        "warzone2100",
        "openclonk",
        "neverball",
        "etr",
        "lincity-ng",
        "asc",
        "megaglest",
        "a7xpg",
        "torus-trooper",
        "tumiki-fighters",
        "rrootage",
        "parsec47",
        "noiz2sa",
        "gunroar",
        "mu-cade",
        "titanion",
    )
] + [Path("/usr/share/asc")]
EXTS = {".ogg", ".opus", ".mp3", ".flac"}
RATE = 22050
MIN_TRACK_S = 30.0
WORK_S = 120.0  # a work is the first two minutes of its track (work_files)
MAX_BER, MIN_OVERLAP_S = 0.20, 10.0
NEGATIVE_SOURCE_S = 180.0  # negatives are excerpts of an unrelated track's first three minutes
OVERLAP_EXCERPT_S, OVERLAP_STEP_S = 30.0, 5.0  # the overlap check: the longest negative, every 5 s
OVERLAP_WEAK_S, OVERLAP_ALIGNED = 0.7, 3  # ... or this many excerpts at one time shift, each this significant
TARGET_FAMILY, TARGET_MODALITY = 0.95, 0.97
# Registrations are cached per work (file, size, mtime, parameters, index format): registering a work
# fingerprints it 28 times (speed and high-pass variants), minutes for 20 works on a loaded machine.
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fairtrain" / "recognition-audio"
# The corpus (and the tools the edits need), installed by the benchmark where missing.
DEBIAN_PACKAGES = (
    "ffmpeg",
    "libchromaprint-tools",
    "wesnoth-1.16-music",
    "hedgewars-data",
    "supertux-data",
    "warzone2100-music",
    "openclonk-data",
    "neverball-data",
    "extremetuxracer-data",
    "lincity-ng-data",
    "asc-music",
    "megaglest-data",
    "a7xpg-data",
    "torus-trooper-data",
    "tumiki-fighters-data",
    "rrootage-data",
    "parsec47-data",
    "noiz2sa-data",
    "gunroar-data",
    "mu-cade-data",
    "titanion-data",
)


def _genre(path: Path) -> str:
    s = str(path)
    for key, genre in (
        ("wesnoth", "orchestral"),
        ("warzone", "orchestral/ambient"),
        ("hedgewars", "pop/folk"),
        ("supertux", "pop/electronic"),
        ("openclonk", "orchestral/pop"),
        ("neverball", "electronic"),
        ("megaglest", "orchestral"),
        ("asc", "rock/electronic"),
    ):
        if key in s:
            return genre
    return "chiptune/techno"


def corpus() -> list[Path]:
    import soundfile

    out = []
    for root in ROOTS:
        if not root.exists():
            continue
        for p in sorted(root.rglob("*")):
            if p.suffix.lower() not in EXTS or "/sound" in str(p).lower() and "music" not in str(p).lower():
                continue
            if "voices" in str(p) or "speech" in str(p):
                continue
            try:
                info = soundfile.info(str(p))
                if info.duration >= MIN_TRACK_S:
                    out.append(p)
            except Exception:  # noqa: BLE001 — a file libsndfile cannot read is left out
                continue
    return out


def ffmpeg(args: list[str], stdin: bytes | None = None) -> bytes:
    return subprocess.run(
        ["ffmpeg", "-hide_banner", "-nostdin" if stdin is None else "-y", "-y", "-v", "error", *args],
        input=stdin,
        capture_output=True,
        check=True,
        timeout=300,
    ).stdout


def decode(path: Path, start: float = 0.0, seconds: float | None = None) -> np.ndarray:
    pre = ["-ss", f"{start:.2f}"] + (["-t", f"{seconds:.2f}"] if seconds else [])
    raw = ffmpeg([*pre, "-i", str(path), "-ac", "1", "-ar", str(RATE), "-f", "f32le", "-"])
    return np.frombuffer(raw, dtype=np.float32).copy()


def wav(pcm: np.ndarray) -> bytes:
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, np.clip(pcm, -1, 1).astype(np.float32), RATE, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def through_ffmpeg(pcm: np.ndarray, af: str | None, codec: list[str], fmt: str) -> bytes:
    return ffmpeg(
        [
            "-f",
            "f32le",
            "-ar",
            str(RATE),
            "-ac",
            "1",
            "-i",
            "pipe:0",
            *(["-af", af] if af else []),
            *codec,
            "-f",
            fmt,
            "pipe:1",
        ],
        stdin=np.clip(pcm, -1, 1).astype(np.float32).tobytes(),
    )


def mp3(pcm: np.ndarray, af: str | None = None, kbps: int = 128) -> bytes:
    return through_ffmpeg(pcm, af, ["-c:a", "libmp3lame", "-b:a", f"{kbps}k"], "mp3")


# --- edits (numpy where it can, ffmpeg for codecs and time/pitch) ------------------------------------


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-9)


def noise(pcm, r: random.Random, snr: float | None = None):
    snr = snr if snr is not None else r.uniform(10, 20)
    n = np.random.default_rng(r.randrange(1 << 30)).standard_normal(len(pcm)).astype(np.float32)
    return pcm + n * (_rms(pcm) / _rms(n) / 10 ** (snr / 20))


def gain(pcm, r: random.Random):
    db = r.choice([-1, 1]) * r.uniform(3, 12)
    return np.clip(pcm * 10 ** (db / 20), -1, 1)


def filtered(pcm, r: random.Random):
    from scipy import signal

    kind = r.choice(["lowpass", "highpass", "eq"])
    if kind == "lowpass":
        sos = signal.butter(6, r.uniform(2000, 4000), "lowpass", fs=RATE, output="sos")
        return signal.sosfilt(sos, pcm).astype(np.float32)
    if kind == "highpass":
        sos = signal.butter(4, r.uniform(200, 500), "highpass", fs=RATE, output="sos")
        return signal.sosfilt(sos, pcm).astype(np.float32)
    out = pcm.copy()
    for _ in range(3):  # three random peaking bands of ±3–9 dB
        f0, db = r.uniform(100, 6000), r.choice([-1, 1]) * r.uniform(3, 9)
        band = signal.sosfilt(
            signal.butter(2, [f0 / 1.4, min(f0 * 1.4, RATE / 2 - 1)], "bandpass", fs=RATE, output="sos"), out
        )
        out = out + band * (10 ** (db / 20) - 1)
    return (out / max(1.0, float(np.abs(out).max()))).astype(np.float32)


def reverb(pcm, r: random.Random):
    from scipy import signal

    rt60 = r.uniform(0.3, 1.5)
    n = int(rt60 * RATE)
    rng = np.random.default_rng(r.randrange(1 << 30))
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir[0] = 0
    wet = signal.fftconvolve(pcm, ir)[: len(pcm)]
    wet *= _rms(pcm) / _rms(wet)
    mix = r.uniform(0.3, 0.6)
    return ((1 - mix) * pcm + mix * wet).astype(np.float32)


def mixed(pcm, r: random.Random, other: np.ndarray):
    """Speech or music over the work, 6 dB below it."""
    other = np.resize(other, len(pcm))
    return (pcm + other * (_rms(pcm) / _rms(other) / 10 ** (6 / 20))).astype(np.float32)


SEMITONE = 2 ** (1 / 12)


def family_edit(family: str, pcm: np.ndarray, r: random.Random, speech: np.ndarray, music: np.ndarray) -> bytes:
    if family == "excerpt 10–30 s":
        return mp3(pcm)
    if family == "MP3/AAC/Opus low bitrate":
        codec = r.choice(["mp3", "aac", "opus"])
        if codec == "mp3":
            return mp3(pcm, kbps=r.choice([32, 48, 64]))
        if codec == "aac":
            return through_ffmpeg(pcm, None, ["-c:a", "aac", "-b:a", f"{r.choice([32, 48])}k"], "adts")
        return through_ffmpeg(pcm, None, ["-c:a", "libopus", "-b:a", f"{r.choice([16, 24, 32])}k"], "ogg")
    if family == "low/high-pass, EQ":
        return wav(filtered(pcm, r))
    if family == "gain ±3–12 dB":
        return wav(gain(pcm, r))
    if family == "noise 10–20 dB SNR":
        return wav(noise(pcm, r))
    if family == "speed ±5 %":
        s = r.choice([-1, 1]) * r.uniform(0.01, 0.05) + 1
        return mp3(pcm, f"asetrate={RATE}*{s:.4f},aresample={RATE}")
    if family == "tempo ±5 % (pitch kept)":
        t = r.choice([-1, 1]) * r.uniform(0.01, 0.05) + 1
        return mp3(pcm, f"rubberband=tempo={t:.4f}")
    if family == "pitch ±1 semitone (tempo kept)":
        p = SEMITONE ** (r.choice([-1, 1]) * r.uniform(0.2, 1.0))
        return mp3(pcm, f"rubberband=pitch={p:.5f}")
    if family == "reverb":
        return wav(reverb(pcm, r))
    if family == "speech over −6 dB":
        start = r.randrange(max(1, len(speech) - len(pcm)))
        return mp3(mixed(pcm, r, speech[start : start + len(pcm)]))
    if family == "music over −6 dB":
        start = r.randrange(max(1, len(music) - len(pcm)))
        return mp3(mixed(pcm, r, music[start : start + len(pcm)]))
    raise KeyError(family)


FAMILIES = [
    "excerpt 10–30 s",
    "MP3/AAC/Opus low bitrate",
    "low/high-pass, EQ",
    "gain ±3–12 dB",
    "noise 10–20 dB SNR",
    "speed ±5 %",
    "tempo ±5 % (pitch kept)",
    "pitch ±1 semitone (tempo kept)",
    "reverb",
    "speech over −6 dB",
    "music over −6 dB",
]
_NEGATIVE_EDITS = [
    lambda p, r, o: p,
    lambda p, r, o: gain(p, r),
    lambda p, r, o: noise(p, r),
    lambda p, r, o: filtered(p, r),
    lambda p, r, o: reverb(p, r),
    mixed,
]


def speech_track(seconds: float, r: random.Random) -> np.ndarray:
    clips = sorted(Path("/usr/share/games/hedgewars/Data/Sounds/voices").rglob("*.ogg"))
    if not clips:
        return np.random.default_rng(0).standard_normal(int(seconds * RATE)).astype(np.float32) * 0.1
    out, total = [], 0
    while total < seconds * RATE:
        c = decode(r.choice(clips))
        gap = np.zeros(int(r.uniform(0.05, 0.4) * RATE), np.float32)
        out += [c, gap]
        total += len(c) + len(gap)
    return np.concatenate(out)


def work_files(tracks: list[Path]) -> list[Path]:
    """Each work is the first WORK_S seconds of its track (FLAC, mono, RATE), made once under CACHE: queries
    are drawn from it, and registering a 9-minute track 28 times is what made a run miss its hour."""
    import soundfile

    folder = CACHE / "works"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for path in tracks:
        target = folder / f"{_cache_key(path, f'work-{WORK_S}')}.flac"
        if not target.exists():
            tmp = target.with_suffix(".tmp.flac")
            soundfile.write(str(tmp), decode(path, 0, WORK_S), RATE, format="FLAC", subtype="PCM_16")
            tmp.replace(target)
        out.append(target)
    return out


def _cache_key(path: Path, tag: str) -> str:
    st = path.stat()
    return hashlib.sha256(f"{path}|{st.st_size}|{st.st_mtime_ns}|{tag}".encode()).hexdigest()[:32]


def _excerpt_overlap(index, path: Path) -> tuple[int, float, dict] | None:
    """(work, second of the track, evidence) where excerpts of ``path``'s negative-source minutes show that
    it shares material with a work of ``index``, or None.

    Shared material is an excerpt the index matches with its default rules, or ``OVERLAP_ALIGNED``
    excerpts whose best alignments with one work, each at significance ≥ ``OVERLAP_WEAK_S`` (well inside the
    null: unrelated candidates average 0.18), keep one time shift within 0.5 s: an arrangement of a work
    (SuperTux's christmas_theme of its theme) agrees at BER 0.29–0.33 all along, the same bars at the same
    times, where an unrelated piece's best alignments fall anywhere."""
    from fairtrain.core.fingerprint import FingerprintError
    from fairtrain.core.fingerprint.audio import SIGNIFICANCE, fingerprint_audio

    pcm = decode(path, 0, NEGATIVE_SOURCE_S)
    size, step = int(OVERLAP_EXCERPT_S * RATE), int(OVERLAP_STEP_S * RATE)
    shifts: dict[int, list[tuple[float, float, dict]]] = {}
    for start in range(0, max(1, len(pcm) - size + step), step):
        try:
            fp = fingerprint_audio(wav(pcm[start : start + size]))
        except FingerprintError:
            continue
        for m in index.match([fp], min_significance=-np.inf)[0]:
            e = m.evidence
            if e["significance"] >= SIGNIFICANCE:
                return m.work_id, start / RATE, e
            if e["significance"] >= OVERLAP_WEAK_S:
                shift = e["offset_s"] - e["query_offset_s"] - start / RATE
                near = [x for x in shifts.setdefault(m.work_id, []) if abs(x[0] - shift) <= 0.5]
                shifts[m.work_id].append((shift, start / RATE, e))
                if len(near) + 1 >= OVERLAP_ALIGNED:
                    return m.work_id, near[0][1], near[0][2]
    return None


def distinct_works(tracks: list[Path], n: int, workers: int, log) -> tuple[list[Path], list[Path], list, int]:
    """The first ``n`` tracks of ``tracks`` that share no material with an earlier one, as (sources, work
    files, registrations, tracks used). Packages reuse each other's music (MegaGlest's romans.ogg is
    Wesnoth's legends_of_the_north.ogg; SuperTux's christmas_theme is its theme arranged): a query of one
    such work that also finds the other is a true match, so the later of the two is left out and the next
    track taken in its place. Each track is checked against an index of the works kept before it (with
    itself in the index, its own match would claim every excerpt)."""
    from fairtrain.core.fingerprint.audio import AudioIndexBuilder

    sources: list[Path] = []
    files: list[Path] = []
    regs: list = []
    used = 0
    while len(sources) < n and used < len(tracks):
        batch = tracks[used : used + n - len(sources)]
        used += len(batch)
        batch_files = work_files(batch)
        for src, work, reg in zip(batch, batch_files, registrations(batch_files, workers, log), strict=True):
            if regs:
                builder = AudioIndexBuilder()
                for wid, kept in enumerate(regs):
                    builder.add(wid, kept)
                hit = _excerpt_overlap(builder.build(), work)
                if hit is not None:
                    wid, at, e = hit
                    log(
                        f"  work {src.name} repeats work {sources[wid].name} from {at:.0f} s (at {e['offset_s']:.1f} s, "
                        f"BER {e['ber']:.3f}, significance {e['significance']:.2f}): left out"
                    )
                    continue
            sources.append(src)
            files.append(work)
            regs.append(reg)
    return sources, files, regs, used


def registrations(paths: list[Path], workers: int, log) -> list:
    """register_audio_batch over ``paths`` with a per-work cache under CACHE (new works only are registered,
    in chunks, each chunk stored as it completes so that an interrupted run keeps what it did)."""
    from fairtrain.core.fingerprint import audio as fa
    from fairtrain.core.fingerprint import codec

    tag = f"v{fa._FORMAT_VERSION}|{fa.DEFAULT_SPEEDS}|{fa.DEFAULT_HIGHPASS}|{fa.HIGHPASS_STEP}|4|{fa.SAMPLE_RATE}"
    CACHE.mkdir(parents=True, exist_ok=True)
    files = [CACHE / f"{_cache_key(p, tag)}.reg" for p in paths]
    out: list = [None] * len(paths)
    todo = []
    for i, f in enumerate(files):
        try:
            out[i] = codec.loads(f.read_bytes())
        except (OSError, ValueError):
            todo.append(i)
    log(f"  registrations: {len(paths) - len(todo)} cached, {len(todo)} to register")
    t0 = time.perf_counter()
    for start in range(0, len(todo), 2 * workers):
        chunk = todo[start : start + 2 * workers]
        regs = fa.register_audio_batch([str(paths[i]) for i in chunk], workers=workers)
        for i, reg in zip(chunk, regs):
            if isinstance(reg, fa.AudioRegistration):
                tmp = files[i].with_suffix(".tmp")
                tmp.write_bytes(codec.dumps(reg))
                tmp.replace(files[i])
            out[i] = reg
        log(f"    {start + len(chunk)}/{len(todo)} registered in {time.perf_counter() - t0:.0f} s")
    return out


def fmr_estimate(index, negatives: list, threshold: float, registry: float = 1e7) -> dict:
    """Expected false matches per query against a ``registry``-work index, from unrelated queries.

    Every candidate an unrelated query gets (``AudioIndex.candidate_significance``: what voting and the
    screen let through, uncapped) is scored by the significance that verification compares with
    SIGNIFICANCE. Candidate counts grow linearly with the index (each registered work is a candidate
    independently of the others), so expected false matches per query = candidates per query × registry ÷
    indexed works × P(S ≥ threshold) for an unrelated candidate. That tail is extrapolated from the
    measured null distribution three ways: a normal fit (mean, sd); an exponential fit to the top tenth
    (more cautious where the tail is heavier than normal); and the peaks-over-threshold model of extreme
    value theory, a generalised Pareto distribution fitted by maximum likelihood to the top 1 % (at least
    200 values), whose shape says whether the tail is bounded (< 0), exponential (0) or heavy (> 0). The
    last is given as the 95th percentile over bootstrap resamples of the top 1 % (``gpd_95``): the
    estimate that counts against the target. ``FAIRTRAIN_NULL_S=FILE`` saves the null's values (.npy)."""
    from math import erfc, exp, sqrt

    per = index.candidate_significance(negatives)
    values = np.array([sig for cands in per for _, sig in cands], dtype=np.float64)
    queries = max(1, len(negatives))
    per_query = len(values) / queries
    scale = registry / max(1, len(index))
    out = {"queries": queries, "candidates": len(values), "candidates_per_query": per_query}
    if len(values) < 20:
        return out
    mean, sd = float(values.mean()), float(values.std())
    top = np.sort(values)[::-1][: max(10, len(values) // 10)]
    floor, share = float(top[-1]), len(top) / len(values)
    rate = 1.0 / max(1e-9, float(np.mean(top - floor)))
    p_normal = 0.5 * erfc((threshold - mean) / (sd * sqrt(2)))
    p_exp = share * exp(-rate * (threshold - floor))
    gpd = _gpd_tail(values, threshold)
    if os.environ.get("FAIRTRAIN_NULL_S"):
        np.save(os.environ["FAIRTRAIN_NULL_S"], values)
    out.update(
        mean=mean,
        sd=sd,
        max=float(values.max()),
        above=int((values >= threshold).sum()),
        p_normal=p_normal,
        p_exponential=p_exp,
        fmr_normal=per_query * scale * p_normal,
        fmr_exponential=per_query * scale * p_exp,
        gpd_shape=gpd["shape"],
        gpd_shape_95=gpd["shape_95"],
        fmr_gpd=per_query * scale * gpd["p"],
        fmr_gpd_95=per_query * scale * gpd["p_95"],
    )
    return out


def _gpd_tail(values: np.ndarray, threshold: float, *, resamples: int = 200, seed: int = 0) -> dict:
    """P(S ≥ threshold) from a generalised Pareto fit to the exceedances over the null's 99th percentile
    (at least 200 of them), and its 95th percentile over bootstrap resamples of those exceedances."""
    from scipy.stats import genpareto

    ordered = np.sort(values)[::-1]
    k = max(200, len(values) // 100)
    if len(values) < 2 * k:
        return {"shape": float("nan"), "shape_95": float("nan"), "p": float("nan"), "p_95": float("nan")}
    u = float(ordered[k])
    share = k / len(values)

    def fit(excess: np.ndarray) -> tuple[float, float]:
        shape, _, scale = genpareto.fit(excess, floc=0.0)
        return float(shape), float(share * genpareto.sf(threshold - u, shape, loc=0.0, scale=scale))

    excess = ordered[:k] - u
    shape, p = fit(excess)
    rng = np.random.default_rng(seed)
    boot = np.array([fit(rng.choice(excess, size=k)) for _ in range(resamples)])
    return {
        "shape": shape,
        "shape_95": float(np.percentile(boot[:, 0], 95)),
        "p": p,
        "p_95": float(np.percentile(boot[:, 1], 95)),
    }


# --- the release before issue 16, in a subprocess -------------------------------------------------

_RELEASE_CODE = """
import os, pickle, time
from fairtrain.core.fingerprint.audio import AudioIndexBuilder, register_audio_batch, fingerprint_audio
regs = [None] * len(PAYLOAD["works"])
for i, f in enumerate(PAYLOAD["cache"]):
    try:
        regs[i] = pickle.load(open(f, "rb"))
    except (OSError, EOFError, pickle.UnpicklingError):
        pass
todo = [i for i, r in enumerate(regs) if r is None]
for i, r in zip(todo, register_audio_batch([PAYLOAD["works"][i] for i in todo], workers=PAYLOAD["workers"])):
    regs[i] = r
    with open(PAYLOAD["cache"][i] + ".tmp", "wb") as out:
        pickle.dump(r, out)
    os.replace(PAYLOAD["cache"][i] + ".tmp", PAYLOAD["cache"][i])
b = AudioIndexBuilder()
for i, r in enumerate(regs):
    b.add(i, r)
index = b.build()
hits, t = [], 0.0
for q in PAYLOAD["queries"]:
    data = open(q, "rb").read()
    t0 = time.process_time()
    try:
        fp = fingerprint_audio(data)
    except Exception:
        hits.append([]); continue
    found = index.match([fp])[0]
    if len(hits) < PAYLOAD["timed"]:
        t += time.process_time() - t0
    hits.append([m.work_id for m in found])
RESULT = {"hits": hits, "cpu_s": t}
"""


def run(args) -> list[dict]:
    from _common import ensure_debian_packages
    from _recognition_release import RELEASE, add_release, run_release
    from fingerprint_audio import BruteForce, baseline_fingerprints

    from fairtrain.core.fingerprint import FingerprintError
    from fairtrain.core.fingerprint.audio import (
        ITEM_SECONDS,
        AudioIndexBuilder,
        AudioRegistration,
        fingerprint_audio,
    )

    quick = bool(getattr(args, "quick", False))
    seed = int(getattr(args, "seed", 0) or 0)
    workers = int(getattr(args, "workers", 2) or 2)
    log = lambda *a: print(*a, file=sys.stderr, flush=True)
    t_start = time.perf_counter()
    ensure_debian_packages(DEBIAN_PACKAGES)
    tracks = corpus()
    rng = random.Random(seed)
    rng.shuffle(tracks)
    if len(tracks) < 20:
        raise SystemExit("audio corpus missing: see the apt-get line in benchmarks/_recognition_audio.py")
    n_works = int(getattr(args, "works", 0) or 0) or (20 if quick else 60)
    sources, works, regs, used = distinct_works(tracks, n_works, workers, log)
    unrelated = tracks[used : used + (30 if quick else 200)]
    genres = sorted({_genre(p) for p in sources})
    log(f"audio corpus: {len(tracks)} tracks; {len(works)} works ({', '.join(genres)}), {len(unrelated)} unrelated")

    builder = AudioIndexBuilder()
    for wid, reg in enumerate(regs):
        assert isinstance(reg, AudioRegistration), reg
        builder.add(wid, reg)
    index = builder.build()
    log(f"  registered {len(works)} works in {time.perf_counter() - t_start:.0f} s")

    # Unrelated material: a track any method links to a work (a shared theme, a re-release) is left out.
    import soundfile

    raw_unrelated = baseline_fingerprints(unrelated, workers)
    brute = BruteForce([r.fingerprint.items for r in regs])  # type: ignore[union-attr]
    min_items = int(np.ceil(MIN_OVERLAP_S / ITEM_SECONDS))
    clean = []
    for p, items in zip(unrelated, raw_unrelated):
        if items is None:
            continue
        fp = fingerprint_audio(str(p), allow_truncated=True)
        # fixed rules (votes ≥ 2, no long-region slack), so that tuning the matcher does not move the negatives
        ours = index.match([fp], max_ber=0.3, min_votes=2, long_slack=0.0)[0]
        ref, ber = brute.best(items, min_items)
        if ours or ber <= 0.3:
            log(f"  unrelated {p.name} overlaps work {sources[ours[0].work_id if ours else ref].name}: left out")
            continue
        # The whole track can miss what an excerpt shows: a remaster or an older version of a work shares
        # only some of its minutes (Warzone 2100's aftermath track3_enhanced and the original track3 agree
        # from 70 s on, at the same offsets; SuperTux's cave and cave_old). Negatives are excerpts of the
        # first NEGATIVE_SOURCE_S seconds, so those are what is checked, as excerpts, with the default rules.
        hit = _excerpt_overlap(index, p)
        if hit is not None:
            wid, at, e = hit
            log(
                f"  unrelated {p.name} overlaps work {sources[wid].name} from {at:.0f} s (work at {e['offset_s']:.1f} s, "
                f"BER {e['ber']:.3f}, significance {e['significance']:.2f}): left out"
            )
            continue
        clean.append(p)
    log(f"  {len(clean)} unrelated tracks after the overlap check")

    speech = speech_track(120, random.Random(seed + 2))
    music_bed = decode(clean[0], 10, 120) if clean else speech
    tmp = Path(tempfile.mkdtemp(prefix="fairtrain-recog-audio-"))
    jobs = []
    for fam_i, family in enumerate(FAMILIES):
        for wid, path in enumerate(works):
            r = random.Random(hash((seed, fam_i, wid)) & 0xFFFFFFFF)
            jobs.append((family, wid, path, r))

    def make(job):
        family, wid, path, r = job
        length = r.uniform(10, 30) if family != "excerpt 10–30 s" else r.uniform(10, 30)
        total = soundfile.info(str(path)).duration
        start = r.uniform(0, max(0.0, total - length - 0.5))
        pcm = decode(path, start, length + (2 if "tempo" in family or "speed" in family else 0))
        data = family_edit(family, pcm, r, speech, music_bed)
        out = tmp / f"q{len(str(wid))}-{FAMILIES.index(family)}-{wid}.bin"
        out.write_bytes(data)
        return out

    with ThreadPoolExecutor(max_workers=workers) as pool:
        q_paths = list(pool.map(make, jobs))
    log(f"  {len(q_paths)} positive queries in {time.perf_counter() - t_start:.0f} s")

    # Negatives: excerpts of unrelated tracks under a random numpy-side edit, in memory (WAV bytes).
    n_neg = int(getattr(args, "negatives", 0) or 0) or (500 if quick else 10_000)
    segments = []  # int16, at most NEGATIVE_SOURCE_S per track: 55 tracks stay under half a gigabyte
    for p in clean:
        total = soundfile.info(str(p)).duration
        segments.append(
            (p, np.clip(decode(p, 0, min(total, NEGATIVE_SOURCE_S)) * 32767, -32768, 32767).astype(np.int16))
        )

    def negative(i: int) -> bytes:
        """The i-th negative, made on demand (10,000 WAVs would not fit in memory at once)."""
        r = random.Random(f"{seed}-negative-{i}")
        _, pcm = segments[r.randrange(len(segments))]
        length = int(r.uniform(10, 30) * RATE)
        start = r.randrange(max(1, len(pcm) - length))
        part = pcm[start : start + length].astype(np.float32) / 32768
        other = segments[r.randrange(len(segments))][1][:length].astype(np.float32) / 32768
        return wav(_NEGATIVE_EDITS[i % len(_NEGATIVE_EDITS)](part, r, other))

    durations: list[float] = []
    neg_fps: list = []  # the negatives' fingerprints, for the false-match rate's calibration

    def ours(data: bytes, keep: bool = False) -> set[int]:
        try:
            fp = fingerprint_audio(data)
        except FingerprintError:
            durations.append(0.0)
            return set()
        durations.append(fp.seconds)
        if keep:
            neg_fps.append(fp)
        return {m.work_id for m in index.match([fp])[0]}

    c0 = time.process_time()
    pos_ours = [ours(q.read_bytes()) for q in q_paths]
    ours_cpu = time.process_time() - c0
    audio_s = float(sum(durations))
    n_base_neg = min(n_neg, 300 if quick else 1000)
    neg_files = []
    neg_ours = []
    for i in range(n_neg if segments else 0):
        data = negative(i)
        neg_ours.append(ours(data, keep=True))
        if i < n_base_neg:
            neg_files.append(tmp / f"neg-{i}.wav")
            neg_files[-1].write_bytes(data)
    log(f"  matched in {time.perf_counter() - t_start:.0f} s")
    for i, found in enumerate(neg_ours):
        for w in found:
            log(f"  negative {i} matched work {w} ({sources[w].name})")
    from fairtrain.core.fingerprint.audio import SIGNIFICANCE

    # What the BER rules alone would accept (no significance demanded, with the long-region slack of the
    # second round): each such negative, with the significance that now refuses it. Without a significance
    # threshold any whole overlap passes, so only regions within the BER rules' reach are counted.
    loose = [
        [m for m in found if m.evidence["ber"] <= MAX_BER + 0.06]
        for found in index.match(neg_fps, min_significance=-np.inf, long_slack=0.06)
    ]
    for fp, found in zip(neg_fps, loose):
        for m in found:
            e = m.evidence
            log(
                f"  BER rules alone: a negative ({fp.seconds:.1f} s) matched work {m.work_id} at BER {e['ber']:.3f} "
                f"over {e['overlap_s']:.1f} s, significance {e['significance']:.2f} (needs {SIGNIFICANCE})"
            )
    log(f"  BER rules alone: {sum(len(f) for f in loose)} false matches in {len(neg_fps)} negatives")

    fmr = {t: fmr_estimate(index, neg_fps, t) for t in sorted({1.0, 1.2, SIGNIFICANCE, 1.6, 2.0})}
    f0 = fmr[SIGNIFICANCE]
    if "mean" in f0:
        log(
            f"  null significance of unrelated candidates: {f0['candidates']} candidates of {f0['queries']} negatives "
            f"({f0['candidates_per_query']:.2f} a query at {len(works)} works), mean {f0['mean']:.3f}, "
            f"sd {f0['sd']:.3f}, largest {f0['max']:.3f}"
        )
        for t, f in fmr.items():
            log(
                f"    S >= {t:.2f}{' (default)' if t == SIGNIFICANCE else ''}: {f['above']} of the candidates; "
                f"false matches per query at 10^7 works: {f['fmr_normal']:.1e} (normal tail), "
                f"{f['fmr_exponential']:.1e} (exponential tail), {f['fmr_gpd']:.1e} (generalised Pareto, "
                f"shape {f['gpd_shape']:.2f}; 95th percentile of its bootstrap {f['fmr_gpd_95']:.1e}, "
                f"shape {f['gpd_shape_95']:.2f})"
            )

    raw_q = baseline_fingerprints(q_paths, workers)
    base_pos = [brute.best(q, min_items) if q is not None else (-1, 1.0) for q in raw_q]
    raw_n = baseline_fingerprints(neg_files, workers)
    base_neg = [brute.best(q, min_items) if q is not None else (-1, 1.0) for q in raw_n]
    log(f"  baseline in {time.perf_counter() - t_start:.0f} s")

    release = run_release(
        _RELEASE_CODE,
        {
            "works": [str(p) for p in works],
            # the release's registrations, cached beside ours (its own pickles, read by its own code)
            "cache": [str(CACHE / f"{_cache_key(p, 'release-' + RELEASE)}.pkl") for p in works],
            "workers": workers,
            "queries": [str(q) for q in q_paths] + [str(f) for f in neg_files],
            "timed": len(q_paths),
        },
    )
    rel_hits = release["hits"] if release else None

    rows = []
    truth = [(fam, wid) for fam, wid, _, _ in jobs]
    for family in FAMILIES:
        idx = [i for i, (f, _) in enumerate(truth) if f == family]
        row = {
            "modality": "audio",
            "family": family,
            "n": len(idx),
            "recall": float(np.mean([truth[i][1] in pos_ours[i] for i in idx])),
            "false_matches": sum(len(pos_ours[i] - {truth[i][1]}) for i in idx),
            "baseline": "Chromaprint best-offset",
            "baseline_recall": float(
                np.mean([base_pos[i][1] <= MAX_BER and base_pos[i][0] == truth[i][1] for i in idx])
            ),
            "target": TARGET_FAMILY,
        }
        if rel_hits is not None:
            row["release_recall"] = float(np.mean([truth[i][1] in rel_hits[i] for i in idx]))
        rows.append(row)
    neg_false = sum(len(s) for s in neg_ours)
    summary = {
        "modality": "audio",
        "family": "ALL (modality)",
        "n": len(truth),
        "recall": float(np.mean([t[1] in h for t, h in zip(truth, pos_ours)])),
        "false_matches": sum(r["false_matches"] for r in rows) + neg_false,
        "negatives": len(neg_ours),
        "negative_false_matches": neg_false,
        "baseline": "Chromaprint best-offset",
        "baseline_recall": float(np.mean([b[1] <= MAX_BER and b[0] == t[1] for t, b in zip(truth, base_pos)])),
        "baseline_negatives": n_base_neg,  # best-offset search is slow: the first ones only
        "baseline_false_matches": sum(b[1] <= MAX_BER for b in base_neg),
        "target": TARGET_MODALITY,
        "speed": f"{audio_s / ours_cpu:.0f}× real time per core",
        "fmr_per_query_1e7_normal": f0.get("fmr_normal"),
        "fmr_per_query_1e7_exponential": f0.get("fmr_exponential"),
    }
    if release:
        speed = f" (release {audio_s / release['cpu_s']:.0f}×)"
        add_release(summary, truth, rel_hits, len(neg_files), release["cpu_s"] / ours_cpu, speed)
    rows.append(summary)
    if "mean" in f0:
        rows.append(
            {
                "modality": "audio",
                "family": "false-match rate at 1e7 works",
                "params": f"{len(works)} works indexed, {f0['queries']} unrelated queries",
                "n": f0["queries"],
                "false matches": neg_false,
                "candidates/query at 1e7": f0["candidates_per_query"] * 1e7 / max(1, len(works)),
                "null S mean/sd/max": f"{f0['mean']:.3f}/{f0['sd']:.3f}/{f0['max']:.3f}",
                "normal tail FMR": f0["fmr_normal"],
                "exponential tail FMR": f0["fmr_exponential"],
                "GPD shape (95th pct)": f"{f0['gpd_shape']:.2f} ({f0['gpd_shape_95']:.2f})",
                "estimated FMR": f0["fmr_gpd_95"],
                "target": "<= 1e-6",
            }
        )
    log(f"  audio benchmark done in {time.perf_counter() - t_start:.0f} s")
    return rows


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    from _recognition_release import run_alone

    run_alone(run, __doc__.splitlines()[0])
