"""Errors the registry raises; each names the item, the field and the reason (branches of core.errors)."""

from __future__ import annotations

from fairtrain.core import errors


class RegistryError(errors.InvalidInput):
    """A request the registry refuses, with a message fit for the person who made it."""


class Unprocessable(RegistryError):
    """A submitted value (a form's, a request body's) the registry cannot use as given."""

    http_status = 422


class NotFound(RegistryError, errors.NotFound):
    """No holder, organisation, work, … by that reference."""


class NotAllowed(RegistryError, errors.NotAllowed):
    """The acting party has no standing for what it asked."""


class Ambiguous(RegistryError, errors.Conflict):
    """A reference that names more than one work: the message lists the candidates."""

    http_status = 409

    def __init__(self, ref: str, candidates: list[dict]):
        listed = "; ".join(
            f"work {c['id']} {c['title']!r} ({c['why']}{', ' + c['org'] if c.get('org') else ''})" for c in candidates
        )
        super().__init__(f"work {ref!r} is ambiguous: {listed}; give the id, or --org for a work_ref")
        self.ref = ref
        self.candidates = candidates
        # what a page says, in the reader's language (str() above stays what the CLI prints)
        errors.said(
            self,
            "{ref} names more than one work: {candidates}. Give the work's id, or its organisation (?org= or --org) "
            "for a work_ref.",
            ref=repr(ref),
            candidates="; ".join(
                f"#{c['id']} {c['title']!r} ({c['why']}{', ' + c['org'] if c.get('org') else ''})" for c in candidates
            ),
        )
