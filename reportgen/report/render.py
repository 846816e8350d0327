"""Render reports to one self-contained HTML file, a print PDF (WeasyPrint) and the output index.

Templates are looked up first in the user's override folder (the project's ``templates/``),
then in the shipped ``reportgen/templates/``, so a user can replace one partial such as
``_kpis.html`` without copying the rest. Output is deterministic: no timestamps, no random ids.
"""

from __future__ import annotations

import gc
import json
import logging
import multiprocessing
import os
import re
import threading
import traceback
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit
from urllib.request import url2pathname

import jinja2
from babel.dates import format_date
from babel.numbers import get_decimal_symbol
from markupsafe import Markup

from reportgen import __version__, sections
from reportgen.errors import RenderError
from reportgen.metrics import kpis
from reportgen.model import ReportData, Window
from reportgen.report import fmt, weasy

if TYPE_CHECKING:  # the index page (all a reused build renders) needs neither
    import pandas as pd

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).parent.parent / "templates"
ASSETS_DIR = Path(__file__).parent.parent / "assets"
GENERATOR = f"reportgen {__version__}"
#: The plotly.js partial bundle report.html inlines: only the trace types our charts draw
#: (scatter, bar; 1.2 MB instead of the full 4.8 MB), of the version plotly.py targets.
PLOTLY_BUNDLE = "plotly-basic.min.js"

BASIS_LABELS = {
    "per_post": "Per post",
    "per_order": "Per order",
    "revenue_share": "Revenue share",
}
#: Rows of the payout and engagement tables the PDF shows, from the top in the tables' order
#: (payouts by revenue, engagement by reach); None shows every row. WeasyPrint takes 10-25 ms
#: a table row, so two 120-row tables cost 3-5 s per report; at 25 rows a report's PDF takes
#: about 1.5 s (measured: 30 rows cost about 0.15 s more per report, 20 rows no less). The
#: PDF says where the full table is; only when the build also writes the CSV or the HTML
#: report: a PDF-only build keeps every row. Tests monkeypatch this.
PDF_TABLE_ROWS: int | None = 25
#: Rows a long table of the HTML report shows until the reader asks for all of them: a phone
#: scrolls past 110 payout rows for about 6,000 px. Every row stays in the file.
COLLAPSE_ROWS = 10
#: The CSV file (see summary.csv_tables) holding the rows of each HTML table, by key.
CSV_FILES = {
    "influencers": "payouts.csv",
    "engagement": "engagement.csv",
    "daily": "daily.csv",
    "by_brand": "by_brand.csv",
    "by_category": "by_category.csv",
    "by_platform": "by_platform.csv",
    "data_quality": "data_quality.csv",
}
#: Processes that lay out PDFs side by side: WeasyPrint is CPU-bound Python, one core each.
PDF_WORKERS = 2
#: Seconds one PDF may take before the build gives up on it (a report takes 1-3 s).
PDF_TIMEOUT = 600.0
#: Where each limited table can be read in full, by the output format that holds it.
_FULL_TABLES = {
    "influencers": {"csv": "payouts.csv", "html": "the HTML report (report.html)"},
    "engagement": {"csv": "engagement.csv", "html": "the HTML report (report.html)"},
}


def make_environment(user_dir: Path | None = None) -> jinja2.Environment:
    """Return the Jinja environment: user overrides before shipped templates, autoescaped."""
    loaders: list[jinja2.BaseLoader] = []
    if user_dir is not None and Path(user_dir).is_dir():
        loaders.append(jinja2.FileSystemLoader(str(Path(user_dir).resolve())))
    elif user_dir is not None:
        logger.debug("no template override folder %s; using the shipped templates", user_dir)
    loaders.append(jinja2.FileSystemLoader(str(TEMPLATES_DIR)))
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(["html", "xml"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    fmt.register(env)
    return env


def template_dirs(env: jinja2.Environment) -> list[Path]:
    """Return the folders ``env`` loads templates from, overrides first."""
    loader = env.loader
    loaders = loader.loaders if isinstance(loader, jinja2.ChoiceLoader) else [loader]
    dirs: list[Path] = []
    for item in loaders:
        if isinstance(item, jinja2.FileSystemLoader):
            dirs.extend(Path(p) for p in item.searchpath)
    return dirs


def context(report: ReportData, figures: Mapping[str, Any], mode: str = "html") -> dict[str, Any]:
    """Return the template context of one report, for ``mode`` "html" or "pdf".

    Keys (values are plain data; NaN and NA become None; templates format numbers with the
    ``money``, ``count``, ``pct`` and ``ratio`` filters, and print text from data through
    ``clip``: at most 80 characters, a clipped value keeping its start in a ``title`` tooltip):

    - ``title``: the preset's title.
    - ``description``: the preset's description paragraph ("" when none).
    - ``preset``: the preset's name.
    - ``window``: the report window: {start, end (ISO dates), label (ISO range), text
      (e.g. "1 Jul 2025 – 30 Jul 2025"), days}.
    - ``previous_window``: the comparison window, same shape as ``window``.
    - ``timezone``: IANA timezone of the calendar days.
    - ``currency``: ISO 4217 code of money columns.
    - ``locale``: number-formatting locale, e.g. "en_IN".
    - ``lang``: the HTML ``lang`` attribute, e.g. "en".
    - ``filters``: the filters applied, one line ("brands: MuscleBlaze; all categories; ...").
    - ``has_data``: False when the window holds no tracked order or post.
    - ``kpis``: list of KPI cards in display order: {key, label, kind, value, previous, change,
      value_text, previous_text, change_text, direction ("up", "down", "flat" or None), arrow,
      tone ("good", "bad" or "neutral"), note}.
    - ``charts``: chart key -> {key, id (stable DOM id), title, caption, height, json (figure
      JSON, safe inside <script>; HTML only, else ""), svg (data: URI of the static SVG; "" when none
      was exported)}.
    - ``overview``: True when the preset lists the overview section (today's report body).
    - ``sections``: the preset's other sections in order (reportgen/sections): {name, title,
      template (partial), reason (why it could not be done, or None), ...its own keys}.
    - ``influencers``: payout table rows: {influencer_id, name, category, platform, basis,
      basis_label, rate, rate_text, posts, orders, revenue, payout, roas, profitable}.
    - ``engagement``: engagement table rows: {influencer_id, name, platform, posts, reach,
      likes, comments, engagement_rate, cpm, cpe}.
    - ``tables``: {"influencers", "engagement"} -> {shown, total, more (total - shown),
      elsewhere (where the full table is, e.g. "payouts.csv and the HTML report
      (report.html)"; "" when every row is shown)}. The PDF shows the top ``PDF_TABLE_ROWS``
      rows of each; ``influencers`` and ``engagement`` hold only the rows shown.
    - ``downloads``: table or chart key ("influencers", "engagement", "daily", "by_brand",
      "by_category", "by_platform", "data_quality") -> the CSV file beside the report that
      holds the same rows; empty when the preset writes no CSV.
    - ``decimal``: the locale's decimal mark ("." for en_IN), for sorting tables by number.
    - ``collapse``: rows a long HTML table shows before "Show all" (the rest one tap away).
    - ``breakdowns``: {"brand", "category", "platform"} -> rows {name, revenue, orders, share}.
    - ``daily``: one row per day of the window: {date (ISO), revenue, orders}.
    - ``top_by_revenue``, ``top_by_roas``: the top-N rows, shaped like ``influencers``.
    - ``headline``: the headline's sentences (reportgen/metrics/headline.py).
    - ``compare_label``: what the comparison window is, e.g. "October 2026".
    - ``data_quality``: findings: {code, severity, message, table, file, rows, revenue,
      examples}.
    - ``assumptions``: list of sentences describing how the numbers were computed.
    - ``provenance``: list of {key, value} pairs (value as display text) for the footer.
    - ``generator``: "reportgen <version>".
    - ``mode``: "html" or "pdf": which output the context is rendered into.
    - ``plotlyjs``: plotly.js source to inline once (HTML only, else "").
    """
    preset = report.preset
    locale = preset.locale
    influencers = _influencer_rows(report.influencers, preset.currency, locale)
    engagement = _records(report.engagement)
    limit = _table_limit(preset.formats) if mode == "pdf" else None
    return {
        "title": preset.title,
        "description": preset.description or "",
        "preset": preset.name,
        "window": _window(report.window, locale),
        "previous_window": _window(report.previous_window, locale),
        "timezone": preset.timezone,
        "currency": preset.currency,
        "locale": locale,
        "lang": locale.split("_")[0],
        "filters": preset.filters.describe(),
        "has_data": _has_data(report),
        "kpis": _kpis(report),
        "charts": _charts(figures, with_json=mode != "pdf"),
        "influencers": influencers[:limit],
        "engagement": engagement[:limit],
        "tables": {
            "influencers": _table_info("influencers", len(influencers), limit, preset.formats),
            "engagement": _table_info("engagement", len(engagement), limit, preset.formats),
        },
        "downloads": dict(CSV_FILES) if "csv" in preset.formats else {},
        "collapse": COLLAPSE_ROWS,
        "decimal": get_decimal_symbol(locale),
        "breakdowns": {
            dim: _breakdown_rows(getattr(report, f"by_{dim}"), dim)
            for dim in ("brand", "category", "platform")
        },
        "daily": [
            {"date": str(r["date"]), "revenue": r["revenue"], "orders": r["orders"]}
            for r in _records(report.daily)
        ],
        "top_by_revenue": _influencer_rows(report.top_by_revenue, preset.currency, locale),
        "top_by_roas": _influencer_rows(report.top_by_roas, preset.currency, locale),
        "headline": list(report.headline.get("sentences", [])),
        "compare_label": report.compare_label,
        "data_quality": [issue.as_dict() for issue in report.data_quality],
        "assumptions": [str(a) for a in report.assumptions],
        "provenance": _provenance(report.provenance),
        "generator": GENERATOR,
        "mode": mode,
        "plotlyjs": "",
        **sections.template_context(report),  # overview shown?, listed sections
    }


def render_html(
    report: ReportData,
    figures: Mapping[str, Any],
    env: jinja2.Environment | None = None,
    svgs: Mapping[str, str] | None = None,
) -> str:
    """Return the interactive report: one self-contained HTML file with plotly.js inlined once.

    ``svgs`` (chart key -> SVG text) are shown where no script runs and on paper; the
    script swaps each for its interactive chart.
    """
    env = env or make_environment(None)
    ctx = context(report, figures)
    for key, chart in ctx["charts"].items():
        chart["svg"] = _svg_uri(compact_svg((svgs or {}).get(key, "")))
    ctx["plotlyjs"] = Markup(plotly_bundle())  # noqa: S704 - vendored library code, not data
    return _render(env, "report.html", ctx)


@lru_cache(maxsize=1)
def plotly_bundle() -> str:
    """Return the vendored plotly.js partial bundle (see scripts/update-plotly-bundle.sh)."""
    text = (ASSETS_DIR / PLOTLY_BUNDLE).read_text(encoding="utf-8")
    # Inlined in a <script> element, which this text would end early.
    if "</script" in text.lower():
        raise RenderError(f"{PLOTLY_BUNDLE} contains '</script' and cannot be inlined")
    return text


def render_pdf(
    report: ReportData,
    svgs: Mapping[str, str],
    env: jinja2.Environment | None = None,
    base_dir: Path | None = None,
    *,
    figures: Mapping[str, Any] | None = None,
) -> bytes:
    """Return the print report as PDF bytes: A4, running header, page X of Y, static charts.

    ``figures`` supplies chart titles and captions; without it they are rebuilt from
    ``report``. Only files under the template folders and ``base_dir`` may be loaded.
    """
    return pdf_bytes(print_job(report, svgs, env, base_dir, figures=figures))


@dataclass(frozen=True)
class PdfJob:
    """A print page ready for WeasyPrint: its HTML, base folder and the folders it may read."""

    html: str
    base: str
    allowed: tuple[str, ...]


def print_job(
    report: ReportData,
    svgs: Mapping[str, str],
    env: jinja2.Environment | None = None,
    base_dir: Path | None = None,
    *,
    figures: Mapping[str, Any] | None = None,
) -> PdfJob:
    """Return the print page of ``report`` with its chart SVGs, to lay out with ``pdf_bytes``."""
    from reportgen.report import charts  # plotly: imported by what draws a report, not the index

    env = env or make_environment(None)
    figures = figures if figures is not None else charts.build_figures(report)
    ctx = context(report, figures, mode="pdf")
    for key, chart in ctx["charts"].items():
        chart["svg"] = _svg_uri(svgs.get(key, ""))
    html = _render(env, "report_print.html", ctx)
    dirs = template_dirs(env)
    base = Path(base_dir) if base_dir is not None else dirs[0]
    allowed = tuple(str(d) for d in (*dirs, ASSETS_DIR, base))
    return PdfJob(html=html, base=str(base), allowed=allowed)


def pdf_bytes(job: PdfJob) -> bytes:
    """Lay out ``job`` with WeasyPrint and return the PDF; raise RenderError when it fails."""
    weasyprint = weasy.load()
    fetcher = safe_fetcher([Path(d) for d in job.allowed])
    try:
        document = weasyprint.HTML(string=job.html, base_url=job.base + "/", url_fetcher=fetcher)
        # Tagged: a screen reader gets headings, tables and the charts' alt text in order.
        return document.write_pdf(font_config=_font_config(), pdf_tags=True)
    except Exception as exc:
        raise RenderError(f"PDF rendering failed: {type(exc).__name__}: {exc}") from exc


#: How PDF worker processes start, unless PdfRenderer is told: "fork" (from the build's
#: process) or "forkserver". The command line sets "forkserver" for itself: see PdfRenderer.
START_ENV = "REPORTGEN_PDF_START"
START_METHODS = ("fork", "forkserver")


class PdfRenderer:
    """Lay out PDFs in ``PDF_WORKERS`` worker processes, or in this thread when one is due.

    Use as ``with PdfRenderer(expected=4) as pdfs: pdf = pdfs.result(pdfs.submit(job))``;
    ``result`` returns the PDF bytes or raises RenderError (one line, also when a worker
    dies or takes longer than ``PDF_TIMEOUT``). Warnings logged while a worker lays out a PDF
    are logged again in this process.

    The workers are forked from this process (``start_method="fork"``, the default), or come
    from a fork server (``"forkserver"``): there WeasyPrint is imported once, not once per
    worker (about 0.8 s of CPU each), and the server serves every later build of the process
    warm. But multiprocessing imports the program's main module again in each worker from a
    server, so only an entry point whose main module does nothing on import (``if __name__ ==
    "__main__":``) may choose it; reportgen's command line does, through ``REPORTGEN_PDF_START``.
    """

    def __init__(
        self, expected: int, workers: int | None = None, start_method: str | None = None
    ) -> None:
        """Plan for ``expected`` PDFs; the workers start on ``__enter__``."""
        wanted = PDF_WORKERS if workers is None else workers
        self.workers = max(1, min(wanted, expected))
        method = start_method or os.environ.get(START_ENV) or "fork"
        if method not in START_METHODS:
            logger.warning(
                "%s=%s: not one of %s; forking the PDF workers",
                START_ENV,
                method,
                ", ".join(START_METHODS),
            )
            method = "fork"
        self.start_method = method
        self._pool: ProcessPoolExecutor | None = None
        self._starting: threading.Thread | None = None
        self._start_error: Exception | None = None

    def __enter__(self) -> PdfRenderer:
        """Start the worker processes; they load WeasyPrint and fonts meanwhile."""
        if self.workers < 2:
            return self
        try:
            pool = (
                self._fork_server_pool()
                if self.start_method == "forkserver"
                else self._forked_pool()
            )
        except (ValueError, OSError) as error:  # no fork here, or out of processes
            logger.warning("PDFs are laid out one by one: no worker processes (%s)", error)
            return self
        self._pool = pool
        return self

    def _forked_pool(self) -> ProcessPoolExecutor:
        """Fork the workers from this process; each imports WeasyPrint itself."""
        # The workers inherit every module already imported, and a script calling build()
        # is not run again in each worker. Enter before starting threads of your own, so
        # that no thread can hold a lock the children copy.
        pool = ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("fork"))
        # Frozen objects are skipped by the workers' garbage collector: it would walk every
        # object of this process (DuckDB, pandas, plotly) and copy its pages.
        gc.freeze()
        try:
            for _ in range(self.workers):
                pool.submit(_warm_up)  # with fork, the first submit starts every worker
        finally:
            gc.unfreeze()
        return pool

    def _fork_server_pool(self) -> ProcessPoolExecutor:
        """Start the workers from a fork server that has imported WeasyPrint, in the background."""
        # The server imports WeasyPrint once (about a second, most of it cffi reading
        # Pango's declarations) and every worker forked from it starts with it loaded; it
        # lives as long as this process, so the scheduler's later builds start warm. Each
        # worker imports this process's main module again: see the class's docstring.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__package__ + ".pdf_server"])
        pool = ProcessPoolExecutor(self.workers, mp_context=context)
        # A worker starts once the server has imported WeasyPrint: wait for that on a thread,
        # not here, so the build goes on loading and computing meanwhile.
        self._starting = threading.Thread(
            target=self._start, args=(pool,), name="pdf-workers", daemon=True
        )
        self._starting.start()
        return pool

    def _start(self, pool: ProcessPoolExecutor) -> None:
        """Start every worker (each submit starts one while none is idle) and warm its fonts."""
        try:
            for _ in range(self.workers):
                pool.submit(_warm_up)
        except Exception as error:  # reported when a PDF is submitted
            self._start_error = error

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the workers; on an error, drop the PDFs not started and stop the rest."""
        if self._starting is not None:
            self._starting.join()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        if exc is None:
            pool.shutdown(wait=True)
            return
        # A failed build (or a worker that hangs) must not keep the caller waiting.
        workers = list(getattr(pool, "_processes", {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for process in workers:
            if process.is_alive():
                process.terminate()

    def submit(self, job: PdfJob) -> Future[bytes]:
        """Start laying out ``job`` and return the future of its PDF bytes."""
        out: Future[bytes] = Future()
        if self._pool is None:
            try:
                out.set_result(pdf_bytes(job))
            except RenderError as error:
                out.set_exception(error)
            return out
        if self._starting is not None:
            self._starting.join()
        if self._start_error is not None:
            out.set_exception(_worker_died(self._start_error))
            return out
        try:
            remote = self._pool.submit(_pdf_in_worker, job)
        except BrokenProcessPool as error:
            out.set_exception(_worker_died(error))
            return out
        remote.add_done_callback(lambda done: _relay(done, out))
        return out

    def result(self, future: Future[bytes]) -> bytes:
        """Return the PDF bytes of ``future`` once laid out; RenderError on any failure."""
        try:
            return future.result(timeout=PDF_TIMEOUT)
        except FutureTimeout:
            message = f"PDF rendering failed: a PDF took longer than {PDF_TIMEOUT:.0f} s"
            raise RenderError(message) from None


#: A page with the fonts, weights and glyphs a report uses: laid out while the worker waits
#: for its first PDF, which then does not pay for matching them (about 0.3 s).
_WARM_UP_PAGE = (
    "<style>@page { @bottom-right { content: counter(page) } }"
    ' html { font: 9pt "Liberation Sans", "DejaVu Sans", sans-serif }</style>'
    "<h1>Warm</h1><p><b>₹1,23,456</b> <i>up</i> ▲ ▼ 1.50x – “q” 12%</p>"
    "<table><tr><th>a</th><td>1</td></tr></table>"
)


def _warm_up() -> None:
    """Load WeasyPrint and fonts in a new worker process, so its first PDF does not pay."""
    weasyprint = weasy.load()
    weasyprint.HTML(string=_WARM_UP_PAGE).write_pdf(font_config=_font_config())
    gc.freeze()  # modules and fonts live as long as the worker: no need to scan them again


def _pdf_in_worker(job: PdfJob) -> tuple[bytes, list[tuple[str, int, str]]]:
    """Return the PDF of ``job`` and the warnings logged meanwhile (runs in a worker)."""
    # The cyclic collector would walk WeasyPrint's growing box trees over and over (10-20 %
    # of a PDF's time). A worker only lays out PDFs: collect the previous PDF's garbage
    # once, then leave the collector off for this one (about 25 MB of garbage a report).
    gc.collect()
    gc.disable()
    captured = _Captured()
    root = logging.getLogger()
    root.addHandler(captured)
    try:
        return pdf_bytes(job), captured.records
    finally:
        root.removeHandler(captured)


class _Captured(logging.Handler):
    """Collect log records as (logger, level, message) to send back to the build process."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))


def _relay(done: Future[Any], out: Future[bytes]) -> None:
    """Pass a worker's result to ``out`` and log its warnings in this process."""
    try:
        data, records = done.result()
    except RenderError as error:
        # Drop the remote traceback: the user sees one line, as for a PDF laid out here.
        out.set_exception(RenderError(str(error)))
        return
    except BrokenProcessPool as error:
        out.set_exception(_worker_died(error))
        return
    except BaseException as error:  # an unexpected bug in the worker: keep its traceback
        out.set_exception(error)
        return
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
    out.set_result(data)


def _worker_died(error: BaseException) -> RenderError:
    return RenderError(f"PDF rendering failed: a worker process died ({error})")


_fonts = threading.local()


def _font_config() -> Any:
    """Return this thread's WeasyPrint font configuration, shared by its documents.

    A new one per document starts font matching cold (about 0.3 s a report); the PDFs are
    byte-identical either way. One per thread because a Pango font map is not thread-safe.
    """
    config = getattr(_fonts, "config", None)
    if config is None:
        weasy.load()
        from weasyprint.text.fonts import FontConfiguration

        config = _fonts.config = FontConfiguration()
    return config


def render_index(builds: Iterable[Mapping[str, Any]], env: jinja2.Environment | None = None) -> str:
    """Return the output index page listing every build (newest first as given)."""
    env = env or make_environment(None)
    rows = [dict(b) for b in builds]
    return _render(env, "index.html", {"builds": rows, "generator": GENERATOR})


def _render(env: jinja2.Environment, name: str, ctx: dict[str, Any]) -> str:
    """Render template ``name``; template mistakes become one-line RenderErrors with file:line."""
    try:
        return env.get_template(name).render(ctx)
    except jinja2.TemplateSyntaxError as exc:
        where = f"{exc.filename or exc.name or name}:{exc.lineno}"
        raise RenderError(f"template {where}: {exc.message}") from None
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"template {exc.name} not found in {_dirs_text(env)}") from None
    except jinja2.TemplateError as exc:
        raise RenderError(f"template {_template_frame(exc) or name}: {exc}") from None


def _dirs_text(env: jinja2.Environment) -> str:
    return ", ".join(str(d) for d in template_dirs(env))


def _template_frame(exc: BaseException) -> str | None:
    """Return "file:line" of the innermost template frame of ``exc``'s traceback."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if not frame.filename.endswith(".py"):
            return f"{frame.filename}:{frame.lineno}"
    return None


@lru_cache(maxsize=1)
def _safe_fetcher_class() -> type:
    """Return the fetcher class; built on first use because weasyprint takes 1.5 s to import."""
    weasy.load()
    import weasyprint  # loaded just above: this only names it

    class SafeFetcher(weasyprint.URLFetcher):
        """Fetch only data: URIs and files under the allowed folders; refuse everything else."""

        def __init__(self, allowed: Iterable[Path]) -> None:
            super().__init__(allowed_protocols=("file", "data"), allow_redirects=False, timeout=5)
            self.allowed = [Path(p).resolve() for p in allowed]

        def fetch(self, url: str, headers: Any = None) -> Any:
            if self.permits(url):
                return super().fetch(url, headers)
            # WeasyPrint turns this into a "failed to load" warning and renders without it.
            logger.warning("refused to fetch %s while rendering the PDF", url[:200])
            raise ValueError(f"reportgen refuses to fetch {url[:200]}")

        def permits(self, url: str) -> bool:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "data":
                return True
            if scheme != "file" or parts.netloc not in ("", "localhost"):
                return False
            path = Path(url2pathname(parts.path)).resolve()
            return any(path.is_relative_to(d) for d in self.allowed)

    return SafeFetcher


def safe_fetcher(allowed: Iterable[Path]) -> Any:
    """Return a WeasyPrint URL fetcher limited to data: URIs and files under ``allowed``."""
    return _safe_fetcher_class()(allowed)


# --- context helpers -------------------------------------------------------------------------


def _window(window: Window, locale: str) -> dict[str, Any]:
    def day(d: date) -> str:
        return format_date(d, "d MMM y", locale=locale)

    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "label": window.label(),
        "text": f"{day(window.start)} – {day(window.end)}",
        "days": window.days,
    }


def _has_data(report: ReportData) -> bool:
    try:
        return bool(report.has_data)
    except (KeyError, AttributeError):
        return not report.influencers.empty


def _kpis(report: ReportData) -> list[dict[str, Any]]:
    # One spec and one formatter (reportgen/metrics/kpis.py): the email shows the same texts.
    return kpis.cards(report.kpis, report.preset.currency, report.preset.locale)


def _charts(figures: Mapping[str, Any], *, with_json: bool = True) -> dict[str, dict[str, Any]]:
    from reportgen.report import charts

    out = {}
    for key, fig in figures.items():
        info = charts.meta(fig)
        # The PDF draws the exported SVG; serialising the figure for it would be wasted work.
        text = _script_json(fig.to_json()) if with_json else ""
        out[key] = {
            "key": key,
            "id": f"chart-{_slug(key)}",
            "title": info["title"],
            "caption": info["caption"],
            "height": int(fig.layout.height or 360),
            "json": Markup(text),  # noqa: S704 - escaped for <script>
            "svg": "",
        }
    return out


def _table_limit(formats: Iterable[str]) -> int | None:
    """Return how many rows the PDF's long tables show: all when nothing else holds them."""
    if PDF_TABLE_ROWS is None or not {"csv", "html"} & set(formats):
        return None
    return max(0, int(PDF_TABLE_ROWS))


def _table_info(
    table: str, total: int, limit: int | None, formats: Iterable[str]
) -> dict[str, Any]:
    shown = total if limit is None else min(total, limit)
    where = [place for fmt_, place in _FULL_TABLES[table].items() if fmt_ in set(formats)]
    return {
        "shown": shown,
        "total": total,
        "more": total - shown,
        "elsewhere": " and ".join(where) if shown < total else "",
    }


def _slug(key: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in str(key)).strip("-").lower() or "chart"


def _script_json(text: str) -> str:
    """Return JSON that cannot close or comment out the <script> element holding it."""
    # "<", ">" and "&" only occur inside JSON strings, where \\u escapes mean the same text.
    for raw, escaped in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, escaped)
    return text


def compact_svg(svg: str) -> str:
    """Return a plotly SVG with its font stack stated once on the root, not on every text.

    plotly repeats the 130-character font stack in each text's style: a quarter of a chart.
    A presentation attribute on the root is inherited by every text that has no font-family.
    """
    families = _FONT_FAMILY.findall(svg)
    if not families or len(set(families)) > 1:
        return svg  # several fonts: leave them where they are
    body = _FONT_FAMILY.sub("", svg)
    # Classes style nothing in an <img>; decimals past the hundredth of a pixel show nothing.
    body = _CLASS.sub("", body).replace(' style=""', "")
    body = _GEOMETRY.sub(lambda m: _DECIMALS.sub(r"\1", m.group(0)), body)
    family = families[0].replace('"', "'")
    return body.replace("<svg ", f'<svg font-family="{family}" ', 1)


_CLASS = re.compile(r' class="[^"]*"')
#: Attributes that hold only coordinates, never text, and a number with over two decimals.
_GEOMETRY = re.compile(r' (?:transform|d|x|y|x1|x2|y1|y2|width|height|points|cx|cy|r)="[^"]*"')
_DECIMALS = re.compile(r"(\d\.\d\d)\d+")
#: A font-family declaration inside a style attribute of plotly's SVG.
_FONT_FAMILY = re.compile(r"font-family: ([^;\"]*);\s?")


def _svg_uri(svg: str) -> Markup:
    """Return ``svg`` as a data: URI, percent-encoded: a sixth smaller than base64 for SVG.

    Quotes, ``<``, ``>`` and ``&`` are encoded, so the URI is safe in any attribute as is.
    """
    if not svg:
        return Markup("")
    uri = "data:image/svg+xml;charset=utf-8," + quote(svg, safe=_URI_SAFE)
    return Markup(uri)  # noqa: S704 - percent-encoded: holds no quote, <, > or &


#: Characters left as they are in a data: URI's text: the rest are percent-encoded.
_URI_SAFE = " /=:;,.()-_!*~@$?+"


def _clean(value: Any, isna: Callable[[Any], Any]) -> Any:
    """Return ``value`` with NaN/NA/NaT as None and numpy scalars as Python numbers."""
    if value is None:
        return None
    try:
        if isna(value):
            return None
    except (TypeError, ValueError):
        return value
    if hasattr(value, "item"):
        return value.item()
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    from pandas import isna

    columns = [str(c) for c in frame.columns]
    return [
        {col: _clean(v, isna) for col, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _influencer_rows(frame: pd.DataFrame, currency: str, locale: str) -> list[dict[str, Any]]:
    rows = _records(frame)
    for row in rows:
        basis = row.get("basis")
        row["basis_label"] = BASIS_LABELS.get(str(basis), "n/a" if basis is None else str(basis))
        row["rate_text"] = _rate_text(basis, row.get("rate"), currency, locale)
    return rows


def _rate_text(basis: Any, rate: Any, currency: str, locale: str) -> str:
    if rate is None:
        return fmt.NA
    if basis == "revenue_share":
        return f"{fmt.pct(rate, signed=False)} of revenue"
    unit = {"per_post": " / post", "per_order": " / order"}.get(str(basis), "")
    return fmt.money(rate, currency, locale) + unit


def _breakdown_rows(frame: pd.DataFrame, dimension: str) -> list[dict[str, Any]]:
    return [
        {
            "name": row.get(dimension),
            "revenue": row.get("revenue"),
            "orders": row.get("orders"),
            "share": row.get("share"),
        }
        for row in _records(frame)
    ]


def _provenance(provenance: Mapping[str, Any]) -> list[dict[str, str]]:
    out = []
    for key, value in provenance.items():
        if isinstance(value, Mapping | list | tuple):
            text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
        else:
            text = "" if value is None else str(value)
        out.append({"key": str(key), "value": text})
    return out
