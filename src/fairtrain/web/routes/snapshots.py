"""Public snapshot routes (``/api/snapshots/...``; the chain also at ``/snapshots/``): published snapshots and deltas, their chain, and their
files with HTTP range requests and strong ETags (the file's SHA-256), for ``fairtrain snapshot pull``.

Read-only and anonymous; a file is served only from ``data_dir/snapshots/NAME/`` and only if the
snapshot's manifest lists it (or is the manifest)."""

from __future__ import annotations

import hashlib
import json
from typing import Annotated

from fastapi import APIRouter, Path, Request, Response
from fastapi.responses import FileResponse

from fairtrain.core.snapshot import DELTA_FORMAT, SnapshotError, verify_delta
from fairtrain.core.snapshot_delta import chain
from fairtrain.services.transparency import published
from fairtrain.web.deps import web

router = APIRouter()


@router.get("/api/snapshots", tags=["public"])
def list_snapshots(request: Request) -> list[dict]:
    return published.snapshots(web(request).snapshots_dir)


@router.get("/api/snapshots/chain", tags=["public"])
@router.get("/snapshots/", tags=["public"])
def snapshot_chain(request: Request) -> dict:
    """The newest full snapshot and the signed deltas after it, in order, each with its manifest's SHA-256
    and (a delta) the snapshot id it applies to and the one it leads to; ``head`` is the newest state.
    Nothing here is trusted by a puller: it verifies every manifest's signature and hash."""
    return chain(web(request).snapshots_dir)


@router.get("/api/snapshots/{name}/verify", tags=["public"])
def verify_snapshot(name: Annotated[str, Path(max_length=200)], request: Request) -> dict:
    """A published snapshot or delta checked against this registry's keys (a delta: signature and files;
    whether it applies is the puller's check against the snapshot it holds)."""
    state = web(request)
    manifest = published.snapshot_file(state.snapshots_dir, name, "manifest.json")
    try:
        fmt = json.loads(manifest.read_text(encoding="utf-8")).get("format")
    except (OSError, ValueError, AttributeError):
        fmt = None
    if fmt != DELTA_FORMAT:
        return published.verify_published(state.snapshots_dir, name, state.registry_keys)
    try:
        delta = verify_delta(manifest.parent, published.required_keys(state.registry_keys))
    except SnapshotError as e:
        return {"name": name, "kind": "delta", "valid": False, "problem": str(e)}
    return {
        "name": name,
        "kind": "delta",
        "valid": True,
        "key_id": delta.signer.key_id,
        "manifest_sha256": delta.snapshot_id,
        "applies_to": delta.manifest.get("applies_to"),
        "result": delta.manifest.get("result"),
    }


@router.get(
    "/api/snapshots/{name}/files/{path:path}",
    tags=["public"],
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "the byte range asked for (``Range: bytes=…``)"},
        304: {"description": "unchanged: ``If-None-Match`` names the file's SHA-256"},
    },
)
def snapshot_file(name: str, path: str, request: Request) -> Response:
    """``manifest.json`` (signed) or any file it lists; ``Range`` requests answered with 206, the ETag is
    the file's SHA-256 and ``If-None-Match`` with it answers 304."""
    state = web(request)
    file = published.snapshot_file(state.snapshots_dir, name, path)
    if path == "manifest.json":
        sha = hashlib.sha256(file.read_bytes()).hexdigest()
    else:
        files = json.loads(
            published.snapshot_file(state.snapshots_dir, name, "manifest.json").read_text(encoding="utf-8")
        )
        sha = next(f["sha256"] for f in files.get("files", []) if f["path"] == path)
    etag = f'"{sha}"'
    headers = {"ETag": etag, "Accept-Ranges": "bytes", "Cache-Control": "public, max-age=60"}
    asked = [t.strip() for t in request.headers.get("if-none-match", "").split(",") if t.strip()]
    if etag in asked or "*" in asked or f"W/{etag}" in asked:
        return Response(status_code=304, headers=headers)
    return FileResponse(
        file, headers=headers, media_type="application/octet-stream" if path != "manifest.json" else "application/json"
    )
