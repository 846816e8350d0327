"""Report sections through the seam: attribution and incrementality end to end."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import date
from types import SimpleNamespace

import pandas as pd
import pytest

from reportgen.analysis.attribution import attribute
from reportgen.analysis.incrementality import estimate_incrementality
from reportgen.errors import ConfigError
from reportgen.sections.incrementality import outcomes
from reportgen.sources import open_dataset
from tests.conftest import ROOT, TINY, make_config

MODELS = ["last_touch", "linear", "time_decay", "markov", "shapley"]  # the documented default
WINDOW = ("2025-06-03", "2025-06-30")  # the simulated 28-day study
CONFIG = """\
source: {{kind: files, path: {data}}}
output: {{dir: {out}}}
presets:
  study:
    window: {{start: {start}, end: {end}}}
    formats: [html, csv]
    sections: [overview, attribution, incrementality]
"""


def cli(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Simulate a study beside the seed layout and build it with both sections."""
    root = tmp_path_factory.mktemp("study")
    data, out = root / "data", root / "output"
    sim = ["--seed", "5", "--influencers", "4", "--days", "60", "--end-date", WINDOW[1]]
    r = cli("simulate", *sim, "--journeys", "20000", "--format", "csv", "--out", str(data))
    assert r.returncode == 0, r.stderr
    (root / "config.yaml").write_text(
        CONFIG.format(data=data, out=out, start=WINDOW[0], end=WINDOW[1])
    )
    r = cli("build", "-c", str(root / "config.yaml"), "--as-of", WINDOW[1])
    assert r.returncode == 0, r.stderr
    latest = out / "study" / WINDOW[1]
    return data, latest, json.loads((latest / "summary.json").read_text())


def test_attribution_matches_the_analysis(built):
    data, _, summary = built
    conv = pd.read_csv(data / "conversions.csv", parse_dates=["time"])
    touches = pd.read_csv(data / "touchpoints.csv", parse_dates=["time"])
    expected = attribute(touches, conv, models=tuple(MODELS), lookback_days=7, half_life_days=7)
    assert list(summary["attribution"]) == MODELS
    for model in MODELS:
        want = expected.credited[expected.credited["model"] == model]
        got = {r["influencer_id"]: r["revenue"] for r in summary["attribution"][model]}
        assert got == pytest.approx(
            dict(zip(want["influencer_id"], want["revenue"], strict=True)), abs=0.01
        )
        # Every model credits the same total: the attributed revenue.
        assert sum(got.values()) == pytest.approx(expected.attributed_revenue, abs=0.05)


def test_incrementality_matches_the_analysis(built):
    data, latest, summary = built
    conv = pd.read_csv(data / "conversions.csv", parse_dates=["time"])
    assignments = pd.read_csv(data / "assignments.csv", dtype={"influencer_id": str})
    pay = pd.read_csv(latest / "payouts.csv")  # the report's window payouts and tracked sales
    terms = pay.rename(columns={"payout": "total_payout"})
    want = estimate_incrementality(
        conv, assignments, terms, pay[["influencer_id", "orders", "revenue"]]
    )
    got = summary["incrementality"]
    keys = ("incremental_revenue", "payout", "iroas", "iroas_low", "iroas_high", "reason")
    for est, row in [
        (want.overall, got["overall"]),
        *zip(want.influencers, got["influencers"], strict=True),
    ]:
        assert row.get("influencer_id", "overall") == est.scope
        for key in keys:
            value = getattr(est, key)
            assert row[key] == (
                value if value is None or isinstance(value, str) else pytest.approx(value, abs=1e-2)
            )
        # Commission on orders that would have happened anyway is part of what was paid.
        if row["commission_on_baseline_orders"] is not None:
            assert 0 <= row["commission_on_baseline_orders"] <= row["commission"] + 0.01
    assert got["overall"]["users_holdout"] > 0 and len(got["influencers"]) == 4
    assert summary["analyses_not_done"] == []


def test_report_labels_every_roas(built):
    _, latest, summary = built
    html = (latest / "report.html").read_text()
    assert "Direct ROAS (tracked)" in html and "Incremental ROAS (iROAS, interval)" in html
    assert "Not done" not in html
    table = pd.read_csv(latest / "incrementality.csv")
    assert list(table["scope"]) == [
        "overall",
        *[r["influencer_id"] for r in summary["incrementality"]["influencers"]],
    ]
    assert (latest / "attribution.csv").exists()


def test_sections_without_the_tables_say_why(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    (tmp_path / "config.yaml").write_text(
        CONFIG.format(data=data, out=tmp_path / "out", start="2025-07-01", end="2025-07-07")
    )
    r = cli("build", "-c", str(tmp_path / "config.yaml"), "--as-of", "2025-07-07")
    assert r.returncode == 0, r.stderr
    latest = tmp_path / "out" / "study" / "2025-07-07"
    summary = json.loads((latest / "summary.json").read_text())
    assert summary["attribution"] is None and summary["incrementality"] is None
    assert summary["analyses_not_done"] == [
        {
            "section": "attribution",
            "reason": "Attribution needs the touchpoints and conversions tables; the data has "
            "no touchpoints or conversions (see README, Data: study tables)",
        },
        {
            "section": "incrementality",
            "reason": "Incrementality needs the conversions and assignments tables; the data "
            "has no conversions or assignments (see README, Data: study tables)",
        },
    ]
    html = (latest / "report.html").read_text()
    assert html.count("Not done:") == 2
    assert summary["kpis"]["revenue"] == 6700  # the overview is as before


def test_overview_only_by_default_adds_nothing(tmp_path):
    cfg = make_config(tmp_path, "presets:\n  a: {}\n")
    assert cfg.presets["a"].sections == ("overview",)


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("[]", "list at least one section"),
        ("[attribution, attribution]", "listed twice"),
        ("[funnel]", "funnel"),
    ],
)
def test_bad_sections_are_config_errors(tmp_path, value, says):
    with pytest.raises(ConfigError, match=says):
        make_config(tmp_path, f"presets:\n  a: {{sections: {value}}}\n")


def test_a_filtered_preset_says_the_study_is_not_cut(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    (data / "conversions.csv").write_text("order_id,user_id,time,revenue\nO1,U1,2025-07-02,10\n")
    (data / "assignments.csv").write_text("user_id,group\nU1,treatment\n")
    config = CONFIG.format(data=data, out=tmp_path / "out", start="2025-07-01", end="2025-07-07")
    (tmp_path / "config.yaml").write_text(config + "    brands: [MuscleBlaze]\n")
    r = cli("build", "-c", str(tmp_path / "config.yaml"), "--as-of", "2025-07-07")
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "study" / "2025-07-07" / "summary.json").read_text())
    reasons = {n["section"]: n["reason"] for n in summary["analyses_not_done"]}
    assert reasons["incrementality"].startswith(
        "Incrementality covers the whole study and is not cut by filters (brands: MuscleBlaze"
    )
    assert "no touchpoints" in reasons["attribution"]  # missing tables are named first


def test_holdout_periods_are_calendar_days_of_the_report_timezone(tmp_path, tiny):
    # Zoned assignment bounds are read in the report's timezone, like the (naive, local) orders:
    # 1 July 00:00 +05:30 to 7 July inclusive, in Asia/Kolkata.
    (tiny / "conversions.csv").write_text(
        "order_id,user_id,time,revenue\n"
        "O1,U1,2025-06-30 23:00:00,700\n"  # before the start (18:30 UTC the day before is not)
        "O2,U1,2025-07-01 00:30:00,1000\n"
        "O3,U1,2025-07-07 23:30:00,300\n"  # the end day counts to local midnight
        "O4,U1,2025-07-08 00:30:00,50\n"
        "O5,U2,2025-07-02 10:00:00,500.5\n"
    )
    (tiny / "assignments.csv").write_text(
        "user_id,group,start,end\n"
        "U1,treatment,2025-07-01T00:00:00+05:30,2025-07-07T00:00:00+05:30\n"
        "U2,holdout,2025-07-01T00:00:00+05:30,2025-07-07T00:00:00+05:30\n"
    )
    ds = open_dataset(make_config(tmp_path, "presets:\n  a: {}\n", data=tiny))
    report = SimpleNamespace(
        preset=SimpleNamespace(timezone="Asia/Kolkata"),
        window=SimpleNamespace(start=date(2025, 6, 30), end=date(2025, 7, 8)),
    )
    got = outcomes(ds, report)  # type: ignore[arg-type]
    assert list(got) == ["overall"]
    o = got["overall"]
    assert (o.users_treatment, o.users_holdout) == (1, 1)
    assert o.revenue_treatment.tolist() == [1300.0] and o.orders_treatment.tolist() == [2.0]
    assert o.revenue_holdout.tolist() == [500.5] and o.orders_holdout.tolist() == [1.0]
