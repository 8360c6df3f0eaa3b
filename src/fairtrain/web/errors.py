"""The web layer's own refusals, each with an HTTP status and a message naming the item and the reason."""

from __future__ import annotations

from fairtrain.core.errors import FairtrainError, said


class WebError(FairtrainError):
    """A refusal only the web makes (sign-in, CSRF, rate limits, upload caps), with its own status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = self.http_status = status
        self.headers = headers


def unauthenticated(what: str = "this") -> WebError:
    return WebError(401, f"{what}: sign in first (or send an API key as 'Authorization: Bearer …')")


def forbidden(message: str) -> WebError:
    return WebError(403, message)


def refusal(status: int, message: str, /, **params: object) -> WebError:
    """A :class:`WebError` saying the catalogue message ``message`` (filled from ``params``) in the reader's
    language wherever it is shown."""
    return said(WebError(status, message.format(**{k: str(v) for k, v in params.items()})), message, **params)
