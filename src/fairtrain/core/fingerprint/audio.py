"""Audio fingerprints: Chromaprint items (``fpcalc``) matched through an inverted index with offset voting
and a bit-error-rate check, plus speed-resampled registry variants and an ISCC Audio-Code per work.

Scan side: :func:`fingerprint_audio` (one item) and :func:`fingerprint_audio_batch` (a bounded pool of
subprocesses). Registry side: :func:`register_audio` / :func:`register_audio_batch`, then
:class:`AudioIndexBuilder` → :class:`AudioIndex` (``save``/``load``/``match``).

Design (``reference/fingerprinting.md`` §7.4): an exact xxh3-128 stage, then exact lookups of 32-bit
items, votes per (work, variant, offset difference), and a verification that accepts when the bit error
rate over at least ``min_overlap_s`` of aligned audio is at most ``max_ber``. Chromaprint is not invariant
to speed changes (≥ 1 % is as far as an unrelated track), so the registry also fingerprints the work
played 0.94…1.06× in 0.5 % steps. Issue 16: votes and verification run along time warps — a speed
variant s also stands for a copy pitched by s with its tempo kept (warp 1/s; ±1 semitone = 0.944…1.059),
the original for a copy whose tempo alone changed ±5 % (warps 0.95…1.05); every query item is also
looked up with each of its 32 bits flipped (reverb, filters and a voice over the work flip a bit or two
of most items); and a 10-s excerpt, whose items cover only 7.7 s, is verified over its own length.
Candidates with a single vote are verified too (reverb and a sound mixed over the work leave the true
alignment one exact hit; the ``max_candidates`` cap bounds the cost), each alignment once, and a region
longer than one window may err more at the same significance (``LONG_BER_SLACK``).
Issue 16, third round: the registry also fingerprints the work through high-pass filters
(:data:`DEFAULT_HIGHPASS`; a copy with its bass cut was as far from the work as unrelated audio, and low-pass
or peaking EQ never were), and a query's candidates are screened together before verification (BER
estimated from items spread over the query, best first, a work verified once), so that verifying single-vote
candidates costs little. Fourth round: every match must be significant against the pair's own chance BER
(:data:`SIGNIFICANCE`, :func:`significance`), over the window rule's region or over the whole overlap at
any BER, so that copies at BER 0.20–0.33 (reverb, a voice or music over the work, tempo and pitch) are
accepted and two unrelated pieces whose bits are biased alike (chance BER 0.19) are not. Fifth round: candidates
also come from a lookup on the bits that a second sound over the work or reverberation flip least
(:data:`ROBUST_BITS`: the odd bit of each classifier's pair, and one-bit flips of that key), because such a
copy's true alignment often got no exact or one-bit-flipped hit at all; stored fingerprints are unchanged.

Measured (``benchmarks/fingerprint_audio.py``, 16 Wesnoth tracks + 10 distractors): recall 1.00 and no
false positive for MP3/AAC/Opus re-encodes, 15 dB noise, 15-s excerpts and ±3 % speed; index ≈ 336 B per
second of audio (8 raw items/s + 10 variants at 2 items/s, 12 B each: stored item, key, posting).
Throughput is fpcalc's: 650–1,600× real time per core on whole tracks, but ≈ 350× on 15-s items because
starting fpcalc (135 shared libraries) costs 26 ms of CPU per item.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import xxhash

from . import FingerprintError, Match
from ._audio_tools import (
    ITEM_SECONDS,
    SAMPLE_RATE,
    AudioToolError,
    as_file,
    chromaprint_bytes,
    chromaprint_pcm,
    decode_pcm,
    duration_of_items,
    fpcalc_file,
    speed_variants,
    truncation_reason,
)
from .codec import register_type

__all__ = [
    "ITEM_SECONDS",
    "DEFAULT_SPEEDS",
    "DEFAULT_HIGHPASS",
    "AudioToolError",
    "AudioFingerprint",
    "AudioVariant",
    "AudioRegistration",
    "fingerprint_audio",
    "fingerprint_audio_batch",
    "register_audio",
    "register_audio_batch",
    "AudioIndexBuilder",
    "AudioIndex",
]

AudioSource = bytes | str | os.PathLike
# 0.94…1.06 in 0.5 % steps: Chromaprint items drift apart 0.4 % off a variant (measured on the test
# pieces: BER 0.11 at 0.1 % off, no match at 0.42 % off), so the 1 % grid of format 1 missed copies
# between its steps; ±1 semitone (0.944/1.059) needs the 0.94/1.06 ends.
DEFAULT_SPEEDS: tuple[float, ...] = tuple(round(0.94 + 0.005 * i, 3) for i in range(25) if i != 12)
# Time warps tried when voting and verifying (query item i ↔ variant position r·i + d). A speed variant s
# stands for a copy played s× faster (warp 1) and for a copy pitched by s with its tempo kept (warp 1/s:
# pitch ±1 semitone is 0.944…1.059, hence the 0.94/1.06 variants); the original stands for copies whose
# tempo alone changed by up to ±5 % (warps 0.95…1.05 in 1 % steps).
TEMPO_WARPS: tuple[float, ...] = (0.95, 0.96, 0.97, 0.98, 0.99, 1.01, 1.02, 1.03, 1.04, 1.05)
# High-pass variants (Hz, second order, at the original speed). Chromaprint's chroma leans on the bass: a
# copy with its bass cut is as far from the work as unrelated audio (BER 0.30–0.45 after a 4th-order
# high-pass at 200–500 Hz on the benchmark's music), but within 0.05–0.13 of the work high-passed at the
# nearest of these cut-offs. Low-pass (≥ 2 kHz) and peaking EQ bands leave BER ≈ 0.06–0.10 and need none.
DEFAULT_HIGHPASS: tuple[float, ...] = (250.0, 400.0, 600.0)
HIGHPASS_STEP = 2
DEFAULT_TIMEOUT_S = 120.0
_FORMAT_VERSION = 3
_NO_HIGHPASS = "no high-pass variants: copies with the bass cut (high-pass, thin speakers) are not recognised"
_OLDER_VERSIONS = {
    1: "speed variants 0.95–1.05 only: pitch shifts near ±1 semitone are not recognised from it, and "
    + _NO_HIGHPASS
    + "; re-export the snapshot",
    2: _NO_HIGHPASS + "; re-export the snapshot",
}


@dataclass(frozen=True, slots=True, eq=False)
class AudioFingerprint:
    """The scan-side fingerprint of one audio item.

    ``items`` are the raw 32-bit Chromaprint sub-fingerprints, one per :data:`ITEM_SECONDS` (≈ 0.124 s);
    ``exact`` is xxh3-128 of the bytes; ``duration`` is what the container declares (seconds).
    """

    item: str
    exact: bytes
    duration: float
    items: np.ndarray
    truncated: bool = False

    @property
    def seconds(self) -> float:
        """Seconds of audio covered by the items."""
        return duration_of_items(len(self.items))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AudioFingerprint)
            and self.exact == other.exact
            and self.duration == other.duration
            and np.array_equal(self.items, other.items)
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, slots=True, eq=False)
class AudioVariant:
    """The work played ``speed`` times faster (pitch and tempo together), or at its own speed through a
    ``highpass`` filter (Hz; 0 for none), keeping every ``step``-th item."""

    speed: float
    step: int
    items: np.ndarray
    highpass: float = 0.0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, AudioVariant)
            and self.speed == other.speed
            and self.step == other.step
            and self.highpass == other.highpass
            and np.array_equal(self.items, other.items)
        )

    __hash__ = None  # type: ignore[assignment]


_ALL_BITS = np.uint32(0xFFFFFFFF)


def _probes(
    fps: Sequence[AudioFingerprint], pending: list[int], mask: np.uint32, flip_bits: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lookup probes of the pending queries: each query's items under ``mask``, the first of each run of
    equal keys (the index's run rule), then each of those with one of ``flip_bits`` flipped; as (values, the
    query of each, the item position of each)."""
    parts_items, parts_q, parts_pos = [], [], []
    for qi in pending:
        q = np.asarray(fps[qi].items, dtype=np.uint32) & mask
        keep = np.ones(len(q), dtype=bool)
        keep[1:] = q[1:] != q[:-1]
        pos = np.flatnonzero(keep)
        parts_items.append(q[pos])
        parts_pos.append(pos)
        parts_q.append(np.full(len(pos), qi, dtype=np.int64))
    values = np.concatenate(parts_items)
    q_ids = np.concatenate(parts_q)
    q_pos = np.concatenate(parts_pos).astype(np.int64)
    if len(flip_bits):
        flips = np.uint32(1) << np.asarray(flip_bits, dtype=np.uint32)
        values = np.concatenate([values, (values[:, None] ^ flips[None, :]).ravel()])
        q_ids = np.concatenate([q_ids, np.repeat(q_ids, len(flips))])
        q_pos = np.concatenate([q_pos, np.repeat(q_pos, len(flips))])
    return values, q_ids, q_pos


def _lookup(
    ukeys: np.ndarray, ustart: np.ndarray, values: np.ndarray, max_postings: int
) -> tuple[np.ndarray, np.ndarray]:
    """Every posting of every probe in an inverted index of distinct keys ``ukeys`` whose postings start at
    ``ustart`` (a key with more than ``max_postings`` is skipped as uninformative): (the probe of each hit,
    the hit's place among the postings)."""
    at = np.minimum(np.searchsorted(ukeys, values), len(ukeys) - 1)
    left = ustart[at]
    count = np.where(ukeys[at] == values, ustart[at + 1] - left, 0)
    count[count > max_postings] = 0
    total = int(count.sum())
    source = np.repeat(np.arange(len(values)), count)
    first = np.cumsum(count) - count
    return source, left[source] + (np.arange(total) - first[source])


def _vote_cells(
    qid: np.ndarray, seg: np.ndarray, code: np.ndarray, diff: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hits counted per (query, segment, warp code, offset difference) cell, cells in that order: the cells'
    query, segment, code and difference, their votes with those of the cells at the neighbouring differences
    added, and whether each cell is such a neighbour of the one after it."""
    n = len(qid)
    order = np.lexsort((diff, code, seg, qid))
    qid, seg, code, diff = qid[order], seg[order], code[order], diff[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (qid[1:] != qid[:-1]) | (seg[1:] != seg[:-1]) | (code[1:] != code[:-1]) | (diff[1:] != diff[:-1])
    starts = np.flatnonzero(new)
    votes = np.diff(np.append(starts, n))
    gq, gs, gc, gd = qid[starts], seg[starts], code[starts], diff[starts]
    adjacent = (gq[1:] == gq[:-1]) & (gs[1:] == gs[:-1]) & (gc[1:] == gc[:-1]) & (gd[1:] - gd[:-1] == 1)
    smooth = votes.copy()
    smooth[1:] += np.where(adjacent, votes[:-1], 0)
    smooth[:-1] += np.where(adjacent, votes[1:], 0)
    return gq, gs, gc, gd, smooth, adjacent


def _best_per_query(
    chosen: np.ndarray,
    gq: np.ndarray,
    gs: np.ndarray,
    gc: np.ndarray,
    gd: np.ndarray,
    votes: np.ndarray,
    limit: int,
) -> dict[int, list[tuple[int, int, int, int]]]:
    """The ``chosen`` vote cells as candidates, (segment, warp code, offset difference, votes), best-voted
    first within each query and at most ``limit`` a query."""
    out: dict[int, list[tuple[int, int, int, int]]] = {}
    for i in chosen[np.lexsort((-votes[chosen], gq[chosen]))]:
        lst = out.setdefault(int(gq[i]), [])
        if len(lst) < limit:
            lst.append((int(gs[i]), int(gc[i]), int(gd[i]), int(votes[i])))
    return out


@dataclass(frozen=True, slots=True)
class AudioRegistration:
    """The registry-side fingerprint of one work: the raw fingerprint, its speed variants and its ISCC."""

    fingerprint: AudioFingerprint
    variants: tuple[AudioVariant, ...] = ()
    iscc: str = ""


# --- scan side ---------------------------------------------------------------------------------------


def _name(data: AudioSource, item: str) -> str:
    if item:
        return item
    return "<bytes>" if isinstance(data, (bytes, bytearray, memoryview)) else os.fspath(data)


def _read(data: AudioSource, item: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    try:
        return Path(data).read_bytes()
    except OSError as exc:
        raise FingerprintError(item, f"cannot read file ({exc.strerror or exc})") from None


def fingerprint_audio(
    data: AudioSource,
    item: str = "",
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    allow_truncated: bool = False,
    in_process: bool = True,
) -> AudioFingerprint:
    """Fingerprint one audio file (bytes or a path): Chromaprint in this process where libsndfile decodes it
    at 11,025 Hz or more (identical to fpcalc's), else ``fpcalc -raw -length 0``.

    Raises FingerprintError naming ``item`` for empty input, junk, unsupported formats, audio too short
    to fingerprint, and truncated files (unless ``allow_truncated``: then the decodable part is kept and
    ``truncated`` is set). Raises AudioToolError when fpcalc is not installed.
    """
    name = _name(data, item)
    raw = _read(data, name)
    if not raw:
        raise FingerprintError(name, "empty input (0 bytes)")
    found = chromaprint_bytes(raw) if in_process else None
    if found is None:
        with as_file(data, name) as path:
            found = fpcalc_file(path, name, timeout)
    items, declared, errors = found
    reason = truncation_reason(raw, declared, len(items), errors)
    if reason and not allow_truncated:
        raise FingerprintError(name, f"truncated or corrupt audio: {reason}")
    return AudioFingerprint(
        item=name,
        exact=xxhash.xxh3_128_digest(raw),
        duration=declared or duration_of_items(len(items)),
        items=items,
        truncated=reason is not None,
    )


_T = TypeVar("_T")


def _pool_map(
    fn: Callable[[AudioSource, str], _T],
    sources: Sequence[AudioSource],
    items: Sequence[str] | None,
    workers: int | None,
) -> list[_T | FingerprintError]:
    names = list(items) if items is not None else [""] * len(sources)
    if len(names) != len(sources):
        raise ValueError(f"{len(sources)} sources but {len(names)} item names")

    def one(pair: tuple[AudioSource, str]) -> _T | FingerprintError:
        try:
            return fn(*pair)
        except FingerprintError as exc:
            return exc

    # Threads only wait on subprocesses, so the pool size bounds how many fpcalc/ffmpeg run at once.
    size = max(1, min(workers or os.cpu_count() or 1, len(sources) or 1))
    with ThreadPoolExecutor(max_workers=size) as pool:
        return list(pool.map(one, zip(sources, names)))


def fingerprint_audio_batch(
    sources: Sequence[AudioSource],
    items: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    allow_truncated: bool = False,
) -> list[AudioFingerprint | FingerprintError]:
    """Fingerprint many items with at most ``workers`` (default: CPU count) fpcalc processes at once.

    Results keep the input order; an item that fails is returned as its FingerprintError.
    """
    return _pool_map(
        lambda d, n: fingerprint_audio(d, n, timeout=timeout, allow_truncated=allow_truncated), sources, items, workers
    )


# --- registry side -----------------------------------------------------------------------------------


def _iscc_audio_code(items: np.ndarray) -> str:
    import iscc_core

    # ISCC expects the signed form that ``fpcalc -signed`` prints.
    return iscc_core.gen_audio_code_v0(items.astype(np.int32).tolist())["iscc"]


def _highpassed(pcm: bytes, cutoff: float) -> bytes:
    """s16le PCM at SAMPLE_RATE through a zero-phase 2nd-order Butterworth high-pass magnitude (one FFT)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float32)
    n = len(x)
    spectrum = np.fft.rfft(x)
    ratio = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE) / float(cutoff)
    spectrum *= ratio**2 / np.sqrt(1.0 + ratio**4)
    y = np.fft.irfft(spectrum, n)
    return np.clip(np.rint(y), -32768, 32767).astype("<i2").tobytes()


def register_audio(
    data: AudioSource,
    item: str = "",
    *,
    speeds: Sequence[float] = DEFAULT_SPEEDS,
    variant_step: int = 4,
    highpass: Sequence[float] = DEFAULT_HIGHPASS,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> AudioRegistration:
    """The registry-side fingerprint of one work.

    The raw fingerprint (as :func:`fingerprint_audio`), one variant per speed in ``speeds`` (the file is
    decoded once with ffmpeg, then read as if it ran at 11,025·speed Hz: :func:`speed_variants`), each keeping every
    ``variant_step``-th item, one variant per cut-off in ``highpass`` (the work at its own speed through a
    high-pass filter, every :data:`HIGHPASS_STEP`-th item), and the work's ISCC Audio-Code.
    """
    if variant_step < 1:
        raise ValueError("variant_step must be ≥ 1")
    name = _name(data, item)
    fingerprint = fingerprint_audio(data, name, timeout=timeout)
    variants: list[AudioVariant] = []
    wanted = sorted({round(float(s), 4) for s in speeds} - {1.0})
    cutoffs = sorted({round(float(c), 1) for c in highpass})
    if any(not 20.0 <= c <= 2000.0 for c in cutoffs):
        raise ValueError(f"high-pass cut-offs {cutoffs} outside 20…2000 Hz")
    if wanted or cutoffs:
        with as_file(data, name) as path:
            pcm = decode_pcm(path, name, timeout)
        if any(not 0.5 <= speed <= 2.0 for speed in wanted):
            raise ValueError(f"speeds {wanted} outside 0.5…2.0")
        made = speed_variants(pcm, [round(SAMPLE_RATE * speed) for speed in wanted], name, timeout)
        for speed, items in zip(wanted, made, strict=True):
            if isinstance(items, FingerprintError):
                if "too short" in items.reason:
                    continue  # a very short work can lose its last items when sped up
                raise items
            variants.append(AudioVariant(speed=speed, step=variant_step, items=items[::variant_step].copy()))
        for cutoff in cutoffs:
            try:
                items = chromaprint_pcm(_highpassed(pcm, cutoff), SAMPLE_RATE, name, timeout)
            except FingerprintError as exc:
                if "too short" in exc.reason:
                    continue
                raise
            variants.append(
                AudioVariant(speed=1.0, step=HIGHPASS_STEP, items=items[::HIGHPASS_STEP].copy(), highpass=cutoff)
            )
    return AudioRegistration(
        fingerprint=fingerprint, variants=tuple(variants), iscc=_iscc_audio_code(fingerprint.items)
    )


def register_audio_batch(
    sources: Sequence[AudioSource],
    items: Sequence[str] | None = None,
    *,
    workers: int | None = None,
    speeds: Sequence[float] = DEFAULT_SPEEDS,
    variant_step: int = 4,
    highpass: Sequence[float] = DEFAULT_HIGHPASS,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> list[AudioRegistration | FingerprintError]:
    """:func:`register_audio` over many works with a bounded pool; failures come back as errors, in order."""
    return _pool_map(
        lambda d, n: register_audio(d, n, speeds=speeds, variant_step=variant_step, highpass=highpass, timeout=timeout),
        sources,
        items,
        workers,
    )


# --- index -------------------------------------------------------------------------------------------


def run_starts(lengths: Sequence[int] | np.ndarray) -> np.ndarray:
    """Offsets of consecutive runs of these lengths, with the total last (an index's segment starts)."""
    starts = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(np.asarray(lengths, np.int64), out=starts[1:])
    return starts


def works_table(work_ids, durations, isccs, exact) -> pa.Table:
    """The works of a timed-media index (audio, video) as saved: id, seconds, ISCC and exact hash."""
    return pa.table(
        {
            "work_id": pa.array(work_ids, pa.int64()),
            "duration": pa.array(durations, pa.float64()),
            "iscc": pa.array(isccs, pa.string()),
            "xxh3_128": pa.array([bytes(row) for row in exact], pa.binary(16)),
        }
    )


class AudioIndexBuilder:
    """Collects registrations; :meth:`build` turns them into one :class:`AudioIndex` of flat arrays."""

    def __init__(self) -> None:
        self._work_ids: list[int] = []
        self._durations: list[float] = []
        self._isccs: list[str] = []
        self._exact: list[bytes] = []
        # (work position, speed, step, items, high-pass cut-off)
        self._segments: list[tuple[int, float, int, np.ndarray, float]] = []
        self._seen: set[int] = set()

    def add(self, work_id: int, reg: AudioRegistration | AudioFingerprint) -> None:
        """Add one work; a bare AudioFingerprint is indexed without variants."""
        if isinstance(reg, AudioFingerprint):
            reg = AudioRegistration(fingerprint=reg)
        work_id = int(work_id)
        if work_id in self._seen:
            raise ValueError(f"work {work_id} added twice")
        self._seen.add(work_id)
        position = len(self._work_ids)
        fp = reg.fingerprint
        self._work_ids.append(work_id)
        self._durations.append(float(fp.duration))
        self._isccs.append(reg.iscc)
        self._exact.append(fp.exact)
        self._segments.append((position, 1.0, 1, np.asarray(fp.items, dtype=np.uint32), 0.0))
        for variant in reg.variants:
            self._segments.append(
                (
                    position,
                    float(variant.speed),
                    int(variant.step),
                    np.asarray(variant.items, dtype=np.uint32),
                    float(variant.highpass),
                )
            )

    def __len__(self) -> int:
        return len(self._work_ids)

    def build(self) -> AudioIndex:
        """The inverted index: sorted 32-bit keys with postings into the stored items."""
        starts = run_starts([len(s[3]) for s in self._segments])
        items = np.concatenate([s[3] for s in self._segments]) if self._segments else np.zeros(0, dtype=np.uint32)
        exact = np.frombuffer(b"".join(self._exact), dtype=np.uint8).reshape(-1, 16)
        return AudioIndex._assemble(
            work_ids=np.array(self._work_ids, dtype=np.int64),
            durations=np.array(self._durations, dtype=np.float64),
            isccs=list(self._isccs),
            exact=exact,
            seg_work=np.array([s[0] for s in self._segments], dtype=np.int64),
            seg_speed=np.array([s[1] for s in self._segments], dtype=np.float64),
            seg_step=np.array([s[2] for s in self._segments], dtype=np.int64),
            seg_highpass=np.array([s[4] for s in self._segments], dtype=np.float64),
            seg_start=starts,
            items=items,
            keys=None,
            postings=None,
        )


def _chance_ber(a: np.ndarray, b: np.ndarray) -> float:
    """BER₀: the bit error rate two aligned item sequences would show by chance, from each side's own bit
    frequencies (a bit set in 90 % of one side's items and 90 % of the other's disagrees 18 % of the time)."""
    pa_ = np.unpackbits(np.ascontiguousarray(a, dtype="<u4").view(np.uint8)).reshape(len(a), 32).mean(axis=0)
    pb_ = np.unpackbits(np.ascontiguousarray(b, dtype="<u4").view(np.uint8)).reshape(len(b), 32).mean(axis=0)
    return float(np.mean(pa_ * (1.0 - pb_) + (1.0 - pa_) * pb_))


def significance(ber: float, chance: float, seconds: float) -> float:
    """S = (1 − BER / BER₀)·√seconds: agreement beyond chance, grown with the length it holds over, up to
    SIGNIFICANCE_SECONDS (the longest overlap it is calibrated on: the benchmark's queries are 10–30 s; two
    unrelated whole tracks of the same tempo and key can agree a little beyond chance over minutes)."""
    return (1.0 - ber / max(chance, 1e-3)) * float(np.sqrt(min(max(seconds, 0.0), SIGNIFICANCE_SECONDS)))


def _indexed_positions(items: np.ndarray, seg_start: np.ndarray) -> np.ndarray:
    # Only the first item of a run of equal items is indexed: runs are silence or drones, and would
    # otherwise flood the voting with hits at every offset.
    keep = np.ones(len(items), dtype=bool)
    if len(items) > 1:
        keep[1:] = items[1:] != items[:-1]
    firsts = seg_start[:-1][seg_start[:-1] < len(items)]
    keep[firsts] = True
    return np.flatnonzero(keep)


_ARRAYS = ("items", "keys", "postings")
MIN_OVERLAP_FLOOR_S = 7.0
# A region found only through windows up to max_ber + LONG_BER_SLACK is accepted when its BER is as
# significant as max_ber over one window: (0.5 - BER) * sqrt(region / window) >= 0.5 - max_ber. Reverb, a
# second sound over the work and tempo between warp steps keep a copy at 0.21-0.26 over 15-25 s, while
# the closest unrelated excerpt (benchmarks/_recognition_audio.py) reached 0.22 over 10 s only. Off by
# default: at 0.06 the quick benchmark run saw one false match in 500 negatives (recall 0.895): its 0.5 is
# not the chance BER of two pieces whose bits are biased alike (see SIGNIFICANCE, which every match must now
# reach and which accepts such copies through the whole overlap instead); callers may pass long_slack.
LONG_BER_SLACK = 0.0  # the items of a 10-s excerpt cover 7.7 s
# Significance of an alignment (issue 16, fourth round): S = (1 − BER / BER₀)·√(aligned seconds), where BER₀
# is the bit error rate the two sides would show by chance, from each side's own bit frequencies over the
# aligned items (Σ_b p_b(1 − r_b) + (1 − p_b)r_b over the 32 bits, ÷ 32). Unrelated audio is not at BER 0.5:
# two pieces with the same sustained timbre keep many bits constant, and then agree by chance (a negative of
# the benchmark's diagnostics sat at BER 0.17 against a work over 16 s, with BER₀ 0.19: it passed the window
# rule). Every match must reach SIGNIFICANCE, over the region the window rule found or over the whole
# overlap at any BER (reverb, a voice or music over the work, rubberband's tempo and pitch leave 0.20–0.33
# over the whole copy at BER₀ ≈ 0.35–0.47). The threshold is calibrated on unrelated pairs only: the
# candidates of the benchmark's negatives (benchmarks/_recognition_audio.py prints their distribution and
# the false-match rate it implies at 10⁷ works).
SIGNIFICANCE = 1.40
SIGNIFICANCE_SECONDS = 30.0
_INVERSE = len(TEMPO_WARPS) + 1  # warp code: 1 / the segment's speed
# Issue 16, fifth round: lookups on the bits that survive a second sound over the work and reverberation.
# Chromaprint codes each of its 16 classifiers' 4 levels in 2 Gray-coded bits, classifier 0 in bits 31–30:
# the odd bit is the response's side of the middle threshold, the even one whether it lies between the outer
# two, and a voice or music 6 dB under the work, or reverb, moves responses across the middle one less
# often. Measured at the true alignment (60 copies of the benchmark's works under reverb, speech and music
# over them, whole-item BER 0.12–0.34): the odd bits err 0.12–0.21 (mean 0.16), the even ones 0.18–0.28
# (mean 0.24). Order: the odd bits, then the even ones, each from least to most often flipped there.
ROBUST_BITS: tuple[int, ...] = (
    *(31, 27, 29, 19, 11, 15, 9, 3, 25, 23, 17, 7, 21, 1, 13, 5),
    *(28, 8, 22, 30, 6, 26, 14, 2, 18, 24, 0, 12, 20, 10, 16, 4),
)
# The robust key holds the first k of ROBUST_BITS, k the fewest (≥ ROBUST_MIN_BITS) that keep the expected
# postings per key ≤ ROBUST_POSTINGS over the index's original-speed items (≈ 960 a work): 20 bits (the 16
# odd ones and 4 even) up to ≈ 17,000 works, wider as the registry grows, so that the stage costs about the
# same per query at any size; but it also finds less: on the benchmark's diagnostics a key forced to 24 bits
# (≈ 3 × 10⁵ works) kept a quarter of the gain and one of 28 bits none (10⁷ works would get 30). A copy whose
# odd bits err 0.16–0.22 keeps one item in 7–20 within one flip of a 20-bit key, so the true alignment
# gathers votes where the exact and one-bit-flipped 32-bit lookups found none; ROBUST_MIN_VOTES of them
# (over neighbouring offsets) make a candidate, ROBUST_CANDIDATES per query at most, best-voted first, and
# each goes through the same screen and significance as any other. Unrelated audio gathers such votes too
# (repeated keys of similar timbres): on the benchmark's negatives 2 votes over 16 bits gave 2.8× as many
# unrelated candidates as the exact lookups alone, 4 votes over 20 bits 1.1–1.2×, 8 votes over 20 bits
# 1.00–1.03× (the false-match rate the benchmark derives from them unchanged), and the same recall but for
# one copy of 220.
ROBUST_MIN_BITS, ROBUST_POSTINGS = 20, 16
ROBUST_MIN_VOTES, ROBUST_CANDIDATES = 8, 8
# The screen before verification (AudioIndex._screen): items sampled over the query (at least this many,
# or every 8th), the BER under which a candidate goes on to verification, and the fewest aligned samples.
SCREEN_SAMPLES, SCREEN_BER, SCREEN_MIN_ITEMS = 64, 0.40, 8


@dataclass(eq=False)
class AudioIndex:
    """Registered audio works as flat numpy arrays (no per-item Python objects).

    ``items`` holds every stored sub-fingerprint, segment after segment (a segment is one work at one
    speed); ``keys`` (sorted uint32) with ``postings`` (positions into ``items``) is the inverted index.
    """

    work_ids: np.ndarray
    durations: np.ndarray
    isccs: list[str]
    exact: np.ndarray  # (W, 16) uint8, xxh3-128 per work, in work order
    seg_work: np.ndarray  # segment → position in work_ids
    seg_speed: np.ndarray
    seg_step: np.ndarray
    seg_highpass: np.ndarray  # high-pass cut-off of the segment, Hz; 0 for none
    seg_start: np.ndarray  # S + 1 offsets into items
    items: np.ndarray
    keys: np.ndarray
    postings: np.ndarray
    upgrade_note: str = ""  # set when loaded from an older format: what needs a re-export
    _exact_sorted: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    _exact_order: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    # distinct keys and where each one's postings start (one lookup a probe instead of two)
    _ukeys: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    _ustart: np.ndarray = field(repr=False, default=None)  # type: ignore[assignment]
    # the robust-bits lookup (ROBUST_BITS), built on first use: (mask, bits, distinct keys, their starts,
    # positions into items)
    _robust: tuple | None = field(repr=False, default=None)

    @property
    def notices(self) -> list[str]:
        return [self.upgrade_note] if self.upgrade_note else []

    @classmethod
    def _assemble(cls, *, keys: np.ndarray | None, postings: np.ndarray | None, **arrays) -> AudioIndex:
        items = arrays["items"]
        if keys is None or postings is None:
            positions = _indexed_positions(items, arrays["seg_start"])
            order = np.argsort(items[positions], kind="stable")
            pos_dtype = np.uint32 if len(items) < 2**32 else np.uint64
            postings = positions[order].astype(pos_dtype)
            keys = items[postings]
        index = cls(keys=keys, postings=postings, **arrays)
        firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1]))) if len(keys) else np.zeros(0, np.int64)
        index._ukeys = np.asarray(keys[firsts])
        index._ustart = np.append(firsts, len(keys)).astype(np.int64)
        # xxh3-128 digests as big-endian (hi, lo) pairs: a structured sort gives one searchsorted lookup.
        pairs = (
            index.exact.view(">u8").reshape(-1, 2).astype(np.uint64)
            if len(index.exact)
            else np.zeros((0, 2), dtype=np.uint64)
        )
        packed = np.empty(len(pairs), dtype=[("hi", np.uint64), ("lo", np.uint64)])
        packed["hi"], packed["lo"] = pairs[:, 0], pairs[:, 1]
        index._exact_order = np.argsort(packed, order=("hi", "lo"), kind="stable")
        index._exact_sorted = packed[index._exact_order]
        return index

    # --- size ---

    def __len__(self) -> int:
        return len(self.work_ids)

    @property
    def nbytes(self) -> int:
        """Bytes of the arrays (what a loaded index holds in memory, ISCC strings aside)."""
        return int(
            sum(
                a.nbytes
                for a in (
                    self.work_ids,
                    self.durations,
                    self.exact,
                    self.seg_work,
                    self.seg_speed,
                    self.seg_step,
                    self.seg_highpass,
                    self.seg_start,
                    self.items,
                    self.keys,
                    self.postings,
                )
            )
        )

    @property
    def audio_seconds(self) -> float:
        return float(self.durations.sum())

    @property
    def bytes_per_second(self) -> float:
        """Index bytes per second of registered audio."""
        return self.nbytes / self.audio_seconds if self.audio_seconds else 0.0

    @property
    def bytes_per_work(self) -> float:
        return self.nbytes / len(self) if len(self) else 0.0

    # --- persistence ---

    def save(self, directory: str | os.PathLike) -> list[Path]:
        """Write the index as Parquet tables and .npy arrays; returns the files written."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        works = works_table(self.work_ids, self.durations, self.isccs, self.exact)
        segments = pa.table(
            {
                "work_position": pa.array(self.seg_work, pa.int64()),
                "speed": pa.array(self.seg_speed, pa.float64()),
                "step": pa.array(self.seg_step, pa.int64()),
                "highpass": pa.array(self.seg_highpass, pa.float64()),
                "start": pa.array(self.seg_start[:-1], pa.int64()),
                "length": pa.array(np.diff(self.seg_start), pa.int64()),
            }
        )
        written = [out / "audio_works.parquet", out / "audio_segments.parquet"]
        pq.write_table(works, written[0])
        pq.write_table(segments, written[1])
        for name in _ARRAYS:
            path = out / f"audio_{name}.npy"
            np.save(path, getattr(self, name), allow_pickle=False)
            written.append(path)
        meta = out / "audio_index.json"
        meta.write_text(
            json.dumps(
                {
                    "format": "fairtrain-audio-index",
                    "version": _FORMAT_VERSION,
                    "works": len(self),
                    "segments": len(self.seg_work),
                    "items": int(len(self.items)),
                    "postings": int(len(self.postings)),
                    "item_seconds": ITEM_SECONDS,
                },
                indent=2,
            )
        )
        written.append(meta)
        return written

    @classmethod
    def load(cls, directory: str | os.PathLike, *, mmap: bool = False) -> AudioIndex:
        """Read an index written by :meth:`save` (``mmap`` maps the large arrays instead of reading them)."""
        src = Path(directory)
        meta = json.loads((src / "audio_index.json").read_text())
        version = meta.get("version")
        if meta.get("format") != "fairtrain-audio-index" or (
            version != _FORMAT_VERSION and version not in _OLDER_VERSIONS
        ):
            raise ValueError(
                f"{src}: audio index format {meta.get('format')!r} version {version!r} is not "
                f"one this code reads (version {_FORMAT_VERSION}, or "
                f"{sorted(_OLDER_VERSIONS)}); re-export the snapshot with this version of fairtrain"
            )
        note = ""
        if version != _FORMAT_VERSION:
            note = f"{src}: audio index version {version}: {_OLDER_VERSIONS[version]}"
            warnings.warn(note, stacklevel=2)
        works = pq.ParquetFile(src / "audio_works.parquet").read()
        segments = pq.ParquetFile(src / "audio_segments.parquet").read()
        arrays = {
            name: np.load(src / f"audio_{name}.npy", mmap_mode="r" if mmap else None, allow_pickle=False)
            for name in _ARRAYS
        }
        seg_start = run_starts(segments.column("length").to_numpy())
        exact_col = works.column("xxh3_128").to_pylist()
        exact = np.frombuffer(b"".join(exact_col), dtype=np.uint8).reshape(-1, 16)
        if (
            len(arrays["items"]) != seg_start[-1]
            or len(arrays["keys"]) != len(arrays["postings"])
            or meta.get("postings") != len(arrays["postings"])
        ):
            raise ValueError(f"{src}: audio index files do not agree with each other")
        return cls._assemble(
            work_ids=works.column("work_id").to_numpy().astype(np.int64),
            durations=works.column("duration").to_numpy().astype(np.float64),
            isccs=[s or "" for s in works.column("iscc").to_pylist()],
            exact=exact,
            seg_work=segments.column("work_position").to_numpy().astype(np.int64),
            seg_speed=segments.column("speed").to_numpy().astype(np.float64),
            seg_step=segments.column("step").to_numpy().astype(np.int64),
            seg_highpass=(
                segments.column("highpass").to_numpy().astype(np.float64)
                if "highpass" in segments.column_names
                else np.zeros(len(seg_start) - 1, dtype=np.float64)
            ),
            seg_start=seg_start,
            upgrade_note=note,
            **arrays,
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AudioIndex):
            return NotImplemented
        names = (
            "work_ids",
            "durations",
            "exact",
            "seg_work",
            "seg_speed",
            "seg_step",
            "seg_highpass",
            "seg_start",
            "items",
            "keys",
            "postings",
        )
        return self.isccs == other.isccs and all(np.array_equal(getattr(self, n), getattr(other, n)) for n in names)

    __hash__ = None  # type: ignore[assignment]

    # --- matching ---

    def _exact_works(self, digest: bytes) -> list[int]:
        if len(digest) != 16 or not len(self._exact_sorted):
            return []
        probe = np.empty(1, dtype=self._exact_sorted.dtype)
        hi, lo = np.frombuffer(digest, dtype=">u8").astype(np.uint64)
        probe["hi"], probe["lo"] = hi, lo
        left = int(np.searchsorted(self._exact_sorted, probe, side="left")[0])
        right = int(np.searchsorted(self._exact_sorted, probe, side="right")[0])
        return [int(self._exact_order[i]) for i in range(left, right)]

    def match(
        self,
        fps: Sequence[AudioFingerprint],
        *,
        max_ber: float = 0.20,
        min_overlap_s: float = 10.0,
        min_votes: int = 1,
        max_candidates: int = 64,
        max_postings: int = 1000,
        probe_flips: bool = True,
        long_slack: float = LONG_BER_SLACK,
        min_significance: float = SIGNIFICANCE,
        robust_candidates: int = ROBUST_CANDIDATES,
    ) -> list[list[Match]]:
        """Registered works recognised in each fingerprint of the batch, best first.

        Exact stage (xxh3-128 of the bytes), then every query item is looked up exactly (keys with more
        than ``max_postings`` postings are skipped as uninformative), votes are counted per (query, work,
        variant, offset difference), and the ``max_candidates`` best-voted candidates per query, with up to
        ``robust_candidates`` more from the robust-bits lookup (:data:`ROBUST_BITS`; 0 turns it off), are
        verified: accepted when some ``min_overlap_s`` window of aligned items has a bit error rate
        ≤ ``max_ber``, or when the region of windows ≤ ``max_ber + long_slack`` is as significant:
        (0.5 − BER)·√(region / window) ≥ 0.5 − ``max_ber``. Evidence: offset_s (where the query starts in the work), query_offset_s,
        speed (query speed relative to the work), ber, overlap_s, votes; score = 1 − 2·BER.
        """
        results: list[list[Match]] = [[] for _ in fps]
        pending: list[int] = []
        for qi, fp in enumerate(fps):
            hits = self._exact_works(fp.exact)
            if hits:
                results[qi] = [
                    Match(
                        work_id=int(self.work_ids[w]),
                        score=1.0,
                        stage="exact",
                        evidence={"xxh3_128": fp.exact.hex(), "iscc": self.isccs[w]},
                    )
                    for w in hits
                ]
            elif len(fp.items):
                pending.append(qi)
        if not pending or not len(self.keys):
            return results
        candidates = self._vote(
            fps,
            pending,
            min_votes=min_votes,
            max_candidates=max_candidates,
            max_postings=max_postings,
            probe_flips=probe_flips,
            robust_candidates=robust_candidates,
        )
        for qi, cands in candidates.items():
            best: dict[int, Match] = {}
            query = np.asarray(fps[qi].items, dtype=np.uint32)
            cands = self._screen(query, cands)
            changing = np.ones(len(query), dtype=bool)
            changing[1:] = query[1:] != query[:-1]
            tried: set[tuple[int, int, int]] = set()
            for seg, code, diff, votes in cands:
                if int(self.work_ids[self.seg_work[seg]]) in best:
                    continue  # candidates come best first: a work once verified needs no second alignment
                # neighbouring offsets of one segment and warp come as separate candidates: each alignment
                # is verified once
                offsets = [d for d in (diff - 1, diff, diff + 1) if (seg, code, d) not in tried]
                tried.update((seg, code, d) for d in offsets)
                if not offsets:
                    continue
                found = self._verify(
                    query,
                    seg,
                    code,
                    offsets,
                    votes,
                    max_ber=max_ber,
                    min_overlap_s=min_overlap_s,
                    long_slack=long_slack,
                    changing=changing,
                    min_significance=min_significance,
                )
                if found and (found.work_id not in best or found.score > best[found.work_id].score):
                    best[found.work_id] = found
            results[qi] = sorted(best.values(), key=lambda m: (-m.score, m.work_id))
        return results

    def candidate_significance(
        self,
        fps: Sequence[AudioFingerprint],
        *,
        max_ber: float = 0.20,
        min_overlap_s: float = 10.0,
        max_postings: int = 1000,
    ) -> list[list[tuple[int, float]]]:
        """For calibration (benchmarks): every candidate that :meth:`match` would screen in, uncapped, as
        (work id, best significance over its alignments), per fingerprint. On unrelated queries this is the
        null distribution that SIGNIFICANCE is set against, and the candidate count that grows with the
        registry."""
        out: list[list[tuple[int, float]]] = [[] for _ in fps]
        pending = [qi for qi, fp in enumerate(fps) if len(fp.items)]
        if not pending or not len(self.keys):
            return out
        found = self._vote(
            fps, pending, min_votes=1, max_candidates=1 << 30, max_postings=max_postings, robust_candidates=1 << 30
        )
        for qi, cands in found.items():
            query = np.asarray(fps[qi].items, dtype=np.uint32)
            for seg, code, diff, _ in self._screen(query, cands):
                sigs = [
                    sig
                    for _, sig, accepted, *_ in self._alignments(
                        query, seg, code, (diff - 1, diff, diff + 1), max_ber=max_ber, min_overlap_s=min_overlap_s
                    )
                    if accepted
                ]
                if sigs:
                    out[qi].append((int(self.work_ids[self.seg_work[seg]]), max(sigs)))
        return out

    def _vote(
        self,
        fps: Sequence[AudioFingerprint],
        pending: list[int],
        *,
        min_votes: int,
        max_candidates: int,
        max_postings: int,
        probe_flips: bool = True,
        robust_candidates: int = ROBUST_CANDIDATES,
    ) -> dict[int, list[tuple[int, int, int, int]]]:
        """Candidates per query, (segment, warp code, offset difference, votes): the exact and one-bit-flipped
        lookups' best ``max_candidates``, then up to ``robust_candidates`` more from the robust-bits lookup."""
        out = self._vote_exact(
            fps,
            pending,
            min_votes=min_votes,
            max_candidates=max_candidates,
            max_postings=max_postings,
            probe_flips=probe_flips,
        )
        if robust_candidates > 0:
            for qi, extra in self._vote_robust(fps, pending, robust_candidates, max_postings).items():
                have = out.setdefault(qi, [])
                seen = {(seg, code, diff) for seg, code, diff, _ in have}
                have.extend(c for c in extra if (c[0], c[1], c[2]) not in seen)
        return out

    def _robust_lookup(self) -> tuple:
        """The robust-bits inverted index over the original-speed items (see ROBUST_BITS), made once."""
        if self._robust is None:
            original = np.flatnonzero((self.seg_speed == 1.0) & (self.seg_highpass == 0.0) & (self.seg_step == 1))
            n = int(np.sum(self.seg_start[original + 1] - self.seg_start[original]))
            k = int(np.clip(np.ceil(np.log2(max(n, 1) / ROBUST_POSTINGS)), ROBUST_MIN_BITS, 32))
            bits = np.asarray(ROBUST_BITS[:k], dtype=np.uint32)
            mask = np.uint32(np.bitwise_or.reduce(np.uint32(1) << bits))
            if k >= 32 or not n:
                # every bit: the exact lookups already made these candidates
                self._robust = (mask, bits, np.zeros(0, np.uint32), np.zeros(1, np.int64), np.zeros(0, np.int64))
                return self._robust
            positions = np.concatenate(
                [np.arange(self.seg_start[g], self.seg_start[g + 1], dtype=np.int64) for g in original]
            )
            masked = np.asarray(self.items[positions], dtype=np.uint32) & mask
            # the run rule of the exact index, on the masked items: the first of a run of equal keys
            keep = np.ones(len(positions), dtype=bool)
            keep[1:] = (masked[1:] != masked[:-1]) | (np.diff(positions) != 1)
            positions, masked = positions[keep], masked[keep]
            order = np.argsort(masked, kind="stable")
            keys, positions = masked[order], positions[order]
            firsts = np.flatnonzero(np.concatenate(([True], keys[1:] != keys[:-1])))
            self._robust = (mask, bits, keys[firsts], np.append(firsts, len(keys)).astype(np.int64), positions)
        return self._robust

    def _vote_robust(
        self, fps: Sequence[AudioFingerprint], pending: list[int], limit: int, max_postings: int
    ) -> dict[int, list[tuple[int, int, int, int]]]:
        """Candidates of the robust-bits lookup (original speed, warp 1): every query item's masked key and
        its one-bit flips, votes per (query, segment, offset difference) summed with the neighbouring
        differences, local peaks of at least ROBUST_MIN_VOTES, the ``limit`` best per query."""
        mask, bits, ukeys, ustart, positions = self._robust_lookup()
        if not len(ukeys):
            return {}
        values, q_ids, q_pos = _probes(fps, pending, mask, bits)
        source, where = _lookup(ukeys, ustart, values, max_postings)
        total = len(source)
        if total == 0:
            return {}
        g = positions[where]
        seg = np.searchsorted(self.seg_start, g, side="right") - 1
        diff = (g - self.seg_start[seg]) - q_pos[source]
        # votes at neighbouring differences count together (the copy's items straddle the work's), and of
        # neighbouring cells only the peak is a candidate (verification tries its neighbours)
        gq, gs, gc, gd, smooth, adjacent = _vote_cells(q_ids[source], seg, np.zeros(total, np.int64), diff)
        peak = smooth >= ROBUST_MIN_VOTES
        peak[1:] &= ~adjacent | (smooth[1:] > smooth[:-1])
        peak[:-1] &= ~adjacent | (smooth[:-1] >= smooth[1:])
        return _best_per_query(np.flatnonzero(peak), gq, gs, gc, gd, smooth, limit)

    def _vote_exact(
        self,
        fps: Sequence[AudioFingerprint],
        pending: list[int],
        *,
        min_votes: int,
        max_candidates: int,
        max_postings: int,
        probe_flips: bool = True,
    ) -> dict[int, list[tuple[int, int, int, int]]]:
        # Reverberation, filters and a second sound over the work flip a bit or two of most items, and an
        # exact lookup then misses: with probe_flips every item is looked up with each of its 32 bits flipped too.
        values, q_ids, q_pos = _probes(fps, pending, _ALL_BITS, np.arange(32) if probe_flips else np.zeros(0))
        source, where = _lookup(self._ukeys, self._ustart, values, max_postings)
        total = len(source)
        if total == 0:
            return {}
        g = self.postings[where].astype(np.int64)
        seg = np.searchsorted(self.seg_start, g, side="right") - 1
        vpos = (g - self.seg_start[seg]) * self.seg_step[seg]
        qpos = q_pos[source]
        qid = q_ids[source]
        # One vote per hit and warp: warp 1 everywhere; 1/speed on a speed variant (a pitch-only copy);
        # the tempo warps on the original (a tempo-only copy; not on its high-pass variants). The warp code
        # indexes _warp().
        speed = self.seg_speed[seg]
        variant = np.flatnonzero(speed != 1.0)
        orig = np.flatnonzero((speed == 1.0) & (self.seg_highpass[seg] == 0.0))
        parts = [(np.arange(total), np.zeros(total, np.int64), vpos - qpos)]
        parts.append(
            (
                variant,
                np.full(len(variant), _INVERSE, np.int64),
                vpos[variant] - np.rint(qpos[variant] / speed[variant]).astype(np.int64),
            )
        )
        for code, t in enumerate(TEMPO_WARPS, start=1):
            parts.append(
                (orig, np.full(len(orig), code, np.int64), vpos[orig] - np.rint(qpos[orig] * t).astype(np.int64))
            )
        hit = np.concatenate([p[0] for p in parts])
        code = np.concatenate([p[1] for p in parts])
        diff = np.concatenate([p[2] for p in parts])
        # A speed between two registered variants drifts by an item now and then: neighbouring
        # differences of the same (query, segment, warp) share their votes.
        gq, gs, gc, gd, smooth, _ = _vote_cells(qid[hit], seg[hit], code, diff)
        return _best_per_query(np.flatnonzero(smooth >= min_votes), gq, gs, gc, gd, smooth, max_candidates)

    def _screen(self, query: np.ndarray, cands: list[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
        """The candidates worth a verification, most promising first: one vectorised pass over all of a
        query's candidates that estimates each alignment's BER from items spread over the query (paired as
        :meth:`_verify` pairs them) and drops those where no offset comes under SCREEN_BER. Unrelated alignments sit near 0.5;
        a copy that passes verification has some window ≤ max_ber and, spread over the query, ≤ 0.40 even
        when only a third of the query is the work."""
        if len(cands) <= 1:
            return cands
        arr = np.array(cands, dtype=np.int64)
        seg, code, diff = arr[:, 0], arr[:, 1], arr[:, 2]
        step = self.seg_step[seg].astype(np.float64)
        warp = np.ones(len(arr))
        inverse = code == _INVERSE
        warp[inverse] = 1.0 / self.seg_speed[seg[inverse]]
        tempo = (code > 0) & ~inverse
        warp[tempo] = np.asarray(TEMPO_WARPS)[code[tempo] - 1]
        n = len(query)
        qs = np.unique(np.linspace(0, n - 1, max(SCREEN_SAMPLES, n // 8)).astype(np.int64))
        seg_len = (self.seg_start[seg + 1] - self.seg_start[seg])[:, None, None]
        d = diff[:, None, None] + np.array([-1, 0, 1])[None, :, None]  # (C, 3, 1)
        w, st = warp[:, None, None], step[:, None, None]
        p = np.rint((qs[None, None, :] * w + d) / st).astype(np.int64)  # (C, 3, K) stored positions
        q = np.rint((p * st - d) / w).astype(np.int64)
        valid = (p >= 0) & (p < seg_len) & (q >= 0) & (q < n)
        g = np.where(valid, self.seg_start[seg][:, None, None] + p, 0)
        errors = np.bitwise_count(self.items[g] ^ query[np.clip(q, 0, n - 1)]).astype(np.int64)
        counted = valid.sum(axis=2)
        ber = (errors * valid).sum(axis=2) / (32.0 * np.maximum(counted, 1))
        ber = np.where(counted >= SCREEN_MIN_ITEMS, ber, 1.0).min(axis=1)
        keep = np.flatnonzero(ber <= SCREEN_BER)
        return [cands[i] for i in keep[np.argsort(ber[keep], kind="stable")]]

    def _warp(self, seg: int, code: int) -> float:
        if code == 0:
            return 1.0
        if code == _INVERSE:
            return 1.0 / float(self.seg_speed[seg])
        return TEMPO_WARPS[code - 1]

    def _verify(
        self,
        query: np.ndarray,
        seg: int,
        code: int,
        offsets: Sequence[int],
        votes: int,
        *,
        max_ber: float,
        min_overlap_s: float,
        long_slack: float = 0.0,
        changing: np.ndarray | None = None,
        min_significance: float = SIGNIFICANCE,
    ) -> Match | None:
        """The candidate's best alignment among ``offsets`` as a Match, or None: see :meth:`_alignments`."""
        best = None
        for ber, sig, accepted, p, region, qpos in self._alignments(
            query,
            seg,
            code,
            offsets,
            max_ber=max_ber,
            min_overlap_s=min_overlap_s,
            long_slack=long_slack,
            changing=changing,
        ):
            if accepted and sig >= min_significance and (best is None or ber < best[0]):
                best = (ber, sig, p, region, qpos)
        if best is None:
            return None
        ber, sig, p, region, qpos = best
        step = int(self.seg_step[seg])
        warp = self._warp(seg, code)
        work = int(self.seg_work[seg])
        speed = float(self.seg_speed[seg])
        first = int(np.flatnonzero(region)[0])
        return Match(
            work_id=int(self.work_ids[work]),
            score=max(0.0, min(1.0, 1.0 - 2.0 * ber)),
            stage="verified",
            evidence={
                # variant position v lies at v·ITEM_SECONDS of the variant, i.e. ·speed in the original
                "offset_s": round(float(p[first] * step) * ITEM_SECONDS * speed, 3),
                "query_offset_s": round(float(qpos[first]) * ITEM_SECONDS, 3),
                # the copy against the work: pitch factor, tempo factor
                "speed": speed if code == 0 else 1.0,  # played faster or slower, pitch and tempo together
                "pitch": speed if code in (0, _INVERSE) else 1.0,
                "tempo": speed if code == 0 else 1.0 if code == _INVERSE else warp,
                "highpass": float(self.seg_highpass[seg]),  # the work's variant that matched: cut-off, Hz
                "ber": round(ber, 4),
                "overlap_s": round(float(region.sum()) * step * ITEM_SECONDS, 2),
                "significance": round(float(sig), 3),  # (1 − BER / chance BER)·√overlap_s
                "votes": votes,
                "iscc": self.isccs[work],
            },
        )

    def _alignments(
        self,
        query: np.ndarray,
        seg: int,
        code: int,
        offsets: Sequence[int],
        *,
        max_ber: float,
        min_overlap_s: float,
        long_slack: float = 0.0,
        changing: np.ndarray | None = None,
    ):
        """Each offset's evidence: (BER, significance, passes the BER rules, stored positions, region, query
        positions). Two regions are judged: the one the window rule finds (some ``min_overlap_s`` window at
        BER ≤ ``max_ber``, or ≤ ``max_ber + long_slack`` when as significant over its length) and the whole
        overlap at any BER; the offset's significance is the larger of the two, and its BER, region and
        rule the ones of that region. The caller compares the significance with SIGNIFICANCE."""
        step = int(self.seg_step[seg])
        warp = self._warp(seg, code)
        stored = self.items[self.seg_start[seg] : self.seg_start[seg + 1]]
        # A 10-s excerpt yields only ~7.7 s of items (Chromaprint's frame and filter context): the window
        # is the query's own length when that is shorter, down to MIN_OVERLAP_FLOOR_S (a caller's own
        # shorter min_overlap_s still rules).
        overlap_s = min(min_overlap_s, max(MIN_OVERLAP_FLOOR_S, len(query) * ITEM_SECONDS * warp * 0.98))
        window = max(1, int(np.ceil(overlap_s / (ITEM_SECONDS * step))))
        if changing is None:
            changing = np.ones(len(query), dtype=bool)
            changing[1:] = query[1:] != query[:-1]
        for d in offsets:
            # stored item p is variant position p·step, aligned with query item (p·step − d) / warp
            p0 = max(0, -(-d // step))
            p1 = min(len(stored) - 1, int(np.floor((warp * (len(query) - 1) + d) / step)))
            if p1 - p0 + 1 < window:
                continue
            p = np.arange(p0, p1 + 1)
            qpos = np.rint((p * step - d) / warp).astype(np.int64)
            inside = (qpos >= 0) & (qpos < len(query))
            p, qpos = p[inside], qpos[inside]
            if len(p) < window:
                continue
            a, b = stored[p], query[qpos]
            errors = np.bitwise_count(np.bitwise_xor(a, b)).astype(np.int64)
            csum = np.concatenate(([0], np.cumsum(errors)))
            # the whole overlap, judged by its significance against chance alone: reverb, a voice or music
            # over the work and rubberband's tempo and pitch leave 0.20–0.33 over the whole copy
            whole = float(csum[-1]) / (32.0 * len(errors))
            # silence or a drone aligns with anything quiet: demand that the query moves in the region
            moving = changing[qpos].mean() >= 0.5
            candidates = [(whole, significance(whole, _chance_ber(a, b), len(p) * step * ITEM_SECONDS), moving, None)]
            win_ber = (csum[window:] - csum[:-window]) / (32.0 * window)
            good = win_ber <= max_ber
            strict = bool(good.any())
            if not strict and long_slack > 0:
                good = win_ber <= max_ber + long_slack
            if good.any():
                # the matched region: every item covered by some good window
                cover = np.zeros(len(errors) + 1, dtype=np.int64)
                np.add.at(cover, np.flatnonzero(good), 1)
                np.add.at(cover, np.flatnonzero(good) + window, -1)
                region = np.cumsum(cover[:-1]) > 0
                ber = float(errors[region].sum()) / (32.0 * region.sum())
                # A longer aligned region may err more at the same significance: unrelated audio's BER
                # comes near 0.5 - (0.5 - max_ber) only over short stretches (long_slack, off by default).
                passes = strict or (0.5 - ber) * np.sqrt(region.sum() / window) >= 0.5 - max_ber
                # two pieces of the same sustained timbre agree by chance far below BER 0.5: the region's
                # significance is against its own chance BER
                sig = significance(ber, _chance_ber(a[region], b[region]), region.sum() * step * ITEM_SECONDS)
                candidates.append((ber, sig, passes and changing[qpos[region]].mean() >= 0.5, region))
            for ber, sig, accepted, region in sorted(candidates, key=lambda c: (not c[2], -c[1])):
                yield ber, sig, accepted, p, np.ones(len(p), dtype=bool) if region is None else region, qpos
                break


# Registry-side fingerprints are stored with fingerprint.codec, which builds only allow-listed types.
for _cls in (
    AudioFingerprint,
    AudioVariant,
    AudioRegistration,
):
    register_type(_cls)
