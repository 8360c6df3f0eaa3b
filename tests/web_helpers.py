"""Shared helpers of the web tests: an app on the test database, signed-in clients."""

from __future__ import annotations

from argon2 import PasswordHasher
from fastapi.testclient import TestClient

from fairtrain.web import WebLimits, create_app

# Cheap argon2 parameters keep sign-ups fast in tests; the server's defaults are argon2-cffi's (RFC 9106 low-memory).
FAST_HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "correct horse battery"


def make_app(tmp_path, database_url, **limits):
    return create_app(tmp_path / "data", database_url, password_hasher=FAST_HASHER, secret_key=b"test-secret",
                      limits=WebLimits(**limits) if limits else None)


class Session:
    """A signed-in person: a TestClient with its session cookie and CSRF token."""

    def __init__(self, app, email: str, role: str, name: str):
        self.client = TestClient(app)
        r = self.client.post("/api/auth/signup", json={"email": email, "password": PASSWORD, "role": role,
                                                       "name": name})
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
