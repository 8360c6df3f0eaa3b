"""Organisations (the JSON API's ``/api/orgs``, ``/api/mandates…``, ``/api/org…`` beside the pages): the /org
office with its members, works, disputes and import jobs, and the CMO office's pages: a member's mandate confirm page (from the invitation link), the organisation's
mandates (invite, signed paper, revoke), tariffs (publish from a form, current and past), members'
statements, and repertoire uploads checked in a background process with a progress page. Everything goes
through the registry's and the ledger's service functions; the words come from the catalogue."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fairtrain.core.errors import InvalidInput, said, said_as
from fairtrain.core.i18n import N_, TIME_ZONES, translations
from fairtrain.core.numbers import PriceError, parse_price
from fairtrain.core.tariff import MEDIA
from fairtrain.core.vocab import Purpose
from fairtrain.services.ledger import distribution as dist
from fairtrain.services.registry import portfolio, repertoire, repertoire_uploads
from fairtrain.services.registry.mandate_invites import send_invitation
from fairtrain.web.api import Caller, CategoryName, Id, _client, _limit, _limit_async, read_upload
from fairtrain.web.deps import language, member_of, owner, require, wake_mailer, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import _policy_form, form_file, render, upload_form
from fairtrain.web.security import Principal

api = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


# -- a member consents (or not) ---------------------------------------------------------------------------


def _speaker(p: Principal, token: str) -> dict:
    """How the visitor speaks for the mandate: its invitation token, or signed in as its holder."""
    if token:
        return {"token": token}
    if p.holder_ref:
        return {"holder": p.holder_ref}
    raise said(
        WebError(403, "mandate confirmation: open the link from the invitation, or sign in as the member it names"),
        "Open the link from the invitation, or sign in as the member it names.",
    )


@pages.get("/mandates/{mandate_id}/confirm", response_class=HTMLResponse)
def mandate_confirm_page(
    request: Request, p: Caller, mandate_id: int, token: Annotated[str, Query(max_length=200)] = ""
):
    state = web(request)
    if token:
        _limit(state, "sign_in_per_client", f"mandate-confirm:{_client(request)}", "mandate confirmations")
    m = state.registry.invited_mandate(mandate_id, **_speaker(p, token))
    return render(request, "mandate_confirm.html", p, m=m, token=token, done=None)


@pages.post("/mandates/{mandate_id}/confirm", response_class=HTMLResponse)
def mandate_confirm(
    request: Request,
    p: Caller,
    mandate_id: int,
    answer: Annotated[str, Form(pattern="^(confirm|decline)$")],
    token: Annotated[str, Form(max_length=200)] = "",
):
    state = web(request)
    if token:
        _limit(state, "sign_in_per_client", f"mandate-confirm:{_client(request)}", "mandate confirmations")
    who = _speaker(p, token)
    m = state.registry.invited_mandate(mandate_id, **who)  # names for the answer page, checked before the change
    act = state.registry.confirm_mandate if answer == "confirm" else state.registry.decline_mandate
    m |= act(mandate_id, **who)
    return render(request, "mandate_confirm.html", p, m=m, token="", done=answer)


# -- the organisation's mandates ----------------------------------------------------------------------------


def _own_mandate(state, p: Principal, mandate_id: int) -> dict:
    m = state.registry.mandate(mandate_id)
    if m["org"] != p.org_ref:
        raise WebError(404, f"no mandate {mandate_id} of your organisation")
    return m


def _invite(request: Request, p: Principal, mandate_id: int) -> dict:
    """Send a mandate's invitation for the calling organisation (its own mandates only), within the limit."""
    state = web(request)
    if state.registry.mandate(mandate_id)["org"] != p.org_ref:  # before the limit: no one else spends it
        raise said(
            WebError(403, f"{p.org_ref} may not invite for mandate {mandate_id}: it is another organisation's"),
            "Mandate {id}: only its organisation sends its invitation.",
            id=mandate_id,
        )
    _limit(state, "mandate_invites_per_mandate", f"mandate:{mandate_id}", f"mandate {mandate_id}: invitations")
    return send_invitation(
        state.registry, mandate_id, party=p.org_ref, origin=str(request.base_url).rstrip("/"), mailer=state.mailer
    )


@pages.post("/org/mandates/{mandate_id}/invite", response_class=HTMLResponse)
def org_mandate_invite(request: Request, p: Caller, mandate_id: int):
    require(p, "org-admin", what="mandate invitations")
    sent = _invite(request, p, mandate_id)
    return _org_page(request, p, invitation=sent)


@pages.post("/org/mandates/{mandate_id}/paper")
async def org_mandate_paper(request: Request, p: Caller, mandate_id: int):
    state, form = await upload_form(request, p, "org-admin", "signed paper mandates")
    upload = form.get("file")
    if upload is None or isinstance(upload, str) or not upload.filename:
        raise said(
            WebError(422, f"mandate {mandate_id}: choose the signed paper mandate's file (PDF or a scan)"),
            "Mandate {id}: choose the signed paper mandate's file (a PDF or a scan).",
            id=mandate_id,
        )
    await run_in_threadpool(
        state.registry.attach_mandate_paper, mandate_id, upload.file, state.data_dir, party=p.org_ref
    )
    return RedirectResponse("/org?saved=1#mandates", status_code=303)


def end_of(day: str, lang: str) -> datetime | None:
    """A form's end date (``YYYY-MM-DD``) as the moment it starts in the reader's time zone; empty: now."""
    from zoneinfo import ZoneInfo

    if not day:
        return None
    try:
        d = date.fromisoformat(day)
    except ValueError:
        raise said_as(InvalidInput, "End date {day}: write a date such as 2027-06-30.", day=repr(day)) from None
    return datetime(d.year, d.month, d.day, tzinfo=ZoneInfo(TIME_ZONES[lang]))


@pages.post("/org/mandates/{mandate_id}/revoke")
def org_mandate_revoke(request: Request, p: Caller, mandate_id: int, end: Annotated[str, Form(max_length=40)] = ""):
    require(p, "org-admin", what="revoking mandates")
    state = web(request)
    _own_mandate(state, p, mandate_id)
    state.registry.revoke_mandate(mandate_id, end=end_of(end, language(request)), party=p.org_ref)
    return RedirectResponse("/org?saved=1#mandates", status_code=303)


# -- tariffs ------------------------------------------------------------------------------------------------

# The form's fields, each the tariff document's field it fills, with the words the page shows for it.
FIELD_WORDS = {
    "currency": N_("Currency"),
    "model": N_("Price model"),
    **{
        f"per_work.{m}": w
        for m, w in zip(MEDIA, (N_("Per text"), N_("Per image"), N_("Per audio"), N_("Per other work")), strict=True)
    },
    "per_work": N_("Price per work"),
    "flat_fee": N_("Flat fee"),
    "revenue_share_percent": N_("Revenue share (%)"),
    "minimum": N_("Minimum"),
    "model_versions": N_("Model versions"),
    "purposes": N_("Purposes"),
    "surcharge_percent": N_("Retroactive surcharge (%)"),
    "note": N_("Note"),
}
_TARIFF_ERROR = re.compile(r"(?:retroactive )?tariff(?: (?P<field>[\w.]+))?: (?P<reason>.*)", re.S)
_REASONS = (
    (re.compile(r"a price needs the tariff's currency"), N_("a price needs the tariff's currency")),
    (re.compile(r"a price cannot be negative"), N_("a price cannot be negative")),
    (re.compile(r"a [\w-]+ tariff needs it"), N_("the chosen price model needs it")),
    (re.compile(r"a revenue-share tariff needs a share above 0"), N_("a revenue-share tariff needs a share above 0")),
    (re.compile(r"'(?P<a>.*)' is not a number"), N_("'{a}' is not a number")),
    (re.compile(r"not an amount: '(?P<a>.*)'"), N_("'{a}' is not an amount")),
    (
        re.compile(r"'(?P<a>.*)' has more decimals than (?P<b>\w+) allows \((?P<c>\d+)\)"),
        N_("'{a}' has more decimals than {b} allows ({c})"),
    ),
    (
        re.compile(r"'(?P<a>.*)' must be 0\.\.(?P<b>\d+) with at most two decimals"),
        N_("'{a}' must be between 0 and {b}, with at most two decimals"),
    ),
    (re.compile(r"give surcharge_percent.*"), N_("give the surcharge (and optionally prices of its own)")),
    (re.compile(r"only a retroactive tariff has a surcharge"), N_("only a retroactive tariff has a surcharge")),
)


def tariff_error(message: str, lang: str) -> dict:
    """A refused tariff's message as ``{"field": form field or None, "text": field words: reason}`` in ``lang``."""
    _ = translations(lang).gettext
    m = _TARIFF_ERROR.fullmatch(message)
    if m is None:
        return {"field": None, "text": message}
    field, reason = m["field"], m["reason"]
    for pattern, words in _REASONS:
        if r := pattern.fullmatch(reason):
            reason = _(words).format(**r.groupdict())
            break
    if field == "per_work" and (media := re.search(r"\['(\w+)'", reason)):
        field = None if media[1] not in MEDIA else f"per_work.{media[1]}"
    if field in FIELD_WORDS:
        return {"field": field, "text": f"{_(FIELD_WORDS[field])}: {reason}"}
    label = _("Tariff")
    return {"field": None, "text": f"{label}: {reason}"}


MONEY_FIELDS = (*(f"per_work.{m}" for m in MEDIA), "flat_fee", "minimum")


def won_amounts(typed: dict) -> dict:
    """The form with its won amounts as digits (``1,000`` won → ``1000``, ``3`` man → ``30000``); a KRW amount
    that is not one raises :class:`PriceError` with the form field it was typed in as ``field``."""
    if str(typed.get("currency") or "").strip().upper() != "KRW":
        return typed
    out = dict(typed)
    for key in MONEY_FIELDS:
        if value := str(typed.get(key) or "").strip():
            try:
                out[key] = str(parse_price(value))
            except PriceError as e:
                e.field = key
                raise
    return out


def tariff_document(form: dict) -> tuple[dict, bool]:
    """The tariff document a submitted form describes (empty fields left out), and whether it is retroactive."""
    retroactive = form.get("kind") == "retroactive"
    doc: dict = {}
    for key in ("currency", "flat_fee", "revenue_share_percent", "minimum", "surcharge_percent", "note"):
        if v := str(form.get(key) or "").strip():
            doc[key] = v.upper() if key == "currency" else v
    if not retroactive or any(form.get(f"per_work.{m}") for m in MEDIA) or form.get("flat_fee"):
        doc["model"] = str(form.get("model") or "per-work")
    if per := {
        m: str(form.get(f"per_work.{m}")).strip() for m in MEDIA if str(form.get(f"per_work.{m}") or "").strip()
    }:
        doc["per_work"] = per
    if versions := [v.strip() for v in str(form.get("model_versions") or "").split(",") if v.strip()]:
        doc["model_versions"] = versions
    if purposes := [x for x in form.get("purposes", []) if x]:
        doc["purposes"] = purposes
    return doc, retroactive


def _tariff_page(request: Request, p: Principal, status: int = 200, **ctx) -> HTMLResponse:
    state = web(request)
    ctx.setdefault(
        "typed", {"kind": "licence", "model": "per-work", "currency": "KRW", "purposes": [x.value for x in Purpose]}
    )
    ctx.setdefault("error", None)
    ctx.setdefault("published", None)
    return render(
        request,
        "org_tariffs.html",
        p,
        status=status,
        tariffs=state.registry.tariffs(p.account.org_id),
        media=MEDIA,
        purposes=[x.value for x in Purpose],
        **ctx,
    )


@pages.get("/org/tariffs", response_class=HTMLResponse)
def org_tariffs(request: Request, p: Caller, published: int | None = None):
    require(p, "org-admin", what="tariffs")
    return _tariff_page(request, p, published=published)


@pages.post("/org/tariffs", response_class=HTMLResponse)
async def org_tariff_publish(request: Request, p: Caller):
    require(p, "org-admin", what="tariffs")
    form = await request.form()
    typed = {k: str(v)[:200] for k, v in form.items() if k not in ("csrf", "purposes") and isinstance(v, str)}
    typed["purposes"] = [str(x)[:40] for x in form.getlist("purposes")]
    lang = language(request)
    try:  # won written as a Korean reader writes them (30,000 won, 3 man won) read as amounts
        doc, retroactive = tariff_document(won_amounts(typed))
    except PriceError as e:
        words = translations(lang).gettext(FIELD_WORDS[e.field])
        return _tariff_page(
            request, p, 422, typed=typed, error={"field": e.field, "text": f"{words}: {e.localised(lang)}"}
        )
    try:
        t = web(request).registry.publish_tariff(p.account.org_id, doc, retroactive=retroactive)
    except InvalidInput as e:
        return _tariff_page(request, p, 422, typed=typed, error=tariff_error(str(e), lang))
    return RedirectResponse(f"/org/tariffs?published={t['id']}", status_code=303)


# -- members' statements ------------------------------------------------------------------------------------


@pages.get("/org/members/{holder_id}/statements", response_class=HTMLResponse)
def member_statements(request: Request, p: Caller, holder_id: int):
    require(p, "org-admin", what="members' statements")
    state = web(request)
    holder = member_of(state, p, holder_id)
    return render(
        request,
        "org_member_statements.html",
        p,
        member=state.registry.find_holder(holder_id),
        statements=dist.statements_of(state.registry, holder),
    )


@pages.get("/org/members/{holder_id}/statements/{run_id}", response_class=HTMLResponse)
def member_statement(request: Request, p: Caller, holder_id: int, run_id: int):
    """A member's statement as the member reads it (the same self-contained document)."""
    require(p, "org-admin", what="members' statements")
    state = web(request)
    st = dist.statement_of(state.registry, run_id, member_of(state, p, holder_id))
    lang = language(request)
    return HTMLResponse(dist.statement_html(st, lang), headers={"Content-Language": lang})


# -- repertoire uploads: received, then checked in a process of their own ----------------------------------


@pages.post("/org/upload", response_class=HTMLResponse)
async def org_upload(request: Request, p: Caller):
    """The upload form: streamed to disk, then checked in a background process; the answer is the check's
    page (progress, then the report and the preview with a store button)."""
    require(p, "org-admin", what="repertoire upload")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    from fairtrain.web.uploads import receive_repertoire

    got = await receive_repertoire(request, state)
    repertoire.queue_check(
        got.folder, org_id=p.account.org_id, source=got.source, sheet=got.sheet, selection=got.selection
    )
    repertoire.start_check_process(state.registry, got.folder)
    return RedirectResponse(f"/org/uploads/{got.folder.name}", status_code=303)


@pages.get("/org/uploads/{upload}", response_class=HTMLResponse)
def org_upload_check(request: Request, p: Caller, upload: str):
    require(p, "org-admin", what="repertoire upload")
    state = web(request)
    folder = state.uploads_dir / upload
    check = repertoire.check_state(folder) if repertoire_uploads.UPLOAD_TOKEN.fullmatch(upload) else None
    if check is None or check["org_id"] != p.account.org_id:
        raise WebError(404, f"upload {upload[:40]!r} not found (already stored, or never received)")
    if check["status"] in ("queued", "running"):
        repertoire.resume_check(state.registry, folder, check)  # its process is gone (a restart): again
        total = check.get("rows_total") or 0
        percent = min(99, 100 * check["rows_done"] // total) if total else 0
        return render(request, "upload_check.html", p, check=check, percent=percent)
    lang = language(request)
    if check["status"] == "done":
        report = {**check["report"], "upload": upload}
        for e in report["errors"]:
            e["reason"] = repertoire.translate_reason(e["reason"], lang)
        return _org_page(request, p, upload=report)
    # refused (the upload as a whole: a ZIP bomb, a path outside, …) or failed
    return _org_page(request, p, upload={"file": check["source"], "refused": check.get("error"), "errors": []})


class NewMandate(BaseModel):
    org_id: int = Field(ge=1, le=2**31 - 1)
    categories: list[CategoryName] = Field(min_length=1)


class Resolve(BaseModel):
    keep: Literal["existing", "claim", "both"]
    note: str = Field(default="", max_length=1000)


class MandateConfirm(BaseModel):
    token: str | None = Field(
        default=None,
        max_length=200,
        description="the invitation's single-use token; without it, the signed-in holder confirms",
    )


class MandateRevoke(BaseModel):
    end: str | None = Field(default=None, max_length=40, description="ISO date or date-time; default now")


@api.get("/orgs", tags=["organisations"])
def list_orgs(request: Request) -> list[dict]:
    return [{k: o[k] for k in ("id", "ref", "name", "country")} for o in web(request).registry.list_orgs()]


@api.get("/mandates", tags=["organisations"])
def list_mandates(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", "org-admin", what="mandates")
    reg = web(request).registry
    if p.holder_ref:
        return reg.mandates(holder_id=p.account.holder_id)
    return reg.mandates(org_id=p.account.org_id)


@api.post("/mandates", status_code=201, tags=["organisations"])
def grant_mandate(body: NewMandate, request: Request, p: Caller) -> dict:
    """A creator mandates an organisation to declare and license for the given categories."""
    require(p, "creator", what="granting a mandate")
    return portfolio.give_mandate(web(request).registry, p.account.holder_id, body.org_id, list(body.categories))


def _mandate_party(state, p: Principal, mandate_id: int) -> str:
    """The caller as a party of the mandate (its holder or its organisation's admin)."""
    require(p, "creator", "org-admin", what="mandates")
    m = state.registry.mandate(mandate_id)
    me = p.holder_ref or p.org_ref
    if me not in (m["holder"], m["org"]):
        raise WebError(404, f"no mandate {mandate_id} of yours")
    return me


@api.get("/mandates/{mandate_id}", tags=["organisations"])
def show_mandate(mandate_id: Id, request: Request, p: Caller) -> dict:
    state = web(request)
    _mandate_party(state, p, mandate_id)
    return state.registry.mandate(mandate_id)


@api.post("/mandates/{mandate_id}/confirm", tags=["organisations"])
def confirm_mandate(mandate_id: Id, request: Request, p: Caller, body: MandateConfirm | None = None) -> dict:
    """The holder consents to a pending mandate: signed in as the holder, or anyone holding the single-use
    token of the invitation (the e-mailed link). It counts from now on."""
    state = web(request)
    if body is not None and body.token:
        _limit(state, "sign_in_per_client", f"mandate-confirm:{_client(request)}", "mandate confirmations")
        return state.registry.confirm_mandate(mandate_id, token=body.token)
    require(p, "creator", what="confirming a mandate without its link")
    return state.registry.confirm_mandate(mandate_id, holder=p.holder_ref)


@api.post("/mandates/{mandate_id}/invite", tags=["organisations"])
def invite_mandate(mandate_id: Id, request: Request, p: Caller) -> dict:
    """The organisation issues the holder's single-use confirmation link (an earlier one stops working) and
    sends it: by e-mail where SMTP is configured (``sent``; else ``reason``), in the app where she has an account."""
    require(p, "org-admin", what="mandate invitations")
    out = _invite(request, p, mandate_id)
    return {**out, "token": out["link"].split("token=", 1)[1]}


@api.post("/mandates/{mandate_id}/paper", tags=["organisations"])
async def attach_mandate_paper(
    mandate_id: Id, request: Request, p: Caller, file: Annotated[UploadFile, File()]
) -> dict:
    """The organisation attaches the holder's signed paper mandate (stored by its SHA-256, logged)."""
    require(p, "org-admin", what="signed paper mandates")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        state.registry.attach_mandate_paper, mandate_id, file.file, state.data_dir, party=p.org_ref
    )


@api.post("/mandates/{mandate_id}/revoke", tags=["organisations"])
def revoke_mandate(mandate_id: Id, request: Request, p: Caller, body: MandateRevoke | None = None) -> dict:
    """The holder or the organisation ends a mandate (now, or at a later end date); its history stays."""
    state = web(request)
    party = _mandate_party(state, p, mandate_id)
    end = None
    if body is not None and body.end:
        from datetime import UTC, datetime

        try:
            end = datetime.fromisoformat(body.end)
        except ValueError:
            raise WebError(422, f"end {body.end!r}: expected an ISO date or date-time") from None
        end = end if end.tzinfo else end.replace(tzinfo=UTC)
    return state.registry.revoke_mandate(mandate_id, end=end, party=party)


@api.get("/org/members", tags=["organisations"])
def org_members(request: Request, p: Caller) -> list[dict]:
    require(p, "org-admin", what="members")
    return portfolio.members(web(request).registry, p.account.org_id)


def _import_csv(state, p: Principal, file_name: str, data: bytes, skip_invalid: bool) -> dict:
    """Validate (and, if clean or ``skip_invalid``, store) an uploaded repertoire CSV (no ``file`` column)."""
    return repertoire_uploads.import_csv_upload(
        state.registry, state.uploads_dir, state.data_dir, p.account.org_id, file_name, data, skip_invalid
    )


def _store(request: Request, p: Principal, upload: str) -> dict:
    """Store a checked upload as a background job (a process of its own); the job's state. With SMTP
    configured, the holders it first names with an address are e-mailed invitations (links to this site)."""
    state = web(request)
    origin = str(request.base_url).rstrip("/")
    return repertoire_uploads.store_upload(
        state.registry, state.uploads_dir, p.account.org_id, upload, mailer=state.mailer, origin=origin
    )


def _resolve(request: Request, p: Principal, dispute_id: int, keep: str, note: str) -> dict:
    """An organisation resolves disputes between works of its own repertoire; others go to the registry."""
    state = web(request)
    r = portfolio.resolve_within_repertoire(
        state.registry, p.account.org_id, p.org_ref, dispute_id, keep=keep, note=note
    )
    wake_mailer(state)
    return r


@api.post("/org/import", tags=["organisations"])
async def import_repertoire(
    request: Request, p: Caller, file: Annotated[UploadFile, File()], skip_invalid: Annotated[bool, Form()] = False
) -> dict:
    """Validate the whole CSV first; nothing is stored if a row is bad (unless ``skip_invalid``)."""
    require(p, "org-admin", what="repertoire import")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    name, data = await read_upload(file, "upload.csv")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(_import_csv, state, p, name, data, skip_invalid)


@api.post("/org/upload", tags=["organisations"])
async def upload_repertoire(request: Request, p: Caller) -> dict:
    """A repertoire as the office keeps it, streamed to disk: multipart field ``file`` (a ZIP of one sheet
    and the works' files, or a CSV, tab-separated text or XLSX sheet) and optionally ``files`` (the works'
    files, named in the sheet by their name). Every problem of files and rows in one report, with the
    sheet's encoding and what storing would create, update and dispute; nothing is stored. Store it with
    ``POST /api/org/upload/{upload}/store``. Session callers put the CSRF token in the query (``?csrf=``)."""
    require(p, "org-admin", what="repertoire upload")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    from starlette.concurrency import run_in_threadpool

    from fairtrain.web.uploads import receive_repertoire

    got = await receive_repertoire(request, state)
    report = await run_in_threadpool(
        repertoire_uploads.check_upload,
        state.registry,
        p.account.org_id,
        got.folder,
        got.source,
        got.sheet,
        selection=got.selection,
    )
    return {**report, "files_received": len(got.files)}


@api.post("/org/upload/{upload}/store", status_code=202, tags=["organisations"])
def store_repertoire(request: Request, p: Caller, upload: Annotated[str, Path(max_length=64)]) -> dict:
    """Store a checked upload as a background job; follow it at ``GET /api/org/jobs/{id}``."""
    require(p, "org-admin", what="repertoire import")
    return _store(request, p, upload)


@api.get("/org/jobs/{job_id}", tags=["organisations"])
def import_job(request: Request, p: Caller, job_id: int) -> dict:
    """An import job's state: status, rows stored of the total, counts so far."""
    require(p, "org-admin", what="import jobs")
    return repertoire.job(web(request).registry, job_id, org_id=p.account.org_id)


@api.get("/org/template.{kind}", tags=["organisations"])
def repertoire_template(kind: Literal["csv", "xlsx"], lang: Literal["en", "ko"] = "en") -> Response:
    """An empty repertoire sheet with one example row (Korean headers with ``lang=ko``)."""
    from fairtrain.services.registry.repertoire import template

    media = (
        "text/csv; charset=utf-8"
        if kind == "csv"
        else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    return Response(
        template(kind, lang),
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="repertoire-template-{lang}.{kind}"'},
    )


@api.post("/disputes/{dispute_id}/resolve", tags=["organisations"])
def resolve(dispute_id: Id, body: Resolve, request: Request, p: Caller) -> dict:
    require(p, "org-admin", what="resolving disputes")
    return _resolve(request, p, dispute_id, body.keep, body.note)


def _org_page(request: Request, p: Principal, **ctx) -> HTMLResponse:
    from fairtrain.services.registry.repertoire import guide

    state = web(request)
    ctx.setdefault("saved", False)
    ctx.setdefault("report", None)
    ctx.setdefault("upload", None)
    ctx.setdefault("policy_error", None)
    policy = ctx.pop("policy", None) or _policy_form(state, p)  # a refused policy form shows what was typed
    return render(
        request,
        "org.html",
        p,
        status=ctx.pop("status", 200),
        members=portfolio.members(state.registry, p.account.org_id),
        works=portfolio.works(state.registry, **owner(p), limit=100),
        disputes=portfolio.disputes(state.registry, **owner(p)),
        policy=policy,
        guide=guide(),
        jobs=repertoire.jobs(state.registry, p.account.org_id),
        **ctx,
    )


@pages.get("/org", response_class=HTMLResponse)
def org(request: Request, p: Caller, saved: bool = False):
    require(p, "org-admin", what="the organisation page")
    return _org_page(request, p, saved=saved)


@pages.post("/org/upload/{upload}/store")
def org_upload_store(request: Request, p: Caller, upload: str):
    require(p, "org-admin", what="repertoire import")
    job = _store(request, p, upload)
    return RedirectResponse(f"/org/jobs/{job['id']}", status_code=303)


@pages.get("/org/jobs/{job_id}", response_class=HTMLResponse)
def org_job(request: Request, p: Caller, job_id: int):
    require(p, "org-admin", what="import jobs")
    return render(
        request, "import_job.html", p, job=repertoire.job(web(request).registry, job_id, org_id=p.account.org_id)
    )


@pages.post("/org/import", response_class=HTMLResponse)
async def org_import(request: Request, p: Caller):
    state, form = await upload_form(request, p, "org-admin", "repertoire import")
    name, data = await form_file(form, "file", "repertoire import: choose a CSV file", "upload.csv")
    from starlette.concurrency import run_in_threadpool

    report = await run_in_threadpool(_import_csv, state, p, name, data, form.get("skip_invalid") == "1")
    return _org_page(request, p, report=report)


@pages.post("/org/disputes/{dispute_id}/resolve")
def org_resolve(
    request: Request, p: Caller, dispute_id: int, keep: Annotated[str, Form()], note: Annotated[str, Form()] = ""
):
    require(p, "org-admin", what="resolving disputes")
    _resolve(request, p, dispute_id, keep, note)
    return RedirectResponse("/org", status_code=303)
