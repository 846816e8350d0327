"""The progress display: a status line on a terminal only; -v without Chromium's own noise."""

from __future__ import annotations

import os
import pty
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from reportgen.cli.progress import CLEAR, STAGES
from tests.conftest import ROOT, TINY, TINY_CONFIG

ENV = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TERM": "xterm"}


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    shutil.copytree(TINY, tmp_path / "data")
    (tmp_path / "config.yaml").write_text(TINY_CONFIG)
    return tmp_path


def build_on_pty(cwd: Path, *args: str) -> tuple[int, str, str]:
    """Run `reportgen build` with stderr on a terminal; return code, terminal text, stdout."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "reportgen", "build", "--as-of", "2025-07-07", *args],
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
        env={**ENV, "HOME": str(cwd)},
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    return proc.wait(), b"".join(chunks).decode(), out


def test_piped_stderr_gets_the_plain_lines_only(workspace):
    r = subprocess.run(
        [sys.executable, "-m", "reportgen", "build", "--as-of", "2025-07-07"],
        cwd=workspace,
        capture_output=True,
        text=True,
        env={**ENV, "HOME": str(workspace)},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    lines = r.stderr.splitlines()
    assert lines[:3] == [
        "computed weekly (2025-07-01 – 2025-07-07)",
        "rendered weekly",
        f"wrote {workspace}/output/weekly/2025-07-07",
    ]
    assert len(lines) == 4 and re.fullmatch(r"built 1 report\(s\) in [0-9.]+ s \(.*\)", lines[3])
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    assert r.stdout == f"{workspace}/output/weekly/2025-07-07\n"


def test_a_terminal_gets_a_status_line_with_stages_and_the_same_log_lines(workspace):
    code, tty, out = build_on_pty(workspace)
    assert code == 0, tty
    frames = re.findall(r"\r\x1b\[K[|/\\-] \[([#-]{10})\] ([a-zA-Z ]+) \d+s", tty)
    labels = [label for _, label in frames]
    for stage in ("load", "compute", "charts", "html", "publish"):
        assert STAGES[stage] in labels, labels
    bars = [bar.count("#") for bar, _ in frames]
    assert bars == sorted(bars) and bars[-1] == 10, "the bar only moves forward, to full"
    # Each log line is written on a cleared line of its own, and the status line is gone at
    # the end: the terminal shows the same lines as a pipe would.
    for line in ("rendered weekly", f"wrote {workspace}/output/weekly/2025-07-07"):
        assert f"{CLEAR}{line}\r\n" in tty
    assert tty.endswith(CLEAR)
    assert out == f"{workspace}/output/weekly/2025-07-07\n", "stdout is not the terminal's"


def test_quiet_shows_no_status_line_on_a_terminal(workspace):
    code, tty, _ = build_on_pty(workspace, "-q")
    assert code == 0, tty
    assert tty == ""


@pytest.mark.browser
@pytest.mark.slow
def test_verbose_leaves_out_chromiums_own_log(workspace):
    config = workspace / "config.yaml"
    config.write_text(config.read_text().replace("[html, csv]", "[html, pdf]"))
    r = subprocess.run(
        [sys.executable, "-m", "reportgen", "-v", "build", "--as-of", "2025-07-07"],
        cwd=workspace,
        capture_output=True,
        text=True,
        env={**ENV, "HOME": str(workspace)},
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    assert "exported" in r.stderr and "charts in" in r.stderr  # our own debug detail stays
    for noise in ("[ERROR:", "[WARNING:", "wrapper CLI", "dbus", "Traceback", "BrokenPipeError"):
        assert noise not in r.stderr, noise
