"""Issue 17 item 3: a clearance records the exact snapshot version it used, and `clear --since` after a
delta re-clears only what can have changed, giving what a full clearance against the new snapshot gives.

The registry (SQLite, and PostgreSQL under scripts/with-postgres.sh) changes between two exports: works
added, one work's text (fingerprint) changed, one withdrawn (rejected), terms changed and a licence
granted. The dataset changes too: items added, removed and edited. The re-clear's decisions, cleared
data, leaves, quote and report counts are byte for byte the full clearance's; its report says how many
items it reused, and where the input does not allow reuse it clears in full and says why.
"""

from __future__ import annotations

import json
import shutil

import pytest
from sqlalchemy import update

from conftest import make_image
from fairtrain.core.fingerprint import codec
from fairtrain.core.fingerprint.modalities import modality
from fairtrain.core.keys import SigningKey
from fairtrain.core.snapshot import FORMAT as SNAPSHOT_FORMAT
from fairtrain.core.snapshot import verify_snapshot
from fairtrain.core.store.models import Fingerprint, Work
from fairtrain.core.vocab import Category, Level, Value
from fairtrain.services.clearance.pipeline import ClearanceConfig
from fairtrain.services.clearance.run import clear
from fairtrain.services.registry.snapshot_export import export_delta, export_snapshot
from web_helpers import text_file
from worlds import grant_licence, text_works_and_a_photo

ALLOW = dict.fromkeys(Category, Value.ALLOW)


def _excerpt(seed: int, start: int = 50, end: int = 250) -> bytes:
    return " ".join(text_file(seed).decode().split()[start:end]).encode()


def _build(registry, tmp_path, segment_works: int):
    """Snapshot A; the registry changes; the delta A→B and B itself (the state a pull would hold)."""
    h, share, ids, photo = text_works_and_a_photo(registry, tmp_path, [text_file(i) for i in range(8)])
    registry.declare(level=Level.WORK, target_id=ids[0], party=f"holder:{h}", values=ALLOW)
    key = SigningKey.generate()
    export_snapshot(registry, tmp_path / "a", key, segment_works=segment_works)
    # works added; work 4's text replaced (its fingerprint changes); work 2 withdrawn; terms changed; a grant
    for i in (8, 9):
        p = tmp_path / f"work-{i}.txt"
        p.write_bytes(text_file(i))
        ids.append(registry.add_work_file(p, shares=share, title=f"작품 {i}")["work"])
    fp = modality("text").register(text_file(40), "work-4.txt")
    with registry.engine.begin() as c:
        c.execute(update(Fingerprint).where(Fingerprint.work_id == ids[4]).values(payload=codec.dumps(fp)))
        c.execute(update(Work).where(Work.id == ids[2]).values(status="rejected"))
    registry.declare(
        level=Level.WORK, target_id=ids[0], party=f"holder:{h}", values=dict.fromkeys(Category, Value.DENY)
    )
    grant_licence(registry, ids[7])
    export_delta(
        registry,
        tmp_path / "a",
        tmp_path / "deltas" / "d1",
        key,
        segment_works=segment_works,
        state_dir=tmp_path / "b",
    )
    return key, ids, photo


def _dataset(root, items: dict[str, bytes]):
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    for name, body in items.items():
        (root / name).write_bytes(body)
    return root


def _outputs(out) -> dict:
    """What must be the same whichever way a clearance ran (the job id and times aside)."""
    files = {
        p.relative_to(out).as_posix(): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file()
        and (p.name in ("decisions.parquet", "licence-quote.json") or p.name.startswith("leaves-"))
        and p.parent == out
        or (p.is_file() and "cleared" in p.relative_to(out).parts)
    }
    report = json.loads((out / "report.json").read_text())
    for k in ("reuse", "input"):
        report.pop(k, None)
    return {"files": files, "report": report}


@pytest.mark.parametrize("segment_works", [100_000, 3])
def test_reclear_after_a_delta_equals_a_full_clearance_and_reuses_the_unchanged_items(
    registry, tmp_path, segment_works
):
    key, ids, _photo = _build(registry, tmp_path, segment_works)
    first = {
        **{f"excerpt-{i}.txt": _excerpt(i) for i in range(10)},  # 8 and 9 registered only after A
        "whole-1.txt": text_file(1),
        "whole-4.txt": text_file(4),  # work 4's old text: it no longer matches after the delta
        "new-text-of-4.txt": _excerpt(40, 10, 200),  # matches work 4 only after the delta
        "unrelated.txt": ("a text nobody registered " * 40).encode(),
        "photo.jpg": make_image(5),
        "removed-later.txt": _excerpt(3, 100, 300),
        "edited-later.txt": _excerpt(5, 0, 220),
    }
    data = _dataset(tmp_path / "data", first)
    licensee = SigningKey.generate()

    def config(snap):
        return ClearanceConfig(
            snapshots=(snap,), purpose=Category.TRAIN_GENAI, licensee="acme-ai", trusted_keys=(key.public.b64(),)
        )

    before = clear(data, tmp_path / "out-a", config(tmp_path / "a"), licensee)
    a_id = verify_snapshot(tmp_path / "a", [key.public]).snapshot_id
    assert [s["snapshot_id"] for s in before["snapshots"]] == [a_id]
    assert before["snapshots"][0]["format"] == SNAPSHOT_FORMAT
    manifest = json.loads((tmp_path / "out-a" / "manifest.json").read_text())
    assert manifest["item_fingerprints"]["files"] and manifest["snapshots"][0]["snapshot_id"] == a_id
    # the dataset changes: an item removed, one edited, one added
    second = dict(first)
    del second["removed-later.txt"]
    second["edited-later.txt"] = _excerpt(5, 0, 220) + b" and a new last line"
    second["added.txt"] = _excerpt(6, 20, 240)
    data = _dataset(tmp_path / "data", second)

    full = clear(data, tmp_path / "full", config(tmp_path / "b"), licensee)
    again = clear(
        data,
        tmp_path / "again",
        config(tmp_path / "b"),
        licensee,
        since=tmp_path / "out-a",
        deltas=(tmp_path / "deltas",),
    )
    assert "reuse" not in full and again["reuse"]["used"], again["reuse"]
    assert again["reuse"]["items_reused"] == len(second) - 2  # all but the edited and the added item
    assert again["reuse"]["items_recleared"] == 2
    (step,) = again["reuse"]["snapshots"]
    assert step["status"] == "delta" and step["fingerprints_changed"] == {"text": 4}  # 2 added, 1 changed, 1 gone
    assert step["text"] == "matched against an index of the changed works only"
    assert step["changed_works_indexed"] == 3 and step["segments_with_changed_works"] == (
        2 if segment_works == 3 else 1
    )
    assert _outputs(tmp_path / "again") == _outputs(tmp_path / "full")
    b_id = verify_snapshot(tmp_path / "b", [key.public]).snapshot_id
    html = (tmp_path / "again" / "report.html").read_text()
    assert f"<code>{b_id}</code>" in html and f"{again['reuse']['items_reused']:,} items reused" in html
    decided = {r["item"]: r for r in _rows(tmp_path / "again")}
    # what changed in the registry shows: work 4's new text matches, its old one no longer; the withdrawn
    # work 2 matches nothing; work 8 (added) matches its excerpt
    assert ids[4] in decided["new-text-of-4.txt"]["work_ids"]
    assert ids[4] not in decided["whole-4.txt"]["work_ids"]
    assert decided["excerpt-2.txt"]["work_ids"] == []
    assert decided["excerpt-8.txt"]["work_ids"] == [ids[8]]
    was = {r["item"]: r for r in _rows(tmp_path / "out-a")}
    assert was["excerpt-0.txt"]["decision"] == "allow" != decided["excerpt-0.txt"]["decision"]  # terms changed

    # a second re-clear from the re-clear (the same snapshot now): every item reused, the same outputs
    third = clear(data, tmp_path / "third", config(tmp_path / "b"), licensee, since=tmp_path / "again")
    assert third["reuse"]["items_reused"] == len(second)
    assert _outputs(tmp_path / "third") == _outputs(tmp_path / "full")


def _rows(out) -> list[dict]:
    import pyarrow.parquet as pq

    return pq.read_table(out / "decisions.parquet").to_pylist()


def test_without_kept_fingerprints_or_a_chain_of_deltas_it_clears_in_full_and_says_why(registry, tmp_path):
    key, _ids, _ = _build(registry, tmp_path, 100_000)
    data = _dataset(tmp_path / "data", {f"excerpt-{i}.txt": _excerpt(i) for i in range(4)})
    licensee = SigningKey.generate()

    def config(snap):
        return ClearanceConfig(
            snapshots=(snap,), purpose=Category.TRAIN_GENAI, licensee="acme-ai", trusted_keys=(key.public.b64(),)
        )

    clear(data, tmp_path / "out-a", config(tmp_path / "a"), licensee)
    clear(data, tmp_path / "full", config(tmp_path / "b"), licensee)
    # no deltas given: the snapshots are not linked
    r = clear(data, tmp_path / "r1", config(tmp_path / "b"), licensee, since=tmp_path / "out-a")
    assert not r["reuse"]["used"] and "no chain of deltas" in r["reuse"]["reason"]
    assert r["reuse"]["items_reused"] == 0 and r["reuse"]["items_recleared"] == 4
    assert _outputs(tmp_path / "r1") == _outputs(tmp_path / "full")
    # a clearance that kept no fingerprints (an older fairtrain's): its manifest has no item_fingerprints
    old = tmp_path / "old-out"
    shutil.copytree(tmp_path / "out-a", old)
    from fairtrain.core.keys import sign_document

    doc = json.loads((old / "manifest.json").read_text())
    doc = {k: v for k, v in doc.items() if k not in ("item_fingerprints", "signature", "key_id", "public_key")}
    (old / "manifest.json").write_text(json.dumps(sign_document(doc, licensee)))
    r = clear(data, tmp_path / "r2", config(tmp_path / "b"), licensee, since=old, deltas=(tmp_path / "deltas",))
    assert not r["reuse"]["used"] and "kept no item fingerprints" in r["reuse"]["reason"]
    # another licensee's clearance is not reused
    other = SigningKey.generate()
    r = clear(
        data, tmp_path / "r3", config(tmp_path / "b"), other, since=tmp_path / "out-a", deltas=(tmp_path / "deltas",)
    )
    assert not r["reuse"]["used"] and "not signed by this licensee" in r["reuse"]["reason"]
    # a kept file changed after the clearance: refused by its hash
    kept = sorted((tmp_path / "out-a" / "item-fingerprints").glob("0*.parquet"))[0]
    kept.write_bytes(kept.read_bytes() + b"x")
    r = clear(
        data, tmp_path / "r4", config(tmp_path / "b"), licensee, since=tmp_path / "out-a", deltas=(tmp_path / "deltas",)
    )
    assert not r["reuse"]["used"] and "not the file" in r["reuse"]["reason"]
    assert _outputs(tmp_path / "r4") == _outputs(tmp_path / "full") == _outputs(tmp_path / "r2")


@pytest.mark.parametrize(
    ("how", "what"),
    [
        ("stop", "segments_matched_whole"),  # a segment's stop list changed: that segment is matched whole
        ("layout", "why"),  # the old layout cannot be lined up with the new: the whole text index again
    ],
)
def test_where_the_old_index_does_not_line_up_the_kept_fingerprints_are_matched_again(registry, tmp_path, how, what):
    from fairtrain.core.keys import sign_document
    from fairtrain.core.snapshot import file_sha256

    key, _ids, _ = _build(registry, tmp_path, 3)
    items = {f"excerpt-{i}.txt": _excerpt(i) for i in range(10)}
    data = _dataset(tmp_path / "data", items)
    licensee = SigningKey.generate()

    def config(snap):
        return ClearanceConfig(
            snapshots=(snap,), purpose=Category.TRAIN_GENAI, licensee="acme-ai", trusted_keys=(key.public.b64(),)
        )

    out = tmp_path / "out-a"
    clear(data, out, config(tmp_path / "a"), licensee)
    ctx_path = out / "item-fingerprints" / "context.json"
    ctx = json.loads(ctx_path.read_text())
    if how == "stop":
        ctx["snapshots"][0]["text_stops"][1] = "0" * 64
    else:
        ctx["snapshots"][0]["max_work_id"] = 1
    ctx_path.write_text(json.dumps(ctx))
    doc = json.loads((out / "manifest.json").read_text())
    doc["item_fingerprints"]["context"]["sha256"] = file_sha256(ctx_path)
    (out / "manifest.json").write_text(json.dumps(sign_document(doc, licensee)))
    full = clear(data, tmp_path / "full", config(tmp_path / "b"), licensee)
    again = clear(data, tmp_path / "again", config(tmp_path / "b"), licensee, since=out, deltas=(tmp_path / "deltas",))
    assert again["reuse"]["items_reused"] == len(items)
    (step,) = again["reuse"]["snapshots"]
    assert step[what], step
    assert _outputs(tmp_path / "again") == _outputs(tmp_path / "full")
    assert full["by_decision"] == again["by_decision"]


def test_a_kept_fingerprint_round_trips_with_what_it_computes_on_demand_and_nothing_else_loads():
    from fairtrain.core.fingerprint.text import fingerprint_text

    fp = fingerprint_text("바람이 분다 " * 40 + "and some words in English " * 20, "item.txt")
    blob = codec.pack(fp)
    assert codec.pack(codec.unpack(blob)) == blob
    back = codec.unpack(blob)
    assert back.hangul_signature() is not None
    assert (back.hangul_signature() == fp.hangul_signature()).all() and (back.grams == fp.grams).all()
    assert (back.winnow_positions == fp.winnow_positions).all()  # kept unset, computed on first read as before
    n = int.from_bytes(blob[:4], "little")
    head = json.loads(blob[4 : 4 + n])
    head["arrays"][0][0] = "|O"  # an object array would run code on load: refused
    bad = json.dumps(head).encode()
    with pytest.raises(ValueError, match="array of"):
        codec.unpack(len(bad).to_bytes(4, "little") + bad + blob[4 + n :])
    with pytest.raises(ValueError, match="truncated"):
        codec.unpack(blob[:-8])


def test_the_command_line_re_clears_since_an_earlier_output_and_names_the_snapshot_versions(registry, cli, tmp_path):
    key, _ids, _ = _build(registry, tmp_path, 100_000)
    data = _dataset(tmp_path / "items", {f"excerpt-{i}.txt": _excerpt(i) for i in range(10)})
    pub = tmp_path / "registry.pub"
    pub.write_text(key.public.b64())
    cli("keys", "create", "--name", "acme-ai", "--party")
    base = ["clear", data, "--licensee", "acme-ai", "--public-key", pub]
    cli(*base, "--snapshot", tmp_path / "a", "--out", tmp_path / "o1")
    r = cli(
        *base,
        "--snapshot",
        tmp_path / "b",
        "--out",
        tmp_path / "o2",
        "--since",
        tmp_path / "o1",
        "--delta",
        tmp_path / "deltas",
    )
    b_id = verify_snapshot(tmp_path / "b", [key.public]).snapshot_id
    assert "10 items reused" in r.output and f"snapshot {b_id} (fairtrain-snapshot/" in r.output
    report = json.loads(cli(*base, "--snapshot", tmp_path / "b", "--out", tmp_path / "o2", "--json").stdout)
    assert report["snapshots"][0]["snapshot_id"] == b_id and report["snapshots"][0]["format"].startswith("fairtrain-")
    # no chain given: cleared in full, and it says why
    r = cli(*base, "--snapshot", tmp_path / "b", "--out", tmp_path / "o3", "--since", tmp_path / "o1")
    assert "nothing reused" in r.output and "no chain of deltas" in r.output
