"""Works addressed by id, by the organisation's work_ref (``--org`` where two organisations use one ref)
or by ISWC/ISRC/ISBN, through the registry's one resolver (issue 15, item 6); ambiguity lists candidates."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from fairtrain.cli.app import app as cli
from fairtrain.services.registry import Ambiguous, NotFound, import_csv

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


@pytest.fixture
def two_orgs(registry, tmp_path):
    ids = {}
    for name, rows in (
        (
            "KOMCA",
            ("K-1,아리랑,,김작곡:composer:1,T-034.524.680-1,,,,allow,,,,,\n7,Seven,,김작곡:composer:1,,,,,,,,,,\n"),
        ),
        ("KOSA", "K-1,Other song,,Lee:composer:1,,KRA401234567,9783161484100,,deny,,,,,\n"),
    ):
        org = registry.add_org(name)
        p = tmp_path / f"{name}.csv"
        p.write_text(HEADER + rows, encoding="utf-8")
        assert import_csv(registry, p, org_id=org).imported
        ids[name] = org
    for m in registry.mandates():  # the members consent: the organisations' terms count
        registry.confirm_mandate(m["id"], holder=m["holder"])
    return registry, ids


def test_every_address_names_one_work_and_ambiguity_lists_the_candidates(two_orgs):
    reg, orgs = two_orgs
    komca = reg.resolve_work("K-1", org="KOMCA")
    kosa = reg.resolve_work("K-1", org=orgs["KOSA"])
    assert komca != kosa
    assert reg.resolve_work(str(komca)) == reg.resolve_work(f"work:{komca}") == komca
    assert reg.resolve_work("T-034.524.680-1") == reg.resolve_work("T0345246801") == komca
    assert reg.resolve_work("KR-A40-12-34567") == reg.resolve_work("978-3-16-148410-0") == kosa
    with pytest.raises(Ambiguous) as e:
        reg.resolve_work("K-1")
    assert e.value.candidates == [
        {"id": komca, "title": "아리랑", "org": "KOMCA", "why": "work_ref"},
        {"id": kosa, "title": "Other song", "org": "KOSA", "why": "work_ref"},
    ]
    assert "KOMCA" in str(e.value) and "KOSA" in str(e.value) and "--org" in str(e.value)
    seven = reg.resolve_work("7", org="KOMCA")  # with --org, a number is that organisation's work_ref
    assert reg.work(seven)["work_ref"] == "7"
    with pytest.raises(NotFound):
        reg.resolve_work("K-404")
    with pytest.raises(NotFound):
        reg.resolve_work("K-1", org="KOSA-X")
    with pytest.raises(NotFound):
        reg.resolve_work("99999999999")


def test_the_cli_and_the_api_take_the_same_addresses(two_orgs, database_url, tmp_path):
    _reg, _orgs = two_orgs
    runner = CliRunner()
    env = {"FAIRTRAIN_DATABASE_URL": database_url}
    r = runner.invoke(cli, ["works", "show", "K-1", "--org", "KOSA", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["title"] == "Other song"
    r = runner.invoke(cli, ["decide", "T-034.524.680-1", "--category", "train-ai", "--json"], env=env)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["value"] == "allow"
    r = runner.invoke(cli, ["decide", "K-1", "--category", "train-ai"], env=env)
    assert isinstance(r.exception, Ambiguous)

    from fairtrain.web.app import create_app

    client = TestClient(create_app(data_dir=tmp_path / "web", database_url=database_url))
    d = client.get("/api/works/K-1/decision", params={"category": "train-ai", "org": "KOSA"})
    assert d.status_code == 200 and d.json()["value"] == "deny"
    amb = client.get("/api/works/K-1/decision", params={"category": "train-ai"})
    assert amb.status_code == 409 and "KOMCA" in amb.text and "KOSA" in amb.text
    assert client.get("/api/works/9783161484100/decision", params={"category": "train-ai"}).json()["value"] == "deny"
