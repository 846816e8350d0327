"""Shared fixtures and helpers: the hand-computed tiny dataset, configs, loading, the CLI."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from reportgen import config as config_mod
from reportgen.sources import Dataset, open_dataset

ROOT = Path(__file__).resolve().parent.parent
TINY = Path(__file__).parent / "data" / "tiny"
PEER = ROOT.parent / "shared" / "peer-data"

#: A project whose data/ is the tiny dataset: one weekly preset over its week, HTML and CSV.
TINY_CONFIG = """\
source:
  kind: files
  path: data
output:
  dir: output
schedule:
  state_dir: state
presets:
  weekly:
    title: Tiny weekly
    window: {start: 2025-07-01, end: 2025-07-07}
    formats: [html, csv]
"""
#: One preset over the tiny dataset's week, for loading tests.
TINY_WEEK = "presets:\n  all: {window: {start: 2025-07-01, end: 2025-07-07}}\n"


def make_config(tmp_path: Path, body: str, data: Path | None = None) -> config_mod.Config:
    """Write a config (sourcing ``data`` when given) into tmp_path and load it."""
    text = textwrap.dedent(body)
    if data is not None:
        text = f"source:\n  kind: files\n  path: {data}\n" + text
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return config_mod.load(path)


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    """Return a writable copy of the tiny dataset."""
    dest = tmp_path / "tiny"
    shutil.copytree(TINY, dest)
    return dest


@pytest.fixture(scope="module")
def figures(report: Any) -> dict[str, Any]:
    """Return the charts of the module's ``report`` fixture."""
    from reportgen.report import charts  # imported here: plotly is slow to import for every test

    return charts.build_figures(report)


@pytest.fixture(scope="module")
def env() -> Any:
    """Return the report's Jinja environment with the built-in templates."""
    from reportgen.report import render

    return render.make_environment(None)


def load(tmp_path: Path, data: Path, extra: str = "") -> Dataset:
    """Load ``data`` through a config of ``extra`` plus the tiny week's preset."""
    return open_dataset(make_config(tmp_path, extra + TINY_WEEK, data=data))


def issues(ds: Dataset) -> dict[str, Any]:
    """Return the load's findings by code."""
    return {i.code: i for i in ds.issues}


#: Python's own import trace (``-X importtime``), on stderr, of every import the process made.
IMPORTTIME = {"PYTHONPROFILEIMPORTTIME": "1"}


def imported(stderr: str) -> set[str]:
    """Return the modules a process imported, read from its ``-X importtime`` lines."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("import time:") and "|" in ln]
    return {ln.rsplit("|", 1)[1].strip() for ln in lines} - {"imported package"}


def run_cli(
    *args: str, cwd: Path, timeout: int = 300, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run ``python -m reportgen`` in ``cwd`` as a user would (``env`` adds variables)."""
    # A bare environment: no developer settings leak in, and HOME is the test's own folder.
    return subprocess.run(
        [sys.executable, "-m", "reportgen", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd), **(env or {})},
    )
