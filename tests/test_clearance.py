"""Dataset clearance end to end: registry → snapshot → clear a dataset → decisions, cleared data, quote,
report and signed manifest; both modes; both engines agree; SIGKILL and resume gives identical bytes."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from cli_helpers import FAIRTRAIN, clear, clear_args
from conftest import TESTDATA
from fairtrain.core.keys import verify_document
from fairtrain.core.merkle import SortedSet, verify_set_proof
from http_helpers import Server
from memory_helpers import traced_peak


def _decisions(out: Path) -> dict[str, dict]:
    t = pq.read_table(out / "decisions.parquet").to_pylist()
    return {Path(r["url"]).name if r["url"] else "missing": r for r in t}


def test_clearance_decides_every_item_and_writes_every_output(world):
    run, env, tmp, manifest = world
    out = tmp / "out"
    report = json.loads(clear(run, manifest, tmp / "snap", out, "--purpose", "train-genai", "--json").stdout)
    d = _decisions(out)
    assert d["licensed-copy.txt"]["decision"] == "licence" and not d["licensed-copy.txt"]["passes"]
    assert d["photo-copy.jpg"]["decision"] == "licence"
    assert d["denied-copy.txt"]["decision"] == "deny"
    assert d["free-copy.txt"]["decision"] == "allow" and d["free-copy.txt"]["passes"]
    assert d["own-photo.jpg"]["decision"] == "unknown" and not d["own-photo.jpg"]["passes"]
    assert d["missing"]["decision"] == "unknown" and d["missing"]["error"]
    assert report["items"] == 7 and report["passed"] == 1 and report["by_decision"]["licence"] == 2

    cleared = pq.read_table(next((out / "cleared").iterdir())).to_pylist()
    assert [Path(r["path"]).name for r in cleared] == ["free-copy.txt"]
    assert set(cleared[0]) == {"url", "caption", "path"}  # the input's own columns

    quote = json.loads((out / "licence-quote.json").read_text())
    (group,) = quote["groups"]
    assert group["name"] == "Keeper" and len(group["works"]) == 2
    assert quote["totals"] == {"KRW": {"currency": "KRW", "minor": 60000, "display": "60000 KRW"}}

    html = (out / "report.html").read_text()
    assert "<svg" in html and "Decisions by reason" in html
    assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?\s*(https?:)?//""", html)  # nothing fetched
    charts = {
        svg.get("aria-label"): svg for svg in map(ET.fromstring, re.findall(r"<svg.*?</svg>", html, flags=re.DOTALL))
    }
    assert len(charts["Decisions"].findall("rect")) == len(report["by_decision"]) == 4  # well-formed, a bar each
    assert [t.text for t in charts["Decisions"].findall("text")][::2] == list(report["by_decision"])

    signed = json.loads((out / "manifest.json").read_text())
    key = verify_document(signed)
    assert key.key_id == json.loads(run("keys", "show", "--name", "acme-ai", "--json").stdout)["key_id"]
    leaves = [bytes.fromhex(x) for x in pq.read_table(out / "leaves-items.parquet").column("leaf").to_pylist()]
    items = SortedSet(leaves)
    assert items.root.hex() == signed["cleared_items"]["root"]
    free_hash = bytes.fromhex(d["free-copy.txt"]["content_hash"])
    denied_hash = bytes.fromhex(d["denied-copy.txt"]["content_hash"])
    assert verify_set_proof(free_hash, items.prove(free_hash), bytes.fromhex(signed["cleared_items"]["root"]))
    absent = items.prove(denied_hash)
    assert not absent["included"] and verify_set_proof(
        denied_hash, absent, bytes.fromhex(signed["cleared_items"]["root"])
    )


def test_reservation_mode_lets_unknown_pass_and_says_so(world):
    run, env, tmp, manifest = world
    out = tmp / "out-res"
    report = json.loads(clear(run, manifest, tmp / "snap", out, "--mode", "reservation", "--json").stdout)
    d = _decisions(out)
    assert d["own-photo.jpg"]["passes"] and d["own-text.txt"]["passes"] and d["missing"]["passes"]
    assert not d["denied-copy.txt"]["passes"] and not d["licensed-copy.txt"]["passes"]
    assert "RESERVATION MODE" in report["mode_note"] and "RESERVATION MODE" in (out / "report.html").read_text()


def test_a_different_clearance_in_the_same_out_is_refused(world):
    run, env, tmp, manifest = world
    out = tmp / "out"
    clear(run, manifest, tmp / "snap", out)
    r = clear(
        run, manifest, tmp / "snap", out, "--mode", "reservation", code=1
    )  # in-process the error surfaces as an exception; the console script exits 2
    assert "holds a different clearance" in str(r.exception)


def test_the_img2dataset_manifest_clears_without_network(world):
    run, env, tmp, _ = world
    out = tmp / "out-i2d"
    report = json.loads(
        clear(
            run, TESTDATA / "datasets" / "img2dataset" / "img2dataset_test_1000.parquet", tmp / "snap", out, "--json"
        ).stdout
    )
    assert report["items"] == 1000 and report["passed"] == 0  # permission first: nothing here is permitted
    assert report["by_decision"] == {"unknown": 1000} and report["errors"] == {}
    assert sum(report["domains"].values()) == 1000
    reasons = {json.loads(r)[0]["why"] for r in pq.read_table(out / "decisions.parquet").column("reasons").to_pylist()}
    assert reasons == {"content not local and no web signal read (clear with --check-web to read the URL's signals)"}


def _tree_digest(out: Path) -> dict[str, str]:
    skip = {"job.json"}
    return {
        str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name not in skip
    }


def _many_shards(tmp: Path, manifest: Path, n: int = 6) -> Path:
    rows = pq.read_table(manifest).to_pylist()
    d = tmp / "sharded"
    d.mkdir()
    for i in range(n):
        pq.write_table(pa.Table.from_pylist(rows * 3), d / f"part-{i:03d}.parquet")
    return d


def test_killed_and_resumed_job_writes_identical_outputs(world):
    run, env, tmp, manifest = world
    sharded = _many_shards(tmp, manifest)
    ref = tmp / "ref"
    clear(run, sharded, tmp / "snap", ref, "--format", "parquet")

    out = tmp / "killed"
    cmd = [*FAIRTRAIN, *clear_args(sharded, tmp / "snap", out, "--format", "parquet")]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list((out / "shards").glob("*.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(list((out / "shards").glob("*.json")))
    assert 0 < done_before < 6, "the job was killed part-way"
    assert not (out / "manifest.json").exists()
    clear(run, sharded, tmp / "snap", out, "--format", "parquet")
    assert _tree_digest(out) == _tree_digest(ref)
    assert pq.read_table(out / "decisions.parquet").num_rows == 6 * 7 * 3


def test_a_job_lists_its_input_shards_once_not_once_per_shard(world, monkeypatch):
    from fairtrain.core.vocab import Category
    from fairtrain.services.clearance import run as engine
    from fairtrain.services.clearance.executors.local import LocalExecutor
    from fairtrain.services.clearance.pipeline import ClearanceConfig
    from fairtrain.services.clearance.readers import ParquetReader
    from fairtrain.services.clearance.shard import ShardRunner

    run, env, tmp, manifest = world
    sharded = _many_shards(tmp, manifest, n=4)
    listed = []
    real = ParquetReader.shards
    monkeypatch.setattr(ParquetReader, "shards", lambda self, path: listed.append(path) or real(self, path))
    config = ClearanceConfig(snapshots=((tmp / "snap").resolve(),), purpose=Category.TRAIN_GENAI, licensee="acme-ai")
    runner = ShardRunner(sharded, "parquet", tmp / "out", config, batch_size=8)
    job = engine.plan(runner)
    LocalExecutor(workers=1).run(runner, engine.pending_shards(tmp / "out", job))
    assert len(listed) == 1 and engine.pending_shards(tmp / "out", job) == []


def test_manifest_leaves_are_merged_from_every_shard_sorted_and_distinct(world):
    run, env, tmp, manifest = world
    sharded = _many_shards(tmp, manifest, n=3)  # every shard holds the same items
    out = tmp / "out"
    clear(run, sharded, tmp / "snap", out, "--format", "parquet", "--mode", "reservation")
    per_shard = [pq.read_table(p).column("leaf").to_pylist() for p in sorted((out / "shards").glob("*.leaves-items.*"))]
    assert len(per_shard) == 3 and all(x == per_shard[0] for x in per_shard) and len(per_shard[0]) >= 3
    leaves = pq.read_table(out / "leaves-items.parquet").column("leaf").to_pylist()
    assert leaves == per_shard[0]  # sorted, each once
    signed = json.loads((out / "manifest.json").read_text())
    expected = SortedSet([bytes.fromhex(x) for x in leaves])
    assert (signed["cleared_items"]["root"], signed["cleared_items"]["size"]) == (expected.root.hex(), len(leaves))


def test_merging_the_leaves_of_many_shards_holds_a_batch_per_shard_not_the_set(tmp_path, monkeypatch):
    """A clearance of billions of items clears too many to hold: the manifest's leaves are merged as
    they stream past, and the root is the one a tree over the whole sorted set has."""

    import numpy as np

    from fairtrain.services.clearance import shard as engine

    monkeypatch.setattr(engine, "LEAF_BATCH", 1_000)
    raw = np.random.default_rng(5).bytes(16 * 200_000)
    every = [raw[j : j + 16].hex() for j in range(0, len(raw), 16)]
    parts = []
    for i in range(4):  # overlapping shards: each leaf in two of them
        p = tmp_path / f"{i}.parquet"
        engine.write_leaves(p, sorted(set(every[i * 40_000 : i * 40_000 + 80_000])))
        parts.append(p)
    whole = sorted(set(every[:200_000]))
    held = sum(len(x) + 49 for x in whole)  # what the strings alone would take, held at once
    del raw, every
    root, peak = traced_peak(lambda: engine.merge_leaves(parts, tmp_path / "merged.parquet", bytes.fromhex))
    print(f"peak {peak >> 10} KiB, set {held >> 10} KiB")
    assert peak < held / 4, f"merge peaked at {peak >> 10} KiB; the set is {held >> 10} KiB"
    merged = pq.read_table(tmp_path / "merged.parquet").column("leaf").to_pylist()
    assert merged == whole
    assert (root.root, root.size) == (SortedSet([bytes.fromhex(x) for x in whole]).root, len(whole))


def test_local_workers_and_the_ray_engine_write_identical_decisions(world):
    run, env, tmp, manifest = world
    sharded = _many_shards(tmp, manifest, n=3)
    outs = {}
    for name, extra in {"one": [], "two": ["--workers", "2"], "ray": ["--engine", "ray", "--workers", "2"]}.items():
        outs[name] = tmp / f"out-{name}"
        clear(run, sharded, tmp / "snap", outs[name], "--format", "parquet", *extra)
    digests = {k: hashlib.sha256((v / "decisions.parquet").read_bytes()).hexdigest() for k, v in outs.items()}
    assert len(set(digests.values())) == 1, digests


def test_workers_fork_after_the_indexes_their_items_need_are_loaded(world):
    """The parent matches one batch before forking, so the workers share its indexes instead of each loading
    its own; the warm-up writes nothing, so the job's outputs are those of a single worker."""
    from fairtrain.core.vocab import Category
    from fairtrain.services.clearance import run as engine
    from fairtrain.services.clearance.executors.local import LocalExecutor
    from fairtrain.services.clearance.pipeline import ClearanceConfig
    from fairtrain.services.clearance.shard import ShardRunner

    run, env, tmp, manifest = world
    sharded = _many_shards(tmp, manifest, n=3)
    config = ClearanceConfig(snapshots=((tmp / "snap").resolve(),), purpose=Category.TRAIN_GENAI, licensee="acme-ai")
    runner = ShardRunner(sharded, "parquet", tmp / "out", config, batch_size=4)
    job = engine.plan(runner)
    LocalExecutor(workers=2).run(runner, engine.pending_shards(tmp / "out", job))
    (matcher,) = runner.pipeline[0].matchers
    assert {name for name, index in matcher._indexes.items() if index is not None} == {"image", "text"}
    assert sorted(p.name for p in (tmp / "out" / "shards").glob("*.json")) == [f"{n:06d}.json" for n in range(3)]
    rows = sum(pq.ParquetFile(p).metadata.num_rows for p in (tmp / "out" / "shards").glob("??????.parquet"))
    assert rows == 3 * 7 * 3  # every item once: nothing the warm-up matched was written


def test_check_web_reads_the_signals_of_url_only_items(world, tmp_path):
    """Items whose content is not local are decided by their URL's signals, read from a real local server."""

    def answer(path: str):
        headers = {"Content-Type": "text/plain" if path.endswith(".txt") else "text/html"}
        if path == "/robots.txt":
            return 200, headers, b"User-agent: *\nAllow: /\nContent-Usage: train-ai=n\n"
        if path.startswith("/free/"):
            return 200, headers, b"<html><head></head><body>free</body></html>"
        if path.startswith("/noai/"):
            return 200, {**headers, "X-Robots-Tag": "noai, noimageai"}, b"<html><body>x</body></html>"
        return None

    run, env, tmp, _ = world
    site = Server(answer)
    base = site.url
    try:
        rows = [{"url": f"{base}/free/a.jpg", "caption": "a"}, {"url": f"{base}/noai/b.jpg", "caption": "b"}]
        manifest = tmp_path / "urls.parquet"
        pq.write_table(pa.Table.from_pylist(rows), manifest)
        common = [manifest, "--snapshot", tmp / "snap", "--licensee", "acme-ai", "--purpose", "train-genai"]
        run("clear", *common, "--out", tmp / "offline")
        assert {r["decision"] for r in pq.read_table(tmp / "offline" / "decisions.parquet").to_pylist()} == {"unknown"}
        report = json.loads(
            run("clear", *common, "--out", tmp / "web", "--check-web", "--allow-private-urls", "--json").stdout
        )
    finally:
        site.close()
    d = {Path(r["url"]).name: r for r in pq.read_table(tmp / "web" / "decisions.parquet").to_pylist()}
    assert d["b.jpg"]["decision"] == "deny" and d["a.jpg"]["decision"] == "deny"  # train-ai=n covers train-genai
    why = [r for r in json.loads(d["b.jpg"]["reasons"]) if r["source"] == "web"]
    assert why and why[0]["value"] == "deny"
    assert report["by_reason"].get("web:deny") == 2 and report["passed"] == 0


def test_memory_stays_bounded_for_a_dataset_larger_than_the_process(world, tmp_path):
    """600 MB of items streamed through `fairtrain clear`: the process never holds more than a few batches."""
    run, env, tmp, _ = world
    rng = __import__("numpy").random.default_rng(0)
    data = tmp_path / "big.parquet"
    blob_mb, n = 2, 300
    with pq.ParquetWriter(data, pa.schema([("url", pa.string()), ("data", pa.binary())])) as w:
        for i in range(0, n, 10):  # 10 items per row group, each a 2 MB blob nobody registered
            w.write_table(
                pa.table(
                    {
                        "url": [f"https://example.org/{j}.bin" for j in range(i, i + 10)],
                        "data": [rng.bytes(blob_mb << 20) for _ in range(10)],
                    }
                )
            )
    assert data.stat().st_size > 550 << 20
    peak = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    r = subprocess.run(
        [sys.executable, "-c", peak, *FAIRTRAIN, *clear_args(data, tmp / "snap", tmp / "big-out", "--batch-size", "4")],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    peak_mib = int(r.stdout.split()[-1]) / 1024
    print(f"peak RSS {peak_mib:.0f} MiB")
    assert peak_mib < 450, f"peak RSS {peak_mib:.0f} MiB for a {data.stat().st_size >> 20} MiB dataset"
    assert pq.read_table(tmp / "big-out" / "decisions.parquet").num_rows == n


def test_report_lists_items_with_work_titles_and_names_not_refs(world):
    """report.html's item table: a row per item with decision, work title, holder and organisation by name
    (escaped), similarity and method; the licence quote names the organisation, its ref kept beside."""
    run, env, tmp, manifest = world
    run("orgs", "add", "Korea <Music> & Co")
    run("mandates", "add", "--holder", "1", "--org", "1")
    run("declare", "--org", "1", "--category", "train-ai=licence", "--price", "40000", "--currency", "KRW")
    run("declare", "--holder", "1", "--category", "train-ai=inherit")  # the organisation's offer is the one
    run("snapshot", "export", tmp / "snap2")
    out = tmp / "out"
    clear(run, manifest, tmp / "snap2", out, "--purpose", "train-genai", "--json")
    quote = json.loads((out / "licence-quote.json").read_text())
    names = {g["party"]: g["name"] for g in quote["groups"]}
    assert names.get("org:1") == "Korea <Music> & Co", names  # the name, with the ref as the id beside it

    html = (out / "report.html").read_text()
    assert "Korea <Music>" not in html and "via Korea &lt;Music&gt; &amp; Co" in html  # escaped, by name
    assert "org:1" not in html and "holder:1" not in html
    body = html.split('<table class="items">')[1].split("</table>")[0]
    rows = re.findall(r'<tr class="it ([^"]*)">(.*?)</tr>', body, flags=re.DOTALL)
    assert len(rows) == 7  # every item of the dataset, the unreadable one included
    by_item = {
        re.search(r"<small>(.*?)</small>", r).group(1) if "<small>" in r else "missing": (cls, r) for cls, r in rows
    }
    cls, row = next(v for k, v in by_item.items() if k.endswith("denied-copy.txt"))
    cells = re.findall(r"<td[^>]*>(.*?)</td>", row, flags=re.DOTALL)
    assert cells[0] == "deny" and "denied" in cells[2] and cells[3].startswith("Fishmonger")
    assert re.fullmatch(r"[01]\.\d{3}", cells[4]) and cells[5] and "registry: deny" in cells[6]
    # the filters: a radio button per decision, modality and holder; a row carries the keys it matches
    labels = dict(
        (m[1], m[0])
        for m in re.findall(
            r'<input type="radio" name="\w+" id="f-(\w+)"><label for="f-\w+">'
            r"(.*?)</label>",
            html,
        )
    )
    assert {"deny", "licence", "allow", "unknown", "text", "image", "Keeper", "Fishmonger"} <= set(labels)
    assert {labels["deny"], labels["text"], labels["Fishmonger"]} <= set(cls.split())
    assert f"#f-{labels['deny']}:checked~table.items tr.it:not(.{labels['deny']}){{display:none}}" in html
    assert "<script" not in html and "decisions.parquet" not in html  # all 7 inline: nothing left over


def test_report_table_stops_at_10000_items_and_names_decisions_parquet():
    from fairtrain.services.clearance.report import MAX_REPORT_ITEMS, render_html

    items = [
        {"item": f"<script>alert({n})</script>", "modality": "text", "decision": "allow", "reason": "", "works": []}
        for n in range(MAX_REPORT_ITEMS + 5)
    ]
    report = {
        "licensee": "l",
        "purpose": "train-genai",
        "research": False,
        "mode": "permission",
        "engine": "e",
        "job_id": "j",
        "mode_note": "",
        "items": len(items) + 20,
        "passed": 0,
        "excluded": 0,
        "licence_quote": {"works": 0, "totals": {}},
        "snapshots": [],
        "input": "i",
        "format": "f",
        "shards": 1,
        **{k: {} for k in ("by_decision", "by_reason", "by_modality", "domains", "holders", "errors")},
    }
    html = render_html(report, items)
    assert html.count('<tr class="it ') == MAX_REPORT_ITEMS == 10_000
    assert "<script>" not in html and "&lt;script&gt;alert(9999)" in html and "alert(10000)" not in html
    assert "The other 25 items are in <code>decisions.parquet</code>" in html
