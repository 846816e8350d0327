"""Report sections through one seam: each bundles computation, template, summary and CSV.

A preset lists its ``sections`` (config.SECTIONS; default ``[overview]``, today's report).
``overview`` is the fixed body of the report (KPIs, trend, breakdowns, top lists, tables);
every other name is a ``Section`` in ``REGISTRY``. The build calls ``compute`` once per
report; the renderer, summary.json and the CSV files read the results through
``template_context``, ``summary_fields`` and ``csv_files``, and ``charts.build_figures`` adds
each output's ``figures`` to the report's (interactive in the HTML, the same figure as SVG in
the PDF and the no-script fallback; the partial shows one with ``chart(key)``), so a new
section touches only its own module and partial template.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from reportgen.config import SECTIONS

if TYPE_CHECKING:
    from reportgen.model import ReportData
    from reportgen.sources import Dataset

logger = logging.getLogger(__name__)

OVERVIEW = "overview"


@dataclass
class SectionOutput:
    """What one section computed for one report, or why it could not."""

    name: str
    title: str
    template: str  # partial template, rendered with ``section`` = this output's context
    context: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)  # keys added to summary.json
    csv: dict[str, bytes] = field(default_factory=dict)  # file name -> CSV bytes
    #: Chart key -> plotly figure (reportgen.sections.study_charts.py); none when ``reason`` is set.
    figures: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None  # why the analysis could not be done (then no numbers)


class Section(Protocol):
    """A report section: a name, a title, and a computation over a report and its data."""

    name: str
    title: str

    def compute(self, report: ReportData, ds: Dataset) -> SectionOutput:
        """Return the section's output for ``report`` (with ``reason`` when it cannot)."""
        ...


def section_registry() -> dict[str, Section]:
    """Return every section (overview excluded) by name."""
    from reportgen.sections.attribution import AttributionSection
    from reportgen.sections.incrementality import IncrementalitySection

    found: dict[str, Section] = {s.name: s for s in (AttributionSection(), IncrementalitySection())}
    assert set(found) | {OVERVIEW} == set(SECTIONS), "config.SECTIONS and the registry differ"
    return found


def compute(report: ReportData, ds: Dataset) -> list[SectionOutput]:
    """Return the outputs of the report's listed sections (overview excluded), in order."""
    registry = section_registry()
    return [registry[n].compute(report, ds) for n in report.preset.sections if n != OVERVIEW]


def template_context(report: ReportData) -> dict[str, Any]:
    """Return the template keys: ``overview`` (shown?) and ``sections`` (rendered in order)."""
    return {
        "overview": OVERVIEW in report.preset.sections,
        "sections": [
            {
                "name": s.name,
                "title": s.title,
                "template": s.template,
                "reason": s.reason,
                **s.context,
            }
            for s in report.sections
        ],
    }


def summary_fields(report: ReportData) -> dict[str, Any]:
    """Return the summary.json keys the sections add (none for a report of overview only)."""
    out: dict[str, Any] = {}
    not_done = []
    for s in report.sections:
        out.update(s.summary)
        if s.reason:
            not_done.append({"section": s.name, "reason": s.reason})
    if report.sections:
        out["analyses_not_done"] = not_done
    return out


def figures(report: ReportData) -> dict[str, Any]:
    """Return the charts the sections add, by key, in the sections' order."""
    return {key: fig for s in report.sections if not s.reason for key, fig in s.figures.items()}


def csv_files(report: ReportData) -> dict[str, bytes]:
    """Return the CSV files the sections add."""
    return {name: data for s in report.sections for name, data in s.csv.items()}
