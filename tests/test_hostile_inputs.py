"""Hostile input to the registry, the money path and the product's CSV files (issue 12, items 11–14 and 19).

Each bad value gets a clear error naming the item, the field and the reason; nothing of it is stored; a
batch (an import with --skip-invalid) goes on with the rest. Values that used to hang the process are run
in a subprocess with a deadline, so that the old behaviour is a failure, not a stuck suite.
"""

from __future__ import annotations

import csv
import io
import json
import os
import resource
import subprocess
from datetime import date, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, insert, select
from typer.testing import CliRunner

import fairtrain
from cli_helpers import FAIRTRAIN
from fairtrain.cli.app import app
from fairtrain.core.money import Money
from fairtrain.core.store.models import Holder, Invoice, Licence, LicensedWork, Organisation, Work
from fairtrain.core.vocab import Category
from fairtrain.services.ledger.distribution import statement_csv
from fairtrain.services.ledger.licensing import Licensing
from fairtrain.services.registry import RegistryError, ShareSpec, import_csv
from fairtrain.services.transparency.lookup import write_repertoire_csv
from web_helpers import Session, make_app

HEADER = "work_ref,title,file,holders,iswc,isrc,isbn,tdm,train-ai,train-genai,ai-input,search,price,currency\n"
SRC = Path(fairtrain.__file__).resolve().parents[1]  # the sources under test, for subprocesses


def _cli_subprocess(database_url: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """The real ``fairtrain`` command in its own process, with a deadline and a 2 GiB address-space cap
    (the old code read /dev/zero until memory ran out)."""
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}", "COLUMNS": "200"}

    def cap():
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))

    try:
        return subprocess.run(
            [*FAIRTRAIN, "--database-url", database_url, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            preexec_fn=cap,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`fairtrain {' '.join(args)}` still ran after {timeout} s")


@pytest.fixture
def org(registry) -> int:
    return registry.add_org("KOMCA", country="KR")


def _works(registry) -> list[str]:
    with registry.engine.connect() as c:
        return sorted(c.execute(select(Work.work_ref)).scalars())


# -- item 11: the CSV file column stays inside its folder ---------------------------------------------


def test_the_file_column_reads_only_regular_files_inside_the_sheets_folder(registry, org, tmp_path):
    sheet_dir = tmp_path / "sheet"
    sheet_dir.mkdir()
    (sheet_dir / "poem.txt").write_text("a poem that belongs to this repertoire " * 20, encoding="utf-8")
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the repertoire " * 20, encoding="utf-8")
    (sheet_dir / "link.txt").symlink_to(outside)
    sheet = sheet_dir / "rep.csv"
    sheet.write_text(
        HEADER + "OK-1,Poem,poem.txt,Kim:author:1,,,,,,,,,,\n"
        "BAD-1,Host,/etc/hostname,Kim:author:1,,,,,,,,,,\n"
        "BAD-2,Up,../secret.txt,Kim:author:1,,,,,,,,,,\n"
        "BAD-3,Link,link.txt,Kim:author:1,,,,,,,,,,\n",
        encoding="utf-8",
    )
    report = import_csv(registry, sheet, org_id=org, skip_invalid=True)
    assert report.imported and report.created == 1 and report.invalid == 3
    assert [(e.line, e.column) for e in report.errors] == [(3, "file"), (4, "file"), (5, "file")]
    assert all("outside the files folder" in e.reason for e in report.errors), report.errors
    assert _works(registry) == ["OK-1"]

    # an explicit files root: the same files are read from there, and only from there
    other = tmp_path / "files"
    other.mkdir()
    (other / "poem.txt").write_text("another poem, kept in its own folder " * 20, encoding="utf-8")
    sheet2 = sheet_dir / "rep2.csv"
    sheet2.write_text(
        HEADER + "OK-2,Poem two,poem.txt,Kim:author:1,,,,,,,,,,\nBAD-4,Back,../sheet/poem.txt,Kim:author:1,,,,,,,,,,\n",
        encoding="utf-8",
    )
    report = import_csv(registry, sheet2, org_id=org, skip_invalid=True, files_root=other)
    assert report.created == 1 and [(e.line, e.column) for e in report.errors] == [(3, "file")]
    assert _works(registry) == ["OK-1", "OK-2"]


def test_devices_and_fifos_in_the_file_column_are_refused_without_reading(database_url, registry, org, tmp_path):
    """/dev/zero was read until MemoryError, and a FIFO blocked the import for ever."""
    sheet_dir = tmp_path / "sheet"
    sheet_dir.mkdir()
    os.mkfifo(sheet_dir / "pipe.txt")
    (sheet_dir / "poem.txt").write_text("a poem that belongs to this repertoire " * 20, encoding="utf-8")
    sheet = sheet_dir / "rep.csv"
    sheet.write_text(
        HEADER  # the files root is / here, so that /dev/zero is inside it and refused by type
        + "Z-1,Zero,/dev/zero,Kim:author:1,,,,,,,,,,\n"
        f"P-1,Pipe,{sheet_dir / 'pipe.txt'},Kim:author:1,,,,,,,,,,\n"
        f"OK-1,Poem,{sheet_dir / 'poem.txt'},Kim:author:1,,,,,,,,,,\n",
        encoding="utf-8",
    )
    r = _cli_subprocess(
        database_url,
        "registry",
        "import",
        str(sheet),
        "--org",
        "KOMCA",
        "--skip-invalid",
        "--json",
        "--files-root",
        "/",
        timeout=90,
    )
    assert "Traceback" not in r.stderr, r.stderr
    report = json.loads(r.stdout)
    assert report["imported"] and report["created"] == 1
    assert [(e["line"], e["column"]) for e in report["errors"]] == [(2, "file"), (3, "file")]
    assert all("not a regular file" in e["reason"] for e in report["errors"]), report["errors"]
    assert _works(registry) == ["OK-1"]


# -- item 12: numbers ---------------------------------------------------------------------------------


def test_numbers_out_of_bounds_are_refused_at_once_on_the_command_line(database_url, registry, org, tmp_path):
    """A share of 1e-999999999 ran for minutes (``works add --holder`` and the CSV import), a price or a
    threshold of 1e999999999 too; a fee of ``abc`` was a traceback; 12.345 % was cut to 1234 bp."""
    kim = registry.add_holder("Kim")
    registry.add_mandate(kim, org, list(Category))
    f = tmp_path / "poem.txt"
    f.write_text("a poem of some length to fingerprint " * 20, encoding="utf-8")
    wid = registry.add_work(title="Poem", shares=[ShareSpec(kim, "author", 1)])["work"]
    year = date.today().year
    period = f"{year}-01-01..{year}-12-31"
    cases = [
        (("works", "add", str(f), "--holder", "Kim:author:1e-999999999"), "out of range"),
        (
            (
                "declare",
                "--work",
                str(wid),
                "--category",
                "train-genai=licence",
                "--price",
                "1e999999999",
                "--currency",
                "KRW",
            ),
            "price '1e999999999' is not an amount",  # the words of the policy form, which fairtrain declare shares
        ),
        (
            (
                "declare",
                "--work",
                str(wid),
                "--category",
                "train-genai=licence",
                "--price",
                "1e26",
                "--currency",
                "KRW",
            ),
            "price '1e26' is not an amount",
        ),
        (("distribute", "--period", period, "--fee", "KOMCA=10", "--threshold", "KRW=1e999999999"), "out of range"),
        (("distribute", "--period", period, "--fee", "KOMCA=abc"), "not a percentage"),
        (("distribute", "--period", period, "--fee", "KOMCA=NaN"), "not a percentage"),
        (("distribute", "--period", period, "--fee", "KOMCA=12.345"), "basis points"),
    ]
    for args, reason in cases:
        r = _cli_subprocess(database_url, *args)
        assert r.returncode == 2 and "Traceback" not in r.stderr, (args, r.stderr)
        assert reason in " ".join(r.stderr.split()), (args, r.stderr)
    sheet = tmp_path / "rep.csv"
    sheet.write_text(
        HEADER + "S-1,Tiny,,Kim:author:1e-999999999,,,,,,,,,,\nS-2,Fine,,Kim:author:1,,,,,,,,,,\n", encoding="utf-8"
    )
    r = _cli_subprocess(database_url, "registry", "import", str(sheet), "--org", "KOMCA", "--skip-invalid", "--json")
    report = json.loads(r.stdout)
    assert report["created"] == 1 and [(e["line"], e["column"]) for e in report["errors"]] == [(2, "holders")]
    assert "out of range" in report["errors"][0]["reason"]
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Work)).scalar() == 2  # Poem and S-2: nothing else
    assert registry.declarations(f"work:{wid}") == []


def test_numbers_out_of_bounds_are_400s_on_the_web(tmp_path, database_url):
    app_ = make_app(tmp_path, database_url)
    creator = Session(app_, "kim@example.org", "creator", "Kim")
    org = Session(app_, "admin@komca.example", "org-admin", "KOMCA")
    work = creator.request("POST", "/api/works", files=[("files", ("poem.txt", b"a poem " * 200, "text/plain"))])
    assert work.status_code == 201, work.text
    wid = work.json()["results"][0]["work"]
    for price in ("1e26", "NaN", "100000000000000000000"):
        r = creator.request(
            "PUT",
            f"/api/works/{wid}/policy",
            json={"values": {"train-genai": "licence"}, "price": price, "currency": "KRW"},
        )
        assert r.status_code == 422 and f"price '{price}'" in r.json()["detail"], (price, r.text)
    assert app_.state.web.registry.declarations(f"work:{wid}") == []
    year = date.today().year
    body = {"start": f"{year}-01-01", "end": f"{year}-12-31", "thresholds": {"KRW": "1000"}}
    for fee, reason in (("NaN", "not a percentage"), ("12.345", "basis points"), ("abc", "not a percentage")):
        r = org.request("POST", "/api/distribution/runs", json={**body, "fee_percent": fee})
        assert r.status_code == 400 and reason in r.json()["detail"], (fee, r.text)
    r = org.request("POST", "/api/distribution/runs", json={**body, "fee_percent": "10", "thresholds": {"KRW": "1e30"}})
    assert r.status_code == 400 and "threshold" in r.json()["detail"], r.text
    assert org.request("GET", "/api/distribution/runs").json() == []


def test_the_command_line_and_the_web_follow_one_fee_rule(tmp_path, database_url):
    """The web took other organisations' fees from earlier runs; the CLI refused a run that did not name
    every organisation's fee. Both now ask the ledger service: given fees, else each one's latest."""
    app_ = make_app(tmp_path, database_url)
    admin = Session(app_, "admin@komca.example", "org-admin", "KOMCA")
    reg = app_.state.web.registry
    other = reg.add_org("STIM", country="SE")
    a, b = reg.add_holder("Kim"), reg.add_holder("Svensson")
    reg.add_mandate(a, admin.org_id, list(Category), valid_from=datetime.now().astimezone() - timedelta(days=1))
    reg.add_mandate(b, other, list(Category), valid_from=datetime.now().astimezone() - timedelta(days=1))
    wid = reg.add_work(
        title="Duet", shares=[ShareSpec(a, "composer", Fraction(1, 2)), ShareSpec(b, "lyricist", Fraction(1, 2))]
    )["work"]
    now = datetime.now().astimezone()
    with reg.engine.begin() as c:
        lid = c.execute(
            insert(Licence)
            .values(
                licensee="acme",
                grantor=f"org:{admin.org_id}",
                status="granted",
                categories="train-genai",
                valid_from=now,
                price_model="per-work",
                price_minor=100_000,
                currency="KRW",
                request="{}",
            )
            .returning(Licence.id)
        ).scalar_one()
        c.execute(insert(LicensedWork).values(licence_id=lid, work_id=wid))
        inv = c.execute(
            insert(Invoice)
            .values(licence_id=lid, amount_minor=100_000, currency="KRW", status="open")
            .returning(Invoice.id)
        ).scalar_one()
    Licensing(reg).record_payment(inv, Money("KRW", 100_000), reference="BANK-1")
    year = date.today().year
    runner = CliRunner()

    def cli(*args: str):
        return runner.invoke(
            app,
            ["--database-url", database_url, "distribute", "--period", f"{year}-01-01..{year}-12-31", "--json", *args],
        )

    first = cli("--fee", "KOMCA=10", "--fee", "STIM=5")
    assert first.exit_code == 0, first.output
    web_run = admin.request(
        "POST", "/api/distribution/runs", json={"start": f"{year}-01-01", "end": f"{year}-12-31", "fee_percent": "20"}
    )
    assert web_run.status_code == 201, web_run.text
    cli_run = cli("--fee", "KOMCA=20")  # STIM's fee: its latest, as on the web
    assert cli_run.exit_code == 0, cli_run.output
    fees = {f"org:{admin.org_id}": 2000, f"org:{other}": 500}
    assert web_run.json()["fee_bp"] == json.loads(cli_run.stdout)["fee_bp"] == fees
    assert json.loads(cli_run.stdout)["sha256"] == web_run.json()["sha256"]  # the same inputs, the same run


# -- item 13: long fields, deep JSON, NUL and lengths ------------------------------------------------


def test_a_csv_field_over_the_csv_limit_is_a_row_error_and_the_import_goes_on(registry, org, tmp_path):
    huge = "x" * 200_000
    sheet = tmp_path / "rep.csv"
    sheet.write_text(
        HEADER + f"L-1,{huge},,Kim:author:1,,,,,,,,,,\nOK-1,Fine,,Kim:author:1,,,,,,,,,,\n", encoding="utf-8"
    )
    report = import_csv(registry, sheet, org_id=org, skip_invalid=True)
    assert report.created == 1 and [(e.line, e.column) for e in report.errors] == [(2, "-")]
    assert "longer than 131,072 characters" in report.errors[0].reason
    assert _works(registry) == ["OK-1"]
    sheet.write_text(f"work_ref,title{huge}\n", encoding="utf-8")
    report = import_csv(registry, sheet, org_id=org)
    assert not report.imported and [(e.line, e.column) for e in report.errors] == [(1, "header")]


def test_the_field_limit_holds_after_a_dataset_reader_raised_the_process_wide_csv_limit(registry, org, tmp_path):
    """The csv module's limit is process-wide and clearance's CSV reader raises it: the import's own limit
    must not depend on which ran first in the process (it did: the suite's order decided the error)."""
    import csv

    from fairtrain.services.clearance._readers_tabular import CsvReader

    before = csv.field_size_limit()
    try:
        CsvReader()
        assert csv.field_size_limit() > 131_072
        sheet = tmp_path / "rep.csv"
        sheet.write_text(
            HEADER + f"L-1,{'x' * 200_000},,Kim:author:1,,,,,,,,,,\nOK-1,Fine,,Kim:author:1,,,,,,,,,,\n",
            encoding="utf-8",
        )
        report = import_csv(registry, sheet, org_id=org, skip_invalid=True)
        assert report.created == 1 and [(e.line, e.column) for e in report.errors] == [(2, "-")]
        assert "longer than 131,072 characters" in report.errors[0].reason
    finally:
        csv.field_size_limit(before)


def test_a_csv_field_over_the_limit_is_a_400_free_report_on_the_web(tmp_path, database_url):
    app_ = make_app(tmp_path, database_url)
    org = Session(app_, "admin@komca.example", "org-admin", "KOMCA")
    data = (HEADER + f"L-1,{'y' * 200_000},,Kim:author:1,,,,,,,,,,\nOK-1,Fine,,Kim:author:1,,,,,,,,,,\n").encode()
    r = org.request("POST", "/api/org/import", files={"file": ("rep.csv", data, "text/csv")})
    assert r.status_code == 200, r.text
    report = r.json()
    assert not report["imported"] and report["errors"][0]["line"] == 2
    assert "CSV field limit" in report["errors"][0]["reason"]


def test_text_limits_are_the_same_on_every_database_and_checked_before_storage(registry, org, tmp_path):
    """PostgreSQL refused these with a driver error and SQLite stored them: both now refuse them, by field."""
    sheet = tmp_path / "rep.csv"
    rows = [
        ("NUL-1", "Nul\x00title", "Kim:author:1"),
        ("LONG-1", "t" * 1001, "Kim:author:1"),
        ("r" * 201, "Long ref", "Kim:author:1"),
        ("NAME-1", "Long name", f"{'n' * 301}:author:1"),
        ("NAME-2", "Nul name", "Ki\x00m:author:1"),
        ("OK-1", "t" * 1000, f"{'n' * 300}:author:1"),
    ]
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(
        [HEADER.strip().split(","), *[[ref, title, "", holders] + [""] * 10 for ref, title, holders in rows]]
    )
    sheet.write_text(buf.getvalue(), encoding="utf-8")
    report = import_csv(registry, sheet, org_id=org, skip_invalid=True)
    assert report.imported and report.created == 1
    got = [(e.line, e.column) for e in report.errors]
    assert got == [(2, "title"), (3, "title"), (4, "work_ref"), (5, "holders"), (6, "holders")], report.errors
    assert "NUL" in report.errors[0].reason and "limit of 1,000" in report.errors[1].reason
    assert "limit of 200" in report.errors[2].reason and "limit of 300" in report.errors[3].reason
    assert _works(registry) == ["OK-1"]
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Holder)).scalar() == 1

    with pytest.raises(RegistryError, match="holder name: 301 characters"):
        registry.add_holder("h" * 301)
    with pytest.raises(RegistryError, match="organisation name: contains a NUL"):
        registry.add_org("Bad\x00Org")
    kim = registry.add_holder("Kim")
    with pytest.raises(RegistryError, match="title: 1,001 characters"):
        registry.add_work(title="w" * 1001, shares=[ShareSpec(kim, "author", 1)])
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Holder)).scalar() == 2
        assert c.execute(select(func.count()).select_from(Organisation)).scalar() == 1
    assert _works(registry) == ["OK-1"]


def test_web_sign_up_and_upload_refuse_what_a_database_cannot_store(tmp_path, database_url):
    app_ = make_app(tmp_path, database_url)
    client = TestClient(app_)
    r = client.post(
        "/api/auth/signup",
        json={
            "email": "nul@example.org",
            "password": "correct horse battery",
            "role": "creator",
            "name": "Kim\u0000Minji",
        },
    )
    assert r.status_code == 400 and "name: contains a NUL" in r.json()["detail"], r.text
    creator = Session(app_, "kim@example.org", "creator", "Kim")
    r = creator.request(
        "POST",
        "/api/works",
        files=[("files", ("poem.txt", b"a poem " * 200, "text/plain"))],
        data={"titles": ["t" * 1001]},
    )
    assert r.status_code == 201 and r.json()["failed"] == 1, r.text
    assert "title: 1,001 characters, above the limit of 1,000" in r.json()["results"][0]["error"]
    with app_.state.web.registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Work)).scalar() == 0


def test_a_deeply_nested_licence_quote_is_refused_with_a_reason(tmp_path, database_url, registry):
    deep = tmp_path / "licence-quote.json"
    deep.write_text('{"licensee": "acme", "groups": ' + "[" * 5000 + "]" * 5000 + "}", encoding="utf-8")
    r = CliRunner().invoke(app, ["--database-url", database_url, "licences", "request", str(deep)])
    assert r.exit_code == 2 and not isinstance(r.exception, RecursionError), r.exception
    assert "nested deeper than" in " ".join(r.output.split())
    app_ = make_app(tmp_path, database_url)
    dev = Session(app_, "dev@acme.example", "developer", "Acme")
    r = dev.request(
        "POST", "/api/licences/requests", files={"quote": ("licence-quote.json", deep.read_bytes(), "application/json")}
    )
    assert r.status_code == 400 and "nested deeper than" in r.json()["detail"], r.text
    with registry.engine.connect() as c:
        assert c.execute(select(func.count()).select_from(Licence)).scalar() == 0


# -- item 14: identifiers -----------------------------------------------------------------------------


def test_iswc_and_isbn_check_digits_are_verified(registry, org, tmp_path):
    sheet = tmp_path / "rep.csv"
    sheet.write_text(
        HEADER + "I-1,Superscripts,,Kim:author:1,T²²²²²²²²²²,,,,,,,,,\n"
        "I-2,Bad ISWC check,,Kim:author:1,T-034.524.680-2,,,,,,,,,\n"
        "I-3,Bad ISBN-13,,Kim:author:1,,,978-3-16-148410-1,,,,,,,\n"
        "I-4,Bad ISBN-10,,Kim:author:1,,,0-306-40615-3,,,,,,,\n"
        "OK-1,Good,,Kim:author:1,T-034.524.680-1,,978-3-16-148410-0,,,,,,,\n"
        "OK-2,Good ten,,Kim:author:1,,,0-8044-2957-X,,,,,,,\n",
        encoding="utf-8",
    )
    report = import_csv(registry, sheet, org_id=org, skip_invalid=True)
    assert report.created == 2
    assert [(e.line, e.column) for e in report.errors] == [(2, "iswc"), (3, "iswc"), (4, "isbn"), (5, "isbn")]
    assert "check digit 2, expected 1" in report.errors[1].reason
    assert _works(registry) == ["OK-1", "OK-2"]
    kim = registry.add_holder("Kim")
    with pytest.raises(ValueError, match="not a valid ISWC"):
        registry.add_work(title="Fake", shares=[ShareSpec(kim, "author", 1)], iswc="T²²²²²²²²²²")


# -- item 19: CSV files the product writes ------------------------------------------------------------


def test_csv_files_the_product_writes_never_start_a_cell_with_a_formula(tmp_path):
    hostile = ['=HYPERLINK("http://evil.example","click")', "+1+1", "-2+3", "@SUM(A1)", "\t=1", "＝1"]
    out = tmp_path / "repertoire.csv"
    write_repertoire_csv([{"work_id": 1, "work_ref": h, "title": h, "model": "m", "licensee": h} for h in hostile], out)
    rows = list(csv.DictReader(out.open(encoding="utf-8", newline="")))
    assert [r["title"] for r in rows] == ["'" + h for h in hostile]
    assert all(r["work_ref"].startswith("'") and r["licensee"].startswith("'") for r in rows)
    assert [r["work_id"] for r in rows] == ["1"] * len(hostile)  # numbers stay numbers

    st = {
        "lines": [
            {"work": 3, "licence": 7, "licensee": hostile[0], "currency": "KRW", "gross": -5, "fee": 0, "net": -5}
        ]
    }
    (_, line) = list(csv.reader(io.StringIO(statement_csv(st))))
    assert line[2] == "'" + hostile[0] and line[4] == "-5"
