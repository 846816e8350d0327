"""Publish: write finished builds into output/ atomically, then refresh latest links and the index.

A build's files are first written into a staging folder beside its destination, flushed to
disk, and the folder is then swapped in whole; an interrupted build leaves the previous one as
it was, and a failed build never touches it because nothing is written until everything is
rendered.
"""

from __future__ import annotations

import csv
import ctypes
import errno
import fcntl
import functools
import io
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.errors import OutputError

if TYPE_CHECKING:  # pandas and numpy are imported by the CSV writer, not by a reused build
    import pandas as pd

logger = logging.getLogger(__name__)

#: Leading characters that make a spreadsheet read a cell as a formula.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """Return ``value`` safe for spreadsheets: text cells that could be formulas get a quote."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


#: Float columns holding money: written to the paisa, as summary.json and the report show them.
MONEY_COLUMNS = frozenset({"revenue", "payout", "aov"})


def to_csv(frame: pd.DataFrame) -> bytes:
    """Return the frame as UTF-8 CSV with text cells neutralised and numbers untouched.

    Numbers keep their full value in plain notation: money rounded to 2 decimals (the float
    noise of sums beyond that is not information), other numbers exact; never an exponent.
    """
    import pandas as pd

    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
        elif pd.api.types.is_float_dtype(out[col]):
            values = out[col].round(2) if col in MONEY_COLUMNS else out[col]
            out[col] = values.map(_plain)
    buf = io.StringIO()
    out.to_csv(buf, index=False, quoting=csv.QUOTE_MINIMAL, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def _plain(value: float) -> str:
    """Return a float's shortest exact form in positional notation ("" for NaN).

    25085505.55, not 2.50855e+07; 0.0000004, not 4e-07; the digits that identify the double,
    so no binary noise (123456789012.34, not 123456789012.339996).
    """
    import numpy as np
    import pandas as pd

    if pd.isna(value):
        return ""
    text = np.format_float_positional(float(value), trim="-")
    return "0" if text == "-0" else text


def check_writable(folder: Path) -> None:
    """Raise OutputError unless ``folder`` is, or can become, a writable folder."""
    probe = folder
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent  # the nearest existing ancestor must take the new folders
    if not probe.is_dir():
        raise OutputError(f"{probe}: not a folder; choose another output folder (--out DIR)")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputError(f"{probe}: not writable; choose another output folder (--out DIR)")


@contextmanager
def writing(folder: Path) -> Iterator[None]:
    """Turn a failed write (disk full, permissions) into one line; earlier builds stay whole."""
    try:
        yield
    except OSError as exc:
        where = exc.filename or folder
        raise OutputError(
            f"{where}: cannot write: {exc.strerror or exc}; no folder was left half written "
            "(each holds its previous files or all the new ones)"
        ) from None


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, _FILE_MODE)  # mkstemp makes 0600; the index is for every reader
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def publish_build(directory: Path, files: Mapping[str, bytes]) -> dict[str, Path]:
    """Write a build's files as the folder ``directory``, replacing an older one whole.

    The files are written into a hidden staging folder beside it, flushed, and the folder is
    then swapped in with one atomic exchange (Linux ``renameat2``), so a reader or a crash sees
    the old build or the new one, never a mix. Where the exchange is not supported, the old
    folder is renamed aside first; a crash between the two renames leaves it as
    ``.old-<name>-*`` beside the new one's place.
    """
    parent = directory.parent
    parent.mkdir(parents=True, exist_ok=True)
    _remove_leftovers(parent, directory.name)
    stage = Path(tempfile.mkdtemp(prefix=f".stage-{directory.name}-", dir=parent))
    try:
        os.chmod(stage, _DIR_MODE)  # mkdtemp makes 0700
        for name, data in files.items():
            with (stage / name).open("wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(stage / name, _FILE_MODE)
        if not directory.exists():
            os.replace(stage, directory)
        elif not _exchange(stage, directory):
            old = Path(tempfile.mkdtemp(prefix=f".old-{directory.name}-", dir=parent))
            os.replace(directory, old)
            os.replace(stage, directory)
            shutil.rmtree(old, ignore_errors=True)
        _fsync_dir(parent)
        return {name: directory / name for name in files}
    finally:
        shutil.rmtree(stage, ignore_errors=True)  # after an exchange: the old build


#: A staging or set-aside folder older than this is a crashed build's leftover.
LEFTOVER_AGE_S = 3600


def _remove_leftovers(parent: Path, name: str) -> None:
    """Delete hidden folders that an interrupted publish of ``name`` left behind."""
    now = time.time()
    for prefix in (".stage-", ".old-"):
        for p in parent.glob(f"{prefix}{name}-*"):
            try:
                if now - p.stat().st_mtime > LEFTOVER_AGE_S:
                    shutil.rmtree(p, ignore_errors=True)
            except FileNotFoundError:
                continue  # another process removed it


_FILE_MODE = 0o644
_DIR_MODE = 0o755
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


@functools.cache
def _renameat2() -> Any:
    """Return libc's renameat2, or None where the C library has none (not Linux glibc)."""
    try:
        return ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically; return False where the system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # a file system or kernel without RENAME_EXCHANGE
    raise OSError(err, os.strerror(err), str(b))


def _fsync_dir(path: Path) -> None:
    """Flush a directory's entries (the renames) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def point_latest(preset_dir: Path, target: str) -> None:
    """Point ``<preset_dir>/latest`` at build ``target`` unless a newer as-of date has one.

    Build folders are named by ISO as-of date, so a backfill of an older date leaves
    ``latest`` on the newest build.
    """
    link = preset_dir / "latest"
    # Two builds of one preset for different dates may run at once: compare and swap under
    # a lock, so that the older one cannot move the link back after the newer one set it.
    with (preset_dir / ".latest.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if link.is_symlink():
            current = os.readlink(link)
            if current == target:
                return  # already right (a reused build): nothing to write
            if current > target and (preset_dir / current / "summary.json").exists():
                return
        tmp = preset_dir / f".latest.{os.getpid()}"
        tmp.unlink(missing_ok=True)
        try:
            os.symlink(target, tmp)
            os.replace(tmp, link)
        finally:
            tmp.unlink(missing_ok=True)  # gone after the rename; left only by a failure


def check_latest(preset_dir: Path) -> None:
    """Raise OutputError when ``<preset_dir>/latest`` exists and is not the link reportgen keeps."""
    link = preset_dir / "latest"
    if link.exists() and not link.is_symlink():
        kind = "folder" if link.is_dir() else "file"
        raise OutputError(
            f"{link}: a real {kind} where reportgen keeps the link to the newest build; move it "
            "elsewhere (or rename it) and run again; nothing was built"
        )


def collect_builds(output_dir: Path) -> list[dict[str, Any]]:
    """Return every complete build under ``output_dir``, newest first per preset."""
    builds = []
    for summary in sorted(output_dir.glob("*/*/summary.json")):
        rel_parts = summary.relative_to(output_dir).parts
        if summary.parent.name == "latest" or any(p.startswith(".") for p in rel_parts):
            continue  # the link, and staging or set-aside folders of an interrupted build
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


def manifest_bytes(builds: list[dict[str, Any]]) -> bytes:
    """Return the bytes of ``output/manifest.json`` listing ``builds``."""
    data = json.dumps({"builds": builds}, indent=2, sort_keys=True, ensure_ascii=False)
    return (data + "\n").encode("utf-8")


def write_manifest(output_dir: Path, builds: list[dict[str, Any]]) -> None:
    """Write ``output/manifest.json``: every build and its files, for tools and caches."""
    write_atomic(output_dir / "manifest.json", manifest_bytes(builds))


#: Hidden file beside the index: the key of what index.html and manifest.json were made from.
INDEX_KEY = ".index-key"


def index_current(output_dir: Path, manifest: bytes, key: str) -> bool:
    """Return True when index.html, manifest.json and the index key are what ``key`` makes."""
    try:
        return (
            (output_dir / "index.html").is_file()
            and (output_dir / INDEX_KEY).read_text(encoding="ascii").strip() == key
            and (output_dir / "manifest.json").read_bytes() == manifest
        )
    except (OSError, UnicodeDecodeError):
        return False
