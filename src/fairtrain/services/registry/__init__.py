"""The registry: who holds what, and what they declared about it."""

from fairtrain.services.registry.csv_import import ImportReport, RowError, import_csv
from fairtrain.services.registry.errors import NotAllowed, NotFound, RegistryError
from fairtrain.services.registry.registry import (
    ROLES,
    Registry,
    ShareSpec,
    holder_ref,
    org_ref,
    parse_party,
    parse_share,
    work_ref,
)

__all__ = [
    "ROLES",
    "ImportReport",
    "NotAllowed",
    "NotFound",
    "Registry",
    "RegistryError",
    "RowError",
    "ShareSpec",
    "holder_ref",
    "import_csv",
    "org_ref",
    "parse_party",
    "parse_share",
    "work_ref",
]
