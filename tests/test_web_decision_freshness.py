"""A web server's cached decisions are never older than the newest committed write, whoever wrote it
(issue 12, item 1): another process (the CLI here) writes to the same database while a real server answers.
Runs on SQLite and on PostgreSQL like the rest of the suite."""

from __future__ import annotations

from fractions import Fraction

import httpx

from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.registry import Registry, ShareSpec
from web_helpers import run_cli, served


def _decision(base: str, work: int, category: str = "train-genai", **params) -> str:
    r = httpx.get(f"{base}/api/works/{work}/decision", params={"category": category, **params}, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["value"]


def test_a_decision_after_a_write_from_another_process_is_the_new_one(tmp_path, database_url):
    data = tmp_path / "data"
    reg = Registry.open(data, database_url)
    holder = reg.add_holder("Kim")
    work = reg.add_work(title="노래 1", shares=[ShareSpec(holder, "author", Fraction(1))])["work"]
    other = reg.add_work(title="노래 2", shares=[ShareSpec(holder, "author", Fraction(1))])["work"]
    reg.declare(level=Level.WORK, target_id=work, party=f"holder:{holder}", values={Category.TRAIN_GENAI: Value.ALLOW})
    reg.engine.dispose()

    with served(data, database_url) as server:
        assert _decision(server.base, work) == "allow"  # cached now
        assert _decision(server.base, other) == "deny"  # nothing declared: permission first

        def declare_work(value: str) -> None:
            done = run_cli(
                data, database_url, "declare", "--work", str(work), "--as", f"holder:{holder}", "--category", value
            )
            assert done.returncode == 0, done.stderr

        declare_work("train-genai=deny")
        assert _decision(server.base, work) == "deny"  # the old code answered "allow" until a web write

        # A catalogue declaration changes every work of the holder at once, cached or not.
        done = run_cli(data, database_url, "declare", "--holder", str(holder), "--category", "train-genai=allow")
        assert done.returncode == 0, done.stderr
        assert _decision(server.base, other) == "allow"
        assert _decision(server.base, work) == "deny"  # the work-level deny still overrides

        declare_work("train-genai=inherit")
        assert _decision(server.base, work) == "allow"


def test_two_servers_on_one_database_agree_after_either_writes(tmp_path, database_url):
    """What one server's registry writes, another server's cache sees on its next decision."""
    data = tmp_path / "data"
    reg = Registry.open(data, database_url)
    holder = reg.add_holder("Lee")
    work = reg.add_work(title="하늘", shares=[ShareSpec(holder, "author", Fraction(1))])["work"]
    reg.declare(level=Level.WORK, target_id=work, party=f"holder:{holder}", values={Category.TDM: Value.ALLOW})
    with served(data, database_url) as a, served(tmp_path / "data-b", database_url) as b:
        assert _decision(a.base, work, "tdm") == _decision(b.base, work, "tdm") == "allow"
        reg.declare(level=Level.WORK, target_id=work, party=f"holder:{holder}", values={Category.TDM: Value.DENY})
        assert _decision(a.base, work, "tdm") == _decision(b.base, work, "tdm") == "deny"
    reg.engine.dispose()


def test_the_facts_version_moves_with_every_kind_of_fact_write(registry):
    """Each write that changes decision facts bumps the version inside its own transaction."""
    from sqlalchemy import select

    from fairtrain.core.store.models import FactsVersion

    def version() -> int:
        with registry.engine.connect() as c:
            return c.execute(select(FactsVersion.version)).scalar_one()

    seen = [version()]
    h = registry.add_holder("Park")
    org = registry.add_org("KOMCA")
    assert version() == seen[-1]  # a holder or organisation alone decides nothing
    w = registry.add_work(title="길", shares=[ShareSpec(h, "author", Fraction(1))])["work"]
    seen.append(version())
    registry.add_mandate(h, org, [Category.TDM])
    seen.append(version())
    registry.declare(level=Level.WORK, target_id=w, party=f"holder:{h}", values={Category.TDM: Value.DENY})
    seen.append(version())
    assert seen == sorted(set(seen)), seen  # strictly increasing: every write above moved it


def test_the_version_reader_reconnects_after_its_connection_fails(registry):
    """The held connection is not the pool's, and a broken one is replaced on the next read."""
    v = registry._versions.read()
    registry._versions._conn.driver_connection.close()  # e.g. the database server restarted
    assert registry._versions.read() == v
    h = registry.add_holder("Yoon")
    registry.add_work(title="밤", shares=[ShareSpec(h, "author", Fraction(1))])
    assert registry._versions.read() == v + 1
