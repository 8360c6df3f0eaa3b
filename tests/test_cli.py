"""The ``fairtrain`` command line, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from typer.testing import CliRunner

from cli_helpers import FAIRTRAIN
from conftest import make_image
from fairtrain.cli.app import app

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"


@pytest.fixture
def cli(database_url):
    runner = CliRunner()

    def run(*args: str, ok: bool = True) -> object:
        result = runner.invoke(app, ["--database-url", database_url, *args])
        if ok:
            assert result.exit_code == 0, result.output
        return result

    def js(*args: str) -> object:
        return json.loads(run(*args, "--json").stdout)

    run.json = js
    return run


def test_a_creator_and_a_cmo_from_the_command_line(cli, tmp_path):
    assert cli.json("init")["ready"]
    h = cli.json("holders", "add", "Kim Minji", "--email", "minji@example.org")
    o = cli.json("orgs", "add", "KOMCA", "--country", "KR")
    img = tmp_path / "photo.png"
    img.write_bytes(make_image(1, "PNG"))
    added = cli.json("works", "add", str(img), "--holder", f"{h['id']}:photographer")
    wid = added["works"][0]["work"]
    assert cli.json("decide", str(wid), "--category", "train-genai")["value"] == "deny"

    cli.json("declare", "--holder", str(h["id"]), "--category", "tdm=deny", "--category", "search=allow")
    cli.json(
        "declare", "--work", str(wid), "--category", "train-genai=licence", "--price", "12.50", "--currency", "EUR"
    )
    d = cli.json("decide", str(wid), "--category", "train-genai", "--licensee", "acme")
    assert d["value"] == "licence"
    assert d["offers"][0]["price"] == {"currency": "EUR", "minor": 1250, "display": "12.50 EUR"}
    assert [r["level"] for r in d["reasons"]] == ["work", "catalogue"]
    assert cli.json("decide", str(wid), "--category", "search")["value"] == "allow"
    past = cli.json("decide", str(wid), "--category", "search", "--at", "2020-01-01")
    assert past["value"] == "deny" and past["reasons"][0]["level"] == "default"

    cli.json("mandates", "add", "--holder", "Kim Minji", "--org", "KOMCA", "--category", "train-ai,ai-input")
    assert len(cli.json("mandates", "list", "--org", "KOMCA")) == 1
    shown = cli.json("works", "show", str(wid))
    assert shown["holders"][0]["role"] == "photographer" and len(shown["declarations"]) == 1
    assert o["ref"] == "org:1"
    assert [h["name"] for h in cli.json("holders", "list", "--name", "Minji")] == ["Kim Minji"]
    assert [x["name"] for x in cli.json("orgs", "list")] == ["KOMCA"]
    (listed,) = cli.json("works", "list", "--title", "photo")
    assert listed["id"] == wid and listed["media_type"] == "image" and listed["iscc"].startswith("ISCC:")


def test_import_report_and_disputes_from_the_command_line(cli, tmp_path):
    cli("orgs", "add", "KOMCA")
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "K-1,Song,,A:composer:1,T-034.524.680-1,,,,allow,,,,,\n", encoding="utf-8")
    rep = cli.json("registry", "import", str(good), "--org", "KOMCA")
    assert rep["created"] == 1 and rep["imported"]
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "K-2,Other,,B:composer:1/2,,,,,,,,,,\n", encoding="utf-8")
    r = cli("registry", "import", str(bad), "--org", "KOMCA", ok=False)
    assert r.exit_code == 1
    assert "bad.csv:2" in r.stderr and "holders" in r.stderr and "sum to 1/2" in r.stderr
    assert "nothing was imported" in r.stderr

    cli("orgs", "add", "Rival CMO")
    rival = tmp_path / "rival.csv"
    rival.write_text(HEADER + "R-1,Song,,Z:composer:1,T0345246801,,,,,,,,,\n", encoding="utf-8")
    assert cli.json("registry", "import", str(rival), "--org", "Rival CMO")["disputes"] == 1
    (d,) = cli.json("disputes", "list")
    assert d["key"] == "iswc"
    assert cli.json("disputes", "resolve", str(d["id"]), "--keep", "claim")["rejected_work"] == d["work"]
    assert cli.json("disputes", "list") == []


def test_errors_are_clear_and_exit_non_zero(database_url, tmp_path):
    env = {**os.environ, "FAIRTRAIN_DATABASE_URL": database_url}
    run = FAIRTRAIN
    r = subprocess.run([*run, "decide", "42", "--category", "train-ai"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "no work 42" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*run, "decide", "42", "--category", "training"], env=env, capture_output=True, text=True)
    assert r.returncode == 2 and "unknown usage category 'training'" in r.stderr
    empty = {**os.environ, "FAIRTRAIN_DATA_DIR": str(tmp_path / "nowhere")}
    empty.pop("FAIRTRAIN_DATABASE_URL", None)
    r = subprocess.run([*run, "decide", "1", "--category", "tdm"], env=empty, capture_output=True, text=True)
    assert r.returncode == 2 and "fairtrain init" in r.stderr
