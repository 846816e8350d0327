"""Plain values of the template context: table rows (NaN and NA as None), windows, KPI cards.

Also the payout rate's text, the breakdown rows, the provenance pairs and what the PDF says
about a table it shows only the top of.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from babel.dates import format_date

from reportgen.metrics import kpis
from reportgen.model import ReportData, Window
from reportgen.report import fmt

if TYPE_CHECKING:  # the index page (all a reused build renders) needs neither
    import pandas as pd

BASIS_LABELS = {
    "per_post": "Per post",
    "per_order": "Per order",
    "revenue_share": "Revenue share",
}
#: Where each limited table can be read in full, by the output format that holds it.
_FULL_TABLES = {
    "influencers": {"csv": "payouts.csv", "html": "the HTML report (report.html)"},
    "engagement": {"csv": "engagement.csv", "html": "the HTML report (report.html)"},
}


def window_info(window: Window, locale: str) -> dict[str, Any]:
    """Return the window's dates as the templates show them."""

    def day(d: date) -> str:
        return format_date(d, "d MMM y", locale=locale)

    return {
        "start": window.start.isoformat(),
        "end": window.end.isoformat(),
        "label": window.label(),
        "text": f"{day(window.start)} – {day(window.end)}",
        "days": window.days,
    }


def has_data(report: ReportData) -> bool:
    """Return whether the report has any data to show."""
    try:
        return bool(report.has_data)
    except (KeyError, AttributeError):
        return not report.influencers.empty


def kpi_cards(report: ReportData) -> list[dict[str, Any]]:
    """Return the report's KPI cards."""
    # One spec and one formatter (reportgen/metrics/kpis.py): the email shows the same texts.
    return kpis.cards(report.kpis, report.preset.currency, report.preset.locale)


def table_info(table: str, total: int, limit: int | None, formats: Iterable[str]) -> dict[str, Any]:
    """Return how many rows of a table are shown and where the rest are."""
    shown = total if limit is None else min(total, limit)
    where = [place for fmt_, place in _FULL_TABLES[table].items() if fmt_ in set(formats)]
    return {
        "shown": shown,
        "total": total,
        "more": total - shown,
        "elsewhere": " and ".join(where) if shown < total else "",
    }


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


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Return a frame's rows as dicts with NaN/NA as None and plain Python numbers."""
    from pandas import isna

    columns = [str(c) for c in frame.columns]
    return [
        {col: _clean(v, isna) for col, v in zip(columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def influencer_rows(frame: pd.DataFrame, currency: str, locale: str) -> list[dict[str, Any]]:
    """Return the influencer table's rows with payout basis and rate texts added."""
    rows = records(frame)
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


def breakdown_rows(frame: pd.DataFrame, dimension: str) -> list[dict[str, Any]]:
    """Return a breakdown table's rows: name, revenue, orders and share."""
    return [
        {
            "name": row.get(dimension),
            "revenue": row.get("revenue"),
            "orders": row.get("orders"),
            "share": row.get("share"),
        }
        for row in records(frame)
    ]


def provenance_rows(provenance: Mapping[str, Any]) -> list[dict[str, str]]:
    """Return the provenance as key/value text rows."""
    out = []
    for key, value in provenance.items():
        if isinstance(value, Mapping | list | tuple):
            text = json.dumps(value, ensure_ascii=False, default=str, separators=(", ", ": "))
        else:
            text = "" if value is None else str(value)
        out.append({"key": str(key), "value": text})
    return out
