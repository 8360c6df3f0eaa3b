"""`fairtrain demo` plays the whole story on an empty data directory, as `make demo` does on a fresh machine:
repertoire ZIP with a CP949 sheet, creators, a clearance of a few hundred items, licences accepted and
declined, payment, re-clearance, usage, distribution with statements, the log, and lookups yes/no/unknown.
Run as a subprocess with --json, then checked against the registry and the files it left."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cli_helpers import FAIRTRAIN
from fairtrain.services.ledger.licensing import Licensing
from fairtrain.services.log import Log
from fairtrain.services.registry import Registry
from fairtrain.web.accounts import Accounts

SRC = Path(__file__).resolve().parents[1] / "src"


def _demo(data_dir: Path, database_url: str, code: int = 0) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "FAIRTRAIN_DATABASE_URL": database_url,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    r = subprocess.run(
        [*FAIRTRAIN, "--data-dir", str(data_dir), "demo", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == code, r.stdout + r.stderr
    return r


@pytest.fixture(scope="module")
def played(tmp_path_factory):
    """One demo run for the module (it takes a while); the database is the suite's kind."""
    from conftest import PG_URL

    tmp = tmp_path_factory.mktemp("demo")
    if PG_URL:
        import uuid

        from sqlalchemy import create_engine, make_url, text

        name = f"fairtrain_demo_{uuid.uuid4().hex[:10]}"
        admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{tmp / 'registry.sqlite3'}"
    story = json.loads(_demo(tmp / "data", url).stdout)
    yield tmp / "data", url, story
    if PG_URL:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def test_the_demo_tells_every_step_of_the_story(played):
    data_dir, url, s = played
    assert s["reused"] is False
    # The CMO's repertoire ZIP: a CP949 sheet with texts, images and songs, every row stored.
    assert s["repertoire"]["works"] == 24 and "CP949" in s["repertoire"]["encoding"]
    assert s["creators"] == {"accounts": 2, "works": 8}
    # A dataset of a few hundred items: copies, edited copies and unrelated items; every kind of decision.
    d = s["dataset"]
    assert d["items"] >= 250 and min(d["exact"], d["edited"], d["unrelated"]) > 0
    first = s["clearance_1"]["by_decision"]
    assert first["unknown"] >= d["unrelated"]  # unrelated items are nobody's registered work
    assert all(first.get(k, 0) > 0 for k in ("allow", "deny", "licence", "unknown"))
    # Licences: the CMO's and a creator's accepted and paid, the other creator's declined; the re-clearance
    # passes more items.
    lic = s["licences"]
    assert (lic["requested"], lic["accepted"], lic["declined"], lic["payments"]) == (3, 2, 1, ["paid", "paid"])
    assert s["clearance_2"]["passed"] > s["clearance_1"]["passed"]
    assert s["clearance_2"]["by_decision"].get("licence", 0) < first["licence"]
    # Distribution with statements; the clearance published; lookups answer all three ways.
    assert s["distribution"]["lines"] > 0 and s["distribution"]["statements"] > 0
    assert s["lookups"] == {"licensed work": "yes", "declined work": "no", "unregistered file": "unknown"}
    # Use first, pay later: past use of three repertoire works licensed retroactively with the surcharge, paid.
    assert s["retroactive"]["works"] == 3 and s["retroactive"]["surcharge_percent"] == 50
    assert s["retroactive"]["payment"] == "paid"

    reg = Registry.open(data_dir, url)
    try:
        lic = Licensing(reg)
        mine = lic.list(licensee=s["licensee"])
        assert sorted(x["status"] for x in mine) == ["declined", "granted", "granted", "granted"]
        assert [x["retroactive"] for x in mine].count(True) == 1
        assert [i["status"] for i in lic.invoices(licensee=s["licensee"])] == ["paid"] * 3
        assert len(lic.usage_reports(licensee=s["licensee"])) == 1
        kinds = [e["kind"] for e in Log(reg.engine).entries()]
        assert "clearance" in kinds and "distribution" in kinds and kinds[s["summary"]["log_index"]] != "clearance"
        accounts = Accounts(reg.engine)
        for a in s["accounts"]:  # each printed account signs in with the printed password
            acc = accounts.authenticate(a["email"], s["password"])
            assert acc.role == a["role"]
            assert acc.holder_id if a["role"] == "creator" else acc.org_id if a["role"] == "org-admin" else acc.id
    finally:
        reg.engine.dispose()
    demo, clears = data_dir / "demo", data_dir / "clearances"  # clearances and snapshots where the web app looks
    assert sorted(p.name for p in (data_dir / "snapshots").iterdir()) == ["snapshot-1", "snapshot-2"]
    rows = pq.read_table(clears / "clearance-2" / "decisions.parquet").to_pylist()
    assert len(rows) == d["items"]
    assert len(list((demo / "statements").glob("*.html"))) == s["distribution"]["statements"]
    assert (clears / "clearance-1" / "report.html").exists() and (demo / "summary.html").exists()


def test_a_second_run_reuses_the_finished_demo(played):
    data_dir, url, s = played
    again = json.loads(_demo(data_dir, url).stdout)
    assert again["reused"] is True
    assert {k: v for k, v in again.items() if k != "reused"} == {k: v for k, v in s.items() if k != "reused"}


def test_a_directory_holding_other_data_is_refused(tmp_path, database_url):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.txt").write_text("not a demo")
    r = _demo(tmp_path / "data", database_url, code=2)
    assert "not a finished demo" in r.stdout + r.stderr
    assert (tmp_path / "data" / "mine.txt").read_text() == "not a demo"
