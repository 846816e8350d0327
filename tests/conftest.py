"""Shared fixtures: the hand-computed tiny dataset and config helpers."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from reportgen import config as config_mod

ROOT = Path(__file__).resolve().parent.parent
TINY = Path(__file__).parent / "data" / "tiny"
PEER = ROOT.parent / "shared" / "peer-data"


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
