"""A one-line progress display on a terminal: spinner, stage bar and elapsed time on stderr.

Only when stderr is a terminal: piped or redirected output (cron, CI, the scheduler's log) is
exactly what it is without it. Log lines still appear above the status line, which is
cleared before each one and redrawn after it.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

logger = logging.getLogger(__name__)

#: The build's stages (build.Timings names) in the order they usually run, with labels.
STAGES = {
    "load": "loading data",
    "compute": "computing metrics",
    "charts": "building charts",
    "browser": "starting Chromium",
    "svg": "exporting charts",
    "html": "rendering HTML",
    "pdf": "laying out PDFs",
    "publish": "publishing",
}
FRAMES = "|/-\\"
CLEAR = "\r\x1b[K"
BAR = 10


class Display:
    """The status line: call ``stage(name)`` as the work moves on; ``close()`` clears it."""

    def __init__(self, stream: TextIO, interval: float = 0.1) -> None:
        self.stream = stream
        self.interval = interval
        self.lock = threading.RLock()
        self._stage = ""
        self._furthest = 0
        self._frame = 0
        self._t0 = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name="progress", daemon=True)

    def start(self) -> Display:
        """Start the spinner; return self."""
        self._thread.start()
        return self

    def stage(self, name: str) -> None:
        """Show that stage ``name`` has started."""
        with self.lock:
            self._stage = name
            if name in STAGES:
                self._furthest = max(self._furthest, list(STAGES).index(name) + 1)
            self.draw()

    def draw(self) -> None:
        """Redraw the status line in place."""
        with self.lock:
            if not self._stage:
                return
            done = round(BAR * self._furthest / len(STAGES))
            bar = "#" * done + "-" * (BAR - done)
            label = STAGES.get(self._stage, self._stage)
            spent = time.monotonic() - self._t0
            text = f"{FRAMES[self._frame % len(FRAMES)]} [{bar}] {label} {spent:.0f}s"
            width = shutil.get_terminal_size((80, 24)).columns - 1
            self.stream.write(CLEAR + text[:width])
            self.stream.flush()

    def clear(self) -> None:
        """Remove the status line (before a log line is written)."""
        with self.lock:
            if self._stage:
                self.stream.write(CLEAR)
                self.stream.flush()

    def close(self) -> None:
        """Stop the spinner and clear the line."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.clear()
        self._stage = ""

    def _spin(self) -> None:
        while not self._stop.wait(self.interval):
            with self.lock:
                self._frame += 1
                self.draw()


class _Handler(logging.StreamHandler):
    """A stderr handler that writes each log line above the status line."""

    def __init__(self, display: Display, like: logging.Handler) -> None:
        super().__init__(display.stream)
        self.display = display
        self.setFormatter(like.formatter)
        self.setLevel(like.level)

    def emit(self, record: logging.LogRecord) -> None:
        with self.display.lock:
            self.display.clear()
            super().emit(record)
            self.display.draw()


def wanted(stream: TextIO = sys.stderr) -> bool:
    """Return True when ``stream`` is a terminal that can redraw a line."""
    return stream.isatty() and os.environ.get("TERM", "") != "dumb"


@contextmanager
def shown(enabled: bool, stream: TextIO | None = None) -> Iterator[Display | None]:
    """Show a status line on ``stream`` (stderr) while the block runs, if it is a terminal."""
    stream = stream or sys.stderr
    if not (enabled and wanted(stream)):
        yield None
        return
    display = Display(stream).start()
    root = logging.getLogger()
    swapped = [h for h in root.handlers if getattr(h, "stream", None) is stream]
    wrappers = [_Handler(display, h) for h in swapped]
    for old, new in zip(swapped, wrappers, strict=True):
        root.removeHandler(old)
        root.addHandler(new)
    try:
        yield display
    finally:
        display.close()
        for old, new in zip(swapped, wrappers, strict=True):
            root.removeHandler(new)
            root.addHandler(old)
