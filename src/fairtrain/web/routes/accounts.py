"""Accounts, sessions and API keys: the JSON API's ``/api/auth…``, ``/api/me``, ``/api/keys`` and the
sign-up, sign-in and developer pages."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Form, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from fairtrain.core.errors import localised
from fairtrain.services.transparency import published
from fairtrain.web.accounts import AccountError
from fairtrain.web.api import Caller, Id, _client, _limit, end_session, start_session
from fairtrain.web.deps import language, require, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import _home_for, render
from fairtrain.web.security import SESSION_COOKIE, Principal, local_path

api = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


class SignUp(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)
    role: Literal["creator", "org-admin", "developer"]
    name: str = Field(max_length=300)
    country: str | None = Field(default=None, max_length=2)


class SignIn(BaseModel):
    email: str = Field(max_length=320)
    password: str = Field(max_length=1024)


class NewKey(BaseModel):
    name: str = Field(max_length=100)
    scopes: list[Literal["read", "write"]] = ["read"]


class NewPassword(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@api.post("/auth/signup", status_code=201, tags=["accounts"])
def sign_up(body: SignUp, request: Request, response: Response, p: Caller) -> dict:
    state = web(request)
    _limit(state, "sign_up_per_client", _client(request), "sign-up")
    account = state.accounts.sign_up(
        email=body.email, password=body.password, role=body.role, name=body.name, country=body.country
    )
    return {"user": account.to_dict(), "csrf": start_session(state, response, account.id)}


@api.post("/auth/signin", tags=["accounts"])
def sign_in(body: SignIn, request: Request, response: Response, p: Caller) -> dict:
    state = web(request)
    _limit(state, "sign_in_per_client", _client(request), "sign-in")
    _limit(state, "sign_in_per_email", body.email.strip().lower(), "sign-in")
    try:
        account = state.accounts.authenticate(body.email, body.password)
    except AccountError as e:
        raise WebError(401, str(e)) from None
    return {"user": account.to_dict(), "csrf": start_session(state, response, account.id)}


@api.post("/auth/signout", tags=["accounts"])
def sign_out(request: Request, response: Response, p: Caller) -> dict:
    end_session(web(request), response, p)
    return {"signed_out": True}


@api.post("/auth/signout-everywhere", tags=["accounts"])
def sign_out_everywhere(request: Request, response: Response, p: Caller) -> dict:
    """End every session of the account, on every browser (API keys are revoked one by one)."""
    require(p, what="signing out everywhere")
    ended = web(request).accounts.end_sessions(p.account)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": True, "sessions_ended": ended}


@api.post("/auth/password", tags=["accounts"])
def change_password(body: NewPassword, request: Request, response: Response, p: Caller) -> dict:
    """Change the password: every session of the account ends, and this browser gets a new one."""
    require(p, what="changing the password")
    if p.via != "session":
        raise WebError(403, "password: change it from a signed-in session, not with an API key")
    state = web(request)
    _limit(state, "sign_in_per_email", p.account.email, "password change")
    try:
        state.accounts.change_password(p.account, body.current_password, body.new_password)
    except AccountError as e:
        raise WebError(400 if "new password" in str(e) else 401, str(e)) from None
    return {"changed": True, "csrf": start_session(state, response, p.account.id)}


@api.get("/me", tags=["accounts"])
def me(p: Caller) -> dict:
    require(p, what="/api/me")
    return {"user": p.account.to_dict(), "via": p.via, "scopes": sorted(p.scopes), "csrf": p.csrf}


@api.get("/keys", tags=["accounts"])
def list_keys(request: Request, p: Caller) -> list[dict]:
    require(p, what="API keys")
    return web(request).accounts.keys(p.account)


@api.post("/keys", status_code=201, tags=["accounts"])
def create_key(body: NewKey, request: Request, p: Caller) -> dict:
    require(p, what="API keys")
    if p.via == "key":
        raise WebError(403, "API keys: create keys from a signed-in session, not with another key")
    return web(request).accounts.create_key(p.account, name=body.name, scopes=body.scopes)


@api.delete("/keys/{key_id}", tags=["accounts"])
def revoke_key(key_id: Id, request: Request, p: Caller) -> dict:
    require(p, what="API keys")
    return web(request).accounts.revoke_key(p.account, key_id)


def _enter(request: Request, p: Principal, template: str, attempt, next: str, **typed):
    """Sign up or sign in: ``attempt(state)`` gives the account, and a new session goes to ``next`` (on this
    site) or the account's home; a refusal shows the form again, as typed, with its reason."""
    state = web(request)
    try:
        account = attempt(state)
    except (AccountError, WebError) as e:
        return render(
            request,
            template,
            p,
            status=getattr(e, "status", 400),
            error=localised(e, language(request)),
            next=local_path(next),
            **typed,
        )
    r = RedirectResponse(local_path(next) or _home_for(Principal(account)), status_code=303)
    start_session(state, r, account.id)
    return r


@pages.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, p: Caller, role: str = "creator", next: str = ""):
    return render(request, "signup.html", p, role=role, error=None, form={}, next=local_path(next))


@pages.post("/signup")
def signup(
    request: Request,
    p: Caller,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    role: Annotated[str, Form()],
    name: Annotated[str, Form()],
    country: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
):

    def attempt(state):
        _limit(state, "sign_up_per_client", _client(request), "sign-up")
        return state.accounts.sign_up(email=email, password=password, role=role, name=name, country=country or None)

    form = {"email": email, "name": name, "country": country}
    return _enter(request, p, "signup.html", attempt, next, role=role, form=form)


@pages.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, p: Caller, next: str = ""):
    return render(request, "signin.html", p, error=None, email="", next=local_path(next))


@pages.post("/signin")
def signin(
    request: Request,
    p: Caller,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
):

    def attempt(state):
        _limit(state, "sign_in_per_client", _client(request), "sign-in")
        _limit(state, "sign_in_per_email", email.strip().lower(), "sign-in")
        return state.accounts.authenticate(email, password)

    return _enter(request, p, "signin.html", attempt, next, email=email)


@pages.post("/signout")
def signout(request: Request, p: Caller):
    r = RedirectResponse("/", status_code=303)
    end_session(web(request), r, p)
    return r


@pages.get("/developer", response_class=HTMLResponse)
def developer(request: Request, p: Caller):
    require(p, what="the developer page")
    return developer_page(request, p)


def developer_page(request: Request, p: Principal, *, new_key: dict | None = None, **ctx) -> HTMLResponse:
    """The developer page: her API keys (a new one shown once), the published snapshots, and ``ctx``."""
    state = web(request)
    return render(
        request,
        "developer.html",
        p,
        keys=state.accounts.keys(p.account),
        new_key=new_key,
        snapshots=published.snapshots(state.snapshots_dir),
        **ctx,
    )


@pages.post("/developer/keys", response_class=HTMLResponse)
def developer_new_key(request: Request, p: Caller, name: Annotated[str, Form()], scopes: Annotated[list[str], Form()]):
    require(p, what="API keys")
    state = web(request)
    new_key = state.accounts.create_key(p.account, name=name, scopes=scopes)
    return developer_page(request, p, new_key=new_key)


@pages.post("/developer/keys/{key_id}/revoke")
def developer_revoke(request: Request, p: Caller, key_id: int):
    require(p, what="API keys")
    web(request).accounts.revoke_key(p.account, key_id)
    return RedirectResponse("/developer", status_code=303)
