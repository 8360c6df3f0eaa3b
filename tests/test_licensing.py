"""The money path from the command line: clearance → quote → request → grant → re-clearance (exactly the
granted works turn from licence to allow) → invoice → payments → usage report, every step in the log."""

from __future__ import annotations

import json

import pyarrow.parquet as pq

from cli_helpers import clear
from test_clearance import _decisions


def test_permission_before_use(world):  # noqa: F811
    run, env, tmp, manifest = world
    common = [manifest, "--snapshot", tmp / "snap", "--licensee", "acme-ai", "--purpose", "train-genai"]
    run("clear", *common, "--out", tmp / "before")
    before = _decisions(tmp / "before")
    quote = json.loads((tmp / "before" / "licence-quote.json").read_text())
    assert quote["works"] == 2

    ids = json.loads(run("licences", "request", tmp / "before" / "licence-quote.json", "--json").stdout)["licences"]
    assert len(ids) == 1
    lic = json.loads(run("licences", "show", ids[0], "--json").stdout)
    assert lic["status"] == "requested" and lic["grantor"] == "holder:1" and lic["price"]["minor"] == 60000

    r = run("licences", "accept", ids[0], "--as", "holder:2", code=1)  # not the grantor
    assert "may not answer" in str(r.exception)
    run("keys", "create", "--name", "holder-1")
    granted = json.loads(run("licences", "accept", ids[0], "--as", "holder:1", "--json").stdout)
    assert granted["grant"]["signature"]["alg"] == "Ed25519"

    run("snapshot", "export", tmp / "snap2")
    clear(run, manifest, tmp / "snap2", tmp / "after", "--purpose", "train-genai")
    after = _decisions(tmp / "after")
    changed = {k for k in before if before[k]["decision"] != after[k]["decision"]}
    assert changed == {"licensed-copy.txt", "photo-copy.jpg"}
    assert all(after[k]["decision"] == "allow" and after[k]["passes"] for k in changed)
    # another licensee still needs a licence
    run("keys", "create", "--name", "other-ai")
    run(
        "clear",
        manifest,
        "--snapshot",
        tmp / "snap2",
        "--licensee",
        "other-ai",
        "--purpose",
        "train-genai",
        "--out",
        tmp / "other",
    )
    assert _decisions(tmp / "other")["licensed-copy.txt"]["decision"] == "licence"

    (inv,) = json.loads(run("invoices", "--json").stdout)
    assert inv["amount"]["minor"] == 60000 and inv["status"] == "open"
    run("payments", "record", inv["id"], "--amount", "20000", "--currency", "KRW", "--reference", "BANK-1")
    settlements = tmp / "settle.csv"
    settlements.write_text(
        "invoice,amount,currency,reference,received_at\n"
        f"{inv['id']},40000,KRW,BANK-2,2026-11-20\n"
        f"{inv['id']},40000,KRW,BANK-2,2026-11-20\n"  # the same record twice: counted once
        f"{inv['id']},1.5,KRW,BANK-3,2026-11-20\n"
    )  # KRW has no decimals
    r = run("payments", "import", settlements, "--json", code=1)
    result = json.loads(r.stdout)
    assert result["recorded"] == 1 and result["duplicates"] == 1 and "more decimals" in result["errors"][0]["reason"]
    assert json.loads(run("invoices", "--json").stdout)[0]["status"] == "paid"

    weights = tmp / "weights.json"
    weights.write_text(json.dumps({"1": 700, "2": 300}))
    args = [
        "usage",
        "report",
        "--licensee",
        "acme-ai",
        "--model",
        "acme-7b",
        "--version",
        "1.0",
        "--idempotency-key",
        "acme-7b-1.0",
        "--manifest",
        tmp / "after" / "manifest.json",
        "--licence",
        ids[0],
        "--weights",
        weights,
        "--json",
    ]
    first = json.loads(run(*args).stdout)
    again = json.loads(run(*args).stdout)
    assert not first["duplicate"] and again == {"report": first["report"], "duplicate": True}

    run("log", "sign")
    kinds = [e["kind"] for e in json.loads(run("log", "show", "--limit", "100", "--json").stdout)["entries"]]
    for kind in ("declaration", "snapshot", "licence", "invoice", "payment", "usage-report"):
        assert kind in kinds, kind
    assert kinds.count("payment") == 2 and kinds.count("usage-report") == 1
    assert json.loads(run("log", "verify", "--json").stdout)["valid"]
    assert pq.read_table(tmp / "after" / "decisions.parquet").num_rows == 7

    # distribution for the year, then the holder's statement; the run re-computes byte for byte
    dist = json.loads(
        run("distribute", "--period", "2026-01-01..2026-12-31", "--threshold", "KRW=1000", "--json").stdout
    )
    st = json.loads(run("statements", "--run", dist["run"], "--holder", "Keeper", "--recompute").stdout)
    assert st["recomputed"]["identical"] and st["recomputed"]["stored_sha256"] == dist["sha256"]
    (total,) = st["totals"]
    assert total["currency"] == "KRW" and total["gross"] == 60000 and total["net"] == 60000 and total["paid"] == 60000
    by_work = {ln["work"]: ln["gross"] for ln in st["lines"]}
    assert by_work == {"1": 42000, "2": 18000}  # weighted 700:300 by the usage report
    assert all(ln["licensee"] == "acme-ai" for ln in st["lines"])
    csv_text = run("statements", "--run", dist["run"], "--holder", "1", "--format", "csv").stdout
    assert (
        csv_text.splitlines()[0] == "work,licence,licensee,currency,gross,fee,net" and len(csv_text.splitlines()) == 3
    )
    html_ko = run("statements", "--run", dist["run"], "--holder", "1", "--format", "html", "--lang", "ko").stdout
    assert "분배 명세서" in html_ko and "42000 KRW" in html_ko
    run("log", "sign")
    assert "distribution" in [
        e["kind"] for e in json.loads(run("log", "show", "--limit", "100", "--json").stdout)["entries"]
    ]
