"""Build reuse: skip a report whose data, config and as-of date are unchanged since it was built.

Each published build carries a hidden ``.build-key`` file. Its first line is the build's key:
a SHA-256 over everything its bytes depend on (the sha256 of every input file as the load
hashed the bytes it read, the config file's bytes, the template overrides, the preset as
resolved, the as-of date, the reportgen version, and the engine when it is not DuckDB, since
``--engine`` changes the provenance without changing the config file). Its second line is the same key over
what ``stat`` said of each input file just before the load read it (size, times, inode).

A rebuild first compares that stat key, which costs no read of the data: when it matches and
every file of the previous build is still there, the build is reused as it is (nothing is
loaded, rendered or written). Otherwise the data is loaded (and hashed, once, as it is read),
and a build whose key matches the loaded bytes is reused without computing or rendering.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen import __version__
from reportgen.config import TABLES, Config, Preset
from reportgen.errors import ReportgenError
from reportgen.sources.layout import fingerprint

if TYPE_CHECKING:
    from reportgen.sources import Dataset

logger = logging.getLogger(__name__)

#: Hidden file in a build folder holding its key (hidden names are not listed as builds).
KEY_FILE = ".build-key"
_STAT = "stat:"


def data_fingerprints(config: Config, data_dir: Path | str | None) -> dict[str, str | None] | None:
    """Return each input file's fingerprint now, or None when the files cannot be found here."""
    from reportgen.sources import layout, simulated

    if isinstance(data_dir, str) or (data_dir is None and config.source.kind == "sql"):
        return _database_fingerprints(config, data_dir or config.source.url or "")
    try:
        if data_dir is not None:
            folder = Path(data_dir)
        elif config.source.kind == "simulate":
            folder = simulated.ensure(config)
        else:
            folder = config.source.path
        paths = {t: layout.find_file(folder, t, config) for t in TABLES}
        paths.update(layout.study_files(folder, config))  # optional study tables count too
        return {t: fingerprint(path) for t, path in paths.items()}
    except (ReportgenError, OSError):
        return None  # the load will report the problem with its usual error


def _database_fingerprints(config: Config, url: str) -> dict[str, str | None] | None:
    """Return a DuckDB file's fingerprints; None for a server, whose data cannot be stat'ed."""
    from reportgen.sources.layout import database_fingerprints
    from reportgen.sources.url import UrlError, parse_url

    try:
        parsed = parse_url(url, config.root)
        if parsed.backend != "duckdb" or parsed.path is None:
            return None  # PostgreSQL: every build reads it again
        return database_fingerprints(parsed.path, config.source.schema)
    except (UrlError, OSError):
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
    config: Config, preset: Preset, as_of: date, data: Mapping[str, Any], templates: str
) -> str:
    """Return the key of one report: equal keys give byte-identical builds."""
    config_bytes = config.path.read_bytes() if config.path and config.path.exists() else b""
    parts = {
        "version": __version__,
        "as_of": as_of.isoformat(),
        "preset": repr(preset),  # covers ad hoc presets, which no config file holds
        "config": hashlib.sha256(config_bytes).hexdigest(),
        "templates": templates,
        "data": data,
    }
    if config.engine.kind != "duckdb":  # its provenance differs; DuckDB keys stay as they were
        parts["engine"] = f"{config.engine.kind} {config.engine.master}"
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _keys(
    config: Config, jobs: list[tuple[Preset, date]], data: Mapping[str, Any] | None
) -> list[str | None]:
    if data is None:
        return [None] * len(jobs)
    templates = _templates_digest(config.templates_dir)
    return [build_key(config, p, day, data, templates) for p, day in jobs]


def stat_keys(
    config: Config, jobs: list[tuple[Preset, date]], data_dir: Path | str | None
) -> list[str | None]:
    """Return each job's stat key from the input files as they are now (None: no fast reuse)."""
    stats = data_fingerprints(config, data_dir)
    whole = stats is not None and None not in stats.values()
    return _keys(config, jobs, {"stat": stats} if whole else None)


def loaded_keys(
    config: Config, jobs: list[tuple[Preset, date]], ds: Dataset
) -> list[tuple[str, str | None] | None]:
    """Return each job's (key, stat key) from what the load of ``ds`` read and hashed.

    A DuckDB database file is known by what stat said of it (and of its log) before the load:
    it is not hashed, since the load reads a fraction of it. None for each job when the load
    read neither files nor a database file (PostgreSQL): such builds are not reused.
    """
    if "files" not in ds.provenance:
        stats = ds.fingerprints
        if not stats or None in stats.values():
            return [None] * len(jobs)
        return [(str(k), k) for k in _keys(config, jobs, {"stat": stats})]
    digests = {t: f["sha256"] for t, f in ds.provenance["files"].items()}
    stats = ds.fingerprints
    whole = set(stats) == set(digests) and None not in stats.values()
    keys = _keys(config, jobs, digests)
    fast = _keys(config, jobs, {"stat": stats} if whole else None)
    return [(str(k), f) for k, f in zip(keys, fast, strict=True)]


def previous(
    directory: Path, *, key: str | None = None, stat_key: str | None = None
) -> dict[str, Any] | None:
    """Return the previous build in ``directory`` when its key or stat key matches, else None."""
    try:
        stored = (directory / KEY_FILE).read_text(encoding="ascii").split()
        names, fast = stored[1:], ""
        if names and names[0].startswith(_STAT):  # older key files have no stat line
            fast, names = names[0].removeprefix(_STAT), names[1:]
        if not ((key and stored[:1] == [key]) or (stat_key and fast == stat_key)):
            return None
        # The key file lists what the build wrote: a file deleted since means build again.
        if not names or not all((directory / name).is_file() for name in names):
            return None
        summary_path = directory / "summary.json"
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
        built = datetime.fromtimestamp(summary_path.stat().st_mtime, UTC)
    except (OSError, ValueError):
        return None
    files = sorted(p for p in directory.iterdir() if not p.name.startswith("."))
    return {"summary": summary, "files": files, "built": built}


def key_file(key: str, stat_key: str | None, names: list[str]) -> bytes:
    """Return the key file's bytes: the key, the stat key, then every file the build wrote."""
    return "\n".join([key, _STAT + (stat_key or ""), *sorted(names)]).encode("ascii") + b"\n"


def say_reused(name: str, as_of: date, built: datetime) -> None:
    """Log that a report was reused, and since when it is unchanged."""
    since = built.strftime("%Y-%m-%d %H:%M:%S UTC")
    logger.info("%s %s: unchanged since %s; reused", name, as_of.isoformat(), since)
