"""The JSON API (``/api/...``); its OpenAPI document is ``/openapi.json``. More routers drop in beside it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from fairtrain.core.errors import said
from fairtrain.core.vocab import Level
from fairtrain.web import ops
from fairtrain.web.accounts import AccountError
from fairtrain.web.deps import language, principal, require, web
from fairtrain.web.errors import WebError
from fairtrain.web.security import SESSION_COOKIE, SESSION_MAX_AGE, Principal, client_address

router = APIRouter(prefix="/api")
Caller = Annotated[Principal, Depends(principal)]
CategoryName = Literal["tdm", "train-ai", "train-genai", "ai-input", "search"]
ValueName = Literal["allow", "deny", "licence", "inherit"]


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


class Policy(BaseModel):
    """Per category: allow, deny, licence (needs price and currency) or inherit (withdraw)."""

    values: dict[CategoryName, ValueName]
    price: str | None = Field(default=None, max_length=30, description="major units, e.g. 25000 or 12.50")
    currency: str | None = Field(default=None, max_length=3, description="ISO 4217, e.g. KRW")
    price_model: Literal["per-work", "flat-fee", "revenue-share"] = "per-work"


class NewMandate(BaseModel):
    org_id: int = Field(ge=1, le=2**31 - 1)
    categories: list[CategoryName] = Field(min_length=1)


class Resolve(BaseModel):
    keep: Literal["existing", "claim", "both"]
    note: str = Field(default="", max_length=1000)


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


@router.post("/auth/signup", status_code=201, tags=["accounts"])
def sign_up(body: SignUp, request: Request, response: Response, p: Caller) -> dict:
    state = web(request)
    _limit(state, "sign_up_per_client", _client(request), "sign-up")
    account = state.accounts.sign_up(
        email=body.email, password=body.password, role=body.role, name=body.name, country=body.country
    )
    return {"user": account.to_dict(), "csrf": start_session(state, response, account.id)}


@router.post("/auth/signin", tags=["accounts"])
def sign_in(body: SignIn, request: Request, response: Response, p: Caller) -> dict:
    state = web(request)
    _limit(state, "sign_in_per_client", _client(request), "sign-in")
    _limit(state, "sign_in_per_email", body.email.strip().lower(), "sign-in")
    try:
        account = state.accounts.authenticate(body.email, body.password)
    except AccountError as e:
        raise WebError(401, str(e)) from None
    return {"user": account.to_dict(), "csrf": start_session(state, response, account.id)}


@router.post("/auth/signout", tags=["accounts"])
def sign_out(request: Request, response: Response, p: Caller) -> dict:
    end_session(web(request), response, p)
    return {"signed_out": True}


@router.post("/auth/signout-everywhere", tags=["accounts"])
def sign_out_everywhere(request: Request, response: Response, p: Caller) -> dict:
    """End every session of the account, on every browser (API keys are revoked one by one)."""
    require(p, what="signing out everywhere")
    ended = web(request).accounts.end_sessions(p.account)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"signed_out": True, "sessions_ended": ended}


class NewPassword(BaseModel):
    current_password: str = Field(max_length=1024)
    new_password: str = Field(max_length=1024)


@router.post("/auth/password", tags=["accounts"])
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


@router.get("/me", tags=["accounts"])
def me(p: Caller) -> dict:
    require(p, what="/api/me")
    return {"user": p.account.to_dict(), "via": p.via, "scopes": sorted(p.scopes), "csrf": p.csrf}


@router.get("/keys", tags=["accounts"])
def list_keys(request: Request, p: Caller) -> list[dict]:
    require(p, what="API keys")
    return web(request).accounts.keys(p.account)


@router.post("/keys", status_code=201, tags=["accounts"])
def create_key(body: NewKey, request: Request, p: Caller) -> dict:
    require(p, what="API keys")
    if p.via == "key":
        raise WebError(403, "API keys: create keys from a signed-in session, not with another key")
    return web(request).accounts.create_key(p.account, name=body.name, scopes=body.scopes)


@router.delete("/keys/{key_id}", tags=["accounts"])
def revoke_key(key_id: Id, request: Request, p: Caller) -> dict:
    require(p, what="API keys")
    return web(request).accounts.revoke_key(p.account, key_id)


# -- works and declarations --------------------------------------------------------------------------


@router.post("/works", status_code=201, tags=["works"])
async def upload_works(
    request: Request,
    p: Caller,
    files: Annotated[list[UploadFile], File()],
    titles: Annotated[list[str] | None, Form()] = None,
) -> dict:
    """Register files as works of the signed-in creator; fingerprints are computed on the server."""
    require(p, "creator", what="uploading works")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    if len(files) > state.limits.max_files:
        raise WebError(413, f"uploads: at most {state.limits.max_files} files per request, got {len(files)}")
    blobs = [await read_upload(f) for f in files]
    import asyncio

    from starlette.concurrency import run_in_threadpool

    lang = language(request)
    registered = await asyncio.gather(*(ops.register_upload(state, name, data, lang) for name, data in blobs))
    results = await run_in_threadpool(ops.add_works, state, p, blobs, titles, registered, lang)
    return {"results": results, "stored": sum(r["ok"] for r in results), "failed": sum(not r["ok"] for r in results)}


@router.get("/works", tags=["works"])
def my_works(
    request: Request,
    p: Caller,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=2**31)] = 0,
) -> list[dict]:
    require(p, "creator", "org-admin", what="works")
    return ops.works_of(web(request), p, limit=limit, offset=offset)


@router.get("/works/{work}", tags=["works"])
def show_work(work: WorkRef, request: Request, p: Caller, org: OrgScope = None) -> dict:
    return web(request).registry.work(_work_id(request, work, org))


@router.get("/works/{work}/decision", tags=["decisions"])
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
    return ops.decision(web(request), work_id, category, licensee, purpose)


@router.get("/works/{work}/policy", tags=["declarations"])
def work_policy(work: WorkRef, request: Request, p: Caller, org: OrgScope = None) -> dict:
    return ops.policy_view(web(request), Level.WORK, _work_id(request, work, org))


@router.put("/works/{work}/policy", tags=["declarations"])
def declare_work(work: WorkRef, body: Policy, request: Request, p: Caller, org: OrgScope = None) -> dict:
    require(p, "creator", "org-admin", what="declaring")
    return ops.declare(
        web(request),
        p,
        Level.WORK,
        _work_id(request, work, org),
        dict(body.values),
        ops.parse_offer(body.price, body.currency, body.price_model),
    )


@router.get("/policy", tags=["declarations"])
def my_policy(request: Request, p: Caller) -> dict:
    """The caller's catalogue (creator) or repertoire (organisation) policy, and whether it was declared."""
    require(p, "creator", "org-admin", what="policy")
    level, target, party = ops.party_for(web(request), p, Level.CATALOGUE, None)
    return {
        "level": level.value,
        "party": party,
        "declared": ops.has_declared(web(request), level, target),
        "policy": ops.policy_view(web(request), level, target),
    }


@router.put("/policy", tags=["declarations"])
def declare_policy(body: Policy, request: Request, p: Caller) -> dict:
    require(p, "creator", "org-admin", what="declaring")
    return ops.declare(
        web(request),
        p,
        Level.CATALOGUE,
        None,
        dict(body.values),
        ops.parse_offer(body.price, body.currency, body.price_model),
    )


def _kit_response(policy, files) -> Response:
    return Response(
        ops.kit_zip(files),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="fairtrain-signal-kit.zip"',
            "X-Policy-Digest": policy.digest,
        },
    )


@router.get(
    "/kit",
    tags=["signals"],
    response_class=Response,
    responses={200: {"content": {"application/zip": {}}, "description": "the signal kit"}},
)
def my_kit(
    request: Request,
    p: Caller,
    site: Annotated[str, Query(max_length=300)],
    contact: Annotated[str | None, Query(max_length=320)] = None,
) -> Response:
    """Every signal rendered from the caller's catalogue or repertoire policy, as a zip."""
    require(p, "creator", "org-admin", what="signal kit")
    return _kit_response(*ops.kit(web(request), p, Level.CATALOGUE, None, site, contact, str(request.base_url)))


@router.get(
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
        *ops.kit(web(request), p, Level.WORK, _work_id(request, work, org), site, contact, str(request.base_url))
    )


# -- organisations -----------------------------------------------------------------------------------


@router.get("/orgs", tags=["organisations"])
def list_orgs(request: Request) -> list[dict]:
    return ops.orgs(web(request))


@router.get("/mandates", tags=["organisations"])
def list_mandates(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", "org-admin", what="mandates")
    reg = web(request).registry
    if p.holder_ref:
        return reg.mandates(holder_id=p.account.holder_id)
    return reg.mandates(org_id=p.account.org_id)


@router.post("/mandates", status_code=201, tags=["organisations"])
def grant_mandate(body: NewMandate, request: Request, p: Caller) -> dict:
    """A creator mandates an organisation to declare and license for the given categories."""
    require(p, "creator", what="granting a mandate")
    return ops.grant_mandate(web(request), p, body.org_id, list(body.categories))


class MandateConfirm(BaseModel):
    token: str | None = Field(
        default=None,
        max_length=200,
        description="the invitation's single-use token; without it, the signed-in holder confirms",
    )


class MandateRevoke(BaseModel):
    end: str | None = Field(default=None, max_length=40, description="ISO date or date-time; default now")


def _mandate_party(state, p: Principal, mandate_id: int) -> str:
    """The caller as a party of the mandate (its holder or its organisation's admin)."""
    require(p, "creator", "org-admin", what="mandates")
    m = state.registry.mandate(mandate_id)
    me = p.holder_ref or p.org_ref
    if me not in (m["holder"], m["org"]):
        raise WebError(404, f"no mandate {mandate_id} of yours")
    return me


@router.get("/mandates/{mandate_id}", tags=["organisations"])
def show_mandate(mandate_id: Id, request: Request, p: Caller) -> dict:
    state = web(request)
    _mandate_party(state, p, mandate_id)
    return state.registry.mandate(mandate_id)


@router.post("/mandates/{mandate_id}/confirm", tags=["organisations"])
def confirm_mandate(mandate_id: Id, request: Request, p: Caller, body: MandateConfirm | None = None) -> dict:
    """The holder consents to a pending mandate: signed in as the holder, or anyone holding the single-use
    token of the invitation (the e-mailed link). It counts from now on."""
    state = web(request)
    if body is not None and body.token:
        _limit(state, "sign_in_per_client", f"mandate-confirm:{_client(request)}", "mandate confirmations")
        return state.registry.confirm_mandate(mandate_id, token=body.token)
    require(p, "creator", what="confirming a mandate without its link")
    return state.registry.confirm_mandate(mandate_id, holder=p.holder_ref)


@router.post("/mandates/{mandate_id}/invite", tags=["organisations"])
def invite_mandate(mandate_id: Id, request: Request, p: Caller) -> dict:
    """The organisation issues the holder's single-use confirmation link (an earlier one stops working) and
    sends it: by e-mail where SMTP is configured (``sent``; else ``reason``), in the app where she has an account."""
    from fairtrain.services.registry.mandate_invites import send_invitation

    require(p, "org-admin", what="mandate invitations")
    state = web(request)
    if state.registry.mandate(mandate_id)["org"] != p.org_ref:  # before the limit: no one else spends it
        raise said(
            WebError(403, f"{p.org_ref} may not invite for mandate {mandate_id}: it is another organisation's"),
            "Mandate {id}: only its organisation sends its invitation.",
            id=mandate_id,
        )
    _limit(state, "mandate_invites_per_mandate", f"mandate:{mandate_id}", f"mandate {mandate_id}: invitations")
    out = send_invitation(
        state.registry, mandate_id, party=p.org_ref, origin=str(request.base_url).rstrip("/"), mailer=state.mailer
    )
    return {**out, "token": out["link"].split("token=", 1)[1]}


@router.post("/mandates/{mandate_id}/paper", tags=["organisations"])
async def attach_mandate_paper(
    mandate_id: Id, request: Request, p: Caller, file: Annotated[UploadFile, File()]
) -> dict:
    """The organisation attaches the holder's signed paper mandate (stored by its SHA-256, logged)."""
    require(p, "org-admin", what="signed paper mandates")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(
        state.registry.attach_mandate_paper, mandate_id, file.file, state.data_dir, party=p.org_ref
    )


@router.post("/mandates/{mandate_id}/revoke", tags=["organisations"])
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


@router.get("/org/members", tags=["organisations"])
def org_members(request: Request, p: Caller) -> list[dict]:
    require(p, "org-admin", what="members")
    return ops.members(web(request), p)


@router.post("/org/import", tags=["organisations"])
async def import_repertoire(
    request: Request, p: Caller, file: Annotated[UploadFile, File()], skip_invalid: Annotated[bool, Form()] = False
) -> dict:
    """Validate the whole CSV first; nothing is stored if a row is bad (unless ``skip_invalid``)."""
    require(p, "org-admin", what="repertoire import")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    name, data = await read_upload(file, "upload.csv")
    from starlette.concurrency import run_in_threadpool

    return await run_in_threadpool(ops.import_upload, state, p, name, data, skip_invalid)


@router.post("/org/upload", tags=["organisations"])
async def upload_repertoire(request: Request, p: Caller) -> dict:
    """A repertoire as the office keeps it, streamed to disk: multipart field ``file`` (a ZIP of one sheet
    and the works' files, or a CSV, tab-separated text or XLSX sheet) and optionally ``files`` (the works'
    files, named in the sheet by their name). Every problem of files and rows in one report, with the
    sheet's encoding and what storing would create, update and dispute; nothing is stored. Store it with
    ``POST /api/org/upload/{upload}/store``. Session callers put the CSRF token in the query (``?csrf=``)."""
    require(p, "org-admin", what="repertoire upload")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    from starlette.concurrency import run_in_threadpool

    from fairtrain.web.uploads import receive

    got = await receive(
        request,
        state.uploads_dir,
        max_file_bytes=state.limits.max_import_bytes,
        max_files=state.limits.max_import_files,
    )
    return await run_in_threadpool(ops.repertoire_upload, state, p, got)


@router.post("/org/upload/{upload}/store", status_code=202, tags=["organisations"])
def store_repertoire(request: Request, p: Caller, upload: Annotated[str, Path(max_length=64)]) -> dict:
    """Store a checked upload as a background job; follow it at ``GET /api/org/jobs/{id}``."""
    require(p, "org-admin", what="repertoire import")
    return ops.repertoire_store(web(request), p, upload, origin=str(request.base_url).rstrip("/"))


@router.get("/org/jobs/{job_id}", tags=["organisations"])
def import_job(request: Request, p: Caller, job_id: int) -> dict:
    """An import job's state: status, rows stored of the total, counts so far."""
    require(p, "org-admin", what="import jobs")
    return ops.import_job(web(request), p, job_id)


@router.get("/org/template.{kind}", tags=["organisations"])
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


@router.get("/disputes", tags=["organisations"])
def list_disputes(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", "org-admin", what="disputes")
    return ops.disputes_for(web(request), p)


@router.post("/disputes/{dispute_id}/resolve", tags=["organisations"])
def resolve(dispute_id: Id, body: Resolve, request: Request, p: Caller) -> dict:
    require(p, "org-admin", what="resolving disputes")
    return ops.resolve_dispute(web(request), p, dispute_id, body.keep, body.note)


# -- developers: output checks -------------------------------------------------------------------


@router.post("/outputs/check", tags=["transparency"])
async def check_outputs(
    request: Request,
    p: Caller,
    files: Annotated[list[UploadFile], File()],
    snapshot: Annotated[str, Form(max_length=200)],
) -> dict:
    """Match a batch of generated text, images, audio or video against a published snapshot: near-verbatim
    reproductions with the matched work, the evidence and a score, and attribution weights per work."""
    require(p, "developer", what="checking model outputs")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    if len(files) > state.limits.max_files:
        raise WebError(413, f"outputs: at most {state.limits.max_files} files per request, got {len(files)}")
    snap_dir = ops.snapshot_file(state, snapshot, "manifest.json").parent  # 404 unless published
    blobs = [await read_upload(f, "output") for f in files]
    # matching fingerprints the outputs: in the application's worker processes (CpuError answers 4xx/503)
    return await state.cpu.run(
        "outputs", sum(len(d) for _, d in blobs), ops.check_outputs, snap_dir, blobs, state.registry_keys
    )


# -- public: registry search, the log (snapshots: web/snapshots.py) -----------------------------------------------------


@router.get("/registry/search", tags=["public"])
def search(
    request: Request,
    response: Response,
    q: Annotated[str, Query(max_length=300, description="title, holder, work_ref, ISWC/ISRC/ISBN")] = "",
    title: Annotated[str, Query(max_length=300, description="the older name for q")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[int, Query(ge=0, lt=2**63, description="the last work id of the previous page")] = 0,
) -> list[dict]:
    """One page of works in work order; the next page's URL is in the ``Link`` header (rel="next")."""
    query = q or title
    page = ops.search(web(request), query, limit=limit, after=after)
    if page["next_after"] is not None:
        nxt = request.url.include_query_params(q=page["query"], after=page["next_after"]).remove_query_params("title")
        response.headers["Link"] = f'<{nxt}>; rel="next"'
    return page["results"]


@router.get("/log", tags=["public"])
def log_head(request: Request) -> dict:
    return ops.log_head(web(request))


@router.get("/log/entries", tags=["public"])
def log_entries(
    request: Request, start: Annotated[int, Query(ge=0, le=2**62)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict]:
    return ops.log_entries(web(request), start, limit)


@router.get("/log/proof/{index}", tags=["public"])
def log_proof(
    index: Annotated[int, Path(ge=0, le=2**62)],
    request: Request,
    size: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict:
    return ops.log_proof(web(request), index, size)


@router.get("/log/consistency", tags=["public"])
def log_consistency(
    request: Request,
    old: Annotated[int, Query(ge=0, le=2**62)],
    new: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict:
    return ops.log_consistency(web(request), old, new)
