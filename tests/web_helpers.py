"""Shared helpers of the web tests: an app on the test database, signed-in clients."""

from __future__ import annotations

import time

import httpx
from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from cli_helpers import FAIRTRAIN
from fairtrain.web import WebLimits, create_app

# Cheap argon2 parameters keep sign-ups fast in tests; the server's defaults are argon2-cffi's (RFC 9106 low-memory).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


def make_app(tmp_path, database_url, **limits):
    return create_app(
        tmp_path / "data",
        database_url,
        password_hasher=FAST_HASHER,
        secret_key=b"test-secret",
        limits=WebLimits(**limits) if limits else None,
    )


class Session:
    """A signed-in person: a TestClient with its session cookie and CSRF token."""

    def __init__(self, app, email: str, role: str, name: str):
        self.client = TestClient(app)
        r = self.client.post(
            "/api/auth/signup", json={"email": email, "password": PASSWORD, "role": role, "name": name}
        )
        assert r.status_code == 201, r.text
        self.user = r.json()["user"]
        self.csrf = r.json()["csrf"]

    def request(self, method: str, url: str, **kw):
        if method not in ("GET", "HEAD"):
            kw.setdefault("headers", {})["X-CSRF-Token"] = self.csrf
        return self.client.request(method, url, **kw)

    @property
    def holder_id(self) -> int | None:
        return int(self.user["holder"].split(":")[1]) if self.user["holder"] else None

    @property
    def org_id(self) -> int | None:
        return int(self.user["org"].split(":")[1]) if self.user["org"] else None


def text_file(seed: int) -> bytes:
    import random

    rnd = random.Random(seed)
    words = ["바람", "노래", "river", "stone", "light", "하늘", "window", "garden", "밤", "letter", "morning", "길"]
    return " ".join(rnd.choice(words) + str(rnd.randrange(1000)) for _ in range(400)).encode()


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_env(data_dir, database_url: str) -> dict:
    import os
    from pathlib import Path

    import fairtrain

    src = str(Path(fairtrain.__file__).resolve().parents[1])  # the sources under test, wherever they are
    return {
        **os.environ,
        "PYTHONPATH": src,
        "FAIRTRAIN_DATA_DIR": str(data_dir),
        "FAIRTRAIN_DATABASE_URL": database_url,
    }


def wait_until_serving(proc, url: str, seconds: float = 30) -> None:
    """Poll ``url`` until it answers 200; the server's stderr if its process ended first."""
    for _ in range(int(seconds * 10)):
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stderr.read().decode()) from None
            time.sleep(0.1)
    raise RuntimeError(f"server did not start in {seconds:g} s")


def run_cli(data_dir, database_url: str, *args: str):
    """``fairtrain ARGS…`` in its own process on the same registry, as an operator would run it."""
    import subprocess

    return subprocess.run(
        [*FAIRTRAIN, *args],
        env=cli_env(data_dir, database_url),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class served:
    """``fairtrain serve`` in a subprocess on 127.0.0.1 (a real uvicorn server); ``.base`` is its URL."""

    def __init__(self, data_dir, database_url: str, *args: str):
        self.cmd = args
        self.env = cli_env(data_dir, database_url)

    def __enter__(self):
        import subprocess

        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen(
            [*FAIRTRAIN, "serve", "--host", "127.0.0.1", "--port", str(port), *self.cmd],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        try:
            wait_until_serving(self.proc, self.base + "/")
        except RuntimeError:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.proc.terminate()
        self.proc.wait(timeout=10)
