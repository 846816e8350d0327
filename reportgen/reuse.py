"""Build reuse: skip a report whose data, config and as-of date are unchanged since it was built.

Each published build carries a hidden ``.build-key`` file: a SHA-256 over everything its bytes
depend on (the sha256 of every input file, the config file's bytes, the template overrides,
the preset as resolved, the as-of date and the reportgen version). A rebuild computes the same
key before loading anything; when it matches and every file of the previous build is still
there, the previous build is reused as it is (nothing is loaded, rendered or written).
"""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from reportgen import __version__
from reportgen.config import TABLES, Config, Preset
from reportgen.errors import ReportgenError

logger = logging.getLogger(__name__)

#: Hidden file in a build folder holding its key (hidden names are not listed as builds).
KEY_FILE = ".build-key"


def data_digests(config: Config, data_dir: Path | str | None) -> dict[str, str] | None:
    """Return the sha256 of each input file, or None when the source cannot be hashed here."""
    from reportgen.sources import layout, simulated

    if isinstance(data_dir, str) or (data_dir is None and config.source.kind == "sql"):
        return None  # a database has no files to hash: every build reads it again
    try:
        if data_dir is not None:
            folder = Path(data_dir)
        elif config.source.kind == "simulate":
            folder = simulated.ensure(config)
        else:
            folder = config.source.path
        # Hashes are what provenance records, so "unchanged" means the same bytes.
        paths = {t: layout.find_file(folder, t, config) for t in TABLES}
        paths.update(layout.study_files(folder, config))  # optional study tables count too
        return {t: layout.digest(path) for t, path in paths.items()}
    except (ReportgenError, OSError):
        return None  # the load will report the problem with its usual error


def _templates_digest(folder: Path) -> str:
    """Return a digest of the template override files (their names and bytes)."""
    h = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            h.update(path.relative_to(folder).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    return h.hexdigest()


def index_key(templates_dir: Path, manifest: bytes) -> str:
    """Return the key of the output index: the manifest's bytes, the templates, the version."""
    h = hashlib.sha256(f"{__version__}\0{_templates_digest(templates_dir)}\0".encode())
    h.update(manifest)
    return h.hexdigest()


def build_key(
    config: Config, preset: Preset, as_of: date, digests: dict[str, str], templates: str
) -> str:
    """Return the key of one report: equal keys give byte-identical builds."""
    config_bytes = config.path.read_bytes() if config.path and config.path.exists() else b""
    parts = {
        "version": __version__,
        "as_of": as_of.isoformat(),
        "preset": repr(preset),  # covers ad hoc presets, which no config file holds
        "config": hashlib.sha256(config_bytes).hexdigest(),
        "templates": templates,
        "data": digests,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def keys_for(
    config: Config, jobs: list[tuple[Preset, date]], data_dir: Path | str | None
) -> list[str] | None:
    """Return the key of each (preset, as-of) job, or None when the data cannot be hashed."""
    digests = data_digests(config, data_dir)
    if digests is None:
        return None
    templates = _templates_digest(config.templates_dir)
    return [build_key(config, p, day, digests, templates) for p, day in jobs]


def previous(directory: Path, key: str) -> dict[str, Any] | None:
    """Return the previous build in ``directory`` when its key matches, else None."""
    try:
        stored = (directory / KEY_FILE).read_text(encoding="ascii").split()
        if stored[:1] != [key]:
            return None
        # The key file lists what the build wrote: a file deleted since means build again.
        if not stored[1:] or not all((directory / name).is_file() for name in stored[1:]):
            return None
        summary_path = directory / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        built = datetime.fromtimestamp(summary_path.stat().st_mtime, UTC)
    except (OSError, ValueError):
        return None
    files = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    return {"summary": summary, "files": files, "built": built}


def key_file(key: str, names: list[str]) -> bytes:
    """Return the key file's bytes: the key, then every file the build wrote, one a line."""
    return "\n".join([key, *sorted(names)]).encode("ascii") + b"\n"


def say_reused(name: str, as_of: date, built: datetime) -> None:
    """Log that a report was reused, and since when it is unchanged."""
    since = built.strftime("%Y-%m-%d %H:%M:%S UTC")
    logger.info("%s %s: unchanged since %s; reused", name, as_of.isoformat(), since)
