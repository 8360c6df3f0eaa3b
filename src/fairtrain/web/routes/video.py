"""Resumable video uploads for creators: a video of many gigabytes arrives in chunks, each appended to a
file under the data directory's ``uploads/video/<account>/<id>/``, so a reload or a dropped connection
costs only the chunk in flight. The browser (``static/video-upload.js``) asks where the server is
(``GET``), sends the rest from there (``PUT ?offset=``), and then asks for the work to be registered
(``POST …/finish``, answered at once): the video is fingerprinted in the background, in the
application's worker processes (``web/cpu.py``; only the file's path crosses to them, within a time
budget that grows with the file), and ``GET`` says ``fingerprinting`` until the outcome is in
``result.json``; the file is deleted once registered: the registry keeps the fingerprint and the
thumbnail strip, never the video. A server restart mid-way leaves the upload ``complete``, and asking
to finish it again starts over.

Caps: ``WebLimits.max_video_bytes`` (16 GiB) per video, refused when the upload is opened and again
while chunks arrive; at most :data:`MAX_OPEN_UPLOADS` unfinished uploads per account, and one untouched
for a week is removed; a chunk is at most ``WebLimits.video_chunk_bytes`` (each request body is bounded in
memory by the BodyLimit middleware as every other one). Refusals answer ``{"detail", "message"}``:
``message`` is the reason in the reader's language, for the page to show."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import re
import secrets
import shutil
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from fairtrain.core.errors import FairtrainError, localised
from fairtrain.core.files import write_atomic
from fairtrain.core.media import detect_media_type, media_type_by_name
from fairtrain.services.registry import RegistryError, portfolio
from fairtrain.services.registry.repertoire import translate_reason
from fairtrain.web.api import Caller, WorkAt, _limit
from fairtrain.web.cpu import CpuError
from fairtrain.web.deps import language, require, web
from fairtrain.web.errors import WebError, refusal
from fairtrain.web.pages import render

router = APIRouter()
pages = APIRouter(include_in_schema=False)

_ID = re.compile(r"[0-9a-f]{24}")
MIN_CHUNK_BYTES = 64 * 1024
SECONDS_PER_GIB = 300.0  # fingerprinting budget per GiB of video, on top of the upload budget
MAX_OPEN_UPLOADS = 3  # unfinished uploads per account (each may hold up to max_video_bytes on disk)
STALE_SECONDS = 7 * 24 * 3600  # an upload untouched for a week is removed


def _open_uploads(mine: Path) -> list[Path]:
    """The account's unfinished uploads, after removing those untouched for :data:`STALE_SECONDS`."""
    if not mine.is_dir():
        return []
    now = time.time()
    out = []
    for folder in mine.iterdir():
        touched = max((f.stat().st_mtime for f in folder.iterdir() if f.is_file()), default=0.0)
        if now - touched > STALE_SECONDS:
            shutil.rmtree(folder, ignore_errors=True)
        elif not (folder / "result.json").exists():  # a finished one no longer counts
            out.append(folder)
    return out


def _folder(state, p, upload_id: str) -> Path:
    if not _ID.fullmatch(upload_id):
        raise refusal(404, "No upload {id}: it may have finished or been discarded.", id=upload_id[:40])
    folder = state.data_dir / "uploads" / "video" / str(p.account.id) / upload_id
    if not (folder / "meta.json").is_file():
        raise refusal(404, "No upload {id}: it may have finished or been discarded.", id=upload_id)
    return folder


def _meta(folder: Path) -> dict:
    return json.loads((folder / "meta.json").read_text(encoding="utf-8"))


def _offset(folder: Path) -> int:
    return (folder / "data.part").stat().st_size


def _gib(n: int) -> str:
    return f"{n / 1024**3:g} GiB" if n >= 1024**3 else f"{n:,} B"


def _answer(request: Request, exc: FairtrainError) -> JSONResponse:
    """A refusal as JSON with the reason in the reader's language beside the English ``detail``."""
    status = getattr(exc, "http_status", 400)
    return JSONResponse(
        {"detail": str(exc), "message": _said(exc, language(request))},
        status_code=status,
        headers=getattr(exc, "headers", None),
    )


def _status(folder: Path, upload_id: str) -> dict:
    """Where an upload stands: ``uploading`` (``offset`` of ``size`` bytes here), ``complete`` (all here, not
    yet registered), ``fingerprinting``, ``done`` (``result`` names the work) or ``failed`` (``result`` says why)."""
    meta = _meta(folder)
    out = {"id": upload_id, "name": meta["name"], "size": meta["size"]}
    if (folder / "result.json").is_file():
        result = json.loads((folder / "result.json").read_text(encoding="utf-8"))
        return {**out, "offset": meta["size"], "state": "done" if result["ok"] else "failed", "result": result}
    offset = _offset(folder)
    state = "fingerprinting" if _registering(folder) else "complete" if offset == meta["size"] else "uploading"
    return {**out, "offset": offset, "state": state, "complete": offset == meta["size"]}


@router.post("/api/video-uploads", status_code=201, tags=["works"])
def open_upload(
    request: Request,
    p: Caller,
    name: Annotated[str, Body(min_length=1, max_length=200)],
    size: Annotated[int, Body(ge=1)],
    title: Annotated[str, Body(max_length=300)] = "",
):
    """Open a resumable upload of one video (its name and size in bytes); chunks follow with ``PUT``."""
    require(p, "creator", what="uploading works")
    state = web(request)
    cap = state.limits.max_video_bytes
    try:
        if media_type_by_name(name) != "video" and not name.lower().endswith(".ts"):
            raise refusal(415, "{name}: not a video file (MP4, MKV, WebM, MOV, MPEG-TS or AVI).", name=name)
        if size > cap:
            raise refusal(
                413,
                "{name} is {size}; a video may be at most {cap}.",
                name=name,
                size=_gib(size),
                cap=_gib(cap),
            )
    except WebError as e:
        return _answer(request, e)
    mine = state.data_dir / "uploads" / "video" / str(p.account.id)
    try:
        _limit(state, "uploads_per_account", f"user:{p.account.id}", "uploads")
        if len(_open_uploads(mine)) >= MAX_OPEN_UPLOADS:
            raise refusal(
                409,
                "You have {n} unfinished video uploads: finish or discard one before starting another.",
                n=MAX_OPEN_UPLOADS,
            )
    except WebError as e:
        return _answer(request, e)
    upload_id = secrets.token_hex(12)
    folder = mine / upload_id
    folder.mkdir(parents=True)
    (folder / "data.part").touch()
    meta = {"name": name, "size": size, "title": title}
    (folder / "meta.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
    return {**_status(folder, upload_id), "chunk_bytes": state.limits.video_chunk_bytes}


@router.get("/api/video-uploads/{upload_id}", tags=["works"])
def upload_status(request: Request, p: Caller, upload_id: str):
    """Where an upload stands: how many bytes the server holds (the offset to send from)."""
    require(p, "creator", what="uploading works")
    try:
        return _status(_folder(web(request), p, upload_id), upload_id)
    except WebError as e:
        return _answer(request, e)


def _append(folder: Path, offset: int, body: bytes, size: int) -> int:
    """Append ``body`` at ``offset``, which must be where the file ends (under a lock: two tabs sending the
    same chunk write it once); the new end."""
    with open(folder / "data.part", "ab") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        end = os.fstat(f.fileno()).st_size
        if offset != end:
            e = refusal(
                409, "The upload continues at byte {offset}, not {given}: send from there.", offset=end, given=offset
            )
            e.headers = {"Upload-Offset": str(end)}
            raise e
        if end + len(body) > size:
            raise refusal(413, "More bytes than the {size} bytes announced.", size=size)
        f.write(body)
        f.flush()
        return end + len(body)


@router.put("/api/video-uploads/{upload_id}", tags=["works"])
async def upload_chunk(request: Request, p: Caller, upload_id: str, offset: Annotated[int, Query(ge=0)]):
    """One chunk (the raw bytes as the body), appended at ``offset``; answers the new offset. A chunk sent
    from the wrong offset is refused with 409 and the right one (``Upload-Offset``)."""
    require(p, "creator", what="uploading works")
    state = web(request)
    try:
        folder = _folder(state, p, upload_id)
        if _status(folder, upload_id)["state"] in ("fingerprinting", "done", "failed"):
            raise refusal(409, "This upload is complete: nothing more can be sent to it.")
        body = await request.body()  # bounded by the BodyLimit middleware, and here by the chunk size
        if len(body) > state.limits.video_chunk_bytes:
            raise refusal(413, "A chunk may be at most {cap} bytes.", cap=state.limits.video_chunk_bytes)
        end = await run_in_threadpool(_append, folder, offset, body, _meta(folder)["size"])
    except WebError as e:
        return _answer(request, e)
    return {"offset": end}


def _register(path: Path, name: str) -> tuple[bytes, str | None]:
    """The video's registered fingerprint and ISCC, in a worker process (only the path is sent there)."""
    from fairtrain.services.registry.registry import register_content

    return register_content("video", path, name)


def _budget(state, size: int) -> float:
    """Seconds a video of ``size`` bytes may take to fingerprint: the upload budget plus
    :data:`SECONDS_PER_GIB` per GiB (registration runs at ≥ 30× real time; this leaves room for slow CPUs
    and high bitrates)."""
    return state.limits.fingerprint_seconds + SECONDS_PER_GIB * size / 1024**3


def _said(exc: FairtrainError, lang: str) -> str:
    message = localised(exc, lang)
    return translate_reason(message, lang) if message == str(exc) else message


async def _register_job(state, holder_id: int, folder: Path, meta: dict, lang: str) -> None:
    """Fingerprint (in the worker pool) and register the video, then delete it; the outcome is written to
    ``result.json`` beside the upload's ``meta.json`` for the page to read."""
    path = folder / "data.part"
    try:
        fingerprint, iscc = await state.cpu.run(
            meta["name"], 0, _register, path, meta["name"], seconds=_budget(state, meta["size"])
        )
        title = meta["title"].strip() or Path(meta["name"]).stem or "video"
        r = await asyncio.to_thread(
            portfolio.register_own,
            state.registry,
            holder_id,
            title=title,
            data=path,
            file_name=meta["name"],
            registered=("video", fingerprint, iscc),
        )
        result = portfolio.uploaded(state.registry, meta["name"], r)
    except (CpuError, RegistryError, WebError) as e:
        result = {"file": meta["name"], "ok": False, "detail": str(e), "message": _said(e, lang)}
    except Exception as e:  # noqa: BLE001 - a job must say it failed rather than run for ever
        result = {"file": meta["name"], "ok": False, "detail": f"{meta['name']}: {e}", "message": str(e)}
    write_atomic(folder / "result.json", json.dumps(result, ensure_ascii=False).encode())
    if result["ok"]:
        path.unlink(missing_ok=True)  # the registry keeps the fingerprint and the strip, never the video


# The process registering an upload holds an exclusive flock on this file in its folder for as long as it
# runs, so every server process on the data directory (serve --workers N) sees it as being registered, and
# none starts it again; the kernel drops the lock when that process ends, however it ends.
_REGISTERING = "registering.lock"


def _registering(folder: Path) -> bool:
    try:
        fd = os.open(folder / _REGISTERING, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)  # a shared probe: other probes do not stand in its way
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _take(folder: Path) -> int | None:
    """The held lock's descriptor, or None when another registration holds it (tried for 0.1 s: a status
    probe holds it shared for microseconds)."""
    fd = os.open(folder / _REGISTERING, os.O_RDWR | os.O_CREAT, 0o600)
    for _ in range(20):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            time.sleep(0.005)
    os.close(fd)
    return None


def _run_job(state, holder_id: int, folder: Path, meta: dict, lang: str, lock: int) -> None:
    try:
        asyncio.run(_register_job(state, holder_id, folder, meta, lang))
    finally:
        os.close(lock)


@router.post("/api/video-uploads/{upload_id}/finish", status_code=202, tags=["works"])
def finish_upload(request: Request, p: Caller, upload_id: str):
    """Register the uploaded video as a work of the creator: fingerprinting starts in the background (a
    long programme takes minutes) and ``GET`` says when it is done; the file is deleted once registered."""
    require(p, "creator", what="uploading works")
    state = web(request)
    lang = language(request)
    try:
        folder = _folder(state, p, upload_id)
        meta = _meta(folder)
        status = _status(folder, upload_id)
        if status["state"] != "complete":
            if status["state"] == "uploading":
                raise refusal(
                    409,
                    "The upload is not complete: {offset} of {size} bytes arrived.",
                    offset=status["offset"],
                    size=meta["size"],
                )
            return JSONResponse(status, status_code=200 if status["state"] in ("done", "failed") else 202)
        with open(folder / "data.part", "rb") as f:
            head = f.read(8192)
        if detect_media_type(head, meta["name"]) != "video":
            raise refusal(415, "{name}: not a video file (MP4, MKV, WebM, MOV, MPEG-TS or AVI).", name=meta["name"])
    except WebError as e:
        return _answer(request, e)
    lock = _take(folder)
    if lock is not None:
        if (folder / "result.json").is_file():  # registered meanwhile, by the process that held the lock
            os.close(lock)
        else:
            threading.Thread(
                target=_run_job, args=(state, p.account.holder_id, folder, meta, lang, lock), daemon=True
            ).start()
    return JSONResponse(_status(folder, upload_id), status_code=202)


@router.delete("/api/video-uploads/{upload_id}", status_code=204, tags=["works"])
def discard_upload(request: Request, p: Caller, upload_id: str):
    require(p, "creator", what="uploading works")
    try:
        folder = _folder(web(request), p, upload_id)
        if _status(folder, upload_id)["state"] == "fingerprinting":
            raise refusal(409, "The video is being registered: wait until it is done.")
        shutil.rmtree(folder)
    except WebError as e:
        return _answer(request, e)
    return None


def strip_url(work: dict) -> str | None:
    """Where a video work's thumbnail strip is served (None for other works)."""
    return f"/works/{work['id']}/strip.jpg" if work.get("media_type") == "video" else None


@pages.get("/works/{work_id}/strip.jpg", tags=["works"])
def work_strip(request: Request, work_id: WorkAt):
    """A video work's thumbnail strip, from what the registry keeps with its fingerprint (public, like the
    work page)."""
    strip = web(request).registry.video_strip(work_id)
    if strip is None:
        raise refusal(404, "Work {id} has no thumbnail strip: it is not a video.", id=work_id)
    return Response(strip, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"})


@pages.get("/creator/video", response_class=HTMLResponse)
def video_page(request: Request, p: Caller, chunk: Annotated[int | None, Query(ge=MIN_CHUNK_BYTES)] = None):
    """The creator's resumable video upload (``chunk``: smaller chunks for a slow or unreliable line)."""
    require(p, "creator", what="the creator page")
    limits = web(request).limits
    size = min(chunk or limits.video_chunk_bytes, limits.video_chunk_bytes)
    return render(
        request,
        "video_upload.html",
        p,
        chunk_bytes=size,
        max_bytes=limits.max_video_bytes,
        max_text=_gib(limits.max_video_bytes),
    )
