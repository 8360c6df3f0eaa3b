"""FFmpeg plumbing for the video fingerprint: probing, grid decoding and the thumbnail strip.

Every FFmpeg/ffprobe process runs bounded: a wall-clock timeout, an address-space cap (``RLIMIT_AS``) and
``PR_SET_PDEATHSIG`` so that it dies with the process that started it. Decoding reads only what the
fingerprint needs: ``-skip_frame noref`` (non-reference frames are never decoded: the grid picks the
nearest decoded frame), ``-skip_loop_filter all``, one thread, and the ``fps`` filter before any scaling,
so only the grid frames are scaled down to :data:`FRAME_SIDE`² grey.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import resource
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import FingerprintError
from ._audio_tools import tool_path

GRID_FPS = 2  # frames per second on the fixed time grid
FRAME_SIDE = 96  # grid frames are scaled to 96×96 grey (aspect not kept: geometry is in fractions)
SIGNATURE_FPS = 5  # MPEG-7 frame signatures for the ISCC Video-Code, at iscc-sdk's rate
MAX_MEMORY = 2 << 30  # address-space cap per FFmpeg process
_PR_SET_PDEATHSIG = 1
_TRUNCATION_HINTS = ("partial file", "truncat", "premature",
                     "moov atom not found", "end of file")


def _bounded(max_memory: int):
    def setup() -> None:  # runs in the child between fork and exec
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if max_memory:
            resource.setrlimit(resource.RLIMIT_AS, (max_memory, max_memory))
    return setup


def run_bounded(argv: list[str], item: str, timeout: float, max_memory: int = MAX_MEMORY
                ) -> subprocess.CompletedProcess:
    """Run a tool with a timeout, a memory cap and death-with-parent; a timeout is the item's error."""
    try:
        return subprocess.run(argv, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL,
                              preexec_fn=_bounded(max_memory))
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
    video = [s for s in streams if s.get("codec_type") == "video"
             and not (s.get("disposition") or {}).get("attached_pic")]
    if not video:
        raise FingerprintError(item, "no video stream in the file")
    v = video[0]
    fmt = doc["format"]
    return Probe(duration=_float(fmt.get("duration")) or _float(v.get("duration")),
                 width=int(v.get("width") or 0), height=int(v.get("height") or 0),
                 codec=str(v.get("codec_name") or "?"),
                 has_audio=any(s.get("codec_type") == "audio" for s in streams),
                 start=_float(fmt.get("start_time")))


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


def decode_grid(path: str, item: str, info: Probe, timeout: float, *, signatures: bool = False,
                max_memory: int = MAX_MEMORY) -> tuple[np.ndarray, list[tuple[int, ...]] | None]:
    """Grey :data:`FRAME_SIDE`² frames at :data:`GRID_FPS` (frame i shows time i / GRID_FPS), and, when
    ``signatures``, the MPEG-7 frame signatures at :data:`SIGNATURE_FPS` from the same decode.

    FingerprintError when nothing decodes, or when the picture stops well before the declared duration
    (a truncated file).
    """
    grid = f"fps={GRID_FPS}:round=near,scale={FRAME_SIDE}:{FRAME_SIDE}:flags=area,format=gray"
    sig_file = None
    argv = [tool_path("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-threads", "1",
            "-skip_frame", "noref", "-skip_loop_filter", "all", "-i", path, "-map", "0:v:0", "-an", "-sn", "-dn"]
    if signatures:
        fd, sig_file = tempfile.mkstemp(prefix="fairtrain-sig-", suffix=".xml")
        os.close(fd)
        argv += ["-filter_complex", f"[0:v:0]split[a][b];[a]{grid}[g];[b]fps={SIGNATURE_FPS},"
                 f"signature=format=xml:filename={sig_file},nullsink", "-map", "[g]"]
        argv.remove("0:v:0")
        argv.remove("-map")
    else:
        argv += ["-vf", grid]
    argv += ["-f", "rawvideo", "pipe:1"]
    try:
        proc = run_bounded(argv, item, timeout, max_memory)
        message = proc.stderr.decode("utf-8", "replace").strip()
        frame = FRAME_SIDE * FRAME_SIDE
        n = len(proc.stdout) // frame
        if proc.returncode != 0 and n == 0:
            last = message.splitlines()[-1] if message else f"exit status {proc.returncode}"
            raise FingerprintError(item, f"not a decodable video (ffmpeg: {_strip_path(last, path)})")
        if n == 0:
            raise FingerprintError(item, "no video frame decodes")
        frames = np.frombuffer(proc.stdout[:n * frame], dtype=np.uint8).reshape(n, FRAME_SIDE, FRAME_SIDE)
        decoded = n / GRID_FPS
        if info.duration > 0 and info.duration - decoded > max(1.5, 0.03 * info.duration):
            raise FingerprintError(item, f"truncated or corrupt video: declares {info.duration:.1f} s but "
                                         f"only {decoded:.1f} s of picture decode")
        if proc.returncode != 0:
            raise FingerprintError(item, f"truncated or corrupt video (ffmpeg: "
                                         f"{_strip_path(message.splitlines()[-1], path)})")
        sigs = _read_signatures(sig_file) if sig_file else None
        return frames, sigs
    finally:
        if sig_file:
            try:
                os.unlink(sig_file)
            except OSError:
                pass


_SIG = re.compile(rb"<FrameSignature>([0-9 \t\r\n]+)</FrameSignature>")


def _read_signatures(path: str) -> list[tuple[int, ...]]:
    data = Path(path).read_bytes()
    return [tuple(int(x) for x in m.group(1).split()) for m in _SIG.finditer(data)]


def thumbnail_strip(path: str, item: str, duration: float, *, count: int = 8, height: int = 72,
                    timeout: float = 120.0, quality: int = 5) -> bytes:
    """A small JPEG strip of ``count`` frames spread over the video, for a work page (a few kB)."""
    count = max(1, count)
    rate = count / max(duration, 1e-3)
    argv = [tool_path("ffmpeg"), "-nostdin", "-hide_banner", "-v", "error", "-threads", "1",
            "-skip_frame", "nokey", "-i", path, "-map", "0:v:0", "-an", "-sn", "-dn",
            "-vf", f"fps={rate:.6f},scale=-2:{height},tile={count}x1", "-frames:v", "1",
            "-q:v", str(quality), "-f", "mjpeg", "pipe:1"]
    proc = run_bounded(argv, item, timeout)
    if proc.returncode != 0 or not proc.stdout:
        raise FingerprintError(item, "cannot draw a thumbnail strip")
    return proc.stdout
