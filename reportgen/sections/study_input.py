"""The study tables a section reads, cut to the report's window in its timezone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING

import pandas as pd

from reportgen.sources.study import frame, has_table

if TYPE_CHECKING:
    from reportgen.model import ReportData
    from reportgen.sources import Dataset

logger = logging.getLogger(__name__)


def missing(ds: Dataset, tables: tuple[str, ...], what: str) -> str | None:
    """Return why ``what`` cannot be done when some of ``tables`` were not loaded."""
    absent = [t for t in tables if not has_table(ds, t)]
    if not absent:
        return None
    return (
        f"{what} needs the {' and '.join(tables)} tables; the data has no "
        f"{' or '.join(absent)} (see README, Data: study tables)"
    )


def filtered(report: ReportData, what: str) -> str | None:
    """Return why ``what`` is not done for a filtered preset (the study has no such cut)."""
    f = report.preset.filters
    if not (f.brands or f.categories or f.platforms):
        return None
    # A brand's orders or a category's influencers cannot be cut out of a randomised study
    # without breaking the comparison it rests on: say so rather than mix scopes.
    return (
        f"{what} covers the whole study and is not cut by filters ({f.describe()}); list it "
        "in a preset without brands, categories or platforms"
    )


def window(report: ReportData, before_days: float = 0.0) -> dict[str, datetime]:
    """Return the report's window as local times ``since`` (earlier by ``before_days``) and
    ``until`` (the next midnight after its inclusive last day)."""
    start = datetime.combine(report.window.start, time()) - timedelta(days=before_days)
    return {
        "since": start,
        "until": datetime.combine(report.window.end + timedelta(days=1), time()),
    }


def in_window(
    ds: Dataset,
    table: str,
    report: ReportData,
    before_days: float = 0.0,
    columns: tuple[str, ...] | None = None,
    expressions: Mapping[str, str] | None = None,
) -> pd.DataFrame:
    """Return ``columns`` of the ``table`` rows whose time falls in the report's window (starting
    earlier by ``before_days``), times as naive local time of the preset's timezone;
    ``expressions`` (column -> SQL) replace some of them (see ``sources.study.frame``)."""
    cut = window(report, before_days)
    tz = report.preset.timezone
    rows = frame(ds, table, tz, columns=columns, expressions=expressions, **cut)
    assert rows is not None  # callers check ``missing`` first
    return rows


def names(report: ReportData) -> dict[str, str]:
    """Return influencer id -> name for the report's influencers."""
    return dict(zip(report.influencers["influencer_id"], report.influencers["name"], strict=True))
