"""Shared fixtures. The suite runs against SQLite by default and against PostgreSQL when
``FAIRTRAIN_TEST_POSTGRES_URL`` names a server (``make test`` starts one and runs the suite twice)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from browser_helpers import browser, server  # noqa: F401 - fixtures: Chromium, a served registry
from fairtrain.core.store.db import migrate, open_engine
from fairtrain.services.registry import Registry
from mail_helpers import smtp  # noqa: F401 - fixture: a real SMTP server

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():  # a checkout beside shared/, as in CI
    SHARED = Path(os.environ.get("FAIRTRAIN_SHARED", "../shared")).resolve()
TESTDATA = SHARED / "testdata"
PG_URL = os.environ.get("FAIRTRAIN_TEST_POSTGRES_URL")

# Property tests check properties, not the machine's speed: on a shared 2-core CI machine under load an
# example can take seconds, which Hypothesis's deadline and too-slow health check would count as a failure.
settings.register_profile("fairtrain", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fairtrain")


def pytest_report_header(config):
    return f"fairtrain database under test: {'postgresql ' + PG_URL if PG_URL else 'sqlite'}"


@pytest.fixture(autouse=True)
def _data_dir(tmp_path, monkeypatch):
    """Every test's default data directory is its own (`fairtrain init` writes the registry key there),
    never the home directory's."""
    monkeypatch.setenv("FAIRTRAIN_DATA_DIR", str(tmp_path / "fairtrain-data"))


@pytest.fixture(scope="session")
def _pg_template():
    """A migrated template database, cloned per test (CREATE DATABASE … TEMPLATE is fast)."""
    admin = create_engine(make_url(PG_URL).set(drivername="postgresql+psycopg"), isolation_level="AUTOCOMMIT")
    name = f"fairtrain_tpl_{uuid.uuid4().hex[:8]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    tpl = open_engine(str(make_url(PG_URL).set(database=name)))
    migrate(tpl)
    tpl.dispose()
    yield admin, name
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def _sqlite_template(tmp_path_factory) -> Path:
    """A migrated SQLite registry, copied per test: a file copy instead of every migration again (as
    PostgreSQL clones its template)."""
    path = tmp_path_factory.mktemp("template") / "registry.sqlite3"
    e = open_engine(f"sqlite:///{path}")
    migrate(e)
    e.dispose()
    assert not path.with_name(path.name + "-wal").exists()  # all of it is in the one file
    return path


@pytest.fixture
def database_url(tmp_path, request) -> str:
    """A fresh, migrated registry database URL for one test."""
    if not PG_URL:
        path = tmp_path / "registry.sqlite3"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    admin, template = request.getfixturevalue("_pg_template")
    name = f"fairtrain_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    yield make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def registry(database_url) -> Registry:
    reg = Registry.open(url=database_url)
    yield reg
    reg.engine.dispose()


def make_image(seed: int, fmt: str = "JPEG", size: tuple[int, int] = (480, 360)) -> bytes:
    """A photo-like test image (gradients, shapes, texture) that differs per seed."""
    import io
    import random

    from PIL import Image, ImageDraw, ImageFilter

    rnd = random.Random(seed)
    w, h = size
    img = Image.linear_gradient("L").resize(size).convert("RGB")
    img = Image.merge(
        "RGB", [c.point(lambda v, k=rnd.random(): int(v * k + 255 * (1 - k) * rnd.random())) for c in img.split()]
    )
    d = ImageDraw.Draw(img)
    for _ in range(14):
        x, y = rnd.randrange(w), rnd.randrange(h)
        r = rnd.randrange(15, max(16, w // 3))
        colour = tuple(rnd.randrange(256) for _ in range(3))
        if rnd.random() < 0.5:
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            d.rectangle((x - r, y - r // 2, x + r, y + r // 2), fill=colour)
    img = img.filter(ImageFilter.GaussianBlur(1.2))
    buf = io.BytesIO()
    img.save(buf, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
    return buf.getvalue()


@pytest.fixture
def cli(database_url, tmp_path):
    """``cli(*args, code=0)``: run the ``fairtrain`` command against this test's database and data dir."""
    from typer.testing import CliRunner

    from fairtrain.cli.app import app

    env = {"FAIRTRAIN_DATA_DIR": str(tmp_path / "data"), "FAIRTRAIN_DATABASE_URL": database_url}
    runner = CliRunner()

    def run(*args, code=0):
        r = runner.invoke(app, [str(a) for a in args], env=env)
        assert r.exit_code == code, r.output
        return r

    return run
