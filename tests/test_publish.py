"""Publishing: CSV cells, atomic folders, the latest link and the index."""

from __future__ import annotations

import csv
import io
import os
import stat
import time
from pathlib import Path

import pandas as pd
import pytest

from reportgen.report import publish
from reportgen.report.publish import to_csv


def read(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def test_csv_numbers_keep_their_value_in_plain_notation():
    frame = pd.DataFrame(
        {
            "brand": ["MuscleBlaze", "-HKVitals"],
            "revenue": [25085505.549999997, 123456789012.34],
            "payout": [1599230.4, float("nan")],
            "roas": [2.1714285714, 0.0000004],
            "orders": [15501, 3],
        }
    )
    rows = read(to_csv(frame))
    assert rows[0] == {
        "brand": "MuscleBlaze",
        "revenue": "25085505.55",  # money to the paisa: the sum's float noise dropped
        "payout": "1599230.4",
        "roas": "2.1714285714",  # other numbers exactly as computed
        "orders": "15501",
    }
    assert rows[1] == {
        "brand": "'-HKVitals",  # text that a spreadsheet would read as a formula
        "revenue": "123456789012.34",  # not 123456789012.339996
        "payout": "",
        "roas": "0.0000004",
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
    calls = []
    real = publish._exchange

    def spy(a, b):
        swapped = real(a, b) if exchange else False
        calls.append((b.name, swapped))
        return swapped

    monkeypatch.setattr(publish, "_exchange", spy)
    d = build(tmp_path, "2025-07-07", **{"report.pdf": b"old pdf", "a.csv": b"old"})
    assert calls == []  # a new folder is renamed into place
    build(tmp_path, "2025-07-07", **{"a.csv": b"new"})
    if exchange and calls == [("2025-07-07", False)]:
        pytest.skip("this file system has no RENAME_EXCHANGE")
    assert calls == [("2025-07-07", exchange)]
    assert sorted(p.name for p in d.iterdir()) == ["a.csv", "summary.json"]  # no stale PDF
    assert (d / "a.csv").read_bytes() == b"new"
    assert [p.name for p in d.parent.iterdir() if p.name.startswith(".") and p.is_dir()] == []
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


def test_publish_removes_old_leftovers_of_a_crashed_publish_only(tmp_path):
    preset = tmp_path / "weekly"
    old, fresh, other = (
        preset / ".stage-2025-07-07-crashed",
        preset / ".old-2025-07-07-recent",
        preset / ".stage-2025-07-14-crashed",
    )
    for p in (old, fresh, other):
        p.mkdir(parents=True)
    hours_ago = time.time() - 2 * publish.LEFTOVER_AGE_S
    os.utime(old, (hours_ago, hours_ago))
    os.utime(other, (hours_ago, hours_ago))
    build(tmp_path, "2025-07-07")
    assert not old.exists()  # this date's leftover, old enough to be a crash
    assert fresh.exists()  # may belong to a publish running now
    assert other.exists()  # another date's: its own publish cleans it


def test_a_real_folder_at_latest_is_refused_and_no_temporary_link_is_left(tmp_path):
    build(tmp_path, "2025-07-07")
    latest = tmp_path / "weekly" / "latest"
    latest.unlink()
    latest.mkdir()
    (latest / "keep.txt").write_text("someone's files")
    with pytest.raises(publish.OutputError, match=r"latest: a real folder where reportgen keeps"):
        publish.check_latest(tmp_path / "weekly")
    # Should a caller skip the check, the swap fails but leaves no .latest.<pid> behind.
    with pytest.raises(OSError):
        publish.point_latest(tmp_path / "weekly", "2025-07-07")
    assert sorted(p.name for p in (tmp_path / "weekly").iterdir()) == [
        ".latest.lock",
        "2025-07-07",
        "latest",
    ]
    assert (latest / "keep.txt").read_text() == "someone's files"
    publish.check_latest(tmp_path / "nothing-yet")  # no folder yet, no link yet: fine
