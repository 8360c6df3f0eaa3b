"""Errors the registry raises; each names the item, the field and the reason (branches of core.errors)."""

from __future__ import annotations

from fairtrain.core import errors


class RegistryError(errors.InvalidInput):
    """A request the registry refuses, with a message fit for the person who made it."""


class NotFound(RegistryError, errors.NotFound):
    """No holder, organisation, work, … by that reference."""


class NotAllowed(RegistryError, errors.NotAllowed):
    """The acting party has no standing for what it asked."""
