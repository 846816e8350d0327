"""Build reuse: an unchanged rebuild reuses the previous build; any change or --force rebuilds."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from reportgen import config as config_mod
from reportgen import reuse
from reportgen.build import Timings, build
from tests.conftest import TINY, TINY_CONFIG
from tests.test_hostile import Workspace, run

BUILD = ("build", "--as-of", "2025-07-07")
REUSED = "weekly 2025-07-07: unchanged since "


def stamps(folder: Path) -> dict[str, tuple[int, int]]:
    """Return (inode, mtime in ns) of every file in a build folder, hidden ones included."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(folder.iterdir())}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    """Return a workspace with the tiny data and one good build of 2025-07-07."""
    shutil.copytree(TINY, tmp_path / "data")
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    first = run(Workspace(tmp_path), *BUILD)
    assert first.returncode == 0, first.stderr
    assert "reused" not in first.stderr
    return Workspace(tmp_path)


def test_unchanged_rebuild_reuses_the_build_and_force_rebuilds(ws: Workspace) -> None:
    folder = ws.output / "weekly" / "2025-07-07"
    before = stamps(folder)
    first_summary = (folder / "summary.json").read_bytes()
    assert {"report.html", "summary.json", "payouts.csv", ".build-key"} <= set(before)
    again = run(ws, *BUILD)
    assert again.returncode == 0, again.stderr
    assert REUSED in again.stderr and "; reused" in again.stderr
    assert "rendered" not in again.stderr  # nothing was computed or rendered
    assert again.stdout.strip() == str(folder)
    assert stamps(folder) == before  # not even rewritten: same inodes, same mtimes
    forced = run(ws, *BUILD, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "reused" not in forced.stderr and "rendered weekly" in forced.stderr
    after = stamps(folder)
    assert set(after) == set(before)
    assert all(after[name][0] != before[name][0] for name in before)  # a new folder swapped in
    assert (folder / "summary.json").read_bytes() == first_summary  # same data, same bytes


def _data_byte(ws: Workspace) -> None:
    ws.edit("data/tracking_data.csv", "2025-07-02 11:00:00,1,2000", "2025-07-02 11:00:00,1,2001")


def _config_byte(ws: Workspace) -> None:
    ws.config.write_text(ws.config.read_text() + "#\n")


def _template_byte(ws: Workspace) -> None:
    ws.write("templates/_assumptions.html", "<p>our own assumptions</p>\n")


def _study_table(ws: Workspace) -> None:
    # An optional study table appearing is new input too, though no seed table changed.
    ws.write("data/assignments.csv", "user_id,group\nU1,treatment\nU2,holdout\n")


@pytest.mark.parametrize(
    ("change", "args"),
    [
        (_data_byte, BUILD),
        (_config_byte, BUILD),
        (_template_byte, BUILD),
        (_study_table, BUILD),
        (lambda ws: None, ("build", "--as-of", "2025-07-08")),
    ],
    ids=["data-byte", "config-byte", "template-override", "study-table", "as-of"],
)
def test_any_change_rebuilds(
    ws: Workspace, change: Callable[[Workspace], None], args: tuple[str, ...]
) -> None:
    folder = ws.output / "weekly" / args[-1]
    before = stamps(folder) if folder.exists() else {}
    change(ws)
    r = run(ws, *args)
    assert r.returncode == 0, r.stderr
    assert "reused" not in r.stderr and "rendered weekly" in r.stderr
    after = stamps(folder)
    assert not set(before.values()) & set(after.values())
    # The new build is reused in turn.
    again = run(ws, *args)
    assert "; reused" in again.stderr and stamps(folder) == after


@pytest.mark.parametrize("name", ["report.html", "daily.csv", "summary.json"])
def test_a_deleted_report_file_is_built_again(ws: Workspace, name: str) -> None:
    (ws.output / "weekly" / "2025-07-07" / name).unlink()
    r = run(ws, *BUILD)
    assert r.returncode == 0 and "reused" not in r.stderr
    assert (ws.output / "weekly" / "2025-07-07" / name).exists()


def test_latest_link_and_index_entry_come_back_on_reuse(ws: Workspace) -> None:
    (ws.output / "weekly" / "latest").unlink()
    (ws.output / "index.html").unlink()
    r = run(ws, *BUILD)
    assert r.returncode == 0 and "; reused" in r.stderr
    assert (ws.output / "weekly" / "latest").readlink() == Path("2025-07-07")
    assert "weekly/2025-07-07/report.html" in (ws.output / "index.html").read_text()


def test_data_change_shows_in_the_rebuilt_numbers(ws: Workspace) -> None:
    revenue = ws.summary()["kpis"]["revenue"]
    _data_byte(ws)
    assert run(ws, *BUILD).returncode == 0
    assert ws.summary()["kpis"]["revenue"] == pytest.approx(revenue + 1)


# -- in process: what the key is made of ----------------------------------------------------------

AS_OF = date(2025, 7, 7)


@pytest.fixture
def project(tmp_path: Path) -> config_mod.Config:
    """Return the config of a project with the tiny data and one build of 2025-07-07."""
    shutil.copytree(TINY, tmp_path / "data")
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    cfg = config_mod.load(tmp_path / "config.yaml")
    build(cfg, as_of=AS_OF)
    return cfg


def _built(cfg: config_mod.Config, **kwargs: object) -> tuple[bool, Timings]:
    """Build 2025-07-07; return whether it was computed (not reused) and its stage timings."""
    timings = kwargs.pop("timings", None) or Timings()
    (out,) = build(cfg, as_of=AS_OF, timings=timings, **kwargs)
    return out.report is not None, timings


def _revenue(cfg: config_mod.Config) -> float:
    summary = cfg.output_dir / "weekly" / "2025-07-07" / "summary.json"
    return json.loads(summary.read_text())["kpis"]["revenue"]


def test_a_file_changed_after_the_reuse_check_is_keyed_by_the_bytes_loaded(project) -> None:
    cfg = project
    folder = cfg.output_dir / "weekly" / "2025-07-07"
    tracking = cfg.root / "data" / "tracking_data.csv"
    old = tracking.read_bytes()
    revenue = _revenue(cfg)
    (folder / "report.html").unlink()  # so that this build is not reused

    def change_before_the_load(stage: str) -> None:
        # After the reuse check, before the load: as an export landing mid-build would.
        if stage == "load":
            tracking.write_bytes(old.replace(b"11:00:00,1,2000", b"11:00:00,1,2001"))

    built, _ = _built(cfg, timings=Timings(listener=change_before_the_load))
    assert built and _revenue(cfg) == revenue + 1  # built from the new bytes ...
    assert not _built(cfg)[0]  # ... and keyed by them: the same bytes again reuse it
    # The old bytes back: the build of the new ones must not pass for theirs.
    tracking.write_bytes(old)
    built, _ = _built(cfg)
    assert built and _revenue(cfg) == revenue


def test_unchanged_files_are_reused_on_stat_alone_touched_ones_after_a_load(
    project, monkeypatch
) -> None:
    cfg = project
    monkeypatch.setattr(reuse, "RACY_SECONDS", 0.0)  # the copies were made just now
    build(cfg, as_of=AS_OF, force=True)  # keyed with the stat of files the test wrote
    key = (cfg.output_dir / "weekly" / "2025-07-07" / reuse.KEY_FILE).read_bytes()
    assert key.split(b"\n")[1].startswith(b"stat:") and len(key.split(b"\n")[1]) == 5 + 64
    built, timings = _built(cfg)
    assert not built and "load" not in timings.stages  # nothing read but stat
    os.utime(cfg.root / "data" / "posts.csv")  # same bytes, new time
    built, timings = _built(cfg)
    assert not built and "load" in timings.stages and "compute" not in timings.stages
    assert (cfg.output_dir / "weekly" / "2025-07-07" / reuse.KEY_FILE).read_bytes() == key


def test_a_file_written_just_now_is_not_trusted_on_stat(tmp_path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("a\n")
    assert reuse.fingerprint(path) is None  # could change again within the same clock tick
    os.utime(path, (1e9, 1e9))
    assert reuse.fingerprint(path) is None  # utime itself just changed ctime
