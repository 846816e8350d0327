"""Publishing: CSV cells, atomic folders, the latest link and the index."""

from __future__ import annotations

import csv
import io
import os
import stat
from pathlib import Path

import pandas as pd
import pytest

from reportgen import publish
from reportgen.publish import to_csv


def read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_csv_numbers_keep_their_value_in_plain_notation():
    frame = pd.DataFrame(
        {
            "brand": ["MuscleBlaze", "-HKVitals"],
            "revenue": [25085505.549999997, 1003750.0],
            "payout": [1599230.4, float("nan")],
            "roas": [2.1714285714, 0.000004],
            "orders": [15501, 3],
        }
    )
    rows = read(to_csv(frame))
    assert rows[0] == {
        "brand": "MuscleBlaze",
        "revenue": "25085505.55",
        "payout": "1599230.4",
        "roas": "2.171429",
        "orders": "15501",
    }
    assert rows[1] == {
        "brand": "'-HKVitals",  # text that a spreadsheet would read as a formula
        "revenue": "1003750",
        "payout": "",
        "roas": "0.000004",
        "orders": "3",
    }
    assert b"e+" not in to_csv(frame) and b"e-" not in to_csv(frame)


def build(out: Path, as_of: str, **files: bytes) -> Path:
    directory = out / "weekly" / as_of
    publish.publish_build(directory, {"summary.json": b'{"preset": "weekly"}', **files})
    publish.point_latest(directory.parent, directory.name)
    return directory


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_rebuild_replaces_the_folder_whole(tmp_path, monkeypatch, exchange):
    if not exchange:
        monkeypatch.setattr(publish, "_exchange", lambda a, b: False)
    d = build(tmp_path, "2025-07-07", **{"report.pdf": b"old pdf", "a.csv": b"old"})
    build(tmp_path, "2025-07-07", **{"a.csv": b"new"})
    assert sorted(p.name for p in d.iterdir()) == ["a.csv", "summary.json"]  # no stale PDF
    assert (d / "a.csv").read_bytes() == b"new"
    assert [p.name for p in d.parent.iterdir() if p.name.startswith(".")] == []
    assert stat.S_IMODE(d.stat().st_mode) == 0o755
    assert stat.S_IMODE((d / "a.csv").stat().st_mode) == 0o644


def test_exchange_swaps_two_folders(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "from-a").write_text("")
    if not publish._exchange(a, b):
        pytest.skip("this file system has no RENAME_EXCHANGE")
    assert [p.name for p in b.iterdir()] == ["from-a"] and not any(a.iterdir())


def test_latest_stays_on_the_newest_build_after_a_backfill(tmp_path):
    build(tmp_path, "2025-07-07")
    build(tmp_path, "2025-06-30")
    assert os.readlink(tmp_path / "weekly" / "latest") == "2025-07-07"
    build(tmp_path, "2025-07-14")
    assert os.readlink(tmp_path / "weekly" / "latest") == "2025-07-14"


def test_index_skips_leftovers_of_an_interrupted_build_and_is_readable(tmp_path):
    build(tmp_path, "2025-07-07")
    stray = tmp_path / "weekly" / ".stage-2025-07-14-x"
    stray.mkdir()
    (stray / "summary.json").write_text('{"preset": "weekly"}')
    builds = publish.collect_builds(tmp_path)
    assert [b["href_summary"] for b in builds] == ["weekly/2025-07-07/summary.json"]
    publish.write_manifest(tmp_path, builds)
    assert stat.S_IMODE((tmp_path / "manifest.json").stat().st_mode) == 0o644
