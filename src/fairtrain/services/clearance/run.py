"""Run a clearance: plan the job, let an executor run the shard runner over its pending shards, merge.

Layout of OUT::

    job.json                  what was asked (input, config, shard list); a re-run must ask the same
    shards/<n>.parquet        decisions of input shard n, renamed into place when the shard is done
    shards/<n>.leaves-*.parquet  that shard's manifest leaves (cleared items, matched works), sorted
    shards/<n>.json           that shard's summary (counts, quote lines); written last
    cleared/...               passing items in the input's own format, one output per input shard
    item-fingerprints/<n>.parquet  shard n's items' fingerprints and matches, kept for `clear --since`
    item-fingerprints/context.json what `--since` needs of each snapshot used (reuse.py)
    scratch/                  temporary files while shards run (WebDataset videos); removed at the end
    decisions.parquet, licence-quote.json, report.json, report.html, manifest.json, leaves-*.parquet

A shard whose summary exists is done and never processed again, so a killed job re-run with the same
command continues where it stopped and writes byte-identical outputs, whichever executor ran it.
The shard files are the shard runner's (``shard.py``); this module writes job.json and the final outputs.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from fairtrain.core.files import atomic_file
from fairtrain.services.clearance import ClearanceError
from fairtrain.services.clearance.executors import EXECUTORS, executor_class
from fairtrain.services.clearance.pipeline import ClearanceConfig
from fairtrain.services.clearance.records import DECISIONS_SCHEMA
from fairtrain.services.clearance.reuse import KEEP_DIR, NoReuse, plan_reuse, record_kept
from fairtrain.services.clearance.shard import (
    MAX_ERROR_ITEMS,
    ShardRunner,
    merge_leaves,
    pending_shards,
    shard_file,
    write_json,
)


def plan(runner: ShardRunner, *, force: bool = False) -> dict:
    """Create or re-open the runner's OUT/job.json; refuse to mix two different clearances in one OUT."""
    out, config = runner.out, runner.config
    job = {
        "input": str(runner.input_path.resolve()),
        "format": type(runner.reader).__name__,
        "config": config.to_dict(),
        "shards": [{"n": i, "id": s.id} for i, s in enumerate(runner.shards)],
    }
    if runner.verified:  # the exact snapshot versions: a resumed job must clear against the same ones
        job["snapshot_ids"] = [runner.verified[str(p)].snapshot_id for p in config.snapshots]
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)
    path = out / "job.json"
    if path.exists() and not force:
        old = json.loads(path.read_text(encoding="utf-8"))
        if "snapshot_ids" in old and old["snapshot_ids"] != job.get("snapshot_ids", old["snapshot_ids"]):
            raise ClearanceError(
                f"{out} holds a clearance against other snapshot versions (snapshot ids "
                f"{', '.join(i[:16] for i in old['snapshot_ids'])}; now "
                f"{', '.join(i[:16] for i in job['snapshot_ids'])}, after a `snapshot pull` or export, say): "
                "use another --out, or --force to start over"
            )
        if {k: old.get(k) for k in job if k != "snapshot_ids"} != {k: v for k, v in job.items() if k != "snapshot_ids"}:
            raise ClearanceError(
                f"{out} holds a different clearance (input, options or shards differ): "
                "use another --out, or --force to start over"
            )
        _sweep_partial(out)
        return old
    # The job's identity is what was asked, not when: an interrupted and resumed job, and one that ran
    # straight through, write the same bytes.
    job["job_id"] = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]
    job["started_at"] = datetime.now(UTC).isoformat()
    write_json(path, job)
    return job


def _sweep_partial(out: Path) -> None:
    """Remove what a killed run was writing (temporary files); finished shards are kept."""
    for d in (out / "shards", out / "cleared", out / KEEP_DIR):
        if d.is_dir():
            for p in d.iterdir():
                if ".tmp" in p.name and p.is_file():
                    p.unlink()
                elif ".tmp" in p.name and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)


# -- final outputs ---------------------------------------------------------------------------------


def finish(
    out: Path,
    job: dict,
    config: ClearanceConfig,
    signing_key,
    *,
    engine: str,
    verified: dict | None = None,
    reuse: dict | None = None,
) -> dict:
    """Merge the shard outputs into the final files; deterministic, so a resumed job writes the same bytes."""
    from fairtrain.core.keys import sign_document
    from fairtrain.core.snapshot import verify_snapshot
    from fairtrain.services.clearance.report import quote, render_html

    shards = [json.loads(shard_file(out, s["n"], ".json").read_text(encoding="utf-8")) for s in job["shards"]]
    with (
        atomic_file(out / "decisions.parquet") as tmp,
        pq.ParquetWriter(tmp, DECISIONS_SCHEMA, compression="zstd") as writer,
    ):
        for s in job["shards"]:  # a shard at a time: memory is bounded by the largest shard, not the dataset
            writer.write_table(pq.ParquetFile(shard_file(out, s["n"], ".parquet")).read())

    total: dict[str, Counter] = {
        k: Counter() for k in ("by_decision", "by_reason", "by_modality", "domains", "holders", "errors")
    }
    for s in shards:
        for k in total:
            total[k].update(s[k])
    items = sum(s["items"] for s in shards)
    passed = sum(s["passed"] for s in shards)

    def parts(name: str) -> list[Path]:
        paths = [shard_file(out, s["n"], f".leaves-{name}.parquet") for s in job["shards"]]
        if missing := [p.name for p in paths if not p.exists()]:
            raise ClearanceError(
                f"{out}: shard leaves {', '.join(missing[:3])} missing (shards cleared by an "
                "older fairtrain?): run again with --force"
            )
        return paths

    item_set = merge_leaves(parts("items"), out / "leaves-items.parquet", bytes.fromhex)
    work_set = merge_leaves(parts("works"), out / "leaves-works.parquet", str.encode)

    lic = quote([w for s in shards for w in s["licensable"]], config)
    write_json(out / "licence-quote.json", lic)

    snapshots, snaps = [], []
    for p in config.snapshots:
        snap = (verified or {}).get(str(p)) or verify_snapshot(Path(p), _trusted(config), lazy=True)
        snaps.append(snap)
        snapshots.append(
            {
                "path": str(p),
                # the exact version: the SHA-256 of its signed manifest.json, its format and when it was made
                "snapshot_id": snap.snapshot_id,
                "format": snap.manifest.get("format"),
                "registry": snap.manifest.get("registry"),
                "key_id": snap.signer.key_id,
                "created_at": snap.manifest.get("created_at"),
            }
        )
    report = {
        "input": job["input"],
        "format": job["format"],
        "engine": engine,
        "job_id": job["job_id"],
        "licensee": config.licensee,
        "purpose": config.purpose.value,
        "mode": config.mode,
        "research": config.research,
        "check_web": config.check_web,
        "mode_note": (
            "permission first: only items with an explicit allow or a granted licence pass; unknown items are excluded"
        )
        if config.mode == "permission"
        else (
            "RESERVATION MODE: items nobody has registered or reserved (unknown) PASS; only explicit "
            "reservations exclude. This is not permission."
        ),
        "items": items,
        "passed": passed,
        "excluded": items - passed,
        **{k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in total.items()},
        # every error is counted in "errors"; the first ones are listed with item, field and reason
        "error_items": [e for s in shards for e in s.get("error_items", [])][:MAX_ERROR_ITEMS],
        "snapshots": snapshots,
        "licence_quote": {"works": lic["works"], "totals": lic["totals"]},
        "shards": len(shards),
    }
    if reuse is not None:  # ``--since``: what was reused, or why nothing could be
        reused = sum(s.get("reused", 0) for s in shards)
        report["reuse"] = {**reuse, "items_reused": reused, "items_recleared": items - reused}
    write_json(out / "report.json", report)
    with atomic_file(out / "report.html") as tmp:
        # the item table's rows: the first items in shard order (each shard keeps its first ones)
        tmp.write_text(render_html(report, [i for s in shards for i in s.get("report_items", [])]), encoding="utf-8")

    manifest = {
        "format": "fairtrain-clearance/1",
        "licensee": config.licensee,
        "purpose": config.purpose.value,
        "mode": config.mode,
        "input": job["input"],
        "job_id": job["job_id"],
        "items": items,
        "cleared": passed,
        "snapshots": snapshots,
        "cleared_items": {
            "root": item_set.root.hex(),
            "size": item_set.size,
            "leaf": "xxh3-128 of the item's bytes",
            "leaves": "leaves-items.parquet",
        },
        "cleared_works": {
            "root": work_set.root.hex(),
            "size": work_set.size,
            "leaf": "<snapshot_id>:<work_id> of works matched in cleared items",
            "leaves": "leaves-works.parquet",
        },
        "decisions_sha256": hashlib.sha256((out / "decisions.parquet").read_bytes()).hexdigest(),
        # every item's fingerprint and matches, kept for a later `clear --since` (hashed, never published)
        "item_fingerprints": record_kept(out, job, snaps),
    }
    signed = sign_document(manifest, signing_key)
    write_json(out / "manifest.json", signed)
    return report


def _trusted(config: ClearanceConfig):
    from fairtrain.core.keys import PublicKey

    return [PublicKey.from_b64(k) for k in config.trusted_keys] or None


def clear(
    input_path: Path,
    out: Path,
    config: ClearanceConfig,
    signing_key,
    *,
    fmt: str | None = None,
    engine: str = "local",
    workers: int = 1,
    batch_size: int = 256,
    force: bool = False,
    ray_address: str | None = None,
    on_shard: Callable[[dict], None] | None = None,
    on_plan: Callable[[dict], None] | None = None,
    since: Path | None = None,
    deltas: tuple[Path, ...] = (),
) -> dict:
    """Clear ``input_path`` into ``out``; resumes a job OUT already holds. Returns the report.

    ``engine`` names an executor in ``EXECUTORS``; it is built (and its optional packages checked)
    before anything is written to OUT. ``since``: an earlier clearance's OUT, whose kept fingerprints and
    matches are reused where ``deltas`` (the snapshot deltas from its snapshots to these) cannot have
    changed them (``reuse.py``); the outputs are a full clearance's, and the report's ``reuse`` says how
    many items were reused, or why none could be."""
    from fairtrain.core.snapshot import verify_snapshot

    executor = executor_class(engine)(workers=workers, address=ray_address)
    # Verify before anything is trusted; this process then uses what it verified (other processes, such as
    # Ray actors, verify for themselves when they load). The signature, listing and sizes now; each file's
    # hash when it is first read (Snapshot.check), so a large snapshot opens in the time of its manifest.
    verified = {str(p): verify_snapshot(Path(p), _trusted(config), lazy=True) for p in config.snapshots}
    for snap in verified.values():
        snap.require(config.purpose_kind)  # before job.json: a snapshot without terms for the purpose is refused
    plan_, reuse = None, None
    if since is not None:
        if Path(since).resolve() == Path(out).resolve():
            raise ClearanceError(f"--since {since}: name the earlier clearance's output, not this one's --out")
        try:
            plan_ = plan_reuse(
                Path(since),
                [verified[str(p)] for p in config.snapshots],
                deltas,
                signing_key.public,
                _trusted(config),
            )
            reuse = plan_.summary([verified[str(p)] for p in config.snapshots])
        except NoReuse as e:
            reuse = {"since": str(since), "used": False, "reason": str(e)}
    runner = ShardRunner(input_path, fmt, out, config, batch_size, verified=verified, reuse=plan_)
    job = plan(runner, force=force)
    if on_plan:
        on_plan(job)
    runner.clear_scratch()  # what a killed run left
    try:
        executor.run(runner, pending_shards(runner.out, job), on_shard)
    finally:
        runner.close()
        runner.clear_scratch()
    return finish(Path(out), job, config, signing_key, engine=engine, verified=verified, reuse=reuse)


__all__ = ["EXECUTORS", "ClearanceConfig", "ClearanceError", "clear", "finish", "plan", "replace"]
