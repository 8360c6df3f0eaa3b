"""URLs/s for check_urls, cold and warm caches, against datadiligence on the same local URLs.

A child process serves ORIGINS origins (one port each on 127.0.0.1) with a mix of signals: robots.txt
groups and AIPREF/Content-Signal lines, tdmrep.json rules, X-Robots-Tag, tdm-reservation headers and
HTML robots meta. Each checker reports URLs/s and how many URLs it found reserved (any deny/licence).
datadiligence 0.1.7's per-URL check (``is_allowed(url=…)``: X-Robots-Tag, tdm-reservation header, C2PA;
it fetches the URL once per rule, sequentially) is the baseline measured in the same run.

    .venv/bin/python benchmarks/signals_urls.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import time

JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")


def _robots(i: int) -> tuple[int, bytes]:
    k = i % 4
    if k == 0:
        return 200, b"User-agent: *\nDisallow: /private/\nContent-Usage: train-ai=n\n"
    if k == 1:
        return 200, b"User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /private/\n"
    if k == 2:
        return 404, b"no robots here"
    return 200, b"User-agent: *\nAllow: /\nDisallow: /private/\nContent-Signal: search=yes, ai-train=no\n"


def _route(i: int, path: str) -> tuple[int, list[tuple[str, str]], bytes]:
    if path == "/robots.txt":
        status, body = _robots(i)
        return status, [("Content-Type", "text/plain")], body
    if path == "/.well-known/tdmrep.json":
        if i % 5 == 0:
            return 200, [("Content-Type", "application/json")], b'[{"location": "/books/*", "tdm-reservation": 1}]'
        return 404, [], b""
    name = path.rsplit("/", 1)[-1]
    j = int("".join(c for c in name if c.isdigit()) or 0)
    if path.endswith(".html"):
        meta = b'<meta name="robots" content="noai">' if j % 10 == 0 else b""
        return (
            200,
            [("Content-Type", "text/html")],
            b"<html><head>" + meta + b"<title>t</title></head><body>x</body></html>",
        )
    if path.endswith(".jpg"):
        return 200, [("Content-Type", "image/jpeg"), ("X-Robots-Tag", "noai")], JPEG
    if path.startswith("/doc"):
        return 200, [("Content-Type", "text/plain"), ("tdm-reservation", "1")], b"doc"
    return 200, [("Content-Type", "text/plain")], b"plain"


def urls_for(origins: list[str], per_origin: int) -> list[str]:
    out = []
    for j in range(per_origin):
        for o in origins:
            k = j % 5
            path = [f"/page{j}.html", f"/img{j}.jpg", f"/doc{j}.txt", f"/books/{j}.txt", f"/private/{j}.txt"][k]
            out.append(o + path)
    return out


async def _serve(n: int, conn) -> None:
    async def handle(reader, writer, i):
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, target, _ = line.decode("latin-1").split(" ", 2)
                while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                    pass
                status, headers, body = _route(i, target.split("?")[0])
                head = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"] + [f"{k}: {v}" for k, v in headers]
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + (body if method != "HEAD" else b""))
                await writer.drain()
        except (ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    servers = []
    for i in range(n):
        srv = await asyncio.start_server(lambda r, w, i=i: handle(r, w, i), "127.0.0.1", 0, backlog=512)
        servers.append(srv)
    conn.send([s.sockets[0].getsockname()[1] for s in servers])
    await asyncio.Event().wait()


def _server_main(n: int, conn) -> None:
    asyncio.run(_serve(n, conn))


def run_ours(urls: list[str]) -> tuple[float, int, float, int]:
    from fairtrain.core.signals.check import SignalChecker
    from fairtrain.core.signals.fetch import FetchLimits

    async def go():
        # the origins are on 127.0.0.1: the checker refuses loopback addresses unless told (issue 12)
        async with SignalChecker(limits=FetchLimits(deadline=30.0), allow_private=True) as checker:
            t0 = time.perf_counter()
            cold = await checker.check_many(urls)
            t1 = time.perf_counter()
            warm = await checker.check_many(urls)
            t2 = time.perf_counter()
        return t1 - t0, sum(r.reserved for r in cold), t2 - t1, sum(r.reserved for r in warm), cold

    cold_s, cold_n, warm_s, warm_n, reports = asyncio.run(go())
    errors = sum(1 for r in reports for e in r.errors if "unreachable" in e or "timed out" in e)
    if errors:  # a failed fetch reads as "everything disallowed": the reserved counts would be nonsense
        sample = next(e for r in reports for e in r.errors)
        raise SystemExit(f"{errors} fetch errors in our run, e.g. {sample}")
    return cold_s, cold_n, warm_s, warm_n


def run_datadiligence(urls: list[str]) -> tuple[float, int]:
    import contextlib
    import io
    import logging

    with contextlib.redirect_stdout(io.StringIO()):  # it prints a warning about the missing API key
        import datadiligence as dd
    logging.getLogger().setLevel(logging.CRITICAL)  # its C2PA rule logs every non-C2PA file as an error
    t0 = time.perf_counter()
    reserved = sum(0 if dd.is_allowed(url=u) else 1 for u in urls)
    return time.perf_counter() - t0, reserved


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20 origins x 10 URLs instead of 200 x 50")
    args = ap.parse_args()
    n_origins, per_origin = (20, 10) if args.quick else (200, 50)
    parent, child = mp.Pipe()
    proc = mp.Process(target=_server_main, args=(n_origins, child), daemon=True)
    proc.start()
    try:
        ports = parent.recv()
        origins = [f"http://127.0.0.1:{p}" for p in ports]
        urls = urls_for(origins, per_origin)
        cold_s, cold_n, warm_s, warm_n = run_ours(urls)
        dd_s, dd_n = run_datadiligence(urls)
    finally:
        proc.terminate()
        proc.join(5)
    n = len(urls)
    rows = [
        ("fairtrain check_urls (cold caches)", cold_s, cold_n),
        ("fairtrain check_urls (warm caches)", warm_s, warm_n),
        ("datadiligence 0.1.7 is_allowed(url=)", dd_s, dd_n),
    ]
    print(f"{n} URLs over {n_origins} origins on 127.0.0.1 (cpus available: {os.cpu_count()})")
    print(f"{'checker':40} {'seconds':>9} {'URLs/s':>9} {'vs dd':>7} {'reserved':>9}")
    for name, secs, found in rows:
        print(f"{name:40} {secs:9.2f} {n / secs:9.0f} {dd_s / secs:6.1f}x {found:9d}")


if __name__ == "__main__":
    main()
