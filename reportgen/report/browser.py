"""The browser charts are drawn in: finding Chromium, and the kaleido session on it.

Kaleido 1.x drives a system Chromium, its headless shell when installed (see
``find_chromium``), with the plotly.js the HTML report inlines (``plotlyjs_path``). The
session (``KaleidoSession``) loads kaleido's page once and then reuses it, where kaleido
would reload it after every figure (why the reload is skipped: the ``export`` module's
docstring).

Skipping the reload means trusting the first page load, which kaleido does not check: on a
busy machine its tab could keep a JavaScript context without plotly.js ("kaleido_scopes is
not defined", 2 builds in 16). So the session checks, in the very context figures are sent
to, that the page has loaded, and loads it again if not (``KaleidoSession.wait_page``).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import kaleido
import plotly
from choreographer.browsers.chromium import Chromium
from kaleido._kaleido_tab import _devtools_utils as _devtools

logger = logging.getLogger(__name__)

#: Loads of kaleido's page a tab gets before the start fails, and seconds each may take.
PAGE_LOADS = 3
PAGE_LOAD_TIMEOUT = 15.0
#: What the render page must hold before a figure is sent to it: kaleido's render function
#: and plotly.js, run in the document the tab's stored JavaScript context belongs to.
_PAGE_STATE_JS = (
    "function(){return [document.URL, document.readyState,"
    " typeof kaleido_scopes, typeof Plotly].join(' ');}"
)


class KaleidoSession(kaleido.Kaleido):
    """A kaleido browser that checks its page is ready once, then reuses it without reloads."""

    async def open(self) -> None:
        """Start Chromium and wait until every tab runs kaleido's page with plotly.js loaded."""
        await super().open()
        tabs = [self.tabs_ready.get_nowait() for _ in range(self.tabs_ready.qsize())]
        for tab in tabs:
            await self.wait_page(tab)
            self.tabs_ready.put_nowait(tab)

    async def wait_page(self, tab: Any) -> None:
        """Wait until ``tab`` can render, loading kaleido's page again when it cannot."""
        # kaleido's navigate() takes the first JavaScript context Chromium reports after
        # Runtime.enable. On a busy machine that can be the blank start page's context, or the
        # page's own before its scripts ran: every figure then fails with "kaleido_scopes is
        # not defined" (2 builds in 16 under load). So check, in that very context.
        state = ""
        for attempt in range(PAGE_LOADS):
            if attempt:
                logger.info("chart page not ready (%s); loading it again", state)
                await asyncio.wait_for(tab.navigate(self._index), PAGE_LOAD_TIMEOUT)
            state = await self._page_state(tab, PAGE_LOAD_TIMEOUT)
            if state == "ready":
                return
        raise RuntimeError(f"the chart page did not become ready ({state})")

    async def _page_state(self, tab: Any, timeout: float) -> str:
        """Return "ready" once ``tab``'s context holds the loaded page, else what it holds."""
        # _current_js_id and exec_js_fn are kaleido 1.5 internals (the context and call its
        # own render uses); were they renamed, the start fails with a RenderError, not silently.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            reply = await _devtools.exec_js_fn(tab.tab, tab._current_js_id, _PAGE_STATE_JS)
            state = str(reply.get("result", {}).get("result", {}).get("value", reply))
            url, _, rest = state.partition(" ")
            if url == self._index and rest == "complete object object":
                return "ready"
            # Another document's context never turns into the page's: load the page again.
            if url != self._index or loop.time() > deadline:
                return state[:200]
            await asyncio.sleep(0.05)

    async def _return_kaleido_tab(self, tab: Any) -> None:
        # kaleido reloads here (~0.25 s); its render function keeps no state between figures,
        # and wait_page checked the page once. Should kaleido rename this hook, the override
        # goes unused and export is only slower.
        await self.tabs_ready.put(tab)


#: Chromium's headless shell (the old headless mode as its own binary, built for automation:
#: Debian's ``chromium-headless-shell``, Chrome for Testing's ``chrome-headless-shell``),
#: tried before a full browser. Same Blink, so the same SVGs (the default build's output was
#: byte-identical), but it starts fewer and lighter processes: Chromium's start took
#: 0.89-0.98 s against 1.34-1.53 s, and whole builds 0.85 of the wall time (farm-bench, 8
#: pairs, 2026-12-02).
HEADLESS_SHELLS = ("chromium-headless-shell", "chrome-headless-shell")


def find_chromium() -> str | None:
    """Return the browser to draw charts with: BROWSER_PATH, a headless shell, or Chromium."""
    override = os.environ.get("BROWSER_PATH")
    if override:
        return override if os.access(override, os.X_OK) else None
    for name in HEADLESS_SHELLS:
        shell = shutil.which(name)
        if shell is not None:
            return shell
    try:
        found = Chromium.find_browser(skip_local=False)
    except Exception:  # choreographer's search is best effort; a failure means "not found"
        logger.debug("browser search failed", exc_info=True)
        return None
    return found if found and Path(found).is_file() else None


def plotlyjs_path() -> str | None:
    """Return the plotly.js the HTML report inlines, so kaleido never falls back to its CDN copy.

    The vendored partial bundle (1.2 MB) parses in a quarter of the time of plotly.py's full
    one (4.8 MB), and the PDF's charts are drawn by the same code as the HTML's.
    """
    for path in (
        Path(__file__).parent.parent / "assets" / "plotly-basic.min.js",
        Path(plotly.__file__).parent / "package_data" / "plotly.min.js",
    ):
        if path.is_file():
            return str(path)
    return None
