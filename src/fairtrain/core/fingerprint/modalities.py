"""The four modalities behind one interface: registration, scanning, index building and loading.

Callers (the registry, snapshot export, the matcher, clearance) go through :func:`modality` and never
import a modality module directly, so adding one is a change in this file only.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fairtrain.core.fingerprint import FingerprintError, Match

NAMES = ("text", "image", "audio", "video")


@dataclass(frozen=True)
class Modality:
    name: str
    register: Callable[[bytes, str], object]  # registry side: the work's stored fingerprint
    fingerprint: Callable[[bytes, str], object]  # scan side: one item
    new_builder: Callable[[], object]  # .add(work_id, registered) then .build() -> index
    load_index: Callable[[Path], object]  # index with .match(fps) -> list[list[Match]] and .save(dir)
    iscc: Callable[[object], str | None]  # the work's ISCC code from its registered fingerprint
    # scan side, many items at once, where the modality has a faster way than one call per item
    fingerprint_batch: Callable[[Sequence[tuple[str, bytes]]], list[object | FingerprintError]] | None = None

    def fingerprint_many(self, items: Sequence[tuple[str, bytes]]) -> list[object | FingerprintError]:
        if self.fingerprint_batch is not None:
            return self.fingerprint_batch(items)
        out: list[object | FingerprintError] = []
        for name, data in items:
            try:
                out.append(self.fingerprint(data, name))
            except FingerprintError as e:
                out.append(e)
        return out


@cache
def modality(name: str) -> Modality:
    """The modality ``name`` (text, image, audio or video); its module is imported on first use."""
    if name not in NAMES:
        raise ValueError(f"unknown modality {name!r} (expected one of: {', '.join(NAMES)})")
    mod = importlib.import_module(f"fairtrain.core.fingerprint.{name}")
    if name == "text":
        return Modality("text", mod.register_text, mod.fingerprint_text, mod.TextIndexBuilder, mod.TextIndex.load,
                        lambda fp: fp.iscc_code, mod.fingerprint_texts)
    if name == "image":
        return Modality("image", mod.register_image, mod.fingerprint_image, mod.ImageIndexBuilder,
                        mod.ImageIndex.load, lambda reg: reg.iscc or None)
    if name == "audio":
        return Modality("audio", mod.register_audio, mod.fingerprint_audio, mod.AudioIndexBuilder,
                        mod.AudioIndex.load, lambda reg: reg.iscc or None)
    return Modality("video", mod.register_video, mod.fingerprint_video, mod.VideoIndexBuilder, mod.VideoIndex.load,
                    lambda reg: reg.iscc or None)


def available() -> list[str]:
    """Modalities whose modules import here (audio and video also need ffmpeg and fpcalc at run time)."""
    out = []
    for n in NAMES:
        try:
            modality(n)
        except ImportError:
            continue
        out.append(n)
    return out


__all__ = ["NAMES", "FingerprintError", "Match", "Modality", "available", "modality"]
