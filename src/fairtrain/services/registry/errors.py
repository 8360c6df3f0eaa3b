"""Errors the registry raises; each names the item, the field and the reason."""

from __future__ import annotations


class RegistryError(ValueError):
    """A request the registry refuses, with a message fit for the person who made it."""


class NotFound(RegistryError):
    def __init__(self, kind: str, ref: object):
        super().__init__(f"no {kind} {ref!r}")
        self.kind = kind
        self.ref = ref


class NotAllowed(RegistryError):
    """The acting party has no standing for what it asked."""
