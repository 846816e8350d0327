"""`reportgen plan-holdout`: holdout share per duration from the loaded order history."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from statistics import NormalDist

from tests.conftest import ROOT, TINY

# Ten users over 9 days of history: one 7-day window holds U1's 100 (U2's order on day 8
# falls past the last whole window), so per-user revenue is 100 once and 0 nine times:
# mean 10, sd sqrt((100^2 - 10 x 10^2) / 9) = sqrt(1000) = 31.62.
CONVERSIONS = """order_id,user_id,time,product,revenue
O1,U1,2025-07-01 10:00:00,Whey Protein,100
O2,U2,2025-07-09 10:00:00,Whey Protein,300
"""


def run(*args, cwd=ROOT):
    return subprocess.run(
        [sys.executable, "-m", "reportgen", "plan-holdout", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def data(tmp_path, assignments: str | None = None):
    folder = tmp_path / "data"
    shutil.copytree(TINY, folder)
    (folder / "conversions.csv").write_text(CONVERSIONS)
    if assignments:
        (folder / "assignments.csv").write_text(assignments)
    return folder


def test_hand_computed_share(tmp_path):
    # Share h solves 1 / (h (1 - h)) = N (lift x mean / (z sd))^2 =: r; choose the lift that
    # makes r = 16/3, so h = (1 - sqrt(1 - 4/r)) / 2 = 1/4 and 3 of 10 users are held out.
    z = NormalDist().inv_cdf(0.95) + NormalDist().inv_cdf(0.8)
    lift = math.sqrt(16 / 3 / 10) * z * math.sqrt(1000) / 10
    r = run("--data", str(data(tmp_path)), "--lift", repr(lift), "--users", "10", "--days", "7,14")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "80% power at alpha 0.1 (two-sided), 10 users, 2 orders of history" in lines[0]
    assert (
        lines[1].split()
        == "7 days: hold out 25.0% (3 users); revenue per user 10.00 (sd 31.62)".split()
    )
    assert lines[2].split() == "14 days: history covers 9 days, fewer than 14".split()


def test_users_default_to_the_assigned_users(tmp_path):
    rows = "".join(f"U{i},{'holdout' if i % 2 else 'treatment'}\n" for i in range(1, 41))
    folder = data(tmp_path, "user_id,group\n" + rows)
    r = run("--data", str(folder), "--lift", "0.01", "--days", "7")
    assert r.returncode == 0, r.stderr
    assert "40 users" in r.stdout
    assert "not detectable: even a 50% holdout of 40 users is too small" in r.stdout


def test_without_user_count_says_how_to_give_one(tmp_path):
    r = run("--data", str(data(tmp_path)), "--lift", "0.1")
    assert r.returncode == 2
    assert r.stderr.startswith("reportgen: error: plan-holdout: no assignments table")
    assert "--users N" in r.stderr and "Traceback" not in r.stderr


def test_without_conversions_is_a_data_error(tmp_path):
    r = run("--data", str(TINY), "--lift", "0.1", "--users", "10")
    assert r.returncode == 3
    assert r.stderr.count("\n") == 1 and "no conversions table" in r.stderr


def test_bad_alpha_and_days_are_usage_errors(tmp_path):
    assert run("--data", str(TINY), "--lift", "0.1", "--alpha", "1.5").returncode == 2
    r = run("--data", str(TINY), "--lift", "0.1", "--days", "7,x")
    assert r.returncode == 2 and "give whole days" in r.stderr
