"""A repertoire sent over the web: a CSV imported at once (never naming files the server would read), or a
staged upload (a ZIP of a sheet and files, or a sheet and a selection of files) checked, then stored as a
background job. The API and the /org office call these; :mod:`repertoire` does the work."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import secrets
import shutil
from pathlib import Path

from fairtrain.core.errors import FairtrainError
from fairtrain.services.registry import repertoire
from fairtrain.services.registry.csv_import import import_csv

UPLOAD_TOKEN = re.compile(r"[0-9a-f]{24}")  # a staged upload's folder name under the uploads directory


class UploadNotFound(FairtrainError, LookupError):
    """No staged upload by that name for this organisation (never checked, already stored, or another's)."""

    http_status = 404


class StagingError(FairtrainError):
    """The staging directory is not where it must be (inside the data directory)."""

    http_status = 500


def import_csv_upload(
    registry, uploads_dir: Path, data_dir: Path, org_id: int, file_name: str, data: bytes, skip_invalid: bool
) -> dict:
    """Validate (and, if clean or ``skip_invalid``, store) an uploaded repertoire CSV.

    Web imports carry no files: a ``file`` column naming one is refused for every row that uses it, so
    that an upload can never make the server read a path of its choosing.
    """
    refused = file_column_rows(data)
    if refused:
        return {
            "file": file_name,
            "rows": None,
            "imported": False,
            "invalid": len(refused),
            "errors": [
                {
                    "line": n,
                    "column": "file",
                    "reason": "a web import cannot reference files; leave the column empty and upload "
                    "the works' files separately",
                }
                for n in refused
            ],
        }
    staging = uploads_dir / secrets.token_hex(8)
    staging.mkdir(parents=True, exist_ok=True)
    path = (staging / "repertoire.csv").resolve()
    if not path.is_relative_to(data_dir):
        raise StagingError("upload staging is outside the data directory")
    try:
        path.write_bytes(data)
        report = import_csv(registry, path, org_id=org_id, skip_invalid=skip_invalid).to_dict()
    finally:
        path.unlink(missing_ok=True)
        staging.rmdir()
    report["file"] = file_name
    return report


def file_column_rows(data: bytes) -> list[int]:
    """The lines of a CSV whose ``file`` column names a file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return []  # the importer reports the encoding error with its line
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [h.strip().lower() for h in next(reader)]
    except (StopIteration, csv.Error):
        return []
    if "file" not in header:
        return []
    col = header.index("file")
    try:
        return [n for n, row in enumerate(reader, start=2) if len(row) > col and row[col].strip()]
    except csv.Error:
        return []


def check_upload(registry, org_id: int, folder: Path, source: str, sheet: Path, *, selection: bool) -> dict:
    """Check all of a staged upload and preview what storing it would do; nothing is stored. The staged
    folder is removed when the check fails; the answer's ``upload`` names it for :func:`store_upload`."""
    try:
        prepared = repertoire.prepare(
            sheet, folder, source=source, files=folder / "parts" if selection else None, flat=selection
        )
        report = repertoire.validate(registry, prepared, org_id)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    repertoire.save_checked(folder, org_id, prepared, report)
    return {**report, "upload": folder.name}


def store_upload(
    registry, uploads_dir: Path, org_id: int, upload: str, *, mailer=None, origin: str | None = None
) -> dict:
    """Store a checked upload as a background job (a process of its own); the job's state. With ``mailer``,
    the holders it first names with an address are e-mailed invitations (links from ``origin``)."""
    if not UPLOAD_TOKEN.fullmatch(upload):
        raise UploadNotFound(f"upload {upload[:40]!r} not found")
    meta_path = uploads_dir / upload / repertoire.CHECKED_FILE
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UploadNotFound(f"upload {upload!r} not found (already stored, or never checked)") from None
    if meta["org_id"] != org_id:
        raise UploadNotFound(f"upload {upload!r} not found")
    pr = meta["prepared"]
    prepared = repertoire.Prepared(
        source=pr["source"],
        sheet=Path(pr["sheet"]),
        files_root=Path(pr["files_root"]),
        encoding=pr["encoding"],
        staging=Path(pr["staging"]),
    )
    job_id = repertoire.create_job(registry, prepared, org_id, meta["report"])
    meta_path.unlink()  # stored once: a second press of the button finds nothing to store
    (meta_path.parent / repertoire.CHECK_FILE).unlink(missing_ok=True)  # nor does the check's page
    repertoire.start_job_process(registry, job_id, mailer=mailer, origin=origin)
    return repertoire.job(registry, job_id)


def resume_jobs(registry, *, mailer=None) -> list[int]:
    """At start-up: jobs whose process is gone (a restart, a kill) go on where they stopped; links in their
    invitations start with ``$FAIRTRAIN_SITE`` (there is no request to take the site's address from)."""
    ids = repertoire.claim_interrupted_jobs(registry)  # one server's, of several starting at once
    for job_id in ids:
        repertoire.start_job_process(registry, job_id, mailer=mailer, origin=os.environ.get("FAIRTRAIN_SITE"))
    return ids
