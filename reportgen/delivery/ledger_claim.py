"""A claimed run: it holds its window's lock until it is finished with its final state."""

from __future__ import annotations

import logging
from datetime import date
from typing import TYPE_CHECKING, Any

from reportgen.delivery.ledger_rows import RUN_STATES, Run
from reportgen.errors import ReportgenError
from reportgen.model import Window
from reportgen.scheduling.lock import FileLock

if TYPE_CHECKING:
    # Only for annotations: the ledger makes claims, so it imports this module.
    from reportgen.delivery.ledger import Ledger

logger = logging.getLogger(__name__)


class Claim:
    """A claimed run: holds the window lock until finished; use as a context manager."""

    def __init__(
        self,
        ledger: Ledger,
        run_id: int,
        preset: str,
        window: Window,
        as_of: date,
        lock: FileLock,
        previous: Run | None,
    ) -> None:
        self.ledger = ledger
        self.id = run_id
        self.preset = preset
        self.window = window
        self.as_of = as_of
        self.previous = previous
        self.state: str = "running"
        self._lock = lock

    @property
    def built_files(self) -> dict[str, Any] | None:
        """Return the files a previous run of this window built, if it got that far."""
        if self.previous and self.previous.state in ("succeeded", "failed", "crashed"):
            return self.previous.files
        return None

    def record_files(self, files: dict[str, Any]) -> None:
        """Remember what the build produced, so a later run can send without rebuilding."""
        self.ledger._set_files(self.id, files)

    def finish(
        self, state: str, error: str | None = None, *, files: dict[str, Any] | None = None
    ) -> None:
        """Close the run with its final state (and ``files``, as record_files), then unlock."""
        if state not in RUN_STATES or state == "running":
            raise ValueError(f"cannot finish a run as {state!r}")
        try:
            # The row is written before the lock goes, so no one sees a stale 'running'.
            self.ledger._finish(self.id, state, error, files)
            self.state = state
        finally:
            self._lock.release()

    def __enter__(self) -> Claim:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: Any):
        if self.state == "running":
            reason = f"{type(exc).__name__}: {exc}" if exc else "the run ended without a result"
            if isinstance(exc, ReportgenError):
                reason = str(exc)
            try:
                self.finish("failed", reason)
            except Exception:
                logger.exception("could not record the end of run %s", self.id)
                self._lock.release()
        return None
