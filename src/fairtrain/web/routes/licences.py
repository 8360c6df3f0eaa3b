"""Licences: requests from a clearance's quote, declared past use, tariffs, grants and refusals, invoices
and usage reports; the JSON API (``/api/licences…``, ``/api/invoices``, ``/api/usage-reports``, tariffs) and
the ``/money`` page with its forms. Every answer comes from :mod:`fairtrain.services.ledger`: the routes only
say who is asking (:func:`~fairtrain.web.deps.party_of`)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fairtrain.core import jsontext
from fairtrain.services.ledger import distribution as dist
from fairtrain.services.ledger.licensing import Licensing, custodial_key, party_names
from fairtrain.web.api import Caller, Id, _limit_async
from fairtrain.web.deps import language, licensee_of, party_of, require, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import form_file, render, upload_form
from fairtrain.web.security import Principal

router = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)
CategoryName = Literal["tdm", "train-ai", "train-genai", "ai-input", "search"]


def licensing(request: Request) -> Licensing:
    return Licensing(web(request).registry)


class Accept(BaseModel):
    """``collective``: an organisation grants on its own terms (``price`` a flat fee or the minimum of a
    revenue share)."""

    collective: bool = False
    price: str | None = Field(default=None, max_length=30, description="major units, e.g. 250000")
    currency: str | None = Field(default=None, max_length=3)
    revenue_share_percent: str | None = Field(default=None, max_length=10)


class Decline(BaseModel):
    note: str = Field(default="", max_length=1000)


def _accept(request: Request, p: Principal, licence_id: int, terms: Accept) -> dict:
    require(p, "creator", "org-admin", what="accepting licences")
    lic, party = licensing(request), party_of(p)
    lic.visible(licence_id, party)  # 404 unless it is addressed to the caller
    return lic.grant_as(
        licence_id,
        party=party,
        key=lambda: custodial_key(web(request).data_dir, party),
        **terms.model_dump(),
    )


def _decline(request: Request, p: Principal, licence_id: int, note: str) -> dict:
    require(p, "creator", "org-admin", what="declining licences")
    lic, party = licensing(request), party_of(p)
    lic.visible(licence_id, party)
    return lic.decline(licence_id, party=party, note=note)


async def _upload(request: Request, p: Principal, file: UploadFile, what: str) -> bytes:
    require(p, "developer", what=what)
    await _limit_async(web(request), "uploads_per_account", f"user:{p.account.id}", "uploads")
    return await file.read()


# -- the JSON API -------------------------------------------------------------------------------------


@router.post("/licences/requests", status_code=201, tags=["licences"])
async def request_licences(
    request: Request,
    p: Caller,
    quote: Annotated[UploadFile, File()],
    categories: Annotated[list[CategoryName] | None, Form()] = None,
    valid_until: Annotated[str | None, Form(max_length=32)] = None,
) -> dict:
    """Upload a clearance's ``licence-quote.json``: one licence request per offering party, made by the
    signed-in developer (the licensee is the account, whatever the quote names)."""
    data = await _upload(request, p, quote, "licence requests")
    return await run_in_threadpool(
        licensing(request).request_upload,
        data,
        licensee=licensee_of(p),
        categories=categories,
        valid_until=valid_until,
        licensee_name=p.account.display_name,
    )


@router.post("/licences/past-use", status_code=201, tags=["licences"])
async def declare_past_use(
    request: Request,
    p: Caller,
    usage: Annotated[UploadFile, File()],
    categories: Annotated[list[CategoryName] | None, Form()] = None,
) -> dict:
    """Declare use that already happened ("pay later"): a clearance's ``licence-quote.json`` (reservation
    mode, over the training set) or a usage report listing works (ids, work_refs, ISWC/ISRC/ISBN). Each
    organisation's retroactive tariff prices a retroactive licence request, answered like any other."""
    data = await _upload(request, p, usage, "declaring past use")
    return await run_in_threadpool(
        licensing(request).declare_past_use_upload, data, licensee=licensee_of(p), categories=categories
    )


@router.get("/orgs/{org_id}/tariff", tags=["licences"])
def show_tariff(org_id: Id, request: Request, retroactive: bool = False) -> dict:
    """An organisation's published tariff (public: what its licence terms cost)."""
    t = web(request).registry.tariff(org_id, retroactive=retroactive)
    if t is None:
        raise WebError(
            404, f"organisation {org_id} has published no {'retroactive' if retroactive else 'licence'} tariff"
        )
    return t


@router.put("/org/tariff", tags=["licences"])
def publish_tariff(request: Request, p: Caller, body: Annotated[dict, Body()], retroactive: bool = False) -> dict:
    """The organisation publishes its tariff (see README for the document); the newest is in use."""
    require(p, "org-admin", what="tariffs")
    return web(request).registry.publish_tariff(p.account.org_id, body, retroactive=retroactive)


@router.get("/licences", tags=["licences"])
def list_licences(request: Request, p: Caller) -> list[dict]:
    """A developer's own licences; a creator's or organisation's licence requests and grants."""
    require(p, what="licences")
    return licensing(request).visible_to(party_of(p))


@router.get("/licences/{licence_id}", tags=["licences"])
def show_licence(licence_id: Id, request: Request, p: Caller) -> dict:
    require(p, what="licences")
    return licensing(request).visible(licence_id, party_of(p))


@router.post("/licences/{licence_id}/accept", tags=["licences"])
def accept_licence(licence_id: Id, body: Accept, request: Request, p: Caller) -> dict:
    return _accept(request, p, licence_id, body)


@router.post("/licences/{licence_id}/decline", tags=["licences"])
def decline_licence(licence_id: Id, body: Decline, request: Request, p: Caller) -> dict:
    return _decline(request, p, licence_id, body.note)


@router.get("/invoices", tags=["licences"])
def list_invoices(request: Request, p: Caller) -> list[dict]:
    require(p, "developer", what="invoices")
    return licensing(request).invoices(licensee=licensee_of(p))


@router.post("/usage-reports", status_code=201, tags=["licences"])
def file_usage_report(request: Request, p: Caller, document: Annotated[dict, Body()]) -> dict:
    """A usage report signed with the developer's own Ed25519 key (``fairtrain-usage-report``; the
    server never signs for the developer). The first report pins the account's key; re-sending with the
    same idempotency key answers the first result."""
    require(p, "developer", what="usage reports")
    return licensing(request).file_usage_report(document, licensee=licensee_of(p))


@router.get("/usage-reports", tags=["licences"])
def list_usage_reports(request: Request, p: Caller) -> list[dict]:
    require(p, "developer", what="usage reports")
    return licensing(request).usage_reports(licensee=licensee_of(p))


# -- the /money page: a developer's licences, invoices and reports; a creator's statements and income; an
# -- organisation's distribution runs ------------------------------------------------------------------


def money_page(request: Request, p: Principal, **extra) -> HTMLResponse:
    state, lic = web(request), licensing(request)
    licences = lic.visible_to(party_of(p))
    ctx: dict = {"licences": licences, "done": None, **extra}
    if p.role == "developer":
        me = licensee_of(p)
        ctx |= {"invoices": lic.invoices(licensee=me), "reports": lic.usage_reports(licensee=me), "licensee": me}
    elif p.role == "creator":
        statements = dist.statements_of(state.registry, p.holder_ref)
        ctx |= {
            "statements": statements,
            "chart": dist.income_chart(statements, language(request)),
            # her income from the licences she granted herself (money an organisation collects for her
            # reaches her through its distribution statements)
            "income": lic.invoices(grantor=p.holder_ref),
        }
    else:
        ctx |= {"runs": dist.runs_of(state.registry, p.org_ref)}
    ctx["names"] = party_names(state.registry.engine, licences + ctx.get("income", []), "licensee", "grantor")
    return render(request, "money.html", p, **ctx)


@pages.get("/money", response_class=HTMLResponse)
def money(request: Request, p: Caller):
    require(p, what="licences and money")
    return money_page(request, p)


@pages.post("/money/quote", response_class=HTMLResponse)
async def upload_quote(request: Request, p: Caller):
    state, form = await upload_form(request, p, "developer", "licence requests")
    _, data = await form_file(form, "quote", "licence requests: choose a licence-quote.json file")
    until = str(form.get("valid_until") or "") or None
    result = await run_in_threadpool(
        Licensing(state.registry).request_upload,
        data,
        licensee=licensee_of(p),
        valid_until=until,
        licensee_name=p.account.display_name,
    )
    return money_page(request, p, done={"requested": result["licences"]})


@pages.post("/money/usage-report", response_class=HTMLResponse)
def usage_report(request: Request, p: Caller, document: Annotated[str, Form(max_length=1_000_000)]):
    require(p, "developer", what="usage reports")
    try:
        doc = jsontext.loads(document, what="usage report")
    except jsontext.JsonRefused as e:
        raise WebError(400, str(e)) from None
    result = licensing(request).file_usage_report(doc, licensee=licensee_of(p))
    return money_page(request, p, done={"report": result})


@pages.post("/money/licences/{licence_id}/accept")
def accept(
    request: Request,
    p: Caller,
    licence_id: int,
    collective: Annotated[str, Form()] = "",
    price: Annotated[str, Form(max_length=30)] = "",
    currency: Annotated[str, Form(max_length=3)] = "",
    revenue_share_percent: Annotated[str, Form(max_length=10)] = "",
):
    terms = Accept(
        collective=collective == "1",
        price=price or None,
        currency=currency or None,
        revenue_share_percent=revenue_share_percent or None,
    )
    _accept(request, p, licence_id, terms)
    return RedirectResponse("/money", status_code=303)


@pages.post("/money/licences/{licence_id}/decline")
def decline(request: Request, p: Caller, licence_id: int, note: Annotated[str, Form(max_length=1000)] = ""):
    _decline(request, p, licence_id, note)
    return RedirectResponse("/money", status_code=303)
