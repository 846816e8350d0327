"""Render reports to one self-contained HTML file, a print PDF (WeasyPrint) and the output index.

Here: the template context, the HTML page, the print job, its PDF (laid out in this process or
in worker processes: ``PdfRenderer``) and the index page. Output is deterministic: no
timestamps, no random ids. Beside it: ``templating`` (the Jinja environment, user templates
before the shipped ones, one-line template errors), ``rows`` (the context's plain values and
table rows), ``embed`` (chart entries, SVG data: URIs, the plotly.js bundle), ``fetcher``
(what a PDF may load) and ``pdf_jobs`` (a PDF job, a worker's warnings and errors).
"""

from __future__ import annotations

import gc
import logging
import multiprocessing
import os
import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from types import TracebackType
from typing import Any

import jinja2
from babel.numbers import get_decimal_symbol
from markupsafe import Markup

from reportgen import __version__, sections
from reportgen.errors import RenderError
from reportgen.model import ReportData
from reportgen.report import weasy
from reportgen.report.embed import PLOTLY_BUNDLE as PLOTLY_BUNDLE
from reportgen.report.embed import chart_entries, compact_svg, plotly_bundle, svg_uri
from reportgen.report.fetcher import safe_fetcher
from reportgen.report.pdf_jobs import LogCapture, PdfJob, relay, worker_died
from reportgen.report.rows import BASIS_LABELS as BASIS_LABELS
from reportgen.report.rows import (
    breakdown_rows,
    has_data,
    influencer_rows,
    kpi_cards,
    provenance_rows,
    records,
    table_info,
    window_info,
)
from reportgen.report.templating import ASSETS_DIR, make_environment, render_template, template_dirs
from reportgen.report.templating import TEMPLATES_DIR as TEMPLATES_DIR

logger = logging.getLogger(__name__)

GENERATOR = f"reportgen {__version__}"
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
    return {
        "title": preset.title,
        "description": preset.description or "",
        "preset": preset.name,
        "window": window_info(report.window, locale),
        "previous_window": window_info(report.previous_window, locale),
        "timezone": preset.timezone,
        "currency": preset.currency,
        "locale": locale,
        "lang": locale.split("_")[0],
        "filters": preset.filters.describe(),
        "has_data": has_data(report),
        "kpis": kpi_cards(report),
        "charts": chart_entries(figures, with_json=mode != "pdf"),
        **_long_tables(report, mode),  # influencers, engagement, tables
        "downloads": dict(CSV_FILES) if "csv" in preset.formats else {},
        "collapse": COLLAPSE_ROWS,
        "decimal": get_decimal_symbol(locale),
        "breakdowns": {
            dim: breakdown_rows(getattr(report, f"by_{dim}"), dim)
            for dim in ("brand", "category", "platform")
        },
        "daily": [
            {"date": str(r["date"]), "revenue": r["revenue"], "orders": r["orders"]}
            for r in records(report.daily)
        ],
        "top_by_revenue": influencer_rows(report.top_by_revenue, preset.currency, locale),
        "top_by_roas": influencer_rows(report.top_by_roas, preset.currency, locale),
        "headline": list(report.headline.get("sentences", [])),
        "compare_label": report.compare_label,
        "data_quality": [issue.as_dict() for issue in report.data_quality],
        "assumptions": [str(a) for a in report.assumptions],
        "provenance": provenance_rows(report.provenance),
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
        chart["svg"] = svg_uri(compact_svg((svgs or {}).get(key, "")))
    ctx["plotlyjs"] = Markup(plotly_bundle())  # noqa: S704 - vendored library code, not data
    return render_template(env, "report.html", ctx)


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
        chart["svg"] = svg_uri(svgs.get(key, ""))
    html = render_template(env, "report_print.html", ctx)
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
    worker (0.3-0.4 s each, see weasy.py), and the server serves every later build of the process
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
        # The server imports WeasyPrint once (0.3-0.4 s, see weasy.py) and every worker
        # forked from it starts with it loaded; it
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
            out.set_exception(worker_died(self._start_error))
            return out
        try:
            remote = self._pool.submit(_pdf_in_worker, job)
        except BrokenProcessPool as error:
            out.set_exception(worker_died(error))
            return out
        remote.add_done_callback(lambda done: relay(done, out))
        return out

    def result(self, future: Future[bytes]) -> bytes:
        """Return the PDF bytes of ``future`` once laid out; RenderError on any failure."""
        try:
            return future.result(timeout=PDF_TIMEOUT)
        except FutureTimeout:
            message = f"PDF rendering failed: a PDF took longer than {PDF_TIMEOUT:.0f} s"
            raise RenderError(message) from None


#: A page with the fonts, weights and glyphs a report uses: laid out while the worker waits
#: for its first PDF, which then does not pay for matching them. Measured 2026-12-02 (3 runs
#: each): the page takes 0.05-0.08 s and saves the first PDF 0.01-0.06 s, about even; it stays
#: because it runs while the worker would otherwise wait, early in the build.
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
    captured = LogCapture()
    root = logging.getLogger()
    root.addHandler(captured)
    try:
        return pdf_bytes(job), captured.records
    finally:
        root.removeHandler(captured)


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
    return render_template(env, "index.html", {"builds": rows, "generator": GENERATOR})


# --- context helpers -------------------------------------------------------------------------


def _long_tables(report: ReportData, mode: str) -> dict[str, Any]:
    """Return the payout and engagement rows to show, and what each table leaves out."""
    preset = report.preset
    influencers = influencer_rows(report.influencers, preset.currency, preset.locale)
    engagement = records(report.engagement)
    limit = _table_limit(preset.formats) if mode == "pdf" else None
    return {
        "influencers": influencers[:limit],
        "engagement": engagement[:limit],
        "tables": {
            "influencers": table_info("influencers", len(influencers), limit, preset.formats),
            "engagement": table_info("engagement", len(engagement), limit, preset.formats),
        },
    }


def _table_limit(formats: Iterable[str]) -> int | None:
    """Return how many rows the PDF's long tables show: all when nothing else holds them."""
    if PDF_TABLE_ROWS is None or not {"csv", "html"} & set(formats):
        return None
    return max(0, int(PDF_TABLE_ROWS))
