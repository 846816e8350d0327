"""Tests for holdout incrementality: hand-computed estimates, reasons, errors and planning."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.analysis.incrementality import (
    MIN_HOLDOUT_USERS,
    break_even_decision,
    estimate_incrementality,
    plan_holdout,
)
from reportgen.analysis.journeys import JourneySpec, simulate_journeys
from reportgen.errors import ConfigError, DataError

DAY = pd.Timestamp("2025-06-10 12:00")


def planted() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Return 1,000 treated and 1,000 held-out users; treatment has 50 extra orders of 100."""
    users = [f"t{i}" for i in range(1000)] + [f"h{i}" for i in range(1000)]
    assignments = pd.DataFrame(
        {
            "user_id": users,
            "group": ["treatment"] * 1000 + ["holdout"] * 1000,
            "influencer_id": None,
        }
    )
    # Every 10th user of both groups orders once (baseline); treated users 5, 25, 45, ... once more.
    buyers = [f"{g}{i}" for g in "th" for i in range(0, 1000, 10)] + [
        f"t{i}" for i in range(5, 1000, 20)
    ]
    conversions = pd.DataFrame(
        {
            "order_id": [f"o{n}" for n in range(len(buyers))],
            "user_id": buyers,
            "time": DAY,
            "revenue": 100.0,
        }
    )
    payouts = pd.DataFrame(
        {"influencer_id": ["A"], "basis": ["per_order"], "rate": [25.0],
         "total_orders_by_influencer": [100], "total_payout": [2500.0]}
    )  # fmt: skip
    tracking = pd.DataFrame({"influencer_id": ["A"], "orders": [100], "revenue": [10_000.0]})
    return conversions, assignments, payouts, tracking


def test_planted_effect_is_recovered_with_the_hand_computed_interval() -> None:
    result = estimate_incrementality(*planted())
    o = result.overall
    assert (o.users_treatment, o.users_holdout) == (1000, 1000)
    # IR = 15,000 - 1,000 x 10 = 5,000. Holdout SD = sqrt((100 x 100^2 - 1,000 x 10^2) / 999)
    # = 30.01501; SE = 1,000 x 30.01501 x sqrt(2 / 1,000) = 1,342.31; 90%: +-1.644854 x SE.
    assert o.incremental_revenue == pytest.approx(5000)
    assert o.incremental_revenue_low == pytest.approx(5000 - 2207.9, abs=0.1)
    assert o.incremental_revenue_high == pytest.approx(5000 + 2207.9, abs=0.1)
    # Orders: 150 - 1,000 x 0.1 = 50, SD sqrt(90 / 999), half-width 22.079.
    assert o.incremental_orders == pytest.approx(50)
    assert o.incremental_orders_high == pytest.approx(72.079, abs=1e-3)
    assert o.payout == 2500 and o.iroas == pytest.approx(2.0)
    assert (o.iroas_low, o.iroas_high) == pytest.approx((1.11684, 2.88316), abs=1e-4)
    assert o.decision == "above break-even"
    assert o.direct_roas == pytest.approx(4.0)  # tracked 10,000 / 2,500: labelled apart
    # 100 tracked orders, 50 incremental: commission on at least 50 that happen anyway.
    assert o.commission == 2500 and o.commission_on_baseline_orders == pytest.approx(1250)


def test_commission_on_would_be_orders_never_exceeds_what_was_paid() -> None:
    conversions, assignments, payouts, tracking = planted()
    # Swap the groups: the holdout now buys 50 more, so the estimate is -50 orders; every one
    # of the 100 tracked orders would have happened anyway, and no more than those were paid.
    assignments["group"] = assignments["group"].map(
        {"treatment": "holdout", "holdout": "treatment"}
    )
    o = estimate_incrementality(conversions, assignments, payouts, tracking).overall
    assert o.incremental_orders == pytest.approx(-50)
    assert o.commission_on_baseline_orders == pytest.approx(2500) == o.commission


def test_influencer_without_its_own_holdout_says_so() -> None:
    result = estimate_incrementality(*planted())
    (a,) = result.influencers
    assert a.scope == "A" and a.iroas is None and a.incremental_revenue is None
    assert a.reason == "no holdout: no assignments for this influencer"
    assert a.direct_roas == pytest.approx(4.0) and a.payout == 2500


def test_too_few_users_says_so_instead_of_a_number() -> None:
    conv, assign, payouts, tracking = planted()
    small = assign[assign["user_id"].str[1:].astype(int) < 25]
    o = estimate_incrementality(conv, small, payouts, tracking).overall
    assert o.iroas is None and o.incremental_revenue is None and o.decision is None
    assert o.reason == (
        f"too few users: 25 held out, 3 of them ordered; need at least {MIN_HOLDOUT_USERS}"
        " held out and 30 buyers"
    )


def test_no_holdout_and_no_payout_are_reasons() -> None:
    conv, assign, *_ = planted()
    treated = assign[assign["group"] == "treatment"]
    assert estimate_incrementality(conv, treated).overall.reason == (
        "no holdout: every assigned user is in treatment"
    )
    o = estimate_incrementality(conv, assign).overall
    assert o.incremental_revenue == pytest.approx(5000) and o.iroas is None
    assert o.reason == "no payout in the study period: iROAS n/a"


def test_a_user_in_both_groups_is_an_error() -> None:
    conv, assign, payouts, tracking = planted()
    twice = pd.concat([assign, assign.iloc[[0]].assign(group="holdout")], ignore_index=True)
    with pytest.raises(DataError, match="assigned more than once programme-wide"):
        estimate_incrementality(conv, twice, payouts, tracking)
    bad = assign.assign(group=assign["group"].replace({"holdout": "control"}))
    with pytest.raises(DataError, match="group 'control' for user h0; use treatment or holdout"):
        estimate_incrementality(conv, bad, payouts, tracking)


def test_assignment_period_is_inclusive_calendar_days() -> None:
    conv, assign, *_ = planted()
    assign = assign.assign(start=pd.Timestamp("2025-06-01"), end=pd.Timestamp("2025-06-10"))
    inside = estimate_incrementality(conv.assign(time=pd.Timestamp("2025-06-10 23:59:59")), assign)
    after = estimate_incrementality(conv.assign(time=pd.Timestamp("2025-06-11 00:00:00")), assign)
    before = estimate_incrementality(conv.assign(time=pd.Timestamp("2025-05-31 23:59:59")), assign)
    assert inside.overall.incremental_revenue == pytest.approx(5000)
    assert after.overall.reason.startswith("too few users: 1000 held out, 0 of them ordered")
    assert before.overall.reason.startswith("too few users")


@pytest.mark.parametrize(
    ("low", "high", "decision"),
    [(1.2, 3.0, "above break-even"), (0.1, 0.9, "below break-even"),
     (0.8, 1.5, "inconclusive"), (0.3, 2.5, "too wide to decide"), (-1.0, 1.9, "inconclusive")],
)  # fmt: skip
def test_break_even_decision(low: float, high: float, decision: str) -> None:
    assert break_even_decision(low, high) == decision


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.floats(0, 5000), min_size=2, max_size=40),
    st.lists(st.floats(0, 5000), min_size=2, max_size=40),
    st.floats(0.1, 10),
)
def test_estimate_scales_with_revenue_and_brackets_itself(treat, hold, scale) -> None:
    def run(k: float) -> pd.Series:
        users = [f"t{i}" for i in range(len(treat))] + [f"h{i}" for i in range(len(hold))]
        groups = ["treatment"] * len(treat) + ["holdout"] * len(hold)
        assign = pd.DataFrame({"user_id": users, "group": groups})
        conv = pd.DataFrame({"user_id": users, "time": DAY, "revenue": np.r_[treat, hold] * k})
        return estimate_incrementality(conv, assign).overall

    import reportgen.analysis.incrementality as inc

    old = (inc.MIN_HOLDOUT_USERS, inc.MIN_HOLDOUT_BUYERS)
    inc.MIN_HOLDOUT_USERS, inc.MIN_HOLDOUT_BUYERS = 2, 0
    try:
        base, scaled = run(1.0), run(scale)
    finally:
        inc.MIN_HOLDOUT_USERS, inc.MIN_HOLDOUT_BUYERS = old
    expected = sum(treat) - len(treat) * np.mean(hold)
    assert base.incremental_revenue == pytest.approx(expected, rel=1e-9, abs=1e-6)
    assert base.incremental_revenue_low <= base.incremental_revenue <= base.incremental_revenue_high
    assert scaled.incremental_revenue == pytest.approx(scale * expected, rel=1e-9, abs=1e-6)
    width = base.incremental_revenue_high - base.incremental_revenue_low
    assert scaled.incremental_revenue_high - scaled.incremental_revenue_low == pytest.approx(
        scale * width, rel=1e-9, abs=1e-6
    )


def test_simulated_study_interval_holds_the_truth() -> None:
    study = simulate_journeys(JourneySpec(seed=2, users=60_000))
    inc = estimate_incrementality(
        study.conversions, study.assignments, study.payouts, study.tracking_data
    )
    truth = study.truth["overall"]
    o = inc.overall
    assert o.payout == pytest.approx(truth["payout"])
    assert o.iroas_low <= truth["iroas"] <= o.iroas_high
    assert [e.scope for e in inc.influencers] == list(study.truth["influencers"])
    for e in inc.influencers:
        assert e.payout == pytest.approx(study.truth["influencers"][e.scope]["payout"])
        assert e.direct_revenue == pytest.approx(
            study.truth["influencers"][e.scope]["direct_revenue"]
        )


def test_no_effect_at_all_gives_zero_truth_and_an_interval_around_it() -> None:
    study = simulate_journeys(JourneySpec(seed=4, users=60_000, effect_scale=0.0))
    assert study.truth["overall"]["incremental_revenue"] == 0
    assert all(t["incremental_orders"] == 0 for t in study.truth["influencers"].values())
    o = estimate_incrementality(study.conversions, study.assignments, study.payouts).overall
    assert o.incremental_revenue_low <= 0 <= o.incremental_revenue_high


def history() -> pd.DataFrame:
    """Return 28 days of orders: users 0-99 spend 100 on day 0 and again on day 14."""
    users = [f"u{i}" for i in range(100)] * 2
    times = [pd.Timestamp("2025-05-01 10:00")] * 100 + [pd.Timestamp("2025-05-15 10:00")] * 100
    return pd.DataFrame({"user_id": users, "time": times, "revenue": 100.0})


def test_plan_holdout_by_hand() -> None:
    plans = {
        p.duration_days: p
        for p in plan_holdout(history(), 1000, lift=0.5, history_days=28, durations=(7, 14, 28, 56))
    }
    # 14-day windows: 2 x 1,000 user-windows, 200 of them 100: mean 10, SD sqrt(1.8e6 / 1,999).
    p = plans[14]
    assert p.mean_revenue_per_user == pytest.approx(10)
    assert p.sd_revenue_per_user == pytest.approx(math.sqrt(1_800_000 / 1999))
    # Detect 50% lift (5 per user) at 90% confidence, 80% power: z = 1.644854 + 0.841621.
    ratio = 1000 * (5 / (2.486475 * math.sqrt(1_800_000 / 1999))) ** 2  # 1 / (h (1 - h))
    assert p.holdout_share == pytest.approx((1 - math.sqrt(1 - 4 / ratio)) / 2, rel=1e-5)
    assert p.holdout_users == math.ceil(p.holdout_share * 1000)
    assert plans[28].holdout_share is not None and plans[28].mean_revenue_per_user == pytest.approx(
        20
    )
    # 7-day windows: mean 5, SD sqrt(1.9e6 / 3,999): 1 / (h (1 - h)) <= 2.13 has no solution.
    assert plans[7].holdout_share is None
    assert plans[7].reason == "not detectable: even a 50% holdout of 1,000 users is too small"
    assert plans[56].reason == "history covers 28 days, fewer than 56"


def test_plan_holdout_needs_less_with_a_bigger_lift_and_checks_input() -> None:
    small, big = (
        plan_holdout(history(), 1000, lift=x, history_days=28, durations=(28,))[0]
        for x in (0.5, 1.0)
    )
    assert big.holdout_share < small.holdout_share
    with pytest.raises(ConfigError, match="fewer than the buyers"):
        plan_holdout(history(), 50, lift=0.5)
    with pytest.raises(ConfigError, match="lift must be > 0"):
        plan_holdout(history(), 1000, lift=0)
