"""The records that flow through the clearance pipeline, and the decisions row each becomes.

An :class:`ItemRecord` is one input item on its way through the steps: :class:`Match`es are the
registered works it matched, :class:`Reason`s say why it got its decision. ``decisions.parquet`` holds
one :func:`decision_row` per record; the reasons and evidence are JSON text in it, with sorted keys.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from fairtrain.core.vocab import Value

DECISIONS_SCHEMA = pa.schema(
    [
        ("item", pa.string()),
        ("shard", pa.string()),
        ("row", pa.int64()),
        ("url", pa.string()),
        ("modality", pa.string()),
        ("decision", pa.string()),
        ("passes", pa.bool_()),
        ("work_ids", pa.list_(pa.int64())),
        ("content_hash", pa.string()),
        ("reasons", pa.string()),
        ("evidence", pa.string()),
        ("error", pa.string()),
        ("seconds", pa.float64()),  # a video item's duration (null for other items)
    ]
)


@dataclass(frozen=True)
class Match:
    """A registered work an item matched in one snapshot, with that work's terms there."""

    snapshot: str  # the snapshot's id
    work_id: int
    score: float  # rounded to 6 places
    stage: str  # which stage of the modality's matcher found it
    evidence: dict[str, Any]
    terms: dict[str, Any] | None  # the work's row in the snapshot's terms; None: missing from them
    exact_score: float | None = field(default=None, compare=False)  # unrounded: what the index ordered by

    @property
    def key(self) -> str:
        """``<snapshot_id>:<work_id>``: the work across snapshots (a manifest leaf, a quote line)."""
        return f"{self.snapshot}:{self.work_id}"

    def evidence_dict(self) -> dict[str, Any]:
        """What ``decisions.parquet``'s ``evidence`` says of this match (the terms are in the snapshot)."""
        return {
            "snapshot": self.snapshot,
            "work_id": self.work_id,
            "score": self.score,
            "stage": self.stage,
            "evidence": self.evidence,
        }


@dataclass(frozen=True)
class Reason:
    """One reason behind an item's decision. ``source`` says which fields it has:

    ``registry`` (a matched work: ``snapshot``, ``work_id``, ``granted``), ``web`` (the URL's signals:
    ``url``; ``why`` lists the signal sources counted), ``error`` and ``default`` (no other reason)."""

    source: str
    value: Value
    why: str | tuple[str, ...]
    snapshot: str | None = None
    work_id: int | None = None
    granted: bool | None = None  # registry: whether a licence granted to the licensee is what allows it
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The reason as ``decisions.parquet`` writes it: the fields its source has, and no others."""
        out: dict[str, Any] = {
            "source": self.source,
            "value": self.value.value,
            "why": list(self.why) if isinstance(self.why, tuple) else self.why,
        }
        for name in ("snapshot", "work_id", "granted", "url"):
            if (v := getattr(self, name)) is not None:
                out[name] = v
        return out


@dataclass
class ItemRecord:
    """One input item on its way through the pipeline: each step fills in its part."""

    item: object  # readers.Item
    modality: str | None = None
    content_hash: str | None = None  # xxh3-128 of the bytes: the leaf of the clearance manifest
    matches: list[Match] = field(default_factory=list)
    signals: object | None = None  # signals.check.SignalReport
    decision: Value = Value.UNKNOWN
    reasons: list[Reason] = field(default_factory=list)
    error: str | None = None
    passes: bool = False
    error_field: str | None = None  # the part of the item ``error`` is about (a column, member, ``content``)
    seconds: float | None = None  # a video item's duration
    fingerprint: object | None = None  # the content's scan-side fingerprint (kept for ``clear --since``)
    reused: bool = False  # its matches came from an earlier clearance (``clear --since``), not the indexes


def decision_row(rec: ItemRecord) -> dict:
    """One row of decisions.parquet (:data:`DECISIONS_SCHEMA`)."""
    it = rec.item
    return {
        "item": it.item,
        "shard": it.shard,
        "row": it.row,
        "url": it.url,
        "modality": rec.modality,
        "decision": rec.decision.value,
        "passes": rec.passes,
        "work_ids": sorted({m.work_id for m in rec.matches}),
        "content_hash": rec.content_hash,
        "reasons": json.dumps([r.to_dict() for r in rec.reasons], sort_keys=True, ensure_ascii=False),
        "evidence": json.dumps(
            [m.evidence_dict() for m in rec.matches], sort_keys=True, ensure_ascii=False, default=str
        ),
        "error": rec.error,
        "seconds": rec.seconds,
    }


__all__ = ["DECISIONS_SCHEMA", "ItemRecord", "Match", "Reason", "decision_row"]
