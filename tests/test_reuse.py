"""Build reuse: an unchanged rebuild reuses the previous build; any change or --force rebuilds."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from reportgen import config as config_mod
from reportgen import reuse
from reportgen.build import Timings, build
from reportgen.sources import layout
from tests.conftest import IMPORTTIME, ROOT, TINY, TINY_CONFIG, imported
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
    monkeypatch.setattr(layout, "RACY_SECONDS", 0.0)  # the copies were made just now
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
    assert layout.fingerprint(path) is None  # could change again within the same clock tick
    os.utime(path, (1e9, 1e9))
    assert layout.fingerprint(path) is None  # utime itself just changed ctime


# -- what an unchanged rebuild costs: no engine imported, nothing rewritten -----------------------

#: Packages a reuse must not import: each costs 0.1-2 s of start-up and none is needed to reuse.
HEAVY = ("pandas", "numpy", "pyarrow", "plotly", "kaleido", "duckdb", "ibis", "weasyprint", "faker")


def heavy(modules: set[str]) -> set[str]:
    """Return the heavy packages among ``modules``."""
    return {m.split(".")[0] for m in modules} & set(HEAVY)


def test_unchanged_rebuild_imports_no_engine_and_says_reused(ws: Workspace) -> None:
    # A schedule line: checking it must not pull in the scheduler's engine either.
    ws.config.write_text(ws.config.read_text() + '    schedule: "0 8 * * 1"\n')
    built = run(ws, *BUILD, env=IMPORTTIME)
    assert built.returncode == 0, built.stderr[-2000:]
    assert "reused" not in built.stderr
    # The trace is read right: the build that computed did import the engine.
    assert {"pandas", "duckdb", "plotly"} <= heavy(imported(built.stderr))
    again = run(ws, *BUILD, env=IMPORTTIME)
    assert again.returncode == 0, again.stderr[-2000:]
    assert REUSED in again.stderr and "; reused" in again.stderr
    modules = imported(again.stderr)
    assert {"reportgen.cli", "reportgen.reuse", "reportgen.delivery.manual"} <= modules
    assert heavy(modules) == set()


def test_reuse_rewrites_no_index_unless_the_builds_on_disk_changed(ws: Workspace) -> None:
    index = [ws.output / n for n in ("index.html", "manifest.json", ".index-key")]
    before = {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in index}
    link = (ws.output / "weekly" / "latest").lstat()
    assert "; reused" in run(ws, *BUILD).stderr
    assert {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in index} == before
    assert (ws.output / "weekly" / "latest").lstat().st_ino == link.st_ino  # not re-linked
    # A build of another day, then deleted by hand: a reuse lists what is on disk, as a
    # rebuild would, and moves `latest` back from the deleted folder.
    assert run(ws, "build", "--as-of", "2025-07-08").returncode == 0
    assert "weekly/2025-07-08/report.html" in (ws.output / "index.html").read_text()
    shutil.rmtree(ws.output / "weekly" / "2025-07-08")
    assert "; reused" in run(ws, *BUILD).stderr
    manifest = json.loads((ws.output / "manifest.json").read_text())
    assert [b["as_of"] for b in manifest["builds"]] == ["2025-07-07"]
    assert "2025-07-08" not in (ws.output / "index.html").read_text()
    assert (ws.output / "weekly" / "latest").readlink() == Path("2025-07-07")
    # A damaged key file makes the next reuse write the index again.
    (ws.output / ".index-key").write_text("x\n")
    page = (ws.output / "index.html").stat().st_ino
    assert "; reused" in run(ws, *BUILD).stderr
    assert (ws.output / "index.html").stat().st_ino != page
    assert (ws.output / ".index-key").read_text() != "x\n"


@pytest.fixture
def fresh(tmp_path: Path) -> Workspace:
    """Return a workspace with the config and the tiny data, nothing built."""
    shutil.copytree(TINY, tmp_path / "data")
    (tmp_path / "config.yaml").write_text(TINY_CONFIG + '    schedule: "0 8 * * 1"\n')
    return Workspace(tmp_path)


@pytest.mark.parametrize(
    ("args", "says"),
    [(("--help",), "build"), (("validate",), "OK, 1 preset"), (("runs",), "")],
    ids=["help", "validate", "runs"],
)
def test_light_commands_import_no_engine(
    fresh: Workspace, args: tuple[str, ...], says: str
) -> None:
    r = run(fresh, *args, env=IMPORTTIME)
    assert r.returncode == 0, r.stderr[-2000:]
    assert says in r.stdout
    assert "reportgen.cli" in imported(r.stderr) and heavy(imported(r.stderr)) == set()


def test_simulated_cache_is_found_without_importing_the_simulator(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "source: {kind: simulate, simulate: {seed: 7, influencers: 3, days: 5, "
        "end_date: 2025-07-07}}\npresets: {weekly: {window: previous_week}}\n"
    )
    folder = tmp_path / "data" / "simulated" / "seed7-i3-d5-2025-07-07"
    folder.mkdir(parents=True)
    (folder / ".complete").write_text("ok\n")  # a finished cache: nothing to generate
    code = (
        "import sys; from pathlib import Path; from reportgen import config; "
        "from reportgen.sources import simulated; "
        f"print(simulated.ensure(config.load(Path({str(config)!r})))); "
        "print(sorted(m for m in ('reportgen.sources.simulate', 'numpy', 'faker') if m in sys.modules))"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [str(folder), "[]"]
