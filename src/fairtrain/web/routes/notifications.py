"""The notices a creator hears: the JSON API (``/api/notifications``, read marks, preferences) and the pages
(``/notifications`` and its preferences form), from :class:`~fairtrain.services.notify.Notifications`."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from fairtrain.services.notify import KIND_NAMES, KINDS
from fairtrain.web.api import Caller
from fairtrain.web.deps import language, require_holder, web
from fairtrain.web.pages import render

router = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


class Preferences(BaseModel):
    app: list[str] | None = Field(default=None, max_length=len(KINDS))
    email: list[str] | None = Field(default=None, max_length=len(KINDS))
    language: str | None = Field(default=None, max_length=8)


class MarkRead(BaseModel):
    ids: list[int] | None = Field(default=None, max_length=1000)


@router.get("/notifications", tags=["notifications"])
def notifications(request: Request, p: Caller) -> dict:
    holder = require_holder(p)
    state = web(request)
    return {"unread": state.notifications.unread(holder), "items": state.notifications.list(holder, language(request))}


@router.post("/notifications/read", tags=["notifications"])
def mark_read(body: MarkRead, request: Request, p: Caller) -> dict:
    return {"marked": web(request).notifications.mark_read(require_holder(p), body.ids)}


@router.get("/notifications/preferences", tags=["notifications"])
def get_preferences(request: Request, p: Caller) -> dict:
    return web(request).notifications.preferences(require_holder(p))


@router.put("/notifications/preferences", tags=["notifications"])
def put_preferences(body: Preferences, request: Request, p: Caller) -> dict:
    """Choose which kinds (licence-request, dispute, clearance, payment, statement) reach her in the app and
    by e-mail, and the e-mail's language."""
    return web(request).notifications.set_preferences(
        require_holder(p), app=body.app, email=body.email, language=body.language
    )


@pages.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, p: Caller, saved: bool = False):
    state = web(request)
    holder = require_holder(p)
    lang = language(request)
    state.notifications.remember_language(holder, lang)
    items = state.notifications.list(holder, lang)
    state.notifications.mark_read(holder, [n["id"] for n in items])
    return render(
        request,
        "notifications.html",
        p,
        items=items,
        prefs=state.notifications.preferences(holder),
        kinds=KINDS,
        kind_names=KIND_NAMES,
        saved=saved,
        bell=0,
    )


@pages.post("/notifications/preferences")
async def preferences_page(request: Request, p: Caller):
    form = await request.form()
    web(request).notifications.set_preferences(
        require_holder(p),
        app=[k for k in KINDS if form.get(f"app_{k}")],
        email=[k for k in KINDS if form.get(f"email_{k}")],
        language=language(request),
    )
    return RedirectResponse("/notifications?saved=1", status_code=303)
