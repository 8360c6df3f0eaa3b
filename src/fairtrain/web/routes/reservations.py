"""Public reservation pages: every creator (``/r/h/<id>``) and every work (``/r/w/<id>``) has one.

The page says the reservation in words (Korean or English, by the reader's language) and carries it in
every machine-readable form a crawler that lands there reads: the ``X-Robots-Tag``, ``tdm-reservation``,
``Content-Usage`` and RSL ``Link`` headers, TDMRep and robots ``<meta>``, RSL, TDMRep, ODRL and JSON-LD
links, and the JSON-LD inline. The same forms lie beside it (``/r/h/<id>/license.xml``,
``/.well-known/tdmrep.json``, ``tdm-policy.json``, ``odrl.json``, ``terms.jsonld``), with a QR code and a
badge. Everything is rendered from the registry's effective terms at request time, so the page and its
files never disagree with the decision engine.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import HTMLResponse

from fairtrain.core.signals import reservation as rv
from fairtrain.core.signals.render import (
    RSL_MEDIA_TYPE,
    RSL_XML,
    TDM_POLICY_JSON,
    TDMREP_JSON,
    SignalPolicy,
    render_rsl,
    render_statement,
    render_tdm_policy,
    render_tdmrep_json,
    response_headers,
    statement_rows,
)
from fairtrain.services.registry import portfolio
from fairtrain.web.api import Caller
from fairtrain.web.deps import language, web
from fairtrain.web.pages import render
from fairtrain.web.reservations import page_path, registry_origin, reservation

pages = APIRouter(include_in_schema=False)
Kind = Annotated[str, Path(pattern="^[hw]$")]
Id = Annotated[int, Path(ge=1, le=2**62)]


def signal_headers(policy: SignalPolicy) -> dict[str, str]:
    return dict(response_headers(policy))


@pages.api_route("/r/{kind}/{target_id}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def reservation_page(request: Request, p: Caller, kind: Kind, target_id: Id):
    from fairtrain.web.routes.video import strip_url

    state = web(request)
    origin = registry_origin(request)
    policy, title = reservation(state, kind, target_id, origin)
    lang = language(request)
    page_url = origin + page_path(kind, target_id)
    works = portfolio.works(state.registry, holder_id=target_id, limit=100) if kind == "h" else []
    r = render(
        request,
        "reserve.html",
        p,
        policy=policy,
        title=title,
        kind=kind,
        target_id=target_id,
        page_url=page_url,
        head=rv.head_elements(policy, page_url),
        rsl_media_type=RSL_MEDIA_TYPE,
        jsonld=rv.render_jsonld(policy, name=title, page_url=page_url, lang=lang),
        rows=statement_rows(policy, lang),
        line=rv.one_line(policy, page_url, lang),
        statement_md=render_statement(policy, lang),
        statement=rv.statement_html(render_statement(policy, lang)),
        works=works,
        strip_url=strip_url(state.registry.work(target_id)) if kind == "w" else None,
    )
    r.headers.update(signal_headers(policy))
    return r


def _file(request: Request, kind: str, target_id: int) -> SignalPolicy:
    return reservation(web(request), kind, target_id, registry_origin(request))[0]


def _machine(body: str, media_type: str, policy: SignalPolicy) -> Response:
    return Response(
        body,
        media_type=media_type,
        headers={**signal_headers(policy), "Access-Control-Allow-Origin": "*", "Cache-Control": "public, max-age=300"},
    )


@pages.get(f"/r/{{kind}}/{{target_id}}/{RSL_XML}")
def reservation_rsl(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(render_rsl(policy), RSL_MEDIA_TYPE, policy)


@pages.get(f"/r/{{kind}}/{{target_id}}/{TDMREP_JSON}")
def reservation_tdmrep(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(render_tdmrep_json(policy), "application/json", policy)


@pages.get(f"/r/{{kind}}/{{target_id}}/{TDM_POLICY_JSON}")
@pages.get(f"/r/{{kind}}/{{target_id}}/{rv.ODRL_JSON}")
def reservation_odrl(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(render_tdm_policy(policy), "application/ld+json", policy)


@pages.get(f"/r/{{kind}}/{{target_id}}/{rv.JSONLD}")
def reservation_jsonld(request: Request, kind: Kind, target_id: Id):
    state = web(request)
    origin = registry_origin(request)
    policy, title = reservation(state, kind, target_id, origin)
    return _machine(
        rv.render_jsonld(policy, name=title, page_url=origin + page_path(kind, target_id), lang=language(request)),
        "application/ld+json",
        policy,
    )


@pages.get(f"/r/{{kind}}/{{target_id}}/{rv.QR_SVG}")
def reservation_qr(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(rv.render_qr_svg(registry_origin(request) + page_path(kind, target_id)), "image/svg+xml", policy)


@pages.get(f"/r/{{kind}}/{{target_id}}/{rv.BADGE_SVG}")
def reservation_badge(request: Request, kind: Kind, target_id: Id, lang: str = ""):
    policy = _file(request, kind, target_id)
    return _machine(
        rv.render_badge_svg(policy, lang if lang in ("en", "ko") else language(request)), "image/svg+xml", policy
    )
