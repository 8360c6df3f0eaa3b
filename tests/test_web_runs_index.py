"""Who started a distribution run is kept in the database (issue 12, item 20), and the runs, statements
and summaries lists read an index instead of every run's documents or the whole log (item 21)."""

from __future__ import annotations

import json
from datetime import date

from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import event, select

from fairtrain.core.money import Money
from fairtrain.core.store.db import _alembic_config
from fairtrain.services.ledger.licensing import Licensing
from fairtrain.services.log import Entry, Log
from test_web_money import _request, _world
from web_helpers import PASSWORD, make_app


def _paid_run(w) -> int:
    """Org ``org`` (mandated by creator ``a``) licenses a's work, is paid, and runs the year's distribution."""
    assert (
        w["a"]
        .request("POST", "/api/mandates", json={"org_id": w["org"].org_id, "categories": ["train-ai"]})
        .status_code
        == 201
    )
    lid = _request(w)
    r = w["org"].request(
        "POST", f"/api/licences/{lid}/accept", json={"collective": True, "price": "80000", "currency": "KRW"}
    )
    assert r.status_code == 200, r.text
    (inv,) = w["dev"].request("GET", "/api/invoices").json()
    Licensing(w["app"].state.web.registry).record_payment(inv["id"], Money("KRW", 80000), reference="BANK-1")
    r = w["org"].request("POST", "/api/distribution/runs", json=_year(fee="10"))
    assert r.status_code == 201, r.text
    return r.json()["run"]


def _year(fee: str = "0") -> dict:
    y = date.today().year
    return {"start": f"{y}-01-01", "end": f"{y}-12-31", "fee_percent": fee, "thresholds": {}}


def test_who_started_a_run_is_in_the_database_for_every_server(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    # org_p collects nothing and represents nobody: only having started the run makes it theirs
    r = w["org_p"].request("POST", "/api/distribution/runs", json=_year())
    assert r.status_code == 201, r.text
    run = r.json()["run"]
    assert not (w["app"].state.web.data_dir / "distribution-runs-started.json").exists()
    # another server on the same database, with its own data directory (several servers, one PostgreSQL)
    elsewhere = TestClient(make_app(tmp_path / "elsewhere", database_url))
    r = elsewhere.post("/api/auth/signin", json={"email": "p@example.org", "password": PASSWORD})
    assert r.status_code == 200
    runs = elsewhere.get("/api/distribution/runs").json()
    assert [(x["id"], x["started_by"]) for x in runs] == [(run, f"org:{w['org_p'].org_id}")]
    assert elsewhere.get(f"/api/distribution/runs/{run}/recompute").json()["identical"] is True
    assert w["org"].request("GET", "/api/distribution/runs").json() == []  # not theirs


def test_the_file_kept_before_is_moved_into_the_database_once(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    from fairtrain.core.distribution import Formula, Period
    from fairtrain.services.ledger import distribution as dist

    y = date.today().year
    run = dist.run_distribution(
        w["app"].state.web.registry, Period(date(y, 1, 1), date(y, 12, 31)), Formula(fee_bp={}, thresholds={})
    )["run"]
    legacy = tmp_path / "data" / "distribution-runs-started.json"
    legacy.write_text(json.dumps({str(run): f"org:{w['org_p'].org_id}"}), encoding="utf-8")
    assert w["org_p"].request("GET", "/api/distribution/runs").json() == []
    make_app(tmp_path, database_url)  # a server starting on the data directory moves it
    assert not legacy.exists() and legacy.with_name(legacy.name + ".imported").exists()
    (listed,) = w["org_p"].request("GET", "/api/distribution/runs").json()
    assert listed["id"] == run and listed["started_by"] == f"org:{w['org_p'].org_id}"


class _Statements:
    """The SQL one block of code sends."""

    def __init__(self, engine):
        self.engine, self.sql = engine, []

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self.sql

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn, cursor, statement, params, context, executemany):
        self.sql.append(" ".join(statement.split()))


def test_runs_and_statements_lists_read_the_index_not_the_documents(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    run = _paid_run(w)
    engine = w["app"].state.web.registry.engine
    with _Statements(engine) as sql:
        runs = w["org"].request("GET", "/api/distribution/runs").json()
        statements = w["a"].request("GET", "/api/statements").json()
        assert w["org"].client.get("/money").status_code == 200
        assert w["a"].client.get("/money").status_code == 200
    reads = [s for s in sql if "distribution_runs" in s]
    assert reads and not [
        s
        for s in reads
        if "distribution_runs.inputs" in s
        or "distribution_runs.output," in s
        or s.rstrip().endswith("distribution_runs.output")
    ], reads
    (listed,) = runs
    assert listed["id"] == run and listed["lines"] == 1 and listed["holders"] == 1
    assert listed["formula"]["fee_bp"] == {f"org:{w['org'].org_id}": 1000}
    assert listed["totals"][0]["currency"] == "KRW" and listed["totals"][0]["income"] == 80000
    (st,) = statements
    assert st["run"] == run and (st["totals"][0]["gross"], st["totals"][0]["net"]) == (80000, 72000)
    assert w["b"].request("GET", "/api/statements").json() == []


def test_summaries_are_read_by_kind_newest_first_without_the_rest_of_the_log(tmp_path, database_url):
    w = _world(tmp_path, database_url)
    log = Log(w["app"].state.web.registry.engine)
    for i in range(3):
        log.append(
            [
                Entry(
                    "summary",
                    {
                        "model": f"m{i}",
                        "version": "1",
                        "provider": "Acme",
                        "format": "html",
                        "lang": "en",
                        "sha256": "ab" * 32,
                        "clearances": [],
                    },
                    subject=f"model:m{i}",
                )
            ]
        )
        log.append([Entry("declaration", {"filler": i}, subject="work:1")])
    with _Statements(log.engine) as sql:
        assert [s["model"] for s in w["public"].get("/api/summaries", params={"limit": 2}).json()] == ["m2", "m1"]
        page = w["public"].get("/summaries").text
    assert "m0" in page and "m2" in page
    reads = [s for s in sql if "FROM log_entries" in s]
    assert reads and all("log_entries.kind =" in s and "LIMIT" in s for s in reads), reads


def test_the_migration_indexes_runs_stored_before_it(tmp_path, database_url):
    """Downgrade to 0007 (dropping the index), upgrade again: the backfill finds what the service wrote."""
    w = _world(tmp_path, database_url)
    run = _paid_run(w)
    engine = w["app"].state.web.registry.engine
    from fairtrain.core.store.models import DistributionRun, DistributionRunParty

    def index():
        with engine.connect() as c:
            summary = c.execute(select(DistributionRun.summary).where(DistributionRun.id == run)).scalar_one()
            parties = {
                p.party: json.loads(p.totals) if p.totals else None
                for p in c.execute(select(DistributionRunParty.__table__))
            }
        return json.loads(summary), parties

    before = index()
    assert set(before[1]) == {f"org:{w['org'].org_id}", f"holder:{w['a'].holder_id}"}
    engine.dispose()
    cfg = _alembic_config(engine)
    command.downgrade(cfg, "0007")
    command.upgrade(cfg, "head")
    assert index() == before
