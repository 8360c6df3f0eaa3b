"""Bounded HTTP fetching for the signal reader: nothing a hostile server sends can hang or flood us.

Every request has connect/read timeouts *and* a wall-clock deadline (a slow-loris server that drips a
byte a second beats read timeouts alone), a redirect limit, and a cap on *decoded* bytes. Content
encodings are decoded here with ``zlib.decompressobj(max_length=…)`` rather than by httpx, because
httpx inflates a whole network chunk at once: a 64 KiB gzip-bomb chunk becomes ~64 MiB in memory before
any cap can look at it, whereas this decoder never holds more than the cap plus one 64 KiB step.
"""

from __future__ import annotations

import asyncio
import ssl
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone

import httpx

from fairtrain.core.signals.evidence import VERSION, Retrieval

DEFAULT_USER_AGENT = f"fairtrain/{VERSION} (+https://fairtrain.invalid/bot)"
_STEP = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 20.0  # wall-clock seconds for one request, redirects and body included
    max_redirects: int = 5  # RFC 9309 §2.3.1.2: follow at least five
    max_body_bytes: int = 10 * 1024 * 1024  # decoded bytes kept from a resource


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str  # as requested
    final_url: str
    method: str
    status: int | None  # None: no HTTP response (network error, timeout, too many redirects)
    headers: httpx.Headers = field(default_factory=httpx.Headers)
    body: bytes = b""
    truncated: bool = False  # the body went past the cap and the rest was not read
    fetched_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    error: str | None = None
    redirects: tuple[str, ...] = ()

    @property
    def retrieval(self) -> Retrieval:
        return Retrieval.of(self.body, url=self.final_url, status=self.status, fetched_at=self.fetched_at)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def make_client(*, user_agent: str = DEFAULT_USER_AGENT, limits: FetchLimits = FetchLimits(),
                max_connections: int = 100, ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    """An httpx client for :func:`fetch`. Pass one ``ssl_context`` to many clients: building one loads
    the CA bundle, about 25 ms of CPU each time."""
    return httpx.AsyncClient(
        verify=ssl_context if ssl_context is not None else True,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
        follow_redirects=False,  # followed by hand below, to count hops and keep the chain as evidence
        limits=httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections),
        trust_env=False,
    )


async def fetch(client: httpx.AsyncClient, url: str, *, method: str = "GET", limits: FetchLimits = FetchLimits(),
                max_bytes: int | None = None, user_agent: str | None = None) -> Fetched:
    """Fetch one URL within ``limits``. Never raises for network or protocol trouble: see ``error``."""
    cap = limits.max_body_bytes if max_bytes is None else max_bytes
    chain: list[str] = []
    try:
        async with asyncio.timeout(limits.deadline):
            return await _fetch(client, url, method, limits, cap, chain, user_agent)
    except TimeoutError:
        return Fetched(url, chain[-1] if chain else url, method, None,
                       error=f"timed out after {limits.deadline:g} s", redirects=tuple(chain))


async def _fetch(client, url, method, limits, cap, chain, user_agent) -> Fetched:
    current = url
    headers = {"User-Agent": user_agent} if user_agent else None
    for _hop in range(limits.max_redirects + 1):
        try:
            req = client.build_request(method, current, headers=headers)
            resp = await client.send(req, stream=True)
        except httpx.TimeoutException as e:
            return Fetched(url, current, method, None, error=f"timeout ({type(e).__name__})", redirects=tuple(chain))
        except (httpx.HTTPError, ValueError, OSError) as e:
            return Fetched(url, current, method, None, error=f"{type(e).__name__}: {str(e)[:200]}",
                           redirects=tuple(chain))
        try:
            if resp.is_redirect and "location" in resp.headers:
                chain.append(current)
                current = str(resp.url.join(resp.headers["location"]))
                continue
            if method == "HEAD":
                return Fetched(url, current, method, resp.status_code, resp.headers, redirects=tuple(chain))
            body, truncated, err = await _read_body(resp, cap)
            return Fetched(url, current, method, resp.status_code, resp.headers, body, truncated,
                           error=err, redirects=tuple(chain))
        except httpx.TimeoutException as e:
            return Fetched(url, current, method, resp.status_code, resp.headers,
                           error=f"timeout while reading body ({type(e).__name__})", redirects=tuple(chain))
        except (httpx.HTTPError, OSError) as e:
            return Fetched(url, current, method, resp.status_code, resp.headers,
                           error=f"{type(e).__name__}: {str(e)[:200]}", redirects=tuple(chain))
        finally:
            await resp.aclose()
    return Fetched(url, current, method, None, error=f"more than {limits.max_redirects} redirects",
                   redirects=tuple(chain))


async def _read_body(resp: httpx.Response, cap: int) -> tuple[bytes, bool, str | None]:
    encoding = resp.headers.get("content-encoding", "identity").strip().lower()
    if encoding in ("gzip", "x-gzip", "deflate"):
        decoder = zlib.decompressobj(47 if encoding != "deflate" else zlib.MAX_WBITS)
    elif encoding in ("identity", ""):
        decoder = None
    else:
        return b"", False, f"unsupported content-encoding {encoding!r}"
    out = bytearray()
    try:
        async for chunk in resp.aiter_raw(_STEP):
            if decoder is None:
                out += chunk
            else:
                data = chunk
                while data and len(out) <= cap:
                    out += decoder.decompress(data, _STEP)
                    data = decoder.unconsumed_tail
            if len(out) > cap:
                return bytes(out[:cap]), True, None
    except zlib.error as e:
        return bytes(out[:cap]), False, f"corrupt {encoding} body ({e})"
    return bytes(out), False, None
