"""Distribution runs and statements: an organisation starts and lists its runs (``/api/distribution/runs``,
the form on ``/money``), a creator reads her statements (``/api/statements``), an organisation a member's
(``/api/org/members/{holder}/statements``), as JSON, CSV or HTML. Every answer comes from
:mod:`fairtrain.services.ledger.distribution`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from fairtrain.services.ledger import distribution as dist
from fairtrain.web.api import Caller, Id
from fairtrain.web.deps import member_of, require, web
from fairtrain.web.routes.licences import money_page

router = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)
DOCUMENT = {200: {"content": {"application/json": {}, "text/csv": {}, "text/html": {}}}}


class NewRun(BaseModel):
    start: str = Field(max_length=10, description="ISO date")
    end: str = Field(max_length=10, description="ISO date")
    fee_percent: str = Field(default="0", max_length=10, description="the organisation's administration fee")
    thresholds: dict[str, str] = Field(
        default_factory=dict,
        max_length=20,
        description="minimum payout per currency, major units, e.g. {'KRW': '1000'}",
    )


def _as(format: Literal["json", "csv", "html"] = "json", lang: Literal["en", "ko"] = "en") -> tuple[str, str]:
    """How a statement is sent: JSON, or a CSV or HTML download (HTML in ``lang``)."""
    return format, lang


As = Annotated[tuple[str, str], Depends(_as)]


def _document(st: dict, name: str, how: tuple[str, str]) -> dict | Response:
    format, lang = how
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


# -- organisations: distribution runs ----------------------------------------------------------------


@router.post("/distribution/runs", status_code=201, tags=["distribution"])
def start_run(body: NewRun, request: Request, p: Caller) -> dict:
    """Split a period's licence money by the published formula, with this organisation's fee."""
    require(p, "org-admin", what="distribution runs")
    return dist.start_run(web(request).registry, p.org_ref, body.start, body.end, body.fee_percent, body.thresholds)


@router.get("/distribution/runs", tags=["distribution"])
def list_runs(request: Request, p: Caller) -> list[dict]:
    require(p, "org-admin", what="distribution runs")
    return dist.runs_of(web(request).registry, p.org_ref)


@router.get("/distribution/runs/{run_id}/recompute", tags=["distribution"])
def recompute_run(run_id: Id, request: Request, p: Caller) -> dict:
    require(p, "org-admin", what="distribution runs")
    return dist.recompute_for(web(request).registry, p.org_ref, run_id)


@pages.post("/money/runs", response_class=HTMLResponse)
def start_run_page(
    request: Request,
    p: Caller,
    start: Annotated[str, Form(max_length=10)],
    end: Annotated[str, Form(max_length=10)],
    fee_percent: Annotated[str, Form(max_length=10)] = "0",
    threshold: Annotated[str, Form(max_length=30)] = "",
    currency: Annotated[str, Form(max_length=3)] = "",
):
    require(p, "org-admin", what="distribution runs")
    thresholds = {currency: threshold} if threshold and currency else {}
    result = dist.start_run(web(request).registry, p.org_ref, start, end, fee_percent or "0", thresholds)
    return money_page(request, p, done={"run": result})


# -- statements: a creator's own, an organisation's member's -----------------------------------------


@router.get("/statements", tags=["distribution"])
def list_statements(request: Request, p: Caller) -> list[dict]:
    require(p, "creator", what="statements")
    return dist.statements_of(web(request).registry, p.holder_ref)


@router.get("/statements/{run_id}", tags=["distribution"], response_model=None, responses=DOCUMENT)
def show_statement(run_id: Id, request: Request, p: Caller, how: As) -> dict | Response:
    require(p, "creator", what="statements")
    return _document(dist.statement_of(web(request).registry, run_id, p.holder_ref), f"statement-run{run_id}", how)


@router.get("/org/members/{holder_id}/statements", tags=["distribution"])
def member_statements(holder_id: Id, request: Request, p: Caller) -> list[dict]:
    """An organisation admin lists a member's statements (a holder with a confirmed mandate to it)."""
    require(p, "org-admin", what="members' statements")
    state = web(request)
    return dist.statements_of(state.registry, member_of(state, p, holder_id))


@router.get(
    "/org/members/{holder_id}/statements/{run_id}", tags=["distribution"], response_model=None, responses=DOCUMENT
)
def member_statement(holder_id: Id, run_id: Id, request: Request, p: Caller, how: As) -> dict | Response:
    """An organisation admin opens a member's statement, as the member sees it."""
    require(p, "org-admin", what="members' statements")
    state = web(request)
    st = dist.statement_of(state.registry, run_id, member_of(state, p, holder_id))
    return _document(st, f"statement-run{run_id}-holder{holder_id}", how)
