"""Clearance as a list of small steps over batches (datatrove's shape). Executors run the same steps.

A batch is a list of :class:`~fairtrain.services.clearance.records.ItemRecord`, one per input item. Each
:class:`PipelineStep` takes a batch and returns it with its part filled in: what each item matched
(:class:`MatchStep`), what the web says about its URL (:class:`WebSignalsStep`), the decision
(:class:`DecideStep`). :func:`build_pipeline` is the one place that says which steps a clearance runs, in
what order; a new step is a class here and a line there. Nothing here knows about processes, shards on
disk or Ray: the shard runner (``shard.py``) feeds the steps, the executors run shard runners.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from fairtrain.core.errors import InvalidInput
from fairtrain.core.matcher import SnapshotMatcher, content_hash, fingerprint_items
from fairtrain.core.media import detect_media_type, document_format
from fairtrain.core.requires import Requirement, Requires
from fairtrain.core.snapshot import work_value
from fairtrain.core.vocab import Category, Purpose, Value, most_restrictive
from fairtrain.services.clearance._readers_base import MAX_TEXT_BYTES
from fairtrain.services.clearance.records import ItemRecord, Match, Reason

MODES = ("permission", "reservation")

Batch = list[ItemRecord]


class PipelineStep(Requires, ABC):
    """One step of the clearance pipeline.

    ``step(batch)`` takes a batch of records and returns it, each record with the step's part filled in
    (a step may also drop or add records: the next step gets what this one returns). ``close()`` releases
    what the step holds open; the shard runner calls it when its process is done. ``requires`` names the
    optional packages the step needs (:class:`~fairtrain.core.requires.Requirement`: the module and the
    exact ``pip install`` line); building the step without them raises ``ToolMissing`` at once."""

    requires: tuple[Requirement, ...] = ()

    @abstractmethod
    def __call__(self, batch: Batch) -> Batch: ...

    def close(self) -> None:
        """Release what the step holds open (event loops, connections). Safe to call twice."""


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
        return {
            "snapshots": [str(p) for p in self.snapshots],
            "purpose": self.purpose.value,
            "licensee": self.licensee,
            "mode": self.mode,
            "research": self.research,
            "check_web": self.check_web,
            **({"allow_private_urls": True} if self.allow_private_urls else {}),
        }  # jobs without it keep their id


class MatchStep(PipelineStep):
    """Fingerprint every readable item once and match it against every snapshot. Each record keeps its
    fingerprint (``fingerprint``), which the shard runner stores for a later ``clear --since``."""

    def __init__(self, matchers: Sequence[SnapshotMatcher]):
        self.matchers = list(matchers)

    def __call__(self, batch: Batch) -> Batch:
        self.match(self.contents(batch))
        return batch

    def contents(self, batch: Batch) -> list[tuple[ItemRecord, bytes | Path]]:
        """The records whose content is here to match, with it, each with its content hash set; the others
        get their error (unreadable, too long) or are left to the web signals (no local content)."""
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
            if (
                not isinstance(data, Path)  # a local video, fingerprinted from its file
                and len(data) > MAX_TEXT_BYTES
                and (it.media_type or detect_media_type(data[:8192], it.item)) == "text"
                and document_format(data[:8192], it.item) is None
            ):  # a document: core.extract caps it
                rec.error, rec.error_field = (
                    (f"{len(data)} bytes of text, more than the {MAX_TEXT_BYTES} that are fingerprinted"),
                    "content",
                )
                continue
            try:
                rec.content_hash = content_hash(data)  # a file's in 1 MiB blocks
            except OSError as e:
                rec.error, rec.error_field = f"local file {it.item!r} is unreadable: {e.strerror or e}", "content"
                continue
            todo.append((rec, data))
        return todo

    def match(self, todo: list[tuple[ItemRecord, bytes | Path]]) -> None:
        """Fingerprint ``todo``'s contents (once, whatever the number of snapshots) and match them."""
        if not todo or not self.matchers:
            return
        results, fps = fingerprint_items([(r.item.item, d) for r, d in todo], [r.item.media_type for r, _ in todo])
        for (rec, _), res, fp in zip(todo, results, fps, strict=True):
            rec.modality = rec.modality or res.modality
            rec.seconds = rec.seconds if rec.seconds is not None else res.seconds
            if res.error:
                rec.error, rec.error_field = res.error, "content"
            rec.fingerprint = fp
        for matcher in self.matchers:
            for res in results:
                res.matches = []
            matcher.match_fingerprints(results, fps)
            add_matches([r for r, _ in todo], matcher, [res.matches for res in results])


def add_matches(records: Sequence[ItemRecord], matcher: SnapshotMatcher, found: Sequence[list]) -> None:
    """Each record's ``(Match, terms)`` pairs found in ``matcher``'s snapshot, as the records' matches."""
    sid = matcher.snapshot.snapshot_id
    for rec, pairs in zip(records, found, strict=True):
        for m, terms in pairs:
            rec.matches.append(
                Match(
                    snapshot=sid,
                    work_id=m.work_id,
                    score=round(m.score, 6),
                    stage=m.stage,
                    evidence=dict(m.evidence),
                    terms=terms,
                    exact_score=float(m.score),
                )
            )


class WebSignalsStep(PipelineStep):
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
            self._finalizer = multiprocessing.util.Finalize(
                self, _close_web, (self.loop, self.checker), exitpriority=10
            )
        return self.loop

    def close(self) -> None:
        import os

        if self.loop is not None and self._pid == os.getpid():
            self._finalizer()
        self.loop = self.checker = self._finalizer = None

    def __call__(self, batch: Batch) -> Batch:
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


class DecideStep(PipelineStep):
    """The shared decision engine's verdict per item, and whether it passes in this mode."""

    def __init__(self, config: ClearanceConfig):
        self.config = config

    def __call__(self, batch: Batch) -> Batch:
        cat = self.config.purpose
        for rec in batch:
            values: list[Value] = []
            for m in rec.matches:
                v, why, granted = self._registered(m, cat)
                values.append(v)
                rec.reasons.append(Reason("registry", v, why, snapshot=m.snapshot, work_id=m.work_id, granted=granted))
            if rec.signals is not None and rec.signals.terms.statements:
                d = rec.signals.decide(cat)
                if d.value is not Value.UNKNOWN:
                    values.append(d.value)
                    rec.reasons.append(
                        Reason(
                            "web",
                            d.value,
                            tuple(sorted({r.statement.provenance.source for r in d.reasons if r.counted})),
                            url=rec.item.url,
                        )
                    )
            if rec.error and not rec.matches:
                rec.decision = Value.UNKNOWN
                rec.reasons.append(Reason("error", Value.UNKNOWN, rec.error))
            elif values:
                rec.decision = most_restrictive(values)
            else:
                rec.decision = Value.UNKNOWN
                why = (
                    "no registered work matched and no signal applies"
                    if rec.content_hash
                    else "content not local and no web signal read (clear with --check-web to read the URL's signals)"
                )
                rec.reasons.append(Reason("default", Value.UNKNOWN, why))
            rec.passes = rec.decision is Value.ALLOW or (
                self.config.mode == "reservation" and rec.decision is Value.UNKNOWN
            )
        return batch

    def _registered(self, m: Match, cat: Category) -> tuple[Value, str, bool]:
        """The work's value for this licensee and purpose, why, and whether a licence grant is what allows it."""
        terms = m.terms
        if terms is None:
            return Value.DENY, "matched a registered work missing from the snapshot's terms", False
        purpose = self.config.purpose_kind
        public = work_value(terms, cat, purpose)
        value = work_value(terms, cat, purpose, self.config.licensee)
        use = f"{cat.value}, {purpose.value} use"
        if value is not public:
            return (
                value,
                f"licence granted to {self.config.licensee} ({public.value} for others; {use})",
                (value is Value.ALLOW and public is Value.LICENCE),
            )
        return public, f"registered work's effective terms for {use}", False


def load_matchers(config: ClearanceConfig, verified: dict | None = None) -> list[SnapshotMatcher]:
    """Matchers for the config's snapshots: from ``verified`` ones (path → Snapshot), else verified now."""
    from fairtrain.core.keys import PublicKey

    trusted = [PublicKey.from_b64(k) for k in config.trusted_keys] or None
    matchers = [
        SnapshotMatcher((verified or {})[str(p)]) if str(p) in (verified or {}) else SnapshotMatcher.open(p, trusted)
        for p in config.snapshots
    ]
    for m in matchers:
        m.snapshot.require(config.purpose_kind)  # an older snapshot without research terms is refused, by name
    return matchers


def build_pipeline(config: ClearanceConfig, verified: dict | None = None, reuse=None) -> list[PipelineStep]:
    """The steps a clearance runs, in order: the one place a step is added.

    ``verified``: snapshots this process verified already (path → Snapshot); others are verified now.
    Snapshot indexes load when the first item of their modality arrives, then serve every shard.
    ``reuse``: a :class:`~fairtrain.services.clearance.reuse.ReusePlan` (``clear --since``): items whose
    content an earlier clearance matched keep its matches where the snapshots' changes cannot touch them."""
    matchers = load_matchers(config, verified)
    steps: list[PipelineStep] = [reuse.match_step(matchers) if reuse is not None else MatchStep(matchers)]
    if config.check_web:
        steps.append(WebSignalsStep(allow_private=config.allow_private_urls))
    steps.append(DecideStep(config))
    return steps


__all__ = [
    "Batch",
    "ClearanceConfig",
    "DecideStep",
    "MatchStep",
    "PipelineStep",
    "WebSignalsStep",
    "add_matches",
    "build_pipeline",
    "load_matchers",
]
