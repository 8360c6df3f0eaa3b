"""SQLAlchemy models of the registry. Schema changes go through Alembic migrations (``migrations/``).

Append-only where history matters: declarations and mandates are never updated or deleted; a newer
row supersedes an older one (see :mod:`fairtrain.core.decide`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in Python, naive UTC in the database (SQLite has no time zones)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: fairtrain stores aware UTC times only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect):
        return value.replace(tzinfo=UTC) if value is not None else None


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Holder(Base):
    """A rights holder: a creator, a publisher, a label."""

    __tablename__ = "holders"
    # One holder per name among those an organisation's imports created: concurrent imports cannot make
    # two. ``org_key`` is the name for such holders (NULL otherwise, and NULLs never clash).
    __table_args__ = (Index("uq_holders_org_key", "created_by_org_id", "org_key", unique=True),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), index=True)
    email: Mapped[str | None] = mapped_column(String(320))
    created_by_org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    org_key: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Organisation(Base):
    """A collective management organisation (or any organisation acting for members)."""

    __tablename__ = "organisations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(300), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Mandate(Base):
    __tablename__ = "mandates"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), index=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    categories: Mapped[str] = mapped_column(String(100))  # comma-separated Category values
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Consent: NULL until the holder confirms or the signed paper mandate is attached (core.decide's
    # mandate_in_force counts only confirmed mandates). ``confirmation``: direct | holder | token | paper.
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmation: Mapped[str | None] = mapped_column(String(10))
    confirm_token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # SHA-256, single use
    paper_sha256: Mapped[str | None] = mapped_column(String(64))
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the end date a revocation set


class Tariff(Base):
    """An organisation's published tariff (a JSON document); the newest of each kind is the one in use."""

    __tablename__ = "tariffs"
    __table_args__ = (CheckConstraint("kind IN ('licence', 'retroactive')", name="kind"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(12))
    document: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Work(Base):
    __tablename__ = "works"
    __table_args__ = (
        UniqueConstraint("org_id", "work_ref"),
        CheckConstraint("status IN ('active', 'disputed', 'rejected')", name="status"),
        # Partial: most works lack most identifiers, and bulk imports should not index NULLs.
        *(
            Index(
                f"ix_works_{col}",
                col,
                sqlite_where=text(f"{col} IS NOT NULL"),
                postgresql_where=text(f"{col} IS NOT NULL"),
            )
            for col in ("content_hash", "iswc", "isrc", "isbn", "work_ref")
        ),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(1000))
    media_type: Mapped[str | None] = mapped_column(String(20))  # text | image | audio
    content_hash: Mapped[str | None] = mapped_column(String(32))  # xxh3-128 hex of the bytes
    iswc: Mapped[str | None] = mapped_column(String(20))
    isrc: Mapped[str | None] = mapped_column(String(20))
    isbn: Mapped[str | None] = mapped_column(String(20))
    iscc: Mapped[str | None] = mapped_column(String(80))
    # no index of its own: UniqueConstraint(org_id, work_ref) leads with it
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"))
    work_ref: Mapped[str | None] = mapped_column(String(200))
    row_hash: Mapped[str | None] = mapped_column(String(32))  # xxh3 of the import row, for idempotent re-imports
    status: Mapped[str] = mapped_column(String(10), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What a holder shaped (services/registry/work_editing.py): the title in Latin script beside the
    # Korean one, when the work was withdrawn (a superseding declaration says what that means), and the
    # SHA-256 of the small preview kept at registration under DATA/previews/ (never the work itself).
    title_latin: Mapped[str | None] = mapped_column(String(1000))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    preview_sha256: Mapped[str | None] = mapped_column(String(64))


class WorkInvitation(Base):
    """A holder inviting a co-holder by e-mail: the shares change only when the invitee confirms
    (single-use token, stored hashed, with an expiry), and a pending invitation can be withdrawn."""

    __tablename__ = "work_invitations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), index=True)
    inviter_holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(30))
    share_num: Mapped[int] = mapped_column(BigInteger)  # the invitee's share
    share_den: Mapped[int] = mapped_column(BigInteger)
    keep_num: Mapped[int] = mapped_column(BigInteger)  # the inviter's share once the invitee confirms
    keep_den: Mapped[int] = mapped_column(BigInteger)
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)  # SHA-256, single use
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WorkShare(Base):
    """A holder's share in a work, as an exact fraction; a work's shares sum to exactly 1."""

    __tablename__ = "work_shares"
    __table_args__ = (
        CheckConstraint("share_num > 0 AND share_den > 0 AND share_num <= share_den", name="share"),
        # Both pairs: the search reads a holder's works, or walks works in order testing their holders,
        # from the index alone (migration 0013).
        Index("ix_work_shares_work_id_holder_id", "work_id", "holder_id"),
        Index("ix_work_shares_holder_id_work_id", "holder_id", "work_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"))
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"))
    role: Mapped[str] = mapped_column(String(30))
    share_num: Mapped[int] = mapped_column(BigInteger)
    share_den: Mapped[int] = mapped_column(BigInteger)


class Declaration(Base):
    """A declaration at work, catalogue or repertoire level. Never updated: superseded by newer rows."""

    __tablename__ = "declarations"
    __table_args__ = (
        Index("ix_declarations_target", "target"),
        CheckConstraint("level IN ('work', 'catalogue', 'repertoire')", name="level"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    level: Mapped[str] = mapped_column(String(12))
    target: Mapped[str] = mapped_column(String(40))  # "work:5" | "holder:3" | "org:2"
    party: Mapped[str] = mapped_column(String(40))  # "holder:3" | "org:2"
    category: Mapped[str] = mapped_column(String(12))
    value: Mapped[str | None] = mapped_column(String(8))  # NULL withdraws the party's earlier declaration
    offer: Mapped[str | None] = mapped_column(Text)  # JSON (vocab.Offer.to_dict)
    purpose: Mapped[str | None] = mapped_column(String(12))
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    declared_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Fingerprint(Base):
    """A work's registry-side fingerprint (fingerprint.codec bytes): what snapshots index, never the work."""

    __tablename__ = "fingerprints"
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), primary_key=True)
    modality: Mapped[str] = mapped_column(String(10))
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Dispute(Base):
    """Two parties claiming the same work: recorded, visible and resolvable, never silently overwritten."""

    __tablename__ = "disputes"
    __table_args__ = (CheckConstraint("status IN ('open', 'resolved')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), index=True)  # the earlier claim
    claim_work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), index=True)  # the new claim
    key: Mapped[str] = mapped_column(String(20))  # content_hash | iswc | isrc | isbn
    key_value: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(10), default="open")
    resolution: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LogEntry(Base):
    """One entry of the append-only public log. ``leaf`` is the exact byte string hashed into the tree."""

    __tablename__ = "log_entries"
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(30), index=True)
    leaf: Mapped[str] = mapped_column(Text)  # canonical JSON {"at", "body", "idx", "kind"}
    leaf_hash: Mapped[str] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(80), index=True)  # e.g. "work:5", "snapshot:<id>"


class LogState(Base):
    """The log's size and the roots of its perfect subtrees (RFC 9162 compact range): O(log n) appends."""

    __tablename__ = "log_state"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    frontier: Mapped[str] = mapped_column(Text)  # JSON list of hex hashes, largest subtree first


class TreeHead(Base):
    """A signed tree head: (size, root) at a time, signed by the registry's key."""

    __tablename__ = "tree_heads"
    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[str] = mapped_column(String(64))
    signed: Mapped[str] = mapped_column(Text)  # the signed document (keys.sign_document)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Licence(Base):
    """A licence request to one grantor (a holder or an organisation) and, once accepted, its grant."""

    __tablename__ = "licences"
    __table_args__ = (CheckConstraint("status IN ('requested', 'granted', 'declined')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licensee: Mapped[str] = mapped_column(String(200), index=True)
    grantor: Mapped[str] = mapped_column(String(40), index=True)  # "holder:3" | "org:1"
    status: Mapped[str] = mapped_column(String(10), default="requested")
    categories: Mapped[str] = mapped_column(String(100))
    model_versions: Mapped[str] = mapped_column(Text, default="[]")  # JSON list; empty = any
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    price_model: Mapped[str] = mapped_column(String(20))
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    revenue_share_bp: Mapped[int] = mapped_column(Integer, default=0)
    collective: Mapped[bool] = mapped_column(default=False)  # an organisation's licence for its whole repertoire
    request: Mapped[str] = mapped_column(Text)  # JSON: the quote lines this licence answers
    grant: Mapped[str | None] = mapped_column(Text)  # the signed grant document
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class LicensedWork(Base):
    """A work a licence covers: what the decision engine sees as a grant to the licensee."""

    __tablename__ = "licensed_works"
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"), primary_key=True)
    work_id: Mapped[int] = mapped_column(ForeignKey("works.id"), primary_key=True, index=True)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (CheckConstraint("status IN ('open', 'paid')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    licence_id: Mapped[int] = mapped_column(ForeignKey("licences.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(6), default="open")
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Payment(Base):
    __tablename__ = "payments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(200), unique=True)  # settlement reference: re-imports are no-ops
    source: Mapped[str] = mapped_column(String(10))  # "manual" | "import"
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UsageReport(Base):
    """What a licensee trained, signed by the licensee; the idempotency key makes re-sending harmless."""

    __tablename__ = "usage_reports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    licensee: Mapped[str] = mapped_column(String(200), index=True)
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[str] = mapped_column(String(100))
    document: Mapped[str] = mapped_column(Text)  # the signed report
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DistributionRun(Base):
    """A distribution run: its inputs (as gathered from the registry and ledger) and its output document."""

    __tablename__ = "distribution_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[str] = mapped_column(String(10))
    period_end: Mapped[str] = mapped_column(String(10))
    formula_version: Mapped[str] = mapped_column(String(60))
    inputs: Mapped[str] = mapped_column(Text)  # canonical JSON: everything the run was computed from
    output_sha256: Mapped[str] = mapped_column(String(64))
    output: Mapped[str] = mapped_column(Text)  # the run's canonical JSON
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str | None] = mapped_column(String(40))  # "org:2" when an organisation started it
    # JSON {"formula", "totals", "lines", "holders"}: what a list of runs shows, without parsing the documents
    summary: Mapped[str | None] = mapped_column(Text)


class DistributionRunParty(Base):
    """Who a run concerns: organisations that collected or represent a paid holder, and paid holders (with
    their totals, JSON), so that listing one party's runs and statements reads only their rows."""

    __tablename__ = "distribution_run_parties"
    run_id: Mapped[int] = mapped_column(ForeignKey("distribution_runs.id"), primary_key=True)
    party: Mapped[str] = mapped_column(String(40), primary_key=True, index=True)  # "org:2" | "holder:7"
    totals: Mapped[str | None] = mapped_column(Text)  # a holder's totals in the run (JSON list)


class FactsVersion(Base):
    """One row, bumped in the transaction of every write that changes what a decision is made from, so that
    a process caching decision facts knows, with one cheap read, whether its cache is still current."""

    __tablename__ = "facts_version"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(BigInteger)


class User(Base):
    """A person who signs in to the web application. A creator is linked to a holder, an admin to an org."""

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('creator', 'org-admin', 'developer')", name="role"),
        CheckConstraint("(role = 'creator') = (holder_id IS NOT NULL)", name="creator_holder"),
        CheckConstraint("(role = 'org-admin') = (org_id IS NOT NULL)", name="admin_org"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)  # stored lower-cased
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, PHC string
    role: Mapped[str] = mapped_column(String(12))
    display_name: Mapped[str] = mapped_column(String(300))
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("holders.id"), index=True)
    org_id: Mapped[int | None] = mapped_column(ForeignKey("organisations.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKey(Base):
    """A machine's key: only its SHA-256 is stored (the key itself is shown once), scoped and revocable."""

    __tablename__ = "api_keys"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)  # the public part, to find the row
    key_hash: Mapped[str] = mapped_column(String(64))
    scopes: Mapped[str] = mapped_column(String(100))  # comma-separated: read, write
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebSession(Base):
    """A signed-in browser session: the cookie carries a random token, only its SHA-256 is stored, and the
    session ends on the server (sign-out, password change, sign out everywhere), whatever the cookie says."""

    __tablename__ = "web_sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DisputeAnswer(Base):
    """One party's answer to a dispute: a statement, a publication link and/or an evidence file. The file
    is kept under the data directory by its SHA-256 (``evidence/<sha256>``); the row keeps name and digest."""

    __tablename__ = "dispute_answers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dispute_id: Mapped[int] = mapped_column(ForeignKey("disputes.id"), index=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"))
    side: Mapped[str] = mapped_column(String(10))  # existing | claim
    statement: Mapped[str | None] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    evidence_name: Mapped[str | None] = mapped_column(String(255))
    evidence_sha256: Mapped[str | None] = mapped_column(String(64))
    evidence_size: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Notification(Base):
    """Something a creator should hear about, in the app and (``email_status``) by e-mail. ``params`` is
    JSON: the words are chosen in the recipient's language when the notice is shown or sent."""

    __tablename__ = "notifications"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))  # licence-request | dispute | clearance | payment | statement
    event: Mapped[str] = mapped_column(String(30))
    subject: Mapped[str | None] = mapped_column(String(80))  # e.g. "dispute:3"
    params: Mapped[str] = mapped_column(Text, default="{}")
    in_app: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_status: Mapped[str] = mapped_column(String(10), default="none", index=True)  # none|pending|sent|failed
    email_attempts: Mapped[int] = mapped_column(Integer, default=0)
    email_next_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    email_error: Mapped[str | None] = mapped_column(Text)


class NotificationPreference(Base):
    """Which kinds a creator hears about, in the app and by e-mail, and in which language."""

    __tablename__ = "notification_preferences"
    holder_id: Mapped[int] = mapped_column(ForeignKey("holders.id"), primary_key=True)
    app_kinds: Mapped[str] = mapped_column(String(200))
    email_kinds: Mapped[str] = mapped_column(String(200))
    language: Mapped[str] = mapped_column(String(8), default="en")


class ImportJob(Base):
    """A validated repertoire import being stored in the background: its staged input (under the data
    directory), how far it got (``lines_done``: every sheet line up to it is committed) and its report.
    Stored chunk by chunk, each chunk with its progress in one transaction, so a killed job resumes."""

    __tablename__ = "import_jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # queued | running | done | failed
    source: Mapped[str] = mapped_column(String(200))  # the uploaded file's name, for people
    sheet: Mapped[str] = mapped_column(Text)  # the staged, normalised UTF-8 CSV
    files_root: Mapped[str] = mapped_column(Text)
    encoding: Mapped[str] = mapped_column(String(32))
    rows_total: Mapped[int] = mapped_column(Integer)
    rows_done: Mapped[int] = mapped_column(Integer, default=0)
    lines_done: Mapped[int] = mapped_column(Integer, default=1)  # the header is line 1
    report: Mapped[str] = mapped_column(Text, default="{}")  # JSON counts so far
    error: Mapped[str | None] = mapped_column(Text)
    pid: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LicenceTemplate(Base):
    """An organisation's collective licence template (a JSON document: names, purposes, categories, media
    types, term, price, retroactive allowed), requested by developers for the repertoire its members
    mandated to it; a withdrawn one takes no new requests."""

    __tablename__ = "licence_templates"
    __table_args__ = (CheckConstraint("status IN ('published', 'withdrawn')", name="status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    org_id: Mapped[int] = mapped_column(ForeignKey("organisations.id"), index=True)
    status: Mapped[str] = mapped_column(String(10), default="published")
    document: Mapped[str] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class RateEvent(Base):
    """One attempt counted by a rate limit (sign-in, sign-up, uploads, …), kept in the database so that every
    server process on it counts the same attempts (``web.security.RateLimiter``); the key is stored as its
    SHA-256 (no e-mail or client address in clear), and events older than the limit's window are deleted."""

    __tablename__ = "rate_events"
    __table_args__ = (
        Index("ix_rate_events_limiter_key_hash_at", "limiter", "key_hash", "at"),
        Index("ix_rate_events_limiter_at", "limiter", "at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    limiter: Mapped[str] = mapped_column(String(40))
    key_hash: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)  # seconds since the epoch (every process's clock alike)
