"""Works: upload (``/api/works``), a creator's or an organisation's list, a work's public page, its decision,
policy and signal kit (``/api/works/{work}…``), and the pages where a work's holders shape it (and ``/api/works/{id}/titles``,
``/withdrawal``): titles, per-work policy and price, co-holders by invitation,
withdrawal, the preview and the registration certificate. The rules live in
:mod:`fairtrain.services.registry.work_editing` and :mod:`~fairtrain.services.registry.certificate`; each
route here checks who is asking (session, CSRF through :func:`~fairtrain.web.deps.principal`) and calls them."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fairtrain.core.errors import FairtrainError, localised
from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Level, Purpose
from fairtrain.services.notify import KEYS, words
from fairtrain.services.registry import SHARE_ROLES, portfolio
from fairtrain.services.registry import certificate as cert_
from fairtrain.services.registry import work_editing as we
from fairtrain.web.api import (
    Caller,
    CategoryName,
    OrgScope,
    WorkAt,
    WorkRef,
    _limit_async,
    _work_id,
    read_upload,
)
from fairtrain.web.deps import language, owner, require, wake_mailer, web
from fairtrain.web.errors import WebError, forbidden, refusal
from fairtrain.web.i18n import translations
from fairtrain.web.pages import CATEGORIES, STATUS_WORDS, _typed_policy, declare_from_form, refused_status, render
from fairtrain.web.routes.policies import Policy, _declare, _kit_response, kit
from fairtrain.web.security import Principal

pages = APIRouter(include_in_schema=False)
api = APIRouter(prefix="/api")
ROLE_CHOICES = sorted(SHARE_ROLES - {"other"}) + ["other"]


def party_of(p: Principal) -> str | None:
    return p.holder_ref or p.org_ref


def _editor(request: Request, p: Principal, work_id: int) -> str:
    """The caller's party, if she may shape the work; else a 403 in her words."""
    require(p, "creator", "org-admin", what="editing a work")
    party = party_of(p)
    if not we.may_edit(web(request).registry, work_id, party):
        raise refusal(
            403, "Work {work}: only its holders or its organisation's administrators may change it.", work=work_id
        )
    return party


def origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _work_policy(state, work: dict, party: str) -> dict:
    """The party's own per-work terms ("inherit" where she declared none), for ``_policy.html``."""
    values = dict.fromkeys(CATEGORIES, "inherit")
    offer = None
    for d in work["declarations"]:  # oldest first: the newest of each category wins
        if d["party"] != party or d["purpose"]:
            continue
        values[d["category"]] = d["value"] or "inherit"
        if d["value"] == "licence" and d["offer"]:
            offer = d["offer"]
    shown = (
        {
            "price": Money.from_dict(offer["price"]).major_str(),
            "currency": offer["price"]["currency"],
            "model": offer.get("price_model"),
        }
        if offer
        else None
    )
    return {"declared": True, "values": values, "offer": shown, "party": party, "inherit": True}


def _page(request: Request, p: Principal, work_id: int, *, status: int = 200, **extra) -> HTMLResponse:
    state = web(request)
    w = state.registry.work(work_id)
    party = party_of(p)
    ctx = {
        "policy": _work_policy(state, w, party),
        "policy_error": None,
        "title_error": None,
        "invite_error": None,
        "withdraw_error": None,
        "saved": False,
        "saved_what": "",
        "form": {},
        **extra,
    }
    return render(
        request,
        "work_edit.html",
        p,
        status=status,
        work=w,
        invitations=we.invitations(state.registry, work_id),
        roles=ROLE_CHOICES,
        policy_action=f"/works/{work_id}/policy",
        **ctx,
    )


@pages.get("/works/{work_id}/edit", response_class=HTMLResponse)
def edit_page(request: Request, p: Caller, work_id: WorkAt, saved: str = ""):
    _editor(request, p, work_id)
    return _page(request, p, work_id, saved=saved == "policy", saved_what=saved)


@pages.post("/works/{work_id}/titles", response_class=HTMLResponse)
def save_titles(
    request: Request,
    p: Caller,
    work_id: int,
    title: Annotated[str, Form()] = "",
    title_latin: Annotated[str, Form()] = "",
):
    party = _editor(request, p, work_id)
    try:
        we.edit_titles(web(request).registry, work_id, party, title=title, title_latin=title_latin)
    except FairtrainError as e:
        return _page(
            request,
            p,
            work_id,
            status=refused_status(e),
            title_error=localised(e, language(request)),
            form={"title": title, "title_latin": title_latin},
        )
    return RedirectResponse(f"/works/{work_id}/edit?saved=titles", status_code=303)


@pages.post("/works/{work_id}/policy", response_class=HTMLResponse)
async def save_policy(request: Request, p: Caller, work_id: int):
    _editor(request, p, work_id)
    form = await request.form()
    try:
        await declare_from_form(request, p, form, Level.WORK, work_id)
    except FairtrainError as e:
        typed = _typed_policy(form)  # a work's form: a category left out inherits
        typed.update(values={c: typed["values"].get(c, "inherit") for c in CATEGORIES}, inherit=True)
        return _page(
            request, p, work_id, status=refused_status(e), policy=typed, policy_error=localised(e, language(request))
        )
    return RedirectResponse(f"/works/{work_id}/edit?saved=policy", status_code=303)


@pages.post("/works/{work_id}/invite", response_class=HTMLResponse)
def invite(
    request: Request,
    p: Caller,
    work_id: int,
    email: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "author",
    share: Annotated[str, Form()] = "",
    keep: Annotated[str, Form()] = "",
):
    party = _editor(request, p, work_id)
    state = web(request)
    lang = language(request)
    try:
        if not p.holder_ref:
            raise refusal(403, "Co-holders: only a holder of the work invites co-holders.")
        inv, token = we.invite(state.registry, work_id, party, email=email, role=role, share=share, keep=keep or None)
    except FairtrainError as e:
        return _page(
            request,
            p,
            work_id,
            status=refused_status(e),
            invite_error=localised(e, lang),
            form={"email": email, "role": role, "share": share, "keep": keep},
        )
    w = state.registry.work(work_id)
    params = {
        "inviter": p.account.display_name,
        "title": w["title"],
        "share": inv["share"],
        "role": inv["role"],
    }
    accounts = we.holders_with_account_email(state.registry, inv["email"])
    if accounts:  # she has an account: told in the app and by e-mail, and confirms signed in (no token kept)
        state.notifications.send(
            accounts, "co-holder", "invited", {**params, "path": f"/invitations/{inv['id']}"}, subject=f"work:{work_id}"
        )
        if state.mailer is not None:
            state.mailer.wake()
    else:  # no account yet: the single-use link goes by e-mail only, never stored
        title, text = words(
            "co-holder", "invited", {**params, "path": f"{origin(request)}/invitations/t/{token}"}, lang
        )
        try:
            if state.mailer is None:
                raise OSError("no SMTP server configured")
            state.mailer.send_message(inv["email"], title, text)
        except OSError:  # smtplib's errors are OSErrors: the invitation stays pending, unsent; she is told
            return RedirectResponse(f"/works/{work_id}/edit?saved=unsent", status_code=303)
    return RedirectResponse(f"/works/{work_id}/edit?saved=invited", status_code=303)


@pages.post("/works/{work_id}/invitations/{invitation_id}/withdraw")
def withdraw_invitation(request: Request, p: Caller, work_id: int, invitation_id: int):
    party = _editor(request, p, work_id)
    inv = we.invitation(web(request).registry, invitation_id)
    if inv["work"] != work_id:
        raise forbidden(f"invitation {invitation_id} is not about work {work_id}")
    we.withdraw_invitation(web(request).registry, invitation_id, party)
    return RedirectResponse(f"/works/{work_id}/edit?saved=withdrawn-invitation", status_code=303)


@pages.post("/works/{work_id}/withdraw", response_class=HTMLResponse)
def withdraw_work(request: Request, p: Caller, work_id: int, confirm: Annotated[str, Form()] = ""):
    party = _editor(request, p, work_id)
    if confirm != "yes":
        _ = translations(language(request)).gettext
        return _page(
            request,
            p,
            work_id,
            status=422,
            withdraw_error=_("Withdraw: tick the box to confirm that you withdraw this work."),
        )
    we.withdraw(web(request).registry, work_id, party)
    return RedirectResponse(f"/works/{work_id}", status_code=303)


@pages.get("/works/{work_id}/preview")
def preview(request: Request, p: Caller, work_id: WorkAt):
    require(p, "creator", "org-admin", what="a work's preview")
    state = web(request)
    data, mime = we.preview(state.registry, state.data_dir, work_id, party_of(p))
    return Response(data, media_type=mime, headers={"Cache-Control": "private, max-age=300"})


def _certificate(request: Request, p: Caller, work_id: int) -> dict:
    _editor_or_viewer(request, p, work_id)
    state = web(request)
    return cert_.certificate(
        state.registry, work_id, page_url=f"{origin(request)}/works/{work_id}", trusted=state.registry_keys or None
    )


def _editor_or_viewer(request: Request, p: Principal, work_id: int) -> None:
    require(p, "creator", "org-admin", what="a registration certificate")
    if not we.may_edit(web(request).registry, work_id, party_of(p)):
        raise refusal(
            403, "Work {work}: only its holders or its organisation's administrators may change it.", work=work_id
        )


@pages.get("/works/{work_id}/certificate", response_class=HTMLResponse)
def certificate_html(request: Request, p: Caller, work_id: WorkAt):
    cert = _certificate(request, p, work_id)
    lang = language(request)
    return HTMLResponse(cert_.render_html(cert, lang), headers={"Content-Language": lang})


@pages.get("/works/{work_id}/certificate.pdf")
async def certificate_pdf(request: Request, p: Caller, work_id: WorkAt):
    cert = _certificate(request, p, work_id)
    pdf = await run_in_threadpool(cert_.render_pdf, cert, language(request))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="certificate-work-{work_id}.pdf"'},
    )


# -- the invitee's side ------------------------------------------------------------------------------


def _invitation_page(request: Request, p: Principal, inv: dict, *, action: str, status: int = 200, error=None):
    return render(request, "invitation.html", p, status=status, inv=inv, action=action, error=error)


def _accept(request: Request, p: Principal, inv: dict, action: str, **which):
    """Confirm an invitation (by its link's token, or signed in as the address it was sent to): the work's
    page, or the invitation again with the reason it was refused."""
    try:
        we.accept(web(request).registry, p.account.holder_id, **which)
    except FairtrainError as e:
        return _invitation_page(
            request, p, inv, action=action, status=refused_status(e), error=localised(e, language(request))
        )
    return RedirectResponse(f"/works/{inv['work']}", status_code=303)


@pages.get("/invitations/t/{token}", response_class=HTMLResponse)
def invitation_by_link(request: Request, p: Caller, token: str):
    inv = we.invitation_by_token(web(request).registry, token)
    return _invitation_page(request, p, inv, action=f"/invitations/t/{token}")


@pages.post("/invitations/t/{token}", response_class=HTMLResponse)
def accept_by_link(request: Request, p: Caller, token: str):
    require(p, "creator", what="confirming an invitation")
    inv = we.invitation_by_token(web(request).registry, token)
    return _accept(request, p, inv, f"/invitations/t/{token}", token=token)


@pages.get("/invitations/{invitation_id}", response_class=HTMLResponse)
def invitation_for_me(request: Request, p: Caller, invitation_id: int):
    require(p, "creator", what="an invitation")
    inv = we.invitation(web(request).registry, invitation_id)
    if inv["email"] != (p.account.email or "").lower():
        raise refusal(403, "Invitation: it was sent to another e-mail address. Open the link from the e-mail instead.")
    return _invitation_page(request, p, inv, action=f"/invitations/{invitation_id}")


@pages.post("/invitations/{invitation_id}", response_class=HTMLResponse)
def accept_signed_in(request: Request, p: Caller, invitation_id: int):
    require(p, "creator", what="confirming an invitation")
    inv = we.invitation(web(request).registry, invitation_id)
    return _accept(request, p, inv, f"/invitations/{invitation_id}", invitation_id=invitation_id, email=p.account.email)


class Titles(BaseModel):
    title: str = Field(max_length=1000)
    title_latin: str | None = Field(default=None, max_length=1000)


class Withdrawal(BaseModel):
    confirm: Literal[True] = Field(description="true: the work is withdrawn (deny for every use); history stays")


def _work(state, work_id: int) -> dict:
    w = state.registry.work(work_id)
    return {
        "id": w["id"],
        "title": w["title"],
        "title_latin": w.get("title_latin"),
        "status": w["status"],
        "withdrawn_at": w.get("withdrawn_at"),
    }


@api.put("/works/{work_id}/titles", tags=["works"])
def put_titles(work_id: WorkAt, body: Titles, request: Request, p: Caller) -> dict:
    """Set the work's title (Korean or any script) and its Latin-script title; a holder or the work's
    organisation's administrator only."""
    party = _editor(request, p, work_id)
    we.edit_titles(web(request).registry, work_id, party, title=body.title, title_latin=body.title_latin)
    return _work(web(request), work_id)


@api.post("/works/{work_id}/withdrawal", tags=["works"])
def withdraw(work_id: WorkAt, body: Withdrawal, request: Request, p: Caller) -> dict:
    """Withdraw the work: its holder declares deny for every use at the work's level; granted licences stay."""
    party = _editor(request, p, work_id)
    we.withdraw(web(request).registry, work_id, party)
    return _work(web(request), work_id)


async def _fingerprint(state, name: str, data: bytes, lang: str) -> tuple[str, bytes, str | None] | str | None:
    """An uploaded work's (media type, registered fingerprint, ISCC), computed in the application's worker
    processes within the upload budget; the reason as text when that fails; None when there is nothing to
    fingerprint (empty or not text, image or audio: ``add_work`` says so). Reasons in ``lang``."""
    from fairtrain.core.media import detect_media_type
    from fairtrain.web.cpu import CpuError

    media = detect_media_type(data[:8192], name) if data else None
    if media is None:
        return None
    try:
        fingerprint, iscc = await state.cpu.run(name, len(data), portfolio.content_of, media, data, name, lang)
    except CpuError as e:
        return str(e)
    return media, fingerprint, iscc


@api.post("/works", status_code=201, tags=["works"])
async def upload_works(
    request: Request,
    p: Caller,
    files: Annotated[list[UploadFile], File()],
    titles: Annotated[list[str] | None, Form()] = None,
) -> dict:
    """Register files as works of the signed-in creator; fingerprints are computed on the server."""
    require(p, "creator", what="uploading works")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    if len(files) > state.limits.max_files:
        raise WebError(413, f"uploads: at most {state.limits.max_files} files per request, got {len(files)}")
    blobs = [await read_upload(f) for f in files]
    import asyncio

    from starlette.concurrency import run_in_threadpool

    lang = language(request)
    registered = await asyncio.gather(*(_fingerprint(state, name, data, lang) for name, data in blobs))
    results = await run_in_threadpool(
        portfolio.register_files, state.registry, state.data_dir, p.account.holder_id, blobs, titles, registered, lang
    )
    if any(r.get("disputes") for r in results):
        wake_mailer(state)
    return {"results": results, "stored": sum(r["ok"] for r in results), "failed": sum(not r["ok"] for r in results)}


@api.get("/works", tags=["works"])
def my_works(
    request: Request,
    p: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[dict]:
    require(p, "creator", "org-admin", what="works")
    return portfolio.works(web(request).registry, **owner(p), limit=limit, offset=offset)


@api.get("/works/{work}", tags=["works"])
def show_work(work: WorkRef, request: Request, p: Caller, org: OrgScope = None) -> dict:
    return web(request).registry.work(_work_id(request, work, org))


@api.get("/works/{work}/decision", tags=["decisions"])
async def decide(
    work: WorkRef,
    request: Request,
    category: CategoryName,
    licensee: Annotated[str | None, Query(max_length=200)] = None,
    purpose: Literal["commercial", "research"] = "commercial",
    org: OrgScope = None,
) -> dict:
    """May ``category`` be done with this work now? (Public; no sign-in needed.)"""
    # Runs on the event loop: facts are cached per work, so a decision is one primary-key read (the facts
    # version, on a held connection) and computation, and a thread-pool hop costs more than it
    # (benchmarks/web_load.py --quick, 50 clients: 835 -> 2,565 req/s, p99 184 -> 26 ms).
    if org is None and work.isdigit() and len(work) <= 9:
        work_id = int(work)
    else:
        from starlette.concurrency import run_in_threadpool

        work_id = await run_in_threadpool(_work_id, request, work, org)
    try:
        cat, purp = Category.parse(category), Purpose(purpose)
    except ValueError as e:
        raise WebError(422, f"decision: {e}") from None
    d = web(request).registry.decide(work_id, cat, licensee=licensee or None, purpose=purp)
    return {"work": work_id, **d.to_dict()}


@api.get("/works/{work}/policy", tags=["declarations"])
def work_policy(work: WorkRef, request: Request, p: Caller, org: OrgScope = None) -> dict:
    return portfolio.policy(web(request).registry, Level.WORK, _work_id(request, work, org))


@api.put("/works/{work}/policy", tags=["declarations"])
def declare_work(work: WorkRef, body: Policy, request: Request, p: Caller, org: OrgScope = None) -> dict:
    require(p, "creator", "org-admin", what="declaring")
    return _declare(request, p, Level.WORK, _work_id(request, work, org), body)


@api.get(
    "/works/{work}/kit",
    tags=["signals"],
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the signal kit"}},
)
def work_kit(
    work: WorkRef,
    request: Request,
    p: Caller,
    site: Annotated[str, Query(max_length=300)],
    contact: Annotated[str | None, Query(max_length=320)] = None,
    org: OrgScope = None,
) -> Response:
    require(p, "creator", "org-admin", what="signal kit")
    return _kit_response(
        *kit(web(request), p, Level.WORK, _work_id(request, work, org), site, contact, str(request.base_url))
    )


@pages.get("/works/{work_id}", response_class=HTMLResponse)
def work_page(request: Request, p: Caller, work_id: WorkAt):
    state = web(request)
    w = state.registry.work(work_id)
    terms = state.registry.terms(work_id)
    from fairtrain.services.registry import certificate, work_editing

    editable = work_editing.may_edit(state.registry, work_id, p.holder_ref or p.org_ref)
    shown = certificate.title_for(w, language(request))
    return render(
        request,
        "work.html",
        p,
        work=w,
        terms=terms,
        status_words=STATUS_WORDS,
        dispute_keys=KEYS,
        editable=editable,
        shown_title=shown,
    )
