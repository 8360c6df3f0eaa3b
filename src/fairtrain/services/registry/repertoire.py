"""A repertoire as an office keeps it: a ZIP of a sheet (CSV or XLSX) and the works' files, or a sheet and
a selection of files, staged under the data directory, validated in full (dry run), then stored as a
background job that commits batch by batch and resumes where it stopped.

The sheet is normalised once into a UTF-8 CSV with the importer's own column names
(:mod:`fairtrain.services.registry.csv_import` validates and stores it): the encoding is detected (UTF-8
with or without BOM, UTF-16 from Excel's "Unicode text", which is tab-separated, CP949/EUC-KR from Korean
Excel) and named in the report; Korean headers are accepted (the Korean catalogue's ``column`` messages); XLSX is read with
openpyxl in read-only mode. ZIPs are refused whole when a member's path leaves the folder, a member is a
link, or sizes or compression ratios pass the caps (checked on the declared sizes, then while copying).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shutil
import stat
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from pathlib import Path, PurePosixPath

from sqlalchemy import insert, select, update

from fairtrain.core.children import start_child
from fairtrain.core.errors import said
from fairtrain.core.i18n import N_, NP_, translations
from fairtrain.core.media import media_type_by_name
from fairtrain.core.store.models import ImportJob, utcnow
from fairtrain.services.registry.csv_import import COLUMNS, Batches, ImportReport, RowProblem, import_csv
from fairtrain.services.registry.errors import NotFound, RegistryError
from fairtrain.services.registry.registry import MAX_FILE_BYTES, MAX_VIDEO_BYTES, Registry, org_ref

SHEET_SUFFIXES = (".csv", ".tsv", ".txt", ".xlsx")
JOB_BATCH_ROWS = 2000


@dataclass(frozen=True)
class Limits:
    """Caps on what an upload may unpack to."""

    max_file_bytes: int = MAX_FILE_BYTES
    max_video_bytes: int = MAX_VIDEO_BYTES  # a video member (by its name) is never read whole into memory
    max_total_bytes: int = 64 * 1024**3
    max_members: int = 1_000_000
    max_ratio: int = 200  # uncompressed / compressed, for members over ``ratio_floor`` bytes
    ratio_floor: int = 1 << 20


# Column: what it holds. Each column's Korean header is its "column" message in the Korean catalogue.
GUIDE: tuple[tuple[tuple[str, str], str], ...] = (
    (NP_("column", "work_ref"), N_("Your own code for the work; unique within your organisation (required).")),
    (NP_("column", "title"), N_("The work's title (required).")),
    (
        NP_("column", "file"),
        N_("The work's file, as a path relative to the sheet inside the ZIP (text, image, audio or video)."),
    ),
    (
        NP_("column", "holders"),
        N_(
            "name:role:share;… with roles author, composer, lyricist, performer, publisher, "
            "producer; shares as 1/2, 50% or 0.5, summing to exactly 1 (required)."
        ),
    ),
    (NP_("column", "iswc"), N_("International Standard Musical Work Code, e.g. T-034.524.680-1.")),
    (NP_("column", "isrc"), N_("International Standard Recording Code, e.g. KR-A12-24-00001.")),
    (NP_("column", "isbn"), N_("ISBN-10 or ISBN-13 of a book.")),
    (NP_("column", "tdm"), N_("Text and data mining: allow, deny or licence; empty inherits.")),
    (NP_("column", "train-ai"), N_("Training AI models: allow, deny or licence; empty inherits.")),
    (NP_("column", "train-genai"), N_("Training generative AI: allow, deny or licence; empty inherits.")),
    (NP_("column", "ai-input"), N_("Use as AI input (retrieval, grounding): allow, deny or licence.")),
    (NP_("column", "search"), N_("Search indexing: allow, deny or licence.")),
    (NP_("column", "price"), N_("Price per work for 'licence' categories, e.g. 15000.")),
    (NP_("column", "currency"), N_("ISO 4217 currency of the price, e.g. KRW.")),
    (
        NP_("column", "holder_email"),
        N_(
            "The holders' e-mail addresses, in the holders column's order, separated by ; (optional): a holder "
            "first named here is e-mailed the invitation to confirm the mandate; an address a holder already "
            "has is never replaced."
        ),
    ),
)
assert tuple(c for (_, c), _ in GUIDE) == COLUMNS


def headers(lang: str) -> list[str]:
    """The sheet's column headers in ``lang`` (the importer's names in English)."""
    t = translations(lang)
    return [t.pgettext(*c) for c, _ in GUIDE]


def guide() -> list[tuple[str, str, str]]:
    """(column, Korean header, what it holds: a message id) for the page's column guide."""
    return [(c[1], ko, what) for (c, what), ko in zip(GUIDE, headers("ko"), strict=True)]


@cache
def _aliases() -> dict[str, str]:
    return {h.lower(): col for h, col in zip(headers("ko"), COLUMNS, strict=True)}


@dataclass(frozen=True)
class Prepared:
    """A staged upload: the normalised sheet, where its ``file`` column points, and what it was."""

    source: str
    sheet: Path
    files_root: Path
    encoding: str
    staging: Path


def _refuse(source: str, reason: str) -> RegistryError:
    return RegistryError(f"{source}: {reason}; nothing was read")


# -- unpacking ---------------------------------------------------------------------------------------


def check_zip(zf: zipfile.ZipFile, source: str, limits: Limits) -> list[zipfile.ZipInfo]:
    """The members to unpack, after the whole directory is checked; a refusal names the member."""
    infos = zf.infolist()
    if len(infos) > limits.max_members:
        raise _refuse(source, f"{len(infos)} members, more than {limits.max_members}")
    total = 0
    out = []
    for info in infos:
        name = info.filename
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or (parts and ":" in parts[0]) or ".." in parts:
            raise _refuse(source, f"member {name!r} has a path outside the ZIP's folder")
        mode = info.external_attr >> 16
        if stat.S_ISLNK(mode):
            raise _refuse(source, f"member {name!r} is a symbolic link")
        if info.is_dir():
            continue
        # by the name (the bytes are not read yet); ".ts" counts: a TypeScript source over the cap is no loss
        video = media_type_by_name(name) == "video" or name.lower().endswith(".ts")
        cap = limits.max_video_bytes if video else limits.max_file_bytes
        if info.file_size > cap:
            raise said(
                _refuse(
                    source,
                    f"member {name!r} unpacks to {info.file_size} bytes, more than the "
                    f"{cap} allowed per {'video' if video else 'file'}",
                ),
                N_(
                    "{source}: the video {member} is {size} bytes, more than the {cap} bytes allowed per video; nothing was read"
                )
                if video
                else N_(
                    "{source}: {member} is {size} bytes, more than the {cap} bytes allowed per file; nothing was read"
                ),
                source=source,
                member=name,
                size=f"{info.file_size:,}",
                cap=f"{cap:,}",
            )
        total += info.file_size
        if total > limits.max_total_bytes:
            raise _refuse(source, f"the members unpack to more than {limits.max_total_bytes} bytes in total")
        if info.file_size > limits.ratio_floor and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _refuse(
                source,
                f"member {name!r} is compressed {info.file_size // max(info.compress_size, 1)}:1, "
                f"more than {limits.max_ratio}:1 (a ZIP bomb?)",
            )
        out.append(info)
    return out


def unpack_zip(path: Path, dest: Path, source: str, limits: Limits = Limits()) -> None:
    """Unpack a ZIP into ``dest`` (streamed, member by member), refusing it whole as :func:`check_zip`
    says, and again while copying when a member holds more than it declared."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise _refuse(source, f"not a readable ZIP ({e})") from None
    with zf:
        written = 0
        for info in check_zip(zf, source, limits):
            target = dest.joinpath(*PurePosixPath(info.filename.replace("\\", "/")).parts)
            if not target.resolve().is_relative_to(dest.resolve()):
                raise _refuse(source, f"member {info.filename!r} has a path outside the ZIP's folder")
            target.parent.mkdir(parents=True, exist_ok=True)
            n = 0
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    while block := src.read(1 << 20):
                        n += len(block)
                        written += len(block)
                        if n > info.file_size or written > limits.max_total_bytes:
                            raise _refuse(source, f"member {info.filename!r} holds more than it declares")
                        out.write(block)
            except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError) as e:
                raise _refuse(source, f"member {info.filename!r} cannot be unpacked ({e})") from None


def find_sheet(root: Path, source: str) -> Path:
    """The one sheet at the top of an unpacked ZIP (or of its one top folder)."""
    for folder in (root, *[d for d in root.iterdir() if d.is_dir() and not d.name.startswith("__MACOSX")]):
        sheets = sorted(
            p
            for p in folder.iterdir()
            if p.is_file() and p.suffix.lower() in SHEET_SUFFIXES and not p.name.startswith(".")
        )
        if len(sheets) == 1:
            return sheets[0]
        if len(sheets) > 1:
            raise _refuse(
                source,
                f"{len(sheets)} sheets at the top ({', '.join(p.name for p in sheets[:5])}); "
                "put exactly one CSV or XLSX beside the works' folders",
            )
    raise _refuse(source, "no sheet (.csv, .tsv, .txt or .xlsx) at the top of the ZIP")


# -- reading sheets ----------------------------------------------------------------------------------


def decode_sheet(raw: bytes, source: str) -> tuple[str, str]:
    """``raw`` as text and the encoding's name: a BOM decides; else UTF-8; else CP949 (EUC-KR's superset)."""
    if raw.startswith(b"\xef\xbb\xbf"):
        return _decode(raw[3:], "utf-8", source), "UTF-8 (BOM)"
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode(raw, "utf-16", source), "UTF-16"
    try:
        return raw.decode("utf-8"), "UTF-8"
    except UnicodeDecodeError:
        pass
    return _decode(raw, "cp949", source), "CP949 (EUC-KR)"


def _decode(raw: bytes, encoding: str, source: str) -> str:
    try:
        return raw.decode(encoding)
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise RegistryError(
            f"{source}: line {line}: byte 0x{raw[e.start]:02x} is neither UTF-8 nor CP949 "
            f'(EUC-KR); save the sheet as "CSV UTF-8" or as Excel (.xlsx)'
        ) from None


def _text_rows(raw: bytes, source: str) -> tuple[Iterator[list[str]], str]:
    text, encoding = decode_sheet(raw, source)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if encoding == "UTF-16" or first.count("\t") > first.count(",") else ","
    if delimiter == "\t":
        encoding += ", tab-separated"
    return csv.reader(io.StringIO(text, newline=""), delimiter=delimiter), encoding


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime | date):
        return v.isoformat()
    return str(v)


def _xlsx_rows(path: Path, source: str, limits: Limits) -> Iterator[list[str]]:
    try:
        with zipfile.ZipFile(path) as zf:
            check_zip(zf, source, limits)  # an XLSX is a ZIP: the same caps before openpyxl inflates it
    except zipfile.BadZipFile as e:
        raise _refuse(source, f"not a readable XLSX ({e})") from None
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 (openpyxl raises many kinds for a broken workbook)
        raise _refuse(source, f"not a readable XLSX ({type(e).__name__}: {e})") from None
    try:
        for row in wb.worksheets[0].iter_rows(values_only=True):
            yield [_cell(v) for v in row]
    finally:
        wb.close()


def normalise_sheet(path: Path, out: Path, source: str, limits: Limits = Limits(), *, flat: bool = False) -> str:
    """Write the sheet at ``path`` to ``out`` as UTF-8 CSV with the importer's column names; the
    encoding read. A Korean or differently cased header is mapped; an unknown one is kept (and reported).
    ``flat``: the files came as a selection (one folder), so the ``file`` column names them by name."""
    if path.stat().st_size > limits.max_file_bytes:
        raise _refuse(source, f"the sheet is larger than {limits.max_file_bytes} bytes")
    if path.suffix.lower() == ".xlsx":
        rows, encoding = _xlsx_rows(path, source, limits), "XLSX"
    else:
        rows, encoding = _text_rows(path.read_bytes(), source)
    with open(out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        try:
            header = next(rows, None)
            if header is None:
                return encoding
            while header and not header[-1].strip():  # Excel's trailing empty columns
                header.pop()
            names = [_aliases().get(h.strip().lower(), h.strip().lower()) for h in header]
            w.writerow(names)
            width = len(header)
            col = names.index("file") if flat and "file" in names else -1
            for r in rows:
                if len(r) > width and not any(x.strip() for x in r[width:]):
                    r = r[:width]
                if 0 <= col < len(r) and r[col].strip():
                    r[col] = r[col].replace("\\", "/").rsplit("/", 1)[-1]
                w.writerow(r)
        except csv.Error as e:
            raise RegistryError(f"{source}: the sheet cannot be read as CSV ({e})") from None
    return encoding


def prepare(
    source_path: Path,
    staging: Path,
    *,
    source: str | None = None,
    files: Path | None = None,
    flat: bool = False,
    limits: Limits = Limits(),
) -> Prepared:
    """Stage an upload in ``staging`` (a new folder under the data directory): a ZIP is unpacked there, a
    sheet is read where it is with ``files`` (a folder of the selected files, ``flat``: named by their
    name alone) or its own folder as the files' root."""
    source = source or source_path.name
    staging.mkdir(parents=True, exist_ok=True)
    if zipfile.is_zipfile(source_path) and source_path.suffix.lower() != ".xlsx":
        root = staging / "unpacked"
        root.mkdir(exist_ok=True)
        unpack_zip(source_path, root, source, limits)
        sheet = find_sheet(root, source)
        files_root = sheet.parent
    elif source_path.suffix.lower() in SHEET_SUFFIXES or not zipfile.is_zipfile(source_path):
        sheet = source_path
        files_root = files if files is not None else source_path.parent
    else:
        raise _refuse(source, "give a ZIP, a CSV, a tab-separated text or an XLSX")
    out = staging / "sheet.csv"
    encoding = normalise_sheet(sheet, out, source, limits, flat=files is not None and flat)
    return Prepared(source=source, sheet=out, files_root=files_root.resolve(), encoding=encoding, staging=staging)


def validate(
    registry: Registry, prepared: Prepared, org_id: int, progress: Callable[[int], None] | None = None
) -> dict:
    """Every problem of the upload, files' and rows' together, and what storing it would do (nothing is
    stored): the report's ``errors`` and its ``created``/``updated``/``disputes``."""
    report = import_csv(
        registry, prepared.sheet, org_id=org_id, files_root=prepared.files_root, dry_run=True, progress=progress
    )
    return _report_dict(report, prepared)


def _report_dict(report: ImportReport, prepared: Prepared) -> dict:
    d = report.to_dict()
    d.update(file=prepared.source, encoding=prepared.encoding)
    return d


# The importer's row problems in the reader's language: each English reason's shape and its message id.
_REASONS: tuple[tuple[re.Pattern, str], ...] = tuple(
    (re.compile(pattern), message)
    for pattern, message in (
        (r"empty", N_("empty")),
        (r"shares sum to (?P<a>\S+), not exactly 1", N_("shares sum to {a}, not exactly 1")),
        (r"a holder appears twice with the same role", N_("a holder appears twice with the same role")),
        (r"(?P<a>'.*') is not name:role:share", N_("{a} is not name:role:share")),
        (
            r"unknown role (?P<a>'.*') for (?P<b>'.*') \(expected one of: (?P<c>.*)\)",
            N_("unknown role {a} for {b} (expected one of: {c})"),
        ),
        (
            r"cannot read (?P<a>'.*'): (?P<b>\d+) bytes, above the (?P<c>\d+) byte limit for a file that is not a video",
            N_("{a} is {b} bytes, more than the {c} bytes allowed for a file that is not a video"),
        ),
        (
            r"cannot read (?P<a>'.*'): (?P<b>\d+) bytes, above the (?P<c>\d+) byte limit",
            N_("{a} is {b} bytes, more than the {c} bytes allowed per file"),
        ),
        (r"cannot read (?P<a>'.*'): (?P<b>.*)", N_("cannot read {a}: {b}")),
        (r"(?P<a>'.*') is empty", N_("{a} is empty")),
        (r"(?P<a>'.*') is not a text, image, audio or video file", N_("{a} is not a text, image, audio or video file")),
        (
            r"(?P<a>.*): cannot fingerprint this (?P<b>\w+) file \((?P<c>.*)\)",
            N_("{a}: the {b} file cannot be fingerprinted ({c})"),
        ),
        (
            r"duplicate work_ref (?P<a>'.*') \(first on line (?P<b>\d+)\)",
            N_("duplicate work_ref {a} (first on line {b})"),
        ),
        (r"a 'licence' category needs a price and a currency", N_("a 'licence' category needs a price and a currency")),
        (r"price and currency go together", N_("price and currency go together")),
        (r"a price is given but no category is 'licence'", N_("a price is given but no category is 'licence'")),
        (r"(?P<a>\d+) fields, the header has (?P<b>\d+)", N_("{a} fields, the header has {b}")),
        (r"(?P<a>\d+) addresses for (?P<b>\d+) holders", N_("{a} addresses for {b} holders")),
        (r"(?P<a>'.*') is not an e-mail address", N_("{a} is not an e-mail address")),
    )
)


def translate_reason(reason: str, lang: str) -> str:
    """A row problem's reason in ``lang`` where the catalogue has its shape; else as the importer said it."""
    from fairtrain.core.i18n import translator

    for pattern, message in _REASONS:
        if m := pattern.fullmatch(reason):
            return translator(lang)(message).format(**m.groupdict())
    return reason


def template(kind: str, lang: str = "en") -> bytes:
    """An empty repertoire sheet with one example row: ``csv`` (UTF-8 with BOM, so Excel reads Korean) or
    ``xlsx``; Korean headers for ``ko``."""
    header = headers(lang)
    example = [
        "W-0001",
        "Arirang variations",
        "files/arirang.txt",
        "Kim Minji:composer:1/2;Lee Jun:lyricist:1/2",
        "",
        "",
        "",
        "",
        "",
        "licence",
        "",
        "",
        "15000",
        "KRW",
        "minji@example.kr;",
    ]
    if kind == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\r\n")
        w.writerow(header)
        w.writerow(example)
        return b"\xef\xbb\xbf" + buf.getvalue().encode("utf-8")
    if kind == "xlsx":
        import openpyxl

        wb = openpyxl.Workbook(write_only=True)
        ws = wb.create_sheet("repertoire")
        ws.append(header)
        ws.append(example)
        buf = io.BytesIO()
        wb.save(buf)
        return buf.getvalue()
    raise RegistryError(f"template {kind!r}: give csv or xlsx")


# -- background jobs ---------------------------------------------------------------------------------

_COUNTS = (
    "rows",
    "created",
    "updated",
    "unchanged",
    "invalid",
    "holders_created",
    "disputes",
    "emails_added",
    "emails_kept",
)


def create_job(registry: Registry, prepared: Prepared, org_id: int, report: dict) -> int:
    """Queue a validated upload for storing; ``report`` is its validation (its row count is the total)."""
    if report.get("errors"):
        raise RegistryError(
            f"{prepared.source}: {len(report['errors'])} problem(s) remain; fix them and upload again before storing"
        )
    now = utcnow()
    with registry.engine.begin() as c:
        return c.execute(
            insert(ImportJob)
            .values(
                org_id=org_id,
                status="queued",
                source=prepared.source[:200],
                sheet=str(prepared.sheet),
                files_root=str(prepared.files_root),
                encoding=prepared.encoding,
                rows_total=int(report.get("rows") or 0),
                rows_done=0,
                lines_done=1,
                report=json.dumps({k: 0 for k in _COUNTS}),
                created_at=now,
                updated_at=now,
            )
            .returning(ImportJob.id)
        ).scalar_one()


def job(registry: Registry, job_id: int, org_id: int | None = None) -> dict:
    """A job's state (for ``org_id``'s eyes only, when given)."""
    with registry.engine.connect() as c:
        r = c.execute(select(_JOBS).where(ImportJob.id == job_id)).first()
    if r is None or (org_id is not None and r.org_id != org_id):
        raise NotFound("import job", job_id)
    return _job_dict(r)


_JOBS = ImportJob.__table__


def _job_dict(j) -> dict:
    return {
        "id": j.id,
        "org": org_ref(j.org_id),
        "status": j.status,
        "source": j.source,
        "encoding": j.encoding,
        "rows_total": j.rows_total,
        "rows_done": j.rows_done,
        "report": json.loads(j.report),
        "error": j.error,
        "created_at": j.created_at.isoformat(),
        "updated_at": j.updated_at.isoformat(),
        "percent": 100 if j.status == "done" else (100 * j.rows_done // j.rows_total if j.rows_total else 0),
    }


def jobs(registry: Registry, org_id: int, limit: int = 20) -> list[dict]:
    with registry.engine.connect() as c:
        rows = c.execute(
            select(_JOBS).where(ImportJob.org_id == org_id).order_by(ImportJob.id.desc()).limit(limit)
        ).all()
    return [_job_dict(j) for j in rows]


def run_job(
    registry: Registry,
    job_id: int,
    *,
    batch_rows: int = JOB_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
    invite: Callable[[int, list[int]], dict] | None = None,
) -> dict:
    """Store a queued (or interrupted) job batch by batch, from where it stopped. Each batch's works and
    the job's progress commit together, and works are keyed by (organisation, work_ref) with the row's
    hash, so a run after a kill stores each row once. A failure is recorded on the job and re-raised.

    The holders the job first named with an e-mail address are kept on the job batch by batch; once it is
    committed, the job is ``inviting`` and ``invite(org_id, holder_ids, on_each=record)`` (given:
    :func:`~.mandate_invites.invite_imported` with a mailer) e-mails their invitations, each outcome recorded
    on the job's report (``invitations``: ``{"sent", "failed", "failures"}``) as it comes, so a resumed job
    sends only the rest (see :func:`_invite_phase`); then it is ``done``. A job another live process
    runs (two servers resuming it at once) is left to it: its state is returned."""
    if not claim_job(registry, job_id):
        return job(registry, job_id)
    with registry.engine.begin() as c:
        j = c.execute(select(_JOBS).where(ImportJob.id == job_id)).first()
        if j is None:
            raise NotFound("import job", job_id)
        if j.status == "done":
            return _job_dict(j)
        if j.status != "inviting":
            c.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(status="running", pid=os.getpid(), error=None, updated_at=utcnow())
            )
        else:  # its works are stored: only the invitations not yet recorded remain (after this commit)
            c.execute(update(ImportJob).where(ImportJob.id == job_id).values(pid=os.getpid(), updated_at=utcnow()))
        prior, after, org_id = json.loads(j.report), j.lines_done, j.org_id
        sheet, files_root, total = Path(j.sheet), Path(j.files_root), j.rows_total
    if j.status == "inviting":
        return _invite_phase(registry, job_id, org_id, prior, sheet, invite)

    def totals(report: ImportReport) -> dict:
        now = report.to_dict()
        return {k: prior.get(k, 0) + now[k] for k in _COUNTS} | {"invite": prior.get("invite", []) + now["invite"]}

    def on_commit(c, report: ImportReport, last_line: int) -> None:
        t = totals(report)
        done = t["created"] + t["updated"] + t["unchanged"]
        c.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(lines_done=last_line, rows_done=done, report=json.dumps(t), updated_at=utcnow())
        )
        if progress:
            progress(done, total)

    try:
        report = import_csv(
            registry,
            sheet,
            org_id=org_id,
            files_root=files_root,
            skip_invalid=True,
            batches=Batches(batch_rows, after, on_commit),
        )
    except BaseException as e:
        with registry.engine.begin() as c:
            c.execute(
                update(ImportJob)
                .where(ImportJob.id == job_id)
                .values(status="failed", error=str(e)[:2000] or type(e).__name__, updated_at=utcnow())
            )
        raise
    t = totals(report)
    t["errors"] = [e.to_dict() for e in report.errors[:1000]]
    inviting = invite is not None and bool(t["invite"])
    with registry.engine.begin() as c:
        c.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(
                status="inviting" if inviting else "done",
                report=json.dumps(t),
                rows_done=t["created"] + t["updated"] + t["unchanged"],
                pid=os.getpid() if inviting else None,
                updated_at=utcnow(),
            )
        )
    return _invite_phase(registry, job_id, org_id, t, sheet, invite if inviting else None)


def _invite_phase(registry: Registry, job_id: int, org_id: int, t: dict, sheet: Path, invite) -> dict:
    """After the works committed (status ``inviting``): invite the holders in ``t["invite"]`` in holder-id
    order, each one's outcome committed on the job's report as soon as it is known (the counts, the first
    100 failures, and ``invited_upto``, the last holder handled), so a job killed while sending resumes
    after the last recorded holder and nobody is mailed twice (unless the kill falls between the SMTP
    server's acceptance and that commit). Then the job is done and its staging folder dropped."""
    if invite is not None:
        inv = t.setdefault("invitations", {"sent": 0, "failed": 0, "failures": []})
        upto = t.get("invited_upto", 0)
        todo = sorted(h for h in set(t["invite"]) if h > upto)

        def record(hid: int, mid: int | None, reason: str | None) -> None:
            if reason is None:
                inv["sent"] += 1
            else:
                inv["failed"] += 1
                if len(inv["failures"]) < 100:
                    inv["failures"].append({"holder": hid, "mandate": mid, "reason": reason})
            t["invited_upto"] = hid
            with registry.engine.begin() as c:
                c.execute(
                    update(ImportJob).where(ImportJob.id == job_id).values(report=json.dumps(t), updated_at=utcnow())
                )

        if todo:
            try:
                invite(org_id, todo, on_each=record)
            except Exception as e:  # noqa: BLE001 (the works are stored; the page says the e-mails were not sent)
                left = [h for h in todo if h > t.get("invited_upto", 0)]
                inv["failed"] += len(left)
                inv["error"] = str(e)[:300] or type(e).__name__
                t["invited_upto"] = max(todo)
    elif "invitations" in t:  # resumed where no mail server is configured: the rest are recorded as unsent
        left = [h for h in set(t["invite"]) if h > t.get("invited_upto", 0)]
        t["invitations"]["failed"] += len(left)
        t["invitations"]["error"] = "no-smtp"
        t["invited_upto"] = max(t["invite"])
    with registry.engine.begin() as c:
        c.execute(
            update(ImportJob)
            .where(ImportJob.id == job_id)
            .values(status="done", report=json.dumps(t), pid=None, updated_at=utcnow())
        )
    if sheet.name == "sheet.csv":  # the staging folder :func:`prepare` made: the upload is stored, drop it
        shutil.rmtree(sheet.parent, ignore_errors=True)
    return job(registry, job_id)


JOB_CHILD = "fairtrain.services.registry._job_child"
_URL_ENV = "FAIRTRAIN_JOB_DATABASE_URL"  # the database URL travels in the environment, not on ``ps``'s line
_SMTP_ENV, _FROM_ENV, _SITE_ENV = "FAIRTRAIN_JOB_SMTP", "FAIRTRAIN_JOB_MAIL_FROM", "FAIRTRAIN_JOB_SITE"


def start_job_process(
    registry: Registry, job_id: int, *, batch_rows: int = JOB_BATCH_ROWS, mailer=None, origin: str | None = None
):
    """Run a job in a process of its own (``python -m`` :mod:`._job_child`, a :class:`subprocess.Popen`)
    that dies with this one; the caller may ``wait()`` for it or forget it. With ``mailer`` (a
    :class:`~fairtrain.services.notify.Mailer`: its server and sender are handed on) the holders the job
    first names with an address are e-mailed their invitations, links starting with ``origin``."""
    url = registry.engine.url.render_as_string(hide_password=False)
    env = {_URL_ENV: url}
    if mailer is not None:
        env |= {_SMTP_ENV: f"{mailer.host}:{mailer.port}", _FROM_ENV: mailer.mail_from, _SITE_ENV: origin or ""}
    return start_child(JOB_CHILD, "job", str(job_id), str(batch_rows), env=env)


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours is dead too
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def claim_job(registry: Registry, job_id: int, *, tries: int = 5) -> bool:
    """Make this process the one that runs the job (its ``pid``), unless another live process already is
    (nor the process that started this one, which claimed it for it: :func:`claim_interrupted_jobs`). A
    compare-and-set on the pid seen, so of several processes claiming at once on any database one wins."""
    me, launcher = os.getpid(), os.getppid()
    for _ in range(tries):
        with registry.engine.connect() as c:
            row = c.execute(select(ImportJob.pid).where(ImportJob.id == job_id)).first()
        if row is None:
            return True  # run_job says it is not found
        if row.pid not in (None, me, launcher) and _alive(row.pid):
            return False
        seen = ImportJob.pid.is_(None) if row.pid is None else ImportJob.pid == row.pid
        with registry.engine.begin() as c:
            if c.execute(update(ImportJob).where(ImportJob.id == job_id, seen).values(pid=me)).rowcount == 1:
                return True
    return False


def claim_interrupted_jobs(registry: Registry) -> list[int]:
    """The :func:`interrupted_jobs` this process claims to resume, each marked with its pid by a
    compare-and-set on the dead pid seen: of several servers starting at once (``serve --workers N``) each
    job goes to one."""
    claimed = []
    for r in _unfinished_jobs(registry):
        if _alive(r.pid):
            continue
        seen = ImportJob.pid.is_(None) if r.pid is None else ImportJob.pid == r.pid
        with registry.engine.begin() as c:
            if c.execute(update(ImportJob).where(ImportJob.id == r.id, seen).values(pid=os.getpid())).rowcount:
                claimed.append(r.id)
    return claimed


def interrupted_jobs(registry: Registry) -> list[int]:
    """Jobs queued, running or inviting whose process is gone (a server restart, a kill): to be resumed
    (an inviting one sends only the invitations not yet recorded as sent or failed)."""
    return [r.id for r in _unfinished_jobs(registry) if not _alive(r.pid)]


def _unfinished_jobs(registry: Registry) -> list:
    """Every job queued, running or inviting: (id, pid) rows in id order."""
    with registry.engine.connect() as c:
        return c.execute(
            select(ImportJob.id, ImportJob.pid)
            .where(ImportJob.status.in_(("queued", "running", "inviting")))
            .order_by(ImportJob.id)
        ).all()


# -- checks as jobs: the dry run of an upload in a process of its own ---------------------------------
#
# A received upload's folder (under the data directory's ``uploads/``) holds ``check.json``: the check's
# state (queued, running with its pid and rows read, done with its report, refused with the reason, or
# failed), written atomically, so the progress page survives a reload; a check whose process is gone (a
# server restart) is started again from the top, which is safe because a check stores nothing. A finished
# check also writes ``upload.json``, what storing the upload as an import job (:func:`create_job`) reads.

CHECK_FILE = "check.json"
CHECKED_FILE = "upload.json"


def _write_json(path: Path, doc: dict) -> None:
    from fairtrain.core.files import write_atomic

    write_atomic(path, json.dumps(doc, ensure_ascii=False).encode("utf-8"))


def check_state(folder: Path) -> dict | None:
    """The check of the upload in ``folder``, or None if there is none (never received, or stored)."""
    try:
        return json.loads((folder / CHECK_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def queue_check(folder: Path, *, org_id: int, source: str, sheet: Path, selection: bool) -> dict:
    """Record a received upload's check as queued: ``sheet`` is the ZIP or sheet, ``selection`` whether the
    works' files were selected beside it (in ``folder/parts``)."""
    doc = {
        "status": "queued",
        "org_id": org_id,
        "source": source,
        "sheet": str(sheet),
        "selection": selection,
        "rows_total": 0,
        "rows_done": 0,
        "pid": None,
    }
    _write_json(folder / CHECK_FILE, doc)
    return doc


def save_checked(folder: Path, org_id: int, prepared: Prepared, report: dict) -> None:
    """Keep a checked upload's report and staging for :func:`create_job` (``upload.json``)."""
    _write_json(
        folder / CHECKED_FILE,
        {
            "org_id": org_id,
            "report": report,
            "prepared": {
                "source": prepared.source,
                "sheet": str(prepared.sheet),
                "files_root": str(prepared.files_root),
                "encoding": prepared.encoding,
                "staging": str(prepared.staging),
            },
        },
    )


def run_check(registry: Registry, folder: Path, *, every: float = 0.5) -> dict:
    """Check the upload in ``folder`` (stage it, read every row, preview what storing it would do),
    recording progress in ``check.json`` at most every ``every`` seconds; the final state."""
    import time

    state = check_state(folder)
    if state is None:
        raise NotFound("upload check", folder.name)
    state.update(status="running", pid=os.getpid(), rows_done=0, error=None)
    _write_json(folder / CHECK_FILE, state)
    try:
        prepared = prepare(
            Path(state["sheet"]),
            folder,
            source=state["source"],
            files=folder / "parts" if state["selection"] else None,
            flat=bool(state["selection"]),
        )
        with prepared.sheet.open("rb") as f:
            state["rows_total"] = max(sum(1 for _ in f) - 1, 0)
        last = [0.0]

        def progress(rows: int) -> None:
            now = time.monotonic()
            if now - last[0] >= every:
                last[0] = now
                state["rows_done"] = rows
                _write_json(folder / CHECK_FILE, state)

        report = validate(registry, prepared, state["org_id"], progress=progress)
    except RegistryError as e:  # the upload as a whole is refused (a ZIP bomb, a path outside, …)
        state.update(status="refused", error=str(e), pid=None)
    except Exception as e:  # noqa: BLE001 (recorded for the page, then re-raised)
        state.update(status="failed", error=str(e)[:2000] or type(e).__name__, pid=None)
        _write_json(folder / CHECK_FILE, state)
        raise
    else:
        save_checked(folder, state["org_id"], prepared, report)
        state.update(status="done", report=report, rows_done=report.get("rows", 0), pid=None)
    _write_json(folder / CHECK_FILE, state)
    return state


def start_check_process(registry: Registry, folder: Path):
    """Run an upload's check in a process of its own (a :class:`subprocess.Popen`) that dies with this one."""
    url = registry.engine.url.render_as_string(hide_password=False)
    proc = start_child(JOB_CHILD, "check", str(folder), env={_URL_ENV: url})
    state = check_state(folder)
    if state is not None and state["status"] == "queued":  # its pid, so that a reload does not start another
        _write_json(folder / CHECK_FILE, {**state, "pid": proc.pid})
    return proc


def resume_check(registry: Registry, folder: Path, state: dict) -> bool:
    """Start again a queued or running check whose process is gone (a restart, a kill); whether it did."""
    if state["status"] not in ("queued", "running") or _alive(state.get("pid")):
        return False
    state.update(status="queued", pid=None)
    _write_json(folder / CHECK_FILE, state)
    start_check_process(registry, folder)
    return True


def discard_staging(prepared: Prepared) -> None:
    shutil.rmtree(prepared.staging, ignore_errors=True)


__all__ = [
    "GUIDE",
    "Limits",
    "Prepared",
    "RowProblem",
    "check_state",
    "create_job",
    "guide",
    "headers",
    "claim_interrupted_jobs",
    "claim_job",
    "interrupted_jobs",
    "job",
    "jobs",
    "prepare",
    "queue_check",
    "resume_check",
    "run_check",
    "run_job",
    "save_checked",
    "start_check_process",
    "start_job_process",
    "template",
    "translate_reason",
    "validate",
]
