"""The `reportgen[spark]` extra: ibis's PySpark backend runs here (local mode, Java 17)."""

from __future__ import annotations

import shutil

import ibis
import pytest

from tests.conftest import TINY

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark():
    """Start one local Spark session (2 cores, no UI) for the module."""
    pytest.importorskip("pyspark", reason="pyspark not installed (pip install 'reportgen[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java on PATH (Spark needs Java 17)")
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("reportgen-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    yield session
    session.stop()


def _revenue_by_influencer(con) -> dict[str, tuple[float, int]]:
    t = con.read_csv(str(TINY / "tracking_data.csv"))
    expr = t.group_by("influencer_id").aggregate(
        revenue=t.revenue.cast("float64").sum(), orders=t.orders.cast("int64").sum()
    )
    df = expr.to_pandas()
    return {r.influencer_id: (float(r.revenue), int(r.orders)) for r in df.itertuples()}


def test_ibis_pyspark_aggregates_like_duckdb(spark):
    got = _revenue_by_influencer(ibis.pyspark.connect(spark))
    # By hand from tests/data/tiny/tracking_data.csv: A1 = T01 + T02 + T03 + T08, and so on.
    assert got == {
        "A1": (2000 + 1500 + 500 + 1000, 1 + 2 + 1 + 1),
        "B2": (1200 + 400 + 999, 3 + 1 + 1),
        "C3": (800, 1),
        "D4": (300, 1),
    }
    assert got == _revenue_by_influencer(ibis.duckdb.connect())
