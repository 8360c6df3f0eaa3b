"""The distribution engine: sum invariants (hypothesis), worked examples, carry-forward, suspense, time rules."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import date
from fractions import Fraction as F

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fairtrain.core._distribution_split import hamilton_grouped
from fairtrain.core.distribution import (
    CarriedBalance,
    DistributionError,
    Formula,
    LicenceIncome,
    Method,
    Period,
    ReleasePolicy,
    Resolution,
    Share,
    SuspenseStatus,
    WorkShares,
    distribute,
    fiscal_deadlines,
    largest_remainder,
)
from fairtrain.core.keys import canonical_json
from fairtrain.core.money import Money

Q1 = Period(date(2026, 1, 1), date(2026, 3, 31))
Q2 = Period(date(2026, 4, 1), date(2026, 6, 30))


# ------------------------------------------------------------------------------------ largest remainder


@given(st.integers(0, 10**30), st.lists(st.integers(0, 10**20), min_size=1, max_size=30))
def test_largest_remainder_sums_exactly_and_stays_within_one_unit_of_the_quota(total, weights):
    if sum(weights) == 0:
        weights[0] = 1
    parts = largest_remainder(total, weights)
    denom = sum(weights)
    assert sum(parts) == total
    for p, w in zip(parts, weights):
        assert abs(p * denom - total * w) < denom  # |part - exact quota| < 1 unit


def test_largest_remainder_gives_the_leftover_to_the_largest_remainders_then_the_earlier_key():
    assert largest_remainder(10, [1, 1, 1]) == [4, 3, 3]
    assert largest_remainder(100, [1, 2, 3]) == [17, 33, 50]  # 16.67 17 ← .67 beats .33 and .0
    assert largest_remainder(5, [0, 1]) == [0, 5]
    with pytest.raises(ValueError):
        largest_remainder(1, [0, 0])


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.integers(0, 2**61), st.lists(st.integers(0, 2**40), min_size=1, max_size=8)),
        min_size=1,
        max_size=12,
    )
)
def test_grouped_numpy_split_equals_the_plain_one_including_products_beyond_int64(groups):
    groups = [(t, ws if sum(ws) else [1] + ws[1:]) for t, ws in groups]
    totals = np.array([t for t, _ in groups], dtype=np.int64)
    weights = np.array([w for _, ws in groups for w in ws], dtype=np.int64)
    group = np.repeat(np.arange(len(groups)), [len(ws) for _, ws in groups])
    got = hamilton_grouped(totals, weights, group).tolist()
    assert got == [p for t, ws in groups for p in largest_remainder(t, ws)]


# ------------------------------------------------------------------------------------ generated inputs

HOLDERS = [f"holder:{i}" for i in range(8)]
ORGS = {"org:komca": 1000, "org:stim": 1500, "org:zero": 0}


@st.composite
def shares_of(draw, work_id):
    n = draw(st.integers(1, 4))
    cuts = sorted(draw(st.lists(st.integers(1, 11), min_size=n - 1, max_size=n - 1, unique=True)))
    bounds = [0, *cuts, 12]
    holders = draw(st.lists(st.sampled_from(HOLDERS), min_size=n, max_size=n, unique=True))
    out = []
    for i, h in enumerate(holders):
        kind = draw(st.sampled_from(["plain", "plain", "org", "unidentified", "disputed"]))
        frac = F(bounds[i + 1] - bounds[i], 12)
        if kind == "unidentified":
            out.append(Share(None, frac))
        else:
            org = draw(st.sampled_from(sorted(ORGS))) if kind == "org" else None
            out.append(Share(h, frac, org, "two claimants" if kind == "disputed" else None))
    return WorkShares(work_id, out)


@st.composite
def scenarios(draw):
    work_ids = [f"work:{i}" for i in range(draw(st.integers(1, 10)))]
    works = [draw(shares_of(w)) for w in work_ids if draw(st.integers(0, 9))]  # some works have no holders
    licences = []
    for i in range(draw(st.integers(1, 5))):
        covered = draw(st.lists(st.sampled_from(work_ids), min_size=1, max_size=len(work_ids), unique=True))
        cur = draw(st.sampled_from(["KRW", "EUR"]))
        mode = draw(st.sampled_from(["equal", "usage", "attribution"]))
        figures = {w: draw(st.integers(0, 10**6)) for w in covered}
        if not any(figures.values()):
            figures[covered[0]] = 1
        licences.append(
            LicenceIncome(
                f"lic:{i}",
                Money(cur, draw(st.integers(0, 10**9))),
                date(2026, 2, draw(st.integers(1, 28))),
                covered,
                usage=figures if mode == "usage" else None,
                attribution=figures if mode == "attribution" else None,
                collector=draw(st.sampled_from([None, "org:komca"])),
            )
        )
    carried = [
        CarriedBalance(h, Money(c, draw(st.integers(1, 5000))))
        for h in HOLDERS
        for c in ("KRW", "EUR")
        if draw(st.integers(0, 3)) == 0
    ]
    formula = Formula(fee_bp=ORGS, thresholds={"KRW": draw(st.integers(0, 50_000)), "EUR": draw(st.integers(0, 3000))})
    return formula, licences, works, carried


def _shuffled(licences, works, carried, seed):
    rnd = random.Random(seed)

    def mix(xs):
        xs = list(xs)
        rnd.shuffle(xs)
        return xs

    lic = [
        replace(
            x,
            works=mix(x.works),
            usage=dict(mix(x.usage.items())) if x.usage else x.usage,
            attribution=dict(mix(x.attribution.items())) if x.attribution else x.attribution,
        )
        for x in mix(licences)
    ]
    return lic, [WorkShares(w.work_id, mix(w.shares)) for w in mix(works)], mix(carried)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios(), st.integers(0, 2**32))
def test_nothing_is_created_or_lost_and_the_run_is_deterministic_and_order_free(scenario, seed):
    formula, licences, works, carried = scenario
    run = distribute(Q1, formula, licences, works, carried)

    for cur in ("KRW", "EUR"):
        money_in = sum(x.amount.minor for x in licences if x.amount.currency == cur)
        money_in += sum(c.amount.minor for c in carried if c.amount.currency == cur)
        out = sum(h.paid + h.carried_forward for h in run.holders if h.currency == cur)
        out += sum(e.item.amount.minor for e in run.suspense if e.item.amount.currency == cur)
        out += sum(e.item.amount.minor for e in run.released if e.item.amount.currency == cur)
        out += sum(f.fee for f in run.fees if f.currency == cur)
        assert out == money_in, cur
    for t in run.totals:
        assert t.balanced

    # every licence's money is in its lines and suspense items, exactly
    for lic in licences:
        placed = sum(ln.gross for ln in run.lines if ln.licence_id == lic.licence_id)
        placed += sum(e.item.amount.minor for e in run.suspense if e.item.licence_id == lic.licence_id)
        assert placed == lic.amount.minor
    for ln in run.lines:
        assert ln.gross == ln.fee + ln.net and ln.gross > 0 and ln.fee >= 0
        if ln.organisation is None:
            assert ln.fee == 0
    for f in run.fees:
        lines = [ln for ln in run.lines if ln.organisation == f.organisation and ln.currency == f.currency]
        assert f.gross == sum(ln.gross for ln in lines) and f.fee == sum(ln.fee for ln in lines)
        assert abs(f.fee * 10_000 - f.gross * f.fee_bp) <= 5_000  # the organisation's fee is its quota, rounded
        for ln in lines:  # each line's fee is within one unit of its exact quota of the fee
            assert abs(ln.fee * f.gross - f.fee * ln.gross) < f.gross
    for h in run.holders:
        threshold = formula.thresholds[h.currency]
        assert h.paid + h.carried_forward == h.brought_forward + h.net
        assert (h.paid == 0) or (h.paid >= threshold and h.carried_forward == 0)

    again = distribute(Q1, formula, licences, works, carried)
    assert again.canonical_json == run.canonical_json and again.sha256 == run.sha256
    permuted = distribute(Q1, formula, *_shuffled(licences, works, carried, seed))
    assert permuted.canonical_json == run.canonical_json


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 10**12), st.lists(st.integers(1, 10**9), min_size=1, max_size=12))
def test_work_parts_differ_from_their_exact_quotas_by_less_than_one_unit(amount, usage):
    works = [f"w{i:02d}" for i in range(len(usage))]
    lic = LicenceIncome("lic", Money("KRW", amount), date(2026, 2, 1), works, usage=dict(zip(works, usage)))
    run = distribute(Q1, Formula(), [lic], [WorkShares(w, [Share("h" + w, F(1))]) for w in works])
    got = {ln.work_id: ln.gross for ln in run.lines}
    for w, u in zip(works, usage):
        assert abs(got.get(w, 0) * sum(usage) - amount * u) < sum(usage)
    assert sum(got.values()) == amount


def test_canonical_json_has_sorted_keys_and_integers_only():
    formula, licences, works = _example_krw()
    run = distribute(Q1, formula, licences, works)
    text = run.canonical_json.decode()
    doc = json.loads(text)
    assert text == json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)

    def walk(x):
        assert not isinstance(x, float)
        for v in x.values() if isinstance(x, dict) else x if isinstance(x, list) else ():
            walk(v)

    walk(doc)
    assert doc["formula"]["version"] == "fairtrain-distribution/1"
    assert run.canonical_json == canonical_json(run.to_document())  # the fast writer is the plain one


# ------------------------------------------------------------------------------------ worked examples


def _example_krw():
    """KRW (no minor unit): ₩1,000,000 for three songs, equal per work; KOMCA twelfths inside each song."""
    formula = Formula(fee_bp={"org:komca": 1500}, thresholds={"KRW": 1000})  # RIAK-style 15 % commission
    works = [
        WorkShares("song:a", [Share("composer:1", F(12, 12), "org:komca")]),
        WorkShares("song:b", [Share("composer:1", F(6, 12), "org:komca"), Share("lyricist:2", F(6, 12))]),
        WorkShares(
            "song:c",
            [
                Share("composer:3", F(4, 12), "org:komca"),
                Share("lyricist:2", F(4, 12)),
                Share("publisher:4", F(4, 12), "org:komca"),
            ],
        ),
    ]
    licences = [
        LicenceIncome("lic:songfox", Money("KRW", 1_000_000), date(2026, 2, 15), ["song:c", "song:a", "song:b"])
    ]
    return formula, licences, works


def test_worked_example_krw_equal_per_work_with_twelfths_and_a_15_percent_fee():
    formula, licences, works = _example_krw()
    run = distribute(Q1, formula, licences, works)
    assert run.licences[0].method is Method.EQUAL
    lines = {(ln.holder, ln.work_id): (ln.gross, ln.fee, ln.net) for ln in run.lines}
    # 1,000,000 / 3 = 333,333.33…: song:a (first by work id) takes the leftover won
    assert lines[("composer:1", "song:a")][0] == 333_334
    assert lines[("composer:1", "song:b")][0] == 166_667 and lines[("lyricist:2", "song:b")][0] == 166_666
    # song:c 333,333 in thirds = 111,111 each exactly
    assert {lines[(h, "song:c")][0] for h in ("composer:3", "lyricist:2", "publisher:4")} == {111_111}
    # KOMCA's fee: 15 % of 333,334 + 166,667 + 111,111 + 111,111 = 722,223 → 108,333.45 → ₩108,333
    (fee,) = run.fees
    assert (fee.gross, fee.fee) == (722_223, 108_333)
    assert sum(ln.fee for ln in run.lines) == 108_333
    totals = {h.holder: h for h in run.holders}
    assert totals["lyricist:2"].paid == 166_666 + 111_111 and totals["lyricist:2"].fee == 0
    assert run.totals[0].paid + run.totals[0].fees == 1_000_000


def test_worked_example_eur_usage_weighted_with_cents_and_an_attribution_licence():
    formula = Formula(fee_bp={"org:stim": 2000}, thresholds={"EUR": 0})
    works = [
        WorkShares("track:1", [Share("artist:a", F(2, 3), "org:stim"), Share("artist:b", F(1, 3))]),
        WorkShares("track:2", [Share("artist:b", F(1))]),
    ]
    training = LicenceIncome(
        "lic:train",
        Money.parse("100.00", "EUR"),
        date(2026, 3, 1),
        ["track:1", "track:2"],
        usage={"track:1": 2, "track:2": 1},
    )  # tokens
    output = LicenceIncome(
        "lic:output",
        Money.parse("0.05", "EUR"),
        date(2026, 3, 1),
        ["track:1", "track:2"],
        usage={"track:1": 1, "track:2": 1},
        attribution={"track:2": 7},
    )
    run = distribute(Q1, formula, [training, output], works)
    assert {s.licence_id: s.method for s in run.licences} == {
        "lic:train": Method.USAGE,
        "lic:output": Method.ATTRIBUTION,
    }
    lines = {(ln.holder, ln.work_id, ln.licence_id): ln for ln in run.lines}
    # €100.00 by tokens 2:1 → 6667 / 3333 cents; track:1 by 2/3 : 1/3 → 4445 / 2222 cents
    assert lines[("artist:b", "track:2", "lic:train")].gross == 3333
    assert lines[("artist:a", "track:1", "lic:train")].gross == 4445
    assert lines[("artist:b", "track:1", "lic:train")].gross == 2222
    # attribution says only track:2 shaped the output: all 5 cents go there, usage is ignored
    assert lines[("artist:b", "track:2", "lic:output")].gross == 5
    # STIM's 20 % of €44.45 = €8.89 exactly
    assert lines[("artist:a", "track:1", "lic:train")].fee == 889
    assert {h.holder: Money("EUR", h.paid).major_str() for h in run.holders} == {
        "artist:a": "35.56",
        "artist:b": "55.60",
    }


# --------------------------------------------------------------------------- threshold and carry-forward


def test_small_balances_are_carried_forward_and_paid_when_they_reach_the_threshold():
    formula = Formula(thresholds={"EUR": 3000})  # €30, as PRS pays UK accounts
    works = [WorkShares("w", [Share("small", F(1, 10)), Share("big", F(9, 10))])]
    q1 = distribute(Q1, formula, [LicenceIncome("l1", Money("EUR", 20_000), date(2026, 2, 1), ["w"])], works)
    h1 = {h.holder: h for h in q1.holders}
    assert (h1["small"].paid, h1["small"].carried_forward) == (0, 2000)
    assert (h1["big"].paid, h1["big"].carried_forward) == (18_000, 0)
    assert q1.carried_balances() == [CarriedBalance("small", Money("EUR", 2000))]

    q2 = distribute(
        Q2,
        formula,
        [LicenceIncome("l2", Money("EUR", 10_000), date(2026, 5, 1), ["w"])],
        works,
        carried=q1.carried_balances(),
    )
    h2 = {h.holder: h for h in q2.holders}
    assert (h2["small"].brought_forward, h2["small"].net, h2["small"].paid) == (2000, 1000, 3000)
    assert h2["small"].carried_forward == 0 and q2.carried_balances() == []
    assert q2.totals[0].balanced and q2.totals[0].brought_forward == 2000


# ------------------------------------------------------------------------------- suspense and disputes


def test_a_disputed_holders_money_waits_in_suspense_and_is_paid_after_resolution():
    formula = Formula(fee_bp={"org:komca": 1000})
    works = [WorkShares("w", [Share("a", F(1, 2)), Share("b", F(1, 2), "org:komca", dispute="c claims this share")])]
    q1 = distribute(Q1, formula, [LicenceIncome("l1", Money("KRW", 10_001), date(2026, 2, 1), ["w"])], works)
    (entry,) = q1.suspense
    assert entry.item.claimant == "b" and entry.item.reason == "disputed: c claims this share"
    assert entry.item.amount == Money("KRW", 5000) and entry.status is SuspenseStatus.PENDING
    assert [h.holder for h in q1.holders] == ["a"] and q1.holders[0].paid == 5001  # a wins the tie (id order)

    # the dispute is settled for c, who mandated KOMCA too; no new income this quarter
    q2 = distribute(
        Q2,
        formula,
        [],
        [],
        suspense=q1.open_suspense(),
        resolutions=[Resolution(entry.item.suspense_id, "c", "org:komca")],
    )
    (line,) = q2.lines
    assert (line.holder, line.source, line.gross, line.fee, line.net) == ("c", entry.item.suspense_id, 5000, 500, 4500)
    assert q2.suspense == () and q2.totals[0].suspense_in == 5000 and q2.totals[0].balanced
    assert q2.fees[0].fee == 500


def test_unidentified_and_invalid_works_go_to_suspense_with_reasons_and_the_batch_goes_on():
    works = [
        WorkShares("half", [Share("a", F(1, 2))]),  # shares sum to 1/2
        WorkShares("anon", [Share("a", F(1, 4)), Share(None, F(1, 4)), Share(None, F(1, 2))]),
    ]
    lic = LicenceIncome("l", Money("EUR", 300), date(2026, 1, 5), ["half", "anon", "ghost"])
    run = distribute(Q1, Formula(), [lic], works)
    reasons = {e.item.work_id: (e.item.reason, e.item.amount.minor) for e in run.suspense}
    assert reasons["half"] == ("invalid-shares: shares sum to 1/2, not 1", 100)
    assert reasons["anon"] == ("unidentified: the holder is not identified", 75)  # the two unknown shares, merged
    assert reasons["ghost"][0].startswith("no-holders") and reasons["ghost"][1] == 100
    assert [(ln.holder, ln.gross) for ln in run.lines] == [("a", 25)]


# ----------------------------------------------------------------------------------- the time rules


def test_fiscal_deadlines_follow_the_financial_year():
    calendar = Formula()
    assert fiscal_deadlines(date(2025, 3, 1), calendar) == (date(2026, 9, 30), date(2029, 1, 1))
    april = Formula(financial_year_start_month=4)  # Korean/Japanese-style April–March year
    assert fiscal_deadlines(date(2026, 3, 31), april) == (date(2026, 12, 31), date(2029, 4, 1))
    assert fiscal_deadlines(date(2026, 4, 1), april) == (date(2027, 12, 31), date(2030, 4, 1))


def test_suspense_becomes_non_distributable_after_9_months_and_is_released_after_3_years():
    formula = Formula(release_policies={"org:komca": ReleasePolicy.PUBLIC_INTEREST})
    works = [WorkShares("w", [Share(None, F(1))])]
    lic = LicenceIncome("l", Money("KRW", 777), date(2025, 3, 1), ["w"], collector="org:komca")
    first = distribute(Period(date(2025, 1, 1), date(2025, 3, 31)), formula, [lic], works)
    items = first.open_suspense()
    assert first.suspense[0].distribute_by == date(2026, 9, 30)

    def at(day):
        return distribute(Period(day, day), formula, [], [], suspense=items)

    assert at(date(2026, 9, 30)).suspense[0].status is SuspenseStatus.PENDING
    late = at(date(2026, 10, 1))
    assert late.suspense[0].status is SuspenseStatus.NON_DISTRIBUTABLE
    assert (late.totals[0].suspense, late.totals[0].non_distributable) == (0, 777)
    assert at(date(2028, 12, 31)).suspense[0].status is SuspenseStatus.NON_DISTRIBUTABLE
    gone = at(date(2029, 1, 1))
    assert gone.suspense == () and gone.open_suspense() == []
    assert gone.released[0].policy is ReleasePolicy.PUBLIC_INTEREST and gone.totals[0].released == 777
    assert gone.totals[0].balanced
    other = distribute(Period(date(2029, 1, 1), date(2029, 1, 1)), Formula(), [], [], suspense=items)
    assert other.released[0].policy is ReleasePolicy.GENERAL_ASSEMBLY  # CRM Directive art. 13(6) default


# ------------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda f, ls: (replace(f, version="fairtrain-distribution/9"), ls), "not supported"),
        (lambda f, ls: (f, ls + ls[:1]), "'l' appears twice"),
        (lambda f, ls: (f, [replace(ls[0], usage={"nope": 1})]), "work 'nope'"),
        (lambda f, ls: (f, [replace(ls[0], usage={"w": 0})]), "every usage figure is zero"),
        (lambda f, ls: (f, [replace(ls[0], usage={"w": 1.5})]), "non-negative integer"),
        (lambda f, ls: (replace(f, fee_bp={}), ls), "'org:x' holds mandates"),
        (lambda f, ls: (replace(f, fee_bp={"org:x": 10_001}), ls), "basis points"),
        (lambda f, ls: (f, [replace(ls[0], received_on=date(2027, 1, 1))]), "after the period ends"),
    ],
)
def test_bad_input_is_refused_with_the_item_and_the_reason(change, message):
    formula = Formula(fee_bp={"org:x": 100})
    licences = [LicenceIncome("l", Money("EUR", 100), date(2026, 1, 2), ["w"])]
    formula, licences = change(formula, licences)
    with pytest.raises(DistributionError, match=message):
        distribute(Q1, formula, licences, [WorkShares("w", [Share("h", F(1), "org:x")])])


def test_resolving_an_unknown_suspense_item_is_refused():
    with pytest.raises(DistributionError, match="unknown suspense item 'x'"):
        distribute(Q1, Formula(), [], [], resolutions=[Resolution("x", "h")])


def test_huge_amounts_and_weights_stay_exact():
    amount = 2**61 + 12345
    lic = LicenceIncome(
        "l", Money("KRW", amount), date(2026, 1, 2), ["a", "b", "c"], usage={"a": 2**40 + 1, "b": 2**40, "c": 3}
    )
    run = distribute(Q1, Formula(), [lic], [WorkShares(w, [Share("h" + w, F(1))]) for w in "abc"])
    assert sum(ln.gross for ln in run.lines) == amount
    assert [ln.gross for ln in run.lines] == largest_remainder(amount, [2**40 + 1, 2**40, 3])


def test_the_fast_line_writer_escapes_ids_like_json_dumps():
    ids = ['작곡가 "김"', "back\\slash", "tab\there", "é\u2028"]
    works = [WorkShares("곡:1", [Share(h, F(1, 4), 'org:"x"' if i % 2 else None) for i, h in enumerate(ids)])]
    run = distribute(
        Q1,
        Formula(fee_bp={'org:"x"': 500}),
        [LicenceIncome("licence/ü", Money("KRW", 999), date(2026, 1, 9), ["곡:1"])],
        works,
    )
    assert len(run.lines) == 4
    assert run.canonical_json == canonical_json(run.to_document())


# ---------------------------------------------------------------------------------------------------
# Statements (services.ledger.distribution renders them from statement.html)


def _statement(name: str) -> dict:
    return {
        "run": 7,
        "period": {"start": "2026-01-01", "end": "2026-12-31"},
        "holder": "holder:3",
        "name": name,
        "lines": [
            {
                "work": "{{7*7}}",
                "licence": "2",
                "licensee": "<b>Acme</b>",
                "currency": "KRW",
                "gross": 80000,
                "fee": 8000,
                "net": 72000,
            }
        ],
        "totals": [
            {
                "currency": "KRW",
                "gross": 80000,
                "fee": 8000,
                "net": 72000,
                "brought_forward": 500,
                "paid": 72500,
                "carried_forward": 0,
            }
        ],
    }


@pytest.mark.parametrize("lang", ["en", "ko", "fr"])
def test_a_statement_is_a_self_contained_page_in_its_language_with_names_escaped(lang):
    from fairtrain.core.i18n import translator
    from fairtrain.services.ledger.distribution import statement_html

    page = statement_html(_statement("<script>alert(1)</script>"), lang)
    _ = translator(lang)
    assert f'<html lang="{"ko" if lang == "ko" else "en"}">' in page  # an unknown language reads in English
    for label in (
        "Statement",
        "Rights holder",
        "Period",
        "Work",
        "Licensee",
        "Gross",
        "Deductions",
        "Net",
        "Total",
        "Brought forward",
        "Paid",
        "Carried forward",
    ):
        assert _(label) in page
    if lang == "ko":  # the catalogue's words, as the statement always said them
        assert "<h1>분배 명세서</h1>" in page and "이월 받은 금액 / 지급액 / 다음 기간 이월" in page
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "&lt;b&gt;Acme&lt;/b&gt;" in page and "<td>{{7*7}}</td>" in page
    assert "72000 KRW" in page and "500 KRW / 72500 KRW / 0 KRW" in page
    assert "http" not in page and "<link" not in page and "src=" not in page  # nothing fetched
