"""Disputes and notices: the disputes over a party's works (``/api/disputes``), those a creator answers, and the
notices she hears: the JSON API (``/api/disputes/{id}``,
``/api/notifications``) and the pages (``/disputes/{id}``, the preferences form on the creator page)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from fairtrain.core.errors import localised
from fairtrain.services.notify import KIND_NAMES, KINDS
from fairtrain.web import dispute_ops, ops
from fairtrain.web.api import Caller, Id, read_upload
from fairtrain.web.deps import language, require, web
from fairtrain.web.pages import form_file, render
from fairtrain.web.security import Principal

api = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


class Preferences(BaseModel):
    app: list[str] | None = Field(default=None, max_length=len(KINDS))
    email: list[str] | None = Field(default=None, max_length=len(KINDS))
    language: str | None = Field(default=None, max_length=8)


class MarkRead(BaseModel):
    ids: list[int] | None = Field(default=None, max_length=1000)


@api.get("/disputes/{dispute_id}", tags=["disputes"])
def get_dispute(dispute_id: Id, request: Request, p: Caller) -> dict:
    """A dispute for one of its parties or the organisation: both claims (title, date, parties, never the
    files), its age, the answers and what happens next."""
    return dispute_ops.dispute_view(web(request), p, dispute_id, language(request))


@api.post("/disputes/{dispute_id}/answers", status_code=201, tags=["disputes"])
async def answer_dispute(
    dispute_id: Id,
    request: Request,
    p: Caller,
    statement: Annotated[str, Form(max_length=20_000)] = "",
    link: Annotated[str, Form(max_length=2000)] = "",
    file: Annotated[UploadFile | None, File()] = None,
) -> dict:
    """Answer a dispute with a statement, a publication link and/or an evidence file (multipart form)."""
    evidence = await read_upload(file, "evidence") if file is not None and file.filename else None
    return dispute_ops.answer(web(request), p, dispute_id, statement, link, evidence)


@api.get("/notifications", tags=["notifications"])
def notifications(request: Request, p: Caller) -> dict:
    holder = dispute_ops.require_holder(p)
    state = web(request)
    return {"unread": state.notifications.unread(holder), "items": state.notifications.list(holder, language(request))}


@api.post("/notifications/read", tags=["notifications"])
def mark_read(body: MarkRead, request: Request, p: Caller) -> dict:
    return {"marked": web(request).notifications.mark_read(dispute_ops.require_holder(p), body.ids)}


@api.get("/notifications/preferences", tags=["notifications"])
def get_preferences(request: Request, p: Caller) -> dict:
    return web(request).notifications.preferences(dispute_ops.require_holder(p))


@api.put("/notifications/preferences", tags=["notifications"])
def put_preferences(body: Preferences, request: Request, p: Caller) -> dict:
    """Choose which kinds (licence-request, dispute, clearance, payment, statement) reach her in the app and
    by e-mail, and the e-mail's language."""
    return web(request).notifications.set_preferences(
        dispute_ops.require_holder(p), app=body.app, email=body.email, language=body.language
    )


# -- pages --------------------------------------------------------------------------------------------


def _dispute_page(
    request: Request,
    p: Principal,
    dispute_id: int,
    error: str | None = None,
    form: dict | None = None,
    status: int = 200,
) -> HTMLResponse:
    d = dispute_ops.dispute_view(web(request), p, dispute_id, language(request))
    return render(
        request,
        "dispute.html",
        p,
        status=status,
        d=d,
        error=error,
        form=form or {},
        bell=dispute_ops.bell(web(request), p),
    )


@pages.get("/disputes/{dispute_id}", response_class=HTMLResponse)
def dispute_page(request: Request, p: Caller, dispute_id: Id):
    return _dispute_page(request, p, dispute_id)


@pages.post("/disputes/{dispute_id}/answer", response_class=HTMLResponse)
async def dispute_answer_page(request: Request, p: Caller, dispute_id: Id):
    from fairtrain.core.errors import InvalidInput

    form = await request.form()
    statement, link = str(form.get("statement") or ""), str(form.get("link") or "")
    upload = form.get("file")
    evidence = None
    if upload is not None and not isinstance(upload, str) and upload.filename:
        evidence = await form_file(form, "file", "evidence: choose a file", "evidence")
    try:
        dispute_ops.answer(web(request), p, dispute_id, statement, link, evidence)
    except InvalidInput as e:
        return _dispute_page(
            request,
            p,
            dispute_id,
            error=localised(e, language(request)),
            form={"statement": statement, "link": link},
            status=400,
        )
    return RedirectResponse(f"/disputes/{dispute_id}?answered=1", status_code=303)


@pages.get("/notifications", response_class=HTMLResponse)
def notifications_page(request: Request, p: Caller, saved: bool = False):
    state = web(request)
    holder = dispute_ops.require_holder(p)
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
        dispute_ops.require_holder(p),
        app=[k for k in KINDS if form.get(f"app_{k}")],
        email=[k for k in KINDS if form.get(f"email_{k}")],
        language=language(request),
    )
    return RedirectResponse("/notifications?saved=1", status_code=303)


@api.get("/disputes", tags=["organisations"])
def list_disputes(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", "org-admin", what="disputes")
    return ops.disputes_for(web(request), p)
