"""FastAPI dependencies: the application state and the caller of each request, with CSRF checks; and who is
asking, once: the caller as the party the ledger knows (``developer:N``, ``holder:N``, ``org:N``), as a holder
with notifications, or as an organisation speaking for a member. No rule lives here: the routes pass these to
:mod:`fairtrain.services`."""

from __future__ import annotations

from fastapi import Request

from fairtrain.core.errors import said
from fairtrain.services.ledger import distribution as dist
from fairtrain.web.errors import WebError, forbidden, unauthenticated
from fairtrain.web.i18n import LANG_COOKIE, negotiate
from fairtrain.web.security import PUBLIC, SAFE_METHODS, SESSION_COOKIE, SESSION_MAX_AGE, Principal, csrf_ok
from fairtrain.web.uploads import STREAMED_PATHS


def web(request: Request):
    return request.app.state.web


async def principal(request: Request) -> Principal:
    """API key (``Authorization: Bearer``) or session cookie; a session's unsafe request must carry its
    CSRF token (``X-CSRF-Token`` header or a ``csrf`` form field)."""
    state = web(request)
    auth = request.headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        owner = state.accounts.resolve_key(token.strip()) if scheme.lower() == "bearer" else None
        if owner is None:
            raise WebError(401, "API key: unknown, malformed or revoked", {"WWW-Authenticate": "Bearer"})
        p = Principal(owner.account, "key", owner.scopes)
        needed = "read" if request.method in SAFE_METHODS else "write"
        if needed not in p.scopes:
            raise forbidden(f"API key lacks the '{needed}' scope for {request.method} {request.url.path}")
        return p
    session = state.sessions.read(request.cookies.get(SESSION_COOKIE))
    if session is None:
        return PUBLIC
    user_id, token, csrf = session
    found = state.accounts.session(token, SESSION_MAX_AGE)
    if found is None or found[0].id != user_id:  # ended (signed out, password changed), expired or unknown
        return PUBLIC
    account, session_id = found
    if request.method not in SAFE_METHODS:
        given = request.headers.get("x-csrf-token")
        if given is None and request.url.path in STREAMED_PATHS:  # the body streams to disk: not read here
            given = request.query_params.get("csrf")
        elif given is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            form = await request.form()
            value = form.get("csrf")
            given = value if isinstance(value, str) else None
        if not csrf_ok(csrf, given):
            raise said(
                forbidden("CSRF token missing or wrong: reload the page and try again"),
                "The form was too old to send: reload the page and try again.",
            )
    return Principal(account, "session", frozenset({"read", "write"}), csrf, session_id)


def require(p: Principal, *roles: str, what: str = "this") -> Principal:
    if p.account is None:
        raise said(unauthenticated(what), "Please sign in first: this page is for signed-in accounts.")
    if roles and p.role not in roles:
        raise said(
            forbidden(f"{what}: only for {' or '.join(roles)} accounts, not {p.role}"),
            "This page is for another kind of account; yours cannot open it.",
        )
    return p


def language(request: Request) -> str:
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


# -- who is asking -------------------------------------------------------------------------------------


def licensee_of(p: Principal) -> str:
    """A developer account's licensee identity: assigned by the server, so a licence or report can be
    tied to the account that asked for it (a quote's own ``licensee`` field is not trusted)."""
    return f"developer:{p.account.id}"


def party_of(p: Principal) -> str:
    """The caller on the money side: a developer as licensee, a creator as holder, an organisation admin as
    the organisation."""
    return licensee_of(p) if p.role == "developer" else p.holder_ref or p.org_ref


def member_of(state, p: Principal, holder_id: int) -> str:
    """``holder:ID`` when that holder is (or was) a consenting member of the caller's organisation."""
    return dist.member(state.registry, p.account.org_id, holder_id)


def require_holder(p: Principal) -> int:
    """The caller's holder id: only creators receive notifications."""
    if not p.holder_ref:
        raise forbidden("notifications: only creators receive them")
    return p.account.holder_id


def bell(state, p: Principal) -> int | None:
    """The unread count shown beside the menu; None for callers without notifications."""
    if not p.holder_ref:
        return None
    return state.notifications.unread(p.account.holder_id)


def owner(p: Principal) -> dict:
    """The caller as the services name a party that holds works: ``holder_id`` for a creator, ``org_id`` for
    an organisation admin (the other None)."""
    a = p.account
    return {"holder_id": a.holder_id if a else None, "org_id": a.org_id if a else None}


def wake_mailer(state) -> None:
    """A new notice (a colliding upload, a resolved dispute) is mailed now rather than at the next tick."""
    if state.mailer is not None:
        state.mailer.wake()
