"""Bounded HTTP fetching for the signal reader: nothing a hostile server sends can hang or flood us.

Every request has connect/read timeouts *and* a wall-clock deadline (a slow-loris server that drips a
byte a second beats read timeouts alone), a redirect limit, and a cap on *decoded* bytes. Content
encodings are decoded here with ``zlib.decompressobj(max_length=…)`` rather than by httpx, because
httpx inflates a whole network chunk at once: a 64 KiB gzip-bomb chunk becomes ~64 MiB in memory before
any cap can look at it, whereas this decoder never holds more than the cap plus one 64 KiB step.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpcore
import httpx

from fairtrain.core.signals.evidence import VERSION, Retrieval

DEFAULT_USER_AGENT = f"fairtrain/{VERSION} (+https://fairtrain.invalid/bot)"
_STEP = 64 * 1024


@dataclass(frozen=True, slots=True)
class FetchLimits:
    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    deadline: float = 20.0  # wall-clock seconds for one request, redirects and body included
    url_deadline: float = 30.0  # wall-clock seconds for everything one URL's check fetches (robots, HEAD, GET, …)
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
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    error: str | None = None
    redirects: tuple[str, ...] = ()

    @property
    def retrieval(self) -> Retrieval:
        return Retrieval.of(self.body, url=self.final_url, status=self.status, fetched_at=self.fetched_at)

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def refused_address(address: str) -> str | None:
    """Why ``address`` (an IP literal) must not be fetched from a dataset's URL, or None if it is public.

    Loopback, private, link-local (169.254.169.254 answers cloud credentials), shared, multicast, reserved
    and unspecified addresses all read as not global; an IPv4 address inside IPv6 is judged as IPv4."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_global:
        return None
    kind = (
        "a loopback"
        if ip.is_loopback
        else "a link-local"
        if ip.is_link_local
        else "a private"
        if ip.is_private
        else "not a public"
    )
    return f"{kind} address"


class _PublicOnly(httpcore.AsyncNetworkBackend):
    """Connects only to public addresses. The name is resolved here and the connection made to the very
    address that was checked, so a DNS server answering differently the second time changes nothing; a
    redirect to a private address is refused the same way, at its connection."""

    def __init__(self) -> None:
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self, host: str, port: int, timeout: float | None = None, local_address: str | None = None, socket_options=None
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError) as e:
            raise httpcore.ConnectError(f"cannot resolve {host}: {e}") from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
        for a in addresses:
            if why := refused_address(a):
                raise httpcore.ConnectError(f"refused: {host} is {a}, {why} (allow with --allow-private-urls)")
        for a in addresses[:-1]:
            try:
                return await self._inner.connect_tcp(
                    a, port, timeout=timeout, local_address=local_address, socket_options=socket_options
                )
            except httpcore.ConnectError:
                continue  # the next checked address (IPv4 after IPv6, say)
        return await self._inner.connect_tcp(
            addresses[-1], port, timeout=timeout, local_address=local_address, socket_options=socket_options
        )

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise httpcore.ConnectError("refused: not a network address")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class _PublicOnlyTransport(httpx.AsyncHTTPTransport):
    def __init__(self, *, ssl_context: ssl.SSLContext | bool, limits: httpx.Limits):
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(  # httpx has no parameter for the network backend
            ssl_context=self._pool._ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PublicOnly(),
        )


def make_client(
    *,
    user_agent: str = DEFAULT_USER_AGENT,
    limits: FetchLimits = FetchLimits(),
    max_connections: int = 100,
    ssl_context: ssl.SSLContext | None = None,
    allow_private: bool = False,
) -> httpx.AsyncClient:
    """An httpx client for :func:`fetch`. Pass one ``ssl_context`` to many clients: building one loads
    the CA bundle, about 25 ms of CPU each time. Unless ``allow_private``, it connects to public
    addresses only (:func:`refused_address`): a dataset's URLs must not reach the machine's own services."""
    verify = ssl_context if ssl_context is not None else True
    pool = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
    return httpx.AsyncClient(
        verify=verify,
        headers={"User-Agent": user_agent, "Accept-Encoding": "gzip, deflate"},
        timeout=httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout),
        follow_redirects=False,  # followed by hand below, to count hops and keep the chain as evidence
        limits=pool,
        trust_env=False,
        transport=None if allow_private else _PublicOnlyTransport(ssl_context=verify, limits=pool),
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    method: str = "GET",
    limits: FetchLimits = FetchLimits(),
    max_bytes: int | None = None,
    user_agent: str | None = None,
) -> Fetched:
    """Fetch one URL within ``limits``. Never raises for network or protocol trouble: see ``error``."""
    cap = limits.max_body_bytes if max_bytes is None else max_bytes
    chain: list[str] = []
    try:
        async with asyncio.timeout(limits.deadline):
            return await _fetch(client, url, method, limits, cap, chain, user_agent)
    except TimeoutError:
        return Fetched(
            url,
            chain[-1] if chain else url,
            method,
            None,
            error=f"timed out after {limits.deadline:g} s",
            redirects=tuple(chain),
        )


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
            return Fetched(
                url, current, method, None, error=f"{type(e).__name__}: {str(e)[:200]}", redirects=tuple(chain)
            )
        try:
            if resp.is_redirect and "location" in resp.headers:
                chain.append(current)
                current = str(resp.url.join(resp.headers["location"]))
                continue
            if method == "HEAD":
                return Fetched(url, current, method, resp.status_code, resp.headers, redirects=tuple(chain))
            body, truncated, err = await _read_body(resp, cap)
            return Fetched(
                url, current, method, resp.status_code, resp.headers, body, truncated, error=err, redirects=tuple(chain)
            )
        except (httpx.HTTPError, OSError) as e:  # a timeout is an HTTPError too
            error = (
                f"timeout while reading body ({type(e).__name__})"
                if isinstance(e, httpx.TimeoutException)
                else f"{type(e).__name__}: {str(e)[:200]}"
            )
            return Fetched(url, current, method, resp.status_code, resp.headers, error=error, redirects=tuple(chain))
        finally:
            await resp.aclose()
    return Fetched(
        url, current, method, None, error=f"more than {limits.max_redirects} redirects", redirects=tuple(chain)
    )


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
