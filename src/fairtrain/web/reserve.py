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

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from fairtrain.core.signals import reservation as rv
from fairtrain.core.signals.render import (
    RSL_MEDIA_TYPE,
    RSL_XML,
    TDM_POLICY_JSON,
    TDMREP_JSON,
    Party,
    PartyKind,
    SignalPolicy,
    render_rsl,
    render_statement,
    render_tdm_policy,
    render_tdmrep_json,
    response_headers,
    statement_rows,
)
from fairtrain.core.vocab import Level
from fairtrain.web import ops
from fairtrain.web.deps import language, principal, web
from fairtrain.web.errors import WebError
from fairtrain.web.security import Principal

router = APIRouter(include_in_schema=False)
Caller = Annotated[Principal, Depends(principal)]
Kind = Annotated[str, Path(pattern="^[hw]$")]
Id = Annotated[int, Path(ge=1, le=2**62)]
_LEVEL = {"h": Level.CATALOGUE, "w": Level.WORK}


def page_path(kind: str, target_id: int) -> str:
    """The short, stable path of a reservation page: ``/r/h/<holder>`` or ``/r/w/<work>``."""
    return f"/r/{kind}/{target_id}"


def registry_origin(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def reservation(state, kind: str, target_id: int, origin: str) -> tuple[SignalPolicy, str]:
    """(policy, title) of a creator's or a work's reservation as published by the registry at ``origin``.

    A person's e-mail address is never published: licences are asked for through the registry, so its
    address is the contact; an organisation's own (business) address is."""
    if kind == "h":
        holder = state.registry.find_holder(target_id)
        name, email, title, party_kind = holder["name"], None, holder["name"], PartyKind.HOLDER
    else:
        work = state.registry.work(target_id)
        title = work["title"]
        if work["holders"]:
            holder = state.registry.find_holder(work["holders"][0]["holder"].split(":")[1])
            name, email, party_kind = holder["name"], None, PartyKind.HOLDER
        elif work["organisation"]:
            org = state.registry.find_org(work["organisation"])
            name, email, party_kind = org["name"], org["email"], PartyKind.ORGANISATION
        else:
            raise WebError(404, f"work {target_id}: no holder to declare for it")
    path = page_path(kind, target_id)
    policy = SignalPolicy.from_decisions(
        Party(name, party_kind, email or registry_contact(origin)), origin,
        state.registry.policy_decisions(_LEVEL[kind], target_id).values(),
        policy_url=origin + path, licence_urls=(origin + path,), scope=path)
    return policy, title


def request_host(origin: str) -> str:
    return origin.split("://", 1)[1].split(":")[0]


def registry_contact(origin: str) -> str:
    """The registry's own address for licence questions (a host without a domain, such as a test or
    intranet name, gets the reserved ``.invalid`` suffix rather than a malformed address)."""
    host = request_host(origin)
    return f"registry@{host}" if "." in host.strip(".") else f"registry@{host}.invalid"


def signal_headers(policy: SignalPolicy) -> dict[str, str]:
    return dict(response_headers(policy))


@router.api_route("/r/{kind}/{target_id}", methods=["GET", "HEAD"], response_class=HTMLResponse)
def reservation_page(request: Request, p: Caller, kind: Kind, target_id: Id):
    from fairtrain.web.pages import render

    state = web(request)
    origin = registry_origin(request)
    policy, title = reservation(state, kind, target_id, origin)
    lang = language(request)
    page_url = origin + page_path(kind, target_id)
    works = ops.holder_works(state, target_id, limit=100) if kind == "h" else []
    r = render(request, "reserve.html", p, policy=policy, title=title, kind=kind, target_id=target_id,
               page_url=page_url, head=rv.head_elements(policy, page_url), rsl_media_type=RSL_MEDIA_TYPE,
               jsonld=rv.render_jsonld(policy, name=title, page_url=page_url, lang=lang),
               rows=statement_rows(policy, lang), line=rv.one_line(policy, page_url, lang),
               statement_md=render_statement(policy, lang),
               statement=rv.statement_html(render_statement(policy, lang)), works=works)
    r.headers.update(signal_headers(policy))
    return r


def _file(request: Request, kind: str, target_id: int) -> SignalPolicy:
    return reservation(web(request), kind, target_id, registry_origin(request))[0]


def _machine(body: str, media_type: str, policy: SignalPolicy) -> Response:
    return Response(body, media_type=media_type, headers={**signal_headers(policy), "Access-Control-Allow-Origin": "*",
                                                          "Cache-Control": "public, max-age=300"})


@router.get(f"/r/{{kind}}/{{target_id}}/{RSL_XML}")
def reservation_rsl(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(render_rsl(policy), RSL_MEDIA_TYPE, policy)


@router.get(f"/r/{{kind}}/{{target_id}}/{TDMREP_JSON}")
def reservation_tdmrep(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(render_tdmrep_json(policy), "application/json", policy)


@router.get(f"/r/{{kind}}/{{target_id}}/{TDM_POLICY_JSON}")
@router.get(f"/r/{{kind}}/{{target_id}}/{rv.ODRL_JSON}")
def reservation_odrl(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(render_tdm_policy(policy), "application/ld+json", policy)


@router.get(f"/r/{{kind}}/{{target_id}}/{rv.JSONLD}")
def reservation_jsonld(request: Request, kind: Kind, target_id: Id):
    state = web(request)
    origin = registry_origin(request)
    policy, title = reservation(state, kind, target_id, origin)
    return _machine(rv.render_jsonld(policy, name=title, page_url=origin + page_path(kind, target_id),
                                     lang=language(request)), "application/ld+json", policy)


@router.get(f"/r/{{kind}}/{{target_id}}/{rv.QR_SVG}")
def reservation_qr(request: Request, kind: Kind, target_id: Id):
    policy = _file(request, kind, target_id)
    return _machine(rv.render_qr_svg(registry_origin(request) + page_path(kind, target_id)), "image/svg+xml", policy)


@router.get(f"/r/{{kind}}/{{target_id}}/{rv.BADGE_SVG}")
def reservation_badge(request: Request, kind: Kind, target_id: Id, lang: str = ""):
    policy = _file(request, kind, target_id)
    return _machine(rv.render_badge_svg(policy, lang if lang in ("en", "ko") else language(request)),
                    "image/svg+xml", policy)
