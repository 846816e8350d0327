"""Optional study tables (touchpoints, conversions, assignments) through the file source."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reportgen.errors import DataError
from tests.conftest import ROOT, load

TOUCHPOINTS = """user_id,influencer_id,time,kind,post_id
U1,A1,2025-07-01 10:00:00,view,P1
U1,A1,2025-07-01 10:02:00,Click,P1
U2,B2,2025-07-02 09:00:00,code,
U3,NOPE,2025-07-02 09:00:00,view,
"""
CONVERSIONS = """order_id,user_id,time,product,revenue
O1,U1,2025-07-01 12:00:00,Whey,1000
O2,U2,2025-07-02 10:00:00,Whey,500.5
O3,U9,2025-07-03 10:00:00,Whey,200
O4,U1,2025-07-09 10:00:00,Whey,300
"""
ASSIGNMENTS = """user_id,group,influencer_id,start,end
U1,treatment,,2025-07-01,2025-07-07
U2,holdout,,2025-07-01,2025-07-07
U3,treatment,,2025-07-01,2025-07-07
U1,holdout,A1,2025-07-01,2025-07-07
U3,treatment,NOPE,2025-07-01,2025-07-07
"""


@pytest.fixture
def study(tiny):
    """Return the tiny dataset with hand-made study tables."""
    (tiny / "touchpoints.csv").write_text(TOUCHPOINTS)
    (tiny / "conversions.csv").write_text(CONVERSIONS)
    (tiny / "assignments.csv").write_text(ASSIGNMENTS)
    return tiny


def rows(ds, sql):
    return ds.con.execute(sql).fetchall()


def test_without_study_tables_nothing_changes(tmp_path, tiny):
    ds = load(tmp_path, tiny)
    assert set(ds.rows) == {"influencers", "posts", "tracking_data", "payouts"}
    for view in ("touchpoints", "conversions", "assignments"):
        assert not rows(ds, f"SELECT 1 FROM duckdb_views() WHERE view_name = '{view}'")


def test_study_tables_load_with_findings(tmp_path, study):
    ds = load(tmp_path, study)
    assert ds.rows["touchpoints"] == 4 and ds.rows["conversions"] == 4
    assert rows(ds, "SELECT user_id, kind FROM touchpoints ORDER BY time, kind") == [
        ("U1", "view"),
        ("U1", "click"),  # 'Click' read case-insensitively
        ("U2", "code"),
    ]
    assert rows(ds, "SELECT sum(revenue) FROM conversions") == [(2000.5,)]
    found = {(i.code, i.table): i for i in ds.issues}
    unknown_tp = found[("unknown_influencer", "touchpoints")]
    assert (unknown_tp.rows, unknown_tp.examples) == (1, ["NOPE"])
    assert found[("unknown_influencer", "assignments")].rows == 1
    unassigned = found[("unassigned_users", "conversions")]
    assert (unassigned.rows, unassigned.revenue, unassigned.examples) == (1, 200.0, ["U9"])
    outside = found[("outside_study", "conversions")]  # 07-09 is after the inclusive end 07-07
    assert (outside.rows, outside.revenue, outside.examples) == (1, 300.0, ["O4"])
    assert rows(ds, "SELECT count(*) FROM assignments") == [(4,)]
    assert "touchpoints" in ds.provenance["files"]


def test_user_in_both_groups_is_an_error(tmp_path, study):
    (study / "assignments.csv").write_text(ASSIGNMENTS + "U2,treatment,,2025-07-01,2025-07-07\n")
    with pytest.raises(DataError) as exc:
        load(tmp_path, study)
    msg = str(exc.value)
    assert "assignments.csv: row 2 (line 3), row 6 (line 7), column 'user_id'" in msg
    assert "'U2' is in both treatment and holdout for the programme-wide holdout" in msg


def test_exact_repeat_of_an_assignment_counts_once(tmp_path, study):
    (study / "assignments.csv").write_text(ASSIGNMENTS + "U2,holdout,,2025-07-01,2025-07-07\n")
    ds = load(tmp_path, study)
    assert rows(ds, "SELECT count(*) FROM assignments WHERE user_id = 'U2'") == [(1,)]


@pytest.mark.parametrize(
    ("table", "old", "new", "expected"),
    [
        (
            "touchpoints",
            "code",
            "swipe",
            "row 3 (line 4), column 'kind': 'swipe' is not a touchpoints kind",
        ),
        (
            "assignments",
            "U2,holdout",
            "U2,control",
            "row 2 (line 3), column 'group': 'control' is not",
        ),
    ],
)
def test_bad_kind_or_group_names_the_row(tmp_path, study, table, old, new, expected):
    path = study / f"{table}.csv"
    path.write_text(path.read_text().replace(old, new, 1))
    with pytest.raises(DataError, match="source.values") as exc:
        load(tmp_path, study)
    assert expected in str(exc.value)


def test_value_map_fixes_a_group_spelling(tmp_path, study):
    path = study / "assignments.csv"
    path.write_text(path.read_text().replace("U2,holdout", "U2,control", 1))
    ds = load(tmp_path, study, "  values: {assignments.group: {control: holdout}}\n")
    assert rows(ds, "SELECT \"group\" FROM assignments WHERE user_id = 'U2'") == [("holdout",)]


def test_named_study_file_must_exist(tmp_path, tiny):
    with pytest.raises(DataError, match="no visits.csv for table 'touchpoints'"):
        load(tmp_path, tiny, "  files: {touchpoints: visits.csv}\n")


def test_simulate_journeys_writes_study_beside_seed_layout(tmp_path):
    out = tmp_path / "sim"
    args = ["--seed", "3", "--influencers", "3", "--days", "30", "--end-date", "2025-06-30"]
    subprocess.run(
        [sys.executable, "-m", "reportgen", "simulate", *args, "--journeys", "3000",
         "--study-days", "14", "--format", "csv", "--out", str(out)],
        cwd=ROOT, check=True, capture_output=True,
    )  # fmt: skip
    truth = json.loads((out / "truth.json").read_text())
    ds = load(tmp_path, out)
    ids = {r[0] for r in rows(ds, "SELECT influencer_id FROM influencers")}
    assert set(truth["influencers"]) == ids
    assert not [i for i in ds.issues if i.code == "unknown_influencer"]
    first, last = rows(
        ds, "SELECT min(CAST(time AS DATE)), max(CAST(time AS DATE)) FROM conversions"
    )[0]
    assert str(first) >= "2025-06-17" and str(last) <= "2025-06-30"  # the 14-day study
