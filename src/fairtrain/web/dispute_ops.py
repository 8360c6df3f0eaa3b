"""What the pages around disputes and notices share (``routes.disputes``, ``routes.notifications``, ``ops``,
``pages``): the bell count, waking the mailer, the caller as a holder, and the notice a colliding upload is
told. The rules live in :mod:`fairtrain.services.registry.disputes` and
:class:`~fairtrain.services.notify.Notifications`."""

from __future__ import annotations

from fairtrain.services.registry import disputes
from fairtrain.web.errors import forbidden
from fairtrain.web.security import Principal


def upload_notice(state, dispute_ids: list[int], lang: str) -> str | None:
    """What an upload that collides with an existing registration is told at once, in words."""
    return disputes.upload_notice(state.registry, dispute_ids, lang)


def wake_mailer(state) -> None:
    if state.mailer is not None:
        state.mailer.wake()


def bell(state, p: Principal) -> int | None:
    """The unread count shown beside the menu; None for callers without notifications."""
    if not p.holder_ref:
        return None
    return state.notifications.unread(p.account.holder_id)


def require_holder(p: Principal) -> int:
    if not p.holder_ref:
        raise forbidden("notifications: only creators receive them")
    return p.account.holder_id
