"""Content fingerprints: bytes in, fingerprints out, and indexes that match them against a registry.

Each modality module (``text``, ``image``, ``audio``) offers the same shape:

- ``fingerprint_<modality>(data) -> <Modality>Fingerprint``: the scan-side fingerprint of one item;
- ``register_<modality>(data) -> <Modality>Fingerprint``: the registry-side fingerprint (with augmented
  variants where the modality needs them);
- ``<Modality>IndexBuilder().add(work_id, fp)`` then ``.build() -> <Modality>Index``;
- ``<Modality>Index.save(directory) -> list[Path]`` (Parquet/numpy files, never the works) and
  ``<Modality>Index.load(directory)``;
- ``<Modality>Index.match(fps) -> list[list[Match]]`` for a batch.

Errors about one item raise :class:`FingerprintError`, which names the item and the reason, so a batch
can record it and go on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from fairtrain.core.errors import FingerprintError as FingerprintError


@dataclass(frozen=True, slots=True)
class Match:
    """A registered work recognised in an item."""

    work_id: int
    score: float  # 0..1, 1 = identical
    stage: str  # "exact" | "candidate" | "verified"
    evidence: Mapping[str, object] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "work_id": self.work_id,
            "score": round(self.score, 6),
            "stage": self.stage,
            "evidence": dict(self.evidence),
        }
