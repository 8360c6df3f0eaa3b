"""The JSON API for shaping a work (issue 14, item 2): titles and withdrawal (the per-work policy and price
is ``PUT /api/works/{work}/policy`` in :mod:`fairtrain.web.api`). API key (or session with CSRF) through
:func:`~fairtrain.web.deps.principal`, like every ``/api`` route; the same service calls and the same check
of who may edit as the pages of :mod:`fairtrain.web.work_edit`."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from fairtrain.services.registry import work_editing as we
from fairtrain.web.deps import principal, web
from fairtrain.web.security import Principal
from fairtrain.web.work_edit import _editor

router = APIRouter(prefix="/api")
Caller = Annotated[Principal, Depends(principal)]
Id = Annotated[int, Field(ge=1, le=2**62)]


class Titles(BaseModel):
    title: str = Field(max_length=1000)
    title_latin: str | None = Field(default=None, max_length=1000)


class Withdrawal(BaseModel):
    confirm: Literal[True] = Field(description="true: the work is withdrawn (deny for every use); history stays")


def _work(state, work_id: int) -> dict:
    w = state.registry.work(work_id)
    return {
        "id": w["id"],
        "title": w["title"],
        "title_latin": w.get("title_latin"),
        "status": w["status"],
        "withdrawn_at": w.get("withdrawn_at"),
    }


@router.put("/works/{work_id}/titles", tags=["works"])
def put_titles(work_id: Id, body: Titles, request: Request, p: Caller) -> dict:
    """Set the work's title (Korean or any script) and its Latin-script title; a holder or the work's
    organisation's administrator only."""
    party = _editor(request, p, work_id)
    we.edit_titles(web(request).registry, work_id, party, title=body.title, title_latin=body.title_latin)
    return _work(web(request), work_id)


@router.post("/works/{work_id}/withdrawal", tags=["works"])
def withdraw(work_id: Id, body: Withdrawal, request: Request, p: Caller) -> dict:
    """Withdraw the work: its holder declares deny for every use at the work's level; granted licences stay."""
    party = _editor(request, p, work_id)
    we.withdraw(web(request).registry, work_id, party)
    return _work(web(request), work_id)
