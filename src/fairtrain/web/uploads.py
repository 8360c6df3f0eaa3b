"""Repertoire uploads streamed to disk: a multipart body is parsed as it arrives and each file part is
written to a new folder under the data directory's ``uploads/``, never held whole in memory. Caps: bytes
per file, bytes in all (the request body), and the number of files. Part names given by the client are
reduced to their last path component (no folder of the client's choosing)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from python_multipart.multipart import MultipartParser, parse_options_header

from fairtrain.web.errors import WebError

# Routes whose bodies the BodyLimit middleware passes through, counted, instead of buffering them.
STREAMED_PATHS = frozenset({"/org/upload", "/api/org/upload"})
_SAFE_NAME = re.compile(r"[^\w.\- ]+", re.UNICODE)


@dataclass
class Received:
    folder: Path
    fields: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, Path]] = field(default_factory=list)  # (field, client's name, where)

    def file(self, name: str) -> tuple[str, Path] | None:
        for f, client, path in self.files:
            if f == name:
                return client, path
        return None


def safe_name(name: str, n: int) -> str:
    base = name.replace("\\", "/").rsplit("/", 1)[-1].strip()
    base = _SAFE_NAME.sub("_", base)[:150].lstrip(".")
    return base or f"file-{n}"


async def receive(request, uploads_dir: Path, *, max_file_bytes: int, max_files: int) -> Received:
    """Stream the request's multipart body into a new folder under ``uploads_dir``. On any refusal the
    folder is removed and a 4xx says which part and why."""
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    if ctype != b"multipart/form-data" or b"boundary" not in params:
        raise WebError(415, "upload: send multipart/form-data")
    uploads_dir.mkdir(parents=True, exist_ok=True)
    folder = uploads_dir / secrets.token_hex(12)
    (folder / "parts").mkdir(parents=True)
    got = Received(folder)
    state: dict = {"headers": {}, "field": b"", "value": b"", "out": None, "size": 0, "name": None, "error": None}
    names: set[str] = set()

    def on_part_begin():
        state.update(headers={}, out=None, size=0, name=None, value=b"")

    def on_header_field(data, start, end):
        state["field"] = bytes(data[start:end]).lower()

    def on_header_value(data, start, end):
        state["headers"][state["field"]] = state["headers"].get(state["field"], b"") + bytes(data[start:end])

    def on_headers_finished():
        _, disp = parse_options_header(state["headers"].get(b"content-disposition", b""))
        fname = disp.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = fname
        if b"filename" in disp:
            client = disp[b"filename"].decode("utf-8", "replace")
            if not client:
                return
            if len(got.files) >= max_files:
                state["error"] = f"upload: more than {max_files} files"
                return
            stored = safe_name(client, len(got.files))
            while stored in names:
                stored = f"{len(got.files)}-{stored}"
            names.add(stored)
            path = folder / "parts" / stored
            state["out"] = open(path, "wb")  # noqa: SIM115 (closed at the part's end or on refusal)
            got.files.append((fname, client[:200], path))

    def on_part_data(data, start, end):
        if state["error"]:
            return
        if state["out"] is not None:
            state["size"] += end - start
            if state["size"] > max_file_bytes:
                state["error"] = f"upload: {got.files[-1][1]!r} is larger than {max_file_bytes} bytes"
                return
            state["out"].write(data[start:end])
        elif state["name"] is not None:
            state["value"] += bytes(data[start:end])
            if len(state["value"]) > 4096:
                state["error"] = f"upload: form field {state['name']!r} is too long"

    def on_part_end():
        if state["out"] is not None:
            state["out"].close()
            state["out"] = None
        elif state["name"] is not None and not state["error"]:
            got.fields[state["name"]] = state["value"].decode("utf-8", "replace")

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_headers_finished": on_headers_finished,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if state["error"]:
                raise WebError(413, state["error"])
        parser.finalize()
    except BaseException:
        if state["out"] is not None:
            state["out"].close()
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
        raise
    return got


@dataclass
class RepertoireUpload:
    """A received repertoire upload: its staging folder, the sheet (or ZIP) the client named ``source``,
    whether a selection of works' files came with it, and every file part."""

    folder: Path
    source: str
    sheet: Path
    selection: bool
    files: list[tuple[str, str, Path]]


async def receive_repertoire(request, state) -> RepertoireUpload:
    """A repertoire upload (multipart ``file``: a ZIP, CSV, TSV or XLSX; optionally ``files``) streamed into
    the data directory within the import caps; 422, with the staged folder removed, when no sheet came."""
    got = await receive(
        request,
        state.uploads_dir,
        max_file_bytes=state.limits.max_import_bytes,
        max_files=state.limits.max_import_files,
    )
    sheet = got.file("file")
    if sheet is None:
        import shutil

        shutil.rmtree(got.folder, ignore_errors=True)
        raise WebError(422, "repertoire upload: choose a ZIP, a CSV, a tab-separated text or an XLSX")
    source, path = sheet
    return RepertoireUpload(got.folder, source, path, any(f[0] == "files" for f in got.files), got.files)
