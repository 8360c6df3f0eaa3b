"""Property-based tests of the decision engine's invariants (pure, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from fairtrain.core.decide import Declaration, Mandate, Query, WorkFacts, decide_registered
from fairtrain.core.money import Money
from fairtrain.core.vocab import Category, Level, Offer, PriceModel, Purpose, Value

T0 = datetime(2026, 1, 1, tzinfo=UTC)
HOLDERS = ("holder:1", "holder:2", "holder:3")
ORGS = ("org:1", "org:2")
OFFER = Offer(PriceModel.PER_WORK, Money("KRW", 1000))

times = st.integers(min_value=0, max_value=400).map(lambda d: T0 + timedelta(days=d))
categories = st.sampled_from(list(Category))
values = st.sampled_from([Value.ALLOW, Value.DENY, Value.LICENCE])


@st.composite
def declarations(draw, ident=st.integers(1, 10_000)):
    level = draw(st.sampled_from([Level.WORK, Level.CATALOGUE, Level.REPERTOIRE, Level.GRANT]))
    if level is Level.CATALOGUE:
        party = draw(st.sampled_from(HOLDERS))
        target = party
    elif level is Level.REPERTOIRE:
        party = draw(st.sampled_from(ORGS))
        target = party
    else:
        party = draw(st.sampled_from(HOLDERS + ORGS))
        target = "work:1"
    value = Value.ALLOW if level is Level.GRANT else draw(values)
    declared = draw(times)
    start = declared + timedelta(days=draw(st.integers(0, 30)))
    end = draw(st.none() | st.integers(1, 300).map(lambda d: start + timedelta(days=d)))
    return Declaration(
        id=draw(ident),
        level=level,
        target=target,
        party=party,
        category=draw(categories),
        value=value,
        declared_at=declared,
        valid_from=start,
        valid_until=end,
        offer=OFFER if value is Value.LICENCE else None,
        licensee="dev:acme" if level is Level.GRANT else None,
    )


@st.composite
def facts(draw):
    holders = frozenset(draw(st.sets(st.sampled_from(HOLDERS), min_size=1)))
    mandates = tuple(
        Mandate(
            holder=h,
            org=o,
            categories=frozenset(draw(st.sets(categories, min_size=1))),
            valid_from=(vf := draw(times)),
            valid_until=None,
            confirmed_at=vf,
        )
        for h in sorted(holders)
        for o in ORGS
        if draw(st.booleans())
    )
    decls = tuple(draw(st.lists(declarations(), max_size=8)))
    return WorkFacts(work="work:1", holders=holders, declarations=decls, mandates=mandates)


queries = st.builds(
    Query,
    category=categories,
    at=times,
    licensee=st.sampled_from([None, "dev:acme"]),
    purpose=st.sampled_from(list(Purpose)),
)


@given(st.frozensets(st.sampled_from(HOLDERS), min_size=1), queries)
def test_a_registered_work_without_declarations_is_denied(holders, q):
    d = decide_registered(WorkFacts(work="work:1", holders=holders), q)
    assert d.value is Value.DENY
    assert d.reasons[0].statement.level is Level.DEFAULT


@settings(max_examples=300)
@given(facts(), queries, declarations(ident=st.just(99_999)))
def test_adding_a_deny_never_loosens_a_decision(f, q, extra):
    if extra.level is Level.GRANT:
        return
    deny = Declaration(**{**{s: getattr(extra, s) for s in extra.__slots__}, "value": Value.DENY, "offer": None})
    before = decide_registered(f, q).value
    after = decide_registered(WorkFacts(f.work, f.holders, f.declarations + (deny,), f.mandates), q).value
    assert after.restrictiveness >= before.restrictiveness, (before, after)
    if before is not Value.ALLOW:
        assert after is not Value.ALLOW


@settings(max_examples=300)
@given(facts(), queries, st.lists(declarations(), max_size=4))
def test_time_travel_sees_only_what_was_declared_by_then(f, q, later):
    # Declarations made after the query time cannot change the answer about that time.
    later = [
        Declaration(
            **{
                **{s: getattr(d, s) for s in d.__slots__},
                "declared_at": q.at + timedelta(seconds=1 + i),
                "valid_from": q.at - timedelta(days=1),
            }
        )
        for i, d in enumerate(later)
    ]
    before = decide_registered(f, q)
    after = decide_registered(WorkFacts(f.work, f.holders, f.declarations + tuple(later), f.mandates), q)
    assert before.value is after.value


@settings(max_examples=300)
@given(facts(), queries)
def test_the_decision_is_the_most_restrictive_counted_statement(f, q):
    d = decide_registered(f, q)
    counted = [r.statement.value for r in d.reasons if r.counted]
    assert counted, "a decision always has at least one counted reason"
    assert d.value is max(counted, key=lambda v: v.restrictiveness)
    if d.value is Value.LICENCE:
        assert d.offers


@settings(max_examples=200)
@given(
    facts(),
    st.sampled_from([Category.TRAIN_AI, Category.TRAIN_GENAI, Category.SEARCH, Category.AI_INPUT]),
    times,
    st.sampled_from(HOLDERS),
)
def test_a_counted_deny_tdm_denies_every_category_below_it(f, cat, at, holder):
    # A catalogue-wide deny on tdm by a holder, with nothing more specific from that holder, denies all below.
    deny = Declaration(
        id=50_000,
        level=Level.CATALOGUE,
        target=holder,
        party=holder,
        category=Category.TDM,
        value=Value.DENY,
        declared_at=at - timedelta(days=1),
        valid_from=at - timedelta(days=1),
    )
    f2 = WorkFacts(f.work, f.holders | {holder}, (deny,), f.mandates)
    assert decide_registered(f2, Query(category=cat, at=at)).value is Value.DENY


def _decl(i, level, party, cat, value, *, target="work:1", at=T0, **kw):
    return Declaration(
        id=i,
        level=level,
        target=target,
        party=party,
        category=cat,
        value=value,
        declared_at=at,
        valid_from=at,
        offer=OFFER if value is Value.LICENCE else None,
        **kw,
    )


NOW = T0 + timedelta(days=10)


def test_allow_train_ai_does_not_override_an_explicit_deny_train_genai():
    f = WorkFacts(
        "work:1",
        frozenset({"holder:1"}),
        (
            _decl(1, Level.WORK, "holder:1", Category.TRAIN_AI, Value.ALLOW),
            _decl(2, Level.CATALOGUE, "holder:1", Category.TRAIN_GENAI, Value.DENY, target="holder:1"),
        ),
    )
    assert decide_registered(f, Query(Category.TRAIN_GENAI, NOW)).value is Value.DENY
    assert decide_registered(f, Query(Category.TRAIN_AI, NOW)).value is Value.ALLOW


def test_a_party_may_loosen_its_own_broader_reservation_but_not_someone_elses():
    own = WorkFacts(
        "work:1",
        frozenset({"holder:1"}),
        (
            _decl(1, Level.CATALOGUE, "holder:1", Category.TDM, Value.DENY, target="holder:1"),
            _decl(2, Level.WORK, "holder:1", Category.SEARCH, Value.ALLOW),
        ),
    )
    assert decide_registered(own, Query(Category.SEARCH, NOW)).value is Value.ALLOW
    assert decide_registered(own, Query(Category.TRAIN_AI, NOW)).value is Value.DENY
    other = WorkFacts(
        "work:1",
        frozenset({"holder:1", "holder:2"}),
        (
            _decl(1, Level.CATALOGUE, "holder:1", Category.TDM, Value.DENY, target="holder:1"),
            _decl(2, Level.WORK, "holder:2", Category.SEARCH, Value.ALLOW),
        ),
    )
    d = decide_registered(other, Query(Category.SEARCH, NOW))
    assert d.value is Value.DENY
    assert all(r.counted for r in d.reasons)


def test_repertoire_declarations_count_only_within_a_valid_mandate():
    decl = _decl(1, Level.REPERTOIRE, "org:1", Category.TRAIN_AI, Value.LICENCE, target="org:1")
    mandate = Mandate(
        "holder:1",
        "org:1",
        frozenset({Category.TRAIN_AI}),
        valid_from=T0,
        valid_until=T0 + timedelta(days=30),
        confirmed_at=T0,
    )
    f = WorkFacts("work:1", frozenset({"holder:1"}), (decl,), (mandate,))
    assert decide_registered(f, Query(Category.TRAIN_GENAI, NOW)).value is Value.LICENCE
    # after the mandate ends, the organisation no longer speaks for the work: default deny
    later = decide_registered(f, Query(Category.TRAIN_GENAI, T0 + timedelta(days=40)))
    assert later.value is Value.DENY and later.reasons[0].statement.level is Level.DEFAULT
    # a mandate for search does not cover training
    f2 = WorkFacts(
        "work:1",
        frozenset({"holder:1"}),
        (decl,),
        (Mandate("holder:1", "org:1", frozenset({Category.SEARCH}), valid_from=T0, confirmed_at=T0),),
    )
    assert decide_registered(f2, Query(Category.TRAIN_AI, NOW)).value is Value.DENY


def test_a_grant_turns_a_licence_into_allow_for_its_licensee_only():
    f = WorkFacts(
        "work:1",
        frozenset({"holder:1"}),
        (
            _decl(1, Level.WORK, "holder:1", Category.TRAIN_GENAI, Value.LICENCE),
            _decl(2, Level.GRANT, "holder:1", Category.TRAIN_GENAI, Value.ALLOW, licensee="dev:acme"),
        ),
    )
    assert decide_registered(f, Query(Category.TRAIN_GENAI, NOW, licensee="dev:acme")).value is Value.ALLOW
    assert decide_registered(f, Query(Category.TRAIN_GENAI, NOW, licensee="dev:other")).value is Value.LICENCE
    assert decide_registered(f, Query(Category.TRAIN_GENAI, NOW)).value is Value.LICENCE


def test_a_newer_declaration_supersedes_and_the_old_one_stays_queryable():
    f = WorkFacts(
        "work:1",
        frozenset({"holder:1"}),
        (
            _decl(1, Level.WORK, "holder:1", Category.TRAIN_AI, Value.ALLOW, at=T0),
            _decl(2, Level.WORK, "holder:1", Category.TRAIN_AI, Value.DENY, at=T0 + timedelta(days=5)),
            _decl(3, Level.WORK, "holder:1", Category.TRAIN_AI, None, at=T0 + timedelta(days=9)),
        ),
    )
    assert decide_registered(f, Query(Category.TRAIN_AI, T0 + timedelta(days=1))).value is Value.ALLOW
    assert decide_registered(f, Query(Category.TRAIN_AI, T0 + timedelta(days=6))).value is Value.DENY
    withdrawn = decide_registered(f, Query(Category.TRAIN_AI, T0 + timedelta(days=10)))
    assert withdrawn.value is Value.DENY and withdrawn.reasons[0].statement.level is Level.DEFAULT


def test_purpose_scoped_declarations_apply_only_to_that_purpose():
    f = WorkFacts(
        "work:1",
        frozenset({"holder:1"}),
        (_decl(1, Level.WORK, "holder:1", Category.TRAIN_AI, Value.ALLOW, purpose=Purpose.RESEARCH),),
    )
    assert decide_registered(f, Query(Category.TRAIN_AI, NOW, purpose=Purpose.RESEARCH)).value is Value.ALLOW
    assert decide_registered(f, Query(Category.TRAIN_AI, NOW, purpose=Purpose.COMMERCIAL)).value is Value.DENY
