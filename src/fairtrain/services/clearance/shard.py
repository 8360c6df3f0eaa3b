"""The shard runner: one input shard through the pipeline, into its own output files; what every executor runs.

For input shard ``n`` a :class:`ShardRunner` writes (see ``run.py`` for the whole layout of OUT)::

    shards/<n>.parquet              its decisions, renamed into place when the shard is done
    shards/<n>.leaves-*.parquet     its manifest leaves (cleared items, matched works), sorted
    shards/<n>.json                 its summary (counts, quote lines): written last, the done marker
    cleared/<n>-<name>              its passing items in the input's own format
    scratch/                        temporary files while a shard runs (WebDataset videos); removed

A runner lists the input once and builds the pipeline once (in the process that first uses it), then
clears any number of shards; it holds all of a worker's state, so an executor keeps one runner per worker
process or actor and nothing lives in module globals. A runner pickles as what it was built from (Ray
actors and spawned processes build their own pipeline); a forked worker inherits it whole, indexes loaded.
"""

from __future__ import annotations

import heapq
import json
import shutil
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.parquet as pq

from fairtrain.core.files import atomic_file
from fairtrain.core.merkle import StreamingRoot
from fairtrain.core.snapshot import work_offers, work_value
from fairtrain.core.vocab import Value
from fairtrain.services.clearance import ClearanceError
from fairtrain.services.clearance._readers_base import SHARD_ERRORS, batched
from fairtrain.services.clearance.pipeline import ClearanceConfig, PipelineStep, build_pipeline
from fairtrain.services.clearance.readers import Reader, Shard, reader_for
from fairtrain.services.clearance.records import DECISIONS_SCHEMA, ItemRecord, decision_row
from fairtrain.services.clearance.report import MAX_REPORT_ITEMS
from fairtrain.services.clearance.reuse import KeptWriter, keep_path

# Decisions are written in row groups of this many rows: a row group per batch made files slow to read.
ROW_GROUP = 16_384
# Errors listed with item, field and reason in each shard's summary and in report.json (all are counted).
MAX_ERROR_ITEMS = 1000


def shard_file(out: Path, n: int, suffix: str) -> Path:
    """``OUT/shards/<n><suffix>``: the files that input shard ``n`` leaves behind (see the layout above)."""
    return out / "shards" / f"{n:06d}{suffix}"


def pending_shards(out: Path, job: dict) -> list[int]:
    """The job's shards not done yet: those without a summary, the marker written last."""
    return [s["n"] for s in job["shards"] if not shard_file(out, s["n"], ".json").exists()]


def write_json(path: Path, data: object) -> None:
    with atomic_file(path) as tmp:
        tmp.write_text(
            json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n", encoding="utf-8"
        )


class _WriteFailed(ClearanceError):
    """The cleared output of a shard could not be written from its input (handled by ShardRunner.run)."""


class ShardRunner:
    """Clears whole input shards of one job: ``runner.run(n)`` for each shard ``n`` an executor hands it.

    ``verified``: snapshots this process has verified (path → Snapshot), used instead of verifying again;
    it does not travel (a runner built elsewhere verifies for itself)."""

    def __init__(
        self,
        input_path: str | Path,
        fmt: str | None,
        out: str | Path,
        config: ClearanceConfig,
        batch_size: int = 256,
        *,
        verified: dict | None = None,
        reuse=None,
    ):
        self.input_path = Path(input_path)
        self.fmt = fmt
        self.out = Path(out)
        self.config = config
        self.batch_size = batch_size
        self.verified = verified
        self.reuse = reuse  # a reuse.ReusePlan (``clear --since``): it travels with the runner
        # Listed once per job and process: every shard asking for the list again read every Parquet
        # footer of the input once per shard.
        self.reader: Reader = reader_for(self.input_path, fmt, scratch=self.scratch)
        self.shards: list[Shard] = self.reader.shards(self.input_path)
        self._pipeline: list[PipelineStep] | None = None

    @property
    def scratch(self) -> Path:
        """``OUT/scratch``: where readers put a shard's temporary files (each pass its own directory, removed
        when the pass ends); :meth:`clear_scratch` removes what a killed run left."""
        return self.out / "scratch"

    def clear_scratch(self) -> None:
        """Remove ``OUT/scratch``: before a job's shards start (a killed run's leftovers) and after they end;
        never while a worker runs."""
        shutil.rmtree(self.scratch, ignore_errors=True)

    def __reduce__(self):
        return (
            _rebuilt,
            (str(self.input_path), self.fmt, str(self.out), self.config, self.batch_size, self.reuse),
        )

    @property
    def pipeline(self) -> list[PipelineStep]:
        """The steps, built on first use in this runner (snapshot indexes load when their modality's first
        item arrives, then serve every shard)."""
        if self._pipeline is None:
            self._pipeline = build_pipeline(self.config, self.verified, self.reuse)
        return self._pipeline

    def close(self) -> None:
        """Close what the pipeline holds open (the web step's event loop and connections)."""
        for step in self._pipeline or ():
            step.close()

    def warm_up(self, n: int) -> None:
        """Match one batch of shard ``n`` here, before workers fork: the indexes its items need load now and
        the workers share those pages copy-on-write, instead of each reading and building its own copy.
        Nothing is written; the batch is cleared again by its worker."""
        match = self.pipeline[0]
        try:
            for items in self.reader.read(self.shards[n], self.batch_size):
                match([ItemRecord(item=it) for it in items])
                break
        except Exception:  # noqa: BLE001, S110 - only a warm-up: the shard's worker meets the same error and reports it
            pass

    def run(self, n: int) -> dict:
        """Process input shard ``n`` completely and return its summary (also written to disk).

        Should the pass that writes the cleared output fail on the input where the reading pass did not (a
        reader without a guard of its own), the shard is cleared again with every item excluded and the
        failure recorded on each: the job goes on, and a resumed job meets the same failure."""
        try:
            return self._run(n)
        except _WriteFailed as e:
            return self._run(n, unwritable=str(e))

    def _run(self, shard_n: int, unwritable: str | None = None) -> dict:
        out_p = self.out
        reader = self.reader
        shard = self.shards[shard_n]
        steps = self.pipeline
        summary = ShardSummary(self.config)
        rows: list[dict] = []
        state = {"in_steps": False}

        def flush(writer: pq.ParquetWriter) -> None:
            writer.write_table(pa.Table.from_pylist(rows, schema=DECISIONS_SCHEMA))
            rows.clear()

        def kept(writer: pq.ParquetWriter) -> Iterator[object]:
            state["in_steps"] = True  # an exception from here on is the pipeline's, not the writer's
            for items in reader.read(shard, self.batch_size):
                batch = [ItemRecord(item=it) for it in items]
                for step in steps:
                    batch = step(batch)
                if unwritable is not None:
                    for rec in batch:
                        rec.passes = False
                        if not rec.error:
                            rec.error, rec.error_field = unwritable, "cleared output"
                rows.extend(decision_row(r) for r in batch)
                if len(rows) >= ROW_GROUP:
                    flush(writer)
                for rec in batch:
                    summary.add(rec)
                    keep.add(rec)
                    if rec.passes:
                        state["in_steps"] = False
                        yield rec.item
                        state["in_steps"] = True
            state["in_steps"] = False

        cleared_dir = out_p / "cleared"
        cleared_dir.mkdir(exist_ok=True)
        with (
            KeptWriter(keep_path(out_p, shard_n)) as keep,
            atomic_file(shard_file(out_p, shard_n, ".parquet")) as tmp,
            pq.ParquetWriter(tmp, DECISIONS_SCHEMA, compression="zstd") as writer,
        ):
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
            write_leaves(shard_file(out_p, shard_n, f".leaves-{name}.parquet"), sorted(leaves))
        data = summary.to_dict(shard_n, shard.id)
        write_json(shard_file(out_p, shard_n, ".json"), data)  # the done marker: written last
        return data


def _rebuilt(input_path, fmt, out, config, batch_size, reuse) -> ShardRunner:
    return ShardRunner(input_path, fmt, out, config, batch_size, reuse=reuse)


def _cleared_name(n: int, shard) -> str:
    name = Path(str(shard.path)).name or f"shard-{n:06d}"
    return f"{n:06d}-{name}"


# -- manifest leaves: each shard's sorted, merged into the job's ----------------------------------

_LEAVES_SCHEMA = pa.schema([("leaf", pa.string())])
LEAF_BATCH = 65_536


def write_leaves(path: Path, leaves: Iterable[str]) -> None:
    """Sorted leaves into ``path``, atomically, a row group at a time (never the whole set as one list)."""
    with atomic_file(path) as tmp, pq.ParquetWriter(tmp, _LEAVES_SCHEMA) as writer:
        for chunk in batched(leaves, LEAF_BATCH):
            writer.write_table(pa.table({"leaf": pa.array(chunk, pa.string())}, schema=_LEAVES_SCHEMA))


def _read_leaves(path: Path) -> Iterator[str]:
    for batch in pq.ParquetFile(path).iter_batches(batch_size=LEAF_BATCH, columns=["leaf"]):
        yield from batch.column(0).to_pylist()


def merge_leaves(parts: list[Path], path: Path, leaf_bytes: Callable[[str], bytes]) -> StreamingRoot:
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

    write_leaves(path, distinct())
    return root


class ShardSummary:
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
        self.reused = 0  # items whose matches came from the clearance given to ``--since``
        self.item_leaves: set[str] = set()
        self.work_leaves: set[str] = set()
        self.licensable: dict[str, dict] = {}
        self.report_items: list[dict] = []  # the first items, as report.html's table shows them

    def add(self, rec: ItemRecord) -> None:
        self.items += 1
        self.reused += rec.reused
        if len(self.report_items) < MAX_REPORT_ITEMS:
            self.report_items.append(report_item(rec))
        self.by_decision[rec.decision.value] += 1
        self.by_modality[rec.modality or "unknown"] += 1
        for r in rec.reasons:
            self.by_reason[f"{r.source}:{r.value.value}"] += 1
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
            for h in (m.terms or {}).get("holders", []):
                self.holders[h["name"]] += 1
        if rec.passes:
            self.passed += 1
            if rec.content_hash:
                self.item_leaves.add(rec.content_hash)
            for m in rec.matches:
                self.work_leaves.add(m.key)
        if rec.decision is Value.LICENCE:
            cat, purpose = self.config.purpose, self.config.purpose_kind
            for m in rec.matches:
                if m.terms is None or work_value(m.terms, cat, purpose) is not Value.LICENCE:
                    continue
                entry = self.licensable.setdefault(
                    m.key,
                    {
                        "snapshot": m.snapshot,
                        "work_id": m.work_id,
                        "items": 0,
                        "holders": m.terms.get("holders", []),
                        "offers": work_offers(m.terms, cat, purpose),
                    },
                )
                entry["items"] += 1

    def _note(self, item: str, field: str, reason: str) -> None:
        if len(self.error_items) < MAX_ERROR_ITEMS:
            self.error_items.append({"item": item, "field": field, "reason": reason[:1000]})

    def to_dict(self, n: int, shard_id: str) -> dict:
        return {
            "n": n,
            "shard": shard_id,
            "items": self.items,
            "passed": self.passed,
            "reused": self.reused,
            "by_decision": dict(self.by_decision),
            "by_reason": dict(self.by_reason),
            "by_modality": dict(self.by_modality),
            "domains": dict(self.domains),
            "holders": dict(self.holders),
            "errors": dict(self.errors),
            "error_items": self.error_items,
            "report_items": self.report_items,
            "licensable": [self.licensable[k] for k in sorted(self.licensable)],
        }


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def copy_span(evidence: dict) -> str | None:
    """Where a recognised video or audio copy lies, for people: "item 0:13–0:27 = work 0:59–1:13" (the picture's
    line where it matched, else the soundtrack's); None for evidence without times (text, images, exact)."""
    ev = evidence if "offset_s" in evidence else evidence.get("soundtrack") or {}
    length = ev.get("duration_s", ev.get("overlap_s"))
    if "offset_s" not in ev or "query_offset_s" not in ev or length is None:
        return None
    item, work = float(ev["query_offset_s"]), float(ev["offset_s"])
    # a picture matched at another speed runs longer or shorter in the work
    work_length = float(length) * (float(ev.get("speed", 1.0)) if ev.get("track") == "visual" else 1.0)
    return f"item {_clock(item)}–{_clock(item + float(length))} = work {_clock(work)}–{_clock(work + work_length)}"


def report_item(rec: ItemRecord) -> dict:
    """One row of the report's item table: the decision, the works matched (title, holders and organisations by
    name), the best similarity and the method that found it, and the reasons in words."""
    works = []
    for m in rec.matches:
        terms = m.terms or {}
        holders = [h["name"] for h in terms.get("holders", [])]
        # organisations by name (``org_names``: snapshots since names were exported; older ones give the ref)
        orgs = sorted(
            {(h.get("org_names") or {}).get(o, o) for h in terms.get("holders", []) for o in h.get("orgs", ())}
        )
        works.append(
            {
                "work_id": m.work_id,
                "title": terms.get("title"),
                "holders": holders,
                "orgs": orgs,
                "score": m.score,
                "method": m.stage,
                "where": copy_span(m.evidence),
            }
        )
    reasons = [
        f"{r.source}: {r.value.value} ({r.why if isinstance(r.why, str) else ', '.join(r.why)})" for r in rec.reasons
    ]
    return {
        "item": rec.item.item,
        "url": rec.item.url,
        "modality": rec.modality or "unknown",
        "decision": rec.decision.value,
        "works": works,
        "reason": "; ".join(reasons) or (rec.error or ""),
    }


__all__ = [
    "LEAF_BATCH",
    "MAX_ERROR_ITEMS",
    "ShardRunner",
    "ShardSummary",
    "merge_leaves",
    "pending_shards",
    "copy_span",
    "report_item",
    "shard_file",
    "write_json",
    "write_leaves",
]
