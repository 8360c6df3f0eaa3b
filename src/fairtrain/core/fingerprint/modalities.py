"""The four modalities behind one interface: registration, scanning, index building and loading.

Callers (the registry, snapshot export, the matcher, clearance) go through :func:`modality` and never
import a modality module directly, so adding one is a change in this file only.

The text modality reads documents (HWP, HWPX, DOCX, ODT, EPUB, PDF, RTF) through ``core.extract`` first,
on both sides: a work registered as an HWP is matched by its text wherever that text turns up, and a
document in a dataset is read the same way. Plain text goes straight to the fingerprint.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fairtrain.core.errors import InvalidInput
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
    # registry side, many items at once, where the modality has a faster way than one call per item
    register_batch: Callable[[Sequence[tuple[str, bytes]]], list[object | FingerprintError]] | None = None
    # registry side: a stored fingerprint an older version made without something this one adds (registering
    # the same file again replaces it; the registry never keeps the file)
    outdated: Callable[[object], bool] = lambda registered: False

    def register_many(self, items: Sequence[tuple[str, bytes]]) -> list[object | FingerprintError]:
        """``register`` of each ``(name, data)``: a registered fingerprint, or the item's FingerprintError
        (a DocumentError, for a document whose text cannot be read)."""
        return self.register_batch(items) if self.register_batch is not None else _each(self.register, items)

    def fingerprint_many(self, items: Sequence[tuple[str, bytes]]) -> list[object | FingerprintError]:
        return self.fingerprint_batch(items) if self.fingerprint_batch is not None else _each(self.fingerprint, items)


def _each(fn: Callable[[bytes, str], object], items: Sequence[tuple[str, bytes]]) -> list[object | FingerprintError]:
    """``fn(data, name)`` of each item, one at a time; an item's FingerprintError is its result."""
    out: list[object | FingerprintError] = []
    for name, data in items:
        try:
            out.append(fn(data, name))
        except FingerprintError as e:
            out.append(e)
    return out


@cache
def modality(name: str) -> Modality:
    """The modality ``name`` (text, image, audio or video); its module is imported on first use."""
    if name not in NAMES:
        raise InvalidInput(f"unknown modality {name!r} (expected one of: {', '.join(NAMES)})")
    mod = importlib.import_module(f"fairtrain.core.fingerprint.{name}")
    if name == "text":
        return Modality(
            "text",
            _reading_documents(mod.register_text),
            _reading_documents(mod.fingerprint_text),
            mod.TextIndexBuilder,
            mod.TextIndex.load,
            lambda fp: fp.iscc_code,
            _reading_documents_batch(mod.fingerprint_texts),
            _reading_documents_batch(mod.register_texts),
        )
    if name == "image":
        return Modality(
            "image",
            mod.register_image,
            mod.fingerprint_image,
            mod.ImageIndexBuilder,
            mod.ImageIndex.load,
            lambda reg: reg.iscc or None,
        )
    if name == "audio":
        return Modality(
            "audio",
            mod.register_audio,
            mod.fingerprint_audio,
            mod.AudioIndexBuilder,
            mod.AudioIndex.load,
            lambda reg: reg.iscc or None,
        )
    return Modality(
        "video",
        mod.register_video,
        mod.fingerprint_video,
        mod.VideoIndexBuilder,
        mod.VideoIndex.load,
        lambda reg: reg.iscc or None,
        outdated=lambda reg: getattr(reg, "cells", None) is None,  # registered before the grey cells
    )


def _as_text(data: bytes | str, name: str) -> bytes | str:
    """A document's extracted text, or ``data`` itself when it is not a document (the common case: one
    look at the first bytes)."""
    from fairtrain.core import extract

    return extract.extract_text(data, name) if extract.is_document(data, name) else data


def _reading_documents(fn: Callable[[bytes | str, str], object]) -> Callable[[bytes | str, str], object]:
    def call(data: bytes | str, name: str = "") -> object:
        try:
            return fn(_as_text(data, name), name)
        except FingerprintError as e:
            if (text := _legacy(data, e)) is None:
                raise
            return fn(text, name)

    return call


def _legacy(data: bytes | str, e: FingerprintError) -> str | None:
    """Korean CP949 or UTF-16 text, tried only where UTF-8 decoding failed."""
    if not e.reason.startswith(("not UTF-8", "binary data (NUL")):
        return None
    from fairtrain.core import extract

    return extract.legacy_text(data)


def _reading_documents_batch(
    fn: Callable[[Sequence[tuple[str, bytes | str]]], list],
) -> Callable[[Sequence[tuple[str, bytes]]], list[object | FingerprintError]]:
    def call(items: Sequence[tuple[str, bytes]]) -> list[object | FingerprintError]:
        texts: list[tuple[str, bytes | str]] = []
        failed: dict[int, FingerprintError] = {}
        for i, (name, data) in enumerate(items):
            try:
                texts.append((name, _as_text(data, name)))
            except FingerprintError as e:
                failed[i] = e
                texts.append((name, ""))
        out = fn(texts)
        for i, e in failed.items():
            out[i] = e
        for i, fp in enumerate(out):
            if isinstance(fp, FingerprintError) and i not in failed and (text := _legacy(items[i][1], fp)) is not None:
                out[i] = fn([(items[i][0], text)])[0]
        return out

    return call


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
