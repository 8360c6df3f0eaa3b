"""One URL's signals read together: the single step between the format readers and the decision engine.

Each reader turns its format into statements on its own; only here are the statements of one origin (a
statement's ``provenance.party``) weighed against each other, in three rules:

1. **An inferred reading yields to an explicit one.** The robots.txt training-crawler heuristic and
   directive glosses such as ``noai`` → ``ai-input`` (marked ``heuristic`` / ``inferred`` in their
   evidence) are set aside when the same origin states a value for that very category explicitly.
2. **A reservation offered under licence is a licence.** Yes/no formats (AIPREF ``n``,
   Content-Signal ``no``, robots.txt ``Disallow``, ``noai``, a TDMRep reservation without a policy,
   XMP/C2PA prohibitions) cannot say "licence": a "no" there reserves the right. Where the same
   origin's licensing documents — RSL, or a TDMRep reservation with a policy — make ``licence`` their
   most specific word for that category, the "no" is read as ``licence``; otherwise it stays ``deny``.
   RSL prohibitions are never rewritten: the licence document itself says nothing is for sale.
3. **A more specific statement of an origin refines its broader one** (:func:`decide_signals`): a site
   that reserves all mining in TDMRep and allows search in Content-Signal allows search, just as a
   rights holder may loosen their own broader reservation in the registry. The rule is the engine's
   own (``decide.combine`` weighing each origin as one party); statements of different origins never
   refine each other, so across sources the most restrictive value still wins.

Every rewritten statement keeps its source and says in its evidence what the format said and why it was
read otherwise; set-aside statements are returned as reasons.

``decide.decide_unregistered`` lets no statement refine another, so on the same terms it is never less
restrictive than :func:`decide_signals`, but it cannot express "deny mining, allow search".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from fairtrain.core.decide import decide_unregistered
from fairtrain.core.vocab import (
    Category,
    Decision,
    Reason,
    Statement,
    Terms,
    Value,
    most_restrictive,
)

__all__ = ["CombinedSignals", "combine_signals", "decide_signals"]

_RSL = "rsl:"  # statement sources of RSL documents, whatever channel found them
_TDMREP = "tdmrep:"
_READ_AS = "read_as"  # evidence key of a statement rule 2 rewrote


@dataclass(frozen=True, slots=True)
class CombinedSignals:
    """One URL's statements after rules 1 and 2, and the statements set aside with the reason."""

    terms: Terms
    set_aside: tuple[Reason, ...] = ()


def combine_signals(terms: Terms) -> CombinedSignals:
    """Apply rules 1 and 2 to one URL's statements. Idempotent: combined terms combine to themselves."""
    statements = terms.statements
    kept: list[Statement] = []
    set_aside: list[Reason] = []
    for s in statements:
        explicit = _explicit_for(s, statements) if _inferred(s) else None
        if explicit is not None:
            note = (
                f"set aside: {_inferred(s)} is an inferred reading; {explicit.provenance.source} "
                f"says {s.category.value}={explicit.value.value} explicitly"
            )
            set_aside.append(Reason(s, False, note))
        else:
            kept.append(s)
    out = [_licence_if_offered(s, kept) for s in kept]
    return CombinedSignals(Terms(tuple(out)), tuple(set_aside))


def decide_signals(category: Category, terms: Terms) -> Decision:
    """The engine's decision for ``category`` from one URL's signals (rules 1-3); ``unknown`` without any."""
    combined = combine_signals(terms)
    # Passed where the engine weighs a party's own statements, so its override rule applies (rule 3).
    decision = decide_unregistered(category, combined.terms)
    aside = tuple(r for r in combined.set_aside if r.statement.category in category.lineage)
    return replace(decision, reasons=decision.reasons + aside) if aside else decision


# -- internals -----------------------------------------------------------------------------------


def _inferred(s: Statement) -> str | None:
    ev = s.provenance.evidence
    why = ev.get("inferred") or ev.get("heuristic")
    return str(why) if why else None


def _explicit_for(s: Statement, statements: Iterable[Statement]) -> Statement | None:
    party = s.provenance.party
    if party is None:
        return None
    return next(
        (
            t
            for t in statements
            if t.category is s.category
            and t.provenance.party == party
            and not _inferred(t)
            and t.value is not Value.UNKNOWN
        ),
        None,
    )


def _is_offer_document(s: Statement) -> bool:
    if _READ_AS in s.provenance.evidence:
        return False
    src = s.provenance.source
    return src.startswith(_RSL) or (src.startswith(_TDMREP) and s.value is Value.LICENCE)


def _offer_view(category: Category, party: str, statements: Iterable[Statement]) -> tuple[Value | None, list[str]]:
    """The origin's licensing documents on ``category``: their most specific word, and who says it."""
    docs = [
        t
        for t in statements
        if t.provenance.party == party and _is_offer_document(t) and t.category in category.lineage
    ]
    if not docs:
        return None, []
    deepest = max(t.category.depth for t in docs)
    at = [t for t in docs if t.category.depth == deepest]
    return most_restrictive(t.value for t in at), sorted({t.provenance.source for t in at})


def _licence_if_offered(s: Statement, statements: list[Statement]) -> Statement:
    party = s.provenance.party
    if s.value is not Value.DENY or party is None or s.provenance.source.startswith(_RSL):
        return s
    view, sources = _offer_view(s.category, party, statements)
    if view is not Value.LICENCE:
        return s
    evidence = dict(s.provenance.evidence)
    evidence[_READ_AS] = "licence"
    evidence["signal_value"] = "deny"
    evidence["because"] = (
        f"a yes/no 'no' reserves the right; {party} offers {s.category.value} under licence in {', '.join(sources)}"
    )
    return replace(s, value=Value.LICENCE, provenance=replace(s.provenance, evidence=evidence))
