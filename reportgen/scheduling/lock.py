"""OS file locks in the state folder that the kernel releases when their process dies."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
from pathlib import Path
from typing import IO

from reportgen.errors import LockHeld, OutputError

logger = logging.getLogger(__name__)

SCHEDULER_LOCK = "scheduler.lock"
RUN_LOCKS = "locks"


class FileLock:
    """An exclusive, non-blocking ``flock`` on one file, holding the owner's pid as its text."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: IO[str] | None = None

    @property
    def held(self) -> bool:
        """Return True while this object holds the lock."""
        return self._fh is not None

    def try_acquire(self) -> bool:
        """Take the lock if it is free; return False when another open file holds it."""
        return self._acquire(fcntl.LOCK_EX | fcntl.LOCK_NB)

    def acquire(self) -> None:
        """Take the lock, waiting for as long as another open file holds it."""
        self._acquire(fcntl.LOCK_EX)

    def _acquire(self, operation: int) -> bool:
        if self._fh is not None:
            return True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # "a+" so a holder's pid is not truncated away by a process that then fails to lock.
            fh = open(self.path, "a+", encoding="utf-8")  # held until release()
        except OSError as exc:
            raise _unusable(self.path, exc) from None
        try:
            # Each FileLock opens its own file, so two threads of one process exclude each
            # other too (flock locks belong to the open file, not to the process).
            fcntl.flock(fh.fileno(), operation)
        except BlockingIOError:
            fh.close()
            return False
        except BaseException:
            fh.close()
            raise
        try:
            fh.seek(0)
            fh.truncate()
            fh.write(f"{os.getpid()}\n")
            fh.flush()
        except OSError as exc:  # a full disk: the lock is ours, but its pid cannot be written
            with contextlib.suppress(OSError):
                fh.close()  # closes the file even though flushing the pid fails again
            raise _unusable(self.path, exc) from None
        self._fh = fh
        return True

    def release(self) -> None:
        """Give the lock up; closing the file is what releases it."""
        if self._fh is not None:
            fh, self._fh = self._fh, None
            fh.close()

    def holder_pid(self) -> int | None:
        """Return the pid written by the current or last holder, if readable."""
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() else None

    def __enter__(self) -> FileLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _unusable(path: Path, exc: OSError) -> OutputError:
    """Return the one-line error for a lock file that cannot be created or written."""
    return OutputError(
        f"{path}: cannot write the lock file: {exc.strerror or exc}; make schedule.state_dir "
        f"({path.parent if path.parent.name != RUN_LOCKS else path.parent.parent}) a writable "
        "folder with free space; nothing was built or sent"
    )


def scheduler_lock(state_dir: Path) -> FileLock:
    """Take the one-scheduler-per-state-folder lock or raise LockHeld naming the holder."""
    lock = FileLock(Path(state_dir) / SCHEDULER_LOCK)
    if not lock.try_acquire():
        pid = lock.holder_pid()
        who = f"pid {pid}" if pid else "another process"
        raise LockHeld(
            f"another `reportgen schedule` ({who}) is already running with state folder "
            f"{state_dir}; stop it first, or give this one its own schedule.state_dir"
        )
    return lock


def run_lock(state_dir: Path, preset: str, start: str, end: str) -> FileLock:
    """Return (not yet taken) the lock that guards one preset's run for one window."""
    return FileLock(Path(state_dir) / RUN_LOCKS / _run_lock_name(preset, start, end))


def _run_lock_name(preset: str, start: str, end: str) -> str:
    # Preset names are already file-safe; the hash keeps distinct names distinct if that changes.
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", preset)
    digest = hashlib.sha1(f"{preset}\0{start}\0{end}".encode(), usedforsecurity=False)
    return f"{safe}__{start}__{end}__{digest.hexdigest()[:8]}.lock"
