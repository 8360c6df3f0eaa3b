"""Bulk import of a CMO repertoire from CSV: validate everything first, then store in one transaction.

Contract (one row per work)::

    work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency

``holders`` is ``name:role:share;name:role:share``; category columns take ``allow|deny|licence`` or are
empty (inherit). Any bad row rejects the whole file unless ``skip_invalid`` is set. Re-importing the
same file changes nothing.
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import math
import os
import re
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache, partial
from operator import attrgetter
from pathlib import Path
from typing import NamedTuple

import xxhash
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError, OperationalError

from fairtrain.core import csvcells
from fairtrain.core.children import die_with_parent
from fairtrain.core.extract import DocumentError
from fairtrain.core.files import FileRefused, head_then_read_confined
from fairtrain.core.media import detect_media_type
from fairtrain.core.money import Money
from fairtrain.core.store.bulk import allocate_ids, bulk_insert, bulk_insert_plain, bulk_insert_tuples, db_time
from fairtrain.core.store.limits import max_length, text_problem
from fairtrain.core.store.models import (
    Declaration,
    Dispute,
    Fingerprint,
    Holder,
    Mandate,
    Organisation,
    Work,
    WorkShare,
    utcnow,
)
from fairtrain.core.vocab import Category, Offer, PriceModel, Value
from fairtrain.services import log
from fairtrain.services.registry.errors import RegistryError
from fairtrain.services.registry.registry import (
    IDENTIFIERS,
    MAX_FILE_BYTES,
    MAX_VIDEO_BYTES,
    SHARE_ROLES,
    Registry,
    bump_facts_version,
    content_hash,
    holder_ref,
    normalise_identifier,
    org_ref,
    parse_share,
    register_content,
    register_contents,
    work_ref,
)
from fairtrain.services.registry.search import indexed_in_bulk

COLUMNS = (
    "work_ref",
    "title",
    "file",
    "holders",
    "iswc",
    "isrc",
    "isbn",
    *(c.value for c in Category),
    "price",
    "currency",
    "holder_email",
)
REQUIRED = ("work_ref", "title", "holders")
_CHUNK = 900  # stays under SQLite's bound-parameter limit in IN (...) lists


@dataclass(frozen=True, slots=True)
class RowProblem:
    """What is wrong with one row (or the header) of an import: where, and why; a record, not an exception."""

    line: int
    column: str
    reason: str

    def to_dict(self) -> dict:
        return {"line": self.line, "column": self.column, "reason": self.reason}

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.reason}"


class _Row(NamedTuple):
    """A valid row as the worker process hands it back: plain values only, because unpickling is on the
    storing side's clock (100k rows: 1.26 s as a slotted dataclass with dicts and enums, 0.6 s like this)."""

    line: int
    work_ref: str
    title: str
    holders: tuple[tuple[str, str, int, int], ...]  # (name, role, share numerator, share denominator)
    ids: tuple[str | None, ...]  # in IDENTIFIERS order
    values: tuple[tuple[str, str], ...]  # (category, value) names, the row's non-empty category columns
    offer_json: str | None  # the offer of its 'licence' categories
    media_type: str | None
    chash: str | None
    iscc: str | None
    fingerprint: bytes | None
    row_hash: str
    emails: tuple[tuple[str, str], ...] = ()  # (holder name, address) from the optional holder_email column


class _Chunk(NamedTuple):
    rows: list[_Row]
    errors: list[RowProblem]
    count: int  # non-blank lines read
    names: frozenset[str]  # every holder named in ``rows``


@dataclass
class ImportReport:
    file: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: int = 0
    holders_created: int = 0
    disputes: int = 0
    emails_added: int = 0  # addresses stored on holders that had none
    emails_kept: int = 0  # addresses not stored: the holder already has another one (never overwritten)
    imported: bool = False
    errors: list[RowProblem] = field(default_factory=list)
    invite: list[int] = field(default_factory=list)  # holders first named here, with an address: to invite

    def to_dict(self) -> dict:
        return {
            "file": self.file,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "invalid": self.invalid,
            "holders_created": self.holders_created,
            "disputes": self.disputes,
            "emails_added": self.emails_added,
            "emails_kept": self.emails_kept,
            "invite": list(self.invite),
            "imported": self.imported,
            "errors": [e.to_dict() for e in self.errors],
        }


class Batches(NamedTuple):
    """Store in batches, each committed with its progress (a background import job): ``rows`` per batch,
    lines up to ``after_line`` already stored by an earlier run (skipped), and ``on_commit(connection,
    report, last_line)`` called inside each batch's transaction just before it commits."""

    rows: int
    after_line: int
    on_commit: Callable[[object, ImportReport, int], None]


def import_csv(
    registry: Registry,
    path: Path,
    *,
    org_id: int,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
    files_root: Path | None = None,
    dry_run: bool = False,
    batches: Batches | None = None,
) -> ImportReport:
    """Validate ``path`` in full, then import it atomically (or only its valid rows with ``skip_invalid``).

    The ``file`` column names regular files inside ``files_root`` (by default the sheet's own folder);
    anything else is a row error (see :func:`fairtrain.core.files.read_confined`). ``dry_run`` stores
    nothing: the report lists every problem and counts what would be created, updated and disputed.
    ``batches`` commits batch by batch instead of once (see :class:`Batches`)."""
    with _collector_paused():
        return _import_csv(
            registry,
            path,
            org_id=org_id,
            skip_invalid=skip_invalid,
            progress=progress,
            files_root=files_root,
            dry_run=dry_run,
            batches=batches,
        )


@contextmanager
def _collector_paused():
    """Pause the cyclic garbage collector for the import.

    An import allocates hundreds of thousands of acyclic tuples that live for a chunk; each full
    collection walks them and the whole heap (100k rows: 4.2 → 3.4 s CPU in this process). Reference
    counting still frees them; cycles made meanwhile are collected once the collector resumes. Only the
    caller that paused it resumes it, so overlapping imports in threads leave it as they found it.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _import_csv(
    registry: Registry,
    path: Path,
    *,
    org_id: int,
    skip_invalid: bool,
    progress: Callable[[int], None] | None,
    files_root: Path | None,
    dry_run: bool,
    batches: Batches | None,
) -> ImportReport:
    registry.find_org(org_id)
    report = ImportReport(file=str(path))
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise RegistryError(f"{path}: cannot read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        report.errors.append(RowProblem(line, "-", f"bad encoding: byte 0x{raw[e.start]:02x} is not UTF-8"))
        report.invalid = 1
        return report

    head_io = io.StringIO(text, newline="")
    reader = csv.reader(head_io)
    try:
        header = [h.strip().lower() for h in next(reader)]
        body_start = head_io.tell()
    except StopIteration:
        report.errors.append(RowProblem(1, "-", "the file is empty (no header row)"))
        return report
    except csv.Error as e:
        report.errors.append(RowProblem(1, "header", csvcells.reason(e)))
        report.invalid = 1
        return report
    missing = [c for c in REQUIRED if c not in header]
    unknown = [h for h in header if h not in COLUMNS]
    if missing or unknown or len(set(header)) != len(header):
        reason = "; ".join(
            filter(
                None,
                [
                    f"missing column(s) {', '.join(missing)}" if missing else "",
                    f"unknown column(s) {', '.join(unknown)}" if unknown else "",
                    "a column appears twice" if len(set(header)) != len(header) else "",
                ],
            )
        )
        report.errors.append(RowProblem(1, "header", f"{reason} (expected: {','.join(COLUMNS)})"))
        return report

    seen_refs: dict[str, int] = {}
    base = (files_root if files_root is not None else path.parent).resolve()
    with registry.engine.connect() as c:
        trans = c.begin()
        try:
            # One import per organisation at a time: a second waits here, then sees the first one's holders
            # and works (a row lock on PostgreSQL, the write lock on SQLite, taken before anything is read).
            c.execute(update(Organisation).where(Organisation.id == org_id).values(country=Organisation.country))
            holder_ids: dict[str, int] = {}
            # Only works stored before this import can be re-imported rows (the file's own duplicates are
            # refused above); a first import skips the look-ups, which PostgreSQL plans badly on rows
            # inserted earlier in the same transaction.
            had_works = c.execute(select(Work.id).where(Work.org_id == org_id).limit(1)).first() is not None
            # an organisation with a published licence tariff may leave a 'licence' row's price empty: the
            # declaration then takes the tariff's price for the work's media type (registry.load_facts)
            tariffed = registry.tariff(org_id) is not None
            after = batches.after_line if batches else 0
            for chunk in _parsed_chunks(text, body_start, header, base, after, tariffed):
                report.rows += chunk.count
                report.errors.extend(chunk.errors)
                rows, names = chunk.rows, chunk.names
                # the usual case, no duplicates, is told in C: a chunk's refs all distinct and all new
                new_refs = dict(zip(map(_WORK_REF, rows), map(_LINE, rows), strict=True))
                if len(new_refs) == len(rows) and seen_refs.keys().isdisjoint(new_refs):
                    seen_refs.update(new_refs)
                else:  # duplicates, within the chunk or with earlier ones
                    seen_refs.update((r.work_ref, r.line) for r in rows if r.work_ref not in seen_refs)
                    unique = []
                    for r in rows:
                        if (first := seen_refs[r.work_ref]) != r.line:
                            report.errors.append(
                                RowProblem(
                                    r.line, "work_ref", f"duplicate work_ref {r.work_ref!r} (first on line {first})"
                                )
                            )
                        else:
                            unique.append(r)
                    rows, names = unique, None
                # Rows are stored as they are validated, inside one transaction that is rolled back if any
                # row is bad (unless skip_invalid): parsing in a worker process overlaps the inserts.
                if batches is not None:
                    for i in range(0, len(rows), batches.rows):
                        part = rows[i : i + batches.rows]
                        _store_chunk(c, org_id, part, None, holder_ids, report, had_works=True)
                        _commit_batch(c, org_id, report, part[-1].line, batches)
                        trans.commit()
                        trans = c.begin()
                        c.execute(
                            update(Organisation).where(Organisation.id == org_id).values(country=Organisation.country)
                        )
                elif not report.errors or skip_invalid or dry_run:
                    _store_chunk(c, org_id, rows, names, holder_ids, report, had_works=had_works)
                if progress:
                    progress(report.rows)
            report.invalid = len({e.line for e in report.errors})
            report.errors.sort(key=lambda e: e.line)
            if dry_run:
                trans.rollback()
                return report
            if report.errors and not skip_invalid and batches is None:
                trans.rollback()
                report.created = report.updated = report.unchanged = report.holders_created = report.disputes = 0
                return report
            if batches is not None:  # every batch is committed; what remains is this read-only transaction
                trans.rollback()
                report.imported = True
                registry._changed()
                return report
            # One log entry per import: the file's digest and what it changed (row by row is in the registry).
            log.append(
                c,
                [
                    log.Entry(
                        "import",
                        {
                            "org": org_ref(org_id),
                            "file_sha256": hashlib.sha256(raw).hexdigest(),
                            "rows": report.rows,
                            "created": report.created,
                            "updated": report.updated,
                            "unchanged": report.unchanged,
                            "invalid": report.invalid,
                        },
                        subject=org_ref(org_id),
                    )
                ],
            )
            bump_facts_version(c)
            trans.commit()
        except IntegrityError as e:
            trans.rollback()
            raise RegistryError(
                f"{path}: nothing was imported: another write for {org_ref(org_id)} stored the same "
                f"holders or works meanwhile ({_clash(e)}); import the file again to add what is "
                "still missing"
            ) from None
        except OperationalError as e:
            trans.rollback()
            if "locked" not in str(e.orig):
                raise
            raise RegistryError(
                f"{path}: nothing was imported: the registry stayed busy with another write (another "
                "import?) for longer than the wait allows; import the file again"
            ) from None
        except BaseException:
            trans.rollback()
            raise
    report.imported = True
    registry._changed()
    return report


def _commit_batch(c, org_id: int, report: ImportReport, last_line: int, batches: Batches) -> None:
    """A stored batch's log entry, facts version and progress, in the batch's own transaction."""
    log.append(
        c,
        [
            log.Entry(
                "import",
                {
                    "org": org_ref(org_id),
                    "through_line": last_line,
                    "rows": report.rows,
                    "created": report.created,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                },
                subject=org_ref(org_id),
            )
        ],
    )
    bump_facts_version(c)
    batches.on_commit(c, report, last_line)


def _clash(e: IntegrityError) -> str:
    """What a unique key refused, in words, with the database's own first line."""
    text = str(e.orig)
    what = (
        "a new holder's name is already one of the organisation's holders"
        if "org_key" in text
        else "a work_ref is already stored for the organisation"
        if "work_ref" in text
        else "a unique key"
    )
    return f"{what}: {text.splitlines()[0]}"


# text_problem's quick test, hoisted: reading a column's length through the ORM attribute cost 40 µs a row
_REF_MAX = max_length(Work.work_ref) or math.inf
_TITLE_MAX = max_length(Work.title) or math.inf
_NAME_MAX = max_length(Holder.name) or math.inf
_CATEGORY_COLUMNS = tuple(c.value for c in Category)  # enum .value is slow in a loop of 10⁵ rows
_LICENCE = Value.LICENCE.value


# Repertoires repeat the same few shares, values and prices: parse each distinct text once.
@lru_cache(maxsize=4096)
def _share(text: str) -> tuple[int, int]:
    share = parse_share(text)
    return share.numerator, share.denominator


@lru_cache(maxsize=64)
def _value_name(text: str) -> str:
    return Value.parse(text).value


@lru_cache(maxsize=4096)
def _offer(price: str, currency: str) -> Offer:
    return Offer(price_model=PriceModel.PER_WORK, price=Money.parse(price, currency))


@lru_cache(maxsize=4096)
def _offer_json(offer: Offer) -> str:
    return json.dumps(offer.to_dict(), sort_keys=True)


def _emails(cell: str, holders, n: int, errors: list[RowProblem]) -> tuple[tuple[str, str], ...]:
    """The ``holder_email`` cell: one address per holder, in the holders column's order, ``;`` between
    (an empty place for a holder without one); a single address with several holders is refused."""
    parts = [p.strip().lower() for p in cell.split(";")]
    if holders and len(parts) != len(holders):
        errors.append(RowProblem(n, "holder_email", f"{len(parts)} addresses for {len(holders)} holders"))
        return ()
    out = []
    for (name, *_), email in zip(holders, parts, strict=False):
        if not email:
            continue
        if (
            email.count("@") != 1
            or email.startswith("@")
            or email.endswith("@")
            or any(ch.isspace() or ch in ',<>"' for ch in email)
            or len(email) > 320
            or "." not in email.split("@")[1]
        ):
            errors.append(RowProblem(n, "holder_email", f"{email[:80]!r} is not an e-mail address"))
            return ()
        out.append((name, email))
    return tuple(out)


@lru_cache(maxsize=65536)
def _holders(spec: str) -> tuple[tuple[tuple[str, str, int, int], ...], tuple[str, ...]]:
    """Parse ``name:role:share;…`` once per distinct text: the holders (each share as its lowest-terms
    numerator and denominator, as stored; a Fraction costs a Python property per read and a Python
    constructor per unpickling) and the problems found."""
    holders: list[tuple[str, str, int, int]] = []
    problems: list[str] = []
    if not spec:
        return (), ("empty: give name:role:share;…",)
    for part in filter(None, (p.strip() for p in spec.split(";"))):
        bits = part.rsplit(":", 2)
        if len(bits) != 3 or not bits[0].strip():
            problems.append(f"{part[:100]!r} is not name:role:share")
            continue
        name, role, share_text = bits[0].strip(), bits[1].strip().lower(), bits[2]
        if (len(name) > _NAME_MAX or "\x00" in name) and (problem := text_problem(Holder.name, name)):
            problems.append(f"holder name {name[:40]!r}: {problem}")
            continue
        if role not in SHARE_ROLES:
            problems.append(f"unknown role {role!r} for {name!r} (expected one of: {', '.join(sorted(SHARE_ROLES))})")
            continue
        try:
            holders.append((name, role, *_share(share_text)))
        except ValueError as e:
            problems.append(f"{name}: {e}")
    if holders and not problems:
        # Fraction addition normalises at every step; one common denominator is 3× faster on 10⁵ rows.
        den = math.lcm(*(h[3] for h in holders))
        num = sum(h[2] * (den // h[3]) for h in holders)
        if num != den:
            problems.append(f"shares sum to {Fraction(num, den)}, not exactly 1")
        if len({(h[0], h[1]) for h in holders}) != len(holders):
            problems.append("a holder appears twice with the same role")
    return tuple(holders), tuple(problems)


_CHUNK_BYTES = 1 << 20
_PARALLEL_BYTES = 2 << 20  # below 2 MiB a worker process costs more than it saves
# Rows naming files are fingerprinted as they are parsed (~1 ms a text, more for images and audio):
# their chunks are small and go to one worker per core, so fingerprinting uses every core while this
# process stores (the single writer, in its one transaction).
_FILE_CHUNK_BYTES = 32 << 10
_FILE_PARALLEL_BYTES = 64 << 10
_FILE_PARALLEL_ROWS = 32
FILE_WORKERS: int | None = None  # processes fingerprinting a sheet's files (None: one per core)


def _parse_chunk(job: tuple[int, str, list[str], Path, int, bool]) -> _Chunk:
    """Read and validate a chunk of the file (in a worker process for big files); lines up to ``after``
    were stored by an earlier run of the same job and are skipped unread."""
    first_line, text, header, base, after, tariffed = job
    rows: list[_Row] = []
    errors: list[RowProblem] = []
    pending: dict[int, tuple[str, bytes | Path, str]] = {}  # line -> a file to fingerprint with the chunk's others
    count = 0
    for n, fields in enumerate(csvcells.records(csv.reader(io.StringIO(text, newline=""))), start=first_line):
        if isinstance(fields, csvcells.RecordError):  # e.g. a field over the csv module's limit
            count += 1
            errors.append(RowProblem(n, "-", str(fields)))
            continue
        if n <= after or not "".join(fields).strip():
            continue
        count += 1
        if len(fields) != len(header):
            errors.append(RowProblem(n, "-", f"{len(fields)} fields, the header has {len(header)}"))
            continue
        row = _parse_row(n, fields, header, base, errors, tariffed, pending)
        if row is not None:
            rows.append(row)
    if pending:
        rows = _fingerprinted(rows, pending, errors)
    return _Chunk(rows, errors, count, frozenset(name for r in rows for name, *_ in r.holders))


def _names_files(body: str, column: int, sample: int = 64 << 10) -> bool:
    """Whether rows of the sheet name files, judged by its first and last ``sample`` characters: a sheet
    with an empty ``file`` column (a metadata-only export of the full layout) is parsed in big chunks by
    one process, not in the small per-core chunks of fingerprinting (100,000 such rows: 300 chunks)."""
    if len(body) <= 2 * sample:
        parts = [body]
    else:
        tail = body[-sample:]
        parts = [body[:sample], tail[tail.find("\n") + 1 :]]
    for part in parts:
        for fields in csv.reader(io.StringIO(part, newline="")):
            if len(fields) > column and fields[column].strip():
                return True
    return False


def _parsed_chunks(text: str, body_start: int, header: list[str], base: Path, after: int = 0, tariffed: bool = False):
    """Parsed chunks in file order. Big files whose fields hold no quoted line breaks are cut at line ends
    and parsed by a worker process while the caller stores the previous chunks."""
    body = text[body_start:]
    first_line = text.count("\n", 0, body_start) + 1
    files = "file" in header and _names_files(body, header.index("file"))
    workers = max(1, FILE_WORKERS or os.cpu_count() or 1) if files else 1
    if files:
        # A row naming an image or a recording is a short line and 50-200 ms of work: a sheet of 300 JPEGs
        # is 20 KiB. Enough rows go to the workers whatever their bytes, cut so each worker gets several.
        parallel = len(body) >= _FILE_PARALLEL_BYTES or body.count("\n") >= _FILE_PARALLEL_ROWS
        chunk_bytes = max(256, min(_FILE_CHUNK_BYTES, len(body) // (4 * workers)))
    else:
        parallel, chunk_bytes = len(body) >= _PARALLEL_BYTES, _CHUNK_BYTES
    if not parallel or '"' in body and re.search(r'"[^"]*\n', body):
        yield _parse_chunk((first_line, body, header, base, after, tariffed))
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    def jobs():
        line, pos = first_line, 0
        size = chunk_bytes // 8  # a small first chunk: storing starts after a fraction of the parse
        while pos < len(body):
            end = body.find("\n", pos + size)
            size = chunk_bytes
            end = len(body) if end < 0 else end + 1
            part = body[pos:end]
            yield (line, part, header, base, after, tariffed)
            line += part.count("\n")
            pos = end

    # The worker only parses: its garbage has no reference cycles, and the collector walking the heap it
    # inherited cost about a third of its time.
    # It dies with this process (kill -9 included): an orphan kept the killed import's transaction open.
    with ProcessPoolExecutor(
        max_workers=workers, initializer=die_with_parent, initargs=(os.getpid(), gc.disable)
    ) as pool:
        window: deque = deque()
        for job in jobs():
            window.append(pool.submit(_parse_chunk_plain, job))
            if len(window) >= 2 * workers + 1:  # bounded read-ahead: memory stays a few chunks deep
                yield _from_plain(window.popleft().result())
        while window:
            yield _from_plain(window.popleft().result())


def _parse_chunk_plain(job: tuple[int, str, list[str], Path, int, bool]) -> _Chunk:
    """:func:`_parse_chunk` in a worker process, its rows handed back as plain tuples: a named tuple is
    unpickled through its Python constructor, a tuple in C (100k rows: 1.4 → 1.1 s in the storing process,
    ``_Row._make`` included)."""
    chunk = _parse_chunk(job)
    return chunk._replace(rows=list(map(tuple, chunk.rows)))


def _from_plain(chunk: _Chunk) -> _Chunk:
    return chunk._replace(rows=list(map(_as_row, chunk.rows)))


# a plain tuple made a _Row in C: ``_Row._make`` is a Python call a row (100k rows: ≈ 0.3 s)
_as_row = partial(tuple.__new__, _Row)
_WORK_REF, _LINE = attrgetter("work_ref"), attrgetter("line")
_NO_IDS = (None,) * len(IDENTIFIERS)


def _store_chunk(
    c,
    org_id: int,
    rows: list[_Row],
    names: frozenset[str] | None,
    holder_ids: dict[str, int],
    report: ImportReport,
    *,
    had_works: bool,
) -> None:
    """Check re-imported rows against what is stored, then store the chunk's valid rows.

    ``names`` are the holders named in ``rows`` (None: not known, work them out)."""
    existing = _existing(c, org_id, [r.work_ref for r in rows]) if had_works else {}
    if names is None:
        names = frozenset(name for r in rows for name, *_ in r.holders)
    holder_ids.update(_org_holders(c, org_id, names - holder_ids.keys()))
    valid = rows
    if existing:
        valid = []
        for r in rows:
            prev = existing.get(r.work_ref)
            if prev is not None and prev["row_hash"] != r.row_hash:
                if prev["holders"] != set(r.holders):
                    report.errors.append(
                        RowProblem(
                            r.line,
                            "holders",
                            f"work_ref {r.work_ref!r} was imported with "
                            "other holders or shares; ownership changes are not made by re-import",
                        )
                    )
                    continue
            valid.append(r)
        names = frozenset(name for r in valid for name, *_ in r.holders)
    _store(c, org_id, valid, names, existing, holder_ids, report)


def _fingerprinted(
    rows: list[_Row], pending: dict[int, tuple[str, bytes | Path, str]], errors: list[RowProblem]
) -> list[_Row]:
    """The chunk's rows with their files' fingerprints and ISCC codes, computed together; a row whose file
    cannot be fingerprinted becomes a row error, as if fingerprinted alone."""
    lines = list(pending)
    results = dict(zip(lines, register_contents([pending[n] for n in lines]), strict=True))
    out = []
    valid = {r.line for r in rows}
    errors.extend(
        RowProblem(n, "file", str(res)) for n, res in results.items() if n not in valid and isinstance(res, Exception)
    )  # a row with other errors too
    for r in rows:
        res = results.get(r.line)
        if isinstance(res, Exception):
            errors.append(RowProblem(r.line, "file", str(res)))
        elif res is not None:
            out.append(r._replace(fingerprint=res[0], iscc=res[1]))
        else:
            out.append(r)
    errors.sort(key=lambda e: e.line)
    return out


def _parse_row(
    n: int,
    fields: list[str],
    header: list[str],
    base: Path,
    errors: list[RowProblem],
    tariffed: bool = False,
    pending: dict[int, tuple[str, bytes | Path, str]] | None = None,
) -> _Row | None:
    """One row, validated; ``pending`` given, its file is only read and left there to be fingerprinted with
    the chunk's other files (a row that is otherwise valid is returned without fingerprint until then)."""
    row = dict(zip(header, map(str.strip, fields), strict=True))
    get = row.get
    before = len(errors)
    ref, title = get("work_ref", ""), get("title", "")
    if not ref:
        errors.append(RowProblem(n, "work_ref", "empty"))
    elif (len(ref) > _REF_MAX or "\x00" in ref) and (problem := text_problem(Work.work_ref, ref)):
        errors.append(RowProblem(n, "work_ref", problem))
    if not title:
        errors.append(RowProblem(n, "title", "empty"))
    elif (len(title) > _TITLE_MAX or "\x00" in title) and (problem := text_problem(Work.title, title)):
        errors.append(RowProblem(n, "title", problem))
    holders, problems = _holders(get("holders", ""))
    errors.extend(RowProblem(n, "holders", p) for p in problems)
    emails = _emails(get("holder_email", ""), holders, n, errors) if get("holder_email") else ()
    ids: dict[str, str | None] = dict.fromkeys(IDENTIFIERS)
    for key in IDENTIFIERS:
        if cell := get(key):
            try:
                ids[key] = normalise_identifier(key, cell)
            except ValueError as e:
                errors.append(RowProblem(n, key, str(e)))
    values: list[tuple[str, str]] = []
    for col in _CATEGORY_COLUMNS:
        if cell := get(col):
            try:
                values.append((col, _value_name(cell)))
            except ValueError as e:
                errors.append(RowProblem(n, col, str(e)))
    offer = None
    price, currency = get("price", ""), get("currency", "")
    wants_licence = any(v == _LICENCE for _, v in values)
    if price or currency:
        if not (price and currency):
            errors.append(RowProblem(n, "price" if not price else "currency", "price and currency go together"))
        elif not wants_licence:
            errors.append(RowProblem(n, "price", "a price is given but no category is 'licence'"))
        else:
            try:
                offer = _offer(price, currency)
            except ValueError as e:
                errors.append(RowProblem(n, "price" if "currency" not in str(e) else "currency", str(e)))
    elif wants_licence and not tariffed:
        errors.append(
            RowProblem(
                n, "price", "a 'licence' category needs a price and a currency (or the organisation's published tariff)"
            )
        )

    data, media, chash, fingerprint, iscc = None, None, None, None, None
    if f := get("file"):
        try:
            # A video stays where it lies (FFmpeg reads it, the hash is streamed); other files are read whole.
            path, size, head, data = head_then_read_confined(
                base,
                f,
                max_bytes=MAX_VIDEO_BYTES,
                read_max_bytes=MAX_FILE_BYTES,
                stays=lambda head: detect_media_type(head, f) == "video",
                whole="a file that is not a video",
            )
            if data is None:
                data = path
        except FileRefused as e:
            errors.append(RowProblem(n, "file", f"cannot read {f!r}: {e.reason}"))
        else:
            media = detect_media_type(head if isinstance(data, Path) else data[:8192], f)
            if not data:
                errors.append(RowProblem(n, "file", f"{f!r} is empty"))
            elif media is None:
                errors.append(RowProblem(n, "file", f"{f!r} is not a text, image, audio or video file"))
            elif pending is not None:
                pending[n] = (media, data, f)
            else:
                try:
                    fingerprint, iscc = register_content(media, data, f)
                except (RegistryError, DocumentError) as e:
                    errors.append(RowProblem(n, "file", str(e)))
            chash = content_hash(data) if data else None
    if len(errors) != before:
        return None
    # The raw fields (and the file's content) identify the row: an identical re-import is a no-op.
    row_hash = xxhash.xxh3_128_hexdigest("\x1f".join(fields).encode() + (chash or "").encode())
    return _Row(
        n,
        ref,
        title,
        holders,
        tuple(ids.values()),
        tuple(values),
        _offer_json(offer) if offer else None,
        media,
        chash,
        iscc,
        fingerprint,
        row_hash,
        emails,
    )


def _existing(c, org_id: int, refs: list[str]) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for i in range(0, len(refs), _CHUNK):
        for w in c.execute(
            select(Work.id, Work.work_ref, Work.row_hash).where(
                Work.org_id == org_id, Work.work_ref.in_(refs[i : i + _CHUNK])
            )
        ):
            out[w.work_ref] = {"id": w.id, "row_hash": w.row_hash, "holders": set()}
    by_id = {v["id"]: v for v in out.values()}
    ids = list(by_id)
    for i in range(0, len(ids), _CHUNK):
        for s in c.execute(
            select(WorkShare.__table__, Holder.name)
            .join(Holder, Holder.id == WorkShare.holder_id)
            .where(WorkShare.work_id.in_(ids[i : i + _CHUNK]))
        ):
            g = math.gcd(s.share_num, s.share_den)  # lowest terms, as the sheet's shares are
            by_id[s.work_id]["holders"].add((s.name, s.role, s.share_num // g, s.share_den // g))
    return out


def _org_holders(c, org_id: int, names: set[str]) -> dict[str, int]:
    """Names → holder ids among the organisation's members (by mandate or created by its imports)."""
    members = select(Mandate.holder_id).where(Mandate.org_id == org_id)
    found: dict[str, int] = {}
    name_list = sorted(names)
    for i in range(0, len(name_list), _CHUNK):
        q = (
            select(Holder.id, Holder.name)
            .where(
                Holder.name.in_(name_list[i : i + _CHUNK]),
                (Holder.created_by_org_id == org_id) | Holder.id.in_(members),
            )
            .order_by(Holder.id)
        )
        for hid, name in c.execute(q):
            found.setdefault(name, hid)
    return found


def _add_emails(c, by_id: dict[int, str], report: ImportReport) -> None:
    """Give known holders the sheet's address where they have none; one they have is never replaced."""
    ids = sorted(by_id)
    for i in range(0, len(ids), _CHUNK):
        for hid, old in c.execute(select(Holder.id, Holder.email).where(Holder.id.in_(ids[i : i + _CHUNK]))):
            new = by_id[hid]
            if old is None:
                c.execute(update(Holder).where(Holder.id == hid, Holder.email.is_(None)).values(email=new))
                report.emails_added += 1
            elif old.lower() != new:
                report.emails_kept += 1


def _store(
    c,
    org_id: int,
    rows: list[_Row],
    names: frozenset[str],
    existing: dict[str, dict],
    holder_ids: dict[str, int],
    report: ImportReport,
) -> None:
    with indexed_in_bulk(c) as index:
        _store_new(c, org_id, rows, names, existing, holder_ids, report, index)


def _store_new(
    c,
    org_id: int,
    rows: list[_Row],
    names: frozenset[str],
    existing: dict[str, dict],
    holder_ids: dict[str, int],
    report: ImportReport,
    index: Callable[[str, int, int], None],
) -> None:
    now = db_time(c, utcnow())
    org = org_ref(org_id)
    # New members: a holder first named in this organisation's import gets a *pending* mandate for every
    # category; it counts only once the holder confirms it or the organisation attaches the signed paper.
    new_names = sorted(names - holder_ids.keys())
    emails: dict[str, str] = {}
    for r in rows:
        for name, email in r.emails:
            emails.setdefault(name, email)  # the first row that gives one holder an address decides
    if emails:
        _add_emails(c, {holder_ids[n]: e for n, e in emails.items() if n in holder_ids}, report)
    if new_names:
        new_holders = allocate_ids(c, Holder.__table__, len(new_names))
        bulk_insert_tuples(
            c,
            Holder.__table__,
            ("id", "name", "org_key", "email"),
            [(hid, name, name, emails.get(name)) for hid, name in zip(new_holders, new_names, strict=True)],
            constants={"created_by_org_id": org_id, "created_at": now},
        )
        if emails:
            got = [hid for hid, name in zip(new_holders, new_names, strict=True) if name in emails]
            report.emails_added += len(got)
            report.invite.extend(got)
        holder_ids.update(zip(new_names, new_holders, strict=True))
        index("holders", new_holders[0], new_holders[-1])
        bulk_insert_tuples(
            c,
            Mandate.__table__,
            ("holder_id",),
            [(hid,) for hid in new_holders],
            constants={
                "org_id": org_id,
                "categories": _ALL_CATEGORIES,
                "valid_from": now,
                "valid_until": None,
                "declared_at": now,
                "confirmed_at": None,
            },
        )
        report.holders_created += len(new_holders)

    if existing:
        fresh = [r for r in rows if r.work_ref not in existing]
        changed = [r for r in rows if r.work_ref in existing and existing[r.work_ref]["row_hash"] != r.row_hash]
    else:
        fresh, changed = rows, []
    report.unchanged += len(rows) - len(fresh) - len(changed)

    clashes = _clashes(c, fresh)
    if fresh:
        new_ids = allocate_ids(c, Work.__table__, len(fresh))
        bulk_insert_plain(
            c,
            Work.__table__,
            _WORK_COLUMNS,
            [
                (
                    wid,
                    r.title,
                    r.media_type,
                    r.chash,
                    *r.ids,
                    r.iscc,
                    r.work_ref,
                    r.row_hash,
                    "disputed" if r.work_ref in clashes else "active",
                )
                for wid, r in zip(new_ids, fresh, strict=True)
            ],
            constants={"org_id": org_id, "created_at": now},
        )
        index("works", new_ids[0], new_ids[-1])
        bulk_insert_plain(
            c,
            WorkShare.__table__,
            ("work_id", "holder_id", "role", "share_num", "share_den"),
            [
                (wid, holder_ids[name], role, num, den)
                for wid, r in zip(new_ids, fresh, strict=True)
                for name, role, num, den in r.holders
            ],
        )
        bulk_insert(
            c,
            Fingerprint.__table__,
            [
                {"work_id": wid, "modality": r.media_type, "payload": r.fingerprint, "created_at": now}
                for wid, r in zip(new_ids, fresh, strict=True)
                if r.fingerprint is not None
            ],
        )
        disputes = [
            {
                "work_id": other,
                "claim_work_id": wid,
                "key": key,
                "key_value": value,
                "status": "open",
                "resolution": None,
                "created_at": now,
                "resolved_at": None,
            }
            for wid, r in zip(new_ids, fresh, strict=True)
            for key, value, other in clashes.get(r.work_ref, ())
        ]
        bulk_insert(c, Dispute.__table__, disputes)
        report.disputes += len(disputes)
        decls = []
        for wid, r in zip(new_ids, fresh, strict=True):
            target, offer = f"work:{wid}", r.offer_json
            decls += [(target, cat, val, offer if val == _LICENCE else None) for cat, val in r.values]
        _insert_declarations(c, org, decls, now)
    report.created += len(fresh)

    for r in changed:
        wid = existing[r.work_ref]["id"]
        c.execute(
            update(Work)
            .where(Work.id == wid)
            .values(title=r.title, row_hash=r.row_hash, **dict(zip(IDENTIFIERS, r.ids, strict=True)))
        )
        current = _current_values(c, work_ref(wid), org)
        values = dict(r.values)
        decls = []
        for cat in _CATEGORY_COLUMNS:
            new = values.get(cat)
            offer = r.offer_json if new == _LICENCE else None
            if current.get(cat, (None, None)) != (new, offer):
                decls.append((work_ref(wid), cat, new, offer))
        _insert_declarations(c, org, decls, now)
    report.updated += len(changed)


def _insert_declarations(c, party: str, decls: list[tuple[str, str, str | None, str | None]], now) -> None:
    """Work-level declarations by ``party``, each ``(target, category, value, offer JSON)``, made ``now``."""
    bulk_insert_plain(
        c,
        Declaration.__table__,
        ("target", "category", "value", "offer"),
        decls,
        constants={
            "level": "work",
            "party": party,
            "purpose": None,
            "valid_from": now,
            "valid_until": None,
            "declared_at": now,
        },
    )


_WORK_COLUMNS = ("id", "title", "media_type", "content_hash", *IDENTIFIERS, "iscc", "work_ref", "row_hash", "status")
_ALL_CATEGORIES = ",".join(c.value for c in Category)


def _current_values(c, target: str, party: str) -> dict[str, tuple[str | None, str | None]]:
    """The party's latest value and offer JSON per category name."""
    out: dict[str, tuple[str | None, str | None]] = {}
    for d in c.execute(
        select(Declaration.__table__)
        .where(Declaration.target == target, Declaration.party == party, Declaration.level == "work")
        .order_by(Declaration.declared_at, Declaration.id)
    ):
        out[d.category] = (d.value, d.offer)
    return out


def _clashes(c, rows: list[_Row]) -> dict[str, list[tuple[str, str, int]]]:
    """Rows whose content or identifiers another registered work already claims (by other holders)."""
    out: dict[str, list[tuple[str, str, int]]] = {}
    rows = [r for r in rows if r.chash is not None or r.ids != _NO_IDS]
    if not rows:  # metadata-only rows without identifiers: nothing to look up
        return out
    keys = [r.chash for r in rows], *zip(*(r.ids for r in rows))
    for key, column in zip(("content_hash", *IDENTIFIERS), keys, strict=False):
        if not any(column):  # metadata-only rows without identifiers: nothing to look up
            continue
        wanted: dict[str, list[_Row]] = {}
        for v, r in zip(column, rows, strict=True):
            if v:
                wanted.setdefault(v, []).append(r)
        values = list(wanted)
        col = getattr(Work, key)
        for i in range(0, len(values), _CHUNK):
            for wid, v in c.execute(
                select(Work.id, col).where(col.in_(values[i : i + _CHUNK]), Work.status != "rejected")
            ):
                for r in wanted[v]:
                    out.setdefault(r.work_ref, []).append((key, v, wid))
    return out


__all__ = ["COLUMNS", "Batches", "ImportReport", "RowProblem", "holder_ref", "import_csv"]
