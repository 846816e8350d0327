"""Tests for the seed-data simulator: determinism, schemas, consistency and realism."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from reportgen.config.catalogue import DEFAULT_CATEGORIES, DEFAULT_PRODUCTS
from reportgen.errors import ConfigError
from reportgen.sources import simulate as sim
from reportgen.sources.simulate import SimulationSpec, simulate

TABLES = ("influencers", "posts", "tracking_data", "payouts")
TS = pa.timestamp("us")
EXPECTED_SCHEMAS = {
    "influencers": [
        ("influencer_id", pa.string()),
        ("name", pa.string()),
        ("category", pa.string()),
        ("gender", pa.string()),
        ("follower_count", pa.int64()),
        ("platform", pa.string()),
    ],
    "posts": [
        ("post_id", pa.string()),
        ("influencer_id", pa.string()),
        ("platform", pa.string()),
        ("date", TS),
        ("url", pa.string()),
        ("caption", pa.string()),
        ("reach", pa.int64()),
        ("likes", pa.int64()),
        ("comments", pa.int64()),
    ],
    "tracking_data": [
        ("tracking_id", pa.string()),
        ("source", pa.string()),
        ("campaign", pa.string()),
        ("influencer_id", pa.string()),
        ("user_id", pa.string()),
        ("product", pa.string()),
        ("date", TS),
        ("orders", pa.int64()),
        ("revenue", pa.float64()),
    ],
    "payouts": [
        ("influencer_id", pa.string()),
        ("basis", pa.string()),
        ("rate", pa.float64()),
        ("total_orders_by_influencer", pa.int64()),
        ("total_payout", pa.float64()),
    ],
}
CAMPAIGN_PREFIX = {"MuscleBlaze": "MB_", "HKVitals": "HKV_", "Gritzo": "Gritzo_"}

# Small enough to run in well under a second; realism runs on a larger, natural-volume spec.
TINY = SimulationSpec(seed=7, influencers=30, days=45, end_date=date(2025, 3, 31), rows=3_000)
REAL = SimulationSpec(seed=42, influencers=80, days=120, end_date=date(2025, 3, 31))


def _read(out: Path, fmt: str = "parquet") -> dict[str, pd.DataFrame]:
    """Read the four tables of a simulation run."""
    if fmt == "parquet":
        return {t: pd.read_parquet(out / f"{t}.parquet") for t in TABLES}
    dates = {"posts": ["date"], "tracking_data": ["date"]}
    return {t: pd.read_csv(out / f"{t}.csv", parse_dates=dates.get(t)) for t in TABLES}


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """Simulate the realism spec once and return its tables."""
    out = tmp_path_factory.mktemp("real")
    counts = simulate(REAL, out)
    tables = _read(out)
    assert counts == {t: len(df) for t, df in tables.items()}
    return tables


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulate the tiny spec once as parquet and return its directory."""
    out = tmp_path_factory.mktemp("tiny")
    simulate(TINY, out)
    return out


# ---------------------------------------------------------------------------------------------
# Determinism and files
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_same_spec_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    spec = replace(TINY, fmt=fmt)
    simulate(spec, tmp_path / "a")
    simulate(spec, tmp_path / "b")
    simulate(replace(spec, seed=spec.seed + 1), tmp_path / "c")
    for table in TABLES:
        name = f"{table}.{fmt}"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    for table in TABLES:
        name = f"{table}.{fmt}"
        assert (tmp_path / "a" / name).read_bytes() != (tmp_path / "c" / name).read_bytes(), name


def test_writes_only_the_four_files(tiny: Path) -> None:
    assert sorted(p.name for p in tiny.iterdir()) == sorted(f"{t}.parquet" for t in TABLES)


def test_csv_holds_the_same_data_as_parquet(tmp_path: Path, tiny: Path) -> None:
    simulate(replace(TINY, fmt="csv"), tmp_path)
    first_line = (tmp_path / "tracking_data.csv").read_text().splitlines()[1]
    assert re.fullmatch(r"TRK\d{7},influencer_marketing,\w+,INF\d{4},U\d{8},[^,]+,"
                        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+,\d+\.\d\d", first_line)  # fmt: skip
    from_csv, from_parquet = _read(tmp_path, "csv"), _read(tiny)
    for table in TABLES:
        left, right = from_csv[table], from_parquet[table]
        assert list(left.columns) == list(right.columns)
        for column in left.columns:
            a, b = left[column], right[column]
            if pd.api.types.is_datetime64_any_dtype(b):
                assert (a.astype("datetime64[us]") == b).all(), (table, column)
            else:
                assert a.astype(str).tolist() == b.astype(str).tolist(), (table, column)


def test_failed_write_leaves_previous_file_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    simulate(TINY, tmp_path)
    before = (tmp_path / "tracking_data.parquet").read_bytes()

    def broken(*args: object, **kwargs: object) -> object:
        raise RuntimeError("disk on fire")
        yield  # pragma: no cover - makes this a generator

    monkeypatch.setattr(sim, "_tracking_chunks", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        simulate(replace(TINY, seed=8), tmp_path)
    assert (tmp_path / "tracking_data.parquet").read_bytes() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


# ---------------------------------------------------------------------------------------------
# Schemas and integrity
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("table", TABLES)
def test_parquet_schema_is_exact(tiny: Path, table: str) -> None:
    schema = pq.read_schema(tiny / f"{table}.parquet")
    assert [(f.name, f.type) for f in schema] == EXPECTED_SCHEMAS[table]
    assert schema.pandas_metadata is None  # no index column sneaks in


def test_ids_are_unique_and_well_formed(real: dict[str, pd.DataFrame]) -> None:
    patterns = {
        ("influencers", "influencer_id"): r"INF\d{4}",
        ("posts", "post_id"): r"POST\d{6}",
        ("tracking_data", "tracking_id"): r"TRK\d{7}",
        ("payouts", "influencer_id"): r"INF\d{4}",
    }
    for (table, column), pattern in patterns.items():
        values = real[table][column]
        assert values.is_unique, (table, column)
        assert values.str.fullmatch(pattern).all(), (table, column)
    assert real["influencers"].influencer_id.iloc[0] == "INF0001"
    assert real["tracking_data"].user_id.str.fullmatch(r"U\d{8}").all()


def test_references_and_vocabularies(real: dict[str, pd.DataFrame]) -> None:
    inf, posts, tracking, payouts = (real[t] for t in TABLES)
    known = set(inf.influencer_id)
    assert set(posts.influencer_id) <= known
    assert set(tracking.influencer_id) <= known
    assert sorted(payouts.influencer_id) == sorted(known)  # exactly one payout row each
    assert set(tracking["product"]) <= set(DEFAULT_PRODUCTS)
    assert set(inf.category) <= set(DEFAULT_CATEGORIES) - {"Health"}
    assert set(inf.gender) <= {"Female", "Male", "Non-Binary"}
    assert set(inf.platform) <= {"Instagram", "YouTube", "Twitter"}
    assert (tracking.source == "influencer_marketing").all()
    platform = posts.influencer_id.map(inf.set_index("influencer_id").platform)
    assert (posts.platform == platform).all()
    # Campaigns are brand-prefixed and belong to the brand of the product sold.
    prefix = tracking.campaign.str.extract(r"^([A-Za-z]+_)", expand=False)
    assert (prefix == tracking["product"].map(DEFAULT_PRODUCTS).map(CAMPAIGN_PREFIX)).all()


def test_dates_fall_in_the_window(real: dict[str, pd.DataFrame]) -> None:
    start = datetime.combine(REAL.end_date - timedelta(days=REAL.days - 1), datetime.min.time())
    end = datetime.combine(REAL.end_date + timedelta(days=1), datetime.min.time())
    for table in ("posts", "tracking_data"):
        stamps = real[table].date
        assert stamps.min() >= start and stamps.max() < end, table
        assert (stamps.dt.microsecond == 0).all(), table
        assert stamps.is_monotonic_increasing, table
    # The whole window is covered, not just its end.
    assert real["tracking_data"].date.dt.date.nunique() == REAL.days


def test_values_are_plausible(real: dict[str, pd.DataFrame]) -> None:
    inf, posts, tracking, _ = (real[t] for t in TABLES)
    assert (tracking.orders >= 1).all() and (tracking.orders <= 3).all()
    assert (tracking.orders == 1).mean() > 0.75
    assert (tracking.revenue > 0).all()
    assert np.allclose(tracking.revenue, tracking.revenue.round(2), rtol=0, atol=1e-9)
    unit = tracking.revenue / tracking.orders
    whey = unit[tracking["product"] == "Whey Protein"]
    gummies = unit[tracking["product"] == "Gummy Stars"]
    assert 1_400 < whey.median() < 4_500 and 250 < gummies.median() < 700
    assert inf.follower_count.between(5_000, 5_000_000).all()
    assert inf.follower_count.max() > 20 * inf.follower_count.min()  # heavy tailed
    assert ((posts.reach >= posts.likes) & (posts.likes >= posts.comments)).all()
    assert (posts.comments >= 0).all()
    # Repeat customers exist, but most buyers are not regulars.
    per_user = tracking.user_id.value_counts()
    assert 0.1 < (per_user > 1).mean() < 0.7


# ---------------------------------------------------------------------------------------------
# Payouts
# ---------------------------------------------------------------------------------------------


def test_payouts_are_consistent_with_posts_and_orders(real: dict[str, pd.DataFrame]) -> None:
    _, posts, tracking, payouts = (real[t] for t in TABLES)
    pay = payouts.set_index("influencer_id")
    orders = tracking.groupby("influencer_id").orders.sum().reindex(pay.index, fill_value=0)
    n_posts = posts.groupby("influencer_id").size().reindex(pay.index, fill_value=0)
    assert (pay.total_orders_by_influencer == orders).all()
    count = np.where(pay.basis == "per_post", n_posts, orders)
    assert (pay.total_payout == np.round(pay.rate * count, 2)).all()
    assert set(pay.basis) == {"per_post", "per_order"}
    assert 0.45 < (pay.basis == "per_post").mean() < 0.65
    assert (pay.rate > 0).all()


def test_rows_gives_exact_count(tmp_path: Path) -> None:
    for rows in (0, 1, 4_321):
        spec = replace(TINY, rows=rows)
        counts = simulate(spec, tmp_path)
        assert counts["tracking_data"] == rows
        tracking = pq.read_table(tmp_path / "tracking_data.parquet")
        assert tracking.num_rows == rows
        payouts = pq.read_table(tmp_path / "payouts.parquet").to_pandas()
        assert payouts.total_orders_by_influencer.sum() == _column_sum(tracking, "orders")


def test_rows_keeps_the_shape_of_the_natural_volume(tmp_path: Path) -> None:
    natural = replace(TINY, rows=None)
    simulate(natural, tmp_path / "natural")
    base = pd.read_parquet(tmp_path / "natural" / "tracking_data.parquet")
    simulate(replace(natural, rows=5 * len(base)), tmp_path / "scaled")
    scaled = pd.read_parquet(tmp_path / "scaled" / "tracking_data.parquet")
    assert len(scaled) == 5 * len(base)
    share = pd.DataFrame(
        {
            "base": base.influencer_id.value_counts(normalize=True),
            "scaled": scaled.influencer_id.value_counts(normalize=True),
        }
    ).fillna(0)
    assert share.corr().loc["base", "scaled"] > 0.95
    # Payouts scale with the volume, so ROAS stays comparable.
    roas = []
    for run, tracking in (("natural", base), ("scaled", scaled)):
        payouts = pd.read_parquet(tmp_path / run / "payouts.parquet")
        roas.append(tracking.revenue.sum() / payouts.total_payout.sum())
    assert 0.7 < roas[1] / roas[0] < 1.4


def _column_sum(table: pa.Table, column: str) -> int:
    """Return the integer sum of a column (0 for an empty table)."""
    return int(table.column(column).to_numpy().sum()) if table.num_rows else 0


def test_invalid_specs_are_rejected() -> None:
    with pytest.raises(ConfigError, match="fmt"):
        SimulationSpec(fmt="xlsx")
    with pytest.raises(ConfigError, match="rows"):
        SimulationSpec(rows=-1)
    with pytest.raises(ConfigError, match="influencers"):
        SimulationSpec(influencers=0)
    with pytest.raises(ConfigError, match="days"):
        SimulationSpec(days=0)


# ---------------------------------------------------------------------------------------------
# Realism: properties the reports rely on to be worth reading
# ---------------------------------------------------------------------------------------------


def test_weekends_sell_more(real: dict[str, pd.DataFrame]) -> None:
    daily = real["tracking_data"].groupby(real["tracking_data"].date.dt.floor("D")).orders.sum()
    weekend = daily.index.day_of_week >= 5
    assert daily[weekend].mean() > 1.05 * daily[~weekend].mean()


def test_evenings_sell_more_than_nights(real: dict[str, pd.DataFrame]) -> None:
    hours = real["tracking_data"].date.dt.hour
    assert hours.between(19, 22).mean() > 4 * hours.between(2, 5).mean()


def test_a_few_influencers_dominate_revenue(real: dict[str, pd.DataFrame]) -> None:
    revenue = real["tracking_data"].groupby("influencer_id").revenue.sum()
    revenue = revenue.reindex(real["influencers"].influencer_id, fill_value=0)
    top = revenue.sort_values(ascending=False).head(len(revenue) // 10)
    assert top.sum() > 0.4 * revenue.sum()


def test_some_partnerships_lose_money_and_some_pay_off(real: dict[str, pd.DataFrame]) -> None:
    revenue = real["tracking_data"].groupby("influencer_id").revenue.sum()
    payouts = real["payouts"].set_index("influencer_id")
    roas = revenue.reindex(payouts.index, fill_value=0) / payouts.total_payout
    assert (roas < 1).any()
    assert (roas > 5).any()
    assert 0.1 < (roas < 1).mean() < 0.45
    assert roas.max() < 40


def test_orders_follow_posts(real: dict[str, pd.DataFrame]) -> None:
    orders = real["tracking_data"][["influencer_id", "date"]].sort_values("date")
    posts = real["posts"][["influencer_id", "date"]].rename(columns={"date": "posted"})
    joined = pd.merge_asof(
        orders, posts.sort_values("posted"), left_on="date", right_on="posted", by="influencer_id"
    )
    lag = joined.date - joined.posted
    assert (lag <= pd.Timedelta(days=7)).mean() > 0.8
    assert lag.median() < pd.Timedelta(days=3)


def test_influencers_mostly_sell_one_brand_matching_their_category(
    real: dict[str, pd.DataFrame],
) -> None:
    tracking = real["tracking_data"]
    brand = tracking["product"].map(DEFAULT_PRODUCTS)
    share = pd.crosstab(tracking.influencer_id, brand, normalize="index")
    # Mostly one brand, with spill-over to the others.
    assert share.max(axis=1).median() > 0.6
    assert (share.max(axis=1) < 1).mean() > 0.5
    # The usual main brand follows the category.
    category = real["influencers"].set_index("influencer_id").category
    main = share.idxmax(axis=1).groupby(category).agg(lambda s: s.mode().iloc[0])
    assert main["Parenting"] == "Gritzo"
    assert main["Fitness"] == "MuscleBlaze"
    assert main["Beauty"] == "HKVitals"


def test_muscleblaze_has_a_january_resolution_spike(real: dict[str, pd.DataFrame]) -> None:
    tracking = real["tracking_data"]
    mb = tracking[tracking["product"].map(DEFAULT_PRODUCTS) == "MuscleBlaze"]
    per_day = mb.groupby(mb.date.dt.floor("D")).orders.sum()
    january = per_day[per_day.index.month == 1].mean()
    march = per_day[per_day.index.month == 3].mean()
    assert january > 1.2 * march


def test_large_data_is_written_chunk_by_chunk(tmp_path: Path, monkeypatch) -> None:
    # 100M rows never exist at once: each chunk of about CHUNK_ROWS is one row group, written
    # before the next is drawn. Shrunk here so that 20k rows make about 20 chunks.
    monkeypatch.setattr(sim, "CHUNK_ROWS", 1_000)
    simulate(replace(TINY, rows=20_000), tmp_path)
    meta = pq.ParquetFile(tmp_path / "tracking_data.parquet").metadata
    sizes = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(sizes) == 20_000 and len(sizes) >= 10
    assert max(sizes) < 2 * 1_000 + 500  # about one chunk each (a chunk's size is drawn)
    t = pq.read_table(tmp_path / "tracking_data.parquet").to_pandas()
    assert t["date"].is_monotonic_increasing  # chunks are consecutive stretches of time
    assert list(t["tracking_id"]) == [f"TRK{i:07d}" for i in range(1, 20_001)]
