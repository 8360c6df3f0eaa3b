"""Shared fixtures. The suite runs against SQLite by default and against PostgreSQL when
``FAIRTRAIN_TEST_POSTGRES_URL`` names a server (``make test`` starts one and runs the suite twice)."""

from __future__ import annotations

import os
import shutil
import sqlite3
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from browser_helpers import browser, server  # noqa: F401 - fixtures: Chromium, a served registry
from cli_helpers import cli_runner
from fairtrain.core.store.db import migrate, open_engine
from fairtrain.services.registry import Registry
from mail_helpers import smtp  # noqa: F401 - fixture: a real SMTP server
from media_helpers import make_image  # noqa: F401 - where many tests import it from
from worlds import build_world, write_dataset

SHARED = Path(__file__).resolve().parents[2] / "shared"
if not SHARED.exists():  # a checkout beside shared/, as in CI
    SHARED = Path(os.environ.get("FAIRTRAIN_SHARED", "../shared")).resolve()
TESTDATA = SHARED / "testdata"
PG_URL = os.environ.get("FAIRTRAIN_TEST_POSTGRES_URL")

# Property tests check properties, not the machine's speed: on a shared 2-core CI machine under load an
# example can take seconds, which Hypothesis's deadline and too-slow health check would count as a failure.
settings.register_profile("fairtrain", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fairtrain")


# Modules that never touch the database under test: the browser walks and the README test serve a registry of
# their own on SQLite (``browser_helpers.data_env``, ``test_readme``), the others are fingerprints, signals, the
# decision engine's properties and the layering. The PostgreSQL pass leaves them out — they would run the same
# tests a second time on SQLite — and collection refuses the list if one of their tests asks for the database.
DATABASE_FREE = {
    "test_readme",
    "test_search_browser",
    "test_web_browser",
    "test_web_browser_cmo",
    "test_web_browser_disputes",
    "test_web_browser_reserve",
    "test_web_creator_journey_browser",
    "test_web_words_browser",
    "test_web_work_edit_browser",
    "test_fingerprint_audio",
    "test_fingerprint_image",
    "test_fingerprint_text",
    "test_iscc_fast",
    "test_signals_check",
    "test_signals_files",
    "test_signals_headers_html_rsl",
    "test_signals_render",
    "test_signals_robots",
    "test_signals_tdmrep",
    "test_merkle",
    "test_decide_properties",
    "test_layers",
}
DATABASE_FIXTURES = {"database_url", "_sqlite_template", "_pg_template"}


def pytest_report_header(config):
    return f"fairtrain database under test: {'postgresql ' + PG_URL if PG_URL else 'sqlite'}"


# How two workers share the suite (`-n 2 --dist loadgroup --no-loadscope-reorder`, the Makefile's test lines): the
# tests of a module that share a module-scoped fixture (a served registry, a generated corpus) are one group, run
# by one worker, so that the fixture is built once; every other test is scheduled on its own. Groups and tests
# that take long start first, so that no long one is left running alone at the end. The figures are `--durations`
# seconds on a loaded shared machine (module: the sum of its tests); only their order matters. A module or test
# not listed starts after these, in file order.
STARTS_FIRST = {
    "tests/test_web_words_browser.py": 415,
    "tests/test_web_browser_cmo.py": 270,
    "tests/test_web_creator_journey_browser.py": 270,
    "tests/test_web_browser.py": 215,
    "tests/test_readme.py::test_readme_shell_blocks_run_as_written": 200,
    "tests/test_web_browser_reserve.py": 125,
    "tests/test_web_browser_disputes.py": 120,
    "tests/test_search_browser.py": 115,
    "tests/test_used.py::test_record_clearance_to_a_running_server": 107,
    "tests/test_repertoire_upload.py::test_browser_cmo_uploads_a_zip_in_korean": 99,
    "tests/test_clearance.py::test_local_workers_and_the_ray_engine_write_identical_decisions": 94,
    "tests/test_used.py::test_used_page_in_korean_shows_the_three_answers": 93,
    "tests/test_web_org_office.py::test_a_sheet_over_2_mib_is_checked_and_stored_by_the_background_processes": 92,
    "tests/test_web_work_edit_browser.py": 90,
    "tests/test_video_downstream.py": 80,
    "tests/test_clearance.py::test_memory_stays_bounded_for_a_dataset_larger_than_the_process": 70,
    "tests/test_orphans.py::test_a_killed_import_leaves_no_parser_process_and_no_open_transaction": 54,
    "tests/test_purpose_clearance.py::test_clear_records_for_an_exact_copy_what_the_engine_decides": 50,
    "tests/test_orphans.py::test_killed_clearance_leaves_no_worker_processes": 34,
    "tests/test_transparency_summary.py::test_the_command_writes_every_format_in_both_languages_and_logs_it": 32,
}
GROUPED_SCOPES = {"module", "class", "package"}


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config, items):
    free = [item for item in items if item.module.__name__ in DATABASE_FREE]
    for item in free:
        if DATABASE_FIXTURES & set(item.fixturenames):
            raise pytest.UsageError(f"{item.nodeid} uses the database: take its module out of conftest.DATABASE_FREE")
    if PG_URL and free:
        config.hook.pytest_deselected(items=free)
        items[:] = [item for item in items if item.module.__name__ not in DATABASE_FREE]
    unit = {}  # item: its group (its module) or itself
    for item in items:
        defs = getattr(item, "_fixtureinfo", None)
        unit[item] = item.nodeid
        if defs and any(d.scope in GROUPED_SCOPES for fds in defs.name2fixturedefs.values() for d in fds):
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
            unit[item] = item.module.__name__
    seconds: dict[str, float] = {}
    for item in items:
        own = max(STARTS_FIRST.get(item.nodeid, 0), STARTS_FIRST.get(item.nodeid.split("::")[0], 0))
        seconds[unit[item]] = max(seconds.get(unit[item], 0), own)
    items.sort(key=lambda item: -seconds[unit[item]])  # stable: a group's tests stay together and in order


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
    url = pg_clone(admin, template)
    yield url
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


def pg_clone(admin, template: str, name: str | None = None) -> str:
    """``CREATE DATABASE name TEMPLATE template`` (a fresh name unless given); its URL."""
    name = name or f"fairtrain_t_{uuid.uuid4().hex[:10]}"
    with admin.connect() as c:
        # a template may have no other session: close what an earlier user left open
        c.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :t AND pid <> pg_backend_pid()"
            ),
            {"t": template},
        )
        c.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def copy_database(source_url: str, target_url: str, request) -> None:
    """Make the test database ``target_url`` a copy of ``source_url`` (a world built once per session):
    SQLite's online backup, or PostgreSQL's CREATE DATABASE … TEMPLATE under the same name."""
    if not PG_URL:
        with (
            sqlite3.connect(make_url(source_url).database) as src,
            sqlite3.connect(make_url(target_url).database) as dst,
        ):
            src.backup(dst)
        src.close()
        dst.close()
        return
    admin, _ = request.getfixturevalue("_pg_template")
    name = make_url(target_url).database
    with admin.connect() as c:
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    pg_clone(admin, make_url(source_url).database, name)


@pytest.fixture
def registry(database_url) -> Registry:
    reg = Registry.open(url=database_url)
    yield reg
    reg.engine.dispose()


@pytest.fixture(scope="session")
def _world_template(tmp_path_factory, request):
    """The clearance world (worlds.build_world) built once: (its folder, its database URL)."""
    tmp = tmp_path_factory.mktemp("world")
    if PG_URL:
        admin, template = request.getfixturevalue("_pg_template")
        url = pg_clone(admin, template)
    else:
        url = f"sqlite:///{tmp / 'registry.sqlite3'}"
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), tmp / "registry.sqlite3")
    build_world(cli_runner(url, tmp / "data")[0], tmp)
    yield tmp, url
    if PG_URL:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)'))


@pytest.fixture
def world(tmp_path, database_url, request):
    """``(run, env, tmp, manifest)``: this test's copy of the clearance world (a registry with four works, a
    snapshot, a licensee key under tmp/data, the registered files under tmp/works) and a dataset of local
    files listed by ``manifest``; ``run`` is the fairtrain command on it."""
    template, url = request.getfixturevalue("_world_template")
    for name in ("works", "data", "snap"):
        shutil.copytree(template / name, tmp_path / name)
    copy_database(url, database_url, request)
    run, env = cli_runner(database_url, tmp_path / "data")
    return run, env, tmp_path, write_dataset(tmp_path)


@pytest.fixture
def cli(database_url, tmp_path):
    """``cli(*args, code=0)``: run the ``fairtrain`` command against this test's database and data dir."""
    return cli_runner(database_url, tmp_path / "data")[0]
