"""fairtrain's one error tree. The CLI and the web catch only the root and map its branches.

::

    FairtrainError                      anything fairtrain refuses, with a message fit for a person
    ├── InvalidInput (ValueError)       bad input: names the item, the field and the reason
    │   │                               CLI exit 2 · HTTP 400 (422 for request bodies)
    │   └── ItemError                   one item of a batch ("<item>: <reason>"); the batch goes on
    │       ├── FingerprintError        (core.fingerprint, core.extract) a file that cannot be fingerprinted
    │       ├── SignalError             (core.signals) a signal that cannot be read
    │       └── ReaderError             (services.clearance) a dataset item or file that cannot be read
    ├── NotFound                        the thing named does not exist · exit 2 · HTTP 404
    ├── NotAllowed                      the acting party has no standing for it · exit 2 · HTTP 403
    ├── Conflict                        it clashes with what is stored · exit 2 · HTTP 409
    ├── IntegrityFailure (ValueError)   a signature, hash or proof does not verify · exit 4 · HTTP 422
    └── ToolMissing (RuntimeError)      an external program or optional package is absent · exit 5 · HTTP 503

Modules keep their own subclasses (``RegistryError``, ``SnapshotError``, ``LogError``, …) under the
branch that says what kind of refusal it is. Anything that is not a ``FairtrainError`` is a bug: the CLI
prints one line and exits 3 (the traceback only with ``--debug``), the web answers 500.
"""

from __future__ import annotations

from typing import TypeVar


class FairtrainError(Exception):
    """The root: every refusal fairtrain makes on purpose. ``str()`` is the message for a person."""

    exit_code = 2
    http_status = 400


class InvalidInput(FairtrainError, ValueError):
    """Bad input: a value, a row, a file or a request that cannot be accepted as it is."""


class ItemError(InvalidInput):
    """One item (a file, a URL, a row) could not be handled; ``str()`` reads ``"<item>: <reason>"``."""

    def __init__(self, item: str, reason: str):
        super().__init__(f"{item}: {reason}")
        self.item = item
        self.reason = reason


class FingerprintError(ItemError):
    """One item could not be fingerprinted; the batch records it and goes on. (``core.fingerprint`` and
    ``core.extract``, which it imports, both raise it: it lives here so neither imports the other's package.)"""


E = TypeVar("E", bound=BaseException)


def localised(exc: BaseException, lang: str) -> str:
    """``str(exc)`` in ``lang``: an error whose reason is a catalogue message (it has ``localised(lang)``,
    e.g. ``core.extract.DocumentError``, or was made by :func:`said`) says it in that language; any other
    reads as ``str(exc)``."""
    say = getattr(exc, "localised", None)
    if callable(say):
        return say(lang)
    message = getattr(exc, "message_id", None)
    if message:
        from fairtrain.core.i18n import translator

        return translator(lang)(message).format(**exc.params)
    return str(exc)


def said(exc: E, message: str, /, **params: object) -> E:
    """``exc`` marked as saying the catalogue message ``message`` (English, with ``{name}`` fields filled from
    ``params``), so that :func:`localised` reads it in any language."""
    exc.message_id = message  # type: ignore[attr-defined]
    exc.params = {k: str(v) for k, v in params.items()}  # type: ignore[attr-defined]
    return exc


def said_as(cls: type[E], message: str, /, **params: object) -> E:
    """A ``cls`` whose message is the catalogue message ``message`` filled from ``params`` (see :func:`said`)."""
    return said(cls(message.format(**{k: str(v) for k, v in params.items()})), message, **params)


class NotFound(FairtrainError, LookupError):
    http_status = 404

    def __init__(self, kind: str, ref: object):
        super().__init__(f"no {kind} {ref!r}")
        self.kind = kind
        self.ref = ref
        # what a page says: the catalogue message (the kind is a code, so it is not part of it)
        said(self, "Nothing is found at {ref}: the address may be mistyped, or what it named was removed.", ref=ref)


class NotAllowed(FairtrainError):
    """The acting party has no standing for what it asked."""

    http_status = 403


class Conflict(FairtrainError, ValueError):
    """The request clashes with what is already stored (a duplicate, a concurrent change)."""

    http_status = 409


class IntegrityFailure(FairtrainError, ValueError):
    """A signature, hash, proof or signed document does not verify: the data is not to be trusted."""

    exit_code = 4
    http_status = 422


class ToolMissing(FairtrainError, RuntimeError):
    """An external program or optional package that this feature needs is not installed."""

    exit_code = 5
    http_status = 503
