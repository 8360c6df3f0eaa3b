"""Collective licence templates on the web (issue 15): the organisation's page ``/org/licence-templates``
(publish, withdraw, the licences asked of it from its templates and their grant), the API
(``GET/POST /api/orgs/{org}/licence-templates``, the public ``GET /api/licence-templates``, a developer's
request and the organisation's grant). The rules live in :mod:`fairtrain.services.ledger.collective`; each
route checks who is asking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel

from fairtrain.core.errors import FairtrainError
from fairtrain.core.media import MEDIA_TYPES
from fairtrain.core.vocab import Category, Purpose
from fairtrain.services.ledger import collective
from fairtrain.services.ledger.licensing import custodial_key, party_names
from fairtrain.web.api import Caller
from fairtrain.web.deps import licensee_of, require, web
from fairtrain.web.errors import WebError, forbidden
from fairtrain.web.pages import render
from fairtrain.web.security import Principal

api = APIRouter(prefix="/api", tags=["licences"])
pages = APIRouter(include_in_schema=False)
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]


class TemplateRequest(BaseModel):
    purpose: str = "commercial"
    valid_from: str | None = None


def _own_org(p: Principal, org: int) -> None:
    require(p, "org-admin", what="licence templates")
    if p.account.org_id != org:
        raise forbidden(f"licence templates of org:{org}: only that organisation's administrators")


@api.get("/licence-templates")
def published_templates(request: Request) -> list[dict]:
    """Every organisation's published templates (public)."""
    return collective.templates(web(request).registry)


@api.get("/orgs/{org}/licence-templates")
def org_templates(org: Id, request: Request, p: Caller) -> list[dict]:
    """One organisation's published templates; its own administrators see the withdrawn ones too."""
    state = web(request)
    state.registry.find_org(org)  # 404 for an unknown organisation
    own = p.account is not None and p.role == "org-admin" and p.account.org_id == org
    return collective.templates(state.registry, org, published_only=not own)


@api.post("/orgs/{org}/licence-templates", status_code=201)
def publish_template(org: Id, body: dict, request: Request, p: Caller) -> dict:
    """Publish a template (see README for the document); the organisation's administrators only."""
    _own_org(p, org)
    return collective.publish(web(request).registry, org, body, party=p.org_ref)


@api.post("/licence-templates/{template}/withdraw")
def withdraw_template(template: Id, request: Request, p: Caller) -> dict:
    require(p, "org-admin", what="licence templates")
    return collective.withdraw(web(request).registry, template, party=p.org_ref)


@api.post("/licence-templates/{template}/request", status_code=201)
def request_from_template(template: Id, body: TemplateRequest, request: Request, p: Caller) -> dict:
    """A developer asks for a collective licence from a published template (the quote names the organisation)."""
    require(p, "developer", what="licence requests")
    start = None
    if body.valid_from:
        try:
            start = datetime.fromisoformat(body.valid_from)
        except ValueError as e:
            raise WebError(400, f"valid_from {body.valid_from[:40]!r}: {e}") from None
        if start.tzinfo is None:
            start = start.replace(tzinfo=UTC)
    return collective.request(
        web(request).registry, template, licensee=licensee_of(p), purpose=body.purpose, valid_from=start
    )


@api.post("/licence-templates/licences/{licence}/accept")
def accept_from_template(licence: Id, request: Request, p: Caller) -> dict:
    """The organisation grants a licence asked from its template: the works are decided again now."""
    require(p, "org-admin", what="granting licences")
    state = web(request)
    return collective.accept(state.registry, licence, party=p.org_ref, key=custodial_key(state.data_dir, p.org_ref))


def _page(request: Request, p: Principal, *, error: str | None = None, status: int = 200, form=None):
    state = web(request)
    org = p.account.org_id
    asked = collective.asked_of(state.registry, p.org_ref)
    return render(
        request,
        "licence_templates.html",
        p,
        status=status,
        templates=collective.templates(state.registry, org, published_only=False),
        asked=asked,
        names=party_names(state.registry.engine, asked, "licensee"),
        purposes=[x.value for x in Purpose],
        categories_all=[c.value for c in Category],
        media_types=list(MEDIA_TYPES),
        error=error,
        form=form or {},
        tariffed=state.registry.tariff(org) is not None,
    )


@pages.get("/org/licence-templates", response_class=HTMLResponse)
def templates_page(request: Request, p: Caller):
    require(p, "org-admin", what="licence templates")
    return _page(request, p)


@pages.post("/org/licence-templates", response_class=HTMLResponse)
async def templates_publish(request: Request, p: Caller):
    require(p, "org-admin", what="licence templates")
    form = await request.form()
    model = str(form.get("model") or "flat-fee")
    price: dict = {"model": model}
    if model != "tariff":
        price |= {"amount": str(form.get("amount") or ""), "currency": str(form.get("currency") or "KRW")}
    if model == "revenue-share":
        try:
            price["share_bp"] = round(float(str(form.get("share_percent") or "0")) * 100)
        except ValueError:
            price["share_bp"] = 0
    try:
        term = int(str(form.get("term_months") or "0"))
    except ValueError:
        term = 0
    doc = {
        "name": {"ko": str(form.get("name_ko") or ""), "en": str(form.get("name_en") or "")},
        "purposes": [str(x) for x in form.getlist("purposes")],
        "categories": [str(x) for x in form.getlist("categories")],
        "media_types": [str(x) for x in form.getlist("media_types")],
        "term_months": term,
        "price": price,
        "retroactive": form.get("retroactive") == "yes",
    }
    try:
        collective.publish(web(request).registry, p.account.org_id, doc, party=p.org_ref)
    except FairtrainError as e:
        return _page(request, p, error=str(e), status=400, form=dict(form))
    return RedirectResponse("/org/licence-templates", status_code=303)


@pages.post("/org/licence-templates/{template}/withdraw")
def templates_withdraw(template: int, request: Request, p: Caller):
    require(p, "org-admin", what="licence templates")
    collective.withdraw(web(request).registry, template, party=p.org_ref)
    return RedirectResponse("/org/licence-templates", status_code=303)


@pages.post("/org/licence-templates/licences/{licence}/accept")
def templates_accept(licence: int, request: Request, p: Caller):
    require(p, "org-admin", what="granting licences")
    state = web(request)
    try:
        collective.accept(state.registry, licence, party=p.org_ref, key=custodial_key(state.data_dir, p.org_ref))
    except FairtrainError as e:
        return _page(request, p, error=str(e), status=400)
    return RedirectResponse("/org/licence-templates", status_code=303)
