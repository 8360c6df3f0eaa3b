"""Issue 14, item 7, the two notices nothing sent before: "your work was found in a published clearance" (when
a clearance reaches the registry) and "a statement was issued" (when a distribution run is stored), each
recorded in the transaction that stores the fact, in the holder's language."""

from __future__ import annotations

import io
import json
from fractions import Fraction

import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.core.keys import SigningKey, sign_document
from fairtrain.core.merkle import SortedSet
from fairtrain.services.log import Log
from fairtrain.services.notify import Notifications
from fairtrain.services.registry import ShareSpec
from fairtrain.services.registry.snapshot_export import export_snapshot
from fairtrain.services.transparency.lookup import record_published_clearance


def _parquet(leaves: list[str]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.table({"leaf": leaves}), out)
    return out.getvalue()


def test_holders_hear_that_their_work_was_found_in_a_published_clearance(registry, tmp_path):
    poet = registry.add_holder("이시인")
    friend = registry.add_holder("김친구")
    stranger = registry.add_holder("남")
    shared = registry.add_work(
        title="바람의 노래",
        shares=[ShareSpec(poet, "author", Fraction(1, 2)), ShareSpec(friend, "illustrator", Fraction(1, 2))],
    )["work"]
    other = registry.add_work(title="남의 글", shares=[ShareSpec(stranger, "author", Fraction(1))])["work"]
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "snap", key)
    sid = __import__("hashlib").sha256((tmp_path / "snap" / "manifest.json").read_bytes()).hexdigest()
    # our snapshot's work, and another registry's work with the stranger's work's number
    works = [f"{sid}:{shared}", f"{'0' * 64}:{other}"]
    items = ["ab" * 16]
    doc = sign_document(
        {
            "licensee": "acme-ai",
            "snapshots": [{"snapshot_id": sid}],
            "cleared_works": {"root": SortedSet([w.encode() for w in works]).root.hex()},
            "cleared_items": {"root": SortedSet([bytes.fromhex(i) for i in items]).root.hex()},
        },
        SigningKey.generate(),
    )
    manifest = json.dumps(doc).encode()
    leaves = {"leaves-works.parquet": _parquet(works), "leaves-items.parquet": _parquet(items)}
    r = record_published_clearance(Log(registry.engine), tmp_path, manifest, leaves)
    notices = Notifications(registry.engine)
    for holder in (poet, friend):
        (n,) = notices.list(holder, "ko")
        assert n["kind"] == "clearance" and "바람의 노래" in n["title"] and n["path"] == f"/works/{shared}"
        assert f"#{r['index']}" in n["text"] and "acme-ai" in n["text"]
    assert notices.list(stranger, "ko") == []
    # published again: the same entry, no second notice
    again = record_published_clearance(Log(registry.engine), tmp_path, manifest, leaves)
    assert not again["new"] and len(notices.list(poet, "en")) == 1
    assert notices.list(poet, "en")[0]["title"].startswith("Your work")


def test_a_holder_hears_that_her_statement_is_ready(tmp_path, database_url):
    from test_web_runs_index import _paid_run, _world

    w = _world(tmp_path, database_url)
    run = _paid_run(w)
    notices = w["app"].state.web.notifications
    found = [n for n in notices.list(w["a"].holder_id, "ko") if n["kind"] == "statement"]
    assert len(found) == 1 and found[0]["path"] == "/money" and "분배 명세서" in found[0]["title"]
    assert found[0]["subject"] == f"distribution:{run}"
    # the developer who paid has no statement and no notice
    assert w["dev"].holder_id is None
