"""What every server-rendered page (Jinja2, no build step) shares: ``render`` and the error page, uploads from a
page form, and the catalogue or repertoire policy form. The pages themselves live in :mod:`fairtrain.web.routes`,
by resource."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from fairtrain.core.documents import environment
from fairtrain.core.errors import FairtrainError
from fairtrain.core.i18n import N_, format_money, format_share, format_when
from fairtrain.core.labels import word
from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Level, parse_offer
from fairtrain.services.registry import portfolio
from fairtrain.web.api import _limit_async, read_upload
from fairtrain.web.deps import bell, language, owner, principal, require, web
from fairtrain.web.errors import WebError, refusal
from fairtrain.web.i18n import LANGUAGE_NAMES, LANGUAGES, translations
from fairtrain.web.security import PUBLIC, Principal

Caller = Annotated[Principal, Depends(principal)]
_env = environment(Path(__file__).parent / "templates")
CATEGORIES = [c.value for c in Category]
STATUS_WORDS = {"active": N_("Registered"), "disputed": N_("Disputed"), "rejected": N_("Rejected")}


def render(request: Request, template: str, p: Principal = PUBLIC, status: int = 200, **ctx) -> HTMLResponse:
    if p.holder_ref and "bell" not in ctx:  # a creator's unread notices, beside the menu on every page
        ctx["bell"] = bell(web(request), p)
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


def refused_status(e: FairtrainError) -> int:
    """The status of a page form shown again beside its refusal: 422 where what was typed cannot be accepted
    (bad input), else the refusal's own (403, 404, 409)."""
    return 422 if e.http_status in (400, 422) else e.http_status


def render_error(request: Request, status: int, message: str, p: Principal = PUBLIC) -> HTMLResponse:
    """The error page, with the menu of whoever is signed in (``p``)."""
    return render(request, "error.html", p, status=status, status_code=status, message=message)


def _home_for(p: Principal) -> str:
    return {"creator": "/creator", "org-admin": "/org", "developer": "/developer"}.get(p.role, "/")


# -- creators and organisations ----------------------------------------------------------------------


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
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    return state, await request.form()


# -- developers ---------------------------------------------------------------------------------------


# -- public -------------------------------------------------------------------------------------------


def _policy_form(state, p: Principal) -> dict:
    level, target, party = portfolio.declaring_party(state.registry, Level.CATALOGUE, None, **owner(p))
    declared = portfolio.has_declared(state.registry, level, target)
    current = portfolio.policy(state.registry, level, target)
    values = {c: v["value"] for c, v in current.items()} if declared else dict(portfolio.DEFAULT_POLICY)
    first = next((o for v in current.values() for o in v["offers"]), None)
    offer = (
        {"price": Money.from_dict(first["price"]).major_str(), "currency": first["price"]["currency"]}
        if first
        else None
    )
    return {"declared": declared, "values": values, "offer": offer, "party": party}


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
        parse_offer(price, str(form.get("currency") or ""), str(form.get("price_model") or "") or None)
        if price
        else None
    )

    await run_in_threadpool(declare, web(request), p, level, work_id, values, offer)


def declare(state, p: Principal, level: Level, target_id: int | None, values: dict[str, str], offer) -> dict:
    """Values as typed (and the offer) declared by the caller at a level of hers: her catalogue or
    repertoire, or a work she holds or manages; the policy that now applies."""
    level, target, party = portfolio.declaring_party(state.registry, level, target_id, **owner(p))
    return portfolio.declare_policy(state.registry, level, target, party, values, offer)
