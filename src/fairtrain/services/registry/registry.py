"""The registry service: holders, organisations, mandates, works, shares, declarations and disputes."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path

import xxhash
from sqlalchemy import Engine, func, insert, or_, select, update

from fairtrain.core import decide as engine_
from fairtrain.core.decide import Declaration, Mandate, Query, WorkFacts
from fairtrain.core.errors import InvalidInput
from fairtrain.core.extract import DocumentError
from fairtrain.core.fingerprint import FingerprintError, codec
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.media import detect_media_type
from fairtrain.core.numbers import MAX_CHARS, NumberError, parse_fraction
from fairtrain.core.store.db import database_url, is_initialised, migrate, open_engine
from fairtrain.core.store.limits import check_text
from fairtrain.core.store.models import (
    DeclarationRow,
    Dispute,
    FactsVersion,
    FingerprintRow,
    Holder,
    Licence,
    LicensedWork,
    MandateRow,
    Organisation,
    Work,
    WorkShare,
    utcnow,
)
from fairtrain.core.vocab import Category, Decision, Level, Offer, Purpose, Value
from fairtrain.services import log
from fairtrain.services.registry.errors import NotAllowed, NotFound, RegistryError

ROLES = frozenset({
    "author", "composer", "lyricist", "arranger", "translator", "publisher", "performer", "producer",
    "photographer", "illustrator", "director", "screenwriter", "choreographer", "label", "other",
})
IDENTIFIERS = ("iswc", "isrc", "isbn")
MAX_FILE_BYTES = 512 * 1024 * 1024


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


def content_hash(data: bytes) -> str:
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
            self._own = create_engine(self._engine.url, poolclass=NullPool,
                                      connect_args={"timeout": 30} if sqlite else {})
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
            raise RegistryError(f"no registry at {engine.url.render_as_string(hide_password=True)}: run `fairtrain init` first")
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
            hid = c.execute(insert(Holder).values(name=name, email=email, created_at=utcnow())
                            .returning(Holder.id)).scalar_one()
        return hid

    def add_org(self, name: str, *, country: str | None = None, email: str | None = None) -> int:
        name = _required(name, "organisation name", Organisation.name)
        check_text(Organisation.country, country, "organisation country", RegistryError)
        check_text(Organisation.email, email, "organisation email", RegistryError)
        with self.engine.begin() as c:
            if c.execute(select(Organisation.id).where(Organisation.name == name)).first():
                raise RegistryError(f"organisation {name!r} exists already")
            return c.execute(insert(Organisation).values(name=name, country=country, email=email, created_at=utcnow())
                             .returning(Organisation.id)).scalar_one()

    def list_holders(self, *, name: str | None = None, limit: int = 1000) -> list[dict]:
        q = select(Holder.__table__).order_by(Holder.id).limit(limit)
        if name:
            q = q.where(Holder.name.contains(name, autoescape=True))
        with self.engine.connect() as c:
            return [{"id": h.id, "ref": holder_ref(h.id), "name": h.name, "email": h.email} for h in c.execute(q)]

    def list_orgs(self) -> list[dict]:
        with self.engine.connect() as c:
            return [{"id": o.id, "ref": org_ref(o.id), "name": o.name, "country": o.country, "email": o.email}
                    for o in c.execute(select(Organisation.__table__).order_by(Organisation.id))]

    def list_works(self, *, title: str | None = None, limit: int = 1000) -> list[dict]:
        q = select(Work.__table__).order_by(Work.id).limit(limit)
        if title:
            q = q.where(Work.title.contains(title, autoescape=True))
        with self.engine.connect() as c:
            return [{"id": w.id, "title": w.title, "media_type": w.media_type, "status": w.status, "iscc": w.iscc}
                    for w in c.execute(q)]

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
            cond = Organisation.id == int(ref) if isinstance(ref, int) or str(ref).isdigit() else Organisation.name == ref
            o = c.execute(select(Organisation.__table__).where(cond)).first()
        if not o:
            raise NotFound("organisation", ref)
        return {"id": o.id, "ref": org_ref(o.id), "name": o.name, "country": o.country, "email": o.email}

    def add_mandate(self, holder_id: int, org_id: int, categories: Iterable[Category], *,
                    valid_from: datetime | None = None, valid_until: datetime | None = None) -> int:
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
            mid = c.execute(insert(MandateRow).values(
                holder_id=holder_id, org_id=org_id, categories=",".join(cats), valid_from=start,
                valid_until=valid_until, declared_at=now).returning(MandateRow.id)).scalar_one()
            bump_facts_version(c)
        self._changed()
        return mid

    def mandates(self, *, org_id: int | None = None, holder_id: int | None = None) -> list[dict]:
        q = select(MandateRow.__table__).order_by(MandateRow.id)
        if org_id is not None:
            q = q.where(MandateRow.org_id == org_id)
        if holder_id is not None:
            q = q.where(MandateRow.holder_id == holder_id)
        with self.engine.connect() as c:
            return [{"id": m.id, "holder": holder_ref(m.holder_id), "org": org_ref(m.org_id),
                     "categories": m.categories.split(","), "valid_from": m.valid_from.isoformat(),
                     "valid_until": m.valid_until.isoformat() if m.valid_until else None}
                    for m in c.execute(q)]

    # -- works -----------------------------------------------------------------------------------

    def add_work(self, *, title: str, shares: Sequence[ShareSpec], data: bytes | None = None,
                 file_name: str = "", media_type: str | None = None, iswc: str | None = None,
                 isrc: str | None = None, isbn: str | None = None,
                 registered: tuple[str, bytes, str | None] | None = None) -> dict:
        """Register one work. A claim on content or an identifier someone else holds opens a dispute.

        ``registered``: ``data``'s (media type, fingerprint, ISCC) as :func:`register_content` computed them
        elsewhere (the web server's worker processes)."""
        title = _required(title, "title", Work.title)
        check_shares(shares, item=title)
        ids = {"iswc": normalise_identifier("iswc", iswc), "isrc": normalise_identifier("isrc", isrc),
               "isbn": normalise_identifier("isbn", isbn)}
        chash = content_hash(data) if data is not None else None
        fingerprint = iscc = None
        if data is not None and registered is not None:
            media_type, fingerprint, iscc = registered
        elif data is not None:
            if media_type is None:
                media_type = detect_media_type(data[:8192], file_name)
            if media_type is None:
                raise RegistryError(f"{file_name or title}: unsupported file type (not text, image, audio or video)")
            fingerprint, iscc = register_content(media_type, data, file_name or title)
        holder_ids = {s.holder_id for s in shares}
        with self.engine.begin() as c:
            known = set(c.execute(select(Holder.id).where(Holder.id.in_(holder_ids))).scalars())
            if missing := holder_ids - known:
                raise NotFound("holder", sorted(missing)[0])
            clashes = _clashing_works(c, chash, ids)
            for key, value, other_id in clashes:
                if _holders_of(c, other_id) == holder_ids:  # the same claimants registering again: no-op
                    return {"work": other_id, "created": False, "disputes": []}
            now = utcnow()
            wid = c.execute(insert(Work).values(
                title=title, media_type=media_type, content_hash=chash, status="disputed" if clashes else "active",
                iscc=iscc, created_at=now, **ids).returning(Work.id)).scalar_one()
            if fingerprint is not None:
                c.execute(insert(FingerprintRow).values(work_id=wid, modality=media_type, payload=fingerprint,
                                                        created_at=now))
            c.execute(insert(WorkShare), [
                {"work_id": wid, "holder_id": s.holder_id, "role": s.role, "share_num": s.share.numerator,
                 "share_den": s.share.denominator} for s in shares])
            disputes = []
            for key, value, other_id in clashes:
                disputes.append(c.execute(insert(Dispute).values(
                    work_id=other_id, claim_work_id=wid, key=key, key_value=value, status="open", created_at=now)
                    .returning(Dispute.id)).scalar_one())
            bump_facts_version(c)
        self._changed()
        return {"work": wid, "created": True, "disputes": disputes}

    def add_work_file(self, path: Path, *, shares: Sequence[ShareSpec], title: str | None = None, **ids) -> dict:
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise RegistryError(f"{path}: file is {size} bytes, above the {MAX_FILE_BYTES} byte limit")
            data = path.read_bytes()
        except OSError as e:
            raise RegistryError(f"{path}: cannot read file ({e.strerror or e})") from None
        if not data:
            raise RegistryError(f"{path}: file is empty")
        return self.add_work(title=title or path.stem, shares=shares, data=data, file_name=path.name, **ids)

    def work(self, work_id: int) -> dict:
        with self.engine.connect() as c:
            w = c.execute(select(Work.__table__).where(Work.id == work_id)).first()
            if w is None:
                raise NotFound("work", work_id)
            shares = c.execute(select(WorkShare.__table__, Holder.name).join(Holder, Holder.id == WorkShare.holder_id)
                               .where(WorkShare.work_id == work_id).order_by(WorkShare.id)).all()
            decls = c.execute(select(DeclarationRow.__table__).where(DeclarationRow.target == work_ref(work_id))
                              .order_by(DeclarationRow.id)).all()
            disputes = c.execute(select(Dispute.__table__).where(or_(Dispute.work_id == work_id, Dispute.claim_work_id == work_id))
                                 .order_by(Dispute.id)).all()
        org = self.find_org(w.org_id)["name"] if w.org_id else None
        return {
            "id": w.id, "title": w.title, "media_type": w.media_type, "status": w.status,
            "content_hash": w.content_hash, "iswc": w.iswc, "isrc": w.isrc, "isbn": w.isbn, "iscc": w.iscc,
            "organisation": org, "work_ref": w.work_ref, "created_at": w.created_at.isoformat(),
            "holders": [{"holder": holder_ref(s.holder_id), "name": s.name, "role": s.role,
                         "share": str(Fraction(s.share_num, s.share_den))} for s in shares],
            "declarations": [_declaration_dict(d) for d in decls],
            "disputes": [_dispute_dict(d) for d in disputes],
        }

    # -- declarations ----------------------------------------------------------------------------

    def declare(self, *, level: Level, target_id: int, party: str, values: dict[Category, Value | None],
                offer: Offer | None = None, purpose: Purpose | None = None, valid_from: datetime | None = None,
                valid_until: datetime | None = None) -> list[int]:
        """Record declarations; ``None`` withdraws the party's earlier one for that category."""
        if not values:
            raise RegistryError("nothing to declare: give at least one category")
        if any(v is Value.UNKNOWN for v in values.values()):
            raise RegistryError("'unknown' cannot be declared: declare allow, deny or licence")
        if any(v is Value.LICENCE for v in values.values()) and offer is None:
            raise RegistryError("a licence declaration needs an offer (price and currency)")
        target = self._check_standing(level, target_id, party, values)
        now = utcnow()
        start = valid_from or now
        if valid_until is not None and valid_until <= start:
            raise RegistryError(f"declaration ends ({valid_until.isoformat()}) before it starts ({start.isoformat()})")
        offer_json = json.dumps(offer.to_dict(), sort_keys=True) if offer else None
        rows = [{"level": level.value, "target": target, "party": party, "category": c.value,
                 "value": v.value if v else None, "offer": offer_json if v is Value.LICENCE else None,
                 "purpose": purpose.value if purpose else None, "valid_from": start, "valid_until": valid_until,
                 "declared_at": now} for c, v in values.items()]
        with self.engine.begin() as c:
            ids = list(c.execute(insert(DeclarationRow).returning(DeclarationRow.id, sort_by_parameter_order=True),
                                 rows).scalars())
            log.append(c, [log.Entry("declaration", {"id": i, **_public(r)}, subject=target)
                           for i, r in zip(ids, rows, strict=True)], at=now)
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
                if not engine_.has_standing(facts, party, c, now):
                    raise NotAllowed(f"{party} holds no mandate for {c.value} from any holder of work {target_id}")
        return work_ref(target_id)

    def declarations(self, target: str) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(select(DeclarationRow.__table__).where(DeclarationRow.target == target)
                             .order_by(DeclarationRow.id)).all()
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

    def decide(self, work_id: int, category: Category, *, licensee: str | None = None, at: datetime | None = None,
               purpose: Purpose = Purpose.COMMERCIAL, model_version: str | None = None) -> Decision:
        q = Query(category=category, at=at or utcnow(), licensee=licensee, purpose=purpose,
                  model_version=model_version)
        return engine_.decide(self.facts(work_id), q)

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
            facts = WorkFacts(work="catalogue", holders=frozenset({ref}),
                              declarations=tuple(self._declarations_for(ref)))
        elif level is Level.REPERTOIRE:
            ref = self.find_org(target_id)["ref"]
            member = "holder:member"
            facts = WorkFacts(work="repertoire", holders=frozenset({member}),
                              declarations=tuple(self._declarations_for(ref)),
                              mandates=(Mandate(member, ref, frozenset(Category), valid_from=at),))
        else:
            raise RegistryError(f"no policy at level {level.value!r}")
        return engine_.effective_values(facts, at)

    def _declarations_for(self, target: str) -> list[Declaration]:
        with self.engine.connect() as c:
            return [_to_declaration(d) for d in c.execute(select(DeclarationRow.__table__)
                                                          .where(DeclarationRow.target == target))]

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
                still_open = c.execute(select(func.count()).select_from(Dispute).where(
                    Dispute.status == "open", Dispute.id != dispute_id,
                    or_(Dispute.claim_work_id == w))).scalar_one()
                if not still_open:
                    c.execute(update(Work).where(Work.id == w, Work.status == "disputed").values(status="active"))
            resolution = f"kept {keep}" + (f": {note}" if note else "")
            c.execute(update(Dispute).where(Dispute.id == dispute_id).values(
                status="resolved", resolution=resolution, resolved_at=utcnow()))
            bump_facts_version(c)
        self._changed()
        return {"dispute": dispute_id, "status": "resolved", "resolution": resolution, "rejected_work": rejected}


# -- helpers shared with the importer ----------------------------------------------------------------


def _public(row: dict) -> dict:
    """A declaration as the public log records it: JSON-safe, times as ISO strings."""
    return {k: (v.isoformat() if isinstance(v, datetime) else json.loads(v) if k == "offer" and v else v)
            for k, v in row.items()}


def register_content(media_type: str, data: bytes, name: str) -> tuple[bytes, str | None]:
    """The registry-side fingerprint of a work's content (stored bytes) and its ISCC code."""
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
        if s.role not in ROLES:
            raise RegistryError(f"{item}: unknown role {s.role!r} (expected one of: {', '.join(sorted(ROLES))})")
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
    ok = v.isascii() and {
        "iswc": len(v) == 11 and v[0] == "T" and v[1:].isdigit(),
        "isrc": len(v) == 12 and v[:2].isalpha() and v[2:5].isalnum() and v[5:].isdigit(),
        "isbn": (len(v) == 13 and v.isdigit()) or (len(v) == 10 and v[:9].isdigit() and (v[9].isdigit() or v[9] == "X")),
    }[kind]
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
        for wid in c.execute(select(Work.id).where(col == value, Work.status != "rejected").order_by(Work.id)).scalars():
            out.append((key, value, wid))
    return out


def _holders_of(c, work_id: int) -> set[int]:
    return set(c.execute(select(WorkShare.holder_id).where(WorkShare.work_id == work_id)).scalars())


def load_facts(c, work_ids: Sequence[int]) -> dict[int, WorkFacts]:
    """Bulk-load decision facts for works, in three queries per chunk."""
    out: dict[int, WorkFacts] = {}
    for i in range(0, len(work_ids), 500):
        chunk = list(work_ids[i:i + 500])
        holders: dict[int, set[str]] = {w: set() for w in c.execute(
            select(Work.id).where(Work.id.in_(chunk))).scalars()}
        for wid, hid in c.execute(select(WorkShare.work_id, WorkShare.holder_id).where(WorkShare.work_id.in_(chunk))):
            holders[wid].add(holder_ref(hid))
        all_holder_ids = {int(h.split(":")[1]) for hs in holders.values() for h in hs}
        mandates_by_holder: dict[str, list[Mandate]] = {}
        orgs: set[str] = set()
        if all_holder_ids:
            for m in c.execute(select(MandateRow.__table__).where(MandateRow.holder_id.in_(all_holder_ids))):
                mm = Mandate(holder=holder_ref(m.holder_id), org=org_ref(m.org_id),
                             categories=frozenset(Category(x) for x in m.categories.split(",")),
                             valid_from=m.valid_from, valid_until=m.valid_until, declared_at=m.declared_at)
                mandates_by_holder.setdefault(mm.holder, []).append(mm)
                orgs.add(mm.org)
        targets = [work_ref(w) for w in holders] + [h for hs in holders.values() for h in hs] + sorted(orgs)
        decls_by_target: dict[str, list[Declaration]] = {}
        for j in range(0, len(targets), 900):
            for d in c.execute(select(DeclarationRow.__table__).where(DeclarationRow.target.in_(targets[j:j + 900]))):
                decls_by_target.setdefault(d.target, []).append(_to_declaration(d))
        for lic in c.execute(select(LicensedWork.work_id, Licence.__table__).join(
                Licence, Licence.id == LicensedWork.licence_id).where(
                LicensedWork.work_id.in_(list(holders)), Licence.status == "granted")):
            purpose = json.loads(lic.request).get("purpose")  # what it was priced for; older requests: any
            for cat in lic.categories.split(","):
                decls_by_target.setdefault(work_ref(lic.work_id), []).append(Declaration(
                    id=lic.id, level=Level.GRANT, target=work_ref(lic.work_id), party=lic.grantor,
                    category=Category(cat), value=Value.ALLOW, declared_at=lic.decided_at, valid_from=lic.valid_from,
                    valid_until=lic.valid_until, licensee=lic.licensee, purpose=Purpose(purpose) if purpose else None,
                    model_versions=tuple(json.loads(lic.model_versions or "[]"))))
        for wid, hs in holders.items():
            ms = tuple(m for h in sorted(hs) for m in mandates_by_holder.get(h, ()))
            ts = [work_ref(wid), *sorted(hs), *sorted({m.org for m in ms})]
            decls = tuple(d for t in ts for d in decls_by_target.get(t, ()))
            out[wid] = WorkFacts(work=work_ref(wid), holders=frozenset(hs), declarations=decls, mandates=ms)
    return out


def _to_declaration(d: DeclarationRow) -> Declaration:
    return Declaration(
        id=d.id, level=Level(d.level), target=d.target, party=d.party, category=Category(d.category),
        value=Value(d.value) if d.value else None, declared_at=d.declared_at, valid_from=d.valid_from,
        valid_until=d.valid_until, offer=Offer.from_dict(json.loads(d.offer)) if d.offer else None,
        purpose=Purpose(d.purpose) if d.purpose else None)


def _declaration_dict(d: DeclarationRow) -> dict:
    return {"id": d.id, "level": d.level, "target": d.target, "party": d.party, "category": d.category,
            "value": d.value, "offer": json.loads(d.offer) if d.offer else None, "purpose": d.purpose,
            "valid_from": d.valid_from.isoformat(), "valid_until": d.valid_until.isoformat() if d.valid_until else None,
            "declared_at": d.declared_at.isoformat()}


def _dispute_dict(d: Dispute) -> dict:
    return {"id": d.id, "work": d.work_id, "claim": d.claim_work_id, "key": d.key, "value": d.key_value,
            "status": d.status, "resolution": d.resolution, "created_at": d.created_at.isoformat(),
            "resolved_at": d.resolved_at.isoformat() if d.resolved_at else None}


def _required(value: str, what: str, column=None) -> str:
    v = (value or "").strip()
    if not v:
        raise RegistryError(f"{what} must not be empty")
    return check_text(column, v, what, RegistryError) if column is not None else v
