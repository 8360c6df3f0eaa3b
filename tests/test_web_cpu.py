"""Fingerprinting an upload does not freeze the web server (issue 12, item 8).

A real uvicorn server on 127.0.0.1 in its own process: while a large text upload is being fingerprinted,
an unrelated ``GET /api/log`` is answered. The assertion is on ordering (the GET returns while the upload
is still in flight), not on a timing.
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

import fairtrain
from web_helpers import Session, make_app

SRC = Path(fairtrain.__file__).resolve().parents[1]  # the sources under test, for subprocesses
SERVER = """
import sys, uvicorn
from argon2 import PasswordHasher
from fairtrain.web import WebLimits, create_app
data, url, port, seconds = sys.argv[1:5]
limits = WebLimits(fingerprint_seconds=float(seconds)) if seconds != "default" else None
app = create_app(data, url, password_hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1),
                 secret_key=b"test-secret", limits=limits)
uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", access_log=False)
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path, database_url):
    procs = []

    def start(seconds: float | None = None) -> httpx.Client:
        port = _free_port()
        env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                SERVER,
                str(tmp_path / "data"),
                database_url,
                str(port),
                "default" if seconds is None else str(seconds),
            ],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        procs.append(proc)
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/api/log", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None:
                pytest.fail(f"the server did not start: {proc.stderr.read()}")
            assert time.monotonic() < deadline, "the server did not answer within 120 s"
            time.sleep(0.2)
        client = httpx.Client(base_url=base, timeout=600)
        r = client.post(
            "/api/auth/signup",
            json={"email": "kim@example.org", "password": "correct horse battery", "role": "creator", "name": "Kim"},
        )
        assert r.status_code == 201, r.text
        client.headers["X-CSRF-Token"] = r.json()["csrf"]
        return client

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _big_text(seed: int, words: int) -> bytes:
    rnd = random.Random(seed)
    vocab = [f"{w}{i}" for i, w in enumerate(["river", "stone", "light", "바람", "노래", "하늘", "garden", "길"] * 400)]
    return " ".join(rnd.choice(vocab) for _ in range(words)).encode()


def test_an_unrelated_request_is_answered_while_a_large_upload_is_fingerprinted(server):
    """The old server answered most GETs during the upload, but one waited 25 s of a 31 s upload (the
    fingerprinting held the interpreter lock). Each GET must come back while the upload is still in
    flight, and none may wait for a large part of it: the bound is a share of the upload's own duration,
    measured in the same run, not a fixed time."""
    client = server()
    data = _big_text(1, 300_000)  # about 2.6 MB: seconds of fingerprinting
    upload: dict = {}

    def send():
        upload["start"] = time.monotonic()
        upload["response"] = client.post("/api/works", files=[("files", ("novel.txt", data, "text/plain"))])
        upload["done"] = time.monotonic()

    t = threading.Thread(target=send)
    t.start()
    time.sleep(1.5)  # the body is on the server and being fingerprinted
    assert t.is_alive(), "the upload finished before the check could overlap it: make the text longer"
    answered = []  # (sent, answered) of each GET /api/log made while the upload is in flight
    with httpx.Client(base_url=str(client.base_url), timeout=600) as other:
        while t.is_alive():
            sent = time.monotonic()
            assert other.get("/api/log").status_code == 200
            answered.append((sent, time.monotonic()))
            time.sleep(0.05)
    t.join()
    r = upload["response"]
    assert r.status_code == 201 and r.json()["stored"] == 1, r.text
    during = [(s, a) for s, a in answered if a < upload["done"]]
    assert len(during) >= 3, f"only {len(during)} GETs were answered while the upload was in flight"
    longest = max(a - s for s, a in answered)
    took = upload["done"] - upload["start"]
    assert longest < took / 4, f"a GET /api/log waited {longest:.1f} s of the upload's {took:.1f} s"


def test_an_upload_over_its_time_budget_is_refused_and_the_pool_goes_on(server):
    client = server(seconds=3.0)
    r = client.post(
        "/api/works",
        files=[
            ("files", ("novel.txt", _big_text(2, 1_000_000), "text/plain")),  # ≈ 9 MB: well over 3 s anywhere
            ("files", ("poem.txt", _big_text(3, 300), "text/plain")),
        ],
    )
    assert r.status_code == 201, r.text
    big, small = r.json()["results"]
    assert not big["ok"] and "novel.txt" in big["error"] and "longer than the 3 s" in big["error"], big
    assert small["ok"] and small["created"], small
    assert client.get("/api/works").json() and [w["title"] for w in client.get("/api/works").json()] == ["poem"]


def test_uploads_over_the_size_budget_are_refused_before_any_fingerprinting(tmp_path, database_url):
    app_ = make_app(tmp_path, database_url, fingerprint_max_bytes=10_000)
    r = TestClient(app_).post("/api/lookup", files={"file": ("big.txt", _big_text(4, 3000), "text/plain")})
    assert r.status_code == 413 and "big.txt" in r.json()["detail"] and "10000 bytes" in r.json()["detail"], r.text
    creator = Session(app_, "kim@example.org", "creator", "Kim")
    r = creator.request(
        "POST",
        "/api/works",
        files=[
            ("files", ("big.txt", _big_text(4, 3000), "text/plain")),
            ("files", ("small.txt", _big_text(5, 300), "text/plain")),
        ],
    )
    big, small = r.json()["results"]
    assert not big["ok"] and "above the 10000 bytes" in big["error"] and small["ok"], r.json()
