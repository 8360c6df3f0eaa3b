"""The registry: who holds what, and what they declared about it.

Names are imported from their modules on first use (PEP 562): the database layer costs a third of a
second to import, which commands that never touch the registry (``clear``, ``match``) should not pay.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

from fairtrain.services.registry.errors import Ambiguous, NotAllowed, NotFound, RegistryError

_LAZY = {
    "ImportReport": "csv_import",
    "RowProblem": "csv_import",
    "import_csv": "csv_import",
    **dict.fromkeys(
        (
            "SHARE_ROLES",
            "Registry",
            "ShareSpec",
            "bump_facts_version",
            "holder_ref",
            "org_ref",
            "parse_party",
            "parse_share",
            "work_ref",
        ),
        "registry",
    ),
}

if TYPE_CHECKING:
    from fairtrain.services.registry.csv_import import ImportReport, RowProblem, import_csv
    from fairtrain.services.registry.registry import (
        SHARE_ROLES,
        Registry,
        ShareSpec,
        bump_facts_version,
        holder_ref,
        org_ref,
        parse_party,
        parse_share,
        work_ref,
    )


def __getattr__(name: str) -> object:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "Ambiguous",
    "ImportReport",
    "NotAllowed",
    "NotFound",
    "Registry",
    "RegistryError",
    "RowProblem",
    "SHARE_ROLES",
    "ShareSpec",
    "bump_facts_version",
    "holder_ref",
    "import_csv",
    "org_ref",
    "parse_party",
    "parse_share",
    "work_ref",
]
