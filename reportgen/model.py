"""Plain data passed between stages: windows, data-quality findings and the computed report."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: importing pandas costs 0.5-2 s a process
    import pandas as pd

from reportgen.report.fmt import number

#: A comparison value smaller than this share of the current value gives no change: the
#: ratio would be noise (a subnormal 5e-324 turns 1.0 into an infinite "change").
CHANGE_EPSILON = 1e-9


def relative_change(now: Any, before: Any) -> float | None:
    """Return (now - before) / |before|, or None when missing, ~zero or not finite."""
    a, b = number(now), number(before)
    if a is None or b is None or b == 0 or abs(b) < CHANGE_EPSILON * abs(a):
        return None
    # Still guarded: a finite difference of two huge values of opposite sign can overflow.
    return number((a - b) / abs(b))


@dataclass(frozen=True)
class Window:
    """An inclusive range of calendar days in the report's timezone."""

    start: date
    end: date

    @property
    def days(self) -> int:
        """Return the number of calendar days in the window."""
        return (self.end - self.start).days + 1

    def previous(self) -> Window:
        """Return the window of equal length that ends the day before this one starts."""
        end = self.start - timedelta(days=1)
        return Window(end - timedelta(days=self.days - 1), end)

    def dates(self) -> list[date]:
        """Return every day in the window, in order."""
        return [self.start + timedelta(days=i) for i in range(self.days)]

    def label(self) -> str:
        """Return a human label such as ``2025-07-01 – 2025-07-31``."""
        return f"{self.start.isoformat()} – {self.end.isoformat()}"


@dataclass
class Issue:
    """One data-quality finding: what was excluded or assumed, and how much it touches."""

    code: str
    severity: str  # "error" stops the build; "warning" is reported and the build goes on
    message: str
    table: str = ""
    file: str = ""
    rows: int = 0
    revenue: float = 0.0
    examples: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """Return the finding as JSON-ready data."""
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "table": self.table,
            "file": self.file,
            "rows": int(self.rows),
            "revenue": round(float(self.revenue), 2),
            "examples": list(self.examples),
        }


@dataclass
class Kpi:
    """A headline number with its value in the comparison window (preset ``compare``)."""

    key: str
    label: str
    value: float | None
    previous: float | None
    kind: str  # "money", "count", "ratio"
    note: str = ""  # caveat shown under the value, e.g. how much revenue ROAS covers

    @property
    def change(self) -> float | None:
        """Return the relative change against the comparison window, or None when undefined."""
        return relative_change(self.value, self.previous)


@dataclass
class ReportData:
    """Everything one preset's report shows; small frames only, ready for charts and tables.

    Frames and their columns:
      daily:        date, revenue, orders (every day of the window, zero-filled)
      by_brand / by_category / by_platform: <dimension>, revenue, orders, share
      influencers:  influencer_id, name, category, platform, basis, rate, posts, orders,
                    revenue, payout, roas (NaN = n/a), profitable (True/False/<NA>)
                    net (revenue - payout; NaN = unknown)
      top_by_revenue: the top_n with revenue, by revenue
      top_by_roas:  the top_n by ROAS among influencers who sold and were paid at least
                    ``roas_min_payout`` in the window
      by_net:       influencers with payout terms by net return, best first (None: not computed)
      engagement:   influencer_id, name, platform, posts, reach, likes, comments,
                    engagement_rate, cpm, cpe (NaN = n/a)
    """

    preset: Any  # config.Preset
    window: Window
    previous_window: Window
    kpis: dict[str, Kpi]
    daily: pd.DataFrame
    by_brand: pd.DataFrame
    by_category: pd.DataFrame
    by_platform: pd.DataFrame
    influencers: pd.DataFrame
    top_by_revenue: pd.DataFrame
    top_by_roas: pd.DataFrame
    engagement: pd.DataFrame
    data_quality: list[Issue]
    assumptions: list[str]
    provenance: dict[str, Any]
    compare_label: str = ""  # what the comparison window is, e.g. "October 2026"
    roas_min_payout: float = 0.0  # the payout an influencer needs to enter top_by_roas
    by_net: pd.DataFrame | None = None
    headline: dict[str, Any] = field(default_factory=dict)  # reportgen.metrics.headline.build
    #: Outputs of the preset's listed sections besides the overview (reportgen.sections).
    sections: list[Any] = field(default_factory=list)

    @property
    def has_data(self) -> bool:
        """Return True when the window holds any tracked order or post."""
        return bool(self.kpis["orders"].value) or bool(self.influencers["posts"].sum())
