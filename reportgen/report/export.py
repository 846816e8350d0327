"""Static SVG export of plotly figures (PDF charts, and the HTML report's charts without scripts).

Kaleido draws the charts in Chromium (``browser``: which Chromium, and the kaleido session that
checks its page). Starting a full Chromium took 0.9-1.1 s of wall time and 1.4-1.9 s
of CPU across its processes here (2026-12-02); plotly.js is a small part of that (a bare
Chromium loading the 1.2 MB partial bundle the HTML report inlines, not the full 4.8 MB one,
used 0.8 s of CPU against 0.6 s for a blank page). So ``ChartExporter`` opens one kaleido
session for the whole build, can start it in the background (``start()``) while the build
does other work, exports every figure through it, and closes it at the end. A report's figures go as one batch
(``to_svgs``): kaleido serialises the next figure while Chromium draws the current one
(measured on the default build's 28 figures: 1.1 s in batches against 2.0 s one by one).
A second tab does not help: it loads plotly.js again and slowed the start by 2 s. MathJax
is off: kaleido would fetch it from a CDN (we are offline). While it starts, Chromium draws
one figure with every kind of mark the reports use (``_WARM_UP``), so the first report's
batch does not pay for compiling plotly.js's drawing code.

Why not ``kaleido.start_sync_server`` + ``calc_fig_sync``: measured here (kaleido 1.5,
Chromium 156, 2 cores) that path takes 0.26-0.5 s per figure, because kaleido reloads its
page, and so re-parses the 4.8 MB plotly.js, after every figure, MathJax or not; the render
itself takes 0.03-0.12 s. Its page draws each figure in a fresh detached div and purges it,
so for our figures (no MathJax, no maps) the reload buys nothing. The sync server also blocks
forever when its Chromium dies. So the exporter runs its own kaleido session on a private
event-loop thread, with every wait bounded, and skips the reload (``browser.KaleidoSession``).

A batch that fails anyway, its page checked or not (Chromium crashed or hung, the page was
lost), is exported once more in a fresh Chromium before the build fails with a RenderError.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from types import TracebackType
from typing import Any

from reportgen.errors import RenderError
from reportgen.report.browser import HEADLESS_SHELLS as HEADLESS_SHELLS
from reportgen.report.browser import KaleidoSession, plotlyjs_path
from reportgen.report.browser import find_chromium as find_chromium

logger = logging.getLogger(__name__)

NO_CHROMIUM = (
    "chart export needs Chromium: install it with `apt-get install -y chromium` (or run ./setup.sh)"
)
#: Pixel width of exported charts: the A4 text column (180 mm) at 96 dpi, so 12 px type
#: prints at about 9 pt instead of being scaled down.
DEFAULT_WIDTH = 680
DEFAULT_HEIGHT = 360
#: How much lower than the build's thread Chromium and the export thread run (nice increment).
NICENESS = 5
#: Seconds Chromium may take to start, and one figure to render.
START_TIMEOUT = 60.0
FIGURE_TIMEOUT = 60.0
#: Seconds Chromium may take to close when asked before it is killed (it closes in 0.07 s, the
#: headless shell, or 0.18 s, Chromium, measured here; killing a browser whose charts are all
#: exported loses nothing). choreographer can miss the browser's reply: when the reply and
#: Chromium's goodbye arrive in one read, it logs a JSONError and waits forever (3 builds in
#: about 50 with the headless shell, each then 30 s longer before this bound).
CLOSE_TIMEOUT = 1.0


class ChartExporter:
    """Export plotly figures to SVG text through one Chromium session.

    Use as ``with ChartExporter() as ex: svg = ex.to_svg(fig)``; raises RenderError when no
    Chromium is installed or it fails. To overlap Chromium's start (about a second, see the
    module docstring) with other work, call ``start()`` first and ``close()`` at the end:
    the first export waits for the browser.
    """

    def __init__(
        self,
        *,
        width: int = DEFAULT_WIDTH,
        browser: str | None = None,
        timeout: float = FIGURE_TIMEOUT,
    ) -> None:
        """Configure the export; the browser starts on ``__enter__``."""
        self.width = width
        self.browser = browser
        self.timeout = timeout
        #: Seconds Chromium took to start, and each exported figure took, in order.
        self.startup_seconds = 0.0
        self.timings: list[float] = []
        #: How many times a failed batch made the exporter start a fresh Chromium.
        self.restarts = 0
        self._browser_path: str | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._session: KaleidoSession | None = None
        self._opening: Future[Any] | None = None
        self._started_at = 0.0

    def __enter__(self) -> ChartExporter:
        """Start Chromium, or raise RenderError when there is none or it will not start."""
        self.start()
        self.wait_ready()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close Chromium and log how long the exports took."""
        self.close()

    def start(self) -> ChartExporter:
        """Start Chromium in the background and return at once; RenderError if there is none."""
        if self._loop is not None:
            return self
        browser = self.browser or find_chromium()
        if browser is None or not os.access(browser, os.X_OK):
            raise RenderError(NO_CHROMIUM)
        self._browser_path = browser
        self._started_at = time.perf_counter()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="chart-export", daemon=True)
        self._thread.start()
        self._opening = asyncio.run_coroutine_threadsafe(self._open(browser), self._loop)
        logger.debug("starting Chromium %s", browser)
        return self

    def _run_loop(self) -> None:
        """Run the export thread's event loop, at a lower priority than the build's thread."""
        if sys.platform == "linux":
            # On Linux a priority belongs to the thread, and threads and processes started from
            # it inherit it: Chromium, its renderers and the figure serialising here then use
            # the core the build's own thread leaves, not its. Elsewhere it would be the
            # whole process's.
            with contextlib.suppress(OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), NICENESS)
        assert self._loop is not None
        self._loop.run_forever()

    def ready(self) -> bool:
        """Return whether Chromium has started (or failed to), without waiting."""
        return self._session is not None or self._opening is None or self._opening.done()

    def wait_ready(self) -> None:
        """Wait until Chromium has started; RenderError when it fails or takes too long."""
        if self._session is not None:
            return
        if self._opening is None:
            raise RuntimeError("call start() first, or use ChartExporter as a context manager")
        left = START_TIMEOUT - (time.perf_counter() - self._started_at)
        try:
            self._session = self._result(self._opening, max(left, 0.0), "starting Chromium")
        except BaseException:
            self._opening = None
            self._stop_loop()
            raise
        self._opening = None
        self.startup_seconds = time.perf_counter() - self._started_at
        logger.debug("Chromium started in %.2f s", self.startup_seconds)

    def close(self) -> None:
        """Close Chromium (after its start, if that is still under way) and log the timings."""
        if self._loop is None:
            return  # never started, or closed already
        if self._opening is not None:
            try:
                self.wait_ready()
            except RenderError as error:
                logger.debug("Chromium did not start: %s", error)
        session, self._session = self._session, None
        if session is not None:
            # The charts are exported; a browser that will not close is no reason to fail.
            self._shut(session)
        self._stop_loop()
        if self.timings:
            logger.debug(
                "exported %d charts in %.2f s (%.3f s each; browser start %.2f s)",
                len(self.timings),
                sum(self.timings),
                self.per_figure(),
                self.startup_seconds,
            )

    def per_figure(self) -> float:
        """Return the mean seconds per exported figure."""
        return sum(self.timings) / len(self.timings) if self.timings else 0.0

    def to_svg(self, fig: Any, *, width: int | None = None, height: int | None = None) -> str:
        """Return ``fig`` as standalone SVG text sized for the PDF's text column."""
        return self.to_svgs({"fig": fig}, width=width, height=height)["fig"]

    def to_svgs(
        self, figures: Mapping[str, Any], *, width: int | None = None, height: int | None = None
    ) -> dict[str, str]:
        """Return every figure as SVG text, by key, exported as one batch.

        The figures queue for the one tab together, so kaleido serialises the next figure
        while Chromium draws the current one: about half the time of one call per figure.
        """
        if self._session is None and self._opening is None:
            raise RuntimeError("use ChartExporter as a context manager: with ChartExporter() as ex")
        self.wait_ready()
        opts: dict[str, dict[str, Any]] = {
            key: {
                "format": "svg",
                "width": width or self.width,
                "height": height or _layout_height(fig) or DEFAULT_HEIGHT,
            }
            for key, fig in figures.items()
        }
        started = time.perf_counter()
        try:
            raws = self._export(figures, opts)
        except RenderError as error:
            # A crashed or hung Chromium, or a lost page, is worth one fresh start: a
            # scheduled report should not fail for it. A second failure is the answer.
            logger.warning("%s; restarting Chromium and exporting again", error)
            self.restarts += 1
            self._restart()
            try:
                raws = self._export(figures, opts)
            except RenderError as again:
                raise RenderError(f"{again} (also after restarting Chromium)") from again
        spent = time.perf_counter() - started
        self.timings.extend([spent / max(1, len(figures))] * len(figures))
        out = {}
        for (key, o), raw in zip(opts.items(), raws, strict=True):
            svg = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
            out[key] = _prune(_stable_ids(_with_viewbox(svg, o["width"], o["height"]), key))
        return out

    def _export(self, figures: Mapping[str, Any], opts: Mapping[str, Any]) -> list[Any]:
        """Export one batch through the current session; RenderError when it fails."""
        session = self._session
        assert session is not None
        calls = [session.calc_fig(fig, opts=opts[key]) for key, fig in figures.items()]
        # The outer bound only backs up _batch's own: every figure's wait, plus closing.
        bound = self.timeout * (len(calls) + 1)
        return self._wait(_batch(calls, self.timeout), bound, "exporting charts")

    def _restart(self) -> None:
        """Close the current Chromium, whatever state it is in, and start a fresh one."""
        session, self._session = self._session, None
        if session is not None:
            self._shut(session)
        assert self._browser_path is not None
        self._session = self._wait(
            self._open(self._browser_path), START_TIMEOUT, "restarting Chromium"
        )

    async def _open(self, browser: str) -> KaleidoSession:
        # kaleido bounds each figure too, so a hung page fails its figure, not the whole batch.
        session = KaleidoSession(
            mathjax=False, plotlyjs=plotlyjs_path(), path=browser, timeout=self.timeout
        )
        await session.open()  # waits until every tab's page is ready (wait_page)
        try:
            await session.calc_fig(_WARM_UP, opts={"format": "svg", "width": 200, "height": 150})
        except Exception as error:  # only a head start: real exports report real failures
            logger.debug("chart warm-up failed: %s: %s", type(error).__name__, error)
        return session

    def _shut(self, session: Any) -> None:
        """Close ``session``'s Chromium; kill it when it will not close within CLOSE_TIMEOUT."""
        try:
            self._wait(session.close(), CLOSE_TIMEOUT, "closing Chromium")
            return
        except RenderError as error:
            # A browser whose reply was lost, or that lost its DevTools pipe, may never
            # close: no orphan and no open pipe is left behind, in a daemon least of all.
            logger.debug("%s; killing it", error)
        try:  # on the export thread, after the cancelled close
            self._wait(_kill(session), 2 * CLOSE_TIMEOUT + 5, "killing Chromium")
        except RenderError as error:
            logger.debug("%s", error)

    def _wait(self, coro: Any, timeout: float, doing: str) -> Any:
        """Run ``coro`` on the export thread and return its result within ``timeout``."""
        assert self._loop is not None
        future: Future[Any] = asyncio.run_coroutine_threadsafe(coro, self._loop)
        return self._result(future, timeout, doing)

    def _result(self, future: Future[Any], timeout: float, doing: str) -> Any:
        """Return ``future``'s result within ``timeout``, failures as one-line RenderErrors."""
        try:
            return future.result(timeout=timeout)
        except FutureTimeout:
            future.cancel()
            raise RenderError(f"chart export: {doing} took longer than {timeout:.0f} s") from None
        except Exception as exc:
            if type(exc).__name__ == "ChromeNotFoundError":
                raise RenderError(NO_CHROMIUM) from None
            raise RenderError(f"chart export failed {doing}: {type(exc).__name__}: {exc}") from exc

    def _stop_loop(self) -> None:
        if self._loop is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        if not self._loop.is_running():
            self._loop.close()
        self._loop = None
        self._thread = None


#: A figure Chromium draws while it starts, with every kind of mark the reports use (bars with
#: patterns, a filled line with error bars and text, a shape, an annotation): the first batch
#: otherwise pays for compiling plotly.js's drawing code (1.2 s against 0.55 s for the next
#: report's batch, default build).
_WARM_UP: dict[str, Any] = {
    "data": [
        {"type": "bar", "x": ["a", "b"], "y": [1, 2], "marker": {"pattern": {"shape": "/"}}},
        {
            "type": "scatter",
            "x": [0, 1],
            "y": [1, 2],
            "fill": "tozeroy",
            "mode": "lines+markers+text",
            "text": ["a", "b"],
            "error_y": {"type": "data", "array": [0.1, 0.2]},
            "xaxis": "x2",
            "yaxis": "y2",
        },
    ],
    "layout": {
        "xaxis2": {"anchor": "y2"},
        "yaxis2": {"anchor": "x2", "type": "log"},
        "shapes": [{"type": "line", "x0": 0, "x1": 1, "y0": 1, "y1": 1, "yref": "y"}],
        "annotations": [{"text": "1x", "x": 0, "y": 1, "showarrow": False}],
    },
}


class StalledExport(RuntimeError):
    """No figure of a batch finished in time (not a TimeoutError: that means the outer wait)."""


async def _kill(session: Any) -> None:
    """Kill ``session``'s Chromium and its process group; release what a close would."""
    process = session.subprocess
    with contextlib.suppress(OSError):  # gone already
        if sys.platform == "win32":
            process.kill()
        else:  # choreographer starts Chromium in a session of its own: its renderers go too
            os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(Exception):
        process.wait(timeout=CLOSE_TIMEOUT)
    # What choreographer's own close does once the browser is gone: its futures, the log
    # pipe, the DevTools pipe, the temporary profile, its thread pool (choreographer 1.x
    # internals; each step is best effort, and a renamed one only leaves something open).
    steps = (
        lambda: session._broker.clean(),
        lambda: os.close(session._logger_pipe) if session._logger_pipe else None,
        lambda: session._channel.close(),
        lambda: session._browser_impl.clean(),
        lambda: session._process_executor.shutdown(wait=False, cancel_futures=True),
    )
    for step in steps:
        with contextlib.suppress(Exception):
            step()


async def _batch(calls: list[Any], timeout: float) -> list[Any]:
    """Run the figure exports together; fail at the first error or when none ends in time.

    A lost page can leave a DevTools reply that never comes: waiting for the whole batch
    (minutes for 28 figures) would hold the build, so the wait is for the next figure.
    """
    tasks = [asyncio.ensure_future(call) for call in calls]
    for task in tasks:
        # Once one figure fails the others' errors are moot: mark them seen, so asyncio
        # prints no "exception was never retrieved" traceback.
        task.add_done_callback(_seen)
    try:
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(
                pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
            if not done:
                raise StalledExport(f"no chart was drawn for {timeout:.0f} s")
            for task in done:
                task.result()  # the first failure ends the batch
        return [task.result() for task in tasks]
    finally:
        for task in tasks:
            task.cancel()


def _seen(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()


def _layout_height(fig: Any) -> int | None:
    layout = getattr(fig, "layout", None)
    height = getattr(layout, "height", None) if layout is not None else None
    return int(height) if height else None


def _stable_ids(svg: str, key: str) -> str:
    """Rename every id of a plotly SVG after ``key`` and its order: same input, same bytes.

    plotly names clip paths and defs after random per-plot and per-legend ids
    (``clip4d6ed2xy``, patterns ``pf0a8d7-1d438b-8``); references to them are ``url(#id)``,
    ``url('#id')`` and ``href="#id"``.
    """
    stable = "".join(c if c.isalnum() else "-" for c in key)
    names = {old: f"{stable}-{n}" for n, old in enumerate(dict.fromkeys(_ID.findall(svg)))}
    if not names:
        return svg

    def rename(match: re.Match[str]) -> str:
        return match.group(1) + names.get(match.group(2), match.group(2))

    return _ID_USE.sub(rename, svg)


#: An id, and each place plotly's SVG names or refers to one.
_ID = re.compile(r' id="([^"]+)"')
_ID_USE = re.compile(r"""( id="|url\((?:'|&quot;)?#|href="#)([^"')&]+)""")


def _prune(svg: str) -> str:
    """Drop the empty groups and paths plotly leaves in its SVG: over half its elements.

    They draw nothing, but WeasyPrint styles and walks each one (about 8 % of a report's PDF).
    """
    while True:
        shorter = _EMPTY.sub("", svg)
        if shorter == svg:
            return svg
        svg = shorter  # a group that held only empty groups is empty now


#: An empty group (``<g class="x"/>``, ``<g></g>``) or a path with no ``d`` to draw.
_EMPTY = re.compile(r'<g(?: [^>]*)?/>|<g(?: [^>]*)?></g>|<path(?: (?!d=)[a-z-]+="[^"]*")*/>')


def _with_viewbox(svg: str, width: int, height: int) -> str:
    """Add a viewBox so the SVG scales to the PDF column instead of being clipped."""
    start = svg.find("<svg")
    end = svg.find(">", start)
    if start < 0 or end < 0 or "viewBox" in svg[start:end]:
        return svg
    return f'{svg[:end]} viewBox="0 0 {width} {height}"{svg[end:]}'
