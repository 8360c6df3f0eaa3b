"""Who is asking: signed session cookies with CSRF tokens for people, API keys for machines; rate limits
and request-size limits."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import Engine, delete, func, insert, select, text

from fairtrain.core.store.models import RateEvent
from fairtrain.web.accounts import SESSION_MAX_AGE, Account

SESSION_COOKIE = "ft_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller of one request. ``account`` is None for the public."""

    account: Account | None = None
    via: str = "none"  # none | session | key
    scopes: frozenset[str] = frozenset({"read", "write"})
    csrf: str | None = None  # the session's CSRF token (sessions only)
    session: int | None = None  # the server-side session's id (sessions only)

    @property
    def role(self) -> str:
        return self.account.role if self.account else "public"

    @property
    def holder_ref(self) -> str | None:
        a = self.account
        return f"holder:{a.holder_id}" if a and a.holder_id else None

    @property
    def org_ref(self) -> str | None:
        a = self.account
        return f"org:{a.org_id}" if a and a.org_id else None


PUBLIC = Principal()


class Sessions:
    """Session cookies: signed and timestamped, holding the user id, the server-side session's token (see
    ``Accounts.session``: the session lives while its row is open) and the session's CSRF token."""

    def __init__(self, secret: bytes):
        self._s = URLSafeTimedSerializer(secret, salt="fairtrain-session")

    def issue(self, user_id: int, token: str) -> tuple[str, str]:
        csrf = secrets.token_urlsafe(24)
        return self._s.dumps({"u": user_id, "s": token, "c": csrf}), csrf

    def read(self, cookie: str | None) -> tuple[int, str, str] | None:
        """(user id, session token, CSRF token) of a well-signed cookie, else None."""
        if not cookie:
            return None
        try:
            data = self._s.loads(cookie, max_age=SESSION_MAX_AGE)
        except BadSignature:
            return None
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("u"), int)
            or not all(isinstance(data.get(k), str) for k in ("s", "c"))
        ):
            return None
        return data["u"], data["s"], data["c"]


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_proxies(specs) -> tuple[Network, ...]:
    """Trusted proxy addresses or networks (``10.0.0.5``, ``10.0.0.0/8``, ``::1``); a bad one is refused."""
    out = []
    for spec in specs:
        try:
            out.append(ipaddress.ip_network(spec.strip(), strict=False))
        except ValueError:
            raise ValueError(f"trusted proxy {spec!r}: not an IP address or network") from None
    return tuple(out)


def client_address(peer: str | None, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """Who the client is, for per-client limits: the connecting peer, unless the peer is a trusted proxy;
    then ``X-Forwarded-For`` is read from the right, past every trusted proxy, to the first address that is
    not one (what a client writes into the header itself is never reached while a proxy appends to it)."""
    hops = [h.strip() for h in (forwarded_for or "").split(",") if h.strip()]
    current = peer or "unknown"
    while _is_trusted(current, trusted) and hops:
        current = hops.pop()
    return current


def _is_trusted(address: str, trusted: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in trusted)


def csrf_ok(expected: str | None, given: str | None) -> bool:
    return bool(expected and given) and hmac.compare_digest(expected, given)


class RateLimiter:
    """At most ``limit`` events per ``window_s`` seconds per key (a sliding window), counted in the database
    (``rate_events``), so that every server process on it (``fairtrain serve --workers N``, or servers on
    several machines) counts the same attempts: a limit kept in each process's memory would allow N times
    as many. One short transaction an event, serialised per key (PostgreSQL: an advisory lock on the key;
    SQLite: the write lock its first statement takes); keys are stored as their SHA-256."""

    def __init__(self, engine: Engine, name: str, limit: int, window_s: float):
        self.engine, self.name, self.limit, self.window_s = engine, name, limit, window_s

    def hit(self, key: str) -> float:
        """Record an event; 0 if allowed, else the seconds until the next one would be."""
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self.engine.begin() as c:
            if c.dialect.name == "postgresql":
                c.execute(text("SELECT pg_advisory_xact_lock(hashtext(:k))"), {"k": f"{self.name}:{digest}"})
            now = time.time()  # read under the lock, so that events are recorded in order
            # expired events of every key go (a write first: on SQLite it takes the lock before the count)
            c.execute(delete(RateEvent).where(RateEvent.limiter == self.name, RateEvent.at <= now - self.window_s))
            mine = (RateEvent.limiter == self.name) & (RateEvent.key_hash == digest)
            n, oldest = c.execute(select(func.count(), func.min(RateEvent.at)).where(mine)).one()
            if n >= self.limit:
                return max(oldest + self.window_s - now, 0.001)
            c.execute(insert(RateEvent).values(limiter=self.name, key_hash=digest, at=now))
        return 0.0


class BodyLimit:
    """ASGI middleware refusing request bodies above ``max_bytes`` with 413, counted as they arrive (a
    missing or lying Content-Length does not get past it). The body is read before the app runs, so an
    over-long upload is refused without the app having seen a byte; uploads are held in memory, bounded
    by this limit, and never spooled to disk."""

    def __init__(self, app, max_bytes: int, streamed: frozenset[str] = frozenset(), streamed_max_bytes: int = 0):
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = streamed  # paths whose bodies the app streams to disk: counted as they pass
        self.streamed_max_bytes = streamed_max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] in SAFE_METHODS:
            return await self.app(scope, receive, send)
        if scope["path"] in self.streamed:
            return await self._streamed(scope, receive, send)
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > self.max_bytes:
                return await _too_large(send, self.max_bytes)
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            seen += len(body)
            if seen > self.max_bytes:
                return await _too_large(send, self.max_bytes)
            chunks.append(body)
            if not message.get("more_body", False):
                break
        whole = b"".join(chunks)
        sent = False

        async def replay():
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": whole, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _streamed(self, scope, receive, send):
        cap = self.streamed_max_bytes
        for k, v in scope.get("headers", ()):
            if k == b"content-length" and v.isdigit() and int(v) > cap:
                return await _too_large(send, cap)
        seen = 0

        async def counted():
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                from fairtrain.web.errors import WebError

                raise WebError(413, f"request body larger than {cap} bytes")
            return message

        await self.app(scope, counted, send)


_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; "
        b"form-action 'self'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


class SecurityHeaders:
    """Pages run only the site's own scripts and styles and cannot be framed (no inline scripts anywhere)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def with_headers(message):
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + _HEADERS
            await send(message)

        await self.app(scope, receive, with_headers)


async def _too_large(send, limit: int) -> None:
    body = f'{{"detail":"request body is larger than the {limit} byte limit"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def local_path(target: str | None) -> str | None:
    """``target`` when it is a path on this site (``/…``, as a ``next`` parameter carries it), else None:
    an absolute URL, ``//host`` or ``/\\host`` (browsers read both as another host) and control characters
    are refused, so a sign-in link cannot send anyone elsewhere (no open redirect)."""
    if not target or len(target) > 2000 or not target.startswith("/") or target[1:2] in ("/", "\\"):
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in target):
        return None
    return target
