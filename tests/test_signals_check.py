"""check_urls against real HTTP servers on 127.0.0.1, hostile ones included."""

from __future__ import annotations

import asyncio
import gzip
import io
import time
import zlib

import httpx
import pytest
from PIL import Image

from fairtrain.core.signals.check import check_urls, check_urls_async
from fairtrain.core.signals.fetch import DEFAULT_USER_AGENT, FetchLimits, fetch, make_client
from fairtrain.core.vocab import Category, Value
from http_helpers import Server

FAST = FetchLimits(connect_timeout=1.0, read_timeout=1.0, deadline=2.0, max_body_bytes=1024 * 1024)


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


@pytest.fixture
def server2():
    s = Server()
    yield s
    s.close()


def _jpeg() -> bytes:
    buf = io.BytesIO()
    xmp = (
        b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        b'<rdf:Description xmlns:plus="http://ns.useplus.org/ldf/xmp/1.0/" '
        b'plus:DataMining="http://ns.useplus.org/ldf/vocab/DMI-PROHIBITED-GENAIMLTRAINING"/>'
        b"</rdf:RDF></x:xmpmeta>"
    )
    Image.new("RGB", (4, 4)).save(buf, "JPEG", xmp=xmp)
    return buf.getvalue()


RSL = b"""<rsl xmlns="https://rslstandard.org/rsl" max-age="1"><content url="/"><license>
<permits type="usage">search ai-input</permits></license></content></rsl>"""


def _site(s: Server):
    s.routes.update(
        {
            "/robots.txt": (
                200,
                {"Content-Type": "text/plain"},
                b"User-agent: *\nDisallow: /private/\nContent-Usage: train-ai=n\n"
                b"License: " + s.origin.encode() + b"/license.xml\n",
            ),
            "/.well-known/tdmrep.json": (
                200,
                {"Content-Type": "application/json"},
                b'[{"location": "/books/*", "tdm-reservation": 1, "tdm-policy": "https://x/p.json"}]',
            ),
            "/license.xml": (200, {"Content-Type": "application/rsl+xml"}, RSL),
            "/page.html": (
                200,
                {"Content-Type": "text/html; charset=utf-8", "tdm-reservation": "0"},
                b'<html><head><meta name="robots" content="noai">'
                b'<meta name="tdm-reservation" content="1"></head></html>',
            ),
            "/img.jpg": (200, {"Content-Type": "image/jpeg", "X-Robots-Tag": "noimageai"}, _jpeg()),
            "/books/1.epub": (200, {"Content-Type": "application/octet-stream"}, b"PK..."),
            "/private/x": (200, {"Content-Type": "text/plain"}, b"secret"),
        }
    )


def _values(report, source_prefix=""):
    return {(s.category, s.value) for s in report.terms.statements if s.provenance.source.startswith(source_prefix)}


def test_every_channel_is_read(server):
    _site(server)
    o = server.origin
    page, img, book, private = check_urls(
        [f"{o}/page.html", f"{o}/img.jpg", f"{o}/books/1.epub", f"{o}/private/x"], limits=FAST, allow_private=True
    )
    # robots.txt Content-Usage and the RSL licence it points to
    assert (Category.TRAIN_AI, Value.DENY) in _values(page, "robots.txt:content-usage")
    assert _values(page, "rsl") >= {
        (Category.SEARCH, Value.ALLOW),
        (Category.AI_INPUT, Value.ALLOW),
        (Category.TRAIN_AI, Value.DENY),
    }
    # TDMRep layering: header 0, then HTML meta 1 -> 1 from the HTML layer
    (tdm,) = [s for s in page.terms.statements if s.provenance.source.startswith("tdmrep")]
    assert (tdm.provenance.source, tdm.value) == ("tdmrep:html-meta", Value.DENY)
    assert (Category.TRAIN_AI, Value.DENY) in _values(page, "html:meta-robots")
    assert page.status == 200 and page.media_type == "text/html" and page.robots_allowed
    # the image: header noimageai and XMP plus:DataMining in its bytes
    assert (Category.TRAIN_AI, Value.DENY) in _values(img, "http:x-robots-tag")
    assert (Category.TRAIN_GENAI, Value.DENY) in _values(img, "xmp:plus")
    # tdmrep.json first-match rule with a policy: licence
    (tdm,) = [s for s in book.terms.statements if s.provenance.source.startswith("tdmrep")]
    assert (tdm.provenance.source, tdm.value) == ("tdmrep:tdmrep.json", Value.LICENCE)
    assert book.value(Category.TDM) is Value.LICENCE and book.value(Category.TRAIN_AI) is Value.DENY
    # robots.txt disallows /private/ for everyone: reported, and never fetched
    assert private.robots_allowed is False and private.value(Category.TDM) is Value.DENY
    assert server.hits[("GET", "/private/x")] == 0 and server.hits[("HEAD", "/private/x")] == 0
    # evidence
    ev = page.terms.statements[0].provenance.evidence
    assert ev["url"] == f"{o}/robots.txt" and ev["status"] == 200 and len(ev["sha256"]) == 64
    assert server.agents == {DEFAULT_USER_AGENT}


def test_caches_and_head_before_get(server):
    _site(server)
    server.routes["/plain.txt"] = (200, {"Content-Type": "text/plain", "X-Robots-Tag": "noai"}, b"x" * 1000)
    urls = [f"{server.origin}/plain.txt?{i}" for i in range(20)] + [f"{server.origin}/page.html"] * 3
    reports = check_urls(urls, limits=FAST, allow_private=True)
    assert all((Category.TRAIN_AI, Value.DENY) in _values(r) for r in reports)
    assert server.hits[("GET", "/robots.txt")] == 1
    assert server.hits[("GET", "/.well-known/tdmrep.json")] == 1
    assert server.hits[("GET", "/license.xml")] == 1
    assert server.hits[("HEAD", "/plain.txt")] == 20
    assert server.hits[("GET", "/plain.txt")] == 0  # headers were enough: no body for text/plain
    assert server.hits[("HEAD", "/page.html")] == 3 and server.hits[("GET", "/page.html")] == 3


def test_robots_fetch_semantics(server, server2):
    # 4xx: allow all; 5xx: disallow all
    server.routes["/a"] = (200, {"Content-Type": "text/plain"}, b"a")
    (r,) = check_urls([f"{server.origin}/a"], limits=FAST, allow_private=True)
    assert r.robots_allowed and r.status == 200
    server2.routes["/robots.txt"] = (503, {}, b"busy")
    server2.routes["/a"] = (200, {"Content-Type": "text/plain"}, b"a")
    (r,) = check_urls([f"{server2.origin}/a"], limits=FAST, allow_private=True)
    assert r.robots_allowed is False and r.value(Category.TDM) is Value.DENY
    assert server2.hits[("HEAD", "/a")] == 0 and any("unreachable" in e for e in r.errors)


def test_robots_redirect_across_hosts_applies_to_initial_origin(server, server2):
    server.routes["/robots.txt"] = (301, {"Location": f"{server2.origin}/shared-robots.txt"}, b"")
    server2.routes["/shared-robots.txt"] = (200, {}, b"User-agent: fairtrain\nDisallow: /\n")
    (r,) = check_urls([f"{server.origin}/x"], limits=FAST, allow_private=True)
    assert r.robots_allowed is False


class _closed_origin:
    def __enter__(self):
        s = Server()
        origin = s.origin
        s.close()
        return origin

    def __exit__(self, *a):
        return False


def test_connection_refused_means_disallow_all():
    with _closed_origin() as origin:
        (r,) = check_urls([f"{origin}/x"], limits=FAST, allow_private=True)
    assert r.robots_allowed is False and r.errors


def _slowloris(handler, method):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(100):
        if handler.server_stop.is_set():
            return
        handler.wfile.write(b"#")
        handler.wfile.flush()
        time.sleep(0.1)


def _huge_robots(handler, method):
    handler.send_response(200)
    handler.send_header("Content-Type", "text/plain")
    handler.send_header("Content-Length", str(10 * 1024 * 1024))
    handler.end_headers()
    line = b"User-agent: *\nDisallow: /secret\n" + b"# padding padding padding padding padding\n" * 24
    sent = 0
    while sent < 10 * 1024 * 1024:
        handler.wfile.write(line)
        sent += len(line)


def _gzip_bomb() -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b"\0" * (1024 * 1024)
    return b"".join([c.compress(chunk) for _ in range(64)] + [c.flush()])  # 64 MiB of zeros


def _redirect_loop(handler, method):
    n = int(handler.path.rsplit("/", 1)[-1] or 0)
    handler.send_response(302)
    handler.send_header("Location", f"/loop/{n + 1}")
    handler.send_header("Content-Length", "0")
    handler.end_headers()


def test_hostile_servers_are_bounded_and_reported(server):
    stop = server.stop
    server.routes.update(
        {
            "/robots.txt": _huge_robots,
            "/.well-known/tdmrep.json": (200, {"Content-Type": "application/json"}, b'[{"location": "/", '),
            "/slow": lambda h, m: (setattr(h, "server_stop", stop), _slowloris(h, m)),
            "/bomb.html": (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, _gzip_bomb()),
            "/loop/0": _redirect_loop,
            "/bad-license": (
                200,
                {"Content-Type": "text/html", "Link": '</rsl-bomb.xml>; rel="license"'},
                b"<html></html>",
            ),
            "/rsl-bomb.xml": (
                200,
                {},
                b'<!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                b'<rsl xmlns="https://rslstandard.org/rsl"><content url="&b;"/></rsl>',
            ),
        }
    )
    server.routes.update({f"/loop/{i}": _redirect_loop for i in range(1, 50)})
    o = server.origin
    started = time.monotonic()
    secret, slow, bomb, loop, lic = check_urls(
        [f"{o}/secret", f"{o}/slow", f"{o}/bomb.html", f"{o}/loop/0", f"{o}/bad-license"],
        limits=FAST,
        allow_private=True,
    )
    elapsed = time.monotonic() - started
    assert elapsed < 15  # generous: the point is that nothing hangs
    # 10 MB robots.txt: the first 500 KiB are parsed and used
    assert secret.robots_allowed is False
    assert any("only the first" in e for e in secret.errors)
    assert any("tdmrep.json" in e and "JSON" in e for e in secret.errors)
    # slow-loris: the GET is cut by the wall-clock deadline... (text/plain: HEAD only, so fetch directly)
    assert slow.status == 200

    async def get_slow():
        async with make_client(limits=FAST, allow_private=True) as c:
            return await fetch(c, f"{o}/slow", limits=FAST)

    f = asyncio.run(get_slow())
    assert f.error and "timed out" in f.error
    # gzip bomb: decoded bytes capped
    assert any("body cut at" in e for e in bomb.errors)
    # endless redirects
    assert loop.status is None and any("redirects" in e for e in loop.errors)
    # XML bomb behind a Link header: refused and reported
    assert any("unsafe XML" in e for e in lic.errors)
    assert not [s for s in lic.terms.statements if s.provenance.source.startswith("rsl")]


def test_bad_urls_and_async_api_with_given_client(server):
    _site(server)

    async def run():
        async with httpx.AsyncClient() as client:
            return await check_urls_async(
                ["ftp://x/y", "not a url", f"{server.origin}/page.html"], client=client, limits=FAST
            )

    bad1, bad2, ok = asyncio.run(run())
    assert bad1.errors and bad1.robots_allowed is None and bad2.errors
    assert ok.status == 200
    assert server.agents == {DEFAULT_USER_AGENT}  # our UA even on the caller's client


def test_gzip_body_is_decoded(server):
    html = b'<html><head><meta name="robots" content="noai"></head></html>'
    server.routes["/z.html"] = (200, {"Content-Type": "text/html", "Content-Encoding": "gzip"}, gzip.compress(html))
    (r,) = check_urls([f"{server.origin}/z.html"], limits=FAST, allow_private=True)
    assert (Category.TRAIN_AI, Value.DENY) in _values(r, "html")
