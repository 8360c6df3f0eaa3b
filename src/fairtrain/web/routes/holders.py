"""A creator's catalogue: her page, her catalogue policy (page form and ``/api/policy``), mandates she
gives, and her signal kit (``/kit``, ``/api/kit``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from fairtrain.services.registry import portfolio
from fairtrain.web.api import Caller
from fairtrain.web.deps import bell, language, owner, require, web
from fairtrain.web.i18n import translations
from fairtrain.web.pages import _policy_form, render
from fairtrain.web.security import Principal

api = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


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
    orgs = state.registry.list_orgs()
    return render(
        request,
        "creator.html",
        p,
        status=status,
        works=portfolio.works(state.registry, **owner(p)),
        org_names={o["ref"]: o["name"] for o in orgs},
        policy=policy or _policy_form(state, p),
        saved=saved,
        orgs=orgs,
        mandates=state.registry.mandates(holder_id=p.account.holder_id),
        disputes=portfolio.disputes(state.registry, **owner(p)),
        bell=bell(state, p),
        **{"policy_error": None, "mandate_error": None, **extra},
    )


@pages.get("/creator", response_class=HTMLResponse)
def creator(request: Request, p: Caller, saved: bool = False):
    require(p, "creator", what="the creator page")
    return _creator_page(request, p, web(request), saved=saved)


@pages.post("/creator/mandate")
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
    portfolio.give_mandate(web(request).registry, p.account.holder_id, org_id, categories)
    return RedirectResponse("/creator", status_code=303)
