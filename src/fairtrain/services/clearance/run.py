"""Run a clearance: shards through the pipeline steps, one output shard per input shard, resumable.

Layout of OUT::

    job.json                  what was asked (input, config, shard list); a re-run must ask the same
    shards/<n>.parquet        decisions of input shard n, renamed into place when the shard is done
    shards/<n>.leaves-*.parquet  that shard's manifest leaves (cleared items, matched works), sorted
    shards/<n>.json           that shard's summary (counts, quote lines); written last
    cleared/...               passing items in the input's own format, one output per input shard
    decisions.parquet, licence-quote.json, report.json, report.html, manifest.json, leaves-*.parquet

A shard whose summary exists is done and never processed again, so a killed job re-run with the same
command continues where it stopped and writes byte-identical outputs.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import json
import multiprocessing
import os
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.core.children import die_with_parent
from fairtrain.core.errors import InvalidInput
from fairtrain.core.files import atomic_file
from fairtrain.core.merkle import StreamingRoot
from fairtrain.core.snapshot import work_offers, work_value
from fairtrain.core.vocab import Value
from fairtrain.services.clearance._readers_base import SHARD_ERRORS, batched
from fairtrain.services.clearance.pipeline import (
    ClearanceConfig,
    Cleared,
    DecideStep,
    MatchStep,
    WebSignalsStep,
    decision_row,
    load_matchers,
)

DECISIONS_SCHEMA = pa.schema([
    ("item", pa.string()), ("shard", pa.string()), ("row", pa.int64()), ("url", pa.string()),
    ("modality", pa.string()), ("decision", pa.string()), ("passes", pa.bool_()), ("work_ids", pa.list_(pa.int64())),
    ("content_hash", pa.string()), ("reasons", pa.string()), ("evidence", pa.string()), ("error", pa.string()),
])


class ClearanceError(InvalidInput):
    """A clearance job that cannot start or go on: names the option or file and the reason."""


ENGINES = ("local", "ray")


def _shard_file(out: Path, n: int, suffix: str) -> Path:
    """``OUT/shards/<n><suffix>``: the files that input shard ``n`` leaves behind (see the layout above)."""
    return out / "shards" / f"{n:06d}{suffix}"


def pending_shards(out: Path, job: dict) -> list[int]:
    """The job's shards not done yet: those without a summary, the marker written last."""
    return [s["n"] for s in job["shards"] if not _shard_file(out, s["n"], ".json").exists()]


def _write_json(path: Path, data: object) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n",
                       encoding="utf-8")


def _input(input_path: str | Path, fmt: str | None, *, fresh: bool = False) -> tuple:
    """The input's reader and shard list, listed once per job and process: every shard asked for its
    list again, which read every Parquet footer of the input once per shard."""
    from fairtrain.services.clearance.readers import reader_for

    key = (str(input_path), fmt)
    cached = _WORKER.get("input")
    if fresh or cached is None or cached[0] != key:
        reader = reader_for(Path(input_path), fmt)
        cached = (key, reader, reader.shards(Path(input_path)))
        _WORKER["input"] = cached  # workers forked after plan() inherit it
    return cached[1], cached[2]


def plan(input_path: Path, out: Path, config: ClearanceConfig, fmt: str | None, *, force: bool = False) -> dict:
    """Create or re-open OUT/job.json; refuse to mix two different clearances in one OUT."""
    reader, shards = _input(input_path, fmt, fresh=True)  # a new job looks at the input afresh
    job = {"input": str(Path(input_path).resolve()), "format": type(reader).__name__, "config": config.to_dict(),
           "shards": [{"n": i, "id": s.id} for i, s in enumerate(shards)]}
    out.mkdir(parents=True, exist_ok=True)
    (out / "shards").mkdir(exist_ok=True)
    path = out / "job.json"
    if path.exists() and not force:
        old = json.loads(path.read_text(encoding="utf-8"))
        if {k: old.get(k) for k in job} != job:
            raise ClearanceError(f"{out} holds a different clearance (input, options or shards differ): "
                                 "use another --out, or --force to start over")
        _sweep_partial(out)
        return old
    # The job's identity is what was asked, not when: an interrupted and resumed job, and one that ran
    # straight through, write the same bytes.
    job["job_id"] = hashlib.sha256(json.dumps(job, sort_keys=True).encode()).hexdigest()[:16]
    job["started_at"] = datetime.now(UTC).isoformat()
    _write_json(path, job)
    return job


def _sweep_partial(out: Path) -> None:
    """Remove what a killed run was writing (temporary files); finished shards are kept."""
    for d in (out / "shards", out / "cleared"):
        if d.is_dir():
            for p in d.iterdir():
                if ".tmp" in p.name and p.is_file():
                    p.unlink()
                elif ".tmp" in p.name and p.is_dir():
                    shutil.rmtree(p, ignore_errors=True)


# -- one shard -------------------------------------------------------------------------------------

_WORKER: dict = {}


def _steps(config: ClearanceConfig) -> list:
    """The pipeline, built once per process (snapshot indexes load on first use, then serve every shard)."""
    verified = _WORKER.get("verified") or {}
    # Keyed by what was verified too: a snapshot re-exported at the same path must not reuse old indexes.
    key = json.dumps([config.to_dict(), sorted(s.snapshot_id for s in verified.values())], sort_keys=True)
    if _WORKER.get("key") != key:
        close_steps()
        steps: list = [MatchStep(load_matchers(config, _WORKER.get("verified")))]
        if config.check_web:
            steps.append(WebSignalsStep(allow_private=config.allow_private_urls))
        steps.append(DecideStep(config))
        _WORKER.update(key=key, steps=steps)
    return _WORKER["steps"]


def close_steps() -> None:
    """Close what this process's pipeline holds open (the web step's event loop and connections)."""
    for step in _WORKER.get("steps") or ():
        if isinstance(step, WebSignalsStep):
            step.close()


def _warm_up(input_path: Path, fmt: str | None, shard_n: int, config: ClearanceConfig, batch_size: int) -> None:
    """Match one batch of the input here, before workers fork: the indexes its items need load now and
    the workers share those pages copy-on-write, instead of each reading and building its own copy.
    Nothing is written; the batch is cleared again by its worker."""
    match = _steps(config)[0]
    reader, shards = _input(input_path, fmt)
    try:
        for items in reader.read(shards[shard_n], batch_size):
            match([Cleared(item=it) for it in items])
            break
    except Exception:  # noqa: BLE001 - only a warm-up: the shard's worker meets the same error and reports it
        pass


# Decisions are written in row groups of this many rows: a row group per batch made files slow to read.
_ROW_GROUP = 16_384


def run_shard(input_path: str, fmt: str | None, shard_n: int, out: str, config: ClearanceConfig,
              batch_size: int = 256) -> dict:
    """Process input shard ``shard_n`` completely and return its summary (also written to disk).

    Should the pass that writes the cleared output fail on the input where the reading pass did not (a
    reader without a guard of its own), the shard is cleared again with every item excluded and the
    failure recorded on each: the job goes on, and a resumed job meets the same failure."""
    try:
        return _run_shard(input_path, fmt, shard_n, out, config, batch_size)
    except _WriteFailed as e:
        return _run_shard(input_path, fmt, shard_n, out, config, batch_size, unwritable=str(e))


class _WriteFailed(ClearanceError):
    """The cleared output of a shard could not be written from its input (handled by run_shard)."""


def _run_shard(input_path: str, fmt: str | None, shard_n: int, out: str, config: ClearanceConfig,
               batch_size: int, unwritable: str | None = None) -> dict:
    out_p = Path(out)
    reader, shards = _input(input_path, fmt)
    shard = shards[shard_n]
    steps = _steps(config)
    summary = _Summary(config)
    rows: list[dict] = []
    state = {"in_steps": False}

    def flush(writer: pq.ParquetWriter) -> None:
        writer.write_table(pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA))
        rows.clear()

    def kept(writer: pq.ParquetWriter) -> Iterator[object]:
        state["in_steps"] = True  # an exception from here on is the pipeline's, not the writer's
        for items in reader.read(shard, batch_size):
            batch = [Cleared(item=it) for it in items]
            for step in steps:
                batch = step(batch)
            if unwritable is not None:
                for rec in batch:
                    rec.passes = False
                    if not rec.error:
                        rec.error, rec.error_field = unwritable, "cleared output"
            rows.extend(decision_row(r) for r in batch)
            if len(rows) >= _ROW_GROUP:
                flush(writer)
            for rec in batch:
                summary.add(rec)
                if rec.passes:
                    state["in_steps"] = False
                    yield rec.item
                    state["in_steps"] = True
        state["in_steps"] = False

    cleared_dir = out_p / "cleared"
    cleared_dir.mkdir(exist_ok=True)
    with atomic_file(_shard_file(out_p, shard_n, ".parquet")) as tmp, \
            pq.ParquetWriter(tmp, DECISIONS_SCHEMA, compression="zstd") as writer:
        if unwritable is not None:
            for _ in kept(writer):
                pass
        else:
            try:
                reader.write_cleared(shard, kept(writer), cleared_dir / _cleared_name(shard_n, shard))
            except SHARD_ERRORS as e:
                if state["in_steps"]:
                    raise
                raise _WriteFailed(f"shard {shard.id!r}: its cleared output could not be written: {e}") from e
        if rows:
            flush(writer)
    for name, leaves in (("items", summary.item_leaves), ("works", summary.work_leaves)):
        _write_leaves(_shard_file(out_p, shard_n, f".leaves-{name}.parquet"), sorted(leaves))
    data = summary.to_dict(shard_n, shard.id)
    _write_json(_shard_file(out_p, shard_n, ".json"), data)  # the done marker: written last
    return data


def _cleared_name(n: int, shard) -> str:
    name = Path(str(shard.path)).name or f"shard-{n:06d}"
    return f"{n:06d}-{name}"


_LEAVES_SCHEMA = pa.schema([("leaf", pa.string())])
_LEAF_BATCH = 65_536


def _write_leaves(path: Path, leaves: Iterable[str]) -> None:
    """Sorted leaves into ``path``, atomically, a row group at a time (never the whole set as one list)."""
    with atomic_file(path) as tmp, pq.ParquetWriter(tmp, _LEAVES_SCHEMA) as writer:
        for chunk in batched(leaves, _LEAF_BATCH):
            writer.write_table(pa.table({"leaf": pa.array(chunk, pa.string())}, schema=_LEAVES_SCHEMA))


def _read_leaves(path: Path) -> Iterator[str]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=_LEAF_BATCH, columns=["leaf"]):
        yield from batch.column(0).to_pylist()


def _merge_leaves(parts: list[Path], path: Path, leaf_bytes: Callable[[str], bytes]) -> StreamingRoot:
    """Merge the shards' sorted leaves into one sorted, distinct leaf file and return its Merkle root.
    Memory is a batch per shard and O(log n) hashes, however many items were cleared."""
    root = StreamingRoot()

    def distinct() -> Iterator[str]:
        last = None
        for leaf in heapq.merge(*(_read_leaves(p) for p in parts)):
            if leaf != last:
                root.add(leaf_bytes(leaf))
                last = leaf
                yield leaf

    _write_leaves(path, distinct())
    return root


# Errors listed with item, field and reason in each shard's summary and in report.json (all are counted).
MAX_ERROR_ITEMS = 1000


class _Summary:
    """Per-shard counts and the leaves and quote lines the final outputs need; small, mergeable JSON."""

    def __init__(self, config: ClearanceConfig):
        self.config = config
        self.by_decision: Counter = Counter()
        self.by_reason: Counter = Counter()
        self.by_modality: Counter = Counter()
        self.domains: Counter = Counter()
        self.holders: Counter = Counter()
        self.errors: Counter = Counter()
        self.error_items: list[dict] = []  # the first errors, each with item, field and reason
        self.items = 0
        self.passed = 0
        self.item_leaves: set[str] = set()
        self.work_leaves: set[str] = set()
        self.licensable: dict[str, dict] = {}

    def add(self, rec: Cleared) -> None:
        self.items += 1
        self.by_decision[rec.decision.value] += 1
        self.by_modality[rec.modality or "unknown"] += 1
        for r in rec.reasons:
            self.by_reason[f"{r['source']}:{r['value']}"] += 1
        if rec.error:
            self.errors[rec.error.split(":")[0][:80]] += 1
            self._note(rec.item.item, rec.error_field or "item", rec.error)
        if rec.signals is not None and rec.signals.errors:  # the URL's signals could not all be read
            first = rec.signals.errors[0]
            self.errors[f"web: {first.split(': ', 1)[-1].split(' (')[0].split(';')[0][:60]}"] += 1
            self._note(rec.item.item, "url", "; ".join(rec.signals.errors))
        if rec.item.url:
            self.domains[urlsplit(rec.item.url).hostname or "?"] += 1
        for m in rec.matches:
            for h in (m["terms"] or {}).get("holders", []):
                self.holders[h["name"]] += 1
        if rec.passes:
            self.passed += 1
            if rec.content_hash:
                self.item_leaves.add(rec.content_hash)
            for m in rec.matches:
                self.work_leaves.add(f"{m['snapshot']}:{m['work_id']}")
        if rec.decision is Value.LICENCE:
            cat, purpose = self.config.purpose, self.config.purpose_kind
            for m in rec.matches:
                terms = m["terms"]
                if terms is None or work_value(terms, cat, purpose) is not Value.LICENCE:
                    continue
                key = f"{m['snapshot']}:{m['work_id']}"
                entry = self.licensable.setdefault(key, {
                    "snapshot": m["snapshot"], "work_id": m["work_id"], "items": 0,
                    "holders": terms.get("holders", []), "offers": work_offers(terms, cat, purpose)})
                entry["items"] += 1

    def _note(self, item: str, field: str, reason: str) -> None:
        if len(self.error_items) < MAX_ERROR_ITEMS:
            self.error_items.append({"item": item, "field": field, "reason": reason[:1000]})

    def to_dict(self, n: int, shard_id: str) -> dict:
        return {"n": n, "shard": shard_id, "items": self.items, "passed": self.passed,
                "by_decision": dict(self.by_decision), "by_reason": dict(self.by_reason),
                "by_modality": dict(self.by_modality), "domains": dict(self.domains), "holders": dict(self.holders),
                "errors": dict(self.errors), "error_items": self.error_items,
                "licensable": [self.licensable[k] for k in sorted(self.licensable)]}


# -- executors -------------------------------------------------------------------------------------


def run_local(input_path: Path, out: Path, config: ClearanceConfig, job: dict, *, fmt: str | None, workers: int,
              batch_size: int, on_shard: Callable[[dict], None] | None = None) -> None:
    todo = pending_shards(out, job)
    if workers <= 1:
        for n in todo:
            done = run_shard(str(input_path), fmt, n, str(out), config, batch_size)
            if on_shard:
                on_shard(done)
        return
    # Where the platform forks, workers inherit what the warm-up loaded; elsewhere each worker loads.
    if todo:
        _warm_up(input_path, fmt, todo[0], config, batch_size)
    ctx = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
    # Frozen objects are never visited by the workers' cycle collector, so it does not write to (and copy)
    # the pages they share with this process.
    gc.freeze()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=die_with_parent,
                                 initargs=(os.getpid(),)) as pool:
            futures = [pool.submit(run_shard, str(input_path), fmt, n, str(out), config, batch_size) for n in todo]
            for f in as_completed(futures):
                done = f.result()
                if on_shard:
                    on_shard(done)
    finally:
        gc.unfreeze()


# -- final outputs ---------------------------------------------------------------------------------


def finish(out: Path, job: dict, config: ClearanceConfig, signing_key, *, engine: str,
           verified: dict | None = None) -> dict:
    """Merge the shard outputs into the final files; deterministic, so a resumed job writes the same bytes."""
    from fairtrain.core.keys import sign_document
    from fairtrain.core.snapshot import verify_snapshot
    from fairtrain.services.clearance.report import quote, render_html

    shards = [json.loads(_shard_file(out, s["n"], ".json").read_text(encoding="utf-8")) for s in job["shards"]]
    with atomic_file(out / "decisions.parquet") as tmp, \
            pq.ParquetWriter(tmp, DECISIONS_SCHEMA, compression="zstd") as writer:
        for s in job["shards"]:  # a shard at a time: memory is bounded by the largest shard, not the dataset
            writer.write_table(pq.ParquetFile(_shard_file(out, s["n"], ".parquet")).read())

    total: dict[str, Counter] = {k: Counter() for k in ("by_decision", "by_reason", "by_modality", "domains", "holders",
                                                        "errors")}
    for s in shards:
        for k in total:
            total[k].update(s[k])
    items = sum(s["items"] for s in shards)
    passed = sum(s["passed"] for s in shards)

    def parts(name: str) -> list[Path]:
        paths = [_shard_file(out, s["n"], f".leaves-{name}.parquet") for s in job["shards"]]
        if missing := [p.name for p in paths if not p.exists()]:
            raise ClearanceError(f"{out}: shard leaves {', '.join(missing[:3])} missing (shards cleared by an "
                                 "older fairtrain?): run again with --force")
        return paths

    item_set = _merge_leaves(parts("items"), out / "leaves-items.parquet", bytes.fromhex)
    work_set = _merge_leaves(parts("works"), out / "leaves-works.parquet", str.encode)

    lic = quote([w for s in shards for w in s["licensable"]], config)
    _write_json(out / "licence-quote.json", lic)

    snapshots = []
    for p in config.snapshots:
        snap = (verified or {}).get(str(p)) or verify_snapshot(Path(p), _trusted(config))
        snapshots.append({"path": str(p), "snapshot_id": snap.snapshot_id, "registry": snap.manifest.get("registry"),
                          "key_id": snap.signer.key_id, "created_at": snap.manifest.get("created_at")})
    report = {
        "input": job["input"], "format": job["format"], "engine": engine, "job_id": job["job_id"],
        "licensee": config.licensee, "purpose": config.purpose.value, "mode": config.mode,
        "research": config.research, "check_web": config.check_web,
        "mode_note": ("permission first: only items with an explicit allow or a granted licence pass; "
                      "unknown items are excluded") if config.mode == "permission" else
                     ("RESERVATION MODE: items nobody has registered or reserved (unknown) PASS; only explicit "
                      "reservations exclude. This is not permission."),
        "items": items, "passed": passed, "excluded": items - passed,
        **{k: dict(sorted(v.items(), key=lambda kv: (-kv[1], kv[0]))) for k, v in total.items()},
        # every error is counted in "errors"; the first ones are listed with item, field and reason
        "error_items": [e for s in shards for e in s.get("error_items", [])][:MAX_ERROR_ITEMS],
        "snapshots": snapshots, "licence_quote": {"works": lic["works"], "totals": lic["totals"]},
        "shards": len(shards),
    }
    _write_json(out / "report.json", report)
    with atomic_file(out / "report.html") as tmp:
        tmp.write_text(render_html(report), encoding="utf-8")

    manifest = {
        "format": "fairtrain-clearance/1", "licensee": config.licensee, "purpose": config.purpose.value,
        "mode": config.mode, "input": job["input"], "job_id": job["job_id"],
        "items": items, "cleared": passed, "snapshots": snapshots,
        "cleared_items": {"root": item_set.root.hex(), "size": item_set.size,
                          "leaf": "xxh3-128 of the item's bytes", "leaves": "leaves-items.parquet"},
        "cleared_works": {"root": work_set.root.hex(), "size": work_set.size,
                          "leaf": "<snapshot_id>:<work_id> of works matched in cleared items",
                          "leaves": "leaves-works.parquet"},
        "decisions_sha256": hashlib.sha256((out / "decisions.parquet").read_bytes()).hexdigest(),
    }
    signed = sign_document(manifest, signing_key)
    _write_json(out / "manifest.json", signed)
    return report


def _trusted(config: ClearanceConfig):
    from fairtrain.core.keys import PublicKey

    return [PublicKey.from_b64(k) for k in config.trusted_keys] or None


def clear(input_path: Path, out: Path, config: ClearanceConfig, signing_key, *, fmt: str | None = None,
          engine: str = "local", workers: int = 1, batch_size: int = 256, force: bool = False,
          ray_address: str | None = None, on_shard: Callable[[dict], None] | None = None,
          on_plan: Callable[[dict], None] | None = None) -> dict:
    """Clear ``input_path`` into ``out``; resumes a job OUT already holds. Returns the report."""
    from fairtrain.core.snapshot import verify_snapshot

    if engine not in ENGINES:  # before anything is written to OUT
        raise ClearanceError(f"unknown engine {engine!r} ({' or '.join(ENGINES)})")

    # Verify before anything is trusted; this process then uses what it verified (other processes, such as
    # Ray actors, verify for themselves when they load).
    verified = {str(p): verify_snapshot(Path(p), _trusted(config)) for p in config.snapshots}
    for snap in verified.values():
        snap.require(config.purpose_kind)  # before job.json: a snapshot without terms for the purpose is refused
    _WORKER["verified"] = verified
    job = plan(Path(input_path), Path(out), config, fmt, force=force)
    if on_plan:
        on_plan(job)
    try:
        if engine == "local":
            run_local(Path(input_path), Path(out), config, job, fmt=fmt, workers=workers, batch_size=batch_size,
                      on_shard=on_shard)
        else:
            from fairtrain.services.clearance.ray_engine import run_ray

            run_ray(Path(input_path), Path(out), config, job, fmt=fmt, workers=workers, batch_size=batch_size,
                    address=ray_address, on_shard=on_shard)
    finally:
        close_steps()
    return finish(Path(out), job, config, signing_key, engine=engine, verified=verified)


__all__ = ["ClearanceConfig", "ClearanceError", "clear", "replace", "run_shard"]
