"""The decision engine: pure functions from declared facts to a decision. No I/O.

Rules (see ARCHITECTURE.md for the prose version):

* Levels, most specific first: licence grant to the licensee, work, holder catalogue, organisation
  repertoire (only within a valid mandate), then the default, which is ``deny`` for a registered work.
* A statement about a category applies to everything under it (``deny tdm`` denies ``train-genai``).
* Every applicable statement *counts* unless it is overridden: a statement is overridden by a counted
  statement that is at least as specific in level and in category, and strictly more in one, made by
  the same party or by a party that party has mandated (or, for an organisation's statement, by its
  mandating member). The decision is the most restrictive counted value. So between parties the most
  restrictive value wins; a party may loosen its own broader reservation ("deny tdm, allow search",
  or "deny my catalogue, allow this work"); nobody may loosen someone else's; and ``allow train-ai``
  never loosens an explicit ``deny train-genai``.
* Declarations are never edited: a newer declaration by the same party about the same thing
  supersedes the older one from its own declaration time, and a ``None`` value withdraws it. Asking
  ``at`` a past time sees exactly what had been declared by then.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from fairtrain.core.vocab import (
    Category,
    Decision,
    Level,
    Offer,
    Provenance,
    Purpose,
    Reason,
    Statement,
    Terms,
    Value,
)

_REGISTRY_LEVELS = (Level.GRANT, Level.WORK, Level.CATALOGUE, Level.REPERTOIRE)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Declaration:
    """A stored declaration or licence grant, as the engine sees it.

    ``target`` is what it is about: the work for work-level declarations and grants, the holder for
    a catalogue declaration, the organisation for a repertoire declaration. ``value=None`` withdraws
    an earlier declaration of the same party about the same target and category.
    """

    id: int
    level: Level
    target: str
    party: str
    category: Category
    value: Value | None
    declared_at: datetime
    valid_from: datetime
    valid_until: datetime | None = None
    offer: Offer | None = None
    purpose: Purpose | None = None  # None = any purpose
    licensee: str | None = None  # grants only
    model_versions: tuple[str, ...] = ()  # grants only; empty = any version

    def in_force(self, at: datetime) -> bool:
        return self.valid_from <= at and (self.valid_until is None or at < self.valid_until)

    @property
    def group(self) -> tuple:
        return (self.level, self.target, self.party, self.category, self.purpose, self.licensee)


@dataclass(frozen=True, slots=True)
class Mandate:
    """A member (holder) mandating an organisation to act for some categories over a period.

    ``confirmed_at`` is when the holder's consent was given (``None``: pending, it never counts);
    ``ends_at`` is the end date a revocation set. Whether it counts at a time is :func:`mandate_in_force`.
    """

    holder: str
    org: str
    categories: frozenset[Category]
    valid_from: datetime
    valid_until: datetime | None = None
    declared_at: datetime | None = None
    confirmed_at: datetime | None = None
    ends_at: datetime | None = None

    def covers(self, category: Category, at: datetime) -> bool:
        return mandate_in_force(self, at) and any(c.covers(category) for c in self.categories)


def mandate_in_force(m, at: datetime) -> bool:
    """THE rule for a mandate in force at ``at``, for a :class:`Mandate` or a stored mandate row alike
    (anything with ``valid_from``, ``valid_until``, ``declared_at``, ``confirmed_at`` and ``ends_at``).

    It counts only once recorded (``declared_at``) and confirmed by the holder or by the signed paper
    mandate (``confirmed_at``; a pending one never counts), within its validity, and before the end date
    a revocation gave it. A revocation's end date is never before it was recorded, so asking about a
    past time sees what was in force then.
    """
    declared = getattr(m, "declared_at", None)
    if declared is not None and declared > at:
        return False
    if m.confirmed_at is None or m.confirmed_at > at or m.valid_from > at:
        return False
    return all(end is None or at < end for end in (m.valid_until, getattr(m, "ends_at", None)))


@dataclass(frozen=True, slots=True)
class WorkFacts:
    """Everything the engine needs to decide about one registered work."""

    work: str
    holders: frozenset[str]
    declarations: tuple[Declaration, ...] = ()
    mandates: tuple[Mandate, ...] = ()


@dataclass(frozen=True, slots=True)
class Query:
    category: Category
    at: datetime
    licensee: str | None = None
    purpose: Purpose = Purpose.COMMERCIAL
    model_version: str | None = None


@dataclass(slots=True)
class _Counted:
    statement: Statement
    counted: bool = True
    note: str = "counted"
    overrides: list[int] = field(default_factory=list)


DEFAULT_REGISTERED = Statement(
    category=Category.TDM,
    value=Value.DENY,
    level=Level.DEFAULT,
    provenance=Provenance(source="default", evidence={"rule": "a registered work without permission is denied"}),
)


def decide_registered(facts: WorkFacts, query: Query, signals: Terms = Terms()) -> Decision:
    """Decide ``query`` for one registered work, optionally together with web or file signals."""
    statements = registry_statements(facts, query)
    return combine(
        query.category,
        statements,
        signals.for_category(query.category),
        default=DEFAULT_REGISTERED,
        agents=_agents(facts, query),
    )


UNREGISTERED = Statement(
    category=Category.TDM,
    value=Value.UNKNOWN,
    level=Level.DEFAULT,
    provenance=Provenance(source="default", evidence={"rule": "unregistered, no signal"}),
)


def decide_unregistered(category: Category, signals: Terms = Terms()) -> Decision:
    """Decide for content no registry knows: signals only; with none, the verdict is ``unknown``.

    A site's statements are weighed like one party's: its more specific statement refines its broader
    one ("deny tdm, allow search"); across sites the most restrictive wins.
    """
    return combine(category, signals.for_category(category), default=UNREGISTERED, agents={})


def registry_statements(facts: WorkFacts, query: Query) -> list[Statement]:
    """The registry's statements in force for ``query``: superseded, withdrawn and out-of-scope ones dropped."""
    at, cat = query.at, query.category
    latest: dict[tuple, Declaration] = {}
    for d in facts.declarations:
        if d.declared_at > at or not d.in_force(at) or d.category not in cat.lineage:
            continue
        if d.purpose is not None and d.purpose is not query.purpose:
            continue
        if d.level is Level.GRANT and not _grant_applies(d, query):
            continue
        prev = latest.get(d.group)
        if prev is None or (d.declared_at, d.id) > (prev.declared_at, prev.id):
            latest[d.group] = d
    out = []
    for d in latest.values():
        if d.value is None or not _speaks_for_work(d, facts, cat, at):
            continue
        out.append(
            Statement(
                category=d.category,
                value=d.value,
                level=d.level,
                offer=d.offer,
                provenance=Provenance(
                    source=f"{'grant' if d.level is Level.GRANT else 'declaration'}:{d.id}",
                    party=d.party,
                    at=d.declared_at,
                ),
            )
        )
    out.sort(key=lambda s: (-s.level.specificity, s.provenance.source))
    return out


def _grant_applies(d: Declaration, q: Query) -> bool:
    if q.licensee is None or d.licensee != q.licensee:
        return False
    return not d.model_versions or q.model_version is None or q.model_version in d.model_versions


def _speaks_for_work(d: Declaration, facts: WorkFacts, category: Category, at: datetime) -> bool:
    """Whether the declaring party has standing for this work: a holder, or an organisation they mandated."""
    if d.level is Level.CATALOGUE:
        return d.party in facts.holders
    return has_standing(facts, d.party, category, at)


def has_standing(facts: WorkFacts, party: str, category: Category, at: datetime) -> bool:
    """Whether ``party`` may answer for the work in ``category`` at ``at``: one of its holders, or an
    organisation a holder mandated for that category with the mandate in force. The engine counts only
    such parties' statements, and only they may grant a licence for the work."""
    if party in facts.holders:
        return True
    return any(m.org == party and m.holder in facts.holders and m.covers(category, at) for m in facts.mandates)


def _agents(facts: WorkFacts, q: Query) -> dict[str, frozenset[str]]:
    """For each party, the parties whose more specific statements may loosen its reservations."""
    related: dict[str, set[str]] = {}
    for m in facts.mandates:
        if m.covers(q.category, q.at):
            related.setdefault(m.holder, set()).add(m.org)
            related.setdefault(m.org, set()).add(m.holder)
    return {p: frozenset(s) for p, s in related.items()}


def combine(
    category: Category,
    registry: Iterable[Statement],
    signals: Iterable[Statement] = (),
    *,
    default: Statement,
    agents: Mapping[str, frozenset[str]],
) -> Decision:
    """Weigh statements: overridden ones drop out, the most restrictive counted value wins."""
    entries = [_Counted(s) for s in registry]
    # Most specific first (level, then category), so each statement meets its overriders already settled.
    entries.sort(key=lambda e: (-e.statement.level.specificity, -e.statement.category.depth))
    for i, e in enumerate(entries):
        s = e.statement
        for j in range(i):
            o = entries[j]
            t = o.statement
            if o.counted and _more_specific(t, s) and _may_speak_for(t.provenance.party, s.provenance.party, agents):
                e.counted = False
                e.note = f"overridden by {t.provenance.source} ({t.level.value} {t.category.value}, same party or its mandate)"
                break
    entries.extend(_Counted(s, note="counted (signal)") for s in signals)

    counted = [e.statement for e in entries if e.counted]
    if not counted:
        reasons = (Reason(default, True, "no declaration applies"),)
        return Decision(category=category, value=default.value, reasons=reasons)
    value = max((s.value for s in counted), key=lambda v: v.restrictiveness)
    offers = tuple(dict.fromkeys(s.offer for s in counted if s.value is value and s.offer is not None))
    reasons = tuple(Reason(e.statement, e.counted, e.note) for e in entries)
    return Decision(category=category, value=value, offers=offers if value is Value.LICENCE else (), reasons=reasons)


def _more_specific(t: Statement, s: Statement) -> bool:
    """``t`` is at least as specific as ``s`` in level and in category, and strictly more in one."""
    tl, sl, td, sd = t.level.specificity, s.level.specificity, t.category.depth, s.category.depth
    return tl >= sl and td >= sd and (tl > sl or td > sd)


def _may_speak_for(speaker: str | None, party: str | None, agents: Mapping[str, frozenset[str]]) -> bool:
    if speaker is None or party is None:
        return False
    return speaker == party or speaker in agents.get(party, ())


def effective_values(
    facts: WorkFacts, at: datetime, *, purpose: Purpose = Purpose.COMMERCIAL
) -> dict[Category, Decision]:
    """The decision for every category, with no licensee: what a snapshot publishes for a work."""
    return {c: decide_registered(facts, Query(category=c, at=at, purpose=purpose)) for c in Category}


def per_purpose(facts: WorkFacts, decide_for: Callable[[Purpose], T]) -> dict[Purpose, T]:
    """``decide_for(purpose)`` for every purpose, computed once when no declaration names a purpose: the
    engine reads the purpose only there (``registry_statements``), so every purpose then decides alike."""
    if all(d.purpose is None for d in facts.declarations):
        same = decide_for(Purpose.COMMERCIAL)
        return dict.fromkeys(Purpose, same)
    return {p: decide_for(p) for p in Purpose}


__all__ = [
    "DEFAULT_REGISTERED",
    "Declaration",
    "Mandate",
    "Query",
    "WorkFacts",
    "combine",
    "decide_registered",
    "decide_unregistered",
    "effective_values",
    "has_standing",
    "mandate_in_force",
    "per_purpose",
    "registry_statements",
]
