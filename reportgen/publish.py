"""Publish: write finished builds into output/ atomically, then refresh latest links and the index.

Every file is first written into a staging folder beside its destination, flushed to disk,
and then renamed into place; an interrupted build leaves whole files only, and a failed build
never touches the previous good one because nothing is written until everything is rendered.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

logger = logging.getLogger(__name__)

#: Leading characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Return ``value`` safe for spreadsheets: text cells that could be formulas get a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def to_csv(frame: pd.DataFrame) -> bytes:
    """Return the frame as UTF-8 CSV with text cells neutralised and numbers untouched."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    buf = io.StringIO()
    out.to_csv(
        buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n", float_format="%.6g"
    )
    return buf.getvalue().encode("utf-8")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_build(directory: Path, files: Mapping[str, bytes]) -> dict[str, Path]:
    """Write a build's files into ``directory`` (stage all, then rename each into place)."""
    directory.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=".stage-", dir=directory.parent))
    try:
        staged = {}
        for name, data in files.items():
            p = stage / name
            with p.open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            staged[name] = p
        out = {}
        # summary.json goes last: its presence marks a complete build for the index.
        for name in sorted(staged, key=lambda n: n == "summary.json"):
            os.replace(staged[name], directory / name)
            out[name] = directory / name
        return out
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def point_latest(preset_dir: Path, target: str) -> None:
    """Point ``<preset_dir>/latest`` at the build folder ``target`` with an atomic swap."""
    link = preset_dir / "latest"
    tmp = preset_dir / f".latest.{os.getpid()}"
    tmp.unlink(missing_ok=True)
    os.symlink(target, tmp)
    os.replace(tmp, link)


def collect_builds(output_dir: Path) -> list[dict[str, Any]]:
    """Return every complete build under ``output_dir``, newest first per preset."""
    builds = []
    for summary in sorted(output_dir.glob("*/*/summary.json")):
        if summary.parent.name == "latest":
            continue
        try:
            data = json.loads(summary.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            logger.warning("skipping unreadable %s", summary)
            continue
        rel = summary.parent.relative_to(output_dir).as_posix()
        builds.append(
            {
                "preset": data.get("preset", summary.parent.parent.name),
                "title": data.get("title", ""),
                "as_of": data.get("as_of", summary.parent.name),
                "window_start": data.get("window", {}).get("start", ""),
                "window_end": data.get("window", {}).get("end", ""),
                "revenue": data.get("kpis", {}).get("revenue"),
                "roas": data.get("kpis", {}).get("roas"),
                "href_html": f"{rel}/report.html"
                if (summary.parent / "report.html").exists()
                else None,
                "href_pdf": f"{rel}/report.pdf"
                if (summary.parent / "report.pdf").exists()
                else None,
                "href_summary": f"{rel}/summary.json",
                "files": sorted(
                    p.name for p in summary.parent.iterdir() if not p.name.startswith(".")
                ),
            }
        )
    builds.sort(key=lambda b: (b["preset"], b["as_of"]), reverse=False)
    builds.sort(key=lambda b: b["as_of"], reverse=True)
    return builds


def write_manifest(output_dir: Path, builds: list[dict[str, Any]]) -> None:
    """Write ``output/manifest.json``: every build and its files, for tools and caches."""
    data = json.dumps({"builds": builds}, indent=2, sort_keys=True, ensure_ascii=False)
    write_atomic(output_dir / "manifest.json", (data + "\n").encode("utf-8"))
