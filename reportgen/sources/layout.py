"""Where each table's file is in a seed-layout folder, what stat says of it, and its hash.

Kept apart from ``files`` (which imports the engine) so that the reuse check can find and
hash the input files without importing DuckDB.
"""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path

from reportgen.config import STUDY_TABLES, Config
from reportgen.errors import DataError

logger = logging.getLogger(__name__)

#: A file written this recently may be written again within one tick of the file system's
#: clock, unseen by stat: its stat does not vouch for its bytes (git's "racily clean").
RACY_SECONDS = 2.0


def study_files(folder: Path, config: Config) -> dict[str, Path]:
    """Return the optional study tables present in ``folder`` (a named one must be there)."""
    found = {}
    for table in STUDY_TABLES:
        stem = config.source.files.get(table, table)
        exts = (".csv", ".parquet")
        named = table in config.source.files  # the config promises it: absence is an error
        if named or any((folder / f"{stem}{e}").is_file() for e in exts):
            found[table] = find_file(folder, table, config)
    return found


def find_file(folder: Path, table: str, config: Config) -> Path:
    """Return the file holding ``table``; refuse a folder offering it as both CSV and Parquet."""
    stem = config.source.files.get(table, table)
    if Path(stem).suffix in (".csv", ".parquet"):  # named with its extension: exactly that file
        if (folder / stem).is_file():
            return folder / stem
        raise DataError(f"{folder}: no {stem} for table '{table}' (source.files.{table})")
    fmt = config.source.format
    exts = ["parquet", "csv"] if fmt == "auto" else [fmt]
    found = [folder / f"{stem}.{ext}" for ext in exts if (folder / f"{stem}.{ext}").is_file()]
    if len(found) > 1:
        raise DataError(
            f"{folder}: both {found[0].name} and {found[1].name} hold table '{table}'; remove "
            f"one, or choose with source.format (csv or parquet) or source.files.{table}: "
            f"{found[1].name}"
        )
    if found:
        return found[0]
    wanted = " or ".join(f"{stem}.{e}" for e in exts)
    raise DataError(
        f"{folder}: no {wanted} for table '{table}'; name the file with source.files.{table}"
    )


def digest(path: Path) -> str:
    """Return the sha256 of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(path: Path) -> str | None:
    """Return what stat says of ``path`` (size, times, inode); None when too recent to trust."""
    st = path.stat()
    if time.time() - max(st.st_mtime, st.st_ctime) < RACY_SECONDS:
        return None
    return f"{st.st_size}-{st.st_mtime_ns}-{st.st_ctime_ns}-{st.st_ino}"


def database_fingerprints(path: Path, schema: str | None) -> dict[str, str | None]:
    """Return the stat fingerprints of a DuckDB database file and of its write-ahead log.

    Committed changes not yet checkpointed live in ``<file>.wal``: an unchanged main file
    with a changed (or new, or gone) log is changed data. The file's path and the schema
    read (``--schema`` may change it without changing the config file) are part of it: one
    file holds several schemas' tables.
    """
    wal = path.with_name(path.name + ".wal")
    # The log first: a checkpoint rewrites the main file, then deletes the log, so a
    # checkpoint between the two stats leaves the main file too recent to trust.
    log = fingerprint(wal) if wal.exists() else "-"
    return {
        "duckdb": fingerprint(path),
        "duckdb.wal": log,
        "duckdb.where": f"{path.resolve()} {schema or ''}",
    }
