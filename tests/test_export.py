"""Chart export through a real Chromium: the page-readiness check and recovery from a lost
page or browser (issue #7: "kaleido_scopes is not defined" in 2 builds of 16 under load)."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import pytest
from kaleido._kaleido_tab import _KaleidoTab
from pypdf import PdfReader

from reportgen import cli
from reportgen.errors import RenderError
from reportgen.report import browser, export

CHROMIUM = "/usr/bin/chromium"
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} missing"),
]


@pytest.fixture(scope="module")
def figures() -> dict[str, go.Figure]:
    return {
        f"bars-{i}": go.Figure(go.Bar(x=["a", "b", "c"], y=[i, 2, 3]), layout={"height": 200})
        for i in range(3)
    }


def _kill_browser(ex: export.ChartExporter) -> None:
    """SIGKILL the exporter's Chromium, as the OOM killer would, and wait until it is gone."""
    assert ex._session is not None
    process = ex._session.subprocess
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def _close_page(ex: export.ChartExporter) -> None:
    """Close the tab kaleido renders in, through the DevTools protocol."""
    session = ex._session
    assert session is not None

    async def close() -> None:
        tab = await session.tabs_ready.get()
        await session.close_tab(tab.tab.target_id)
        await session.tabs_ready.put(tab)

    ex._wait(close(), 30, "closing the page")


def _assert_svgs(svgs: dict[str, str], figures: dict[str, Any]) -> None:
    assert list(svgs) == list(figures)
    assert all(svg.startswith("<svg") and "viewBox" in svg[:400] for svg in svgs.values())


@pytest.mark.parametrize(
    "lose", [_kill_browser, _close_page], ids=["browser-killed", "page-closed"]
)
def test_a_lost_browser_or_page_is_restarted_once_and_the_batch_exported(figures, lose):
    with export.ChartExporter(browser=CHROMIUM, timeout=20) as ex:
        _assert_svgs(ex.to_svgs(figures), figures)
        first = ex._session
        lose(ex)
        _assert_svgs(ex.to_svgs(figures), figures)
        assert ex.restarts == 1
        assert ex._session is not first, "a fresh Chromium took over"
        _assert_svgs(ex.to_svgs(figures), figures)  # and keeps working
        assert ex.restarts == 1


def test_a_browser_that_never_answers_close_is_killed_with_its_profile(figures, monkeypatch):
    # choreographer can lose Chromium's reply to Browser.close (reply and goodbye in one
    # read): its close then waits forever. Builds took 30 s longer, and a daemon would keep
    # the browser.
    async def never(self):
        await asyncio.sleep(3600)

    monkeypatch.setattr(export, "CLOSE_TIMEOUT", 0.5)
    ex = export.ChartExporter().start()
    ex.wait_ready()
    _assert_svgs(ex.to_svgs(figures), figures)
    session = ex._session
    assert session is not None
    process, profile = session.subprocess, Path(session._browser_impl.tmp_dir.path)
    assert profile.is_dir()
    monkeypatch.setattr(browser.KaleidoSession, "close", never)
    open_fds = len(os.listdir("/proc/self/fd"))
    started = time.perf_counter()
    ex.close()
    assert time.perf_counter() - started < 5
    assert process.poll() is not None
    assert _live_in_group(process.pid) == []  # the whole group: the renderers too
    assert not profile.exists()
    # The pipes to it are closed too (a daemon would otherwise leak 6 per browser).
    assert len(os.listdir("/proc/self/fd")) < open_fds


def _live_in_group(group: int) -> list[int]:
    """Return the processes of ``group`` that still run (zombies wait for init, not us)."""
    deadline = time.monotonic() + 5
    while True:
        live = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                live.append(int(stat.parent.name))
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.05)


def test_a_second_failure_is_one_render_error(figures, tmp_path):
    dead = tmp_path / "chromium"
    dead.write_text("#!/bin/sh\nexit 1\n")
    dead.chmod(0o755)
    with export.ChartExporter(browser=CHROMIUM, timeout=20) as ex:
        ex._browser_path = str(dead)  # the restart gets a browser that dies at once
        _kill_browser(ex)
        with pytest.raises(RenderError) as info:
            ex.to_svgs(figures)
    assert ex.restarts == 1
    assert str(info.value).startswith("chart export failed restarting Chromium: ")
    assert "\n" not in str(info.value)
    assert info.value.exit_code == 5


def test_a_batch_that_fails_again_after_the_restart_is_one_render_error(figures, monkeypatch):
    original = export.ChartExporter._export

    def lose_the_page_every_time(self, figures, opts):
        _close_page(self)
        return original(self, figures, opts)

    monkeypatch.setattr(export.ChartExporter, "_export", lose_the_page_every_time)
    with export.ChartExporter(browser=CHROMIUM, timeout=20) as ex:
        with pytest.raises(RenderError) as info:
            ex.to_svgs(figures)
    assert ex.restarts == 1
    message = str(info.value)
    assert message.startswith("chart export failed exporting charts: ")
    assert message.endswith(" (also after restarting Chromium)")
    assert "\n" not in message


@pytest.fixture
def blank_first_load(monkeypatch):
    """Make kaleido's first page load land on a blank page, as the race under load did."""
    original = _KaleidoTab.navigate
    loads: list[str] = []

    async def navigate(self, url=""):
        loads.append(str(url))
        await original(self, "about:blank" if len(loads) == 1 else url)

    monkeypatch.setattr(_KaleidoTab, "navigate", navigate)
    return loads


def test_the_page_is_checked_and_loaded_again_before_the_first_figure(figures, blank_first_load):
    with export.ChartExporter(browser=CHROMIUM, timeout=20) as ex:
        _assert_svgs(ex.to_svgs(figures), figures)
        assert ex.restarts == 0, "the start fixed the page; no batch failed"
    assert len(blank_first_load) == 2
    assert blank_first_load[1].startswith("file://") and blank_first_load[1].endswith("index.html")


def test_without_the_readiness_check_the_blank_page_fails_as_in_the_issue(
    figures, blank_first_load, monkeypatch
):
    async def trusting(self, tab):
        return None

    monkeypatch.setattr(browser.KaleidoSession, "wait_page", trusting)
    with export.ChartExporter(browser=CHROMIUM, timeout=20) as ex:
        session = ex._session
        assert session is not None
        with pytest.raises(RenderError, match="kaleido_scopes is not defined"):
            ex._export(figures, {k: {"format": "svg"} for k in figures})


def test_a_build_survives_chromium_killed_before_its_charts(tmp_path, tiny, monkeypatch, capsys):
    original = export.ChartExporter._export
    seen: list[export.ChartExporter] = []

    def kill_first(self, figures, opts):
        if not seen:
            _kill_browser(self)
        seen.append(self)
        return original(self, figures, opts)

    monkeypatch.setattr(export.ChartExporter, "_export", kill_first)
    out = tmp_path / "out"
    argv = ["build", "--data", str(tiny), "--from", "2025-07-01", "--to", "2025-07-07"]
    monkeypatch.chdir(tmp_path)  # no config.yaml: an ad hoc build of every format
    code = cli.main([*argv, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert seen and seen[0].restarts == 1
    pdf = Path(out / "adhoc-2025-07-01-2025-07-07" / "2025-07-07" / "report.pdf")
    text = "".join(page.extract_text() for page in PdfReader(pdf).pages)
    assert "Chart not available" not in text
    assert "Asha Rao" in text
