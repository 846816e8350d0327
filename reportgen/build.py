"""Build: the pipeline, top to bottom. Compute every report first, then write them all.

    config -> sources -> metrics -> charts -> render (HTML, PDF) -> publish -> (deliver)

Nothing is written until every selected report has rendered, so a failure in any of them
leaves all previous output untouched.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen import reuse, sections, sources
from reportgen.config import Config, Preset
from reportgen.model import ReportData, Window
from reportgen.report import publish
from reportgen.windows import default_as_of

if TYPE_CHECKING:  # annotations only: imported when a build renders
    from concurrent.futures import Future, ThreadPoolExecutor

    import jinja2

logger = logging.getLogger(__name__)


@dataclass
class PresetOutput:
    """One finished report: where it went and what it says."""

    preset: Preset
    group: str | None
    window: Window
    as_of: date
    directory: Path
    files: dict[str, Path]
    summary: dict[str, Any]
    report: ReportData | None  # None for a build read back from disk (no recompute)


@dataclass
class Timings:
    """Seconds spent per stage, for the progress display and the benchmark."""

    stages: dict[str, float] = field(default_factory=dict)
    #: Told the name of each stage as it starts (the terminal's progress display).
    listener: Callable[[str], None] | None = field(default=None, repr=False)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time a stage and add it to the totals."""
        if self.listener is not None:
            self.listener(name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.stages[name] = self.stages.get(name, 0.0) + time.perf_counter() - t0


def build(
    config: Config,
    *,
    presets: list[str] | None = None,
    as_of: date | None = None,
    progress: bool = False,
    data_dir: Path | str | None = None,
    extra: list[Preset] | None = None,
    output_dir: Path | None = None,
    timings: Timings | None = None,
    force: bool = False,
) -> list[PresetOutput]:
    """Build the selected presets (all by default) and publish them into output/.

    A report whose data, config and as-of date are unchanged since its last build is reused
    as it is (see reportgen/reuse.py) unless ``force`` is set.
    """
    timings = timings or Timings()
    jobs = expand(extra if extra is not None else config.select(presets))
    out_root = output_dir or config.output_dir
    publish.check_writable(out_root)  # before the work, not after it
    for job in jobs:
        publish.check_latest(out_root / job.name)

    days = [as_of or default_as_of(p.timezone) for p in jobs]
    pairs = list(zip(jobs, days, strict=True))
    done: dict[int, PresetOutput] = {}
    if not force:
        # Cheap: stat only. Whether the bytes are the same is known once the load read them.
        with timings.stage("reuse check"):
            fast = reuse.stat_keys(config, pairs, data_dir)
            done = _reusable(out_root, pairs, {i: {"stat_key": k} for i, k in enumerate(fast)})
    todo = [i for i in range(len(jobs)) if i not in done]
    if todo:
        # Ibis and pandas first (about 0.8 s, on a core of their own), not needed to reuse;
        # then the PDF workers and Chromium start: they load WeasyPrint and plotly.js on the
        # other core while this process loads and computes.
        import ibis.backends.duckdb  # noqa: F401  (the build's own store, where sources land)

        from reportgen.metrics import engine  # noqa: F401

        with Renderers([jobs[i] for i in todo], timings, progress) as renderers:
            todo = _build_due(config, pairs, todo, done, renderers, out_root, data_dir, force)
    reused = [i for i in range(len(jobs)) if i not in todo]
    if reused:
        # Reused builds are not rewritten, but what points at them is: a `latest` link or an
        # index entry removed since comes back, as a rebuild would bring it back.
        with timings.stage("publish"), publish.writing(out_root):
            for i in reused:
                publish.point_latest(done[i].directory.parent, done[i].directory.name)
            refresh_index(config, out_root)
    return [done[i] for i in range(len(jobs))]


def _build_due(
    config: Config,
    pairs: list[tuple[Preset, date]],
    todo: list[int],
    done: dict[int, PresetOutput],
    renderers: Renderers,
    out_root: Path,
    data_dir: Path | str | None,
    force: bool,
) -> list[int]:
    """Load, compute, render and publish the jobs ``todo``; return those really built.

    Fills ``done`` with every job's output, the built ones and those found unchanged once the
    load has hashed the data.
    """
    from reportgen.metrics import engine as metrics  # Ibis (about 1 s): not needed to reuse

    timings = renderers.timings
    with timings.stage("load"):
        ds = sources.open_dataset(config, data_dir=data_dir)
        engine = metrics.Engine(ds)
    # The keys stored with the builds come from the bytes this load read and hashed.
    keys = dict(zip(todo, reuse.loaded_keys(config, [pairs[i] for i in todo], ds), strict=True))
    if not force:
        # Same bytes under a new stat (touched, copied): reused, and left unwritten.
        loaded = {i: {"key": k[0]} for i, k in keys.items() if k is not None}
        done |= _reusable(out_root, pairs, loaded)
        todo = [i for i in todo if i not in done]
    if not todo:
        return todo
    with timings.stage("compute"):
        reports = metrics.compute_all(
            engine, [(p, p.window_for(d), d) for p, d in (pairs[i] for i in todo)]
        )
        for r in reports:
            r.sections = sections.compute(r, ds)
    for r in reports:
        _say(renderers.progress, f"computed {r.preset.name} ({r.window.label()})")
    rendered = render_all(config, reports, renderers)
    with timings.stage("publish"), publish.writing(out_root):
        info = config_info(config)
        for i, report, files in zip(todo, reports, rendered, strict=True):
            key = keys[i]
            if key is not None:  # a PostgreSQL build has no key: it is never reused
                names = [*files, "summary.json"]
                files = {**files, reuse.KEY_FILE: reuse.key_file(*key, names)}
            done[i] = _publish(out_root, report, files, info)
            _say(renderers.progress, f"wrote {done[i].directory}")
        refresh_index(config, out_root)
    return todo


def _reusable(
    out_root: Path, pairs: list[tuple[Preset, date]], keys: Mapping[int, Mapping[str, str | None]]
) -> dict[int, PresetOutput]:
    """Return the jobs whose previous build matches ``keys[i]``, read back from disk."""
    found = {}
    for i, key in keys.items():
        if not any(key.values()):
            continue
        preset, day = pairs[i]
        directory = out_root / preset.name / day.isoformat()
        prev = reuse.previous(directory, **key)
        if prev is None:
            continue
        files = _named({p.name: p for p in prev["files"]})
        window = preset.window_for(day)
        found[i] = PresetOutput(
            preset, preset.group, window, day, directory, files, prev["summary"], None
        )
        reuse.say_reused(preset.name, day, prev["built"])
    return found


def _named(written: dict[str, Path]) -> dict[str, Path]:
    """Return a build's report files keyed html, pdf, summary and csv:<table>."""
    keys = {"report.html": "html", "report.pdf": "pdf", "summary.json": "summary"}
    return {
        keys.get(n, f"csv:{n.removesuffix('.csv')}"): p
        for n, p in written.items()
        if n in keys or n.endswith(".csv")
    }


def expand(presets: list[Preset]) -> list[Preset]:
    """Return the presets to build, with fanned-out groups as presets of their own."""
    jobs = []
    for p in presets:
        if not p.groups:
            jobs.append(p)
            continue
        for g in p.groups:
            jobs.append(
                dataclasses.replace(
                    p,
                    name=f"{p.name}.{g.name}",
                    title=f"{p.title} — {g.name}",
                    filters=g.filters,
                    to=g.to,
                    cc=g.cc,
                    bcc=g.bcc,
                    groups=(),
                    group=g.name,
                )
            )
    return jobs


class Renderers:
    """The PDF worker processes and the Chromium a build renders with, started early.

    Entered before the data loads, so both warm up (WeasyPrint and fonts; plotly.js) on the
    other core meanwhile. Enter it before any thread of the build starts (no DuckDB connection
    yet, no Chromium): forked workers then copy no thread's locks. ``start_browser`` starts
    Chromium in the background; a failure to start is raised when the charts need it.
    """

    def __init__(self, presets: list[Preset], timings: Timings, progress: bool) -> None:
        """Plan for the PDFs and charts ``presets`` ask for."""
        from reportgen.report import render

        self.timings = timings
        self.progress = progress
        self.pdfs = render.PdfRenderer(expected=sum("pdf" in p.formats for p in presets))
        self._charts_due = any({"html", "pdf"} & set(p.formats) for p in presets)
        self._exporter: Any = None
        self._error: Exception | None = None

    def __enter__(self) -> Renderers:
        """Fork the PDF workers, then start Chromium."""
        self.pdfs.__enter__()
        self.start_browser()
        return self

    def __exit__(self, *exc: Any) -> None:
        """Close Chromium and stop the workers (at once on an error)."""
        try:
            self.close_browser()
        finally:
            self.pdfs.__exit__(*exc)

    def start_browser(self) -> None:
        """Start Chromium in the background, when a report has charts to export."""
        from reportgen.errors import RenderError
        from reportgen.report import export

        if not self._charts_due or self._exporter is not None:
            return
        try:
            self._exporter = export.ChartExporter().start()
        except RenderError as error:  # no Chromium: an error only once a chart needs it
            self._error = error

    def browser(self) -> Any:
        """Return the started ChartExporter; RenderError when Chromium is missing."""
        if self._exporter is None and self._error is None:
            self._charts_due = True
            self.start_browser()
        if self._error is not None:
            raise self._error
        return self._exporter

    def close_browser(self) -> None:
        """Close Chromium (the PDF workers may still be laying out)."""
        if self._exporter is not None:
            self._exporter.close()


def render_all(
    config: Config, reports: list[ReportData], renderers: Renderers
) -> list[dict[str, bytes]]:
    """Render every report's files in memory: HTML, PDF, CSV tables.

    Each report's figures go to Chromium as one batch as soon as they are built, so Chromium
    exports a report's charts (the PDF draws them, and the HTML shows them where no script
    runs) while the next report's figures are built. Then, in order, each print page goes to
    a PDF worker and its HTML is rendered while WeasyPrint lays out that PDF. Stages are wall
    time on this thread: "svg" is what is left to wait for Chromium, "pdf" what is left to
    wait for the PDFs at the end.
    """
    from concurrent.futures import ThreadPoolExecutor

    from reportgen.report import render

    env = render.make_environment(config.templates_dir)
    due = _render_order(reports)
    exporter = renderers.browser() if due else None
    # One thread hands the batches to Chromium in order; it mostly waits, so it costs this
    # thread little time.
    svg_thread = ThreadPoolExecutor(1, thread_name_prefix="svg")
    try:
        figures, exports = _export_charts(reports, due, exporter, svg_thread, renderers.timings)
        html, pending = _render_pages(env, reports, due, figures, exports, renderers)
        renderers.close_browser()  # while the workers lay out the last PDFs
        with renderers.timings.stage("pdf"):
            pdf = {i: renderers.pdfs.result(future) for i, future in pending}
    finally:
        # On a failure, the batches not yet started are dropped; one under way is bounded by
        # the exporter's own timeouts.
        svg_thread.shutdown(wait=True, cancel_futures=True)
    out = []
    for i, report in enumerate(reports):
        out.append(_report_files(report, html.get(i), pdf.get(i)))
        _say(renderers.progress, f"rendered {report.preset.name}")
    return out


def _render_order(reports: list[ReportData]) -> list[int]:
    """Return the reports that have charts to render, in the order to render them."""
    due = [i for i, r in enumerate(reports) if {"html", "pdf"} & set(r.preset.formats)]
    # PDFs first, longest tables first, so that a small report's PDF does not hold up the end.
    due.sort(
        key=lambda i: (
            "pdf" not in reports[i].preset.formats,
            -(len(reports[i].influencers) + len(reports[i].engagement)),
        )
    )
    return due


def _export_charts(
    reports: list[ReportData],
    due: list[int],
    exporter: Any,
    svg_thread: ThreadPoolExecutor,
    timings: Timings,
) -> tuple[dict[int, Any], dict[int, Future[dict[str, str]]]]:
    """Build every report's figures, ``due`` first, and queue each due one's SVG export."""
    from reportgen.report import charts

    figures: dict[int, Any] = {}
    exports: dict[int, Future[dict[str, str]]] = {}
    for i in [*due, *(i for i in range(len(reports)) if i not in due)]:
        with timings.stage("charts"):
            figures[i] = charts.build_figures(reports[i])
        if i in due:
            assert exporter is not None  # started whenever a chart is due
            exports[i] = svg_thread.submit(exporter.to_svgs, figures[i])
    return figures, exports


def _render_pages(
    env: jinja2.Environment,
    reports: list[ReportData],
    due: list[int],
    figures: Mapping[int, Any],
    exports: Mapping[int, Future[dict[str, str]]],
    renderers: Renderers,
) -> tuple[dict[int, bytes], list[tuple[int, Future[bytes]]]]:
    """Hand each due report's print page to a PDF worker, and render its HTML meanwhile.

    Return the HTML files and the PDFs under way, by report.
    """
    from reportgen.report import render

    timings = renderers.timings
    html: dict[int, bytes] = {}
    pending: list[tuple[int, Future[bytes]]] = []
    for i in due:
        formats = reports[i].preset.formats
        with timings.stage("svg"):
            svgs = exports[i].result()
        if "pdf" in formats:
            job = render.print_job(reports[i], svgs, env, figures=figures[i])
            pending.append((i, renderers.pdfs.submit(job)))
        if "html" in formats:
            with timings.stage("html"):
                html[i] = render.render_html(reports[i], figures[i], env, svgs).encode()
    return html, pending


def _report_files(report: ReportData, html: bytes | None, pdf: bytes | None) -> dict[str, bytes]:
    """Return a report's files by name: its HTML and PDF (when rendered) and CSV tables."""
    from reportgen.report import summary

    files = {"report.html": html} if html is not None else {}
    if pdf is not None:
        files["report.pdf"] = pdf
    if "csv" in report.preset.formats:
        files.update(summary.csv_tables(report))
        files.update(sections.csv_files(report))
    return files


def config_info(config: Config) -> dict[str, Any]:
    """Return what identifies the config a build came from (name and content hash)."""
    if config.path and config.path.exists():
        digest = hashlib.sha256(config.path.read_bytes()).hexdigest()
        return {"file": config.path.name, "sha256": digest}
    return {"file": None, "sha256": None}


def _publish(
    out_root: Path, report: ReportData, files: dict[str, bytes], info: dict[str, Any]
) -> PresetOutput:
    from reportgen.report import summary  # pandas: only a build that computed needs it

    preset = report.preset
    as_of = date.fromisoformat(report.provenance["as_of"])
    data = summary.build_summary(report, info) | sections.summary_fields(report)
    files = {**files, "summary.json": summary.dumps(data)}
    directory = out_root / preset.name / as_of.isoformat()
    written = publish.publish_build(directory, files)
    publish.point_latest(directory.parent, directory.name)
    named = _named(written)
    return PresetOutput(preset, preset.group, report.window, as_of, directory, named, data, report)


def refresh_index(config: Config, out_root: Path) -> None:
    """Rewrite output/index.html and output/manifest.json from what is on disk, if they differ.

    The hidden key file records what the pair was made from (the builds listed, the template
    overrides, the reportgen version), so an unchanged rebuild neither renders nor writes them.
    """
    builds = publish.collect_builds(out_root)
    manifest = publish.manifest_bytes(builds)
    key = reuse.index_key(config.templates_dir, manifest)
    if publish.index_current(out_root, manifest, key):
        return
    from reportgen.report import render

    env = render.make_environment(config.templates_dir)
    publish.write_atomic(out_root / "index.html", render.render_index(builds, env).encode())
    publish.write_atomic(out_root / "manifest.json", manifest)
    # Last: a crash before this leaves the old key, so the next build writes the pair again.
    try:
        publish.write_atomic(out_root / publish.INDEX_KEY, key.encode("ascii") + b"\n")
    except OSError as exc:  # only a shortcut for the next build: the index itself is written
        logger.warning(
            "%s: cannot write (%s); the index is written again on every build until it can be",
            out_root / publish.INDEX_KEY,
            exc.strerror or exc,
        )


def _say(progress: bool, message: str) -> None:
    if progress:
        logger.info(message)
