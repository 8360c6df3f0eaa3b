"""Server-rendered pages (Jinja2, no build step) for creators, organisations, developers and the public."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from fairtrain.core.documents import environment
from fairtrain.core.errors import FairtrainError, localised
from fairtrain.core.i18n import N_, format_money, format_share, format_when
from fairtrain.core.labels import word
from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Level
from fairtrain.services.notify import KEYS
from fairtrain.web import dispute_ops, ops
from fairtrain.web.accounts import AccountError
from fairtrain.web.api import _client, _limit, end_session, read_upload, start_session
from fairtrain.web.deps import language, principal, require, web
from fairtrain.web.errors import WebError, refusal
from fairtrain.web.i18n import LANG_COOKIE, LANGUAGE_NAMES, LANGUAGES, translations
from fairtrain.web.security import PUBLIC, Principal, local_path

router = APIRouter(include_in_schema=False)
Caller = Annotated[Principal, Depends(principal)]
_env = environment(Path(__file__).parent / "templates")
CATEGORIES = [c.value for c in Category]
STATUS_WORDS = {"active": N_("Registered"), "disputed": N_("Disputed"), "rejected": N_("Rejected")}


def render(request: Request, template: str, p: Principal = PUBLIC, status: int = 200, **ctx) -> HTMLResponse:
    if p.holder_ref and "bell" not in ctx:  # a creator's unread notices, beside the menu on every page
        ctx["bell"] = dispute_ops.bell(web(request), p)
    lang = language(request)
    t = translations(lang)
    html = _env.get_template(template).render(
        _=t.gettext,
        lang=lang,
        languages=LANGUAGES,
        language_names=LANGUAGE_NAMES,
        me=p,
        path=request.url.path,
        next_url=quote(_here(request, p), safe=""),
        categories=CATEGORIES,
        word=lambda code, kind: word(code, kind, lang),
        when=lambda value: format_when(value, lang),
        share=lambda s: format_share(s, lang),
        money=lambda amount, currency=None: _money(amount, currency, lang),
        **ctx,
    )
    return HTMLResponse(html, status_code=status, headers={"Content-Language": lang})


def _money(amount, currency: str | None, lang: str) -> str:
    """A money dict (``{"currency", "minor"}``) or a major amount and its currency, as the reader writes it."""
    if isinstance(amount, dict):
        m = Money.from_dict(amount)
        return format_money(m.major_str(), m.currency, lang)
    return format_money(amount, currency, lang) if currency and amount not in (None, "") else ""


def _here(request: Request, p: Principal) -> str:
    """Where the language switch returns to: this page, or for a form's result page the caller's home."""
    if request.method != "GET":
        return _home_for(p)
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def render_error(request: Request, status: int, message: str, p: Principal = PUBLIC) -> HTMLResponse:
    """The error page, with the menu of whoever is signed in (``p``)."""
    return render(request, "error.html", p, status=status, status_code=status, message=message)


def _home_for(p: Principal) -> str:
    return {"creator": "/creator", "org-admin": "/org", "developer": "/developer"}.get(p.role, "/")


@router.get("/", response_class=HTMLResponse)
def home(request: Request, p: Caller):
    return render(request, "home.html", p)


@router.get("/lang/{code}")
def set_language(code: str, next: str = "/"):
    if code not in LANGUAGES:
        raise WebError(404, f"no language {code!r} (choose {', '.join(LANGUAGES)})")
    target = local_path(next) or "/"
    r = RedirectResponse(target, status_code=303)
    r.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return r


@router.get("/signup", response_class=HTMLResponse)
def signup_page(request: Request, p: Caller, role: str = "creator", next: str = ""):
    return render(request, "signup.html", p, role=role, error=None, form={}, next=local_path(next))


@router.post("/signup")
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
    state = web(request)
    try:
        _limit(state, "sign_up_per_client", _client(request), "sign-up")
        account = state.accounts.sign_up(email=email, password=password, role=role, name=name, country=country or None)
    except (AccountError, WebError) as e:
        return render(
            request,
            "signup.html",
            p,
            status=getattr(e, "status", 400),
            role=role,
            error=localised(e, language(request)),
            form={"email": email, "name": name, "country": country},
            next=local_path(next),
        )
    r = RedirectResponse(local_path(next) or _home_for(Principal(account)), status_code=303)
    start_session(state, r, account.id)
    return r


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, p: Caller, next: str = ""):
    return render(request, "signin.html", p, error=None, email="", next=local_path(next))


@router.post("/signin")
def signin(
    request: Request,
    p: Caller,
    email: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "",
):
    state = web(request)
    try:
        _limit(state, "sign_in_per_client", _client(request), "sign-in")
        _limit(state, "sign_in_per_email", email.strip().lower(), "sign-in")
        account = state.accounts.authenticate(email, password)
    except (AccountError, WebError) as e:
        return render(
            request,
            "signin.html",
            p,
            status=getattr(e, "status", 400),
            error=localised(e, language(request)),
            email=email,
            next=local_path(next),
        )
    r = RedirectResponse(local_path(next) or _home_for(Principal(account)), status_code=303)
    start_session(state, r, account.id)
    return r


@router.post("/signout")
def signout(request: Request, p: Caller):
    r = RedirectResponse("/", status_code=303)
    end_session(web(request), r, p)
    return r


# -- creators and organisations ----------------------------------------------------------------------


def _policy_form(state, p: Principal) -> dict:
    level, target, party = ops.party_for(state, p, Level.CATALOGUE, None)
    declared = ops.has_declared(state, level, target)
    current = ops.policy_view(state, level, target)
    values = {c: v["value"] for c, v in current.items()} if declared else dict(ops.DEFAULT_POLICY)
    first = next((o for v in current.values() for o in v["offers"]), None)
    offer = (
        {"price": Money.from_dict(first["price"]).major_str(), "currency": first["price"]["currency"]}
        if first
        else None
    )
    return {"declared": declared, "values": values, "offer": offer, "party": party}


def _creator_page(
    request: Request,
    p: Principal,
    state,
    *,
    saved: bool = False,
    status: int = 200,
    policy: dict | None = None,
    **extra,
) -> HTMLResponse:
    orgs = ops.orgs(state)
    return render(
        request,
        "creator.html",
        p,
        status=status,
        works=ops.works_of(state, p),
        org_names={o["ref"]: o["name"] for o in orgs},
        policy=policy or _policy_form(state, p),
        saved=saved,
        orgs=orgs,
        mandates=state.registry.mandates(holder_id=p.account.holder_id),
        disputes=ops.disputes_for(state, p),
        bell=dispute_ops.bell(state, p),
        **{"policy_error": None, "mandate_error": None, **extra},
    )


@router.get("/creator", response_class=HTMLResponse)
def creator(request: Request, p: Caller, saved: bool = False):
    require(p, "creator", what="the creator page")
    return _creator_page(request, p, web(request), saved=saved)


def _typed_policy(form) -> dict:
    """What the policy form held when it was sent, to show it again beside the error."""
    values = {c: str(form.get(f"v_{c}")) for c in CATEGORIES if form.get(f"v_{c}")}
    price = str(form.get("price") or "").strip()
    return {
        "declared": True,
        "values": values,
        "party": None,
        "offer": {
            "price": price,
            "currency": str(form.get("currency") or ""),
            "model": str(form.get("price_model") or ""),
        },
    }


async def declare_from_form(
    request: Request, p: Principal, form, level: Level = Level.CATALOGUE, work_id: int | None = None
) -> None:
    """The policy form (``_policy.html``) declared at the catalogue's level or one work's."""
    values = {c: str(form.get(f"v_{c}")) for c in CATEGORIES if form.get(f"v_{c}")}
    price = str(form.get("price") or "").strip()
    if not price and "licence" in values.values():
        raise refusal(422, "Price: you chose a paid licence, so write its price (for example 30000 or 30,000).")
    # The currency field is pre-filled: without a price there is no offer.
    offer = (
        ops.parse_offer(price, str(form.get("currency") or ""), str(form.get("price_model") or "") or None)
        if price
        else None
    )
    from starlette.concurrency import run_in_threadpool

    await run_in_threadpool(ops.declare, web(request), p, level, work_id, values, offer)


@router.post("/policy")
async def save_policy(request: Request, p: Caller):
    require(p, "creator", "org-admin", what="declaring")
    form = await request.form()
    try:
        await declare_from_form(request, p, form)
    except FairtrainError as e:  # the form again, as typed, with the reason beside it
        state = web(request)
        status = 422 if e.http_status in (400, 422) else e.http_status  # the form could not be accepted as typed
        if p.role == "creator":
            return _creator_page(
                request,
                p,
                state,
                policy=_typed_policy(form),
                policy_error=localised(e, language(request)),
                status=status,
            )
        return _org_page(
            request, p, policy=_typed_policy(form), policy_error=localised(e, language(request)), status=status
        )
    return RedirectResponse(f"{_home_for(p)}?saved=1", status_code=303)


@router.post("/creator/mandate")
async def creator_mandate(
    request: Request, p: Caller, org_id: Annotated[int, Form()], categories: Annotated[list[str] | None, Form()] = None
):
    require(p, "creator", what="granting a mandate")
    if not categories:
        return _creator_page(
            request,
            p,
            web(request),
            status=422,
            mandate_error=translations(language(request)).gettext(
                "Mandate: tick at least one use that the organisation may decide for you."
            ),
        )
    ops.grant_mandate(web(request), p, org_id, categories)
    return RedirectResponse("/creator", status_code=303)


@router.get("/kit", response_class=HTMLResponse)
def kit_page(
    request: Request,
    p: Caller,
    site: Annotated[str, Query(max_length=300)] = "",
    contact: Annotated[str, Query(max_length=320)] = "",
):
    require(p, "creator", "org-admin", what="the signal kit")
    from fairtrain.core.signals import reservation as rv
    from fairtrain.core.signals.render import HTML_HEAD, STATEMENT_EN, STATEMENT_KO
    from fairtrain.web.reservations import page_path, registry_origin

    state, lang = web(request), language(request)
    origin = registry_origin(request)
    page = origin + page_path("h", p.account.holder_id) if p.holder_ref else None
    files = platform = head = statement = statement_md = None
    if site:
        policy, raw = ops.kit(state, p, Level.CATALOGUE, None, site, contact or None, origin)
        platform = rv.platform_for(site)
        statement_md = raw.pop(STATEMENT_KO if lang == "ko" else STATEMENT_EN).decode("utf-8")
        raw.pop(STATEMENT_EN, None), raw.pop(STATEMENT_KO, None)
        statement = rv.statement_html(statement_md)
        head = raw.pop(HTML_HEAD).decode("utf-8") if HTML_HEAD in raw else None
        files = {k: v.decode("utf-8") for k, v in sorted(raw.items())}
    line = None
    if page:
        from fairtrain.web.reservations import reservation

        line = rv.one_line(reservation(state, "h", p.account.holder_id, origin)[0], page, lang)
    return render(
        request,
        "kit.html",
        p,
        site=site,
        contact=contact,
        files=files,
        platform=platform,
        head=head,
        statement=statement,
        statement_md=statement_md,
        page=page,
        line=line,
        guides=rv.GUIDES,
        download=f"/api/kit?site={quote(site, safe='')}" + (f"&contact={quote(contact, safe='')}" if contact else ""),
    )


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
        members=ops.members(state, p),
        works=ops.works_of(state, p, limit=100),
        disputes=ops.disputes_for(state, p),
        policy=policy,
        guide=guide(),
        jobs=ops.import_jobs(state, p),
        **ctx,
    )


@router.get("/org", response_class=HTMLResponse)
def org(request: Request, p: Caller, saved: bool = False):
    require(p, "org-admin", what="the organisation page")
    return _org_page(request, p, saved=saved)


@router.post("/org/upload/{upload}/store")
def org_upload_store(request: Request, p: Caller, upload: str):
    require(p, "org-admin", what="repertoire import")
    job = ops.repertoire_store(web(request), p, upload, origin=str(request.base_url).rstrip("/"))
    return RedirectResponse(f"/org/jobs/{job['id']}", status_code=303)


@router.get("/org/jobs/{job_id}", response_class=HTMLResponse)
def org_job(request: Request, p: Caller, job_id: int):
    require(p, "org-admin", what="import jobs")
    return render(request, "import_job.html", p, job=ops.import_job(web(request), p, job_id))


async def form_file(form, field: str, missing: str, default_name: str = "upload") -> tuple[str, bytes]:
    """The (name, bytes) of one uploaded file in a submitted form, or a 422 saying what to choose."""
    upload = form.get(field)
    if upload is None or isinstance(upload, str):
        raise WebError(422, missing)
    return await read_upload(upload, default_name)


async def upload_form(request: Request, p: Principal, role: str, what: str):
    """A page's file-upload POST: only for ``role``, within the account's upload limit; (state, form)."""
    require(p, role, what=what)
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    return state, await request.form()


@router.post("/org/import", response_class=HTMLResponse)
async def org_import(request: Request, p: Caller):
    state, form = await upload_form(request, p, "org-admin", "repertoire import")
    name, data = await form_file(form, "file", "repertoire import: choose a CSV file", "upload.csv")
    from starlette.concurrency import run_in_threadpool

    report = await run_in_threadpool(ops.import_upload, state, p, name, data, form.get("skip_invalid") == "1")
    return _org_page(request, p, report=report)


@router.post("/org/disputes/{dispute_id}/resolve")
def org_resolve(
    request: Request, p: Caller, dispute_id: int, keep: Annotated[str, Form()], note: Annotated[str, Form()] = ""
):
    require(p, "org-admin", what="resolving disputes")
    ops.resolve_dispute(web(request), p, dispute_id, keep, note)
    return RedirectResponse("/org", status_code=303)


# -- developers ---------------------------------------------------------------------------------------


@router.get("/developer", response_class=HTMLResponse)
def developer(request: Request, p: Caller):
    require(p, what="the developer page")
    state = web(request)
    return render(
        request, "developer.html", p, keys=state.accounts.keys(p.account), new_key=None, snapshots=ops.snapshots(state)
    )


@router.post("/developer/keys", response_class=HTMLResponse)
def developer_new_key(request: Request, p: Caller, name: Annotated[str, Form()], scopes: Annotated[list[str], Form()]):
    require(p, what="API keys")
    state = web(request)
    new_key = state.accounts.create_key(p.account, name=name, scopes=scopes)
    return render(
        request,
        "developer.html",
        p,
        keys=state.accounts.keys(p.account),
        new_key=new_key,
        snapshots=ops.snapshots(state),
    )


@router.post("/developer/clearances", response_class=HTMLResponse)
async def developer_publish_clearance(request: Request, p: Caller):
    """The page form of ``fairtrain log record-clearance OUT --to URL``: the manifest and its leaves files."""
    from starlette.concurrency import run_in_threadpool

    from fairtrain.web import money_ops

    state, form = await upload_form(request, p, "developer", "publishing a clearance")
    _, manifest = await form_file(form, "manifest", "publish a clearance: choose its manifest.json")
    leaves = {}
    for field, name in (("leaves_works", "leaves-works.parquet"), ("leaves_items", "leaves-items.parquet")):
        leaves[name] = (await form_file(form, field, f"publish a clearance: choose its {name}"))[1]
    decisions = form.get("decisions")
    dec = (await read_upload(decisions))[1] if decisions is not None and not isinstance(decisions, str) else None
    published = await run_in_threadpool(money_ops.record_clearance, state, manifest, leaves, dec or None)
    return render(
        request,
        "developer.html",
        p,
        keys=state.accounts.keys(p.account),
        new_key=None,
        snapshots=ops.snapshots(state),
        published=published,
    )


@router.post("/developer/keys/{key_id}/revoke")
def developer_revoke(request: Request, p: Caller, key_id: int):
    require(p, what="API keys")
    web(request).accounts.revoke_key(p.account, key_id)
    return RedirectResponse("/developer", status_code=303)


# -- public -------------------------------------------------------------------------------------------


@router.get("/search", response_class=HTMLResponse)
def search(
    request: Request,
    p: Caller,
    q: Annotated[str, Query(max_length=300)] = "",
    title: Annotated[str, Query(max_length=300)] = "",  # the older links' name for q
    after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
):
    q = (q or title).strip()
    page = ops.search(web(request), q, after=after) if q else None
    return render(request, "search.html", p, title=q, page=page, results=page["results"] if page else None)


@router.get("/works/{work_id}", response_class=HTMLResponse)
def work_page(request: Request, p: Caller, work_id: int):
    state = web(request)
    w = state.registry.work(work_id)
    terms = {c.value: state.registry.decide(work_id, c).value.value for c in Category}
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


@router.get("/log", response_class=HTMLResponse)
def log_page(request: Request, p: Caller):
    state = web(request)
    head = ops.log_head(state)
    entries = ops.log_entries(state, max(0, head["size"] - 20), 20)
    return render(request, "log.html", p, head=head, entries=list(reversed(entries)))


@router.get("/robots.txt", response_class=Response)
async def robots() -> Response:
    return Response("User-agent: *\nDisallow: /api/\n", media_type="text/plain")
