"""Subprocess plumbing for the audio fingerprint: ``fpcalc`` and ``ffmpeg`` with timeouts, and the cheap
structural checks that tell a truncated file from a short one."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from fairtrain.core.errors import ToolMissing

from . import FingerprintError

# Chromaprint works on 11,025 Hz mono and emits one 32-bit item every 1,365 samples after a 4,096-sample
# frame and a 16+2-item filter context (maintainer, chromaprint#45).
SAMPLE_RATE = 11025
ITEM_SAMPLES = 1365
ITEM_SECONDS = ITEM_SAMPLES / SAMPLE_RATE

# The tools and the Debian packages that ship them; FAIRTRAIN_<TOOL> overrides the path.
_PACKAGES = {"fpcalc": "libchromaprint-tools", "ffmpeg": "ffmpeg", "ffprobe": "ffmpeg"}

# fpcalc 1.5.1 built against FFmpeg 5 prints this, and exits with status 3 ("partial"), at the end of
# every successful decode.
_BENIGN_FPCALC = "Error decoding audio frame (End of file)"

# ffmpeg warnings that mean the input stops before its own headers say it should.
_TRUNCATION_HINTS = ("corrupt", "do not match", "truncat", "incomplete", "partial file", "premature")


_TOO_SHORT = "audio too short to fingerprint (zero-length, or under the ~3 s Chromaprint needs)"

# fpcalc's own swresample settings: PCM resampled to 11,025 Hz with them is what fpcalc hands Chromaprint, so
# Chromaprint's items of it are fpcalc's bit for bit.
CHROMAPRINT_RESAMPLE = f"aresample={SAMPLE_RATE}:filter_size=16:phase_shift=8:linear_interp=1:cutoff=0.8"


def stderr_tail(proc: subprocess.CompletedProcess) -> str:
    """The last line a tool wrote to stderr, or its exit status: what an error about it names."""
    message = proc.stderr.decode("utf-8", "replace").strip()
    return message.splitlines()[-1] if message else f"exit status {proc.returncode}"


class AudioToolError(ToolMissing):
    """A required external program (fpcalc or ffmpeg) is missing: an installation problem, not a bad item."""


def tool_path(name: str) -> str:
    """The executable for ``name`` ("fpcalc", "ffmpeg" or "ffprobe"), or AudioToolError naming the Debian
    package."""
    override = os.environ.get(f"FAIRTRAIN_{name.upper()}")
    candidate = override if override else shutil.which(name)
    if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
        return candidate
    package = _PACKAGES[name]
    where = f"at {override!r} (FAIRTRAIN_{name.upper()})" if override else "on PATH"
    raise AudioToolError(
        f"{name} not found {where}: install the Debian package {package} (apt-get install -y {package})"
    )


def duration_of_items(n_items: int) -> float:
    """Seconds of audio that yield ``n_items`` Chromaprint items (inverse of the maintainer's formula)."""
    if n_items <= 0:
        return 0.0
    return ((n_items + 18) * ITEM_SAMPLES + 4096) / SAMPLE_RATE


def _run(argv: list[str], item: str, timeout: float, stdin: bytes | None = None) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            argv,
            input=stdin,
            capture_output=True,
            timeout=timeout,
            stdin=None if stdin is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise FingerprintError(item, f"{Path(argv[0]).name} timed out after {timeout:g} s") from None


def _fpcalc_errors(stderr: bytes) -> list[str]:
    lines = stderr.decode("utf-8", "replace").splitlines()
    return [ln.removeprefix("ERROR: ").strip() for ln in lines if ln.strip() and _BENIGN_FPCALC not in ln]


def _parse_fpcalc(proc: subprocess.CompletedProcess, item: str) -> tuple[np.ndarray, float, list[str]]:
    errors = _fpcalc_errors(proc.stderr)
    if proc.returncode not in (0, 3) or not proc.stdout.strip():
        if any("Empty fingerprint" in e or "Not enough audio data" in e for e in errors):
            raise FingerprintError(item, _TOO_SHORT)
        detail = "; ".join(errors) or f"exit status {proc.returncode}"
        raise FingerprintError(item, f"not decodable audio (fpcalc: {detail})")
    try:
        doc = json.loads(proc.stdout)
        items = np.asarray(doc["fingerprint"], dtype=np.int64)
        duration = float(doc.get("duration", 0.0))
    except (ValueError, KeyError, TypeError) as exc:
        raise FingerprintError(item, f"unreadable fpcalc output ({exc})") from None
    if items.size == 0:
        raise FingerprintError(item, _TOO_SHORT)
    # fpcalc prints unsigned values by default; keep them as the 32-bit patterns they are.
    return (items & 0xFFFFFFFF).astype(np.uint32), duration, errors


def fpcalc_file(path: str, item: str, timeout: float) -> tuple[np.ndarray, float, list[str]]:
    """Raw Chromaprint items of a whole file, the duration its container declares, and decoder errors
    met on the way (a non-empty list means the fingerprint covers only part of the file)."""
    proc = _run([tool_path("fpcalc"), "-raw", "-length", "0", "-json", path], item, timeout)
    return _parse_fpcalc(proc, item)


def fpcalc_pcm(pcm: bytes, rate: int, item: str, timeout: float) -> np.ndarray:
    """Raw Chromaprint items of mono s16le PCM declared at ``rate`` Hz.

    Declaring 11,025·s Hz for 11,025 Hz samples plays them s times faster: that is how the speed variants
    are made without decoding the file again (fpcalc resamples to 11,025 Hz itself).
    """
    argv = [
        tool_path("fpcalc"),
        "-format",
        "s16le",
        "-rate",
        str(rate),
        "-channels",
        "1",
        "-raw",
        "-length",
        "0",
        "-json",
        "-",
    ]
    items, _, _ = _parse_fpcalc(_run(argv, item, timeout, stdin=pcm), item)
    return items


def decode_pcm(path: str, item: str, timeout: float) -> bytes:
    """Mono s16le PCM at 11,025 Hz, resampled with the same swresample settings Chromaprint uses."""
    argv = [
        tool_path("ffmpeg"),
        "-nostdin",
        "-hide_banner",
        "-v",
        "warning",
        "-i",
        path,
        "-vn",
        "-af",
        CHROMAPRINT_RESAMPLE,
        "-ac",
        "1",
        "-f",
        "s16le",
        "pipe:1",
    ]
    proc = _run(argv, item, timeout)
    message = proc.stderr.decode("utf-8", "replace").strip()
    if proc.returncode != 0:
        raise FingerprintError(item, f"not decodable audio (ffmpeg: {stderr_tail(proc)})")
    if any(hint in message.lower() for hint in _TRUNCATION_HINTS):
        raise FingerprintError(item, f"truncated or corrupt audio (ffmpeg: {message.splitlines()[0]})")
    return proc.stdout


@contextmanager
def as_file(data: bytes | str | os.PathLike, item: str) -> Iterator[str]:
    """A filesystem path holding ``data``: the path itself, or a private temporary file for bytes.

    fpcalc is given a file rather than a pipe because MP4/M4A with the index at the end cannot be read
    from a pipe, and a pipe loses the container's declared duration (needed to spot truncation).
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        yield os.fspath(data)
        return
    shm = "/dev/shm"
    directory = shm if os.path.isdir(shm) and os.access(shm, os.W_OK) else None
    fd, name = tempfile.mkstemp(prefix="fairtrain-audio-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        yield name
    finally:
        try:
            os.unlink(name)
        except OSError:
            pass


def truncation_reason(data: bytes, declared: float, n_items: int, errors: Sequence[str] = ()) -> str | None:
    """Why ``data`` looks cut short or corrupt, or None. Cheap: headers, decoder errors and item count."""
    if errors:
        return f"decoder error ({'; '.join(errors)})"
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        reason = _wav_truncation(data)
        if reason:
            return reason
    if data[:4] == b"OggS":
        reason = _ogg_truncation(data)
        if reason:
            return reason
    decoded = duration_of_items(n_items)
    # A declared length well beyond what decoded means the stream stops early (MP3 with a Xing/LAME header,
    # FLAC STREAMINFO, MP4 moov); one item of slack plus 3 % covers rounding and encoder padding.
    if declared > 0 and declared - decoded > max(1.0, 0.03 * declared):
        return f"declares {declared:.1f} s but only {decoded:.1f} s decode"
    return None


def _wav_truncation(data: bytes) -> str | None:
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        if chunk == b"data":
            available = len(data) - pos - 8
            if size != 0xFFFFFFFF and size > available:
                return f"WAV data chunk declares {size} bytes but {available} are present"
            return None
        pos += 8 + size + (size & 1)
    return "WAV file has no complete data chunk"


def _ogg_truncation(data: bytes) -> str | None:
    last = data.rfind(b"OggS", max(0, len(data) - 70_000))
    if last < 0 or last + 27 > len(data):
        return "Ogg stream ends inside a page header"
    n_segments = data[last + 26]
    table_end = last + 27 + n_segments
    if table_end > len(data):
        return "Ogg stream ends inside a page header"
    page_end = table_end + sum(data[last + 27 : table_end])
    if page_end > len(data):
        return f"Ogg stream ends {page_end - len(data)} bytes inside its last page"
    if not data[last + 5] & 0x04:
        return "Ogg stream has no end-of-stream page"
    return None


# --- in-process Chromaprint ---------------------------------------------------------------------------
# fpcalc costs a process start per item (26 ms CPU of a 15-s excerpt's 43 ms). Decoding with libsndfile
# (soundfile) and feeding the same libchromaprint through ctypes gives raw fingerprints identical to fpcalc's
# (BER 0 on WAV and MP3 at 44.1 kHz) at 9–17 ms per 15-s item. Chromaprint's own resampler only goes down to
# 11,025 Hz well (upsampled input ends short), so lower rates, and anything libsndfile cannot decode, go to fpcalc.

_CHROMAPRINT = None
_IN_PROCESS_MAX_S = 60


def _chromaprint():
    global _CHROMAPRINT
    if _CHROMAPRINT is None:
        import ctypes
        import ctypes.util

        try:
            lib = ctypes.CDLL(ctypes.util.find_library("chromaprint") or "libchromaprint.so.1")
        except OSError:
            _CHROMAPRINT = False
            return False
        lib.chromaprint_new.restype = ctypes.c_void_p
        lib.chromaprint_new.argtypes = [ctypes.c_int]
        lib.chromaprint_start.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        lib.chromaprint_feed.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int]
        lib.chromaprint_finish.argtypes = [ctypes.c_void_p]
        lib.chromaprint_get_raw_fingerprint.argtypes = [
            ctypes.c_void_p,
            ctypes.POINTER(ctypes.POINTER(ctypes.c_uint32)),
            ctypes.POINTER(ctypes.c_int),
        ]
        lib.chromaprint_dealloc.argtypes = [ctypes.c_void_p]
        lib.chromaprint_free.argtypes = [ctypes.c_void_p]
        _CHROMAPRINT = lib
    return _CHROMAPRINT


def chromaprint_bytes(data: bytes) -> tuple[np.ndarray, float, list[str]] | None:
    """(raw items, declared duration, errors) computed in this process, or None to use fpcalc instead."""
    import io

    lib = _chromaprint()
    if not lib:
        return None
    try:
        import soundfile
    except ImportError:
        return None
    try:
        with soundfile.SoundFile(io.BytesIO(data)) as f:
            rate, channels, declared_frames = f.samplerate, f.channels, f.frames
            # libsndfile decodes more slowly than FFmpeg: it wins only while fpcalc's process start dominates
            # (short items; measured: 15-s MP3 excerpts 345× → 558× real time, whole tracks slower), and
            # its Opus path is slow at any length.
            if rate < SAMPLE_RATE or channels < 1 or declared_frames > _IN_PROCESS_MAX_S * rate or f.subtype == "OPUS":
                return None
            pcm = f.read(dtype="int16", always_2d=True)
    except Exception:  # noqa: BLE001 — any decoder complaint: fpcalc decides and explains
        return None
    if pcm.size == 0:
        return None
    items = _raw_items(lib, pcm, rate, channels)
    if items is None or not len(items):
        return None
    return items, declared_frames / rate, []


def _raw_items(lib, samples: np.ndarray, rate: int, channels: int) -> np.ndarray | None:
    """libchromaprint's raw items of interleaved int16 ``samples`` (empty: too short to fingerprint), or None
    where the library refuses them."""
    import ctypes

    buf = np.ascontiguousarray(samples)
    ctx = lib.chromaprint_new(1)  # CHROMAPRINT_ALGORITHM_DEFAULT, as fpcalc uses
    try:
        ptr = ctypes.POINTER(ctypes.c_uint32)()
        n = ctypes.c_int()
        if not (
            lib.chromaprint_start(ctx, int(rate), channels)
            and lib.chromaprint_feed(ctx, buf.ctypes.data, buf.size)
            and lib.chromaprint_finish(ctx)
            and lib.chromaprint_get_raw_fingerprint(ctx, ctypes.byref(ptr), ctypes.byref(n))
        ):
            return None
        try:
            return np.ctypeslib.as_array(ptr, shape=(n.value,)).astype(np.uint32) if n.value else np.zeros(0, np.uint32)
        finally:
            lib.chromaprint_dealloc(ptr)
    finally:
        lib.chromaprint_free(ctx)


def chromaprint_pcm(pcm: bytes, rate: int, item: str, timeout: float) -> np.ndarray:
    """Raw Chromaprint items of mono s16le PCM declared at ``rate`` Hz, in this process through libchromaprint
    where it loads (≈ 0.01 s CPU per 40 s against ≈ 0.05 s for an fpcalc process), else fpcalc.

    At :data:`SAMPLE_RATE` the items are ``fpcalc_pcm``'s exactly (fpcalc resamples with swresample before it
    feeds the same library, which then has nothing to resample). At another rate Chromaprint's own resampler
    rounds differently from swresample on some inputs (a 40-s track: 11 of 24 speed variants differ, bit
    error rate ≤ 2×10⁻⁴); :func:`speed_variants` gives fpcalc's items there. FingerprintError when the audio
    is too short for Chromaprint."""
    lib = _chromaprint()
    samples = np.frombuffer(pcm, dtype="<i2")
    if not lib or not samples.size:
        return fpcalc_pcm(pcm, rate, item, timeout)
    items = _raw_items(lib, samples, rate, 1)
    if items is None:
        return fpcalc_pcm(pcm, rate, item, timeout)  # fpcalc decides and explains
    if not len(items):
        raise FingerprintError(item, _TOO_SHORT)
    return items


# Resampled speed variants held on disk at once by one ffmpeg run (a 20-s work's 24 take 10 MB; an hour's, in
# groups of three).
_SPEED_BATCH_BYTES = 256 << 20


def speed_variants(pcm: bytes, rates: Sequence[int], item: str, timeout: float) -> list[np.ndarray | FingerprintError]:
    """For each of ``rates``: the raw items of ``pcm`` (mono s16le at :data:`SAMPLE_RATE`) declared at that
    rate, exactly ``fpcalc_pcm(pcm, rate)``'s, or the FingerprintError it raises (too short).

    fpcalc resamples the declared rate to 11,025 Hz with swresample at Chromaprint's settings and feeds the
    library; here one ffmpeg run makes every rate's resampling (``asetrate`` then the same ``aresample``) and
    Chromaprint runs in this process: one process for the lot instead of one fpcalc each (24 rates of a 40-s
    work: 0.98 → 0.32 s wall, items identical on every rate)."""
    if not rates:
        return []
    if not _chromaprint() or not pcm:
        return [_or_error(lambda r=r: fpcalc_pcm(pcm, r, item, timeout)) for r in rates]
    group = max(1, _SPEED_BATCH_BYTES // max(1, len(pcm) * 2))
    out: list[np.ndarray | FingerprintError] = []
    for at in range(0, len(rates), group):
        out.extend(_speed_group(pcm, list(rates[at : at + group]), item, timeout))
    return out


def _speed_group(pcm: bytes, rates: list[int], item: str, timeout: float) -> list[np.ndarray | FingerprintError]:
    n = len(rates)
    graph = f"[0:a]asplit={n}" + "".join(f"[s{i}]" for i in range(n)) + ";"
    graph += ";".join(f"[s{i}]asetrate={r},{CHROMAPRINT_RESAMPLE}[o{i}]" for i, r in enumerate(rates))
    with tempfile.TemporaryDirectory(prefix="fairtrain-speeds-") as tmp:
        argv = [tool_path("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error"]
        argv += ["-f", "s16le", "-ar", str(SAMPLE_RATE), "-ac", "1", "-i", "pipe:0", "-filter_complex", graph]
        for i in range(n):
            argv += ["-map", f"[o{i}]", "-f", "s16le", "-c:a", "pcm_s16le", os.path.join(tmp, f"{i}.raw")]
        proc = _run(argv, item, timeout, stdin=pcm)
        if proc.returncode != 0:
            raise FingerprintError(item, f"speed variants not made (ffmpeg: {stderr_tail(proc)})")
        resampled = [Path(tmp, f"{i}.raw").read_bytes() for i in range(n)]
    return [_or_error(lambda p=p: chromaprint_pcm(p, SAMPLE_RATE, item, timeout)) for p in resampled]


def _or_error(compute) -> np.ndarray | FingerprintError:
    try:
        return compute()
    except FingerprintError as exc:
        return exc
