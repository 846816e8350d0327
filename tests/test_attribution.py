"""Tests for the attribution models: hand-computed cases, conservation, and a cross-check."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reportgen.analysis.attribution import MODELS, Journeys, attribute, build_journeys
from reportgen.analysis.journeys import JourneySpec, simulate_journeys
from reportgen.errors import ConfigError

T0 = pd.Timestamp("2025-06-01")


def frames(
    touches: list[tuple[str, str, float, str]], orders: list[tuple[str, str, float, float]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Build touchpoints (user, influencer, day, kind) and conversions (order, user, day, revenue)."""
    tp = pd.DataFrame(touches, columns=["user_id", "influencer_id", "day", "kind"])
    tp["time"] = T0 + pd.to_timedelta(tp.pop("day"), unit="D")
    conv = pd.DataFrame(orders, columns=["order_id", "user_id", "day", "revenue"])
    conv["time"] = T0 + pd.to_timedelta(conv.pop("day"), unit="D")
    conv["product"] = "Whey Protein"
    return tp, conv


def credited(tp: pd.DataFrame, conv: pd.DataFrame, **kw: object) -> pd.DataFrame:
    """Return credited revenue, influencers x models."""
    return attribute(tp, conv, **kw).table()


def test_heuristic_models_by_hand() -> None:
    # u1: A (day 0), B (day 2), C (day 3), order day 4 worth 100; u2: B (day 1), order day 2 worth 60.
    tp, conv = frames(
        [
            ("u1", "A", 0, "view"),
            ("u1", "B", 2, "click"),
            ("u1", "C", 3, "view"),
            ("u2", "B", 1, "view"),
        ],
        [("o1", "u1", 4, 100.0), ("o2", "u2", 2, 60.0)],
    )
    got = credited(tp, conv, half_life_days=1.0)
    assert got.loc["A", "last_touch"] == 0 and got.loc["C", "last_touch"] == 100
    assert got.loc["B", "last_touch"] == 60
    assert got.loc["A", "first_touch"] == 100 and got.loc["B", "first_touch"] == 60
    assert got.loc["A", "linear"] == pytest.approx(100 / 3)
    assert got.loc["B", "linear"] == pytest.approx(100 / 3 + 60)
    assert got.loc["A", "position_based"] == pytest.approx(40)
    assert got.loc["B", "position_based"] == pytest.approx(20 + 60)
    # Ages 4, 2, 1 days with a one-day half-life: weights 1/16, 1/4, 1/2 (sum 13/16).
    assert got.loc["A", "time_decay"] == pytest.approx(100 * (1 / 16) / (13 / 16))
    assert got.loc["C", "time_decay"] == pytest.approx(100 * (1 / 2) / (13 / 16))


def test_two_touch_position_based_is_half_and_half() -> None:
    tp, conv = frames([("u", "A", 0, "view"), ("u", "B", 1, "view")], [("o", "u", 2, 80.0)])
    got = credited(tp, conv)
    assert got.loc["A", "position_based"] == got.loc["B", "position_based"] == 40


def test_markov_removal_effects_by_hand() -> None:
    # Paths: A > B > conv (100), A > null, B > conv (50). P(conv) = 2/3 * 1/2 + 1/3 = 2/3.
    # Without A: 1/3, removal effect 0.5; without B: 0, removal effect 1.
    tp, conv = frames(
        [
            ("u1", "A", 0, "view"),
            ("u1", "B", 1, "view"),
            ("u2", "A", 0, "view"),
            ("u3", "B", 0, "view"),
        ],
        [("o1", "u1", 2, 100.0), ("o3", "u3", 1, 50.0)],
    )
    result = attribute(tp, conv, models=("markov",))
    assert result.removal_effects == pytest.approx({"A": 0.5, "B": 1.0})
    got = result.table()["markov"]
    assert got["A"] == pytest.approx(100 * 0.5 / 1.5)
    assert got["B"] == pytest.approx(100 * 1.0 / 1.5 + 50)
    assert result.non_converting_journeys == 1


def test_shapley_by_hand() -> None:
    # v(A) = 1/2 (A converts once in two), v(B) = 1/4, v(AB) = 1.
    # In {A, B}: phi_A = (v(A) + v(AB) - v(B)) / 2 = 0.625, phi_B = (v(B) + v(AB) - v(A)) / 2 = 0.375.
    touches = [("a1", "A", 0, "view"), ("a2", "A", 0, "view")]
    touches += [(f"b{i}", "B", 0, "view") for i in range(4)]
    touches += [("ab", "A", 0, "view"), ("ab", "B", 0.5, "click")]
    orders = [("o1", "a1", 1, 20.0), ("o2", "b0", 1, 10.0), ("o3", "ab", 1, 80.0)]
    got = credited(*frames(touches, orders), models=("shapley",))["shapley"]
    assert got["A"] == pytest.approx(20 + 80 * 0.625)
    assert got["B"] == pytest.approx(10 + 80 * 0.375)


def test_lookback_and_previous_order_bound_a_journey() -> None:
    # A touch 10 days before the order is outside a 7-day window; the order is unattributed.
    # A touch before the user's previous order belongs to that order only.
    tp, conv = frames(
        [("u1", "A", 0, "view"), ("u2", "B", 0, "view")],
        [("o1", "u1", 10, 100.0), ("o2", "u2", 1, 30.0), ("o3", "u2", 2, 70.0)],
    )
    result = attribute(tp, conv, lookback_days=7)
    assert result.attributed_revenue == 30
    assert result.unattributed_revenue == 170
    assert result.table().loc["B", "last_touch"] == 30
    assert result.table().loc["A"].sum() == 0
    assert result.non_converting_journeys == 1  # A's touch that no order followed in time


def test_categorical_ids_as_the_loader_gives_them_credit_like_strings() -> None:
    # Two touches at one instant: ties go to influencer id order, whatever order the
    # categoricals list their values in (the loader lists them in order of appearance).
    tp, conv = frames(
        [("u1", "B", 1, "view"), ("u1", "A", 1, "view"), ("u2", "C", 0, "click")],
        [("o1", "u1", 2, 100.0), ("o2", "u2", 1, 40.0), ("o3", "u3", 1, 7.0)],
    )
    cats = tp.astype({"user_id": "category", "influencer_id": "category", "kind": "category"})
    cats["influencer_id"] = cats["influencer_id"].cat.reorder_categories(["C", "B", "A"])
    conv_cats = conv.astype({"user_id": "category"})
    plain = attribute(tp, conv).table()
    assert plain.loc["A", "first_touch"] == 100 and plain.loc["B", "last_touch"] == 100
    pd.testing.assert_frame_equal(attribute(cats, conv_cats).table(), plain)


def test_kinds_select_touches() -> None:
    tp, conv = frames([("u", "A", 0, "view"), ("u", "B", 1, "click")], [("o", "u", 2, 50.0)])
    got = credited(tp, conv, kinds=("click", "code"))
    assert list(got.index) == ["B"] and got.loc["B", "first_touch"] == 50


def test_bad_settings_are_config_errors() -> None:
    tp, conv = frames([("u", "A", 0, "view")], [("o", "u", 1, 1.0)])
    with pytest.raises(ConfigError, match="unknown model 'magic'"):
        attribute(tp, conv, models=("magic",))
    with pytest.raises(ConfigError, match="lookback_days"):
        attribute(tp, conv, lookback_days=0)
    with pytest.raises(ConfigError, match="half_life_days"):
        attribute(tp, conv, half_life_days=-1)


journeys = st.lists(
    st.tuples(
        st.integers(0, 5),  # user
        st.lists(st.tuples(st.sampled_from("ABCD"), st.floats(0, 9)), min_size=0, max_size=6),
        st.one_of(st.none(), st.tuples(st.floats(0, 10), st.floats(0.01, 1e6))),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(journeys, st.floats(0.5, 20), st.floats(0.1, 30))
def test_every_model_conserves_the_attributed_total(data, lookback, half_life) -> None:
    touches, orders = [], []
    for n, (user, tps, order) in enumerate(data):
        uid = f"u{user}"
        touches += [(uid, ch, day, "view") for ch, day in tps]
        if order is not None:
            orders.append((f"o{n}", uid, order[0], order[1]))
    tp, conv = frames(touches, orders)
    conv = conv.drop_duplicates(["user_id", "time"])  # one order per user and instant
    result = attribute(tp, conv, lookback_days=lookback, half_life_days=half_life)
    table = result.table()
    total = result.attributed_revenue
    for model in MODELS:
        got = table[model].sum() if model in table else 0.0
        assert got == pytest.approx(total, rel=1e-9, abs=1e-6), model
        assert (table.get(model, pd.Series(dtype=float)) >= -1e-9).all()
    assert result.attributed_revenue + result.unattributed_revenue == pytest.approx(
        conv["revenue"].sum()
    )


tied_journeys = st.lists(
    st.tuples(
        st.integers(0, 5),  # user
        # Half days: touches of one user often share an instant, and orders meet touches.
        st.lists(st.tuples(st.sampled_from("ABCD"), st.integers(0, 18)), max_size=6),
        st.one_of(st.none(), st.tuples(st.integers(0, 20), st.floats(0.01, 1e6))),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=60, deadline=None)
@given(tied_journeys, st.floats(0.5, 9), st.randoms(use_true_random=False))
def test_credit_does_not_depend_on_row_order_or_id_types(data, lookback, rnd) -> None:
    touches, orders = [], []
    for n, (user, tps, order) in enumerate(data):
        touches += [(f"u{user}", ch, half / 2, "view") for ch, half in tps]
        if order is not None:
            orders.append((f"o{n}", f"u{user}", order[0] / 2, order[1]))
    tp, conv = frames(touches, orders)
    conv = conv.drop_duplicates(["user_id", "time"])  # of orders at one instant the first wins
    want = attribute(tp, conv, lookback_days=lookback).table()
    # The loader's shape: rows in any order, ids as categoricals listed as they appear.
    tp2 = tp.iloc[rnd.sample(range(len(tp)), len(tp))].reset_index(drop=True)
    conv2 = conv.iloc[rnd.sample(range(len(conv)), len(conv))].reset_index(drop=True)
    for frame, cols in ((tp2, ("user_id", "influencer_id", "kind")), (conv2, ("user_id",))):
        for c in cols:
            frame[c] = frame[c].astype(pd.CategoricalDtype(pd.unique(frame[c])))
    got = attribute(tp2, conv2, lookback_days=lookback).table()
    pd.testing.assert_frame_equal(got, want, rtol=1e-9, atol=1e-6)


def brute_shapley(players: list[str], v: dict[frozenset[str], float]) -> dict[str, float]:
    """Return Shapley values by averaging marginal contributions over every ordering."""
    phi = dict.fromkeys(players, 0.0)
    orders = list(itertools.permutations(players))
    for order in orders:
        seen: frozenset[str] = frozenset()
        for p in order:
            phi[p] += v.get(seen | {p}, 0.0) - v.get(seen, 0.0)
            seen = seen | {p}
    return {p: x / math.factorial(len(players)) for p, x in phi.items()}


def test_shapley_matches_brute_force_over_orderings() -> None:
    rng = np.random.default_rng(3)
    touches, orders = [], []
    for u in range(300):
        chans = sorted(set(rng.choice(list("ABCD"), rng.integers(1, 4))))
        touches += [(f"u{u}", c, 0.1 * i, "view") for i, c in enumerate(chans)]
        # Conversion is likelier with more and "better" influencers: values stay positive.
        if rng.random() < 0.1 + 0.15 * len(chans) + 0.1 * ("A" in chans):
            orders.append((f"o{u}", f"u{u}", 1.0, float(rng.integers(100, 1000))))
    tp, conv = frames(touches, orders)
    got = credited(tp, conv, models=("shapley",))["shapley"]
    jr = build_journeys(tp, conv)
    sets = {}
    for j in range(len(jr.converted)):
        sets[j] = frozenset(np.array(jr.channels)[jr.touch_channel[jr.touch_journey == j]])
    keys = pd.Series(sets)
    rate = pd.Series(jr.converted).groupby(keys.map(lambda s: tuple(sorted(s)))).mean()
    v = {frozenset(k): r for k, r in rate.items()}
    expected = dict.fromkeys(jr.channels, 0.0)
    for j in np.flatnonzero(jr.converted):
        phi = brute_shapley(sorted(sets[j]), v)
        clipped = {p: max(x, 0.0) for p, x in phi.items()}
        for p, x in clipped.items():
            expected[p] += jr.revenue[j] * x / sum(clipped.values())
    assert got.to_dict() == pytest.approx(expected)


def _mam_input(jr: Journeys) -> pd.DataFrame:
    """Return journeys in the path format of marketing-attribution-models (format 2)."""
    ch = np.array(jr.channels)
    df = pd.DataFrame({"j": jr.touch_journey, "c": ch[jr.touch_channel], "h": jr.touch_age * 24})
    out = df.groupby("j", sort=True).agg(
        path=("c", " > ".join), t=("h", lambda x: " > ".join(map(repr, x)))
    )
    out["conv"] = jr.converted[out.index]
    out["value"] = jr.revenue[out.index]
    return out.reset_index()


def test_models_match_marketing_attribution_models_on_simulated_journeys() -> None:
    mam = pytest.importorskip("mam", reason="marketing-attribution-models (dev extra)")
    study = simulate_journeys(JourneySpec(seed=5, users=20_000))
    tp, conv = study.touchpoints, study.conversions
    jr = build_journeys(tp, conv)
    ref = mam.MAM(_mam_input(jr), "journey", channels_colname="path", journey_with_conv_colname="conv",
                  user_id_colname="j", time_till_conv_colname="t", conversion_value_colname="value")  # fmt: skip
    runs = {
        "last_touch": ref.run_last_click(),
        "first_touch": ref.run_first_click(),
        "linear": ref.run_linear(),
        "time_decay": ref.run_time_decay(half_life_hours=7 * 24),
        "position_based": ref.run_position_based(),
        "markov": ref.run_markov(),
    }
    ours = attribute(tp, conv, half_life_days=7)
    table = ours.table()
    assert len(table) == 8 and ours.converting_journeys > 100
    for model, run in runs.items():
        theirs = run.to_pandas().set_index("channels")["attribution"].reindex(table.index)
        np.testing.assert_allclose(table[model], theirs.fillna(0), rtol=1e-9, err_msg=model)
    effects = runs["markov"].metadata["removal_effect"]["removal_effect"]
    assert ours.removal_effects == pytest.approx(effects.to_dict())


def test_shapley_matches_marketing_attribution_models_where_values_are_positive() -> None:
    mam = pytest.importorskip("mam", reason="marketing-attribution-models (dev extra)")
    study = simulate_journeys(JourneySpec(seed=5, users=20_000))
    tp, conv = study.touchpoints, study.conversions.copy()
    jr = build_journeys(tp, conv)
    run = mam.MAM(_mam_input(jr), "journey", channels_colname="path", journey_with_conv_colname="conv",
                  user_id_colname="j", time_till_conv_colname="t", conversion_value_colname="value"
                  ).run_shapley(max_size=12)  # fmt: skip
    # The reference keeps negative Shapley values, we count them as 0: compare on the orders
    # whose influencer set has none (zero revenue elsewhere keeps every conversion rate).
    table = run.metadata["conv_table"].to_pandas()
    shares = table.set_index("combinations").iloc[:, -1]
    negative = {c for c, s in shares.items() if min(s) < 0}
    assert 0 < len(negative) < len(shares)
    ch = np.array(jr.channels)
    combo = (
        pd.Series(ch[jr.touch_channel])
        .groupby(jr.touch_journey)
        .agg(lambda s: " > ".join(sorted(set(s))))
    )
    drop = combo[combo.isin(negative)].index
    inputs = _mam_input(jr)
    inputs.loc[inputs["j"].isin(drop), "value"] = 0.0
    ref = mam.MAM(inputs, "journey", channels_colname="path", journey_with_conv_colname="conv",
                  user_id_colname="j", time_till_conv_colname="t", conversion_value_colname="value"
                  ).run_shapley(max_size=12)  # fmt: skip
    theirs = ref.to_pandas().set_index("channels")["attribution"]
    ours = pd.Series(0.0, index=ch)
    weights = _our_shapley_weights(jr)
    keep = ~np.isin(jr.touch_journey, drop)
    np.add.at(
        ours.to_numpy(), jr.touch_channel[keep], (weights * jr.revenue[jr.touch_journey])[keep]
    )
    np.testing.assert_allclose(ours.reindex(theirs.index), theirs, rtol=1e-9)


def _our_shapley_weights(jr: Journeys) -> np.ndarray:
    """Return our per-touch Shapley weights for journeys (the model's seam for this check)."""
    from reportgen.analysis.attribution import touch_weights

    return touch_weights(jr, "shapley", 7.0)[0]


def test_no_touchpoints_credits_nothing_and_keeps_the_revenue_unattributed() -> None:
    tp, conv = frames([], [("o", "u", 1, 5.0)])
    result = attribute(tp.astype({"user_id": str, "influencer_id": str, "kind": str}), conv)
    assert result.table().empty
    assert (result.attributed_revenue, result.unattributed_revenue) == (0.0, 5.0)
