"""Web load benchmark: 50 concurrent keep-alive clients against `fairtrain serve` on 127.0.0.1 (SQLite),
on the decision endpoint, the public title lookup, the creator's work page (`GET /works/{id}`, the HTML page
with its terms per purpose) and "was my work used?" (`POST /used`: a text file uploaded, fingerprinted in
the app's worker processes, recognised against the registry and answered as a page); p50/p99 latency and
requests/s. `/used` is rate-limited per client: the server trusts 127.0.0.1 as a reverse proxy and every
request names its own client in X-Forwarded-For, as many visitors behind one proxy would.

Target (issue 8): >= 500 requests/s on the decision endpoint with p99 <= 100 ms on SQLite. Baseline, same
run and same server: GET /robots.txt (a constant response: the HTTP stack's own ceiling), so the ratio
shows what the registry work costs on top of it. Bounded: each phase stops at --seconds or --requests.

    PYTHONPATH=src .venv/bin/python benchmarks/web_load.py [--quick] [--clients 50]

Several workers on PostgreSQL (issue 17, item 5): ``--workers 1,2`` measures `fairtrain serve --workers 1`,
then `--workers 2`, on the same registry in the same run; ``--database-url`` puts that registry on a
PostgreSQL server (a database is created there for the run and dropped after), e.g. under
``scripts/with-postgres.sh``. Beside each phase: the CPU time the server's processes (the serving process,
its workers and their CPU pools) and the database's backends spent per request, from ``/proc``, so that a
machine whose cores are shared still shows what a request costs; and, with several worker counts, each
count's throughput and CPU per request as a ratio to the first.

    scripts/with-postgres.sh sh -c 'PYTHONPATH=src nice -n 10 .venv/bin/python benchmarks/web_load.py \
        --quick --workers 1,2 --database-url "$FAIRTRAIN_TEST_POSTGRES_URL"'
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

from rich.console import Console
from rich.table import Table

from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.registry import Registry, ShareSpec

ROOT = Path(__file__).resolve().parents[1]
WORDS = ["바람", "노래", "river", "stone", "light", "하늘", "window", "garden", "밤", "letter", "morning", "길"]


def poem(i: int) -> bytes:
    rnd = random.Random(i)
    return " ".join(rnd.choice(WORDS) + str(rnd.randrange(1000)) for _ in range(120)).encode()


def seed(data_dir: Path, works: int, files: int = 20, url: str | None = None) -> list[str]:
    """A registry of ``works`` titled works over 50 holders, each catalogue with its own declaration; the
    first ``files`` of them registered from a text file (what `/used` recognises)."""
    reg = Registry.open(data_dir, url, create=True)
    rnd = random.Random(1)
    holders = [reg.add_holder(f"holder {i}", email=f"h{i}@example.org") for i in range(50)]
    titles = []
    for i in range(works):
        title = f"{rnd.choice(WORDS)} {rnd.choice(WORDS)} {i}"
        shares = [ShareSpec(holders[i % 50], "author", Fraction(1))]
        if i < files:
            reg.add_work(title=title, shares=shares, data=poem(i), file_name=f"poem-{i}.txt")
        else:
            reg.add_work(title=title, shares=shares)
        titles.append(title)
    for n, h in enumerate(holders):
        reg.declare(
            level=Level.CATALOGUE,
            target_id=h,
            party=f"holder:{h}",
            values={
                Category.TDM: Value.DENY,
                Category.SEARCH: Value.ALLOW,
                Category.TRAIN_AI: Value.ALLOW if n % 3 == 0 else Value.DENY,
            },
        )
    reg.engine.dispose()
    return titles


async def _client(
    host: str,
    port: int,
    paths: list,
    deadline: float,
    budget: list[int],
    latencies: list[float],
    errors: list[str],
) -> None:
    # A minimal HTTP/1.1 keep-alive client: httpx costs ~4x the CPU per request, and client and server
    # share the same cores here, so a heavy client would be measured instead of the server.
    reader, writer = await asyncio.open_connection(host, port)
    rnd = random.Random(id(latencies) ^ len(paths))
    try:
        while time.perf_counter() < deadline and budget[0] > 0:
            budget[0] -= 1
            path = rnd.choice(paths)
            t0 = time.perf_counter()
            if isinstance(path, tuple):  # (path, multipart body): an upload from a client of its own
                target, body = path
                forwarded = f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
                writer.write(
                    f"POST {target} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\nX-Forwarded-For: {forwarded}\r\n"
                    f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
            else:
                writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAccept: */*\r\n\r\n".encode())
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - t0)
            if not status.startswith(b"HTTP/1.1 200"):
                errors.append(status.decode().strip())
    finally:
        writer.close()


BOUNDARY = "fairtrain-bench"


def multipart(name: str, data: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'
            "Content-Type: text/plain\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


async def run_phase(host: str, port: int, paths: list, clients: int, seconds: float, requests: int) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    budget = [requests]
    t0 = time.perf_counter()
    await asyncio.gather(*(_client(host, port, paths, t0 + seconds, budget, latencies, errors) for _ in range(clients)))
    wall = time.perf_counter() - t0
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000  # noqa: E731
    return {
        "n": len(latencies),
        "rps": len(latencies) / wall,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "errors": len(errors),
        "first_error": errors[0] if errors else "",
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_TICK = os.sysconf("SC_CLK_TCK")


def _cpu_of(pid: int) -> float:
    """CPU seconds of one process and of its children it has reaped (utime, stime, cutime, cstime)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(x) for x in fields[11:15]) / _TICK


def _tree(pid: int) -> set[int]:
    """``pid`` and every process below it."""
    parents: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            parents.setdefault(ppid, []).append(int(d.name))
    found, todo = {pid}, [pid]
    while todo:
        for kid in parents.get(todo.pop(), []):
            found.add(kid)
            todo.append(kid)
    return found


class CpuMeter:
    """CPU seconds spent by the server's process tree and by the database's backend processes (PostgreSQL:
    those serving the benchmark's database, found in pg_stat_activity; SQLite runs inside the server)."""

    def __init__(self, server_pid: int, url: str | None):
        self.server_pid, self.url = server_pid, url

    def _db_pids(self) -> set[int]:
        if not self.url:
            return set()
        from sqlalchemy import create_engine, make_url, text

        u = make_url(self.url)
        engine = create_engine(u.set(drivername="postgresql+psycopg"))
        try:
            with engine.connect() as c:
                return set(
                    c.execute(
                        text("SELECT pid FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"),
                        {"d": u.database},
                    ).scalars()
                )
        finally:
            engine.dispose()

    def read(self) -> tuple[dict[int, float], dict[int, float]]:
        return (
            {p: _cpu_of(p) for p in _tree(self.server_pid)},
            {p: _cpu_of(p) for p in self._db_pids()},
        )

    @staticmethod
    def spent(before: tuple, after: tuple) -> tuple[float, float]:
        """(server, database) CPU seconds between two readings (a process new since counts from zero)."""
        return tuple(sum(v - b.get(p, 0.0) for p, v in a.items()) for b, a in zip(before, after, strict=True))


def _pg_database(server_url: str) -> tuple[str, object]:
    """A fresh database on the PostgreSQL server of ``server_url``: its URL and the admin engine that drops it."""
    import uuid

    from sqlalchemy import create_engine, make_url, text

    u = make_url(server_url).set(drivername="postgresql+psycopg")
    admin = create_engine(u, isolation_level="AUTOCOMMIT")
    name = f"fairtrain_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    return u.set(database=name).render_as_string(hide_password=False), admin


def _drop(admin, url: str) -> None:
    from sqlalchemy import make_url, text

    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))
    admin.dispose()


def _wait_serving(port: int, server: subprocess.Popen, seconds: float = 120) -> None:
    """Until GET /robots.txt answers (with several workers the socket accepts before they serve)."""
    import urllib.request

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"the server exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/robots.txt", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server did not answer in {seconds:g} s")


def measure(data: Path, url: str | None, workers: int, works: int, titles: list[str], args, seconds, requests):
    """Start `fairtrain serve --workers N` on the registry, run every phase against it, stop it."""
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "FAIRTRAIN_DATA_DIR": str(data)}
    env.pop("FAIRTRAIN_DATABASE_URL", None)
    if url:
        env["FAIRTRAIN_DATABASE_URL"] = url
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from fairtrain.cli.app import main; main()",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--trusted-proxy",
            "127.0.0.1",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_serving(port, server)
        meter = CpuMeter(server.pid, url)
        rnd = random.Random(2)
        cats = [c.value for c in Category]
        decision_paths = [
            f"/api/works/{rnd.randrange(1, works + 1)}/decision?category={rnd.choice(cats)}&licensee=acme-ai"
            for _ in range(5_000)
        ]
        lookup_paths = [f"/api/registry/search?title={t.split()[-1]}&limit=5" for t in rnd.sample(titles, 500)]
        work_paths = [f"/works/{rnd.randrange(1, works + 1)}" for _ in range(2_000)]
        # half the files are registered works (recognised: "which registered work is this?"), half not
        used_bodies = [("/used", multipart(f"poem-{i}.txt", poem(i))) for i in range(40)]
        phases = [
            ("baseline GET /robots.txt", ["/robots.txt"]),
            ("decision GET /api/works/{id}/decision", decision_paths),
            ("public lookup GET /api/registry/search", lookup_paths),
            ("work page GET /works/{id}", work_paths),
            ("was it used? POST /used (a text file)", used_bodies),
        ]
        # warm-up: the decision facts cache and the database's page cache, as in steady operation (each
        # worker fills a cache of its own: as long a warm-up as a phase, so that N workers are not measured
        # colder than one), and each worker's CPU pool, started on its first uploads (a few seconds a process)
        asyncio.run(run_phase("127.0.0.1", port, decision_paths, args.clients, seconds, requests))
        asyncio.run(run_phase("127.0.0.1", port, used_bodies, 4 * workers, 120.0, 12 * workers))
        results = {}
        for name, paths in phases:
            before = meter.read()
            r = asyncio.run(run_phase("127.0.0.1", port, paths, args.clients, seconds, requests))
            cpu_server, cpu_db = CpuMeter.spent(before, meter.read())
            r["cpu_server_ms"] = 1000 * cpu_server / max(r["n"], 1)
            r["cpu_db_ms"] = 1000 * cpu_db / max(r["n"], 1)
            results[name] = r
        return results
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small registry, short phases")
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--seconds", type=float, default=None)
    ap.add_argument("--requests", type=int, default=None)
    ap.add_argument(
        "--workers", default="1", help="worker counts to measure in turn on the same registry, e.g. 1,2 (default 1)"
    )
    ap.add_argument(
        "--database-url",
        default=None,
        help="a PostgreSQL server's URL: the registry goes in a database created there for the run (else SQLite)",
    )
    args = ap.parse_args()
    counts = [int(x) for x in args.workers.split(",")]
    works = 2_000 if args.quick else 20_000
    seconds = args.seconds or (4.0 if args.quick else 15.0)
    requests = args.requests or (5_000 if args.quick else 30_000)
    console = Console(width=150)
    url, admin = _pg_database(args.database_url) if args.database_url else (None, None)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(tmp) / "data"
            t0 = time.perf_counter()
            titles = seed(data, works, url=url)
            console.print(f"seeded {works:,} works in {time.perf_counter() - t0:.1f} s")
            runs = {n: measure(data, url, n, works, titles, args, seconds, requests) for n in counts}
    finally:
        if admin is not None:
            _drop(admin, url)
    database = "PostgreSQL" if url else "SQLite"
    for n, results in runs.items():
        base = next(iter(results.values()))["rps"]
        table = Table(
            title=f"web load: {args.clients} concurrent clients, {works:,} works, {database}, serve --workers {n} "
            f"({os.cpu_count()} cores shared with the clients)"
        )
        cols = ("endpoint", "requests", "req/s", "vs baseline", "p50 ms", "p99 ms", "CPU ms/req", "DB CPU ms/req")
        for col in (*cols, "non-200"):
            table.add_column(col, justify="left" if col == "endpoint" else "right")
        for name, r in results.items():
            table.add_row(
                name,
                f"{r['n']:,}",
                f"{r['rps']:,.0f}",
                f"{r['rps'] / base:.2f}",
                f"{r['p50']:.1f}",
                f"{r['p99']:.1f}",
                f"{r['cpu_server_ms']:.2f}",
                f"{r['cpu_db_ms']:.2f}" if url else "-",
                f"{r['errors']} {r['first_error']}".strip(),
            )
        console.print(table)
    if len(runs) > 1:
        first = counts[0]
        table = Table(title=f"each worker count against --workers {first}, same run, same registry")
        for col in ("endpoint", "workers", "req/s ratio", "p99 ratio", "CPU/req ratio (server + DB)"):
            table.add_column(col, justify="left" if col == "endpoint" else "right")
        for n in counts[1:]:
            for name, r in runs[n].items():
                b = runs[first][name]
                cpu = (r["cpu_server_ms"] + r["cpu_db_ms"]) / max(b["cpu_server_ms"] + b["cpu_db_ms"], 1e-9)
                table.add_row(name, str(n), f"{r['rps'] / b['rps']:.2f}", f"{r['p99'] / b['p99']:.2f}", f"{cpu:.2f}")
        console.print(table)
    console.print(f"load average while it ran (1, 5, 15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    d = runs[counts[0]]["decision GET /api/works/{id}/decision"]
    ok = d["rps"] >= 500 and d["p99"] <= 100
    console.print(
        f"target (decision >= 500 req/s, p99 <= 100 ms, --workers {counts[0]}): {'met' if ok else 'NOT met'} "
        f"({d['rps']:,.0f} req/s, p99 {d['p99']:.1f} ms)"
    )


if __name__ == "__main__":
    main()
