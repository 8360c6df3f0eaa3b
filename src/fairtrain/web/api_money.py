"""The JSON API for the money side and transparency: licences, invoices, usage reports, distribution runs,
statements, "was my work used?" and model summaries."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, File, Form, Path, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from fairtrain.services.ledger import distribution as dist
from fairtrain.web import money_ops
from fairtrain.web.api import _client, _limit, read_upload
from fairtrain.web.deps import principal, require, web
from fairtrain.web.errors import WebError
from fairtrain.web.security import Principal

router = APIRouter(prefix="/api")
Caller = Annotated[Principal, Depends(principal)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
CategoryName = Literal["tdm", "train-ai", "train-genai", "ai-input", "search"]


class Accept(BaseModel):
    """``collective``: an organisation grants on its own terms (``price`` a flat fee or the minimum of a
    revenue share)."""

    collective: bool = False
    price: str | None = Field(default=None, max_length=30, description="major units, e.g. 250000")
    currency: str | None = Field(default=None, max_length=3)
    revenue_share_percent: str | None = Field(default=None, max_length=10)


class Decline(BaseModel):
    note: str = Field(default="", max_length=1000)


class NewRun(BaseModel):
    start: str = Field(max_length=10, description="ISO date")
    end: str = Field(max_length=10, description="ISO date")
    fee_percent: str = Field(default="0", max_length=10, description="the organisation's administration fee")
    thresholds: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="minimum payout per currency, major units, e.g. {'KRW': '1000'}",
    )


# -- developers --------------------------------------------------------------------------------------


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
    require(p, "developer", what="licence requests")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    data = await quote.read()
    return await run_in_threadpool(money_ops.request_licences, state, p, data, categories, valid_until)


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
    require(p, "developer", what="declaring past use")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    data = await usage.read()
    return await run_in_threadpool(money_ops.declare_past_use, state, p, data, categories)


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
    return money_ops.licences_for(web(request), p)


@router.get("/licences/{licence_id}", tags=["licences"])
def show_licence(licence_id: Id, request: Request, p: Caller) -> dict:
    require(p, what="licences")
    return money_ops.licence_for(web(request), p, licence_id)


@router.post("/licences/{licence_id}/accept", tags=["licences"])
def accept_licence(licence_id: Id, body: Accept, request: Request, p: Caller) -> dict:
    require(p, "creator", "org-admin", what="accepting licences")
    return money_ops.accept(
        web(request),
        p,
        licence_id,
        collective=body.collective,
        price=body.price,
        currency=body.currency,
        revenue_share_percent=body.revenue_share_percent,
    )


@router.post("/licences/{licence_id}/decline", tags=["licences"])
def decline_licence(licence_id: Id, body: Decline, request: Request, p: Caller) -> dict:
    require(p, "creator", "org-admin", what="declining licences")
    return money_ops.decline(web(request), p, licence_id, body.note)


@router.get("/invoices", tags=["licences"])
def list_invoices(request: Request, p: Caller) -> list[dict]:
    require(p, "developer", what="invoices")
    return money_ops.invoices_for(web(request), p)


@router.post("/usage-reports", status_code=201, tags=["licences"])
def file_usage_report(request: Request, p: Caller, document: Annotated[dict, Body()]) -> dict:
    """A usage report signed with the developer's own Ed25519 key (``fairtrain-usage-report``; the
    server never signs for the developer). The first report pins the account's key; re-sending with the
    same idempotency key answers the first result."""
    require(p, "developer", what="usage reports")
    return money_ops.file_usage_report(web(request), p, document)


@router.get("/usage-reports", tags=["licences"])
def list_usage_reports(request: Request, p: Caller) -> list[dict]:
    require(p, "developer", what="usage reports")
    return money_ops.usage_reports_for(web(request), p)


# -- organisations: distribution runs ----------------------------------------------------------------


@router.post("/distribution/runs", status_code=201, tags=["distribution"])
def start_run(body: NewRun, request: Request, p: Caller) -> dict:
    """Split a period's licence money by the published formula, with this organisation's fee."""
    require(p, "org-admin", what="distribution runs")
    return money_ops.start_run(web(request), p, body.start, body.end, body.fee_percent, body.thresholds)


@router.get("/distribution/runs", tags=["distribution"])
def list_runs(request: Request, p: Caller) -> list[dict]:
    require(p, "org-admin", what="distribution runs")
    return money_ops.runs_for(web(request), p)


@router.get("/distribution/runs/{run_id}/recompute", tags=["distribution"])
def recompute_run(run_id: Id, request: Request, p: Caller) -> dict:
    require(p, "org-admin", what="distribution runs")
    if not any(r["id"] == run_id for r in money_ops.runs_for(web(request), p)):
        from fairtrain.web.errors import WebError

        raise WebError(404, f"no distribution run {run_id} of your organisation")
    return dist.recompute(web(request).registry, run_id)


# -- creators: statements ----------------------------------------------------------------------------


@router.get("/statements", tags=["distribution"])
def list_statements(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", what="statements")
    return money_ops.statements_for(web(request), p)


@router.get(
    "/statements/{run_id}",
    tags=["distribution"],
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}},
)
def show_statement(
    run_id: Id,
    request: Request,
    p: Caller,
    format: Literal["json", "csv", "html"] = "json",
    lang: Literal["en", "ko"] = "en",
) -> dict | Response:
    require(p, "creator", what="statements")
    return _statement(money_ops.statement_for(web(request), p, run_id), f"statement-run{run_id}", format, lang)


@router.get("/org/members/{holder_id}/statements", tags=["distribution"])
def member_statements(holder_id: Id, request: Request, p: Caller) -> list[dict]:
    """An organisation admin lists a member's statements (a holder with a confirmed mandate to it)."""
    require(p, "org-admin", what="members' statements")
    state = web(request)
    return money_ops.statements_for(state, p, money_ops.member_of(state, p, holder_id))


@router.get(
    "/org/members/{holder_id}/statements/{run_id}",
    tags=["distribution"],
    response_model=None,
    responses={200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}},
)
def member_statement(
    holder_id: Id,
    run_id: Id,
    request: Request,
    p: Caller,
    format: Literal["json", "csv", "html"] = "json",
    lang: Literal["en", "ko"] = "en",
) -> dict | Response:
    """An organisation admin opens a member's statement, as the member sees it."""
    require(p, "org-admin", what="members' statements")
    state = web(request)
    st = money_ops.statement_for(state, p, run_id, money_ops.member_of(state, p, holder_id))
    return _statement(st, f"statement-run{run_id}-holder{holder_id}", format, lang)


def _statement(st: dict, name: str, format: str, lang: str) -> dict | Response:
    if format == "csv":
        return Response(
            dist.statement_csv(st),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    if format == "html":
        return Response(
            dist.statement_html(st, lang),
            media_type="text/html; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}-{lang}.html"'},
        )
    return st


@router.post("/clearances", tags=["developers"], status_code=201)
async def publish_clearance(
    request: Request,
    p: Caller,
    manifest: Annotated[UploadFile, File()],
    leaves_works: Annotated[UploadFile, File()],
    leaves_items: Annotated[UploadFile, File()],
    decisions: Annotated[UploadFile | None, File()] = None,
) -> dict:
    """Publish a clearance (``fairtrain log record-clearance OUT --to URL``): its signed manifest.json and
    the leaves files (leaves-works.parquet, leaves-items.parquet; decisions.parquet optional). The
    signature and the leaves are checked against the manifest's roots, then stored and logged, so that
    "was my work used?" can answer for it."""
    require(p, "developer", what="publishing a clearance")
    state = web(request)
    _limit(state, "uploads_per_account", f"user:{p.account.id}", "clearances")
    files = {
        k: (await read_upload(u))[1]
        for k, u in (
            ("manifest.json", manifest),
            ("leaves-works.parquet", leaves_works),
            ("leaves-items.parquet", leaves_items),
        )
    }
    dec = (await read_upload(decisions))[1] if decisions is not None else None
    return await run_in_threadpool(money_ops.record_clearance, state, files.pop("manifest.json"), files, dec or None)


# -- public: "was my work used?" and model summaries -------------------------------------------------


@router.post("/lookup", tags=["public"])
async def lookup(request: Request, file: Annotated[UploadFile, File()]) -> dict:
    """Upload a work: fingerprinted in memory (never stored) and answered for every clearance in the log."""
    state = web(request)
    _limit(state, "uploads_per_account", f"lookup:{_client(request)}", "lookups")
    name, data = await read_upload(file)
    return await money_ops.lookup(state, name, data)


@router.get("/lookup/proof/{log_index}", tags=["public"])
def lookup_proof(
    request: Request,
    log_index: Annotated[int, Path(ge=0, le=2**31 - 1)],
    work: Annotated[str | None, Query(max_length=200)] = None,
    item: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Download the proof behind an answer: the log's inclusion proof of the clearance and the proof that
    the work (``work=SNAPSHOT:WORK``) or the exact file (``item=HASH``) is, or is not, in its item list;
    ``fairtrain lookup --verify FILE`` checks it offline."""
    import json

    proof = money_ops.lookup_proof(web(request), log_index, work, item)
    what = (work or item or "").replace(":", "-")[:80]
    return Response(
        json.dumps(proof, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="proof-{log_index}-{what}.json"'},
    )


@router.get("/summaries", tags=["public"])
def list_summaries(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict]:
    return money_ops.summaries(web(request), limit)
