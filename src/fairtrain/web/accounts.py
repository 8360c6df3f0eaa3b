"""Web accounts: people (argon2id-hashed passwords, one role each) and their machines' API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from fairtrain.core.errors import InvalidInput, said_as
from fairtrain.core.store.limits import check_text
from fairtrain.core.store.models import ApiKey, Holder, Organisation, User, WebSession, utcnow

ACCOUNT_ROLES = ("creator", "org-admin", "developer")
SCOPES = ("read", "write")
MIN_PASSWORD = 8
SESSION_MAX_AGE = 14 * 24 * 3600  # seconds a session lasts unless it is ended before
_KEY_PREFIX = "ft"


class AccountError(InvalidInput):
    """A sign-up, sign-in or key request refused, with the field and the reason."""


class AccountNotFound(AccountError):
    """Something of the caller's that does not exist (or is someone else's, which reads the same)."""

    http_status = 404


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    email: str
    role: str
    display_name: str
    holder_id: int | None
    org_id: int | None

    def to_dict(self) -> dict:
        return {
            "id": self.id,
            "email": self.email,
            "role": self.role,
            "name": self.display_name,
            "holder": f"holder:{self.holder_id}" if self.holder_id else None,
            "org": f"org:{self.org_id}" if self.org_id else None,
        }


@dataclass(frozen=True, slots=True)
class KeyOwner:
    account: Account
    key_id: int
    scopes: frozenset[str]


def _account(row) -> Account:
    return Account(row.id, row.email, row.role, row.display_name, row.holder_id, row.org_id)


def _key_hash(secret: str) -> str:
    # API keys and session tokens are 256-bit random: a fast hash is enough (no dictionary to guess from), unlike passwords.
    return hashlib.sha256(secret.encode()).hexdigest()


class Accounts:
    def __init__(self, engine: Engine, hasher: PasswordHasher | None = None):
        self.engine = engine
        self.hasher = hasher or PasswordHasher()
        self._dummy = self.hasher.hash("not a password of anyone")

    def sign_up(self, *, email: str, password: str, role: str, name: str, country: str | None = None) -> Account:
        """A creator gets a holder record, an organisation admin a new organisation, both named ``name``."""
        email = _email(email)
        name = (name or "").strip()
        if role not in ACCOUNT_ROLES:
            raise AccountError(f"role {role!r}: expected one of {', '.join(ACCOUNT_ROLES)}")
        if not name:
            raise said_as(AccountError, "Name: please write your name (at most 300 characters).")
        check_text(User.display_name, name, "name", AccountError)  # length and NUL, as every database stores it
        if len(password or "") < MIN_PASSWORD or len(password) > 1024:
            raise said_as(
                AccountError, "Password: choose one of at least {n} characters (at most 1024).", n=MIN_PASSWORD
            )
        if country is not None and country != "" and not (len(country) == 2 and country.isalpha()):
            raise said_as(AccountError, "Country {country!r}: write the two-letter code, such as KR.", country=country)
        pw_hash = self.hasher.hash(password)
        now = utcnow()
        try:
            with self.engine.begin() as c:
                if c.execute(select(User.id).where(User.email == email)).first():
                    raise said_as(
                        AccountError,
                        "E-mail {email}: an account with this address exists already. Sign in instead, or use another address.",
                        email=email,
                    )
                holder_id = org_id = None
                if role == "creator":
                    holder_id = c.execute(
                        insert(Holder).values(name=name, email=email, created_at=now).returning(Holder.id)
                    ).scalar_one()
                elif role == "org-admin":
                    if c.execute(select(Organisation.id).where(Organisation.name == name)).first():
                        raise said_as(
                            AccountError, "Organisation {name!r} exists already: choose another name.", name=name
                        )
                    org_id = c.execute(
                        insert(Organisation)
                        .values(name=name, country=(country or None) and country.upper(), email=email, created_at=now)
                        .returning(Organisation.id)
                    ).scalar_one()
                uid = c.execute(
                    insert(User)
                    .values(
                        email=email,
                        password_hash=pw_hash,
                        role=role,
                        display_name=name,
                        holder_id=holder_id,
                        org_id=org_id,
                        created_at=now,
                    )
                    .returning(User.id)
                ).scalar_one()
        except IntegrityError:  # a concurrent sign-up with the same email or organisation name
            raise AccountError(f"email {email} or organisation {name!r}: exists already") from None
        return Account(uid, email, role, name, holder_id, org_id)

    def authenticate(self, email: str, password: str) -> Account:
        try:
            email = _email(email)
        except AccountError:
            email = ""
        with self.engine.connect() as c:
            row = c.execute(select(User.__table__).where(User.email == email)).first() if email else None
        try:
            # Verify against a dummy hash for unknown emails so that timing does not reveal who has an account.
            self.hasher.verify(row.password_hash if row else self._dummy, password or "")
        except (VerificationError, InvalidHashError):
            row = None
        if row is None:
            raise said_as(AccountError, "The e-mail address or the password is wrong. Check both and try again.")
        if self.hasher.check_needs_rehash(row.password_hash):
            with self.engine.begin() as c:
                c.execute(update(User).where(User.id == row.id).values(password_hash=self.hasher.hash(password)))
        return _account(row)

    def get(self, user_id: int) -> Account | None:
        with self.engine.connect() as c:
            row = c.execute(select(User.__table__).where(User.id == user_id)).first()
        return _account(row) if row else None

    def change_password(self, account: Account, current: str, new: str) -> None:
        """Set a new password after checking the current one; every session of the account ends with it."""
        if len(new or "") < MIN_PASSWORD or len(new) > 1024:
            raise AccountError(f"new password: at least {MIN_PASSWORD} characters (at most 1024)")
        with self.engine.connect() as c:
            stored = c.execute(select(User.password_hash).where(User.id == account.id)).scalar()
        try:
            self.hasher.verify(stored or self._dummy, current or "")
        except (VerificationError, InvalidHashError):
            raise AccountError("current password is wrong") from None
        with self.engine.begin() as c:
            c.execute(update(User).where(User.id == account.id).values(password_hash=self.hasher.hash(new)))
            _end_sessions(c, account.id)

    # -- sessions --------------------------------------------------------------------------------
    # The cookie carries a random token; only its SHA-256 is stored, and a session exists while its row
    # is open, so ending it on the server ends it whatever copy of the cookie is still around.

    def start_session(self, user_id: int) -> str:
        """A new session's token (for the cookie); the user's ended and expired sessions are deleted."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.engine.begin() as c:
            c.execute(
                delete(WebSession).where(
                    WebSession.user_id == user_id,
                    or_(
                        WebSession.revoked_at.is_not(None),
                        WebSession.created_at <= now - timedelta(seconds=SESSION_MAX_AGE),
                    ),
                )
            )
            c.execute(insert(WebSession).values(user_id=user_id, token_hash=_key_hash(token), created_at=now))
        return token

    def session(self, token: str, max_age_s: float = SESSION_MAX_AGE) -> tuple[Account, int] | None:
        """The account and session id of an open session no older than ``max_age_s``, else None."""
        since = utcnow() - timedelta(seconds=max_age_s)
        with self.engine.connect() as c:
            row = c.execute(
                select(User.__table__, WebSession.id.label("session_id"))
                .join(WebSession, WebSession.user_id == User.id)
                .where(
                    WebSession.token_hash == _key_hash(token),
                    WebSession.revoked_at.is_(None),
                    WebSession.created_at > since,
                )
            ).first()
        return (_account(row), row.session_id) if row else None

    def end_session(self, session_id: int) -> None:
        with self.engine.begin() as c:
            c.execute(
                update(WebSession)
                .where(WebSession.id == session_id, WebSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )

    def end_sessions(self, account: Account) -> int:
        """Sign out everywhere: end every open session of the account; how many were open."""
        with self.engine.begin() as c:
            return _end_sessions(c, account.id)

    # -- API keys --------------------------------------------------------------------------------

    def create_key(self, account: Account, *, name: str, scopes: list[str] | tuple[str, ...]) -> dict:
        """A new key; the returned ``key`` is shown once and never stored."""
        name = (name or "").strip()
        if not name or len(name) > 100:
            raise AccountError("key name: required, at most 100 characters")
        bad = [s for s in scopes if s not in SCOPES]
        if bad or not scopes:
            raise AccountError(f"scopes {list(scopes)!r}: choose from {', '.join(SCOPES)}")
        prefix = secrets.token_hex(6)
        secret = f"{_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
        now = utcnow()
        with self.engine.begin() as c:
            kid = c.execute(
                insert(ApiKey)
                .values(
                    user_id=account.id,
                    name=name,
                    prefix=prefix,
                    key_hash=_key_hash(secret),
                    scopes=",".join(sorted(set(scopes))),
                    created_at=now,
                )
                .returning(ApiKey.id)
            ).scalar_one()
        return {
            "id": kid,
            "name": name,
            "prefix": prefix,
            "scopes": sorted(set(scopes)),
            "key": secret,
            "created_at": now.isoformat(),
        }

    def keys(self, account: Account) -> list[dict]:
        with self.engine.connect() as c:
            rows = c.execute(select(ApiKey.__table__).where(ApiKey.user_id == account.id).order_by(ApiKey.id)).all()
        return [_key_dict(r) for r in rows]

    def revoke_key(self, account: Account, key_id: int) -> dict:
        """Revoke one of the account's own keys; another account's key is reported as not found."""
        with self.engine.begin() as c:
            row = c.execute(select(ApiKey.__table__).where(ApiKey.id == key_id, ApiKey.user_id == account.id)).first()
            if row is None:
                raise AccountNotFound(f"no API key {key_id}")
            if row.revoked_at is None:
                c.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=utcnow()))
            row = c.execute(select(ApiKey.__table__).where(ApiKey.id == key_id)).first()
        return _key_dict(row)

    def resolve_key(self, secret: str) -> KeyOwner | None:
        parts = secret.split("_", 2)
        if len(parts) != 3 or parts[0] != _KEY_PREFIX:
            return None
        with self.engine.connect() as c:
            row = c.execute(select(ApiKey.__table__).where(ApiKey.prefix == parts[1])).first()
            if row is None or row.revoked_at is not None or not hmac.compare_digest(row.key_hash, _key_hash(secret)):
                return None
            user = c.execute(select(User.__table__).where(User.id == row.user_id)).first()
        return KeyOwner(_account(user), row.id, frozenset(row.scopes.split(",")))


def _end_sessions(c, user_id: int) -> int:
    return c.execute(
        update(WebSession)
        .where(WebSession.user_id == user_id, WebSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    ).rowcount


def _key_dict(r) -> dict:
    return {
        "id": r.id,
        "name": r.name,
        "prefix": r.prefix,
        "scopes": r.scopes.split(","),
        "created_at": r.created_at.isoformat(),
        "revoked_at": _iso(r.revoked_at),
    }


def _iso(t: datetime | None) -> str | None:
    return t.isoformat() if t else None


def _email(text: str) -> str:
    e = (text or "").strip().lower()
    local, at, domain = e.partition("@")
    if not (local and at and "." in domain) or len(e) > 320 or any(ch.isspace() or ch in "<>\"'," for ch in e):
        raise said_as(
            AccountError, "E-mail {text!r}: this is not an e-mail address (it looks like name@example.com).", text=text
        )
    return e
