"""Disputes: those over a party's works (``/api/disputes``), those a creator answers: the JSON API
(``/api/disputes/{id}``, its answers) and the page
(``/disputes/{id}`` with its answer form), both from :mod:`fairtrain.services.registry.disputes`, which says
who may see a dispute and what happens next."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse

from fairtrain.core.errors import InvalidInput, localised
from fairtrain.services.registry import disputes, portfolio
from fairtrain.web.api import Caller, Id, read_upload
from fairtrain.web.deps import bell, language, owner, require, wake_mailer, web
from fairtrain.web.pages import form_file, render
from fairtrain.web.security import Principal

router = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


def dispute_view(request: Request, p: Principal, dispute_id: int) -> dict:
    return disputes.dispute_view(web(request).registry, dispute_id, **owner(p), lang=language(request))


def answer(request: Request, p: Principal, dispute_id: int, statement: str, link: str, evidence) -> dict:
    state = web(request)
    r = disputes.answer(
        state.registry,
        dispute_id,
        **owner(p),
        statement=statement,
        link=link,
        evidence=evidence,
        evidence_dir=state.data_dir / "evidence",
    )
    wake_mailer(state)
    return r


@router.get("/disputes/{dispute_id}", tags=["disputes"])
def get_dispute(dispute_id: Id, request: Request, p: Caller) -> dict:
    """A dispute for one of its parties or the organisation: both claims (title, date, parties, never the
    files), its age, the answers and what happens next."""
    return dispute_view(request, p, dispute_id)


@router.post("/disputes/{dispute_id}/answers", status_code=201, tags=["disputes"])
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
    return answer(request, p, dispute_id, statement, link, evidence)


def _dispute_page(
    request: Request,
    p: Principal,
    dispute_id: int,
    error: str | None = None,
    form: dict | None = None,
    status: int = 200,
) -> HTMLResponse:
    d = dispute_view(request, p, dispute_id)
    return render(
        request,
        "dispute.html",
        p,
        status=status,
        d=d,
        error=error,
        form=form or {},
        bell=bell(web(request), p),
    )


@pages.get("/disputes/{dispute_id}", response_class=HTMLResponse)
def dispute_page(request: Request, p: Caller, dispute_id: Id):
    return _dispute_page(request, p, dispute_id)


@pages.post("/disputes/{dispute_id}/answer", response_class=HTMLResponse)
async def dispute_answer_page(request: Request, p: Caller, dispute_id: Id):
    form = await request.form()
    statement, link = str(form.get("statement") or ""), str(form.get("link") or "")
    upload = form.get("file")
    evidence = None
    if upload is not None and not isinstance(upload, str) and upload.filename:
        evidence = await form_file(form, "file", "evidence: choose a file", "evidence")
    try:
        answer(request, p, dispute_id, statement, link, evidence)
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


@router.get("/disputes", tags=["organisations"])
def list_disputes(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", "org-admin", what="disputes")
    return portfolio.disputes(web(request).registry, **owner(p))
