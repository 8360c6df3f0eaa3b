"""FFmpeg plumbing for the video fingerprint: probing, grid decoding and the thumbnail strip.

Every FFmpeg/ffprobe process runs bounded: a wall-clock timeout, an address-space cap (``prlimit --as``)
and ``setpriv --pdeathsig KILL`` so that it dies with the process that started it. Decoding reads only what the
fingerprint needs: ``-skip_frame noref`` (non-reference frames are never decoded: the grid picks the
nearest decoded frame), ``-skip_loop_filter all``, one thread, and the ``fps`` filter before any scaling,
so only the grid frames are scaled down to :data:`FRAME_SIDE`² grey.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FingerprintError
from ._audio_tools import CHROMAPRINT_RESAMPLE, stderr_tail, tool_path

GRID_FPS = 2  # frames per second on the fixed time grid
FRAME_SIDE = 96  # grid frames are scaled to 96×96 grey (aspect not kept: geometry is in fractions)
_SHM = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
MAX_MEMORY = 2 << 30  # address-space cap per FFmpeg process
_TRUNCATION_HINTS = ("partial file", "truncat", "premature", "moov atom not found", "end of file")


@functools.cache
def _wrapper(max_memory: int) -> tuple[str, ...]:
    """util-linux's ``setpriv --pdeathsig KILL`` and ``prlimit --as``, which exec the tool in place.

    Not ``preexec_fn``: Python documents it as unsafe in a process with threads (the web server and the
    audio pool have them), and ctypes/dlopen in a forked child can deadlock on the loader lock."""
    setpriv, prlimit = shutil.which("setpriv"), shutil.which("prlimit")
    out: list[str] = []
    if setpriv:
        out += [setpriv, "--pdeathsig", "KILL"]
    if prlimit and max_memory:
        out += [prlimit, f"--as={max_memory}", "--"]
    return tuple(out)


def run_bounded(
    argv: list[str], item: str, timeout: float, max_memory: int = MAX_MEMORY
) -> subprocess.CompletedProcess:
    """Run a tool with a timeout, a memory cap and death-with-parent; a timeout is the item's error."""
    try:
        return subprocess.run(
            [*_wrapper(max_memory), *argv], capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        raise FingerprintError(item, f"{Path(argv[0]).name} timed out after {timeout:g} s") from None


@dataclass(frozen=True, slots=True)
class Probe:
    duration: float  # declared by the container (0 when it declares none)
    width: int
    height: int
    codec: str
    has_audio: bool
    start: float


def probe(path: str, item: str, timeout: float) -> Probe:
    """The container's declared duration and streams; FingerprintError when there is no video stream."""
    argv = [tool_path("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", path]
    proc = run_bounded(argv, item, timeout)
    message = proc.stderr.decode("utf-8", "replace").strip()
    try:
        doc = json.loads(proc.stdout or b"{}")
    except ValueError:
        doc = {}
    streams = doc.get("streams") or []
    if proc.returncode != 0 or not doc.get("format"):
        lines = message.splitlines() or [f"exit status {proc.returncode}"]
        cut = next((ln for ln in lines if any(h in ln.lower() for h in _TRUNCATION_HINTS)), None)
        kind = "not a decodable video" if cut is None else "truncated or corrupt video"
        raise FingerprintError(item, f"{kind} (ffprobe: {_strip_path(cut or lines[-1], path)})")
    video = [
        s for s in streams if s.get("codec_type") == "video" and not (s.get("disposition") or {}).get("attached_pic")
    ]
    if not video:
        raise FingerprintError(item, "no video stream in the file")
    v = video[0]
    fmt = doc["format"]
    return Probe(
        duration=_float(fmt.get("duration")) or _float(v.get("duration")),
        width=int(v.get("width") or 0),
        height=int(v.get("height") or 0),
        codec=str(v.get("codec_name") or "?"),
        has_audio=any(s.get("codec_type") == "audio" for s in streams),
        start=_float(fmt.get("start_time")),
    )


def _float(value: object) -> float:
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 0.0
    return f if np.isfinite(f) and f > 0 else 0.0


def _strip_path(message: str, path: str) -> str:
    """FFmpeg messages name the (temporary) input path; the item name says which item it is."""
    message = re.sub(r"\[[^\]]* @ 0x[0-9a-f]+\] ", "", message)  # FFmpeg's "[demuxer @ address] " prefix
    return message.replace(f"{path}: ", "").replace(path, "<input>")


@dataclass(frozen=True, slots=True)
class Decoded:
    frames: np.ndarray  # (N, FRAME_SIDE, FRAME_SIDE) uint8 grey; frame i shows time i / GRID_FPS
    signatures: list[tuple[int, ...]] | None = None  # MPEG-7 frame signatures of the grid frames
    strip: bytes = b""  # JPEG strip of STRIP_FRAMES frames spread over the video
    pcm: bytes | None = None  # the first soundtrack as mono s16le at SAMPLE_RATE (None without one)


STRIP_FRAMES = 8
STRIP_HEIGHT = 72


def decode_grid(
    path: str,
    item: str,
    info: Probe,
    timeout: float,
    *,
    registry: bool = False,
    soundtrack: bool = False,
    max_memory: int = MAX_MEMORY,
) -> Decoded:
    """Grey :data:`FRAME_SIDE`² frames at :data:`GRID_FPS`; with ``registry``, from the same decode, the
    MPEG-7 frame signatures of the grid frames (for the ISCC Video-Code) and a thumbnail strip; with
    ``soundtrack`` (and an audio stream), the soundtrack's PCM for Chromaprint from the same FFmpeg process
    (one process start and one demux of the file instead of three: ffmpeg for the picture, fpcalc, ffmpeg
    again for the speed variants' PCM).

    FingerprintError when nothing decodes, or when the picture stops well before the declared duration
    (a truncated file).
    """
    grid = f"scale={FRAME_SIDE}:{FRAME_SIDE}:flags=area,format=gray"
    argv = [
        tool_path("ffmpeg"),
        "-nostdin",
        "-hide_banner",
        "-v",
        "error",
        "-threads",
        "1",
        "-skip_frame",
        "noref",
        "-skip_loop_filter",
        "all",
        "-i",
        path,
    ]
    sig_file = strip_file = pcm_file = None
    if registry:
        fd, sig_file = tempfile.mkstemp(prefix="fairtrain-sig-", suffix=".xml")
        os.close(fd)
        fd, strip_file = tempfile.mkstemp(prefix="fairtrain-strip-", suffix=".jpg")
        os.close(fd)
        every = max(1, int(info.duration * GRID_FPS / STRIP_FRAMES)) if info.duration else GRID_FPS * 10
        # One decode feeds all three. The signature branch takes the grid's frames: 2 fps instead of
        # iscc-sdk's 5 halves its cost (0.27 → 0.11 s CPU per 40 s of 720p), and the Video-Code sums the
        # distinct frame signatures, so it hardly depends on the rate.
        argv += [
            "-filter_complex",
            f"[0:v:0]fps={GRID_FPS}:round=near,split=3[a][b][c];[a]{grid}[g];"
            f"[b]signature=format=xml:filename={sig_file},nullsink;"
            f"[c]select='not(mod(n\\,{every}))',scale=-2:{STRIP_HEIGHT},tile={STRIP_FRAMES}x1[s]",
            "-map",
            "[g]",
            "-f",
            "rawvideo",
            "pipe:1",
            "-map",
            "[s]",
            "-frames:v",
            "1",
            "-q:v",
            "5",
            "-f",
            "image2",
            "-update",
            "1",
            "-y",
            strip_file,
        ]
    else:
        argv += ["-map", "0:v:0", "-vf", f"fps={GRID_FPS}:round=near,{grid}", "-f", "rawvideo", "pipe:1"]
    if soundtrack and info.has_audio:
        fd, pcm_file = tempfile.mkstemp(prefix="fairtrain-pcm-", suffix=".raw", dir=_SHM)
        os.close(fd)
        # the soundtrack as ``decode_pcm`` asks FFmpeg for it: items bit-identical to fpcalc's on the file
        argv += ["-map", "0:a:0", "-af", CHROMAPRINT_RESAMPLE, "-ac", "1", "-f", "s16le", "-y", pcm_file]
    try:
        proc = run_bounded(argv, item, timeout, max_memory)
        frame = FRAME_SIDE * FRAME_SIDE
        n = len(proc.stdout) // frame
        if proc.returncode != 0 and n == 0:
            raise FingerprintError(item, f"not a decodable video (ffmpeg: {_strip_path(stderr_tail(proc), path)})")
        if n == 0:
            raise FingerprintError(item, "no video frame decodes")
        frames = np.frombuffer(proc.stdout[: n * frame], dtype=np.uint8).reshape(n, FRAME_SIDE, FRAME_SIDE)
        decoded = n / GRID_FPS
        if info.duration > 0 and info.duration - decoded > max(1.5, 0.03 * info.duration):
            raise FingerprintError(
                item,
                f"truncated or corrupt video: declares {info.duration:.1f} s but "
                f"only {decoded:.1f} s of picture decode",
            )
        if proc.returncode != 0:
            raise FingerprintError(item, f"truncated or corrupt video (ffmpeg: {_strip_path(stderr_tail(proc), path)})")
        pcm = Path(pcm_file).read_bytes() if pcm_file else None
        if not registry:
            return Decoded(frames, pcm=pcm)
        return Decoded(frames, _read_signatures(sig_file), Path(strip_file).read_bytes(), pcm)
    finally:
        for tmp in (sig_file, strip_file, pcm_file):
            if tmp:
                try:
                    os.unlink(tmp)
                except OSError:
                    pass


_SIG = re.compile(rb"<FrameSignature>([0-9 \t\r\n]+)</FrameSignature>")


def _read_signatures(path: str) -> list[tuple[int, ...]]:
    data = Path(path).read_bytes()
    return [tuple(int(x) for x in m.group(1).split()) for m in _SIG.finditer(data)]
