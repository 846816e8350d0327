"""The run ledger: a SQLite file in the state folder recording runs, deliveries and fire times.

One row per (preset, window) in ``runs`` and per (preset, window, recipient) in ``deliveries``
is what makes scheduled and manual runs exactly-once: a run is claimed inside ``BEGIN IMMEDIATE``
while holding an OS lock for that window, so two processes never build or send the same window
at the same time, and a recipient recorded as sent is never sent that window again.

Its tables and row types are in ``ledger_rows``, a claimed run in ``ledger_claim`` and the file
itself (created whole, checked on open) in ``ledger_file``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from reportgen.delivery import ledger_file
from reportgen.delivery.ledger_claim import Claim
from reportgen.delivery.ledger_file import LEDGER_FILE, NEW_LEDGER
from reportgen.delivery.ledger_rows import (
    DELIVERY_STATES,
    DONE,
    SCHEMA,
    TRIGGERS,
    Delivery,
    Run,
    delivery_from_row,
    iso_utc,
    recipient_key,
    run_from_row,
    utcnow,
)
from reportgen.delivery.ledger_rows import output_names as output_names
from reportgen.errors import LedgerDamaged, LockHeld, OutputError, RunBusy
from reportgen.model import Window
from reportgen.scheduling.lock import FileLock, run_lock

logger = logging.getLogger(__name__)


class Ledger:
    """The SQLite run ledger in ``state_dir``; safe to share between threads and processes."""

    def __init__(self, state_dir: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.state_dir = Path(state_dir)
        self.path = self.state_dir / LEDGER_FILE
        self.clock = clock
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
            ledger_file.open_checked(self.path, SCHEMA)
        except OSError as exc:
            raise OutputError(
                f"{self.path}: cannot use the run ledger: {exc.strerror or exc}; make "
                f"schedule.state_dir ({self.state_dir}) a writable folder on a local disk "
                "with free space"
            ) from None

    @classmethod
    def start_new(cls, state_dir: Path) -> tuple[Ledger, Path | None]:
        """Start an empty ledger, keeping any current file aside; return it and where that went."""
        aside = ledger_file.start_new(Path(state_dir) / LEDGER_FILE)
        return cls(state_dir), aside

    # -- plumbing -------------------------------------------------------------------------

    def _connect(self) -> sqlite3.Connection:
        # A connection per operation keeps threads independent; opening one is cheap.
        db = sqlite3.connect(self.path, timeout=ledger_file.BUSY_SECONDS, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """Run a write transaction that takes the database write lock up front."""
        with self._read() as db:
            try:
                db.execute("BEGIN IMMEDIATE")
                yield db
                db.execute("COMMIT")
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        """Open a connection; turn a full disk or a damaged file into one clear error."""
        try:
            db = self._connect()
            try:
                yield db
            finally:
                db.close()
        except sqlite3.OperationalError as exc:
            if ledger_file.is_busy(exc):
                raise LockHeld(ledger_file.busy_message(self.path)) from None
            name = getattr(exc, "sqlite_errorname", "")
            if not name.startswith(
                ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_IOERR")
            ):
                raise
            raise OutputError(
                f"{self.path}: cannot write the run ledger: {exc}; free space in (or make "
                f"writable) schedule.state_dir ({self.state_dir}); nothing was recorded half"
            ) from None
        except sqlite3.DatabaseError as exc:
            # Only corruption is damage: a constraint or a bug must not send an operator to
            # start a new history (which could resend every email).
            name = getattr(exc, "sqlite_errorname", "")
            if not name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
                raise
            # Found after opening (the checks at open passed): say so, but leave the file
            # where it is, since other processes may have it open; the next open sets it aside.
            raise LedgerDamaged(
                f"{self.path}: the run ledger is damaged ({exc}); restore a good copy, or run "
                f"`{NEW_LEDGER}` to start an empty history knowingly"
            ) from None

    def _now(self) -> str:
        return iso_utc(self.clock())

    # -- runs -----------------------------------------------------------------------------

    def claim(
        self,
        preset: str,
        window: Window,
        as_of: date,
        trigger: str,
        *,
        fired: datetime | None = None,
        wait: float = 0.0,
        cancelled: Callable[[], bool] | None = None,
    ) -> Claim:
        """Claim the run of ``preset`` for ``window`` or raise RunBusy naming the live owner."""
        return self.claim_all(
            [(preset, window, as_of)], trigger, fired=fired, wait=wait, cancelled=cancelled
        )[0]

    def claim_all(
        self,
        items: list[tuple[str, Window, date]],
        trigger: str,
        *,
        fired: datetime | None = None,
        wait: float = 0.0,
        cancelled: Callable[[], bool] | None = None,
    ) -> list[Claim]:
        """Claim every (preset, window, as-of) together, or none of them.

        When a window is held by another run, wait up to ``wait`` seconds (until ``cancelled()``
        says stop) for it, then raise RunBusy naming the holder. No row is touched until every
        window lock is held, so a refused claim leaves the ledger as it was.
        """
        if trigger not in TRIGGERS:
            raise ValueError(f"unknown trigger {trigger!r}")
        keys = [(preset, window) for preset, window, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("each preset and window can be claimed once")
        locks = self._window_locks(keys, wait, cancelled)
        try:
            with self._tx() as db:
                ids = [
                    self._claim_row(db, preset, window, as_of, trigger, fired)
                    for preset, window, as_of in items
                ]
        except BaseException:
            for lock in locks:
                lock.release()
            raise
        return [
            Claim(self, run_id, preset, window, as_of, lock, previous)
            for (preset, window, as_of), (run_id, previous), lock in zip(
                items, ids, locks, strict=True
            )
        ]

    def _window_locks(
        self,
        keys: list[tuple[str, Window]],
        wait: float,
        cancelled: Callable[[], bool] | None,
    ) -> list[FileLock]:
        """Take the lock of every window, or none: raise RunBusy once ``wait`` has run out."""
        deadline = time.monotonic() + wait
        said = False
        while True:
            held: list[FileLock] = []
            for preset, window in keys:
                lock = run_lock(
                    self.state_dir, preset, window.start.isoformat(), window.end.isoformat()
                )
                if not lock.try_acquire():
                    break
                held.append(lock)
            else:
                return held
            for other in held:
                other.release()
            message = self._busy_message(preset, window, lock)
            if time.monotonic() >= deadline or (cancelled is not None and cancelled()):
                raise RunBusy(message)
            if not said:
                logger.info("%s; waiting up to %.0f s", message, wait)
                said = True
            time.sleep(0.2)

    def _claim_row(
        self,
        db: sqlite3.Connection,
        preset: str,
        window: Window,
        as_of: date,
        trigger: str,
        fired: datetime | None,
    ) -> tuple[int, Run | None]:
        """Insert or update the window's run row as 'running'; the caller holds its lock."""
        start, end = window.start.isoformat(), window.end.isoformat()
        row = db.execute(
            "SELECT * FROM runs WHERE preset=? AND window_start=? AND window_end=?",
            (preset, start, end),
        ).fetchone()
        previous = run_from_row(row) if row else None
        if previous and previous.state == "running":
            # We hold its window lock, so the process that wrote 'running' is gone.
            logger.warning(
                "%s %s: the previous run (pid %s, started %s) died before finishing; "
                "marked crashed and running again",
                preset,
                window.label(),
                previous.pid,
                previous.started,
            )
            previous.state = "crashed"
        values = (as_of.isoformat(), self._now(), os.getpid(), trigger)
        fired_text = iso_utc(fired) if fired else None
        if previous is None:
            cur = db.execute(
                "INSERT INTO runs (preset, window_start, window_end, as_of, state, "
                "started, pid, trigger, fired, attempts) "
                "VALUES (?, ?, ?, ?, 'running', ?, ?, ?, ?, 1)",
                (preset, start, end, *values, fired_text),
            )
            return int(cur.lastrowid or 0), None
        db.execute(
            "UPDATE runs SET as_of=?, state='running', started=?, ended=NULL, pid=?, "
            "error=NULL, trigger=?, fired=COALESCE(?, fired), attempts=attempts+1 "
            "WHERE id=?",
            (*values, fired_text, previous.id),
        )
        return previous.id, previous

    def _busy_message(self, preset: str, window: Window, lock: FileLock) -> str:
        run = self.get_run(preset, window)
        live = run is not None and run.state == "running"
        pid = run.pid if run is not None and live else lock.holder_pid()
        how = f" ({run.trigger})" if run is not None and live else ""
        since = f", started {run.started}" if run is not None and live else ""
        return (
            f"preset {preset} {window.label()}: another run{how} is in progress "
            f"(pid {pid}{since}); it has this window to itself until it finishes "
            "(see `reportgen runs`), so try again after that"
        )

    def _finish(
        self, run_id: int, state: str, error: str | None, files: dict[str, Any] | None = None
    ) -> None:
        with self._tx() as db:
            if files is not None:  # one transaction, not two: each commit waits for the disk
                db.execute("UPDATE runs SET files=? WHERE id=?", (json.dumps(files), run_id))
            db.execute(
                "UPDATE runs SET state=?, ended=?, error=? WHERE id=?",
                (state, self._now(), error, run_id),
            )

    def _set_files(self, run_id: int, files: dict[str, Any]) -> None:
        with self._tx() as db:
            db.execute("UPDATE runs SET files=? WHERE id=?", (json.dumps(files), run_id))

    def record_skipped(
        self,
        preset: str,
        window: Window,
        as_of: date,
        trigger: str,
        reason: str,
        *,
        fired: datetime | None = None,
    ) -> bool:
        """Record a run that was deliberately not done; never overwrites an existing run."""
        now = self._now()
        with self._tx() as db:
            cur = db.execute(
                "INSERT OR IGNORE INTO runs (preset, window_start, window_end, as_of, state, "
                "started, ended, pid, error, trigger, fired, attempts) "
                "VALUES (?, ?, ?, ?, 'skipped', ?, ?, ?, ?, ?, ?, 0)",
                (
                    preset,
                    window.start.isoformat(),
                    window.end.isoformat(),
                    as_of.isoformat(),
                    now,
                    now,
                    os.getpid(),
                    reason,
                    trigger,
                    iso_utc(fired) if fired else None,
                ),
            )
            return cur.rowcount > 0

    def mark_crashed(self) -> list[Run]:
        """Mark 'running' rows whose owner no longer holds the window lock as crashed."""
        with self._read() as db:
            rows = [run_from_row(r) for r in db.execute("SELECT * FROM runs WHERE state='running'")]
        marked = []
        for run in rows:
            lock = run_lock(
                self.state_dir, run.preset, run.window.start.isoformat(), run.window.end.isoformat()
            )
            if not lock.try_acquire():
                continue  # its owner is alive and still working
            try:
                reason = (
                    f"process {run.pid} stopped during the run (killed or crashed); "
                    "the previous output was left as it was"
                )
                with self._tx() as db:
                    cur = db.execute(
                        "UPDATE runs SET state='crashed', ended=?, error=? "
                        "WHERE id=? AND state='running'",
                        (self._now(), reason, run.id),
                    )
                if cur.rowcount:
                    run.state, run.error = "crashed", reason
                    marked.append(run)
                    logger.warning(
                        "%s %s: marked crashed: %s", run.preset, run.window.label(), reason
                    )
            finally:
                lock.release()
        return marked

    def get_run(self, preset: str, window: Window) -> Run | None:
        """Return the run row of ``preset`` for ``window``, if any."""
        with self._read() as db:
            row = db.execute(
                "SELECT * FROM runs WHERE preset=? AND window_start=? AND window_end=?",
                (preset, window.start.isoformat(), window.end.isoformat()),
            ).fetchone()
        return run_from_row(row) if row else None

    def recent_runs(self, preset: str | None = None, limit: int = 20) -> list[Run]:
        """Return the most recently started runs, newest first."""
        sql = "SELECT * FROM runs"
        args: tuple[Any, ...] = ()
        if preset:
            sql += " WHERE preset=?"
            args = (preset,)
        sql += " ORDER BY COALESCE(started, '') DESC, id DESC LIMIT ?"
        with self._read() as db:
            return [run_from_row(r) for r in db.execute(sql, (*args, limit))]

    # -- deliveries -----------------------------------------------------------------------

    def deliveries(self, preset: str, window: Window) -> dict[str, Delivery]:
        """Return the delivery rows of one preset (or group) and window, by recipient."""
        with self._read() as db:
            rows = db.execute(
                "SELECT * FROM deliveries WHERE preset=? AND window_start=? AND window_end=?",
                (preset, window.start.isoformat(), window.end.isoformat()),
            ).fetchall()
        return {r["recipient"]: delivery_from_row(r) for r in rows}

    def pending_recipients(self, preset: str, window: Window, recipients: list[str]) -> list[str]:
        """Return the recipients not yet sent (or permanently refused) this window, in order."""
        done = {k for k, d in self.deliveries(preset, window).items() if d.state in DONE}
        out, seen = [], set()
        for addr in recipients:
            key = recipient_key(addr)
            if key not in done and key not in seen:
                seen.add(key)
                out.append(addr)
        return out

    def record_delivery(
        self,
        preset: str,
        window: Window,
        recipient: str,
        state: str,
        *,
        message_id: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record what happened to one recipient; a 'sent' row is never overwritten."""
        if state not in DELIVERY_STATES:
            raise ValueError(f"unknown delivery state {state!r}")
        with self._tx() as db:
            db.execute(
                "INSERT INTO deliveries (preset, window_start, window_end, recipient, state, at, "
                "message_id, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (preset, window_start, window_end, recipient) DO UPDATE SET "
                "state=excluded.state, at=excluded.at, message_id=excluded.message_id, "
                "error=excluded.error, attempts=deliveries.attempts+1 "
                "WHERE deliveries.state != 'sent'",
                (
                    preset,
                    window.start.isoformat(),
                    window.end.isoformat(),
                    recipient_key(recipient),
                    state,
                    self._now(),
                    message_id,
                    error,
                ),
            )

    def record_send(self, preset: str, window: Window, state: str, reason: str = "") -> None:
        """Record the outcome of one email (sent, partial, skipped, failed, dry-run)."""
        # A later dry run or skip must not hide that the email already went out.
        with self._tx() as db:
            db.execute(
                "INSERT INTO sends (preset, window_start, window_end, state, reason, at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (preset, window_start, window_end) "
                "DO UPDATE SET state=excluded.state, reason=excluded.reason, at=excluded.at "
                "WHERE NOT (sends.state IN ('sent', 'partial') "
                "AND excluded.state IN ('dry-run', 'skipped'))",
                (
                    preset,
                    window.start.isoformat(),
                    window.end.isoformat(),
                    state,
                    reason,
                    self._now(),
                ),
            )

    def sends(self, names: str | list[str], window: Window) -> dict[str, tuple[str, str]]:
        """Return ``{name: (state, reason)}`` of the named outputs (a preset or its groups)."""
        rows = self._of_outputs("preset, state, reason", "sends", names, window)
        return {r["preset"]: (r["state"], r["reason"] or "") for r in rows}

    def delivery_counts(self, names: str | list[str], window: Window) -> dict[str, int]:
        """Return delivery states counted over the named outputs for one window."""
        rows = self._of_outputs(
            "state, COUNT(*) AS n", "deliveries", names, window, " GROUP BY state"
        )
        return {r["state"]: int(r["n"]) for r in rows}

    def _of_outputs(
        self, columns: str, table: str, names: str | list[str], window: Window, tail: str = ""
    ) -> list[sqlite3.Row]:
        """Select from ``table`` the rows of exactly the named outputs for one window."""
        # Names, not a "preset." prefix: a preset may itself be called "team.weekly".
        names = [names] if isinstance(names, str) else list(names)
        marks = ", ".join("?" * len(names))
        with self._read() as db:
            return db.execute(
                f"SELECT {columns} FROM {table} WHERE preset IN ({marks}) "
                f"AND window_start=? AND window_end=?{tail}",
                (*names, window.start.isoformat(), window.end.isoformat()),
            ).fetchall()

    # -- fire-time cursors ----------------------------------------------------------------

    def cursor(self, preset: str) -> datetime | None:
        """Return the last fire time the scheduler accounted for, or None if it never saw it."""
        with self._read() as db:
            row = db.execute("SELECT last_fire FROM cursors WHERE preset=?", (preset,)).fetchone()
        return datetime.fromisoformat(row["last_fire"]) if row else None

    def advance_cursor(self, preset: str, fire: datetime) -> None:
        """Move the preset's cursor forward to ``fire``; never moves it back."""
        when = iso_utc(fire)
        with self._tx() as db:
            row = db.execute("SELECT last_fire FROM cursors WHERE preset=?", (preset,)).fetchone()
            if row and datetime.fromisoformat(row["last_fire"]) >= fire:
                return
            db.execute(
                "INSERT INTO cursors (preset, last_fire, updated) VALUES (?, ?, ?) "
                "ON CONFLICT (preset) DO UPDATE SET last_fire=excluded.last_fire, "
                "updated=excluded.updated",
                (preset, when, self._now()),
            )
