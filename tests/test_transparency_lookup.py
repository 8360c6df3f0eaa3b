""" "Was my work used?" on real clearances published in the log: included and not included, by file, by work
id and for a CMO's repertoire, with proof files that `fairtrain log verify --proof` and `fairtrain lookup
--verify` accept offline, and forgeries refused."""

from __future__ import annotations

import csv
import json

import pytest

from cli_helpers import clear
from fairtrain.core.keys import SigningKey
from fairtrain.core.snapshot import verify_snapshot
from fairtrain.services.log import Entry, Log
from fairtrain.services.registry import Registry
from fairtrain.services.transparency.lookup import WorkLookup, WorkLookupError, verify_membership_proof


def _grant_and_clear(run, tmp, manifest, quote_from, snapshot, out) -> None:
    """The Keeper grants acme-ai the licence its first clearance asked for; clear again on a new snapshot."""
    (lid,) = json.loads(run("licences", "request", quote_from / "licence-quote.json", "--json").stdout)["licences"]
    run("keys", "create", "--name", "holder-1")
    run("licences", "accept", lid, "--as", "holder:1")
    run("snapshot", "export", snapshot)
    clear(run, manifest, snapshot, out, "--purpose", "train-genai")


@pytest.fixture
def published(world, database_url):  # noqa: F811
    """Two clearances in the log: A by the CLI (no licence granted), B with a licence granted for the
    licensed works; a usage report names B's model; the log is signed."""
    run, env, tmp, manifest = world
    clear(run, manifest, tmp / "snap", tmp / "out-a", "--purpose", "train-genai")
    keys = tmp / "data" / "keys"
    _grant_and_clear(run, tmp, manifest, tmp / "out-a", tmp / "snap-b", tmp / "out-b")
    snap = verify_snapshot(tmp / "snap-b", [SigningKey.load(keys / "registry.key").public])
    a = json.loads(run("log", "record-clearance", tmp / "out-a", "--json").stdout)["index"]
    b = json.loads(run("log", "record-clearance", tmp / "out-b", "--json").stdout)["index"]
    job_b = json.loads((tmp / "out-b" / "manifest.json").read_text())["job_id"]
    reg = Registry.open(url=database_url)
    Log(reg.engine).append(
        [
            Entry("usage-report", {"model": "acme-7b", "job_id": job_b, "tokens": 10**9}),
            Entry(
                "payment",
                {
                    "job_id": job_b,
                    "works": [{"snapshot": snap.snapshot_id, "work_id": 1}],
                    "amount": {"currency": "KRW", "minor": 30000},
                },
            ),
        ]
    )
    reg.engine.dispose()
    run("log", "sign")
    return run, tmp, a, b


def _by_index(answers: list[dict]) -> dict[int, dict]:
    return {x["log_index"]: x for x in answers}


def _both(tmp) -> list:
    """The ``--clearance`` options naming both published clearances of the world."""
    return ["--clearance", tmp / "out-a", "--clearance", tmp / "out-b"]


def test_lookup_by_file_answers_for_every_published_clearance(published):
    run, tmp, a, b = published
    files = tmp / "works"
    size_before = json.loads(run("log", "show", "--json").stdout)["size"]
    data_before = sorted(p.name for p in (tmp / "data").rglob("*"))
    ans = json.loads(run("lookup", files / "free.txt", *_both(tmp), "--json").stdout)
    assert ans["query"]["works"] and all(
        ws == [{"work_id": 4, "score": 1.0, "stage": "exact"}] for ws in ans["query"]["works"].values()
    )
    # Fingerprinted in memory: nothing about the file is stored or logged.
    assert json.loads(run("log", "show", "--json").stdout)["size"] == size_before
    assert sorted(p.name for p in (tmp / "data").rglob("*")) == data_before
    c = _by_index(ans["clearances"])
    assert c[a]["included"] and c[b]["included"]
    assert c[a]["works"][0]["coverage"]["licence"].startswith("not needed")
    # the usage report names B's model; A has none logged: no model, and never the developer's name
    assert c[a]["models"] == [] and c[b]["models"] == ["acme-7b"] and c[a]["licensee"] == "acme-ai"
    # each answer names the exact snapshot versions its clearance used: manifest SHA-256 and format
    used = json.loads((tmp / "out-b" / "manifest.json").read_text())["snapshots"]
    assert c[b]["snapshots"] == [{k: s[k] for k in ("snapshot_id", "format", "created_at")} for s in used]
    assert c[b]["snapshots"][0]["format"].startswith("fairtrain-snapshot/")

    lic = _by_index(json.loads(run("lookup", files / "licensed.txt", *_both(tmp), "--json").stdout)["clearances"])
    assert lic[a]["included"] is False and lic[a]["works"][0]["included"] is False  # licence offered, not granted
    assert lic[b]["included"] and lic[b]["works"][0]["coverage"]["licence"] == "licence granted to acme-ai"
    assert lic[b]["works"][0]["paid"] is True and c[a]["works"][0]["paid"] is None  # no payment concerns A

    denied = _by_index(
        json.loads(run("lookup", files / "denied.txt", "--clearance", tmp / "out-a", "--json").stdout)["clearances"]
    )
    assert denied[a]["included"] is False
    assert denied[b]["leaves"] == "missing" and denied[b]["included"] is None  # not given: no guess


def test_proof_files_verify_offline_and_forgeries_are_refused(published):
    run, tmp, a, b = published
    proofs = tmp / "proofs"
    run(
        "lookup",
        tmp / "works" / "licensed.txt",
        *_both(tmp),
        "--proofs",
        proofs,
    )
    pub = tmp / "data" / "keys" / "registry.key.pub"
    absent = proofs / f"clearance-{a}-work-1.json"
    present = proofs / f"clearance-{b}-work-1.json"
    for path, included in ((absent, False), (present, True)):
        logged = json.loads(run("log", "verify", "--proof", path, "--public-key", pub, "--json").stdout)
        assert logged["valid"] and logged["entry"]["kind"] == "clearance"
        checked = json.loads(run("lookup", "--verify", path, "--public-key", pub, "--json").stdout)
        assert checked["valid"] and checked["included"] is included and checked["set"] == "cleared_works"
    # The file's own bytes are not in A (it was excluded): a non-inclusion proof over the item leaves.
    item = json.loads((proofs / f"clearance-{a}-file.json").read_text())
    assert verify_membership_proof(item, None)["included"] is False

    doc = json.loads(absent.read_text())
    flipped = {**doc, "membership": {**doc["membership"], "included": True}}
    (tmp / "flipped.json").write_text(json.dumps(flipped))
    r = run("lookup", "--verify", tmp / "flipped.json", "--public-key", pub, code=1)
    assert "proof refused" in r.output
    other = json.loads(present.read_text())  # B's membership proof carried under A's log entry
    forged = {**doc, "membership": other["membership"]}
    with pytest.raises(WorkLookupError, match="does not match"):
        verify_membership_proof(forged, [SigningKey.load(tmp / "data" / "keys" / "registry.key").public])
    with pytest.raises(WorkLookupError, match="not among the trusted keys"):
        verify_membership_proof(doc, [SigningKey.generate().public])


def test_lookup_by_work_id_and_a_swapped_clearance_directory(published, database_url):
    run, tmp, a, b = published
    c = _by_index(json.loads(run("lookup", "--work", "2", *_both(tmp), "--json").stdout)["clearances"])
    assert c[a]["included"] is False and c[b]["included"]  # the photo: licensed in B only
    # A directory whose leaves do not rebuild the logged root is not believed.
    import pyarrow as pa
    import pyarrow.parquet as pq

    leaves = tmp / "out-b" / "leaves-works.parquet"
    keys = pq.read_table(leaves).column("leaf").to_pylist()
    pq.write_table(pa.table({"leaf": pa.array(keys[:-1], pa.string())}), leaves)
    reg = Registry.open(url=database_url)
    lookup = WorkLookup(Log(reg.engine), [tmp / "out-a", tmp / "out-b"])
    assert _by_index(lookup.answer([2]))[b]["leaves"] == "root mismatch"
    assert _by_index(lookup.answer([2]))[b]["included"] is None
    reg.engine.dispose()


def test_repertoire_csv_lists_the_works_used_by_model(published):
    run, tmp, a, b = published
    run("orgs", "add", "KOSA", "--country", "KR")
    run("mandates", "add", "--holder", "1", "--org", "KOSA", "--category", "train-ai")
    run("mandates", "add", "--holder", "2", "--org", "KOSA", "--category", "train-ai")
    out = tmp / "kosa.csv"
    data = json.loads(
        run(
            "lookup",
            "--repertoire",
            "KOSA",
            "--csv",
            out,
            *_both(tmp),
            "--json",
        ).stdout
    )
    assert data["works"] == 3 and data["used"] == 2  # licensed text and photo in B; the denied text nowhere
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert {(r["work_id"], r["model"], r["log_index"]) for r in rows} == {
        ("1", "acme-7b", str(b)),
        ("2", "acme-7b", str(b)),
    }
    assert all(r["licence"] == "licence granted to acme-ai" for r in rows)
    assert {r["work_id"]: r["paid"] for r in rows} == {"1": "yes", "2": "no"}  # the payment names work 1 only


def test_bad_lookups_say_why(published):
    run, tmp, a, b = published
    (tmp / "empty.txt").write_bytes(b"")
    assert "empty file" in run("lookup", tmp / "empty.txt", code=2).output
    assert "exactly one of" in run("lookup", "--work", "1", "--repertoire", "X", code=2).output
    assert "not a clearance directory" in run("lookup", "--work", "1", "--clearance", tmp / "nowhere", code=2).output


def test_lookup_names_the_models_of_published_summaries_not_the_developer(published):
    """A clearance cited by a published model summary is listed under that model and version."""
    run, tmp, a, b = published
    run(
        "summary",
        "--clearance",
        tmp / "out-a",
        "--model",
        "acme-mini",
        "--version",
        "2.1",
        "--provider",
        "Acme AI",
        "--format",
        "json",
        "--out",
        tmp / "s.json",
    )
    ans = _by_index(
        json.loads(
            run(
                "lookup",
                tmp / "works" / "free.txt",
                *_both(tmp),
                "--json",
            ).stdout
        )["clearances"]
    )
    assert ans[a]["models"] == ["acme-mini 2.1"] and ans[b]["models"] == ["acme-7b"]
    assert all("acme-ai" not in x["models"] for x in ans.values())
