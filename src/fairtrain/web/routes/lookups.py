""" "Was my work used?" and what developers publish for it: the lookup (``/used``, ``/api/lookup``) and the
proof behind its answer, published clearances (``/api/clearances``) and model training-data summaries
(``/summaries``, ``/api/summaries``). The answers are :mod:`fairtrain.services.transparency.lookup`'s, the
same the CLI's ``lookup`` and ``log record-clearance`` give."""

from __future__ import annotations

import json
from functools import partial
from typing import Annotated

from fastapi import APIRouter, File, Path, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse
from starlette.concurrency import run_in_threadpool

from fairtrain.services.log import Log
from fairtrain.web.api import Caller, _client, _limit_async, read_upload
from fairtrain.web.deps import require, web
from fairtrain.web.errors import WebError
from fairtrain.web.pages import form_file, render

router = APIRouter(prefix="/api")
pages = APIRouter(include_in_schema=False)


def _tl():
    """The lookup service, imported on first use (it brings pyarrow, which a server that never answers a
    lookup need not load)."""
    from fairtrain.services.transparency import lookup

    return lookup


def _work_lookup(state):
    """The published clearances (those published to this registry under ``clearances/``) and their log."""
    tl = _tl()
    return tl.WorkLookup(Log(state.registry.engine), tl.published_clearance_dirs(state.data_dir), state.registry_keys)


def _record_clearance(state, manifest: bytes, leaves: dict[str, bytes], decisions: bytes | None) -> dict:
    """A developer publishes a clearance (manifest and leaves; the API and the developer page): verified,
    stored under ``clearances/`` and logged."""
    return _tl().record_published_clearance(Log(state.registry.engine), state.data_dir, manifest, leaves, decisions)


def _plan(state, name: str, data: bytes):
    """The database half of a lookup: the clearances, and the snapshots a file is recognised with."""
    if not data:
        raise WebError(400, f"{name}: empty file")
    wl = _work_lookup(state)
    return wl, _tl().lookup_snapshot_dirs(wl, state.data_dir)


async def lookup_file(state, name: str, data: bytes) -> dict:
    """``data`` is fingerprinted in memory (in the application's worker processes) and never stored;
    answered by :func:`~fairtrain.services.transparency.lookup.was_used`."""
    tl = _tl()
    state.cpu.check_size(name, len(data))
    wl, snapshot_dirs = await run_in_threadpool(_plan, state, name, data)
    found = await state.cpu.run(
        name,
        len(data),
        partial(tl.identify_in, require_snapshot=False),
        name,
        data,
        snapshot_dirs,
        None,
        state.registry_keys,
    )  # CpuError: 4xx
    return await run_in_threadpool(tl.was_used, wl, found, state.registry)


def summaries(state, limit: int = 100) -> list[dict]:
    """The newest ``limit`` model training-data summaries published in the log, newest first."""
    keys = ("model", "version", "provider", "format", "lang", "sha256")
    return [
        {
            "log_index": e["idx"],
            **{k: e["body"].get(k) for k in keys},
            "clearances": e["body"].get("clearances", []),
            "at": e.get("at"),
        }
        for e in Log(state.registry.engine).latest("summary", limit)
    ]


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


# -- the JSON API -------------------------------------------------------------------------------------


@router.post("/clearances", tags=["developers"], status_code=201)
async def publish_clearance(
    request: Request,
    p: Caller,
    manifest: Annotated[UploadFile, File()],
    leaves_works: Annotated[UploadFile, File()],
    leaves_items: Annotated[UploadFile, File()],
    decisions: Annotated[UploadFile | None, File()] = None,
) -> dict:
    """Publish a clearance (``fairtrain log record-clearance OUT --to URL``): its signed manifest.json and
    the leaves files (leaves-works.parquet, leaves-items.parquet; decisions.parquet optional). The
    signature and the leaves are checked against the manifest's roots, then stored and logged, so that
    "was my work used?" can answer for it."""
    require(p, "developer", what="publishing a clearance")
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"user:{p.account.id}", "clearances")
    files = {
        k: (await read_upload(u))[1]
        for k, u in (
            ("manifest.json", manifest),
            ("leaves-works.parquet", leaves_works),
            ("leaves-items.parquet", leaves_items),
        )
    }
    dec = (await read_upload(decisions))[1] if decisions is not None else None
    return await run_in_threadpool(_record_clearance, state, files.pop("manifest.json"), files, dec or None)


@router.post("/lookup", tags=["public"])
async def lookup(request: Request, file: Annotated[UploadFile, File()]) -> dict:
    """Upload a work: fingerprinted in memory (never stored) and answered for every clearance in the log."""
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"lookup:{_client(request)}", "lookups")
    name, data = await read_upload(file)
    return await lookup_file(state, name, data)


@router.get("/lookup/proof/{log_index}", tags=["public"])
def lookup_proof(
    request: Request,
    log_index: Annotated[int, Path(ge=0, le=2**31 - 1)],
    work: Annotated[str | None, Query(max_length=200)] = None,
    item: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Download the proof behind an answer: the log's inclusion proof of the clearance and the proof that
    the work (``work=SNAPSHOT:WORK``) or the exact file (``item=HASH``) is, or is not, in its item list;
    ``fairtrain lookup --verify FILE`` checks it offline."""
    tl = _tl()
    try:
        proof = tl.proof_of(_work_lookup(web(request)), log_index, work_key=work, item=item)
    except tl.WorkLookupError as e:
        raise WebError(409 if "no log proof yet" in str(e) else 400, str(e)) from None
    what = (work or item or "").replace(":", "-")[:80]
    return Response(
        json.dumps(proof, indent=2, ensure_ascii=False) + "\n",
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="proof-{log_index}-{what}.json"'},
    )


@router.get("/summaries", tags=["public"])
def list_summaries(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> list[dict]:
    return summaries(web(request), limit)


# -- the pages ----------------------------------------------------------------------------------------


@pages.get("/used", response_class=HTMLResponse)
def lookup_page(request: Request, p: Caller):
    return render(request, "lookup.html", p, result=None)


@pages.post("/used", response_class=HTMLResponse)
async def lookup_form(request: Request, p: Caller):
    state = web(request)
    await _limit_async(state, "uploads_per_account", f"lookup:{_client(request)}", "lookups")
    form = await request.form()
    name, data = await form_file(form, "file", "was my work used?: choose a file")
    result = await lookup_file(state, name, data)
    return render(request, "lookup.html", p, result=result, excerpt=_excerpt(data))


@pages.get("/summaries", response_class=HTMLResponse)
def summaries_page(request: Request, p: Caller):
    return render(request, "summaries.html", p, summaries=summaries(web(request)))
