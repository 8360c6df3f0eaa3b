"""What the registry shows everyone: search (``/search``, ``/api/registry/search``), the public log
(``/log``, ``/api/log…``), output checks against a published snapshot, and clearances published to the log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from fairtrain.services.log import Log
from fairtrain.services.registry.search import search_works
from fairtrain.services.transparency import published
from fairtrain.web.api import Caller, _limit_async, read_upload
from fairtrain.web.deps import require, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import form_file, render, upload_form
from fairtrain.web.routes.accounts import developer_page
from fairtrain.web.routes.lookups import _record_clearance

api = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


def _search(state, query: str, *, limit: int = 20, after: int = 0) -> dict:
    """One page of the public search (titles, holders, work_refs, identifiers) with each work's current
    terms, and the ``after`` of the next page."""
    page = search_works(state.registry.engine, query, limit=limit, after=after)
    for r in page.results:
        r["terms"] = state.registry.terms(r["id"])
    return page.to_dict()


@api.post("/outputs/check", tags=["transparency"])
async def check_outputs(
    request: Request,
    p: Caller,
    files: Annotated[list[UploadFile], File()],
    snapshot: Annotated[str, Form(max_length=200)],
) -> dict:
    """Match a batch of generated text, images, audio or video against a published snapshot: near-verbatim
    reproductions with the matched work, the evidence and a score, and attribution weights per work."""
    require(p, "developer", what="checking model outputs")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
    if len(files) > state.limits.max_files:
        raise WebError(413, f"outputs: at most {state.limits.max_files} files per request, got {len(files)}")
    snap_dir = published.snapshot_file(state.snapshots_dir, snapshot, "manifest.json").parent  # 404 unless published
    blobs = [await read_upload(f, "output") for f in files]
    # matching fingerprints the outputs: in the application's worker processes (CpuError answers 4xx/503)
    return await state.cpu.run(
        "outputs", sum(len(d) for _, d in blobs), published.check_outputs, snap_dir, blobs, state.registry_keys
    )


@api.get("/registry/search", tags=["public"])
def search(
    request: Request,
    response: Response,
    q: Annotated[str, Query(max_length=300, description="title, holder, work_ref, ISWC/ISRC/ISBN")] = "",
    title: Annotated[str, Query(max_length=300, description="the older name for q")] = "",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[int, Query(ge=0, lt=2**63, description="the last work id of the previous page")] = 0,
) -> list[dict]:
    """One page of works in work order; the next page's URL is in the ``Link`` header (rel="next")."""
    query = q or title
    page = _search(web(request), query, limit=limit, after=after)
    if page["next_after"] is not None:
        nxt = request.url.include_query_params(q=page["query"], after=page["next_after"]).remove_query_params("title")
        response.headers["Link"] = f'<{nxt}>; rel="next"'
    return page["results"]


@api.get("/log", tags=["public"])
def log_head(request: Request) -> dict:
    return Log(web(request).registry.engine).summary()


@api.get("/log/entries", tags=["public"])
def log_entries(
    request: Request, start: Annotated[int, Query(ge=0, le=2**62)] = 0, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict]:
    return Log(web(request).registry.engine).entries(start, start + limit)


@api.get("/log/proof/{index}", tags=["public"])
def log_proof(
    index: Annotated[int, Path(ge=0, le=2**62)],
    request: Request,
    size: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict:
    return Log(web(request).registry.engine).inclusion_proof(index, size)


@api.get("/log/consistency", tags=["public"])
def log_consistency(
    request: Request,
    old: Annotated[int, Query(ge=0, le=2**62)],
    new: Annotated[int | None, Query(ge=0, le=2**62)] = None,
) -> dict:
    return Log(web(request).registry.engine).consistency_proof(old, new)


@pages.post("/developer/clearances", response_class=HTMLResponse)
async def developer_publish_clearance(request: Request, p: Caller):
    """The page form of ``fairtrain log record-clearance OUT --to URL``: the manifest and its leaves files."""

    state, form = await upload_form(request, p, "developer", "publishing a clearance")
    _, manifest = await form_file(form, "manifest", "publish a clearance: choose its manifest.json")
    leaves = {}
    for field, name in (("leaves_works", "leaves-works.parquet"), ("leaves_items", "leaves-items.parquet")):
        leaves[name] = (await form_file(form, field, f"publish a clearance: choose its {name}"))[1]
    decisions = form.get("decisions")
    dec = (await read_upload(decisions))[1] if decisions is not None and not isinstance(decisions, str) else None
    published = await run_in_threadpool(_record_clearance, state, manifest, leaves, dec or None)
    return developer_page(request, p, published=published)


@pages.get("/search", response_class=HTMLResponse)
def search_page(
    request: Request,
    p: Caller,
    q: Annotated[str, Query(max_length=300)] = "",
    title: Annotated[str, Query(max_length=300)] = "",  # the older links' name for q
    after: Annotated[int, Query(ge=0, lt=2**63)] = 0,
):
    q = (q or title).strip()
    page = _search(web(request), q, after=after) if q else None
    return render(request, "search.html", p, title=q, page=page, results=page["results"] if page else None)


@pages.get("/log", response_class=HTMLResponse)
def log_page(request: Request, p: Caller):
    state = web(request)
    log = Log(state.registry.engine)
    head = log.summary()
    start = max(0, head["size"] - 20)
    entries = log.entries(start, start + 20)
    return render(request, "log.html", p, head=head, entries=list(reversed(entries)))
