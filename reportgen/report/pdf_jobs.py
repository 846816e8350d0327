"""A PDF job, and what comes back from the worker that lays it out: warnings and errors."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from reportgen.errors import RenderError


@dataclass(frozen=True)
class PdfJob:
    """A print page ready for WeasyPrint: its HTML, base folder and the folders it may read."""

    html: str
    base: str
    allowed: tuple[str, ...]


class LogCapture(logging.Handler):
    """Collect log records as (logger, level, message) to send back to the build process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def relay(done: Future[Any], out: Future[bytes]) -> None:
    """Pass a worker's result to ``out`` and log its warnings in this process."""
    try:
        data, records = done.result()
    except RenderError as error:
        # Drop the remote traceback: the user sees one line, as for a PDF laid out here.
        out.set_exception(RenderError(str(error)))
        return
    except BrokenProcessPool as error:
        out.set_exception(worker_died(error))
        return
    except BaseException as error:  # an unexpected bug in the worker: keep its traceback
        out.set_exception(error)
        return
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
    out.set_result(data)


def worker_died(error: BaseException) -> RenderError:
    """Return the error a build reports when a PDF worker process died."""
    return RenderError(f"PDF rendering failed: a worker process died ({error})")
