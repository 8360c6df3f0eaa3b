"""fairtrain: a permission-first rights clearinghouse for AI training data.

The public Python surface, kept small (like httpx's) and imported lazily so that ``import fairtrain``
costs nothing until a name is used::

    import fairtrain

    reg = fairtrain.Registry.open(data_dir)
    reg.decide(work_id, fairtrain.Category.TRAIN_GENAI)           # a Decision with reasons
    matcher = fairtrain.SnapshotMatcher.open(snapshot_dir, trusted_keys)
    fairtrain.clear(dataset, out, fairtrain.ClearanceConfig(...), fairtrain.SigningKey.load(path))

Everything else lives in private or layer modules (``fairtrain.core``, ``fairtrain.services``) whose
names may change between releases.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from fairtrain._version import __version__

_LAZY = {
    **dict.fromkeys(("Category", "Value", "Purpose", "Offer", "PriceModel", "Decision"), "fairtrain.core.vocab"),
    "Money": "fairtrain.core.money",
    **dict.fromkeys(("SigningKey", "PublicKey"), "fairtrain.core.keys"),
    "SnapshotMatcher": "fairtrain.core.matcher",
    **dict.fromkeys(
        (
            "FairtrainError",
            "InvalidInput",
            "ItemError",
            "NotFound",
            "NotAllowed",
            "Conflict",
            "IntegrityFailure",
            "ToolMissing",
        ),
        "fairtrain.core.errors",
    ),
    "Registry": "fairtrain.services.registry",
    "ClearanceConfig": "fairtrain.services.clearance.pipeline",
    "clear": "fairtrain.services.clearance.run",
}

if TYPE_CHECKING:
    from fairtrain.core.errors import (
        Conflict,
        FairtrainError,
        IntegrityFailure,
        InvalidInput,
        ItemError,
        NotAllowed,
        NotFound,
        ToolMissing,
    )
    from fairtrain.core.keys import PublicKey, SigningKey
    from fairtrain.core.matcher import SnapshotMatcher
    from fairtrain.core.money import Money
    from fairtrain.core.vocab import Category, Decision, Offer, PriceModel, Purpose, Value
    from fairtrain.services.clearance.pipeline import ClearanceConfig
    from fairtrain.services.clearance.run import clear
    from fairtrain.services.registry import Registry


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module 'fairtrain' has no attribute {name!r}")
    value = getattr(import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "__version__",
    "Category",
    "ClearanceConfig",
    "Conflict",
    "Decision",
    "FairtrainError",
    "IntegrityFailure",
    "InvalidInput",
    "ItemError",
    "Money",
    "NotAllowed",
    "NotFound",
    "Offer",
    "PriceModel",
    "PublicKey",
    "Purpose",
    "Registry",
    "SigningKey",
    "SnapshotMatcher",
    "ToolMissing",
    "Value",
    "clear",
]
