"""Tests for the journey simulator: determinism, layout, the experiment and the truth."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from reportgen.analysis.journeys import JourneySpec, Study, simulate_journeys, write_study
from reportgen.errors import ConfigError
from reportgen.sources.simulate import SCHEMAS

SPEC = JourneySpec(seed=11, users=20_000, days=14, end_date=date(2025, 3, 31))


@pytest.fixture(scope="module")
def study() -> Study:
    """Return one small simulated study."""
    return simulate_journeys(SPEC)


def test_same_seed_same_study_other_seed_other_study(study: Study) -> None:
    again = simulate_journeys(SPEC)
    for name in ("touchpoints", "conversions", "assignments", "tracking_data", "payouts"):
        pd.testing.assert_frame_equal(getattr(study, name), getattr(again, name))
    assert study.truth == again.truth
    other = simulate_journeys(replace(SPEC, seed=12))
    assert other.truth != study.truth
    assert len(other.conversions) != len(study.conversions)


def test_tables_have_the_documented_layout(study: Study) -> None:
    assert list(study.touchpoints.columns) == [
        "user_id",
        "influencer_id",
        "time",
        "kind",
        "post_id",
    ]
    assert list(study.conversions.columns) == ["order_id", "user_id", "time", "product", "revenue"]
    assert list(study.assignments.columns) == ["user_id", "group", "influencer_id", "start", "end"]
    assert list(study.tracking_data.columns) == SCHEMAS["tracking_data"].names
    assert list(study.payouts.columns) == SCHEMAS["payouts"].names
    assert set(study.touchpoints["kind"]) == {"view", "click", "code"}
    assert study.touchpoints.loc[study.touchpoints["kind"] == "code", "post_id"].isna().all()
    assert study.touchpoints.loc[study.touchpoints["kind"] == "view", "post_id"].notna().all()
    assert study.conversions["order_id"].is_unique
    # Inclusive calendar days: from 2025-03-18 00:00 to 2025-03-31 23:59:59, local time.
    for frame in (study.touchpoints, study.conversions):
        assert frame["time"].min() >= pd.Timestamp("2025-03-18")
        assert frame["time"].max() < pd.Timestamp("2025-04-01")
    assert study.conversions["time"].dt.tz is None


def test_holdouts_see_no_content_but_leaked_codes_reach_them(study: Study) -> None:
    a, tp = study.assignments, study.touchpoints
    programme = a[a["influencer_id"].isna()]
    held = set(programme.loc[programme["group"] == "holdout", "user_id"])
    assert 0.17 < len(held) / SPEC.users < 0.23
    seen = tp[tp["kind"] != "code"]
    assert not seen["user_id"].isin(held).any()
    for k, rows in a[a["influencer_id"].notna()].groupby("influencer_id"):
        out = set(rows.loc[rows["group"] == "holdout", "user_id"])
        assert out and not (seen["influencer_id"].eq(k) & seen["user_id"].isin(out)).any()
        assert not rows["user_id"].isin(held).any()  # per-influencer rows are treated users
    codes = tp[tp["kind"] == "code"]
    assert codes["user_id"].isin(held).any()  # leaked codes: bought anyway, commission paid


def test_tracking_is_the_attributed_subset_and_payouts_follow_the_terms(study: Study) -> None:
    orders = study.conversions.set_index("order_id")
    tracked = study.tracking_data.set_index("tracking_id")
    assert tracked.index.isin(orders.index).all()
    assert (orders.loc[tracked.index, "revenue"] == tracked["revenue"]).all()
    assert set(tracked["source"]) == {"promo_code", "link"}
    per = tracked.groupby("influencer_id").agg(orders=("orders", "sum"), revenue=("revenue", "sum"))
    p = study.payouts.set_index("influencer_id").join(per)
    assert (p["total_orders_by_influencer"] == p["orders"]).all()
    order = p[p["basis"] == "per_order"]
    assert order["total_payout"].to_numpy() == pytest.approx(
        (order["rate"] * order["orders"]).to_numpy()
    )
    share = p[p["basis"] == "revenue_share"]
    assert share["total_payout"].to_numpy() == pytest.approx(
        (share["rate"] * share["revenue"]).to_numpy(), abs=0.01
    )
    post = p[p["basis"] == "per_post"]
    assert ((post["total_payout"] / post["rate"]) % 1 == 0).all()


def test_truth_is_consistent_and_last_touch_overstates(study: Study) -> None:
    t = study.truth
    assert set(t["influencers"]) == set(study.payouts["influencer_id"])
    assert t["overall"]["payout"] == pytest.approx(study.payouts["total_payout"].sum())
    for v in [t["overall"], *t["influencers"].values()]:
        # Common random numbers: removing content only removes orders.
        assert v["incremental_orders"] >= 0 and v["incremental_revenue"] >= 0
        if v["payout"]:
            assert v["iroas"] == pytest.approx(v["incremental_revenue"] / v["payout"], abs=1e-6)
        else:
            assert v["iroas"] is None  # nothing paid: iROAS n/a, never infinity
    assert t["overall"]["incremental_revenue"] > 0
    # Selection bias and leaked codes: tracked revenue is far above what the programme caused.
    assert t["overall"]["direct_revenue"] > 1.5 * t["overall"]["incremental_revenue"]
    assert t["overall"]["direct_revenue"] == pytest.approx(study.tracking_data["revenue"].sum())


def test_zero_effect_has_zero_truth() -> None:
    flat = simulate_journeys(replace(SPEC, effect_scale=0.0))
    values = [flat.truth["overall"], *flat.truth["influencers"].values()]
    assert all(v["incremental_revenue"] == 0 and v["incremental_orders"] == 0 for v in values)
    assert flat.truth["overall"]["commission_on_baseline_orders"] == pytest.approx(
        sum(v["commission_on_baseline_orders"] for v in values[1:])
    )


def test_write_study(tmp_path: Path, study: Study) -> None:
    write_study(study, tmp_path, fmt="csv")
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {
        "touchpoints.csv",
        "conversions.csv",
        "assignments.csv",
        "tracking_data.csv",
        "payouts.csv",
        "truth.json",
    }
    assert json.loads((tmp_path / "truth.json").read_text()) == study.truth
    back = pd.read_csv(tmp_path / "conversions.csv")
    assert back["revenue"].sum() == pytest.approx(study.conversions["revenue"].sum())


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("users", 0, "users must be >= 1"), ("holdout_share", 1.0, r"holdout_share must be in \[0, 1\)"),
     ("effect_scale", -1.0, "effect_scale must be >= 0"), ("seed", -1, "seed must be >= 0")],
)  # fmt: skip
def test_bad_spec_is_a_config_error(field: str, value: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        replace(SPEC, **{field: value})


def test_no_holdout_means_no_holdout_rows() -> None:
    s = simulate_journeys(
        replace(SPEC, holdout_share=0.0, influencer_holdout_share=0.0, users=5000)
    )
    assert set(s.assignments["group"]) == {"treatment"}
    assert s.assignments["influencer_id"].isna().all()
    assert np.isfinite(s.truth["overall"]["incremental_revenue"])
