"""Metrics against numbers computed by hand on tests/data/tiny (see the comments)."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from reportgen.metrics import engine as metrics
from reportgen.sources import open_dataset
from tests.conftest import TINY, make_config

AS_OF = date(2025, 7, 7)
PRESETS = """
presets:
  all:
    window: {start: 2025-07-01, end: 2025-07-07}
  mb:
    window: last_7_days
    brands: [MuscleBlaze]
  parenting:
    window: last_7_days
    categories: [parenting]
  instagram:
    window: last_7_days
    platforms: [Instagram]
"""


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    cfg = make_config(tmp_path_factory.mktemp("cfg"), PRESETS, data=TINY)
    engine = metrics.Engine(open_dataset(cfg))
    return {
        name: metrics.compute(engine, p, p.window_for(AS_OF), AS_OF)
        for name, p in cfg.presets.items()
    }


def by_id(report):
    return report.influencers.set_index("influencer_id")


def test_kpis_all_brands(reports):
    k = reports["all"].kpis
    # 2000+1500+500 (A1) + 1200+400 (B2; 23:30 on the last day counts, 07-08 00:00 does not)
    # + 800 (C3) + 300 (D4 at 00:00 on the first day)
    assert k["revenue"].value == pytest.approx(6700)
    assert k["orders"].value == 10
    # A1 per_post 1000 x 2 posts; B2 per_order 100 x 4 orders; D4 no posts -> 0; C3 no terms
    assert k["payout"].value == pytest.approx(2400)
    # ROAS over revenue with terms: (4000 + 1600 + 300) / 2400
    assert k["roas"].value == pytest.approx(5900 / 2400)
    assert k["aov"].value == pytest.approx(670)
    assert "88.1%" in k["roas"].note  # 5900 / 6700 of revenue has payout terms
    # D4's 300 came at no cost in this window: 300 / 5900 of the ROAS revenue, and it says so
    assert k["roas"].note == (
        "covers 88.1% of revenue (influencers with payout terms); "
        "5.1% of its revenue from influencers paid nothing this window"
    )


def test_previous_window_and_change(reports):
    r = reports["all"]
    assert (r.previous_window.start, r.previous_window.end) == (
        date(2025, 6, 24),
        date(2025, 6, 30),
    )
    k = r.kpis
    # Only T08 (06-30 23:59:59) and post P4 (06-28) fall in the previous window.
    assert k["revenue"].previous == pytest.approx(1000)
    assert k["payout"].previous == pytest.approx(1000)
    assert k["roas"].previous == pytest.approx(1.0)
    assert k["revenue"].change == pytest.approx(5.7)


def test_influencer_payouts_and_roas(reports):
    t = by_id(reports["all"])
    assert t.loc["A1", "payout"] == pytest.approx(2000)
    assert t.loc["A1", "roas"] == pytest.approx(2.0)
    assert t.loc["A1", "posts"] == 2
    assert t.loc["B2", "payout"] == pytest.approx(400)
    assert t.loc["B2", "roas"] == pytest.approx(4.0)
    assert math.isnan(t.loc["C3", "payout"]) and math.isnan(t.loc["C3", "roas"])
    assert t.loc["D4", "payout"] == 0 and math.isnan(t.loc["D4", "roas"])
    assert bool(t.loc["A1", "profitable"]) is True
    assert t["profitable"].isna().sum() == 2


def test_roas_ranking_leaves_out_na_and_small_payouts(reports):
    # C3 (no terms) and D4 (paid nothing) have ROAS n/a: not ranked. The default minimum is
    # 1% of the window's payout (24): A1 (2000) and B2 (400) pass.
    assert reports["all"].roas_min_payout == pytest.approx(24)
    assert list(reports["all"].top_by_roas["influencer_id"]) == ["B2", "A1"]
    assert list(reports["all"].top_by_revenue["influencer_id"]) == ["A1", "B2", "C3", "D4"]


def test_brand_filter_splits_post_cost(reports):
    r = reports["mb"]
    t = by_id(r)
    # A1 sold 3500 MuscleBlaze of 4000 in the window: 87.5% of 2 x 1000 per post
    assert t.loc["A1", "payout"] == pytest.approx(1750)
    assert t.loc["A1", "revenue"] == pytest.approx(3500)
    assert "B2" not in t.index  # no MuscleBlaze sales and an order-based fee: nothing to show
    assert r.kpis["revenue"].value == pytest.approx(3800)
    assert r.kpis["payout"].value == pytest.approx(1750)
    assert r.kpis["roas"].value == pytest.approx(3800 / 1750)
    assert (
        r.kpis["roas"].note == "7.9% of its revenue from influencers paid nothing this window"
    )  # 300/3800
    assert list(r.by_brand["brand"]) == ["MuscleBlaze"]
    assert any("split across brands" in a for a in r.assumptions)


def test_category_and_platform_filters(reports):
    p = reports["parenting"]
    assert list(p.influencers["influencer_id"]) == ["B2"]
    assert p.kpis["roas"].value == pytest.approx(4.0)
    i = reports["instagram"]
    assert set(i.influencers["influencer_id"]) == {"A1", "C3"}
    assert i.kpis["revenue"].value == pytest.approx(4800)


def test_daily_is_zero_filled_inclusive(reports):
    d = reports["all"].daily
    assert len(d) == 7
    assert d["date"].iloc[0] == date(2025, 7, 1) and d["date"].iloc[-1] == date(2025, 7, 7)
    assert d["revenue"].sum() == pytest.approx(6700)
    assert d.set_index("date").loc[date(2025, 7, 7), "revenue"] == pytest.approx(400)


def test_breakdowns_sum_to_total(reports):
    r = reports["all"]
    for frame in (r.by_brand, r.by_category, r.by_platform):
        assert frame["revenue"].sum() == pytest.approx(6700)
        assert frame["share"].sum() == pytest.approx(1.0)
    assert dict(zip(r.by_brand["brand"], r.by_brand["revenue"], strict=True)) == {
        "MuscleBlaze": 3800,
        "HKVitals": 1300,
        "Gritzo": 1600,
    }


def test_engagement(reports):
    e = reports["all"].engagement.set_index("influencer_id")
    # A1: reach 16000, likes+comments 1600, payout 2000
    assert e.loc["A1", "engagement_rate"] == pytest.approx(0.1)
    assert e.loc["A1", "cpm"] == pytest.approx(2000 / 16000 * 1000)
    assert e.loc["A1", "cpe"] == pytest.approx(2000 / 1600)


def test_data_quality_counts_missing_terms(reports):
    codes = {i.code: i for i in reports["all"].data_quality}
    assert codes["window_no_payout_terms"].rows == 1
    assert codes["window_no_payout_terms"].revenue == pytest.approx(800)
    assert codes["window_zero_payout"].examples == ["D4"]
    assert "no_payout_terms" in codes  # C3 over all data


def test_empty_window_gives_zeros_not_errors(tmp_path):
    cfg = make_config(
        tmp_path, "presets:\n  e: {window: {start: 2030-01-01, end: 2030-01-31}}\n", data=TINY
    )
    p = cfg.presets["e"]
    r = metrics.compute(
        metrics.Engine(open_dataset(cfg)), p, p.window_for(date(2030, 1, 31)), date(2030, 1, 31)
    )
    assert r.kpis["revenue"].value == 0 and r.kpis["orders"].value == 0
    assert r.kpis["roas"].value is None and r.kpis["aov"].value is None
    assert r.influencers.empty and r.engagement.empty and not r.has_data
    assert len(r.daily) == 31 and r.daily["revenue"].sum() == 0


def test_metrics_receive_the_backend_and_name_no_engine():
    # The seam: sources land canonical tables in the build's store and hand over its Ibis
    # backend (Dataset.backend); metrics code must work on any backend it is given.
    import ast

    import reportgen.metrics

    engines = {"duckdb", "postgres", "pyspark", "psycopg", "trino", "bigquery", "snowflake"}
    for path in Path(reportgen.metrics.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        names |= {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import | ast.ImportFrom):
                mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                names |= {part for m in mods for part in m.split(".")}
        assert not names & engines, (path.name, names & engines)
