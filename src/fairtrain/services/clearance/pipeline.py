"""Clearance as a list of small steps over batches (datatrove's shape). Executors run the same steps.

A batch is a list of :class:`Cleared` records, one per input :class:`Item`. The steps fill in what
each item matched, what the web says about its URL, and the decision. Nothing here knows about
processes, shards on disk or Ray.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import xxhash

from fairtrain.core.errors import InvalidInput
from fairtrain.core.matcher import SnapshotMatcher
from fairtrain.core.media import detect_media_type, document_format
from fairtrain.core.snapshot import SnapshotTerms, work_value
from fairtrain.core.vocab import Category, Purpose, Value, most_restrictive
from fairtrain.services.clearance._readers_base import MAX_TEXT_BYTES

MODES = ("permission", "reservation")


@dataclass
class Cleared:
    """One input item on its way through the pipeline."""

    item: object  # readers.Item
    modality: str | None = None
    content_hash: str | None = None  # xxh3-128 of the bytes: the leaf of the clearance manifest
    matches: list[dict] = field(default_factory=list)  # {"snapshot", "work_id", "score", "stage", "evidence", "terms"}
    signals: object | None = None  # signals.check.SignalReport
    decision: Value = Value.UNKNOWN
    reasons: list[dict] = field(default_factory=list)
    error: str | None = None
    passes: bool = False
    error_field: str | None = None  # the part of the item ``error`` is about (a column, member, ``content``)


@dataclass(frozen=True)
class ClearanceConfig:
    """What a clearance decides: the same for every shard and every executor."""

    snapshots: tuple[Path, ...]
    purpose: Category
    licensee: str
    mode: str = "permission"
    research: bool = False
    check_web: bool = False
    trusted_keys: tuple[str, ...] = ()  # base64 Ed25519 public keys the snapshots must be signed by
    allow_private_urls: bool = False  # --check-web may fetch loopback, private and link-local addresses

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidInput(f"mode must be one of {', '.join(MODES)}, not {self.mode!r}")

    @property
    def purpose_kind(self) -> Purpose:
        return Purpose.RESEARCH if self.research else Purpose.COMMERCIAL

    def to_dict(self) -> dict:
        return {"snapshots": [str(p) for p in self.snapshots], "purpose": self.purpose.value,
                "licensee": self.licensee, "mode": self.mode, "research": self.research,
                "check_web": self.check_web,
                **({"allow_private_urls": True} if self.allow_private_urls else {})}  # jobs without it keep their id


class MatchStep:
    """Fingerprint every readable item and match it against every snapshot."""

    def __init__(self, matchers: Sequence[SnapshotMatcher]):
        self.matchers = list(matchers)

    def __call__(self, batch: list[Cleared]) -> list[Cleared]:
        todo = []
        for rec in batch:
            it = rec.item
            if it.error:
                rec.error, rec.error_field = it.error, it.error_field
                continue
            data = it.data
            if data is None and it.text is not None and it.media_type in (None, "text"):
                data = it.text.encode("utf-8")  # a text row: the text is the content
            if data is None:
                continue  # content not local (a URL and maybe a caption): only web signals can speak for it
            if (len(data) > MAX_TEXT_BYTES and (it.media_type or detect_media_type(data[:8192], it.item)) == "text"
                    and document_format(data[:8192], it.item) is None):  # a document: core.extract caps it
                rec.error, rec.error_field = (f"{len(data)} bytes of text, more than the {MAX_TEXT_BYTES} that are "
                                              "fingerprinted"), "content"
                continue
            rec.content_hash = xxhash.xxh3_128_hexdigest(data)
            todo.append((rec, data))
        if not todo:
            return batch
        names = [r.item.item for r, _ in todo]
        kinds = [r.item.media_type for r, _ in todo]
        for matcher in self.matchers:
            sid = matcher.snapshot.snapshot_id
            results = matcher.match([(n, d) for n, (_, d) in zip(names, todo, strict=True)], kinds)
            for (rec, _), res in zip(todo, results, strict=True):
                rec.modality = rec.modality or res.modality
                if res.error:
                    rec.error, rec.error_field = res.error, "content"
                for m, terms in res.matches:
                    rec.matches.append({"snapshot": sid, "work_id": m.work_id, "score": round(m.score, 6),
                                        "stage": m.stage, "evidence": dict(m.evidence), "terms": terms})
        return batch


class WebSignalsStep:
    """Read the web signals for items with a URL (robots.txt, TDMRep, headers, HTML, RSL).

    The event loop and the checker (its per-origin caches and connection pools live on the loop) are made
    on first use, in the process that uses them: a step built before workers fork hands them no loop
    whose selector they would share. :meth:`close` closes both; a process that exits closes them too."""

    def __init__(self, **options):
        self.options = options
        self.loop = None
        self.checker = None
        self._pid = None
        self._finalizer = None

    def _started(self):
        import asyncio
        import multiprocessing.util
        import os

        from fairtrain.core.signals.check import SignalChecker

        if self.loop is None or self._pid != os.getpid():  # a copy forked from a process that used it: start anew
            self.loop = asyncio.new_event_loop()
            self.checker = SignalChecker(**self.options)
            self._pid = os.getpid()
            self._finalizer = multiprocessing.util.Finalize(self, _close_web, (self.loop, self.checker),
                                                            exitpriority=10)
        return self.loop

    def close(self) -> None:
        import os

        if self.loop is not None and self._pid == os.getpid():
            self._finalizer()
        self.loop = self.checker = self._finalizer = None

    def __call__(self, batch: list[Cleared]) -> list[Cleared]:
        with_url = [r for r in batch if r.item.url]
        if with_url:
            loop = self._started()
            reports = loop.run_until_complete(self.checker.check_many([r.item.url for r in with_url]))
            for rec, rep in zip(with_url, reports, strict=True):
                rec.signals = rep
        return batch


def _close_web(loop, checker) -> None:
    if loop.is_closed():
        return
    try:
        loop.run_until_complete(checker.aclose())
    except RuntimeError:  # a finalizer run while another loop runs in this thread: the sockets close with the loop
        pass
    loop.close()


class DecideStep:
    """The shared decision engine's verdict per item, and whether it passes in this mode."""

    def __init__(self, config: ClearanceConfig):
        self.config = config

    def __call__(self, batch: list[Cleared]) -> list[Cleared]:
        cat = self.config.purpose
        for rec in batch:
            values: list[Value] = []
            for m in rec.matches:
                v, why, granted = self._registered(m, cat)
                values.append(v)
                rec.reasons.append({"source": "registry", "snapshot": m["snapshot"], "work_id": m["work_id"],
                                    "value": v.value, "why": why, "granted": granted})
            if rec.signals is not None and rec.signals.terms.statements:
                d = rec.signals.decide(cat)
                if d.value is not Value.UNKNOWN:
                    values.append(d.value)
                    rec.reasons.append({"source": "web", "url": rec.item.url, "value": d.value.value,
                                        "why": sorted({r.statement.provenance.source for r in d.reasons if r.counted})})
            if rec.error and not rec.matches:
                rec.decision = Value.UNKNOWN
                rec.reasons.append({"source": "error", "value": "unknown", "why": rec.error})
            elif values:
                rec.decision = most_restrictive(values)
            else:
                rec.decision = Value.UNKNOWN
                why = ("no registered work matched and no signal applies" if rec.content_hash else
                       "content not local and no web signal read (clear with --check-web to read the URL's signals)")
                rec.reasons.append({"source": "default", "value": "unknown", "why": why})
            rec.passes = rec.decision is Value.ALLOW or (
                self.config.mode == "reservation" and rec.decision is Value.UNKNOWN)
        return batch

    def _registered(self, m: dict, cat: Category) -> tuple[Value, str, bool]:
        """The work's value for this licensee and purpose, why, and whether a licence grant is what allows it."""
        terms = m["terms"]
        if terms is None:
            return Value.DENY, "matched a registered work missing from the snapshot's terms", False
        purpose = self.config.purpose_kind
        public = work_value(terms, cat, purpose)
        value = work_value(terms, cat, purpose, self.config.licensee)
        use = f"{cat.value}, {purpose.value} use"
        if value is not public:
            return value, f"licence granted to {self.config.licensee} ({public.value} for others; {use})", (
                value is Value.ALLOW and public is Value.LICENCE)
        return public, f"registered work's effective terms for {use}", False


def decision_row(rec: Cleared) -> dict:
    """One row of decisions.parquet."""
    it = rec.item
    return {
        "item": it.item,
        "shard": it.shard,
        "row": it.row,
        "url": it.url,
        "modality": rec.modality,
        "decision": rec.decision.value,
        "passes": rec.passes,
        "work_ids": sorted({m["work_id"] for m in rec.matches}),
        "content_hash": rec.content_hash,
        "reasons": json.dumps(rec.reasons, sort_keys=True, ensure_ascii=False),
        "evidence": json.dumps([{k: m[k] for k in ("snapshot", "work_id", "score", "stage", "evidence")}
                                for m in rec.matches], sort_keys=True, ensure_ascii=False, default=str),
        "error": rec.error,
    }


def licensable(rec: Cleared) -> list[dict]:
    """The matched works a licence would clear, with their terms (for licence-quote.json)."""
    return [m for m in rec.matches if m["terms"] and m["terms"].get("status") != "rejected"
            and rec.decision is Value.LICENCE]


def load_matchers(config: ClearanceConfig, verified: dict | None = None) -> list[SnapshotMatcher]:
    """Matchers for the config's snapshots: from ``verified`` ones (path → Snapshot), else verified now."""
    from fairtrain.core.keys import PublicKey

    trusted = [PublicKey.from_b64(k) for k in config.trusted_keys] or None
    matchers = [SnapshotMatcher((verified or {})[str(p)]) if str(p) in (verified or {}) else
                SnapshotMatcher.open(p, trusted) for p in config.snapshots]
    for m in matchers:
        m.snapshot.require(config.purpose_kind)  # an older snapshot without research terms is refused, by name
    return matchers


__all__ = ["Cleared", "ClearanceConfig", "DecideStep", "MatchStep", "SnapshotTerms", "WebSignalsStep",
           "decision_row", "licensable", "load_matchers"]
