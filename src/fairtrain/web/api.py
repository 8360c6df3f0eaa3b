"""What the JSON API (``/api/...``, documented at ``/openapi.json``) shares: the caller, path parameters, rate
limits, uploads and sessions. The endpoints live in :mod:`fairtrain.web.routes`, by resource."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from fairtrain.web.deps import principal, web
from fairtrain.web.errors import WebError
from fairtrain.web.security import SESSION_COOKIE, SESSION_MAX_AGE, Principal, client_address

Caller = Annotated[Principal, Depends(principal)]
CategoryName = Literal["tdm", "train-ai", "train-genai", "ai-input", "search"]
ValueName = Literal["allow", "deny", "licence", "inherit"]


Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
WorkRef = Annotated[
    str,
    Path(
        min_length=1,
        max_length=200,
        description=(
            "the work's id, its organisation's work_ref (with ?org= where two organisations use it), or an ISWC, ISRC "
            "or ISBN"
        ),
    ),
]
OrgScope = Annotated[
    str | None, Query(max_length=300, description="the organisation (id or name) whose work_ref names the work")
]


def _work_id(request: Request, ref: str, org: str | None) -> int:
    """The registry's one resolver; a plain id costs no query (the decision endpoint's fast path)."""
    if org is None and ref.isdigit() and len(ref) <= 9:
        return int(ref)
    return web(request).registry.resolve_work(ref, org=org)


def _work_at(request: Request, work_id: WorkRef, org: OrgScope = None) -> int:
    """The ``{work_id}`` of a route (a work's page and its sub-pages, its titles, its withdrawal) through
    :func:`_work_id`: any of a work's addresses acts on the same work as its id."""
    return _work_id(request, work_id, org)


WorkAt = Annotated[int, Depends(_work_at)]


def _client(request: Request) -> str:
    return client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        web(request).trusted_proxies,
    )


def _limit(state, name: str, key: str, what: str) -> None:
    wait = state.limiter(name).hit(key)
    if wait:
        raise WebError(
            429, f"{what}: too many attempts; try again in {int(wait) + 1} s", {"Retry-After": str(int(wait) + 1)}
        )


async def _limit_async(state, name: str, key: str, what: str) -> None:
    """:func:`_limit` from an async route: the count is a database transaction (every server process
    shares it), which must not hold the event loop while another writer has the database."""
    await run_in_threadpool(_limit, state, name, key, what)


async def read_upload(upload, default_name: str = "upload") -> tuple[str, bytes]:
    """An uploaded file's (name, bytes); the name the client gave is cut to 200 characters."""
    return (upload.filename or default_name)[:200], await upload.read()


def start_session(state, response: Response, user_id: int) -> str:
    cookie, csrf = state.sessions.issue(user_id, state.accounts.start_session(user_id))
    response.set_cookie(
        SESSION_COOKIE,
        cookie,
        httponly=True,
        samesite="lax",
        secure=state.secure_cookies,
        max_age=SESSION_MAX_AGE,
        path="/",
    )
    return csrf


def end_session(state, response: Response, p: Principal) -> None:
    """Sign out: the session ends on the server (a kept copy of the cookie no longer works)."""
    if p.session is not None:
        state.accounts.end_session(p.session)
    response.delete_cookie(SESSION_COOKIE, path="/")


# -- accounts ----------------------------------------------------------------------------------------


# -- works and declarations --------------------------------------------------------------------------


# -- organisations -----------------------------------------------------------------------------------


# -- developers: output checks -------------------------------------------------------------------


# -- public: registry search, the log (snapshots: web/snapshots.py) -----------------------------------------------------
