"""Pages for the money side and transparency: licences and usage reports (developers), licence requests,
statements and income (creators), distribution runs (organisations), "was my work used?" and model
summaries (the public)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from starlette.concurrency import run_in_threadpool

from fairtrain.core import jsontext
from fairtrain.web import money_ops
from fairtrain.web.api import _client, _limit
from fairtrain.web.deps import language, principal, require, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import form_file, render, upload_form
from fairtrain.web.security import Principal

router = APIRouter(include_in_schema=False)
Caller = Annotated[Principal, Depends(principal)]


def _money_page(request: Request, p: Principal, **extra) -> HTMLResponse:
    state = web(request)
    licences = money_ops.licences_for(state, p)
    ctx: dict = {"licences": licences, "done": None, **extra}
    if p.role == "developer":
        ctx |= {
            "invoices": money_ops.invoices_for(state, p),
            "reports": money_ops.usage_reports_for(state, p),
            "licensee": money_ops.licensee_of(p),
        }
    elif p.role == "creator":
        statements = money_ops.statements_for(state, p)
        ctx |= {
            "statements": statements,
            "chart": money_ops.income_chart(statements, language(request)),
            "income": money_ops.income_for(state, p),
        }
    else:
        ctx |= {"runs": money_ops.runs_for(state, p)}
    ctx["names"] = money_ops.party_names(state, licences + ctx.get("income", []), "licensee", "grantor")
    return render(request, "money.html", p, **ctx)


@router.get("/money", response_class=HTMLResponse)
def money(request: Request, p: Caller):
    require(p, what="licences and money")
    return _money_page(request, p)


@router.post("/money/quote", response_class=HTMLResponse)
async def upload_quote(request: Request, p: Caller):
    state, form = await upload_form(request, p, "developer", "licence requests")
    _, data = await form_file(form, "quote", "licence requests: choose a licence-quote.json file")
    until = str(form.get("valid_until") or "") or None
    result = await run_in_threadpool(money_ops.request_licences, state, p, data, None, until)
    return _money_page(request, p, done={"requested": result["licences"]})


@router.post("/money/usage-report", response_class=HTMLResponse)
def usage_report(request: Request, p: Caller, document: Annotated[str, Form(max_length=1_000_000)]):
    require(p, "developer", what="usage reports")
    try:
        doc = jsontext.loads(document, what="usage report")
    except jsontext.JsonRefused as e:
        raise WebError(400, str(e)) from None
    result = money_ops.file_usage_report(web(request), p, doc)
    return _money_page(request, p, done={"report": result})


@router.post("/money/licences/{licence_id}/accept")
def accept(
    request: Request,
    p: Caller,
    licence_id: int,
    collective: Annotated[str, Form()] = "",
    price: Annotated[str, Form(max_length=30)] = "",
    currency: Annotated[str, Form(max_length=3)] = "",
    revenue_share_percent: Annotated[str, Form(max_length=10)] = "",
):
    require(p, "creator", "org-admin", what="accepting licences")
    money_ops.accept(
        web(request),
        p,
        licence_id,
        collective=collective == "1",
        price=price or None,
        currency=currency or None,
        revenue_share_percent=revenue_share_percent or None,
    )
    return RedirectResponse("/money", status_code=303)


@router.post("/money/licences/{licence_id}/decline")
def decline(request: Request, p: Caller, licence_id: int, note: Annotated[str, Form(max_length=1000)] = ""):
    require(p, "creator", "org-admin", what="declining licences")
    money_ops.decline(web(request), p, licence_id, note)
    return RedirectResponse("/money", status_code=303)


@router.post("/money/runs", response_class=HTMLResponse)
def start_run(
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
    result = money_ops.start_run(web(request), p, start, end, fee_percent or "0", thresholds)
    return _money_page(request, p, done={"run": result})


@router.get("/used", response_class=HTMLResponse)
def lookup_page(request: Request, p: Caller):
    return render(request, "lookup.html", p, result=None)


@router.post("/used", response_class=HTMLResponse)
async def lookup(request: Request, p: Caller):
    state = web(request)
    _limit(state, "uploads_per_account", f"lookup:{_client(request)}", "lookups")
    form = await request.form()
    name, data = await form_file(form, "file", "was my work used?: choose a file")
    result = await money_ops.lookup(state, name, data)
    return render(request, "lookup.html", p, result=result, excerpt=_excerpt(data))


def _excerpt(data: bytes, chars: int = 280) -> str | None:
    """The start of an uploaded plain-text file, shown back as its preview (never stored); None otherwise."""
    import codecs

    try:  # a character cut at the end is left out; invalid UTF-8 anywhere else is no text
        text = codecs.getincrementaldecoder("utf-8")().decode(data[: chars * 4], final=False)
    except UnicodeDecodeError:
        return None
    if "\x00" in text:
        return None
    text = text.strip()
    return (text[:chars] + ("…" if len(text) > chars else "")) or None


@router.get("/summaries", response_class=HTMLResponse)
def summaries(request: Request, p: Caller):
    return render(request, "summaries.html", p, summaries=money_ops.summaries(web(request)))
