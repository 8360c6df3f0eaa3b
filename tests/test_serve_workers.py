"""``fairtrain serve --workers 2`` (issue 17, item 5): two uvicorn worker processes on one registry answer as
one server. A write through either is read through both (the decision facts cache checks the database's
facts version), sign-in attempts are counted once for both (rate limits live in the database), an import
job started through one is followed through the other, and the serving process killed with SIGKILL leaves
no worker behind, nor their CPU pools.

Which worker answered a request is read from ``/proc``: the worker holding the server side of the
request's connection, found by the client's port in ``/proc/net/tcp``."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from fractions import Fraction
from pathlib import Path

import httpx
import pytest

from process_helpers import children, descendants
from web_helpers import PASSWORD, served, text_file

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads /proc")


def _workers(server_pid: int, n: int, seconds: float = 60) -> set[int]:
    """The serving process's uvicorn workers (its spawned children, not multiprocessing's resource tracker)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = set()
        for pid in children(server_pid):
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if b"spawn_main" in cmd:
                found.add(pid)
        if len(found) == n:
            return found
        time.sleep(0.2)
    raise AssertionError(f"expected {n} workers, found {found}")


def _owner_of(server_port: int, client_port: int, workers: set[int]) -> int:
    """The worker holding the server side of the connection from ``client_port``."""
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if int(f[1].split(":")[1], 16) == server_port and int(f[2].split(":")[1], 16) == client_port:
            inode = f[9]
    assert inode and inode != "0", f"no server socket for client port {client_port}"
    target = f"socket:[{inode}]"
    for pid in workers:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                if os.readlink(fd) == target:
                    return pid
            except OSError:
                continue
    raise AssertionError(f"no worker holds {target}")


class Conn:
    """One keep-alive HTTP/1.1 connection of its own (a fresh accept: either worker may take it)."""

    def __init__(self, base: str):
        host, port = base.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.sock = socket.create_connection((host, self.port), timeout=60)
        self.file = self.sock.makefile("rb")

    def request(self, method: str, path: str, *, headers: dict | None = None, json_body=None) -> tuple[int, dict]:
        body = json.dumps(json_body).encode() if json_body is not None else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}", "Accept: application/json"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if json_body is not None:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        status = int(self.file.readline().split()[1])
        length = 0
        while (line := self.file.readline()) not in (b"\r\n", b""):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        return status, json.loads(self.file.read(length) or b"null")

    def worker(self, workers: set[int]) -> int:
        return _owner_of(self.port, self.sock.getsockname()[1], workers)

    def close(self) -> None:
        self.file.close()
        self.sock.close()


def _through_both(base: str, workers: set[int], call, at_least: int = 2, most: int = 200) -> dict[int, list]:
    """``call(conn)`` on fresh connections until each worker has answered ``at_least`` of them; what each
    worker answered."""
    seen: dict[int, list] = {w: [] for w in workers}
    for _ in range(most):
        conn = Conn(base)
        try:
            answer = call(conn)
            seen[conn.worker(workers)].append(answer)
        finally:
            conn.close()
        if all(len(v) >= at_least for v in seen.values()):
            return seen
    raise AssertionError(f"one worker took every connection: { ({w: len(v) for w, v in seen.items()}) }")


def _sign_up(base: str, email: str, role: str, name: str) -> tuple[dict, str, str]:
    r = httpx.post(
        base + "/api/auth/signup",
        json={"email": email, "password": PASSWORD, "role": role, "name": name},
        timeout=60,
    )
    assert r.status_code == 201, r.text
    return r.json()["user"], r.cookies["ft_session"], r.json()["csrf"]


def test_a_write_through_one_worker_is_read_through_both(tmp_path, database_url):
    from fairtrain.services.registry import Registry, ShareSpec

    with served(tmp_path / "data", database_url, "--workers", "2") as server:
        workers = _workers(server.proc.pid, 2)
        user, cookie, csrf = _sign_up(server.base, "poet@example.org", "creator", "Poet")
        holder = int(user["holder"].split(":")[1])
        reg = Registry.open(url=database_url)
        work = reg.add_work(title="Harbour song", shares=[ShareSpec(holder, "author", Fraction(1))])["work"]
        reg.engine.dispose()
        decision = f"/api/works/{work}/decision?category=train-ai"

        def read(conn):
            status, body = conn.request("GET", decision)
            assert status == 200, body
            return body["value"]

        _through_both(server.base, workers, read)  # both workers' caches hold the work's facts now
        session = {"Cookie": f"ft_session={cookie}", "X-CSRF-Token": csrf}
        for value in ("allow", "deny", "licence", "allow"):
            body = {"values": {"train-ai": value}}
            if value == "licence":
                body |= {"price": "25000", "currency": "KRW"}
            writer = Conn(server.base)
            status, answer = writer.request("PUT", "/api/policy", headers=session, json_body=body)
            writer.close()
            assert status == 200, answer
            seen = _through_both(server.base, workers, read)
            for w, values in seen.items():
                assert set(values) == {value}, f"worker {w} answered {values} after {value} was declared"


def test_sign_in_attempts_are_counted_once_for_both_workers(tmp_path, database_url):
    with served(tmp_path / "data", database_url, "--workers", "2") as server:
        workers = _workers(server.proc.pid, 2)
        _sign_up(server.base, "dev@example.org", "developer", "Dev")
        answered: dict[int, list[int]] = {w: [] for w in workers}
        for _ in range(11):  # the limit is 10 attempts per address in 5 minutes, whichever worker counts
            conn = Conn(server.base)
            status, _ = conn.request(
                "POST", "/api/auth/signin", json_body={"email": "dev@example.org", "password": "wrong password!"}
            )
            answered[conn.worker(workers)].append(status)
            conn.close()
        codes = sorted(c for v in answered.values() for c in v)
        assert codes == [401] * 10 + [429], answered
        if all(answered.values()):  # both workers counted: a limit in each one's memory would allow 20
            return
        pytest.fail(f"one worker took every attempt, so the test shows nothing: {answered}")


def test_an_import_job_started_through_one_worker_is_followed_through_both(tmp_path, database_url):
    with served(tmp_path / "data", database_url, "--workers", "2") as server:
        workers = _workers(server.proc.pid, 2)
        _, cookie, csrf = _sign_up(server.base, "office@example.org", "org-admin", "KOMCA test")
        auth = {"ft_session": cookie}
        sheet = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
        sheet += "".join(f"R-{i},Repertoire work {i},,Member {i % 7}:composer:1,,,,,allow,,,,,\n" for i in range(300))
        r = httpx.post(
            f"{server.base}/api/org/upload?csrf={csrf}",
            files={"file": ("rep.csv", sheet.encode(), "text/csv")},
            cookies=auth,
            headers={"X-CSRF-Token": csrf},
            timeout=120,
        )
        assert r.status_code == 200, r.text
        r = httpx.post(
            f"{server.base}/api/org/upload/{r.json()['upload']}/store",
            cookies=auth,
            headers={"X-CSRF-Token": csrf},
            timeout=60,
        )
        assert r.status_code == 202, r.text
        job = r.json()["id"]
        session = {"Cookie": f"ft_session={cookie}"}

        def follow(conn):
            status, body = conn.request("GET", f"/api/org/jobs/{job}", headers=session)
            assert status == 200, body
            return body["status"], body["rows_done"]

        deadline = time.monotonic() + 240
        while True:
            seen = _through_both(server.base, workers, follow, at_least=1)
            states = {s for answers in seen.values() for s, _ in answers}
            assert states <= {"queued", "running", "done"}, seen
            if all(s == "done" for answers in seen.values() for s, _ in answers):
                break
            assert time.monotonic() < deadline, f"the job did not finish: {seen}"
            time.sleep(0.5)
        for answers in seen.values():
            assert answers[-1] == ("done", 300)
        # what it stored is read through both workers, as the registry itself decides it
        from fairtrain.core.vocab import Category
        from fairtrain.services.registry import Registry

        reg = Registry.open(url=database_url)
        expected = reg.decide(reg.resolve_work("R-299"), Category.TRAIN_AI).value.value
        reg.engine.dispose()
        seen = _through_both(
            server.base, workers, lambda c: c.request("GET", "/api/works/R-299/decision?category=train-ai")[1]["value"]
        )
        assert {v for answers in seen.values() for v in answers} == {expected}


def test_the_serving_process_killed_leaves_no_worker_nor_cpu_pool(tmp_path, database_url):
    with served(tmp_path / "data", database_url, "--workers", "2") as server:
        workers = _workers(server.proc.pid, 2)

        # "was my work used?" through fresh connections until each worker has fingerprinted a file in its
        # CPU pool (a fork server and its workers, started on first use)
        deadline = time.monotonic() + 180
        while not all(children(w) for w in workers):
            assert time.monotonic() < deadline, "a worker never started its CPU pool"
            r = httpx.post(
                server.base + "/api/lookup", files={"file": ("a.txt", text_file(1), "text/plain")}, timeout=120
            )
            assert r.status_code == 200, r.text
        everything = descendants(server.proc.pid)
        assert len(everything) > len(workers) + 2, everything
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in everything):
            time.sleep(0.1)
        left = {p for p in everything if Path(f"/proc/{p}").exists() and _alive(p)}
        for p in left:
            os.kill(p, signal.SIGKILL)
        assert not left, "processes outlived the killed server"


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
