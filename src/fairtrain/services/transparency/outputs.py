"""Checks of model outputs for copied works: generated text, images, audio or video matched against a snapshot.

A reproduction is flagged when the evidence passes a threshold per modality (:class:`Thresholds`):

- **text**: a near-verbatim passage inside a longer output. The index probes every word 8-gram of the
  output against the works' winnowed 8-grams (w = 16, so every 23-word run of a work holds at least
  one); hits on one diagonal form an aligned span, and the span is flagged when it holds at least
  ``text_min_hits`` hits, covers at least ``text_min_words`` words of the output, and at least
  ``text_min_containment`` of the work's fingerprints in the aligned range are present; the span must
  hold a verbatim chain (consecutive work fingerprints hit on one exact diagonal) of ``text_min_words``. Two
  independent 8-gram collisions on one diagonal of one work are what a chance overlap would need;
  the benchmark (``benchmarks/output_checks.py``) measures 0 such false alarms in generated text
  from a word model trained on the same kind of prose. A whole-output near-duplicate (MinHash Jaccard
  ≥ ``text_min_jaccard``) or an exact copy is flagged too.
- **image**: the matcher's verified match (pHash/dHash candidates within 10 bits, then correlation of
  aligned thumbnails); flagged at score (detail correlation) ≥ ``image_min_score`` = 0.75, above the
  matcher's own 0.5: in the benchmark recompressed copies (JPEG q45-75, resized) score ≥ 0.84 while the
  one unrelated generated picture the matcher accepted scored 0.55. Evidence: the hash distances, the
  correlations and the variant (crop, flip…).
- **audio**: Chromaprint offset voting verified at bit-error rate ≤ 0.20 over ≥ ``audio_min_overlap_s``
  seconds; evidence: where in the work and in the output the copy sits (offsets), BER, overlap.
- **video**: the video index's temporally aligned match (frame hashes on one speed × offset line, or the
  soundtrack alone), flagged when the aligned copy runs at least ``video_min_overlap_s`` = 8 s (the
  index's own verification window); evidence: ``offset_s`` in the work, ``query_offset_s`` in the output,
  ``duration_s``, speed and view (and the soundtrack's offsets where the sound matched too).

Measured (``benchmarks/output_checks.py``, full run): text recall 0.985 on 992 planted 40-word passages,
0 false alarms in 19,008 generated outputs (the clearance matcher's defaults: recall 0.94); images
recall 1.0 on 195 recompressed copies, 0 false alarms in 3,805 generated pictures.

The result feeds distribution as integer attribution weights per work (:func:`attribution_weights`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fairtrain.core.fingerprint import FingerprintError, Match
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.matcher import ItemSource, load_item

__all__ = ["OutputCheck", "OutputChecker", "Reproduction", "Thresholds", "attribution_weights"]


@dataclass(frozen=True)
class Thresholds:
    """When a match counts as a reproduction (see the module docstring for why these values)."""

    text_min_hits: int = 2
    text_min_words: int = 16
    text_min_containment: float = 0.5
    text_min_jaccard: float = 0.5
    image_min_score: float = 0.75
    audio_min_overlap_s: float = 10.0
    video_min_overlap_s: float = 8.0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reproduction:
    """One registered work found in one output, with its evidence."""

    work_id: int
    score: float  # 0..1: text, the aligned span's containment (1 for exact); image, detail correlation; audio 1-2·BER
    stage: str
    evidence: dict
    flagged: bool
    extent: float  # how much of the output it is: words (text), 1 (image), seconds (audio, video)
    terms: dict | None = None

    def to_dict(self) -> dict:
        return {
            "work_id": self.work_id,
            "score": round(self.score, 6),
            "stage": self.stage,
            "flagged": self.flagged,
            "extent": round(self.extent, 3),
            "evidence": self.evidence,
            "terms": self.terms,
        }


@dataclass
class OutputCheck:
    """What one output contains: reproductions (flagged or below threshold), or why it could not be checked."""

    item: str
    modality: str | None
    reproductions: list[Reproduction] = field(default_factory=list)
    error: str | None = None

    @property
    def flagged(self) -> bool:
        return any(r.flagged for r in self.reproductions)

    def to_dict(self) -> dict:
        return {
            "item": self.item,
            "modality": self.modality,
            "flagged": self.flagged,
            "error": self.error,
            "reproductions": [r.to_dict() for r in self.reproductions],
        }


IndexFor = Callable[[str], object | None]


class OutputChecker:
    """Checks batches of outputs against one snapshot's indexes (or any ``modality -> index`` lookup)."""

    def __init__(
        self,
        index_for: IndexFor,
        terms_for: Callable[[int], dict | None] | None = None,
        thresholds: Thresholds | None = None,
    ):
        self._index_for = index_for
        self._terms_for = terms_for or (lambda _work_id: None)
        self.thresholds = thresholds or Thresholds()

    @classmethod
    def open(cls, snapshot: Path, trusted: list | None, thresholds: Thresholds | None = None) -> OutputChecker:
        """A verified snapshot (signature and every shard checked before anything is loaded)."""
        from fairtrain.core.matcher import SnapshotMatcher

        m = SnapshotMatcher.open(Path(snapshot), trusted)
        return cls(m.index, m.terms.row, thresholds)

    def check(self, items: Sequence[tuple[str, ItemSource]]) -> list[OutputCheck]:
        """One result per item, in order; an unreadable item gets an error and the batch goes on. An item
        given as a path is read only if it is not a video (a video is fingerprinted from the file)."""
        results = [OutputCheck(item=name, modality=None) for name, _ in items]
        groups: dict[str, list[int]] = {}
        loaded: list[tuple[str, bytes | Path]] = []
        for i, (name, src) in enumerate(items):
            data, kind, error = load_item(name, src)
            loaded.append((name, data))
            if error:
                results[i].error = error
                continue
            results[i].modality = kind
            if kind is None:
                results[i].error = "unsupported file type (not text, image, audio or video)"
            else:
                groups.setdefault(kind, []).append(i)
        for kind, idx in groups.items():
            fps = modality(kind).fingerprint_many([loaded[i] for i in idx])
            ok: list[tuple[int, object]] = []
            for i, fp in zip(idx, fps, strict=True):
                if isinstance(fp, FingerprintError):
                    results[i].error = fp.reason
                else:
                    ok.append((i, fp))
            index = self._index_for(kind)
            if index is None or not ok:
                continue
            found = self._match(kind, index, [fp for _, fp in ok])
            for (i, _), matches in zip(ok, found, strict=True):
                text = loaded[i][1] if kind == "text" else None
                results[i].reproductions = [self._judge(kind, m, text) for m in matches]
                results[i].reproductions.sort(key=lambda r: (not r.flagged, -r.score, r.work_id))
        return results

    def _match(self, kind: str, index, fps: list) -> list[list[Match]]:
        t = self.thresholds
        if kind == "text":
            # Looser than clearance's min_hits=3: a 40-word passage holds ~4 winnowed 8-grams on average
            # and only 2 for certain; the span and containment checks in _judge carry the precision.
            # The span must also rest on a verbatim chain of text_min_words words (the index's default,
            # 20, would cost 40-word passages recall: 0.93 in benchmarks/output_checks.py --quick).
            return index.match(
                fps,
                min_hits=t.text_min_hits,
                min_containment=t.text_min_containment,
                min_jaccard=t.text_min_jaccard,
                min_verbatim_words=t.text_min_words,
            )
        if kind == "audio":
            return index.match(fps, min_overlap_s=t.audio_min_overlap_s)
        return index.match(fps)

    def _judge(self, kind: str, m: Match, text: bytes | None) -> Reproduction:
        t = self.thresholds
        ev = dict(m.evidence)
        terms = self._terms_for(m.work_id)
        if m.stage == "exact":
            return Reproduction(m.work_id, 1.0, "exact", ev, True, 1.0, terms)
        if kind == "text":
            spans = [
                s
                for s in ev.get("spans", [])
                if s["hits"] >= t.text_min_hits
                and s["query_words"][1] - s["query_words"][0] >= t.text_min_words
                and s["containment"] >= t.text_min_containment
            ]
            near_dup = ev.get("jaccard", 0.0) >= t.text_min_jaccard
            if spans and text is not None:
                _quote_spans(text, spans)
            ev["spans"] = spans or ev.get("spans", [])
            words = sum(s["query_words"][1] - s["query_words"][0] for s in spans)
            score = max([s["containment"] for s in spans] + [ev.get("jaccard", 0.0)])
            return Reproduction(
                m.work_id,
                score if (spans or near_dup) else m.score,
                m.stage,
                ev,
                bool(spans) or near_dup,
                float(words or ev.get("work_words", 0) if near_dup else words),
                terms,
            )
        if kind == "image":
            return Reproduction(m.work_id, m.score, m.stage, ev, m.score >= t.image_min_score, 1.0, terms)
        if kind == "video":
            seconds = video_seconds(ev)
            return Reproduction(m.work_id, m.score, m.stage, ev, seconds >= t.video_min_overlap_s, seconds, terms)
        overlap = float(ev.get("overlap_s", 0.0))
        return Reproduction(m.work_id, m.score, m.stage, ev, overlap >= t.audio_min_overlap_s, overlap, terms)


def video_seconds(evidence: dict) -> float:
    """How many seconds of a video match are aligned: the picture's ``duration_s`` or the soundtrack's
    ``overlap_s``, whichever is longer."""
    sound = evidence.get("soundtrack") or {}
    return float(max(evidence.get("duration_s", 0.0), sound.get("overlap_s", 0.0)))


def _quote_spans(text: bytes, spans: list[dict]) -> None:
    """Add the output's own words for each aligned span (normalised text), so a reader sees the passage."""
    from fairtrain.core.fingerprint import _text_tokens as tok

    try:
        norm = tok.normalise(tok.decode(text, ""))
    except FingerprintError:
        return
    cp = np.frombuffer(norm.encode("utf-32-le"), dtype="<u4")
    cls = tok._class_table()[cp]  # the tokeniser's own character classes, so word numbers agree
    word = cls == 1
    prev = np.concatenate([[False], word[:-1]])
    nxt = np.concatenate([word[1:], [False]])
    starts = np.flatnonzero(word & ~prev)
    ends = np.flatnonzero(word & ~nxt) + 1
    single = np.flatnonzero(cls == 2)
    if len(single):
        order = np.argsort(np.concatenate([starts, single]), kind="stable")
        starts = np.concatenate([starts, single])[order]
        ends = np.concatenate([ends, single + 1])[order]
    for s in spans:
        a, b = s["query_words"]
        b = min(b, len(starts))
        if a < b:
            s["query_chars"] = [int(starts[a]), int(ends[b - 1])]
            s["excerpt"] = norm[starts[a] : ends[b - 1]]


def attribution_weights(checks: Iterable[OutputCheck], total: int = 1_000_000) -> dict[int, int]:
    """Integer weights per work summing exactly to ``total`` (largest remainder), for distribution.

    Each flagged output counts once, split between the works it reproduces in proportion to
    score × extent (words of text, seconds of audio and video, 1 per image); works are weighted by the sum.
    """
    raw: dict[int, float] = {}
    for c in checks:
        flagged = [r for r in c.reproductions if r.flagged]
        mass = sum(r.score * max(r.extent, 1e-9) for r in flagged)
        for r in flagged:
            raw[r.work_id] = raw.get(r.work_id, 0.0) + r.score * max(r.extent, 1e-9) / mass
    if not raw:
        return {}
    s = sum(raw.values())
    exact = {w: v * total / s for w, v in raw.items()}
    out = {w: int(v) for w, v in exact.items()}
    rest = total - sum(out.values())
    for w in sorted(exact, key=lambda w: (-(exact[w] - out[w]), w))[:rest]:
        out[w] += 1
    return dict(sorted(out.items()))
