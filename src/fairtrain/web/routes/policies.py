"""Declarations and signal kits of a catalogue (a creator) or a repertoire (an organisation): the
``/policy`` form, ``/api/policy``, the ``/kit`` page and ``/api/kit``."""

from __future__ import annotations

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field

from fairtrain.core.errors import FairtrainError, localised
from fairtrain.core.signals.render import Party, PartyKind, SignalRenderError
from fairtrain.core.vocab import Level, parse_offer
from fairtrain.services.registry import portfolio, signal_kit
from fairtrain.web.api import Caller, CategoryName, ValueName
from fairtrain.web.deps import language, owner, require, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import _home_for, _typed_policy, declare, declare_from_form, refused_status, render
from fairtrain.web.reservations import page_path
from fairtrain.web.routes.holders import _creator_page
from fairtrain.web.routes.organisations import _org_page
from fairtrain.web.security import Principal

api = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


class Policy(BaseModel):
    """Per category: allow, deny, licence (needs price and currency) or inherit (withdraw)."""

    values: dict[CategoryName, ValueName]
    price: str | None = Field(default=None, max_length=30, description="major units, e.g. 25000 or 12.50")
    currency: str | None = Field(default=None, max_length=3, description="ISO 4217, e.g. KRW")
    price_model: Literal["per-work", "flat-fee", "revenue-share"] = "per-work"


@pages.post("/policy")
async def save_policy(request: Request, p: Caller):
    require(p, "creator", "org-admin", what="declaring")
    form = await request.form()
    try:
        await declare_from_form(request, p, form)
    except FairtrainError as e:  # the form again, as typed, with the reason beside it
        state = web(request)
        status = refused_status(e)
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


@api.get("/policy", tags=["declarations"])
def my_policy(request: Request, p: Caller) -> dict:
    """The caller's catalogue (creator) or repertoire (organisation) policy, and whether it was declared."""
    require(p, "creator", "org-admin", what="policy")
    reg = web(request).registry
    level, target, party = portfolio.declaring_party(reg, Level.CATALOGUE, None, **owner(p))
    return {
        "level": level.value,
        "party": party,
        "declared": portfolio.has_declared(reg, level, target),
        "policy": portfolio.policy(reg, level, target),
    }


@api.put("/policy", tags=["declarations"])
def declare_policy(body: Policy, request: Request, p: Caller) -> dict:
    require(p, "creator", "org-admin", what="declaring")
    return _declare(request, p, Level.CATALOGUE, None, body)


def _declare(request: Request, p, level: Level, target: int | None, body: Policy) -> dict:
    """``PUT /api/policy`` and ``PUT /api/works/{work}/policy``: the body's values and offer, declared."""
    offer = parse_offer(body.price, body.currency, body.price_model)
    return declare(web(request), p, level, target, dict(body.values), offer)


def kit(
    state, p: Principal, level: Level, target_id: int | None, site: str, contact: str | None, registry_url: str
) -> tuple:
    """(policy, files) of the caller's signal kit for ``site`` (:mod:`~fairtrain.services.registry.signal_kit`):
    her catalogue or repertoire, or a work of hers; a creator's blog on a platform gets the registry's
    reservation page at ``registry_url``."""
    level, target, _ = portfolio.declaring_party(state.registry, level, target_id, **owner(p))
    if p.holder_ref:
        who, kind = state.registry.find_holder(p.account.holder_id), PartyKind.HOLDER
    else:
        who, kind = state.registry.find_org(p.account.org_id), PartyKind.ORGANISATION
    site = (site or "").strip().rstrip("/")
    page = (registry_url, page_path("w" if level is Level.WORK else "h", target)) if registry_url else None
    try:
        party = Party(who["name"], kind, (contact or who.get("email") or p.account.email), website=site)
        policy, platform = signal_kit.kit_policy(state.registry, level, target, party, site, reservation=page)
    except SignalRenderError as e:
        raise WebError(422, f"signal kit: {e}") from None
    return policy, signal_kit.kit_files(policy, platform)


def _kit_response(policy, files) -> Response:
    return Response(
        signal_kit.kit_zip(files),
        media_type="application/zip",
        headers={
            "Content-Disposition": 'attachment; filename="fairtrain-signal-kit.zip"',
            "X-Policy-Digest": policy.digest,
        },
    )


@api.get(
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
    return _kit_response(*kit(web(request), p, Level.CATALOGUE, None, site, contact, str(request.base_url)))


@pages.get("/kit", response_class=HTMLResponse)
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
        policy, raw = kit(state, p, Level.CATALOGUE, None, site, contact or None, origin)
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
