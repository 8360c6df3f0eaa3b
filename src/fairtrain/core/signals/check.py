"""Check URLs against every web signal: the AI developer's side of the signals.

For each URL: the origin's robots.txt (RFC 9309 fetch semantics, cached up to 24 h), its
``/.well-known/tdmrep.json`` (cached), a HEAD for the headers, a GET for HTML pages and media files
(meta tags, XMP, C2PA), and every RSL licence the channels point to (cached for its ``max-age``). All
findings become ``Statement``s in one ``Terms`` per URL, read together by
:func:`~fairtrain.core.signals.combine.combine_signals`; every failure is reported in ``errors`` and
never stops the batch. Robots.txt is honoured: a URL our token may not fetch is not fetched.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

from fairtrain.core.signals import files, tdmrep
from fairtrain.core.signals import html as html_signals
from fairtrain.core.signals import rsl as rsl_mod
from fairtrain.core.signals.combine import combine_signals, decide_signals
from fairtrain.core.signals.evidence import Retrieval, SignalError
from fairtrain.core.signals.fetch import DEFAULT_USER_AGENT, Fetched, FetchLimits, fetch, make_client
from fairtrain.core.signals.headers import read_headers, terms_from_headers
from fairtrain.core.signals.robots import MAX_BYTES as ROBOTS_MAX_BYTES
from fairtrain.core.signals.robots import RobotsTxt, product_token, terms_from_robots
from fairtrain.core.vocab import Category, Decision, Reason, Statement, Terms, Value

ROBOTS_TTL = 24 * 3600  # RFC 9309 §2.4: a cached robots.txt should not be used for more than 24 hours
TDMREP_TTL = 24 * 3600
FAILURE_TTL = 600  # an unreachable origin is retried after ten minutes, not on every URL
MAX_RSL_PER_URL = 3
_BODY_TYPES = (
    "text/html",
    "application/xhtml+xml",
    "image/",
    "audio/",
    "video/",
    "application/pdf",
    "application/epub+zip",
)


@dataclass(frozen=True, slots=True)
class SignalReport:
    url: str
    terms: Terms
    robots_allowed: bool | None  # None: not evaluated (bad URL)
    status: int | None = None  # the resource's HTTP status (None when not fetched)
    final_url: str | None = None
    media_type: str | None = None
    errors: tuple[str, ...] = ()
    retrievals: tuple[Retrieval, ...] = field(default=(), repr=False)
    set_aside: tuple[Reason, ...] = field(default=(), repr=False)  # inferred readings an explicit one beat

    def decide(self, category: Category) -> Decision:
        """The engine's decision for ``category`` from this URL's signals, with every reason."""
        d = decide_signals(category, self.terms)
        aside = tuple(r for r in self.set_aside if r.statement.category in category.lineage)
        return Decision(d.category, d.value, d.offers, d.reasons + aside) if aside else d

    def value(self, category: Category) -> Value:
        """The decided value for ``category``; ``unknown`` when nothing speaks for it."""
        return decide_signals(category, self.terms).value

    @property
    def reserved(self) -> bool:
        """True when any signal denies or reserves (licence) some use."""
        return any(s.value in (Value.DENY, Value.LICENCE) for s in self.terms.statements)


@dataclass(slots=True)
class _RobotsEntry:
    robots: RobotsTxt
    fetched: Fetched | None
    note: str | None  # how the fetch outcome was read (RFC 9309 §2.3.1)
    expires: float


class SignalChecker:
    """Reusable checker holding the per-origin caches; one per crawl."""

    def __init__(
        self,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        client: httpx.AsyncClient | None = None,
        limits: FetchLimits = FetchLimits(),
        per_host: int = 4,
        concurrency: int = 64,
        fetch_bodies: bool = True,
        read_c2pa: bool = True,
        allow_private: bool = False,
    ):
        """``allow_private`` lets the checker's own clients connect to loopback, private and link-local
        addresses, which are refused otherwise; a ``client`` passed in is used as it is."""
        self.user_agent = user_agent
        self.allow_private = allow_private
        self.token = product_token(user_agent) or user_agent
        self.limits = limits
        self.fetch_bodies = fetch_bodies
        self.read_c2pa = read_c2pa
        self._client = client
        self._own_client = client is None
        # One small pool per host when the client is ours: httpcore scans its whole pool for every
        # request, so one shared 100-connection pool spent 55% of warm-run time in that scan.
        self._clients: dict[str, httpx.AsyncClient] = {}
        self._ssl: ssl.SSLContext | None = None  # one for all of them: each new context reloads the CA bundle
        self._per_host = per_host
        self._host_sems: dict[str, asyncio.Semaphore] = {}
        self._sem = asyncio.Semaphore(concurrency)
        self._url_sem = asyncio.Semaphore(concurrency)  # URLs in progress (their deadlines running)
        self._url_host_sems: dict[str, asyncio.Semaphore] = {}
        self._robots: dict[str, _RobotsEntry] = {}
        self._tdm: dict[str, tuple[tdmrep.TdmRepFile | None, Fetched | None, str | None, float]] = {}
        self._rsl: dict[str, tuple[rsl_mod.RslDocument | None, Fetched | None, str | None, float]] = {}
        self._inflight: dict[tuple[str, str], asyncio.Task] = {}

    async def __aenter__(self) -> SignalChecker:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        tasks, self._inflight = list(self._inflight.values()), {}
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            await c.aclose()

    def _client_for(self, host: str) -> httpx.AsyncClient:
        if self._client is not None:
            return self._client
        c = self._clients.get(host)
        if c is None:
            if self._ssl is None:
                self._ssl = httpx.create_ssl_context()
            c = self._clients[host] = make_client(
                user_agent=self.user_agent,
                limits=self.limits,
                max_connections=self._per_host,
                ssl_context=self._ssl,
                allow_private=self.allow_private,
            )
        return c

    # -- public ----------------------------------------------------------------------------------
    async def check_many(self, urls: Iterable[str]) -> list[SignalReport]:
        return list(await asyncio.gather(*(self.check(u) for u in urls)))

    async def check(self, url: str) -> SignalReport:
        """Every signal for ``url``, within one overall deadline (``limits.url_deadline``): a slow site
        costs that long at most, not a deadline per fetch times the robots.txt, HEAD and GET it takes."""
        try:
            # The clock starts when the URL gets its turn: at most `concurrency` URLs, `per_host` of a host,
            # are checked at once, so a long batch for one site does not spend its deadlines queueing.
            async with self._url_sem, self._host_sem(urlsplit(url).netloc.lower(), self._url_host_sems):
                async with asyncio.timeout(self.limits.url_deadline):
                    return await self._check(url)
        except TimeoutError:
            return SignalReport(
                url,
                Terms(),
                None,
                errors=(
                    f"{url}: unreachable (no complete answer within the URL's deadline of "
                    f"{self.limits.url_deadline:g} s); nothing read",
                ),
            )
        except Exception as e:  # a bug or an unforeseen input must not sink the batch
            return SignalReport(url, Terms(), None, errors=(f"internal error: {type(e).__name__}: {e}",))

    # -- internals -------------------------------------------------------------------------------
    async def _check(self, url: str) -> SignalReport:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return SignalReport(url, Terms(), None, errors=(f"{url}: not an http(s) URL",))
        origin = f"{parts.scheme}://{parts.netloc}"
        errors: list[str] = []
        retrievals: list[Retrieval] = []

        entry = await self._robots_for(origin)
        if entry.fetched is not None:
            retrievals.append(entry.fetched.retrieval)
        if entry.note:
            errors.append(entry.note)
        r_retrieval = entry.fetched.retrieval if entry.fetched is not None else None
        terms = terms_from_robots(entry.robots, url, user_agent=self.token, retrieval=r_retrieval)
        allowed = entry.robots.allowed(url, self.token)
        rsl_urls: list[str] = list(entry.robots.license_urls(self.token))

        tdm_layers: list[tdmrep.TdmSignal | None] = []
        tdm_retrieval: Retrieval | None = None
        if entry.robots.allowed(origin + "/.well-known/tdmrep.json", self.token):
            tdm_file, tdm_fetched, tdm_err = await self._tdmrep_for(origin)
            if tdm_err:
                errors.append(tdm_err)
            if tdm_fetched is not None and tdm_fetched.status is not None:
                retrievals.append(tdm_fetched.retrieval)
            if tdm_file is not None:
                sig = tdm_file.signal(url)
                tdm_layers.append(sig)
                if sig.reservation is not None:
                    tdm_retrieval = tdm_fetched.retrieval if tdm_fetched else None

        status = final_url = media_type = None
        if allowed:
            head = await self._get(url, "HEAD")
            res = head
            if head.status in (405, 501) or head.status is None:
                res = await self._get(url, "GET")
            if res.error:
                errors.append(f"{url}: {res.error}")
            status, final_url = res.status, res.final_url
            if res.status is not None:
                retrievals.append(res.retrieval)
                hs = read_headers(res.headers, base_url=res.final_url)
                media_type = hs.media_type
                terms += terms_from_headers(hs, user_agent=self.token, retrieval=res.retrieval)
                if hs.tdm.reservation is not None or hs.tdm.policy:
                    tdm_layers.append(hs.tdm)
                    tdm_retrieval = res.retrieval
                rsl_urls.extend(hs.licenses)
                if self.fetch_bodies and res.ok and _wants_body(media_type):
                    body = res if res.method == "GET" else await self._get(url, "GET")
                    if body.error:
                        errors.append(f"{url}: {body.error}")
                    if body.truncated:
                        errors.append(f"{url}: body cut at {self.limits.max_body_bytes} bytes")
                    if body.ok and body.body:
                        retrievals.append(body.retrieval)
                        t, layer, links, more_errors = self._body_terms(url, body, media_type)
                        terms += t
                        errors.extend(more_errors)
                        if layer is not None:
                            tdm_layers.append(layer)
                            tdm_retrieval = body.retrieval
                        rsl_urls.extend(links)
        resolved = tdmrep.resolve(tdm_layers)
        terms += tdmrep.terms_from_tdmrep(resolved, retrieval=tdm_retrieval)

        for rsl_url in list(dict.fromkeys(rsl_urls))[:MAX_RSL_PER_URL]:
            doc, fetched, err = await self._rsl_for(rsl_url)
            if err:
                errors.append(err)
            if doc is not None and fetched is not None:
                retrievals.append(fetched.retrieval)
                terms += rsl_mod.terms_from_rsl(doc, url, retrieval=fetched.retrieval, channel="link")
        combined = combine_signals(terms)
        return SignalReport(
            url,
            combined.terms,
            allowed,
            status,
            final_url,
            media_type,
            tuple(errors),
            tuple(retrievals),
            combined.set_aside,
        )

    def _body_terms(self, url: str, body: Fetched, media_type: str | None):
        terms = Terms()
        errors: list[str] = []
        links: list[str] = []
        layer = None
        if media_type in ("text/html", "application/xhtml+xml"):
            hs = html_signals.read_html(body.body, base_url=body.final_url)
            terms += html_signals.terms_from_html(hs, user_agent=self.token, retrieval=body.retrieval)
            if hs.tdm.reservation is not None or hs.tdm.policy:
                layer = hs.tdm
            links.extend(hs.licenses)
            for inline in hs.inline_rsl[:MAX_RSL_PER_URL]:
                try:
                    doc = rsl_mod.RslDocument.parse(inline, item=f"{url} inline RSL")
                    terms += rsl_mod.terms_from_rsl(doc, url, retrieval=body.retrieval, channel="html-inline")
                except SignalError as e:
                    errors.append(str(e))
        else:
            fs = files.read_file(body.body, media_type=media_type, item=url, with_c2pa=self.read_c2pa)
            errors.extend(f"{url}: {e}" for e in fs.errors)
            terms += files.terms_from_file(
                files.FileSignals(fs.data_mining, fs.other_constraints, None, fs.c2pa), retrieval=body.retrieval
            )
            layer = fs.tdm
        return terms, layer, links, errors

    def _host_sem(self, host: str, sems: dict[str, asyncio.Semaphore] | None = None) -> asyncio.Semaphore:
        sems = self._host_sems if sems is None else sems
        sem = sems.get(host)
        if sem is None:
            sem = sems[host] = asyncio.Semaphore(self._per_host)
        return sem

    async def _get(self, url: str, method: str, *, max_bytes: int | None = None) -> Fetched:
        host = urlsplit(url).netloc.lower()
        async with self._sem, self._host_sem(host):
            return await fetch(
                self._client_for(host),
                url,
                method=method,
                limits=self.limits,
                max_bytes=max_bytes,
                user_agent=self.user_agent,
            )

    async def _once(self, kind: str, key: str, make):
        """Run ``make()`` once per (kind, key) even when many URLs of an origin arrive together. It runs as
        its own task, so a URL that gives up at its deadline does not cancel it for the others."""
        task = self._inflight.get((kind, key))
        if task is None:
            task = self._inflight[(kind, key)] = asyncio.ensure_future(make())

            def done(t: asyncio.Task) -> None:
                if self._inflight.get((kind, key)) is t:
                    del self._inflight[(kind, key)]
                if not t.cancelled():
                    t.exception()  # retrieved: its waiters may all have given up

            task.add_done_callback(done)
        return await asyncio.shield(task)

    async def _robots_for(self, origin: str) -> _RobotsEntry:
        cached = self._robots.get(origin)
        if cached is not None and cached.expires > time.monotonic():
            return cached

        async def make() -> _RobotsEntry:
            f = await self._get(origin + "/robots.txt", "GET", max_bytes=ROBOTS_MAX_BYTES)
            now = time.monotonic()
            where = f"{origin}/robots.txt"
            if f.ok:
                robots = RobotsTxt.parse(f.body)
                note = f"{where}: only the first {ROBOTS_MAX_BYTES} bytes parsed" if f.truncated else None
                if f.error:
                    note = f"{where}: {f.error}; the bytes read were parsed"
                entry = _RobotsEntry(robots, f, note, now + ROBOTS_TTL)
            elif f.status is not None and 400 <= f.status < 500:
                entry = _RobotsEntry(RobotsTxt(groups=()), f, None, now + ROBOTS_TTL)  # unavailable: allow all
            else:
                why = f.error or f"HTTP {f.status}"
                if f.error and "redirects" in f.error:  # RFC 9309 §2.3.1.2: may be taken as unavailable
                    entry = _RobotsEntry(
                        RobotsTxt(groups=()), f, f"{where}: {why}; treated as unavailable", now + FAILURE_TTL
                    )
                else:  # unreachable: complete disallow
                    entry = _RobotsEntry(
                        RobotsTxt.parse("User-agent: *\nDisallow: /\n"),
                        f,
                        f"{where}: unreachable ({why}); everything disallowed",
                        now + FAILURE_TTL,
                    )
            self._robots[origin] = entry
            return entry

        return await self._once("robots", origin, make)

    async def _tdmrep_for(self, origin: str):
        cached = self._tdm.get(origin)
        if cached is not None and cached[3] > time.monotonic():
            return cached[:3]

        async def make():
            url = origin + "/.well-known/tdmrep.json"
            f = await self._get(url, "GET", max_bytes=tdmrep.MAX_FILE_BYTES + 1)
            doc = err = None
            ttl = TDMREP_TTL
            if f.ok:
                try:
                    doc = tdmrep.TdmRepFile.parse(f.body, item=url)
                    if doc.errors:
                        err = f"{url}: " + "; ".join(doc.errors)
                except SignalError as e:
                    err = str(e)
            elif f.status is None or f.status >= 500:
                err, ttl = f"{url}: {f.error or f'HTTP {f.status}'}", FAILURE_TTL
            self._tdm[origin] = (doc, f, err, time.monotonic() + ttl)
            return doc, f, err

        return await self._once("tdmrep", origin, make)

    async def _rsl_for(self, url: str):
        cached = self._rsl.get(url)
        if cached is not None and cached[3] > time.monotonic():
            return cached[:3]

        async def make():
            f = await self._get(url, "GET", max_bytes=rsl_mod.MAX_BYTES + 1)
            doc = err = None
            ttl = FAILURE_TTL
            if f.ok:
                try:
                    doc = rsl_mod.RslDocument.parse(f.body, item=url)
                    ttl = min(doc.max_age_days, 30) * 86400
                except SignalError as e:
                    err = str(e)
            else:
                err = f"RSL {url}: {f.error or f'HTTP {f.status}'}"
            self._rsl[url] = (doc, f, err, time.monotonic() + ttl)
            return doc, f, err

        return await self._once("rsl", url, make)


def _wants_body(media_type: str | None) -> bool:
    return media_type is not None and media_type.startswith(_BODY_TYPES)


async def check_urls_async(
    urls: Sequence[str], *, user_agent: str = DEFAULT_USER_AGENT, client: httpx.AsyncClient | None = None, **options
) -> list[SignalReport]:
    async with SignalChecker(user_agent=user_agent, client=client, **options) as checker:
        return await checker.check_many(urls)


def check_urls(
    urls: Sequence[str], *, user_agent: str = DEFAULT_USER_AGENT, client: httpx.AsyncClient | None = None, **options
) -> list[SignalReport]:
    """Check URLs against every web signal; one report per URL, in input order."""
    return asyncio.run(check_urls_async(urls, user_agent=user_agent, client=client, **options))


def statements_by_source(report: SignalReport) -> dict[str, list[Statement]]:
    out: dict[str, list[Statement]] = {}
    for s in report.terms.statements:
        out.setdefault(s.provenance.source, []).append(s)
    return out
