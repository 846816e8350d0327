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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from reportgen import metrics, publish, sections, sources, summary
from reportgen.config import Config, Preset
from reportgen.model import ReportData, Window
from reportgen.windows import default_as_of

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
    data_dir: Path | None = None,
    extra: list[Preset] | None = None,
    output_dir: Path | None = None,
    timings: Timings | None = None,
) -> list[PresetOutput]:
    """Build the selected presets (all by default) and publish them into output/."""
    timings = timings or Timings()
    jobs = expand(extra if extra is not None else config.select(presets))
    out_root = output_dir or config.output_dir
    publish.check_writable(out_root)  # before the work, not after it

    with timings.stage("load"):
        ds = sources.open_dataset(config, data_dir=data_dir)
        engine = metrics.Engine(ds)
    with timings.stage("compute"):
        days = [as_of or default_as_of(p.timezone) for p in jobs]
        reports = metrics.compute_all(
            engine, [(p, p.window_for(d), d) for p, d in zip(jobs, days, strict=True)]
        )
        for r in reports:
            r.sections = sections.compute(r, ds)
    for r in reports:
        _say(progress, f"computed {r.preset.name} ({r.window.label()})")
    rendered = render_all(config, reports, timings, progress)
    outputs = []
    with timings.stage("publish"), publish.writing(out_root):
        info = config_info(config)
        for report, files in zip(reports, rendered, strict=True):
            outputs.append(_publish(out_root, report, files, info))
        refresh_index(config, out_root)
    for o in outputs:
        _say(progress, f"wrote {o.directory}")
    return outputs


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
                )
            )
    return jobs


def render_all(
    config: Config, reports: list[ReportData], timings: Timings, progress: bool
) -> list[dict[str, bytes]]:
    """Render every report's files in memory: HTML, PDF, CSV tables.

    The PDF worker processes and Chromium start first and warm up while the figures are
    built. Each report's charts are then exported as one batch (the PDF draws them, and the
    HTML shows them where no script runs), its print page goes to a worker, and its HTML is
    rendered while WeasyPrint lays out that PDF. Stages are wall time on this thread:
    "browser" is what is left to wait for Chromium, "pdf" what is left to wait for the PDFs
    at the end.
    """
    from concurrent.futures import Future

    from reportgen import charts, export, render

    env = render.make_environment(config.templates_dir)
    due = [i for i, r in enumerate(reports) if {"html", "pdf"} & set(r.preset.formats)]
    # PDFs first, longest tables first, so that a small report's PDF does not hold up the end.
    due.sort(
        key=lambda i: (
            "pdf" not in reports[i].preset.formats,
            -(len(reports[i].influencers) + len(reports[i].engagement)),
        )
    )
    pdf_count = sum("pdf" in reports[i].preset.formats for i in due)
    html: dict[int, bytes] = {}
    pdf: dict[int, bytes] = {}
    exporter = None
    try:
        # Workers first: they are forked, and must not inherit Chromium's pipes.
        with render.PdfRenderer(expected=pdf_count) as renderer:
            exporter = export.ChartExporter().start() if due else None
            with timings.stage("charts"):
                figures = [charts.build_figures(r) for r in reports]
            pending: list[tuple[int, Future[bytes]]] = []
            for i in due:
                assert exporter is not None  # started above whenever a chart is due
                formats = reports[i].preset.formats
                with timings.stage("browser"):
                    exporter.wait_ready()
                with timings.stage("svg"):
                    svgs = exporter.to_svgs(figures[i])
                if "pdf" in formats:
                    job = render.print_job(reports[i], svgs, env, figures=figures[i])
                    pending.append((i, renderer.submit(job)))
                if "html" in formats:
                    with timings.stage("html"):
                        html[i] = render.render_html(reports[i], figures[i], env, svgs).encode()
            if exporter is not None:
                exporter.close()  # while the workers lay out the last PDFs
            with timings.stage("pdf"):
                for i, future in pending:
                    pdf[i] = renderer.result(future)
    finally:
        if exporter is not None:
            exporter.close()
    out = []
    for i, report in enumerate(reports):
        files = {"report.html": html[i]} if i in html else {}
        if i in pdf:
            files["report.pdf"] = pdf[i]
        if "csv" in report.preset.formats:
            files.update(summary.csv_tables(report))
            files.update(sections.csv_files(report))
        out.append(files)
        _say(progress, f"rendered {report.preset.name}")
    return out


def config_info(config: Config) -> dict[str, Any]:
    """Return what identifies the config a build came from (name and content hash)."""
    if config.path and config.path.exists():
        digest = hashlib.sha256(config.path.read_bytes()).hexdigest()
        return {"file": config.path.name, "sha256": digest}
    return {"file": None, "sha256": None}


def _publish(
    out_root: Path, report: ReportData, files: dict[str, bytes], info: dict[str, Any]
) -> PresetOutput:
    preset = report.preset
    as_of = date.fromisoformat(report.provenance["as_of"])
    data = summary.build_summary(report, info) | sections.summary_fields(report)
    files = {**files, "summary.json": summary.dumps(data)}
    directory = out_root / preset.name / as_of.isoformat()
    written = publish.publish_build(directory, files)
    publish.point_latest(directory.parent, directory.name)
    keys = {"report.html": "html", "report.pdf": "pdf", "summary.json": "summary"}
    named = {keys.get(n, f"csv:{n.removesuffix('.csv')}"): p for n, p in written.items()}
    group = preset.name.split(".", 1)[1] if "." in preset.name else None
    return PresetOutput(preset, group, report.window, as_of, directory, named, data, report)


def refresh_index(config: Config, out_root: Path) -> None:
    """Rewrite output/index.html and output/manifest.json from what is on disk."""
    from reportgen import render

    builds = publish.collect_builds(out_root)
    env = render.make_environment(config.templates_dir)
    publish.write_atomic(out_root / "index.html", render.render_index(builds, env).encode())
    publish.write_manifest(out_root, builds)


def _say(progress: bool, message: str) -> None:
    if progress:
        logger.info(message)
