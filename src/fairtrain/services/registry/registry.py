"""The registry service: holders, organisations, mandates, works, shares, declarations and disputes."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import BinaryIO

import xxhash
from sqlalchemy import Engine, func, insert, or_, select, update

from fairtrain.core import decide as rules
from fairtrain.core import tariff as tariff_terms
from fairtrain.core.decide import (
    Query,
    WorkFacts,
    decide_registered,
    effective_values,
    has_standing,
    mandate_in_force,
)
from fairtrain.core.errors import InvalidInput
from fairtrain.core.extract import DocumentError
from fairtrain.core.files import write_atomic
from fairtrain.core.fingerprint import FingerprintError, codec
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.media import detect_media_type
from fairtrain.core.numbers import MAX_CHARS, NumberError, parse_fraction
from fairtrain.core.store.db import database_url, is_initialised, migrate, open_engine
from fairtrain.core.store.limits import check_text
from fairtrain.core.store.models import (
    Declaration,
    Dispute,
    DisputeAnswer,
    FactsVersion,
    Fingerprint,
    Holder,
    Licence,
    LicensedWork,
    Mandate,
    Organisation,
    Tariff,
    Work,
    WorkShare,
    utcnow,
)
from fairtrain.core.tariff import parse_tariff
from fairtrain.core.vocab import Category, Decision, Level, Offer, Purpose, Value
from fairtrain.services import log
from fairtrain.services.notify import notify
from fairtrain.services.registry.errors import Ambiguous, NotAllowed, NotFound, RegistryError

SHARE_ROLES = frozenset(
    {
        "author",
        "composer",
        "lyricist",
        "arranger",
        "translator",
        "publisher",
        "performer",
        "producer",
        "photographer",
        "illustrator",
        "director",
        "screenwriter",
        "choreographer",
        "label",
        "other",
    }
)
IDENTIFIERS = ("iswc", "isrc", "isbn")
MAX_FILE_BYTES = 512 * 1024 * 1024
# A video is never read into memory (FFmpeg reads it where it lies, the content hash is streamed), so its
# cap is the size of a long programme at broadcast quality.
MAX_VIDEO_BYTES = 16 * 1024**3


def holder_ref(holder_id: int) -> str:
    return f"holder:{holder_id}"


def org_ref(org_id: int) -> str:
    return f"org:{org_id}"


def work_ref(work_id: int) -> str:
    return f"work:{work_id}"


def parse_party(ref: str) -> tuple[str, int]:
    kind, _, num = ref.partition(":")
    if kind not in ("holder", "org") or not num.isdigit():
        raise RegistryError(f"party {ref!r}: expected holder:ID or org:ID")
    return kind, int(num)


def parse_share(text: str) -> Fraction:
    """A share as ``0.5``, ``1/3`` or ``50%``, exactly (bounded: see :func:`fairtrain.core.numbers.parse_fraction`)."""
    try:
        share = parse_fraction(text, maximum=1, what="a share")
    except NumberError as e:
        raise InvalidInput(f"share {text.strip()[:MAX_CHARS]!r}: {e} (use 0.5, 1/3 or 50%)") from None
    if share <= 0:
        raise InvalidInput(f"share {text!r} must be above 0 and at most 1")
    return share


def content_hash(data: bytes | Path) -> str:
    """xxh3-128 of the content: of ``data``, or of the file at a path, streamed in 1 MiB blocks."""
    if isinstance(data, Path):
        h = xxhash.xxh3_128()
        with open(data, "rb") as f:
            while block := f.read(1 << 20):
                h.update(block)
        return h.hexdigest()
    return xxhash.xxh3_128_hexdigest(data)


@dataclass(frozen=True, slots=True)
class ShareSpec:
    holder_id: int
    role: str
    share: Fraction


def bump_facts_version(c) -> None:
    """Mark, inside the writer's transaction, that what decisions are made from has changed.

    Every write to works, shares, mandates, declarations or grants calls this, so the change and the new
    version commit together; caches of decision facts in any process compare versions before answering."""
    c.execute(update(FactsVersion).where(FactsVersion.id == 1).values(version=FactsVersion.version + 1))


class _FactsVersionReader:
    """Reads the facts version on a database connection of its own, held open between reads.

    A cached decision is otherwise pure computation; a pool checkout plus a statement through SQLAlchemy
    costs about seven times the read itself (150 vs 22 µs on SQLite), which halved the decision endpoint's
    throughput in benchmarks/web_load.py. The connection is outside the registry's pool (it is set to
    autocommit, so it never holds a snapshot or a transaction between reads) and is reopened after an
    error or in a forked child, which leaves the parent's connection alone.
    """

    _SQL = "SELECT version FROM facts_version WHERE id = 1"

    def __init__(self, engine: Engine):
        self._engine = engine
        self._own: Engine | None = None
        self._conn = None
        self._pid = 0
        self._inherited: list = []  # a parent's connection, seen in a forked child: never used nor closed
        self._lock = threading.Lock()

    def read(self) -> int:
        errors = self._engine.dialect.loaded_dbapi.Error
        with self._lock:
            for attempt in (1, 2):
                try:
                    if self._conn is None or self._pid != os.getpid():
                        self._open()
                    cur = self._conn.cursor()
                    try:
                        cur.execute(self._SQL)
                        rows = cur.fetchall()  # to the end: SQLite ends the statement's read there
                    finally:
                        cur.close()
                    return rows[0][0]
                except errors:
                    self._close()
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    def _open(self) -> None:
        if self._conn is not None and self._pid != os.getpid():
            self._inherited.append(self._conn)
            self._conn, self._own = None, None
        if self._own is None:
            from sqlalchemy import create_engine
            from sqlalchemy.pool import NullPool

            sqlite = self._engine.dialect.name == "sqlite"
            self._own = create_engine(
                self._engine.url, poolclass=NullPool, connect_args={"timeout": 30} if sqlite else {}
            )
        conn = self._own.raw_connection()
        if self._engine.dialect.name == "postgresql":
            conn.driver_connection.autocommit = True
        self._conn, self._pid = conn, os.getpid()

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.invalidate()


class Registry:
    """One registry database. Cheap to create; holds a cache of decision facts per work, valid while the
    database's facts version (:func:`bump_facts_version`) is the one it was filled at, whichever process
    or server wrote since."""

    def __init__(self, engine: Engine, *, cache_size: int = 100_000):
        self.engine = engine
        self._facts: OrderedDict[int, WorkFacts] = OrderedDict()
        self._facts_version: int | None = None
        self._versions = _FactsVersionReader(engine)
        self._cache_lock = threading.Lock()
        self._cache_size = cache_size

    @classmethod
    def open(cls, data_dir: str | Path | None = None, url: str | None = None, *, create: bool = False) -> Registry:
        engine = open_engine(database_url(data_dir, url))
        if create:
            migrate(engine)
        elif not is_initialised(engine):
            raise RegistryError(
                f"no registry at {engine.url.render_as_string(hide_password=True)}: run `fairtrain init` first"
            )
        return cls(engine)

    def _changed(self) -> None:
        """This process wrote (and bumped the version): drop the cache now rather than on the next read."""
        with self._cache_lock:
            self._facts.clear()
            self._facts_version = None

    # -- parties ---------------------------------------------------------------------------------

    def add_holder(self, name: str, *, email: str | None = None) -> int:
        name = _required(name, "holder name", Holder.name)
        check_text(Holder.email, email, "holder email", RegistryError)
        with self.engine.begin() as c:
            hid = c.execute(
                insert(Holder).values(name=name, email=email, created_at=utcnow()).returning(Holder.id)
            ).scalar_one()
        return hid

    def add_org(self, name: str, *, country: str | None = None, email: str | None = None) -> int:
        name = _required(name, "organisation name", Organisation.name)
        check_text(Organisation.country, country, "organisation country", RegistryError)
        check_text(Organisation.email, email, "organisation email", RegistryError)
        with self.engine.begin() as c:
            if c.execute(select(Organisation.id).where(Organisation.name == name)).first():
                raise RegistryError(f"organisation {name!r} exists already")
            return c.execute(
                insert(Organisation)
                .values(name=name, country=country, email=email, created_at=utcnow())
                .returning(Organisation.id)
            ).scalar_one()

    def list_holders(self, *, name: str | None = None, limit: int = 1000) -> list[dict]:
        q = select(Holder.__table__).order_by(Holder.id).limit(limit)
        if name:
            q = q.where(Holder.name.contains(name, autoescape=True))
        with self.engine.connect() as c:
            return [{"id": h.id, "ref": holder_ref(h.id), "name": h.name, "email": h.email} for h in c.execute(q)]

    def list_orgs(self) -> list[dict]:
        with self.engine.connect() as c:
            return [
                {"id": o.id, "ref": org_ref(o.id), "name": o.name, "country": o.country, "email": o.email}
                for o in c.execute(select(Organisation.__table__).order_by(Organisation.id))
            ]

    def list_works(self, *, title: str | None = None, limit: int = 1000) -> list[dict]:
        q = select(Work.__table__).order_by(Work.id).limit(limit)
        if title:
            q = q.where(Work.title.contains(title, autoescape=True))
        with self.engine.connect() as c:
            return [
                {"id": w.id, "title": w.title, "media_type": w.media_type, "status": w.status, "iscc": w.iscc}
                for w in c.execute(q)
            ]

    def find_holder(self, ref: str | int) -> dict:
        """A holder by id or by unique name."""
        with self.engine.connect() as c:
            if isinstance(ref, int) or str(ref).isdigit():
                row = c.execute(select(Holder.__table__).where(Holder.id == int(ref))).first()
                rows = [row] if row else []
            else:
                rows = c.execute(select(Holder.__table__).where(Holder.name == ref)).all()
        if not rows:
            raise NotFound("holder", ref)
        if len(rows) > 1:
            raise RegistryError(f"holder name {ref!r} is ambiguous ({len(rows)} holders): use the id")
        h = rows[0]
        return {"id": h.id, "ref": holder_ref(h.id), "name": h.name, "email": h.email}

    def find_org(self, ref: str | int) -> dict:
        with self.engine.connect() as c:
            cond = (
                Organisation.id == int(ref) if isinstance(ref, int) or str(ref).isdigit() else Organisation.name == ref
            )
            o = c.execute(select(Organisation.__table__).where(cond)).first()
        if not o:
            raise NotFound("organisation", ref)
        return {"id": o.id, "ref": org_ref(o.id), "name": o.name, "country": o.country, "email": o.email}

    def add_mandate(
        self,
        holder_id: int,
        org_id: int,
        categories: Iterable[Category],
        *,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
        pending: bool = False,
    ) -> int:
        """Record a mandate. ``pending``: it awaits the holder's consent (confirm or signed paper) and does not
        count until then; otherwise the caller is the holder (or the operator) and it is confirmed now."""
        cats = sorted({c.value for c in categories})
        if not cats:
            raise RegistryError("a mandate needs at least one category")
        now = utcnow()
        start = valid_from or now
        if valid_until is not None and valid_until <= start:
            raise RegistryError(f"mandate ends ({valid_until.isoformat()}) before it starts ({start.isoformat()})")
        self.find_holder(holder_id)
        self.find_org(org_id)
        with self.engine.begin() as c:
            mid = c.execute(
                insert(Mandate)
                .values(
                    holder_id=holder_id,
                    org_id=org_id,
                    categories=",".join(cats),
                    valid_from=start,
                    valid_until=valid_until,
                    declared_at=now,
                    confirmed_at=None if pending else now,
                    confirmation=None if pending else "direct",
                )
                .returning(Mandate.id)
            ).scalar_one()
            bump_facts_version(c)
        self._changed()
        return mid

    def mandates(
        self, *, org_id: int | None = None, holder_id: int | None = None, mandate_id: int | None = None
    ) -> list[dict]:
        q = select(Mandate.__table__).order_by(Mandate.id)
        if org_id is not None:
            q = q.where(Mandate.org_id == org_id)
        if holder_id is not None:
            q = q.where(Mandate.holder_id == holder_id)
        if mandate_id is not None:
            q = q.where(Mandate.id == mandate_id)
        now = utcnow()
        with self.engine.connect() as c:
            return [_mandate_dict(m, now) for m in c.execute(q)]

    def mandate(self, mandate_id: int) -> dict:
        rows = self.mandates(mandate_id=mandate_id)
        if not rows:
            raise NotFound("mandate", mandate_id)
        return rows[0]

    def _mandate_row(self, c, mandate_id: int):
        m = c.execute(select(Mandate.__table__).where(Mandate.id == mandate_id)).first()
        if m is None:
            raise NotFound("mandate", mandate_id)
        return m

    def _confirmed(self, c, m, how: str, now: datetime, **extra) -> None:
        c.execute(
            update(Mandate)
            .where(Mandate.id == m.id)
            .values(
                confirmed_at=now,
                confirmation=how,
                confirm_token_hash=None,
                **({"paper_sha256": extra["sha256"]} if "sha256" in extra else {}),
            )
        )
        log.append(
            c,
            [
                log.Entry(
                    "mandate-confirmed",
                    {"id": m.id, "holder": holder_ref(m.holder_id), "org": org_ref(m.org_id), "by": how, **extra},
                    subject=holder_ref(m.holder_id),
                )
            ],
            at=now,
        )
        bump_facts_version(c)

    def mandate_invitation(self, mandate_id: int, *, party: str | None = None) -> str:
        """A fresh single-use token by which the holder confirms a pending mandate (an earlier one stops
        working). Only its SHA-256 is stored; ``party`` (if given) must be the mandated organisation."""
        token = secrets.token_urlsafe(24)
        with self.engine.begin() as c:
            m = self._mandate_row(c, mandate_id)
            if party is not None and party != org_ref(m.org_id):
                raise NotAllowed(f"{party} may not invite for mandate {mandate_id}: it is {org_ref(m.org_id)}'s")
            self._check_pending(m)
            c.execute(
                update(Mandate)
                .where(Mandate.id == mandate_id)
                .values(confirm_token_hash=hashlib.sha256(token.encode()).hexdigest())
            )
        return token

    @staticmethod
    def _consenting(m, holder: str | None, token: str | None, doing: str) -> str:
        """How the holder speaks for a pending mandate: ``token`` (the invitation's) or signed in as ``holder``."""
        if token is not None:
            if m.confirm_token_hash is None or not hmac.compare_digest(
                m.confirm_token_hash, hashlib.sha256(token.encode()).hexdigest()
            ):
                raise NotAllowed(f"mandate {m.id}: the confirmation link is not valid (used or replaced)")
            return "token"
        if holder is not None:
            if holder != holder_ref(m.holder_id):
                raise NotAllowed(f"only {holder_ref(m.holder_id)} may {doing} mandate {m.id}, not {holder}")
            return "holder"
        raise RegistryError(f"to {doing} a mandate needs the holder or the confirmation token")

    def invited_mandate(self, mandate_id: int, *, holder: str | None = None, token: str | None = None) -> dict:
        """The mandate an invitation link (or its signed-in holder) is about, with its holder's and
        organisation's names: what the confirm page shows. Refused for a wrong or used link."""
        with self.engine.connect() as c:
            m = self._mandate_row(c, mandate_id)
        self._consenting(m, holder, token, "see")
        return {
            **self.mandate(mandate_id),
            "holder_name": self.find_holder(m.holder_id)["name"],
            "org_name": self.find_org(m.org_id)["name"],
        }

    def confirm_mandate(self, mandate_id: int, *, holder: str | None = None, token: str | None = None) -> dict:
        """The holder consents: signed in as ``holder``, or by the single-use ``token`` of an invitation.
        The mandate counts from now on."""
        now = utcnow()
        with self.engine.begin() as c:
            m = self._mandate_row(c, mandate_id)
            how = self._consenting(m, holder, token, "confirm")
            self._check_pending(m)
            self._confirmed(c, m, how, now)
        self._changed()
        return self.mandate(mandate_id)

    def decline_mandate(self, mandate_id: int, *, holder: str | None = None, token: str | None = None) -> dict:
        """The holder refuses a pending mandate (by the invitation's ``token`` or signed in as ``holder``): it
        ends now without ever having counted; the row and a ``mandate-declined`` log entry stay."""
        now = utcnow()
        with self.engine.begin() as c:
            m = self._mandate_row(c, mandate_id)
            how = self._consenting(m, holder, token, "decline")
            self._check_pending(m)
            self._end_mandate(c, m, "mandate-declined", now, now, by=how)
        self._changed()
        return self.mandate(mandate_id)

    def attach_mandate_paper(
        self, mandate_id: int, src: BinaryIO, store_dir: Path, *, party: str | None = None
    ) -> dict:
        """The organisation attaches the holder's signed paper mandate: the file is stored under
        ``store_dir/mandates/`` by its SHA-256 (streamed, atomically), the hash logged; the mandate counts."""
        with self.engine.connect() as c:
            m = self._mandate_row(c, mandate_id)
        if party is not None and party != org_ref(m.org_id):
            raise NotAllowed(f"{party} may not attach a paper for mandate {mandate_id}: it is {org_ref(m.org_id)}'s")
        self._check_pending(m)
        digest = store_hashed(src, Path(store_dir) / "mandates", what=f"mandate {mandate_id} paper")
        now = utcnow()
        with self.engine.begin() as c:
            m = self._mandate_row(c, mandate_id)
            self._check_pending(m)
            self._confirmed(c, m, "paper", now, sha256=digest)
        self._changed()
        return self.mandate(mandate_id)

    @staticmethod
    def _check_pending(m) -> None:
        if m.revoked_at is not None:
            raise RegistryError(f"mandate {m.id} was revoked: it cannot be confirmed")
        if m.confirmed_at is not None:
            raise RegistryError(f"mandate {m.id} is already confirmed ({m.confirmation})")

    def revoke_mandate(self, mandate_id: int, *, end: datetime | None = None, party: str | None = None) -> dict:
        """End a mandate at ``end`` (default now; never in the past, so what was in force stays so). The
        row stays: history is kept. ``party`` (if given) must be its holder or its organisation."""
        now = utcnow()
        end = end or now
        if end < now:
            raise RegistryError(
                f"mandate {mandate_id}: end date {end.isoformat()} is in the past; "
                "a revocation takes effect now or later"
            )
        with self.engine.begin() as c:
            m = self._mandate_row(c, mandate_id)
            if party is not None and party not in (holder_ref(m.holder_id), org_ref(m.org_id)):
                raise NotAllowed(f"{party} may not revoke mandate {mandate_id}: only its holder or organisation")
            if m.revoked_at is not None:
                raise RegistryError(f"mandate {mandate_id} is already revoked (ends {m.ends_at.isoformat()})")
            self._end_mandate(c, m, "mandate-revoked", now, end, by=party or "operator", end=end.isoformat())
        self._changed()
        return self.mandate(mandate_id)

    @staticmethod
    def _end_mandate(c, m, kind: str, now: datetime, ends_at: datetime, **said) -> None:
        """Mandate ``m`` ends at ``ends_at`` (declined or revoked at ``now``; its invitation link stops working),
        logged as ``kind`` with ``said`` beside who and what, inside the caller's transaction."""
        c.execute(
            update(Mandate).where(Mandate.id == m.id).values(revoked_at=now, ends_at=ends_at, confirm_token_hash=None)
        )
        body = {"id": m.id, "holder": holder_ref(m.holder_id), "org": org_ref(m.org_id), **said}
        log.append(c, [log.Entry(kind, body, subject=holder_ref(m.holder_id))], at=now)
        bump_facts_version(c)

    # -- tariffs -----------------------------------------------------------------------------------

    def publish_tariff(self, org_id: int, document: dict, *, retroactive: bool = False) -> dict:
        """Publish the organisation's (licence or retroactive) tariff; the newest one is in use. Licence
        terms of the organisation without their own price take the licence tariff's (snapshots, quotes)."""
        parse_tariff(document, retroactive=retroactive)
        self.find_org(org_id)
        kind = "retroactive" if retroactive else "licence"
        now = utcnow()
        doc = json.dumps(document, sort_keys=True, ensure_ascii=False)
        with self.engine.begin() as c:
            tid = c.execute(
                insert(Tariff).values(org_id=org_id, kind=kind, document=doc, published_at=now).returning(Tariff.id)
            ).scalar_one()
            log.append(
                c,
                [
                    log.Entry(
                        "tariff",
                        {"id": tid, "org": org_ref(org_id), "kind": kind, "tariff": document},
                        subject=org_ref(org_id),
                    )
                ],
                at=now,
            )
            bump_facts_version(c)
        self._changed()
        return self.tariff(org_id, retroactive=retroactive)

    def tariffs(self, org_id: int) -> list[dict]:
        """Every tariff the organisation published, licence and retroactive, newest first; ``in_use`` marks
        the newest of each kind."""
        with self.engine.connect() as c:
            rows = c.execute(select(Tariff.__table__).where(Tariff.org_id == org_id).order_by(Tariff.id.desc())).all()
        seen: set[str] = set()
        out = []
        for r in rows:
            out.append(
                {
                    "id": r.id,
                    "org": org_ref(org_id),
                    "kind": r.kind,
                    "tariff": json.loads(r.document),
                    "published_at": r.published_at.isoformat(),
                    "in_use": r.kind not in seen,
                }
            )
            seen.add(r.kind)
        return out

    def tariff(self, org_id: int, *, retroactive: bool = False) -> dict | None:
        """The organisation's tariff in use (the newest published), or None."""
        kind = "retroactive" if retroactive else "licence"
        with self.engine.connect() as c:
            r = c.execute(
                select(Tariff.__table__)
                .where(Tariff.org_id == org_id, Tariff.kind == kind)
                .order_by(Tariff.id.desc())
                .limit(1)
            ).first()
        if r is None:
            return None
        return {
            "id": r.id,
            "org": org_ref(org_id),
            "kind": r.kind,
            "tariff": json.loads(r.document),
            "published_at": r.published_at.isoformat(),
        }

    # -- works -----------------------------------------------------------------------------------

    def add_work(
        self,
        *,
        title: str,
        shares: Sequence[ShareSpec],
        data: bytes | Path | None = None,
        file_name: str = "",
        media_type: str | None = None,
        iswc: str | None = None,
        isrc: str | None = None,
        isbn: str | None = None,
        registered: tuple[str, bytes, str | None] | None = None,
    ) -> dict:
        """Register one work. A claim on content or an identifier someone else holds opens a dispute.

        ``registered``: ``data``'s (media type, fingerprint, ISCC) as :func:`register_content` computed them
        elsewhere (the web server's worker processes). A video is given as its ``Path``: it is hashed and
        fingerprinted where it lies, never read whole."""
        title = _required(title, "title", Work.title)
        check_shares(shares, item=title)
        ids = {
            "iswc": normalise_identifier("iswc", iswc),
            "isrc": normalise_identifier("isrc", isrc),
            "isbn": normalise_identifier("isbn", isbn),
        }
        chash = content_hash(data) if data is not None else None
        fingerprint = iscc = None
        if data is not None and registered is not None:
            media_type, fingerprint, iscc = registered
        elif data is not None:
            if media_type is None:
                media_type = detect_media_type(_head(data), file_name)
            if media_type is None:
                raise RegistryError(f"{file_name or title}: unsupported file type (not text, image, audio or video)")
            fingerprint, iscc = register_content(media_type, data, file_name or title)
        holder_ids = {s.holder_id for s in shares}
        with self.engine.begin() as c:
            known = set(c.execute(select(Holder.id).where(Holder.id.in_(holder_ids))).scalars())
            if missing := holder_ids - known:
                raise NotFound("holder", sorted(missing)[0])
            clashes = _clashing_works(c, chash, ids)
            for key, value, other_id in clashes:  # noqa: B007 - the last clash names the dispute below
                if _holders_of(c, other_id) == holder_ids:  # the same claimants registering again: no-op
                    # ... but the same file fingerprinted by this version refreshes a fingerprint an older one
                    # made (a video registered before its grey cells): the registry never kept the file
                    refreshed = key == "content_hash" and _refresh_fingerprint(c, other_id, media_type, fingerprint)
                    if refreshed:
                        bump_facts_version(c)
                    return {"work": other_id, "created": False, "disputes": [], "refreshed": refreshed}
            now = utcnow()
            wid = c.execute(
                insert(Work)
                .values(
                    title=title,
                    media_type=media_type,
                    content_hash=chash,
                    status="disputed" if clashes else "active",
                    iscc=iscc,
                    created_at=now,
                    **ids,
                )
                .returning(Work.id)
            ).scalar_one()
            if fingerprint is not None:
                c.execute(
                    insert(Fingerprint).values(work_id=wid, modality=media_type, payload=fingerprint, created_at=now)
                )
            c.execute(
                insert(WorkShare),
                [
                    {
                        "work_id": wid,
                        "holder_id": s.holder_id,
                        "role": s.role,
                        "share_num": s.share.numerator,
                        "share_den": s.share.denominator,
                    }
                    for s in shares
                ],
            )
            disputes = []
            for key, value, other_id in clashes:  # noqa: B007 - the last clash names the dispute below
                did = c.execute(
                    insert(Dispute)
                    .values(
                        work_id=other_id, claim_work_id=wid, key=key, key_value=value, status="open", created_at=now
                    )
                    .returning(Dispute.id)
                ).scalar_one()
                disputes.append(did)
                _notify_opened(c, did, other_id, wid, key)
            bump_facts_version(c)
        self._changed()
        return {"work": wid, "created": True, "disputes": disputes}

    def add_work_file(self, path: Path, *, shares: Sequence[ShareSpec], title: str | None = None, **ids) -> dict:
        try:
            size = path.stat().st_size
            if size and detect_media_type(_head(path), path.name) == "video":
                if size > MAX_VIDEO_BYTES:
                    raise RegistryError(f"{path}: video is {size} bytes, above the {MAX_VIDEO_BYTES} byte limit")
                return self.add_work(title=title or path.stem, shares=shares, data=path, file_name=path.name, **ids)
            if size > MAX_FILE_BYTES:
                raise RegistryError(f"{path}: file is {size} bytes, above the {MAX_FILE_BYTES} byte limit")
            data = path.read_bytes()
        except OSError as e:
            raise RegistryError(f"{path}: cannot read file ({e.strerror or e})") from None
        if not data:
            raise RegistryError(f"{path}: file is empty")
        return self.add_work(title=title or path.stem, shares=shares, data=data, file_name=path.name, **ids)

    def resolve_work(self, ref: str | int, *, org: str | int | None = None) -> int:
        """The one way a person names a work: its id (``7`` or ``work:7``), its organisation's ``work_ref``
        (``org`` narrows it where two organisations use the same ref; with ``org``, a number is a work_ref
        first), or its ISWC, ISRC or ISBN. No match is NotFound; several are Ambiguous, listing them."""
        text = str(ref).strip()
        if not text:
            raise RegistryError("work: give an id, a work_ref, an ISWC, an ISRC or an ISBN")
        org_id = self.find_org(org)["id"] if org is not None else None
        found: dict[int, str] = {}
        with self.engine.connect() as c:
            number = text.removeprefix("work:")
            if number.isdigit() and (org_id is None or text.startswith("work:")):
                if int(number) < 2**31 and c.execute(select(Work.id).where(Work.id == int(number))).first():
                    return int(number)
                if text.startswith("work:"):
                    raise NotFound("work", text)
            q = select(Work.id).where(Work.work_ref == text)
            for wid in c.execute(q if org_id is None else q.where(Work.org_id == org_id)).scalars():
                found.setdefault(wid, "work_ref")
            for kind in IDENTIFIERS:
                try:
                    norm = normalise_identifier(kind, text)
                except InvalidInput:
                    continue
                q = select(Work.id).where(getattr(Work, kind) == norm)
                for wid in c.execute(q if org_id is None else q.where(Work.org_id == org_id)).scalars():
                    found.setdefault(wid, kind.upper())
            if len(found) > 1:
                rows = c.execute(
                    select(Work.id, Work.title, Organisation.name)
                    .outerjoin(Organisation, Organisation.id == Work.org_id)
                    .where(Work.id.in_(found))
                    .order_by(Work.id)
                ).all()
                raise Ambiguous(text, [{"id": r.id, "title": r.title, "org": r.name, "why": found[r.id]} for r in rows])
        if not found:
            if org is None and text.isdigit():
                raise NotFound("work", int(text))  # no work 42 (an id, as before ids had company)
            raise NotFound("work", text if org is None else f"{text} of organisation {org}")
        return next(iter(found))

    def video_strip(self, work_id: int) -> bytes | None:
        """The JPEG thumbnail strip kept with a video work's fingerprint (None: not a video, or none kept);
        the registry keeps this and the fingerprint, never the video."""
        with self.engine.connect() as c:
            payload = c.execute(
                select(Fingerprint.payload).where(Fingerprint.work_id == work_id, Fingerprint.modality == "video")
            ).scalar()
        if payload is None:
            return None
        return getattr(codec.loads(payload), "strip", b"") or None

    def work(self, work_id: int) -> dict:
        with self.engine.connect() as c:
            w = c.execute(select(Work.__table__).where(Work.id == work_id)).first()
            if w is None:
                raise NotFound("work", work_id)
            shares = c.execute(
                select(WorkShare.__table__, Holder.name)
                .join(Holder, Holder.id == WorkShare.holder_id)
                .where(WorkShare.work_id == work_id)
                .order_by(WorkShare.id)
            ).all()
            decls = c.execute(
                select(Declaration.__table__).where(Declaration.target == work_ref(work_id)).order_by(Declaration.id)
            ).all()
            disputes = c.execute(
                select(Dispute.__table__)
                .where(or_(Dispute.work_id == work_id, Dispute.claim_work_id == work_id))
                .order_by(Dispute.id)
            ).all()
        org = self.find_org(w.org_id)["name"] if w.org_id else None
        return {
            "id": w.id,
            "title": w.title,
            "title_latin": w.title_latin,
            "media_type": w.media_type,
            "status": w.status,
            "withdrawn_at": w.withdrawn_at.isoformat() if w.withdrawn_at else None,
            "preview": w.preview_sha256 is not None,
            "content_hash": w.content_hash,
            "iswc": w.iswc,
            "isrc": w.isrc,
            "isbn": w.isbn,
            "iscc": w.iscc,
            "organisation": org,
            "work_ref": w.work_ref,
            "created_at": w.created_at.isoformat(),
            "holders": [
                {
                    "holder": holder_ref(s.holder_id),
                    "name": s.name,
                    "role": s.role,
                    "share": str(Fraction(s.share_num, s.share_den)),
                }
                for s in shares
            ],
            "declarations": [_declaration_dict(d) for d in decls],
            "disputes": [_dispute_dict(d) for d in disputes],
        }

    # -- declarations ----------------------------------------------------------------------------

    def declare(
        self,
        *,
        level: Level,
        target_id: int,
        party: str,
        values: dict[Category, Value | None],
        offer: Offer | None = None,
        purpose: Purpose | None = None,
        valid_from: datetime | None = None,
        valid_until: datetime | None = None,
    ) -> list[int]:
        """Record declarations; ``None`` withdraws the party's earlier one for that category."""
        if not values:
            raise RegistryError("nothing to declare: give at least one category")
        if any(v is Value.UNKNOWN for v in values.values()):
            raise RegistryError("'unknown' cannot be declared: declare allow, deny or licence")
        if (
            any(v is Value.LICENCE for v in values.values())
            and offer is None
            and not (party.startswith("org:") and self.tariff(parse_party(party)[1]))
        ):
            raise RegistryError(
                "a licence declaration needs an offer (price and currency), or, for an "
                "organisation, a published tariff (`fairtrain tariffs publish`)"
            )
        target = self._check_standing(level, target_id, party, values)
        now = utcnow()
        start = valid_from or now
        if valid_until is not None and valid_until <= start:
            raise RegistryError(f"declaration ends ({valid_until.isoformat()}) before it starts ({start.isoformat()})")
        offer_json = json.dumps(offer.to_dict(), sort_keys=True) if offer else None
        rows = [
            {
                "level": level.value,
                "target": target,
                "party": party,
                "category": c.value,
                "value": v.value if v else None,
                "offer": offer_json if v is Value.LICENCE else None,
                "purpose": purpose.value if purpose else None,
                "valid_from": start,
                "valid_until": valid_until,
                "declared_at": now,
            }
            for c, v in values.items()
        ]
        with self.engine.begin() as c:
            ids = store_declarations(c, rows, now)
            bump_facts_version(c)
        self._changed()
        return ids

    def _check_standing(self, level: Level, target_id: int, party: str, values) -> str:
        kind, pid = parse_party(party)
        if level is Level.CATALOGUE:
            if kind != "holder" or pid != target_id:
                raise NotAllowed(f"only holder:{target_id} can declare for its own catalogue, not {party}")
            self.find_holder(target_id)
            return holder_ref(target_id)
        if level is Level.REPERTOIRE:
            if kind != "org" or pid != target_id:
                raise NotAllowed(f"only org:{target_id} can declare for its own repertoire, not {party}")
            self.find_org(target_id)
            return org_ref(target_id)
        if level is not Level.WORK:
            raise RegistryError(f"cannot declare at level {level.value!r}")
        facts = self.facts(target_id)
        if kind == "holder":
            if party not in facts.holders:
                raise NotAllowed(f"{party} is not a holder of work {target_id}")
        else:
            now = utcnow()
            for c in values:
                if not has_standing(facts, party, c, now):
                    raise NotAllowed(f"{party} holds no mandate for {c.value} from any holder of work {target_id}")
        return work_ref(target_id)

    def declarations(self, target: str) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(Declaration.__table__).where(Declaration.target == target).order_by(Declaration.id)
            ).all()
        return [_declaration_dict(d) for d in rows]

    # -- decisions -------------------------------------------------------------------------------

    def facts(self, work_id: int) -> WorkFacts:
        """What the decision engine needs about one work; never older than the newest committed write (the
        cache is checked against the database's facts version, one primary-key read, on every call)."""
        version = self._versions.read()
        with self._cache_lock:
            if version != self._facts_version:
                self._facts.clear()
                self._facts_version = version
            cached = self._facts.get(work_id)
            if cached is not None:
                self._facts.move_to_end(work_id)
                return cached
        with self.engine.connect() as c:
            facts = load_facts(c, [work_id]).get(work_id)
        if facts is None:
            raise NotFound("work", work_id)
        with self._cache_lock:
            # Loaded after reading ``version``, so at least that fresh; kept only if no newer version was
            # seen meanwhile (a concurrent call may have moved the cache on).
            if self._facts_version == version:
                self._facts[work_id] = facts
                if len(self._facts) > self._cache_size:
                    self._facts.popitem(last=False)
        return facts

    def decide(
        self,
        work_id: int,
        category: Category,
        *,
        licensee: str | None = None,
        at: datetime | None = None,
        purpose: Purpose = Purpose.COMMERCIAL,
        model_version: str | None = None,
    ) -> Decision:
        q = Query(category=category, at=at or utcnow(), licensee=licensee, purpose=purpose, model_version=model_version)
        return decide_registered(self.facts(work_id), q)

    def terms(self, work_id: int) -> dict[str, str]:
        """A work's value now in every category, with no licensee (search results and the work page)."""
        return {c.value: d.value.value for c, d in effective_values(self.facts(work_id), utcnow()).items()}

    def policy_decisions(self, level: Level, target_id: int, *, at: datetime | None = None) -> dict[Category, Decision]:
        """The effective terms a work, a holder's catalogue or an organisation's repertoire declares.

        A catalogue (repertoire) is decided as a work held only by that holder (by a member who mandated
        the organisation for everything), so signals say exactly what the engine would decide there.
        """
        at = at or utcnow()
        if level is Level.WORK:
            facts = self.facts(target_id)
        elif level is Level.CATALOGUE:
            ref = self.find_holder(target_id)["ref"]
            facts = WorkFacts(
                work="catalogue", holders=frozenset({ref}), declarations=tuple(self._declarations_for(ref))
            )
        elif level is Level.REPERTOIRE:
            ref = self.find_org(target_id)["ref"]
            member = "holder:member"
            facts = WorkFacts(
                work="repertoire",
                holders=frozenset({member}),
                declarations=tuple(self._declarations_for(ref)),
                mandates=(rules.Mandate(member, ref, frozenset(Category), valid_from=at, confirmed_at=at),),
            )
        else:
            raise RegistryError(f"no policy at level {level.value!r}")
        return effective_values(facts, at)

    def _declarations_for(self, target: str) -> list[rules.Declaration]:
        with self.engine.connect() as c:
            return [
                _to_declaration(d) for d in c.execute(select(Declaration.__table__).where(Declaration.target == target))
            ]

    # -- disputes --------------------------------------------------------------------------------

    def disputes(self, *, status: str | None = "open") -> list[dict]:
        q = select(Dispute.__table__).order_by(Dispute.id)
        if status:
            q = q.where(Dispute.status == status)
        with self.engine.connect() as c:
            return [_dispute_dict(d) for d in c.execute(q)]

    def resolve_dispute(self, dispute_id: int, *, keep: str, note: str = "") -> dict:
        """Resolve: keep the ``existing`` work, the new ``claim``, or ``both`` (distinct works)."""
        if keep not in ("existing", "claim", "both"):
            raise RegistryError(f"keep must be existing, claim or both, not {keep!r}")
        with self.engine.begin() as c:
            d = c.execute(select(Dispute.__table__).where(Dispute.id == dispute_id)).first()
            if d is None:
                raise NotFound("dispute", dispute_id)
            if d.status != "open":
                raise RegistryError(f"dispute {dispute_id} is already resolved ({d.resolution})")
            if keep == "both" and d.key == "content_hash":
                raise RegistryError(f"dispute {dispute_id}: the same content cannot be two works; keep one")
            rejected = {"existing": d.claim_work_id, "claim": d.work_id, "both": None}[keep]
            kept = [w for w in (d.work_id, d.claim_work_id) if w != rejected]
            if rejected is not None:
                c.execute(update(Work).where(Work.id == rejected).values(status="rejected"))
            for w in kept:
                still_open = c.execute(
                    select(func.count())
                    .select_from(Dispute)
                    .where(Dispute.status == "open", Dispute.id != dispute_id, or_(Dispute.claim_work_id == w))
                ).scalar_one()
                if not still_open:
                    c.execute(update(Work).where(Work.id == w, Work.status == "disputed").values(status="active"))
            resolution = f"kept {keep}" + (f": {note}" if note else "")
            c.execute(
                update(Dispute)
                .where(Dispute.id == dispute_id)
                .values(status="resolved", resolution=resolution, resolved_at=utcnow())
            )
            log.append(
                c,
                [
                    log.Entry(
                        "dispute",
                        {"dispute": dispute_id, "event": "resolved", "keep": keep, "rejected_work": rejected},
                        subject=f"dispute:{dispute_id}",
                    )
                ],
            )
            existing, claim = _side(c, d.work_id), _side(c, d.claim_work_id)
            for side, _other in ((existing, claim), (claim, existing)):
                notify(
                    c,
                    side["holder_ids"],
                    "dispute",
                    "resolved",
                    {
                        "dispute": dispute_id,
                        "title": side["title"],
                        "outcome": keep,
                        "note": note,
                        "path": f"/disputes/{dispute_id}",
                    },
                    subject=f"dispute:{dispute_id}",
                )
            bump_facts_version(c)
        self._changed()
        return {"dispute": dispute_id, "status": "resolved", "resolution": resolution, "rejected_work": rejected}

    def dispute(self, dispute_id: int) -> dict:
        """A dispute as either party may see it: both claims' titles, dates and parties (never the files),
        its age and every answer with its evidence's name and SHA-256."""
        with self.engine.connect() as c:
            d = c.execute(select(Dispute.__table__).where(Dispute.id == dispute_id)).first()
            if d is None:
                raise NotFound("dispute", dispute_id)
            existing, claim = _side(c, d.work_id), _side(c, d.claim_work_id)
            answers = c.execute(
                select(DisputeAnswer.__table__, Holder.name)
                .join(Holder, Holder.id == DisputeAnswer.holder_id)
                .where(DisputeAnswer.dispute_id == dispute_id)
                .order_by(DisputeAnswer.id)
            ).all()
        end = d.resolved_at or utcnow()
        return {
            **_dispute_dict(d),
            "age_days": max(0, (end - d.created_at).days),
            "existing": existing,
            "claim": claim,
            "answers": [
                {
                    "id": a.id,
                    "side": a.side,
                    "party": a.name,
                    "holder": holder_ref(a.holder_id),
                    "statement": a.statement,
                    "link": a.link,
                    "evidence_name": a.evidence_name,
                    "evidence_sha256": a.evidence_sha256,
                    "evidence_size": a.evidence_size,
                    "created_at": a.created_at.isoformat(),
                }
                for a in answers
            ],
        }

    def dispute_side(self, dispute_id: int, holder_id: int) -> str | None:
        """``existing`` or ``claim``: the side a holder stands on in a dispute; None when on neither."""
        d = self.dispute(dispute_id)
        for side in ("existing", "claim"):
            if holder_id in d[side]["holder_ids"]:
                return side
        return None

    def answer_dispute(
        self,
        dispute_id: int,
        *,
        holder_id: int,
        statement: str = "",
        link: str = "",
        evidence: tuple[str, bytes] | None = None,
        evidence_dir: Path | None = None,
    ) -> dict:
        """A party answers a dispute: a statement, a publication link and/or an evidence file (an earlier
        draft, a registration certificate from elsewhere). The file is kept as ``evidence_dir/<sha256>``
        and its SHA-256 goes into the public log; the other side is notified."""
        statement = (statement or "").strip()
        link = (link or "").strip()
        if statement:
            check_text(DisputeAnswer.statement, statement, "statement", RegistryError)
            if len(statement) > 20_000:
                raise RegistryError("statement: at most 20,000 characters")
        if link:
            check_text(DisputeAnswer.link, link, "link", RegistryError)
            if not link.lower().startswith(("https://", "http://")) or len(link.split("://", 1)[1]) < 3:
                raise RegistryError(f"link: {link!r} is not a web address (it starts with https://)")
        name = sha = None
        size = 0
        if evidence is not None:
            name, data = evidence
            name = Path(name or "evidence").name[:255] or "evidence"
            if not data:
                raise RegistryError(f"evidence {name}: the file is empty")
            if evidence_dir is None:
                raise RegistryError("evidence files need a data directory to be kept in")
            sha, size = hashlib.sha256(data).hexdigest(), len(data)
        if not (statement or link or sha):
            raise RegistryError("an answer needs a statement, a link or an evidence file")
        side = self.dispute_side(dispute_id, holder_id)
        if side is None:
            raise NotAllowed(f"dispute {dispute_id}: holder:{holder_id} is not a party to it")
        if sha is not None:
            keep_hashed(Path(evidence_dir), evidence[1])
        with self.engine.begin() as c:
            d = c.execute(select(Dispute.__table__).where(Dispute.id == dispute_id)).first()
            if d.status != "open":
                raise RegistryError(f"dispute {dispute_id} is already resolved ({d.resolution}); it takes no answers")
            aid = c.execute(
                insert(DisputeAnswer)
                .values(
                    dispute_id=dispute_id,
                    holder_id=holder_id,
                    side=side,
                    statement=statement or None,
                    link=link or None,
                    evidence_name=name,
                    evidence_sha256=sha,
                    evidence_size=size if sha else None,
                    created_at=utcnow(),
                )
                .returning(DisputeAnswer.id)
            ).scalar_one()
            log.append(
                c,
                [
                    log.Entry(
                        "dispute",
                        {
                            "dispute": dispute_id,
                            "event": "answered",
                            "answer": aid,
                            "side": side,
                            "link": link or None,
                            "evidence_sha256": sha,
                        },
                        subject=f"dispute:{dispute_id}",
                    )
                ],
            )
            other = _side(c, d.claim_work_id if side == "existing" else d.work_id)
            party = c.execute(select(Holder.name).where(Holder.id == holder_id)).scalar_one()
            notify(
                c,
                other["holder_ids"],
                "dispute",
                "answered",
                {"dispute": dispute_id, "title": other["title"], "party": party, "path": f"/disputes/{dispute_id}"},
                subject=f"dispute:{dispute_id}",
            )
        return {"answer": aid, "dispute": dispute_id, "side": side, "evidence_sha256": sha}


# -- helpers shared with the importer ----------------------------------------------------------------


def store_declarations(c, rows: list[dict], now: datetime) -> list[int]:
    """Insert declaration rows and their public log entries in the caller's transaction (the caller bumps
    the facts version); the one place a declaration is written."""
    ids = list(c.execute(insert(Declaration).returning(Declaration.id, sort_by_parameter_order=True), rows).scalars())
    log.append(
        c,
        [
            log.Entry("declaration", {"id": i, **_public(r)}, subject=r["target"])
            for i, r in zip(ids, rows, strict=True)
        ],
        at=now,
    )
    return ids


def _public(row: dict) -> dict:
    """A declaration as the public log records it: JSON-safe, times as ISO strings."""
    return {
        k: (v.isoformat() if isinstance(v, datetime) else json.loads(v) if k == "offer" and v else v)
        for k, v in row.items()
    }


def _head(data: bytes | Path) -> bytes:
    """The first bytes, which tell the media type."""
    if isinstance(data, Path):
        with open(data, "rb") as f:
            return f.read(8192)
    return data[:8192]


def register_content(media_type: str, data: bytes | Path, name: str) -> tuple[bytes, str | None]:
    """The registry-side fingerprint of a work's content (stored bytes, or a video's path) and its ISCC code."""
    m = modality(media_type)
    try:
        registered = m.register(data, name)
    except DocumentError:
        raise  # it names the file and says why, in the catalogue's languages
    except FingerprintError as e:
        raise RegistryError(f"{name}: cannot fingerprint this {media_type} file ({e.reason})") from None
    return codec.dumps(registered), m.iscc(registered)


def register_contents(items: Sequence[tuple[str, bytes, str]]) -> list[tuple[bytes, str | None] | Exception]:
    """:func:`register_content` of many ``(media_type, data, name)`` at once (text: the ISCC codes
    computed together); each result is what ``register_content`` returns, or the error it raises."""
    out: list[tuple[bytes, str | None] | Exception] = [None] * len(items)  # type: ignore[list-item]
    by_media: dict[str, list[int]] = {}
    for i, (media, _, _) in enumerate(items):
        by_media.setdefault(media, []).append(i)
    for media, idx in by_media.items():
        m = modality(media)
        for i, registered in zip(idx, m.register_many([(items[i][2], items[i][1]) for i in idx]), strict=True):
            name = items[i][2]
            if isinstance(registered, DocumentError):
                out[i] = registered
            elif isinstance(registered, FingerprintError):
                out[i] = RegistryError(f"{name}: cannot fingerprint this {media} file ({registered.reason})")
            else:
                out[i] = (codec.dumps(registered), m.iscc(registered))
    return out


def check_shares(shares: Sequence[ShareSpec], *, item: str) -> None:
    if not shares:
        raise RegistryError(f"{item}: a work needs at least one rights holder")
    for s in shares:
        if s.role not in SHARE_ROLES:
            raise RegistryError(f"{item}: unknown role {s.role!r} (expected one of: {', '.join(sorted(SHARE_ROLES))})")
    total = sum((s.share for s in shares), Fraction(0))
    if total != 1:
        raise RegistryError(f"{item}: shares sum to {total}, not exactly 1")
    seen = set()
    for s in shares:
        if (s.holder_id, s.role) in seen:
            raise RegistryError(f"{item}: holder {s.holder_id} appears twice with role {s.role}")
        seen.add((s.holder_id, s.role))


def normalise_identifier(kind: str, value: str | None) -> str | None:
    """ISWC ``T-034.524.680-1`` → ``T0345246801``; ISRC and ISBN lose hyphens and spaces. ISWC and ISBN
    check digits are verified; only ASCII letters and digits count (``T²²²²²²²²²²`` is no ISWC)."""
    if value is None or not value.strip():
        return None
    v = "".join(ch for ch in value.strip().upper() if ch.isalnum())
    ok = (
        v.isascii()
        and {
            "iswc": len(v) == 11 and v[0] == "T" and v[1:].isdigit(),
            "isrc": len(v) == 12 and v[:2].isalpha() and v[2:5].isalnum() and v[5:].isdigit(),
            "isbn": (len(v) == 13 and v.isdigit())
            or (len(v) == 10 and v[:9].isdigit() and (v[9].isdigit() or v[9] == "X")),
        }[kind]
    )
    if not ok:
        raise InvalidInput(f"not a valid {kind.upper()}: {value[:40]!r}")
    if kind != "isrc" and (expected := _check_digit(kind, v)) != v[-1]:
        raise InvalidInput(f"not a valid {kind.upper()}: {value[:40]!r} (check digit {v[-1]}, expected {expected})")
    return v


def _check_digit(kind: str, v: str) -> str:
    """The check digit an ISWC (T + 9 digits + check), ISBN-10 or ISBN-13 should end with."""
    d = [int(ch) for ch in v[:-1] if ch.isdigit()]
    if kind == "iswc":  # ISO 15707: 1 + Σ i·dᵢ, check = (10 − sum mod 10) mod 10
        return str((10 - (1 + sum(i * x for i, x in enumerate(d, start=1))) % 10) % 10)
    if len(v) == 13:  # ISBN-13 (EAN-13): weights 1, 3, 1, 3, …
        return str((10 - sum(x * (3 if i % 2 else 1) for i, x in enumerate(d)) % 10) % 10)
    check = (11 - sum((10 - i) * x for i, x in enumerate(d)) % 11) % 11  # ISBN-10: weights 10..2, mod 11
    return "X" if check == 10 else str(check)


def _clashing_works(c, chash: str | None, ids: dict[str, str | None]) -> list[tuple[str, str, int]]:
    keys = [("content_hash", chash)] + list(ids.items())
    out = []
    for key, value in keys:
        if value is None:
            continue
        col = getattr(Work, key)
        for wid in c.execute(
            select(Work.id).where(col == value, Work.status != "rejected").order_by(Work.id)
        ).scalars():
            out.append((key, value, wid))
    return out


def _refresh_fingerprint(c, work_id: int, media_type: str | None, fingerprint: bytes | None) -> bool:
    """Store ``fingerprint`` for a work of the same content whose stored one an older version made
    (``Modality.outdated``)."""
    if fingerprint is None or media_type is None:
        return False
    stored = c.execute(
        select(Fingerprint.payload).where(Fingerprint.work_id == work_id, Fingerprint.modality == media_type)
    ).scalar_one_or_none()
    if stored is None or not modality(media_type).outdated(codec.loads(bytes(stored))):
        return False
    c.execute(
        update(Fingerprint)
        .where(Fingerprint.work_id == work_id, Fingerprint.modality == media_type)
        .values(payload=fingerprint)
    )
    return True


def _holders_of(c, work_id: int) -> set[int]:
    return set(c.execute(select(WorkShare.holder_id).where(WorkShare.work_id == work_id)).scalars())


def load_facts(c, work_ids: Sequence[int]) -> dict[int, WorkFacts]:
    """Bulk-load decision facts for works, in three queries per chunk."""
    out: dict[int, WorkFacts] = {}
    for i in range(0, len(work_ids), 500):
        chunk = list(work_ids[i : i + 500])
        media = dict(c.execute(select(Work.id, Work.media_type).where(Work.id.in_(chunk))).all())
        holders: dict[int, set[str]] = {w: set() for w in media}
        for wid, hid in c.execute(select(WorkShare.work_id, WorkShare.holder_id).where(WorkShare.work_id.in_(chunk))):
            holders[wid].add(holder_ref(hid))
        all_holder_ids = {int(h.split(":")[1]) for hs in holders.values() for h in hs}
        mandates_by_holder: dict[str, list[rules.Mandate]] = {}
        orgs: set[str] = set()
        if all_holder_ids:
            for m in c.execute(select(Mandate.__table__).where(Mandate.holder_id.in_(all_holder_ids))):
                mm = rules.Mandate(
                    holder=holder_ref(m.holder_id),
                    org=org_ref(m.org_id),
                    categories=frozenset(Category(x) for x in m.categories.split(",")),
                    valid_from=m.valid_from,
                    valid_until=m.valid_until,
                    declared_at=m.declared_at,
                    confirmed_at=m.confirmed_at,
                    ends_at=m.ends_at,
                )
                mandates_by_holder.setdefault(mm.holder, []).append(mm)
                orgs.add(mm.org)
        targets = [work_ref(w) for w in holders] + [h for hs in holders.values() for h in hs] + sorted(orgs)
        decls_by_target: dict[str, list[rules.Declaration]] = {}
        for j in range(0, len(targets), 900):
            for d in c.execute(select(Declaration.__table__).where(Declaration.target.in_(targets[j : j + 900]))):
                decls_by_target.setdefault(d.target, []).append(_to_declaration(d))
        for lic in c.execute(
            select(LicensedWork.work_id, Licence.__table__)
            .join(Licence, Licence.id == LicensedWork.licence_id)
            .where(LicensedWork.work_id.in_(list(holders)), Licence.status == "granted")
        ):
            purpose = json.loads(lic.request).get("purpose")  # what it was priced for; older requests: any
            for cat in lic.categories.split(","):
                decls_by_target.setdefault(work_ref(lic.work_id), []).append(
                    rules.Declaration(
                        id=lic.id,
                        level=Level.GRANT,
                        target=work_ref(lic.work_id),
                        party=lic.grantor,
                        category=Category(cat),
                        value=Value.ALLOW,
                        declared_at=lic.decided_at,
                        valid_from=lic.valid_from,
                        valid_until=lic.valid_until,
                        licensee=lic.licensee,
                        purpose=Purpose(purpose) if purpose else None,
                        model_versions=tuple(json.loads(lic.model_versions or "[]")),
                    )
                )
        tariffs = _licence_tariffs(c, orgs) if orgs else {}
        for wid, hs in holders.items():
            ms = tuple(m for h in sorted(hs) for m in mandates_by_holder.get(h, ()))
            ts = [work_ref(wid), *sorted(hs), *sorted({m.org for m in ms})]
            decls = tuple(d for t in ts for d in decls_by_target.get(t, ()))
            if tariffs:  # an organisation's licence terms without a price of their own take its tariff's
                decls = tuple(
                    dataclasses.replace(d, offer=tariffs[d.party].offer(media[wid]))
                    if d.offer is None and d.value is Value.LICENCE and d.party in tariffs
                    else d
                    for d in decls
                )
            out[wid] = WorkFacts(work=work_ref(wid), holders=frozenset(hs), declarations=decls, mandates=ms)
    return out


def _licence_tariffs(c, orgs: Iterable[str]) -> dict[str, tariff_terms.Tariff]:
    """The newest published licence tariff of each of ``orgs`` (refs), parsed."""
    ids = [parse_party(o)[1] for o in orgs]
    newest = (
        select(Tariff.org_id, func.max(Tariff.id).label("id"))
        .where(Tariff.org_id.in_(ids), Tariff.kind == "licence")
        .group_by(Tariff.org_id)
        .subquery()
    )
    return {
        org_ref(r.org_id): parse_tariff(json.loads(r.document))
        for r in c.execute(select(Tariff.org_id, Tariff.document).join(newest, newest.c.id == Tariff.id))
    }


def _to_declaration(d: Declaration) -> rules.Declaration:
    return rules.Declaration(
        id=d.id,
        level=Level(d.level),
        target=d.target,
        party=d.party,
        category=Category(d.category),
        value=Value(d.value) if d.value else None,
        declared_at=d.declared_at,
        valid_from=d.valid_from,
        valid_until=d.valid_until,
        offer=Offer.from_dict(json.loads(d.offer)) if d.offer else None,
        purpose=Purpose(d.purpose) if d.purpose else None,
    )


def _mandate_dict(m, now: datetime) -> dict:
    status = "revoked" if m.revoked_at is not None else "confirmed" if m.confirmed_at is not None else "pending"
    in_force = mandate_in_force(m, now)
    if m.revoked_at is not None:  # where it stands now, in words for pages (core.labels "mandate")
        standing = "declined" if m.confirmed_at is None else "ending" if in_force else "revoked"
    elif m.confirmed_at is None:
        standing = "pending"
    elif in_force:
        standing = "in-force"
    else:
        standing = "expired" if m.valid_until is not None and m.valid_until <= now else "not-yet"
    return {
        "id": m.id,
        "holder": holder_ref(m.holder_id),
        "org": org_ref(m.org_id),
        "categories": m.categories.split(","),
        "valid_from": m.valid_from.isoformat(),
        "valid_until": m.valid_until.isoformat() if m.valid_until else None,
        "status": status,
        "in_force": in_force,
        "standing": standing,
        "confirmed_at": m.confirmed_at.isoformat() if m.confirmed_at else None,
        "confirmation": m.confirmation,
        "paper_sha256": m.paper_sha256,
        "revoked_at": m.revoked_at.isoformat() if m.revoked_at else None,
        "ends_at": m.ends_at.isoformat() if m.ends_at else None,
    }


def store_hashed(src: BinaryIO, directory: Path, *, what: str, limit: int = MAX_FILE_BYTES) -> str:
    """Stream ``src`` into ``directory/<sha256>`` (atomically: a temporary file renamed), at most ``limit``
    bytes; return the SHA-256. The same content stored twice is one file."""
    directory.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    size = 0
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := src.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise InvalidInput(f"{what}: larger than {limit} bytes")
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if size == 0:
            raise InvalidInput(f"{what}: the file is empty")
        digest = h.hexdigest()
        os.replace(tmp, directory / digest)
        return digest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _declaration_dict(d: Declaration) -> dict:
    return {
        "id": d.id,
        "level": d.level,
        "target": d.target,
        "party": d.party,
        "category": d.category,
        "value": d.value,
        "offer": json.loads(d.offer) if d.offer else None,
        "purpose": d.purpose,
        "valid_from": d.valid_from.isoformat(),
        "valid_until": d.valid_until.isoformat() if d.valid_until else None,
        "declared_at": d.declared_at.isoformat(),
    }


def _side(c, work_id: int) -> dict:
    """One claim in a dispute: the work's title, when it was registered and by whom (never its file)."""
    w = c.execute(
        select(Work.id, Work.title, Work.created_at, Work.status, Work.org_id).where(Work.id == work_id)
    ).one()
    holders = c.execute(
        select(Holder.id, Holder.name)
        .join(WorkShare, WorkShare.holder_id == Holder.id)
        .where(WorkShare.work_id == work_id)
        .order_by(WorkShare.id)
    ).all()
    return {
        "work": w.id,
        "title": w.title,
        "registered_at": w.created_at.isoformat(),
        "status": w.status,
        "org_id": w.org_id,
        "parties": [h.name for h in holders],
        "holder_ids": [h.id for h in holders],
    }


def _notify_opened(c, dispute_id: int, existing_id: int, claim_id: int, key: str) -> None:
    existing, claim = _side(c, existing_id), _side(c, claim_id)
    for event, me, other in (("opened-existing", existing, claim), ("opened-claim", claim, existing)):
        notify(
            c,
            me["holder_ids"],
            "dispute",
            event,
            {
                "dispute": dispute_id,
                "title": me["title"],
                "other_title": other["title"],
                "party": ", ".join(other["parties"]),
                "date": other["registered_at"][:10],
                "key": key,
                "path": f"/disputes/{dispute_id}",
            },
            subject=f"dispute:{dispute_id}",
        )


def keep_hashed(directory: Path, data: bytes) -> str:
    """Keep ``data`` as ``directory/<sha256>``, written atomically (the same content twice is one file);
    its SHA-256. Dispute evidence and work previews are kept so; :func:`store_hashed` streams a large file."""
    sha = hashlib.sha256(data).hexdigest()
    target = Path(directory) / sha
    if not target.exists():
        write_atomic(target, data)
    return sha


def _dispute_dict(d: Dispute) -> dict:
    return {
        "id": d.id,
        "work": d.work_id,
        "claim": d.claim_work_id,
        "key": d.key,
        "value": d.key_value,
        "status": d.status,
        "resolution": d.resolution,
        "created_at": d.created_at.isoformat(),
        "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None,
    }


def _required(value: str, what: str, column=None) -> str:
    v = (value or "").strip()
    if not v:
        raise RegistryError(f"{what} must not be empty")
    return check_text(column, v, what, RegistryError) if column is not None else v
