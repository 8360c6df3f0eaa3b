"""The site itself: the home page, the language switch and robots.txt."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from fairtrain.web.api import Caller
from fairtrain.web.errors import WebError
from fairtrain.web.i18n import LANG_COOKIE, LANGUAGES
from fairtrain.web.pages import render
from fairtrain.web.security import local_path

pages = APIRouter(include_in_schema=False)


@pages.get("/", response_class=HTMLResponse)
def home(request: Request, p: Caller):
    return render(request, "home.html", p)


@pages.get("/lang/{code}")
def set_language(code: str, next: str = "/"):
    if code not in LANGUAGES:
        raise WebError(404, f"no language {code!r} (choose {', '.join(LANGUAGES)})")
    target = local_path(next) or "/"
    r = RedirectResponse(target, status_code=303)
    r.set_cookie(LANG_COOKIE, code, max_age=365 * 24 * 3600, samesite="lax", path="/")
    return r


@pages.get("/robots.txt", response_class=Response)
async def robots() -> Response:
    return Response("User-agent: *\nDisallow: /api/\n", media_type="text/plain")
