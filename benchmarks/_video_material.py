"""Material for ``benchmarks/fingerprint_video.py``: works, distractors and edited queries, made with FFmpeg
from third-party photographs and music, cached under ``~/.cache/fairtrain/video-bench/<key>/``.

Photographs: ``/usr/share/backgrounds`` (Debian packages ``mate-backgrounds`` (GPL-2+), ``desktop-base``
(GPL-2+/CC-BY-SA), and the Ubuntu/Lomiri wallpaper sets installed with them; authors in the file names),
near-duplicates (one picture in several sizes or colourways) removed by pHash. Music: the Wesnoth
soundtrack (``wesnoth-1.16-music``, GPL-2+). A work is a real shot sequence: 2–8-s shots, each a region
of one of the work's own photographs with a slow pan, cut together at 1280×720, 25 fps, with one Wesnoth
track as its soundtrack. No photograph or track is shared between two works, or between a work and the
distractors (photo slideshows from the remaining pictures, and FFmpeg's synthetic sources).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

PHOTO_DIRS = (Path("/usr/share/backgrounds"), Path("/usr/share/desktop-base"))
MUSIC = Path("/usr/share/games/wesnoth/1.16/data/core/music")
# The wallpaper sets under PHOTO_DIRS and the soundtrack; installed by the run where missing.
DEBIAN_PACKAGES = (
    "mate-backgrounds",
    "desktop-base",
    "gnome-backgrounds",
    "ukui-wallpapers",
    "lomiri-wallpapers",
    "sway-backgrounds",
    "wesnoth-1.16-music",
)
FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
VERSION = 4  # bump when the generator changes: the cache key includes it


def ffmpeg(args: list[str], stdin=None, timeout: float = 900) -> None:
    proc = subprocess.run(
        ["ffmpeg", "-hide_banner", "-y", "-v", "error", *args], stdin=stdin, capture_output=True, timeout=timeout
    )
    if proc.returncode:
        raise RuntimeError(f"ffmpeg {' '.join(args)}: {proc.stderr.decode()[-800:]}")


def probe_duration(path: Path) -> float:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return float(out.strip() or 0)


# --- pools -------------------------------------------------------------------------------------------


def _phash(im: Image.Image) -> int:
    import imagehash

    return int(str(imagehash.phash(im)), 16)


def photo_pool(cache: Path) -> list[Path]:
    """Distinct photographs ≥ 1280×720, as 1920-px-wide JPEGs in the cache (halves of very large ones)."""
    out_dir = cache / "photos"
    listing = cache / "photos.json"
    files = sorted(
        p
        for d in PHOTO_DIRS
        if d.is_dir()
        for p in d.rglob("*")
        if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.stat().st_size > 60_000
    )
    # The listing holds for the wallpapers it was made from: a package installed since makes it anew.
    sources = [str(f) for f in files]
    if listing.exists():
        cached = json.loads(listing.read_text())
        if isinstance(cached, dict) and cached.get("sources") == sources:
            return [Path(p) for p in cached["kept"]]
    out_dir.mkdir(parents=True, exist_ok=True)
    seen: list[int] = []
    kept: list[Path] = []
    for f in files:
        try:
            im = Image.open(f)
            im.draft("RGB", (2000, 2000))
            im = im.convert("RGB")
        except Exception:  # noqa: BLE001 - an unreadable wallpaper is just not used
            continue
        if im.width < 1280 or im.height < 720 or im.width < im.height:
            continue
        parts = [im]
        if im.width >= 2 * 1440 * im.height / 1080 and im.width >= 2600:
            parts = [im.crop((0, 0, im.width // 2, im.height)), im.crop((im.width // 2, 0, im.width, im.height))]
        for k, part in enumerate(parts):
            h = _phash(part)
            if any(bin(h ^ s).count("1") <= 18 for s in seen):
                continue
            small = part.resize((1920, max(1080, round(1920 * part.height / part.width))), Image.Resampling.LANCZOS)
            if np.asarray(small.convert("L")).std() < 25:  # near-flat wallpapers make poor shots
                continue
            seen.append(h)
            dst = out_dir / f"{len(kept):03d}_{f.stem[:40]}_{k}.jpg"
            small.save(dst, quality=92)
            kept.append(dst)
    listing.write_text(json.dumps({"sources": sources, "kept": [str(p) for p in kept]}))
    return kept


def music_pool() -> list[Path]:
    return sorted(MUSIC.glob("*.ogg"))


# --- shot sequences ----------------------------------------------------------------------------------


def _shots(rng: np.random.Generator, photos: list[Path], duration: float, size: tuple[int, int], fps: int = 25):
    """(photo, zoom, start xy, end xy, frames) per shot, for ``duration`` seconds at ``fps``."""
    w, h = size
    shots, total = [], 0
    n_frames = int(round(duration * fps))
    while total < n_frames:
        length = min(n_frames - total, int(rng.integers(2 * fps, 8 * fps)))  # 2–8 s
        photo = photos[int(rng.integers(len(photos)))]
        zoom = float(rng.uniform(1.05, 1.6))  # the shot shows 1/zoom of the photo's width
        shots.append((photo, zoom, rng.uniform(0, 1, 2), rng.uniform(0, 1, 2), length))
        total += length
    return shots


def render(
    dst: Path,
    rng: np.random.Generator,
    photos: list[Path],
    duration: float,
    size: tuple[int, int],
    audio: list[str],
    crf: int = 20,
    fps: int = 25,
    proxy: Path | None = None,
) -> None:
    """Pipe the shot sequence's frames into x264 (ultrafast), with ``audio`` (FFmpeg input args), at ``fps``
    frames a second (works 25; distractors 10, which the 2-fps grid cannot tell apart and costs 2.5× less)."""
    w, h = size
    video = ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    sound = ["-c:a", "aac", "-b:a", "128k"] if audio else []
    outputs = [
        *(["-filter_complex", "[0:v]split[full][p];[p]scale=640:360:flags=area[proxy]"] if proxy else []),
        "-map",
        "[full]" if proxy else "0:v",
        *(["-map", "1:a"] if audio else []),
        "-t",
        f"{duration:.2f}",
        *video,
        "-crf",
        str(crf),
        *sound,
        "-shortest",
        str(dst),
    ]
    if proxy:  # the same frames at 640×360, near-lossless, for the edits that end at 640×360 anyway
        outputs += ["-map", "[proxy]", *(["-map", "1:a"] if audio else []), "-t", f"{duration:.2f}", *video]
        outputs += ["-crf", "12", *sound, "-shortest", str(proxy)]
    proc = subprocess.Popen(
        [
            "ffmpeg",
            "-hide_banner",
            "-y",
            "-v",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-s",
            f"{w}x{h}",
            "-r",
            str(fps),
            "-i",
            "pipe:0",
            *audio,
            *outputs,
        ],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    cache: dict[tuple[Path, float], np.ndarray] = {}
    try:
        for photo, zoom, a, b, length in _shots(rng, photos, duration, size, fps):
            key = (photo, zoom)
            if key not in cache:
                cache.clear()
                im = Image.open(photo).convert("RGB")
                scale = zoom * w / im.width
                cache[key] = np.asarray(
                    im.resize(
                        (max(w + 2, round(im.width * scale)), max(h + 2, round(im.height * scale))),
                        Image.Resampling.BILINEAR,
                    )
                )
            arr = cache[key]
            free_x, free_y = arr.shape[1] - w, arr.shape[0] - h
            for i in range(length):
                f = i / max(1, length - 1)
                x = int((a[0] + (b[0] - a[0]) * f) * free_x)
                y = int((a[1] + (b[1] - a[1]) * f) * free_y)
                proc.stdin.write(np.ascontiguousarray(arr[y : y + h, x : x + w]).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    if proc.wait(timeout=900):
        raise RuntimeError(f"ffmpeg render {dst}: {proc.stderr.read().decode()[-800:]}")
    if probe_duration(dst) < duration - 0.5:
        raise RuntimeError(f"ffmpeg render {dst}: {probe_duration(dst):.1f} s instead of {duration:.1f} s")


@dataclass
class Material:
    works: list[Path]
    work_seconds: list[float]
    distractors: list[Path]
    queries: dict[str, list[tuple[Path, int, dict]]]  # family → (file, work index, truth)
    root: Path


# --- edit families -----------------------------------------------------------------------------------
# Each takes (work, work duration, host clip, rng, dst, short excerpts) and returns the truth dict:
# {"start": where the excerpt starts in the work, "at": where it starts in the query, "track": ...}


def _excerpt(rng, dur: float, quick: bool, lo: float = 15.0, hi: float = 25.0) -> tuple[float, float]:
    length = float(rng.uniform(12.0, 15.0) if quick else rng.uniform(lo, hi))
    length = min(length, dur - 1.0)
    return float(rng.uniform(0, max(0.0, dur - length - 0.5))), length


_LOW = ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "500k", "-c:a", "aac", "-b:a", "64k"]


def _cut(work: Path, start: float, length: float) -> list[str]:
    """ffmpeg's input options for ``length`` seconds of ``work`` from ``start``."""
    return ["-ss", f"{start:.2f}", "-t", f"{length:.2f}", "-i", str(work)]


def _looped(host: Path) -> list[str]:
    """ffmpeg's input options for ``host`` repeated for as long as the output needs."""
    return ["-stream_loop", "-1", "-i", str(host)]


def _simple(vf: str, codec: list[str] | None = None, size: str = "640:360", whole: bool = False):
    def make(work, dur, host, rng, dst, quick):
        start, length = (0.0, dur) if whole else _excerpt(rng, dur, quick)
        params = {"p": rng.uniform(0, 1, 8)}
        filt = vf.format(**_draw(params["p"])) if vf else ""
        chain = ",".join(x for x in (filt, f"scale={size}:flags=bicubic" if size else "") if x)
        ffmpeg(
            [
                *_cut(work, start, length),
                "-vf",
                chain or "null",
                *(codec or _LOW),
                str(dst),
            ]
        )
        return {"start": start, "at": 0.0, "length": length}

    return make


def _draw(p: np.ndarray) -> dict:
    """Seeded parameters for the filter templates, each within the issue's range."""
    crop = 0.80 + 0.15 * p[0]  # keep 80–95 % of each side: crops up to 20 %
    return {
        "cw": f"{crop:.3f}",
        "cx": f"{p[1]:.3f}",
        "cy": f"{p[2]:.3f}",
        "bright": f"{-0.15 + 0.3 * p[3]:.3f}",
        "contrast": f"{0.7 + 0.6 * p[4]:.3f}",
        "sat": f"{0.5 + 1.0 * p[5]:.3f}",
        "hue": f"{-30 + 60 * p[6]:.1f}",
        "fps": str(int([10, 12, 15, 24, 30, 50, 60][int(p[7] * 7) % 7])),
    }


def _crop(work, dur, host, rng, dst, quick):
    start, length = _excerpt(rng, dur, quick)
    cw, ch = rng.uniform(0.80, 0.95, 2)  # each side independently: up to 20 % cut
    cx, cy = rng.uniform(0, 1, 2)
    ffmpeg(
        [
            *_cut(work, start, length),
            "-vf",
            f"crop=iw*{cw:.3f}:ih*{ch:.3f}:(iw-ow)*{cx:.3f}:(ih-oh)*{cy:.3f},scale=640:360",
            *_LOW,
            str(dst),
        ]
    )
    return {"start": start, "at": 0.0, "length": length, "crop": [round(cw, 3), round(ch, 3)]}


def _bars(work, dur, host, rng, dst, quick):
    start, length = _excerpt(rng, dur, quick)
    if rng.uniform() < 0.5:  # letterbox: the picture squeezed into 60–85 % of the height
        k = rng.uniform(0.60, 0.85)
        vf = f"scale=640:{int(360 * k) // 2 * 2},pad=640:360:0:(oh-ih)/2"
    else:  # pillarbox
        k = rng.uniform(0.60, 0.85)
        vf = f"scale={int(640 * k) // 2 * 2}:360,pad=640:360:(ow-iw)/2:0"
    ffmpeg([*_cut(work, start, length), "-vf", vf, *_LOW, str(dst)])
    return {"start": start, "at": 0.0, "length": length}


def _pip(work, dur, host, rng, dst, quick):
    start, length = _excerpt(rng, dur, quick)
    s = rng.uniform(1 / 3, 0.5)
    w, h = int(640 * s) // 2 * 2, int(360 * s) // 2 * 2
    x = int(rng.uniform(0.02, 0.98 - s) * 640)
    y = int(rng.uniform(0.02, 0.98 - s) * 360)
    ffmpeg(
        [
            *_looped(host),
            *_cut(work, start, length),
            "-filter_complex",
            f"[0:v]scale=640:360,setsar=1[bg];[1:v]scale={w}:{h},setsar=1[fg];[bg][fg]overlay={x}:{y}:shortest=1[v]",
            "-map",
            "[v]",
            "-map",
            "0:a?",
            "-t",
            f"{length:.2f}",
            *_LOW,
            str(dst),
        ]
    )
    return {"start": start, "at": 0.0, "length": length, "track": "visual", "scale": round(s, 3)}


def _overlay(work, dur, host, rng, dst, quick):
    start, length = _excerpt(rng, dur, quick)
    lw = rng.uniform(0.08, 0.15)
    corner = int(rng.integers(4))
    fx = 0.03 if corner % 2 == 0 else 0.97 - lw
    fy = 0.04 if corner < 2 else 0.96 - lw
    cap = rng.uniform(0.08, 0.14)
    words = ["BREAKING", "LIVE", "Interview", "tonight", "exclusive", "the", "festival", "premiere"]
    text = " ".join(rng.choice(words, 4))
    vf = (
        f"drawbox=x=iw*{fx:.3f}:y=ih*{fy:.3f}:w=iw*{lw:.3f}:h=iw*{lw:.3f}:color=white@0.8:t=fill,"
        f"drawtext=fontfile={FONT}:text='TV':x=w*{fx + lw / 4:.3f}:y=h*{fy:.3f}+w*{lw / 3:.3f}:fontsize=h*{lw:.3f}:"
        f"fontcolor=red,drawbox=x=0:y=ih*{1 - cap:.3f}:w=iw:h=ih*{cap:.3f}:color=black@0.6:t=fill,"
        f"drawtext=fontfile={FONT}:text='{text}':x=w*0.04:y=h*{1 - cap * 0.8:.3f}:fontsize=h*{cap * 0.6:.3f}:"
        f"fontcolor=white,scale=640:360"
    )
    ffmpeg([*_cut(work, start, length), "-vf", vf, *_LOW, str(dst)])
    return {"start": start, "at": 0.0, "length": length}


def _speed(work, dur, host, rng, dst, quick):
    start, length = _excerpt(rng, dur, quick, 20.0, 28.0)
    s = float(rng.uniform(1.03, 1.10) if rng.uniform() < 0.5 else rng.uniform(0.90, 0.97))
    ffmpeg(
        [
            *_cut(work, start, length),
            "-vf",
            f"setpts=PTS/{s:.4f},scale=640:360",
            "-af",
            f"asetrate=44100*{s:.4f},aresample=44100",
            *_LOW,
            str(dst),
        ]
    )
    return {"start": start, "at": 0.0, "length": length / s, "speed": round(s, 4)}


def _inside(work, dur, host, rng, dst, quick):
    """An excerpt of 10–20 s placed inside an unrelated video (host before and after)."""
    length = float(rng.uniform(10.0, 14.0) if quick else rng.uniform(10.0, 20.0))
    start = float(rng.uniform(0, dur - length - 0.5))
    before, after = float(rng.uniform(5, 15)), float(rng.uniform(5, 15))
    ffmpeg(
        [
            *_looped(host),
            *_cut(work, start, length),
            "-filter_complex",
            f"[0:v]scale=640:360,setsar=1,fps=25,split[h1][h2];[h1]trim=0:{before:.2f},setpts=PTS-STARTPTS[a];"
            f"[h2]trim={before:.2f}:{before + after:.2f},setpts=PTS-STARTPTS[c];"
            f"[1:v]scale=640:360,setsar=1,fps=25,setpts=PTS-STARTPTS[b];[a][b][c]concat=n=3:v=1:a=0[v];"
            f"[0:a]atrim=0:{before:.2f},asetpts=PTS-STARTPTS[x];[1:a]aresample=44100,asetpts=PTS-STARTPTS[y];"
            f"[0:a]atrim={before:.2f}:{before + after:.2f},asetpts=PTS-STARTPTS[z];[x][y][z]concat=n=3:v=0:a=1[aa]",
            "-map",
            "[v]",
            "-map",
            "[aa]",
            *_LOW,
            str(dst),
        ]
    )
    return {"start": start, "at": before, "length": length}


def _one_track(track: str):
    """An excerpt's picture over another video's sound (``visual``), or its sound under another video's
    picture (``soundtrack``): the first input gives the picture, the second the sound."""

    def make(work, dur, host, rng, dst, quick):
        start, length = _excerpt(rng, dur, quick)
        excerpt, other = _cut(work, start, length), _looped(host)
        inputs = [*excerpt, *other] if track == "visual" else [*other, *excerpt]
        ffmpeg([*inputs, "-map", "0:v", "-map", "1:a", "-vf", "scale=640:360", "-t", f"{length:.2f}", *_LOW, str(dst)])
        return {"start": start, "at": 0.0, "length": length, "track": track}

    return make


_picture_only = _one_track("visual")
_sound_only = _one_track("soundtrack")


FAMILIES: dict[str, Callable] = {
    "whole copy, H.264 720p 1 Mbit/s": _simple(
        "",
        ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "1000k", "-c:a", "aac", "-b:a", "96k"],
        size="",
        whole=True,
    ),
    "re-encode H.265 250 kbit/s": _simple(
        "",
        [
            "-c:v",
            "libx265",
            "-preset",
            "ultrafast",
            "-b:v",
            "250k",
            "-x265-params",
            "log-level=error",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
        ],
    ),
    "re-encode VP9 250 kbit/s": _simple(
        "",
        [
            "-c:v",
            "libvpx-vp9",
            "-deadline",
            "realtime",
            "-cpu-used",
            "8",
            "-b:v",
            "250k",
            "-c:a",
            "libopus",
            "-b:a",
            "48k",
        ],
    ),
    "re-encode AV1 200 kbit/s": _simple(
        "", ["-c:v", "libsvtav1", "-preset", "12", "-b:v", "200k", "-c:a", "libopus", "-b:a", "48k"]
    ),
    "downscale 240p": _simple(
        "", ["-c:v", "libx264", "-preset", "ultrafast", "-b:v", "250k", "-c:a", "aac", "-b:a", "64k"], size="-2:240"
    ),
    "crop ≤ 20 %": _crop,
    "letterbox / pillarbox": _bars,
    "picture-in-picture ≥ 1/3": _pip,
    "logo + caption overlay": _overlay,
    "mirror": _simple("hflip"),
    "colour + brightness": _simple("eq=brightness={bright}:contrast={contrast}:saturation={sat},hue=h={hue}"),
    "frame rate": _simple("fps={fps}"),
    "speed ±10 %": _speed,
    "excerpt 10–20 s inside unrelated video": _inside,
    "picture only (sound replaced)": _picture_only,
    "soundtrack only (picture replaced)": _sound_only,
}


# --- building ----------------------------------------------------------------------------------------


def _synthetic(dst: Path, rng: np.random.Generator, duration: float, small: bool = False) -> None:
    kind = int(rng.integers(4))
    seed = int(rng.integers(1 << 30))
    src = [
        f"life=s=320x180:rate=25:seed={seed}:ratio=0.{int(rng.integers(1, 9))}:mold=10,scale=640:360",
        f"cellauto=s=640x360:rate=25:seed={seed}:rule={int(rng.integers(18, 200))}",
        f"testsrc2=s=640x360:rate=25,hue=h={int(rng.integers(360))}",
        f"gradients=s=640x360:rate=25:seed={seed}:speed=0.0{int(rng.integers(1, 9))}",
    ][kind]
    if small:
        src = src.replace("640x360", "320x180").replace(",scale=640:360", "")
    freq = int(rng.integers(200, 900))
    ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            src,
            "-f",
            "lavfi",
            "-i",
            f"sine=f={freq}:b={int(rng.integers(1, 6))},volume=0.3",
            "-f",
            "lavfi",
            "-i",
            f"anoisesrc=c=pink:a=0.05:seed={seed}",
            "-filter_complex",
            "[1:a][2:a]amix=inputs=2[a]",
            "-map",
            "0:v",
            "-map",
            "[a]",
            "-t",
            f"{duration:.2f}",
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-b:v",
            "600k",
            "-pix_fmt",
            "yuv420p",
            "-c:a",
            "aac",
            "-b:a",
            "64k",
            str(dst),
        ]
    )


@dataclass(frozen=True)
class Sizes:
    """How much material: works and their length, distractors and theirs, excerpt lengths (short: 12–15 s)."""

    works: int = 40
    work_seconds: tuple[float, float] = (60.0, 100.0)
    distractors: int = 400
    distractor_seconds: tuple[float, float] = (10.0, 30.0)
    short_excerpts: bool = False
    query_works: int | None = None  # edited queries made from the first this many works (None: all)


QUICK = Sizes(12, (30.0, 45.0), 60, (10.0, 16.0), True)

# edits that start from the 1280×720 work; the others read its 640×360 proxy (they end at 640×360 or less)
FULL_RES = ("whole copy, H.264 720p 1 Mbit/s", "crop ≤ 20 %")


def build(
    seed: int,
    sizes: Sizes,
    cache_root: Path,
    workers: int = 1,
    log=print,
    make_distractors: bool = True,
    make_queries: bool = True,
    queries_until: float | None = None,
) -> Material:
    """Works, distractors and edited queries for ``sizes``, cached by their parameters. ``workers`` FFmpeg
    encodes at a time (1 by default: the machine is shared). ``make_distractors=False`` makes only the
    45 host clips (another process may be making the rest); ``make_queries=False`` leaves the queries to
    such a process and their truth empty (``wait_for`` reads it when the query is there). ``queries_until``
    (a Unix time): make no further work's queries after it, and go on to the distractors."""
    n_works, n_dis = sizes.works, sizes.distractors
    # Works (and the queries made from them) are keyed by the works' sizes, distractors by theirs: distractor
    # j is the same clip whatever their number, so a run with more distractors encodes only the new ones.
    root = cache_root / _key("works", VERSION, seed, n_works, sizes.work_seconds, sizes.short_excerpts)
    dis_root = cache_root / _key("distractors", VERSION, seed, n_works, sizes.distractor_seconds)
    for d in (root, dis_root):
        d.mkdir(parents=True, exist_ok=True)
    (root / "sizes.json").write_text(json.dumps({"seed": seed, **vars(sizes)}))
    from _common import ensure_debian_packages

    ensure_debian_packages(DEBIAN_PACKAGES)
    photos = photo_pool(cache_root)
    music = music_pool()
    if len(photos) < n_works + 3 or len(music) < n_works + 1:
        raise SystemExit(
            f"need ≥ {n_works + 3} distinct photographs and {n_works + 1} tracks; found {len(photos)} and "
            f"{len(music)} in {', '.join(map(str, PHOTO_DIRS))} and {MUSIC} (packages {' '.join(DEBIAN_PACKAGES)})"
        )
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(photos))
    work_photos = [photos[i] for i in order[:n_works]]
    host_photos = [photos[i] for i in order[n_works:]]
    # silence.ogg is Wesnoth's "no music" track: not a soundtrack; the next unused track takes its place
    shuffled = [music[i] for i in rng.permutation(len(music))]
    spare = [t for t in shuffled[n_works:] if t.name != "silence.ogg"]
    tracks = [spare.pop(0) if t.name == "silence.ogg" else t for t in shuffled[:n_works]]
    jobs: list[Callable[[], None]] = []

    works, proxies, seconds = [], [], []
    for i in range(n_works):
        dst = root / "works" / f"work{i:03d}.mp4"
        proxy = root / "proxies" / f"work{i:03d}.mp4"
        dur = float(rng.uniform(*sizes.work_seconds))
        works.append(dst)
        proxies.append(proxy)
        seconds.append(dur)
        sub = np.random.default_rng([seed, 1, i])
        if not (dst.exists() and proxy.exists()):

            def job(dst=dst, proxy=proxy, sub=sub, dur=dur, i=i):
                proxy.parent.mkdir(parents=True, exist_ok=True)
                tmp_proxy = proxy.with_name(f".tmp-{os.getpid()}-{proxy.name}")
                try:
                    _atomic(
                        dst,
                        lambda tmp: render(
                            tmp, sub, [work_photos[i]], dur, (1280, 720), _looped(tracks[i]), proxy=tmp_proxy
                        ),
                    )
                    os.replace(tmp_proxy, proxy)
                finally:
                    tmp_proxy.unlink(missing_ok=True)

            jobs.append(job)
    distractors = []
    late: list[Callable[[], None]] = []
    for j in range(max(n_dis, 45)):  # the first 45 hold the host clips
        dst = dis_root / f"dis{j:04d}.mp4"
        if j < n_dis:
            distractors.append(dst)
        sub = np.random.default_rng([seed, 2, j])
        dur = float(sub.uniform(*sizes.distractor_seconds))
        # past the 45 host clips, distractors are made at 320×180 (the fingerprint reads 96×96, the baseline
        # 320×180): a quarter of the pixels to encode
        small = j >= 45
        if not dst.exists() and (make_distractors or j < 45):
            # the 45 host clips before the queries (which need them), the rest after the queries: a run
            # following the queries (--follow) measures them while the distractors are still being made
            todo = jobs if j < 45 else late
            if j % 3 == 2:
                todo.append(
                    lambda dst=dst, sub=sub, dur=dur, small=small: _atomic(
                        dst, lambda tmp: _synthetic(tmp, sub, dur, small)
                    )
                )
            else:
                pics = [host_photos[int(k)] for k in sub.integers(len(host_photos), size=3)]
                todo.append(
                    lambda dst=dst, sub=sub, dur=dur, pics=pics, small=small: _atomic(
                        dst,
                        lambda tmp: render(
                            tmp,
                            sub,
                            pics,
                            dur,
                            (320, 180) if small else (640, 360),
                            ["-f", "lavfi", "-i", f"anoisesrc=c=brown:a=0.1:seed={int(sub.integers(1 << 30))}"],
                            crf=26,
                            fps=10,
                        ),
                    )
                )
    _run(jobs, workers, log, "works and host clips")

    jobs = []
    queries: dict[str, list[tuple[Path, int, dict]]] = {}
    # the host clips of picture-in-picture and inserted excerpts: the first 30 slideshow distractors,
    # whatever the number of distractors (the queries stay the same when it changes)
    hosts = [dis_root / f"dis{k:04d}.mp4" for k in range(45) if k % 3 != 2]

    for f, (family, make) in enumerate(FAMILIES.items()):
        rows = queries.setdefault(family, [])
        for i, work in enumerate(works[: sizes.query_works]):
            dst = root / "queries" / f"f{f:02d}_w{i:03d}.mp4"
            truth_file = dst.with_suffix(".json")
            sub = np.random.default_rng([seed, 3, f, i])
            host = hosts[int(sub.integers(len(hosts)))]
            rows.append((dst, i, {}))
            src = work if family in FULL_RES else proxies[i]

            def job(dst=dst, truth_file=truth_file, make=make, src=src, dur=seconds[i], host=host, sub=sub):
                truth = {}
                _atomic(dst, lambda tmp: truth.update(make(src, dur, host, sub, tmp, sizes.short_excerpts)))
                if truth:  # empty: another run made this query and writes its truth
                    truth_file.write_text(json.dumps(truth))

            if not (dst.exists() and truth_file.exists()):
                jobs.append((i, f, job))
    if make_queries:
        # work by work, every family of one work before the next: a run cut short has every row at equal n
        by_work: dict[int, list] = {}
        for i, _, j in sorted(jobs, key=lambda t: t[:2]):
            by_work.setdefault(i, []).append(j)
        for i, group in by_work.items():
            if queries_until and time.time() >= queries_until:
                log(f"queries_until reached: queries of works from {i} on not made")
                break
            _run(group, workers, log, f"edited queries of work {i}")
        if queries_until is None:
            for rows in queries.values():
                for k, (dst, i, _) in enumerate(rows):
                    rows[k] = (dst, i, json.loads(dst.with_suffix(".json").read_text()))
    _run(late, workers, log, "distractors")
    return Material(works, seconds, distractors, queries, root)


def wait_for(query: Path, poll_s: float = 2.0) -> dict:
    """The truth of a query another process is making, once the query and its truth file are written."""
    truth_file = query.with_suffix(".json")
    while True:
        if query.exists() and truth_file.exists():
            try:
                return json.loads(truth_file.read_text())
            except json.JSONDecodeError:
                pass  # being written
        time.sleep(poll_s)


def _key(kind: str, *parts) -> str:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:12]
    return f"{kind}-{parts[2]}-{digest}"


def _atomic(dst: Path, make: Callable[[Path], None]) -> None:
    if dst.exists():  # another run, sharing the cache, made it since this one listed its jobs
        return
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = dst.with_name(f".tmp-{os.getpid()}-{dst.name}")
    try:
        make(tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def _run(jobs: list[Callable[[], None]], workers: int, log, what: str) -> None:
    if not jobs:
        return
    log(f"generating {len(jobs)} {what} with FFmpeg, {workers} at a time (cached for the next run)…")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for k, fut in enumerate([pool.submit(j) for j in jobs], 1):
            fut.result()
            if k % 20 == 0 or k == len(jobs):
                log(f"  {k}/{len(jobs)} {what}")
