"""The run ledger's file: created whole, checked on every open, set aside when damaged.

A lost history must never pass for a fresh one (that would mail every recipient again), so
an empty, unreadable or missing ledger in a folder that had one stops every command until a
good copy is restored or ``reportgen runs --new-ledger`` starts a new history knowingly.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from reportgen.errors import LedgerDamaged, LockHeld

logger = logging.getLogger(__name__)

LEDGER_FILE = "ledger.sqlite3"
#: Written beside the ledger once it exists, so that a ledger deleted later is noticed.
LEDGER_MARKER = "ledger.created"
#: How to start a new, empty history knowingly; named in every damaged-ledger error.
NEW_LEDGER = "reportgen runs --new-ledger"
#: Up to this size every open also checks every page (a few ms per MB); larger ledgers get
#: the header check only, and a damaged page then shows as one error when it is read.
FULL_CHECK_BYTES = 8 * 1024 * 1024
#: How long a connection waits for another process's lock before SQLite says it is busy.
BUSY_SECONDS = 30.0


def open_checked(path: Path, schema: str) -> None:
    """Create the ledger at ``path``, or check the one there; set a damaged one aside.

    Raises OSError when the folder cannot be written and LedgerDamaged for a damaged,
    emptied or missing ledger.
    """
    marker = path.with_name(LEDGER_MARKER)
    if not path.exists():
        if marker.exists():
            raise LedgerDamaged(_lost_message(path))
        _create(path, schema)
    elif path.stat().st_size == 0:
        # A real ledger is never empty (it is created whole, see _create): this one was
        # truncated, and taking it as fresh would mail every recipient again.
        _damaged(path, "it is empty (0 bytes)")
    cut = _header_problem(path)
    if cut:
        _damaged(path, cut)
    db = sqlite3.connect(path, timeout=BUSY_SECONDS, isolation_level=None)
    try:
        problems = ["ok"]
        if path.stat().st_size <= FULL_CHECK_BYTES:
            problems = [row[0] for row in db.execute("PRAGMA quick_check")]
        # WAL lets `reportgen runs` read while the scheduler writes.
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(schema)
    except sqlite3.OperationalError as exc:
        if is_busy(exc):
            raise LockHeld(busy_message(path)) from None
        raise OSError(str(exc)) from None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed"
        problems = [str(exc)]
    finally:
        db.close()
    if problems != ["ok"]:
        # quick_check gives one line per problem (some rows hold several): name the first.
        lines = [x for row in problems for x in row.splitlines() if not x.startswith("***")]
        more = f" and {len(lines) - 1} more" if len(lines) > 1 else ""
        _damaged(path, f"{lines[0] if lines else problems[0]}{more}")
    if not marker.exists():
        marker.write_text(
            f"{LEDGER_FILE} holds this folder's run history; if it goes missing, "
            f"reportgen stops rather than send again (see `{NEW_LEDGER}`).\n"
        )


def _header_problem(path: Path) -> str | None:
    """Return why the file cannot be a whole SQLite database, from its header, or None."""
    # O(1): the header says how many pages the database has (when its two change counters
    # agree); a file shorter than that was cut short.
    with path.open("rb") as fh:
        head = fh.read(100)
    if len(head) < 100 or not head.startswith(b"SQLite format 3\x00"):
        return "file is not a database"
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(head[28:32], "big")
    if pages and head[24:28] == head[92:96]:
        size = path.stat().st_size
        if size < pages * page_size:
            return f"cut short: {size} of its {pages * page_size} bytes"
    return None


def start_new(path: Path) -> Path | None:
    """Move the current ledger (if any) aside and forget the folder had one; return where."""
    aside = move_aside(path, "replaced") if path.exists() else None
    path.with_name(LEDGER_MARKER).unlink(missing_ok=True)
    return aside


def move_aside(path: Path, why: str) -> Path:
    """Rename the ledger and its WAL files to ``<name>.<why>-<UTC time>``; return the new path."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = path.with_name(f"{path.name}.{why}-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):  # another process moved it first
            os.replace(f"{path}{suffix}", f"{aside}{suffix}")
    return aside


def is_busy(exc: sqlite3.Error) -> bool:
    """Return True when ``exc`` says another connection held the ledger past the wait."""
    return getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def busy_message(path: Path) -> str:
    """Say that another process held the ledger too long, and what to do."""
    return (
        f"{path}: the run ledger stayed locked by another process for {BUSY_SECONDS:g} s, "
        "so this step was not recorded; the ledger itself is fine. Run the command again "
        "once that process is done: reportgen's own commands hold the ledger only for moments, "
        "so a lock this long is a stuck process or another program holding the file"
    )


def _create(path: Path, schema: str) -> None:
    """Create the ledger with its tables in a temporary file and link it into place whole."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite3.connect(tmp, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(schema)
        finally:
            db.close()
        with contextlib.suppress(FileExistsError):  # another process made it first
            os.link(tmp, path)
    except sqlite3.OperationalError as exc:
        raise OSError(str(exc)) from None
    finally:
        tmp.unlink(missing_ok=True)


def _damaged(path: Path, reason: str) -> None:
    """Set the damaged ledger aside and raise LedgerDamaged saying what to do."""
    aside = move_aside(path, "damaged")
    raise LedgerDamaged(
        f"{path}: the run ledger is damaged ({reason}); it was moved aside to {aside.name} "
        f"and nothing was built or sent. Restore a good copy as {path}, or run `{NEW_LEDGER}` "
        "to start an empty history knowingly (recipients may then get emails for windows "
        "they already had)"
    )


def _lost_message(path: Path) -> str:
    aside = sorted(path.parent.glob(f"{path.name}.damaged-*Z"))  # not their -wal, -shm
    where = f" (the damaged one was moved aside to {aside[-1].name})" if aside else ""
    return (
        f"{path}: the run ledger is missing{where}, but this state folder had one "
        f"({LEDGER_MARKER}), so what was already sent is unknown and nothing was built or "
        f"sent. Restore a good copy as {path}, or run `{NEW_LEDGER}` to start an empty "
        "history knowingly"
    )
