"""Notifications: what a creator hears about (a licence request, a dispute, a work found in a published
clearance, a payment, a statement), in the app and by e-mail.

Services record a notice with :func:`notify` inside their own transaction, so a notice exists exactly when
the fact it reports does. The words are chosen when the notice is shown or mailed, in the recipient's
language. :class:`Mailer` sends pending e-mail from a background thread (stdlib ``smtplib``) with retries
and backoff, never on a request's path. It sits beside the log, below the registry and the ledger.
"""

from __future__ import annotations

import json
import logging
import smtplib
import threading
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid

from sqlalchemy import Connection, Engine, func, insert, select, update

from fairtrain.core.errors import InvalidInput
from fairtrain.core.i18n import LANGUAGES, N_, translator
from fairtrain.core.store.models import Notification, NotificationPreference, User, utcnow

log = logging.getLogger(__name__)

KINDS = ("licence-request", "dispute", "clearance", "payment", "statement")
KIND_NAMES = {
    "licence-request": N_("A licence request"),
    "dispute": N_("A dispute about my work"),
    "clearance": N_("My work found in a published clearance"),
    "payment": N_("A payment"),
    "statement": N_("A distribution statement"),
}
# (kind, event) → (title, body); ``{name}`` fields come from the notice's params.
MESSAGES = {
    ("dispute", "opened-existing"): (
        N_("Someone else registered your work “{title}”"),
        N_(
            "{party} registered “{other_title}” on {date}, and it matches your work “{title}” by {key}. Both works "
            "are marked as disputed until the organisation or the registry decides. You can see the competing "
            "claim and answer it with evidence (an earlier draft, a publication link, a registration certificate) "
            "on the dispute's page: {path}"
        ),
    ),
    ("dispute", "opened-claim"): (
        N_("Your upload “{title}” collides with an existing registration"),
        N_(
            "“{other_title}”, registered by {party} on {date}, matches your upload “{title}” by {key}. Both works "
            "are marked as disputed until the organisation or the registry decides. You can answer with evidence "
            "on the dispute's page: {path}"
        ),
    ),
    ("dispute", "answered"): (
        N_("{party} answered the dispute about “{title}”"),
        N_(
            "{party} added evidence to the dispute about “{title}”. You can read it and answer on the dispute's "
            "page: {path}"
        ),
    ),
    ("dispute", "resolved"): (
        N_("The dispute about “{title}” was resolved"),
        N_("The dispute about “{title}” was decided: {outcome} The dispute's page keeps the whole record: {path}"),
    ),
    ("licence-request", "requested"): (
        N_("{licensee} asks for a licence to your works"),
        N_(
            "{licensee} asks for a licence to {works} of your works, at {price}. Accept or decline it on your "
            "page: {path}"
        ),
    ),
    ("payment", "received"): (
        N_("A payment of {amount} was received"),
        N_(
            "A payment of {amount} was received for invoice {invoice} (licence {licence}). It is shared out "
            "in the next distribution: {path}"
        ),
    ),
    ("clearance", "found"): (
        N_("Your work “{title}” was found in a published clearance"),
        N_("The clearance {clearance} lists your work “{title}”. See what was decided and the proof: {path}"),
    ),
    ("statement", "issued"): (
        N_("A distribution statement for {period} is ready"),
        N_("Your statement for {period} is ready: {path}"),
    ),
    # Not a kind one chooses (an invitation is addressed to her, like a confirmation): always delivered.
    ("co-holder", "invited"): (
        N_("{inviter} invites you to co-hold “{title}”"),
        N_(
            "{inviter} invites you to hold a share of {share} of “{title}” as {role}. The shares change only when "
            "you confirm: {path}"
        ),
    ),
    ("mandate-invitation", "invited"): (
        N_("{org} asks you to confirm its mandate"),
        N_(
            "{org} manages your rights for these uses once you confirm: {categories}. Until you do, the "
            "mandate does not count. Confirm or decline it here: {path}"
        ),
    ),
}
ALWAYS = frozenset({"co-holder", "mandate-invitation"})
OUTCOMES = {
    "existing": N_("the earlier registration stays; the new claim is rejected."),
    "claim": N_("the new claim stays; the earlier registration is rejected."),
    "both": N_("both stay, as distinct works."),
}
KEYS = {
    "content_hash": N_("identical content"),
    "iswc": N_("the same ISWC"),
    "isrc": N_("the same ISRC"),
    "isbn": N_("the same ISBN"),
}
MAX_ATTEMPTS = 5


class NotificationError(InvalidInput):
    """A preference or notice request that cannot be honoured; the message names the field."""


def notify(
    conn: Connection,
    holder_ids,
    kind: str,
    event: str,
    params: dict,
    *,
    subject: str | None = None,
    email: bool = True,
) -> int:
    """Record a notice for each holder in the caller's transaction, as each one's preferences allow;
    ``email=False``: in the app only (the caller mails a message of its own, e.g. with a single-use link)."""
    if (kind, event) not in MESSAGES:
        raise ValueError(f"unknown notice {kind}/{event}")
    holder_ids = sorted(set(holder_ids))
    if not holder_ids:
        return 0
    prefs = {
        r.holder_id: r
        for r in conn.execute(
            select(NotificationPreference.__table__).where(NotificationPreference.holder_id.in_(holder_ids))
        )
    }
    rows, now = [], utcnow()
    for h in holder_ids:
        p = prefs.get(h)
        in_app = p is None or kind in ALWAYS or kind in p.app_kinds.split(",")
        by_mail = email and (p is None or kind in ALWAYS or kind in p.email_kinds.split(","))
        if in_app or by_mail:
            rows.append(
                {
                    "holder_id": h,
                    "kind": kind,
                    "event": event,
                    "subject": subject,
                    "in_app": in_app,
                    "params": json.dumps(params, ensure_ascii=False, sort_keys=True),
                    "created_at": now,
                    "email_status": "pending" if by_mail else "none",
                    "email_attempts": 0,
                    "email_next_at": now if by_mail else None,
                }
            )
    if rows:
        conn.execute(insert(Notification), rows)
    return len(rows)


def words(kind: str, event: str, params: dict, lang: str) -> tuple[str, str]:
    """A notice's title and text in ``lang``."""
    _ = translator(lang)
    title, body = MESSAGES[(kind, event)]
    p = {k: ("" if v is None else _money(v, lang) if isinstance(v, dict) else v) for k, v in params.items()}
    if "key" in p:
        p["key"] = _(KEYS.get(p["key"], p["key"]))
    if "outcome" in p:
        p["outcome"] = _(OUTCOMES.get(p["outcome"], p["outcome"]))
    if "role" in p:
        from fairtrain.core.labels import word

        p["role"] = word(p["role"], "role", lang)
    if isinstance(params.get("categories"), list):
        from fairtrain.core.labels import word

        p["categories"] = ", ".join(word(c, "category", lang) for c in params["categories"])
    if "share" in p:
        from fairtrain.core.i18n import format_share

        p["share"] = format_share(p["share"], lang)
    fields = _Fields(p)
    return _(title).format_map(fields), _(body).format_map(fields)


def _money(d: dict, lang: str) -> str:
    from babel.numbers import format_currency

    from fairtrain.core.i18n import babel_locale
    from fairtrain.core.money import Money

    m = Money.from_dict(d)
    return format_currency(m.major_str(), m.currency, locale=babel_locale(lang))


class _Fields(dict):
    def __missing__(self, key):  # a notice recorded before a field was added still reads
        return ""


class Notifications:
    def __init__(self, engine: Engine):
        self.engine = engine

    def send(self, holder_ids, kind: str, event: str, params: dict, *, subject: str | None = None) -> int:
        """:func:`notify` in a transaction of its own (a notice that goes with no other change)."""
        with self.engine.begin() as c:
            return notify(c, holder_ids, kind, event, params, subject=subject)

    def preferences(self, holder_id: int) -> dict:
        with self.engine.connect() as c:
            p = c.execute(
                select(NotificationPreference.__table__).where(NotificationPreference.holder_id == holder_id)
            ).first()
        if p is None:
            return {"app": list(KINDS), "email": list(KINDS), "language": None}
        return {
            "app": [k for k in p.app_kinds.split(",") if k],
            "email": [k for k in p.email_kinds.split(",") if k],
            "language": p.language,
        }

    def set_preferences(self, holder_id: int, *, app=None, email=None, language: str | None = None) -> dict:
        """Choose the kinds heard about in the app and by e-mail (None keeps the current choice)."""
        current = self.preferences(holder_id)
        chosen = {}
        for field, value in (("app", app), ("email", email)):
            if value is None:
                chosen[field] = current[field]
                continue
            if isinstance(value, str) or not all(isinstance(k, str) for k in value):
                raise NotificationError(f"notification preferences: {field} must be a list of kinds")
            if bad := [k for k in value if k not in KINDS]:
                raise NotificationError(
                    f"notification preferences: {field}: unknown kind {bad[0]!r} (choose from {', '.join(KINDS)})"
                )
            chosen[field] = [k for k in KINDS if k in value]
        lang = language or current["language"] or "en"
        if lang not in LANGUAGES:
            raise NotificationError(
                f"notification preferences: language must be one of {', '.join(LANGUAGES)}, not {lang!r}"
            )
        values = {"app_kinds": ",".join(chosen["app"]), "email_kinds": ",".join(chosen["email"]), "language": lang}
        with self.engine.begin() as c:
            done = c.execute(
                update(NotificationPreference).where(NotificationPreference.holder_id == holder_id).values(**values)
            ).rowcount
            if not done:
                c.execute(insert(NotificationPreference).values(holder_id=holder_id, **values))
        return {"app": chosen["app"], "email": chosen["email"], "language": lang}

    def remember_language(self, holder_id: int, language: str) -> None:
        """The language she last used is the one her e-mail is written in, until she chooses."""
        if language in LANGUAGES and self.preferences(holder_id)["language"] != language:
            self.set_preferences(holder_id, language=language)

    def unread(self, holder_id: int) -> int:
        with self.engine.connect() as c:
            return c.execute(
                select(func.count())
                .select_from(Notification)
                .where(
                    Notification.holder_id == holder_id, Notification.in_app.is_(True), Notification.read_at.is_(None)
                )
            ).scalar_one()

    def list(self, holder_id: int, lang: str, *, limit: int = 50) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(
                select(Notification.__table__)
                .where(Notification.holder_id == holder_id, Notification.in_app.is_(True))
                .order_by(Notification.id.desc())
                .limit(limit)
            ).all()
        out = []
        for r in rows:
            params = json.loads(r.params)
            title, text = words(r.kind, r.event, params, lang)
            out.append(
                {
                    "id": r.id,
                    "kind": r.kind,
                    "event": r.event,
                    "subject": r.subject,
                    "title": title,
                    "text": text,
                    "path": params.get("path"),
                    "created_at": r.created_at.isoformat(),
                    "read": r.read_at is not None,
                    "email": r.email_status,
                }
            )
        return out

    def mark_read(self, holder_id: int, ids: list[int] | None = None) -> int:
        q = update(Notification).where(Notification.holder_id == holder_id, Notification.read_at.is_(None))
        if ids is not None:
            q = q.where(Notification.id.in_(ids))
        with self.engine.begin() as c:
            return c.execute(q.values(read_at=utcnow())).rowcount


class Mailer:
    """Sends pending notices by SMTP from one background thread: a failed send is retried with backoff
    (1, 2, 4, 8 minutes), then marked failed with the reason; a notice to a holder without an account's
    address is marked failed at once. ``wake()`` asks for a pass now; otherwise it looks every ``interval``."""

    def __init__(
        self,
        engine: Engine,
        host: str,
        port: int,
        mail_from: str,
        *,
        interval: float = 2.0,
        timeout: float = 10.0,
        backoff: float = 60.0,
    ):
        self.engine, self.host, self.port, self.mail_from = engine, host, port, mail_from
        self.interval, self.timeout, self.backoff = interval, timeout, backoff
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="fairtrain-mailer", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
            self._thread = None

    def wake(self) -> None:
        self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.send_pending()
            except Exception:  # the database away for a moment: try again on the next pass
                log.exception("mailer pass failed")
            self._wake.wait(self.interval)
            self._wake.clear()

    def send_pending(self, *, limit: int = 50) -> dict:
        """One pass: send what is due; returns the counts sent, retried and failed."""
        now = utcnow()
        with self.engine.connect() as c:
            due = c.execute(
                select(Notification.__table__, User.email, NotificationPreference.language)
                .outerjoin(User, User.holder_id == Notification.holder_id)
                .outerjoin(NotificationPreference, NotificationPreference.holder_id == Notification.holder_id)
                .where(Notification.email_status == "pending", Notification.email_next_at <= now)
                .order_by(Notification.id)
                .limit(limit)
            ).all()
        counts = {"sent": 0, "retried": 0, "failed": 0}
        for r in due:
            if not self._claim(r.id):  # another server's mailer took it (serve --workers N)
                continue
            if not r.email:
                self._mark(r.id, "failed", r.email_attempts, "the holder has no account e-mail address")
                counts["failed"] += 1
                continue
            try:
                self._send(r.email, *words(r.kind, r.event, json.loads(r.params), r.language or "en"))
            except (OSError, smtplib.SMTPException) as e:
                attempts = r.email_attempts + 1
                reason = f"{type(e).__name__}: {e}"[:500]
                if attempts >= MAX_ATTEMPTS:
                    self._mark(r.id, "failed", attempts, reason)
                    counts["failed"] += 1
                else:
                    self._mark(
                        r.id,
                        "pending",
                        attempts,
                        reason,
                        next_at=utcnow() + timedelta(seconds=self.backoff * 2 ** (attempts - 1)),
                    )
                    counts["retried"] += 1
                log.warning("notice %s: e-mail not sent (attempt %s): %s", r.id, attempts, reason)
                continue
            self._mark(r.id, "sent", r.email_attempts + 1, None)
            counts["sent"] += 1
        return counts

    def _claim(self, notice_id: int) -> bool:
        """Take a due notice for this pass by moving its next attempt a lease ahead, if it is still pending
        and due: of several processes sending from one database one sends it, and if that one dies before
        it marks the outcome, another sends it once the lease has passed."""
        now = utcnow()
        lease = timedelta(seconds=max(60.0, 6 * self.timeout))
        with self.engine.begin() as c:
            return (
                c.execute(
                    update(Notification)
                    .where(
                        Notification.id == notice_id,
                        Notification.email_status == "pending",
                        Notification.email_next_at <= now,
                    )
                    .values(email_next_at=now + lease)
                ).rowcount
                == 1
            )

    def send_message(self, to: str, title: str, text: str) -> None:
        """Send one message now (a single-use link to an address with no account yet: never stored)."""
        self._send(to, title, text)

    def _send(self, to: str, title: str, text: str) -> None:
        msg = EmailMessage()
        msg["From"] = formataddr(("fairtrain", self.mail_from))
        msg["To"] = to
        msg["Subject"] = title
        msg["Message-ID"] = make_msgid(domain=self.mail_from.rpartition("@")[2] or None)
        msg.set_content(text, charset="utf-8")
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as s:
            s.send_message(msg)

    def _mark(
        self, notice_id: int, status: str, attempts: int, error: str | None, next_at: datetime | None = None
    ) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(Notification)
                .where(Notification.id == notice_id)
                .values(email_status=status, email_attempts=attempts, email_error=error, email_next_at=next_at)
            )


def parse_smtp(value: str) -> tuple[str, int]:
    """``HOST:PORT`` (port 25 when left out) as given to ``fairtrain serve --smtp``."""
    host, sep, port = (value or "").strip().rpartition(":")
    if not sep:
        host, port = port, "25"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise NotificationError(f"--smtp: expected HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)
