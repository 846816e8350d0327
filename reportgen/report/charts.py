"""Plotly figures for a report: pure functions of ReportData, no I/O, deterministic JSON.

Each figure carries its heading and caption in ``layout.meta`` ({"title", "caption"}) so the
templates can show them as plain, escaped HTML next to the chart. Text that comes from data
(influencer, category and platform names) is HTML-escaped before it enters a figure: plotly.js
reads labels as pseudo-HTML, and escaping makes it show ``<script>`` literally instead of
interpreting (or dropping) the tag.

The shared look (palette, template, layout, labels, axes) is in ``chart_style``, the
influencer charts in ``influencer_charts``; here the daily trend and the breakdowns, and
``build_figures``, which draws them all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reportgen import sections
from reportgen.model import ReportData
from reportgen.report import fmt
from reportgen.report.chart_style import BAD as BAD
from reportgen.report.chart_style import COLORWAY as COLORWAY
from reportgen.report.chart_style import FONT as FONT
from reportgen.report.chart_style import GOOD as GOOD
from reportgen.report.chart_style import GRID as GRID
from reportgen.report.chart_style import INK as INK
from reportgen.report.chart_style import (
    MUTED,
    PRIMARY,
    SECONDARY,
    bar_height,
    category_axis,
    day_labels,
    empty,
    label,
    layout,
    money_args,
    money_ticks,
)
from reportgen.report.chart_style import NO_DATA as NO_DATA
from reportgen.report.chart_style import RATIO_TICKS as RATIO_TICKS
from reportgen.report.chart_style import TEMPLATE as TEMPLATE
from reportgen.report.chart_style import break_even_line as break_even_line
from reportgen.report.influencer_charts import LABELLED as LABELLED
from reportgen.report.influencer_charts import LOG_FLOOR as LOG_FLOOR
from reportgen.report.influencer_charts import LOG_SPREAD as LOG_SPREAD
from reportgen.report.influencer_charts import LOSS_TEXT as LOSS_TEXT
from reportgen.report.influencer_charts import (
    net_return,
    roas_break_even,
    top_by_revenue,
    top_by_roas,
)

logger = logging.getLogger(__name__)


def build_figures(report: ReportData) -> dict[str, go.Figure]:
    """Return every chart of the report by key: the overview's, then the sections'."""
    builders: dict[str, Callable[[ReportData], go.Figure]] = {
        "daily": daily_trend,
        "by_brand": lambda r: breakdown(r, "brand"),
        "by_category": lambda r: breakdown(r, "category"),
        "by_platform": lambda r: breakdown(r, "platform"),
        "top_revenue": top_by_revenue,
        "top_roas": top_by_roas,
        "net_return": net_return,
        "roas_break_even": roas_break_even,
    }
    out = {key: build(report) for key, build in builders.items()}
    # The listed sections' own charts follow (reportgen/sections): one export, one context.
    out.update(sections.figures(report))
    return out


def meta(fig: go.Figure) -> dict[str, str]:
    """Return the heading and caption stored on a figure (empty strings when absent)."""
    stored = fig.layout.meta if isinstance(fig.layout.meta, dict) else {}
    return {"title": str(stored.get("title", "")), "caption": str(stored.get("caption", ""))}


def daily_trend(report: ReportData) -> go.Figure:
    """Return daily revenue (area) above daily orders (bars) on a shared date axis."""
    title = "Daily revenue and orders"
    daily = report.daily
    if daily.empty or not (daily["revenue"].fillna(0).any() or daily["orders"].fillna(0).any()):
        return empty(title, height=360)
    cur, loc = money_args(report)
    days = day_labels(daily["date"])
    revenue = daily["revenue"].astype(float).fillna(0.0)
    orders = daily["orders"].astype(float).fillna(0.0)
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.1, row_heights=[0.68, 0.32]
    )
    fig.add_trace(
        go.Scatter(
            x=days,
            y=revenue.tolist(),
            name="Revenue",
            mode="lines+markers" if len(days) <= 62 else "lines",
            line={"color": PRIMARY, "width": 2.5, "shape": "linear"},
            marker={"size": 5},
            fill="tozeroy",
            fillcolor="rgba(29, 78, 216, 0.10)",
            customdata=[fmt.money(v, cur, loc) for v in revenue],
            hovertemplate="Revenue %{customdata}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=days,
            y=orders.tolist(),
            name="Orders",
            marker={"color": SECONDARY},
            customdata=[fmt.count(v, loc) for v in orders],
            hovertemplate="Orders %{customdata}<extra></extra>",
        ),
        row=2,
        col=1,
    )
    fig.update_layout(
        layout(title, _trend_caption(report, revenue), height=380),
        hovermode="x unified",
        showlegend=False,
    )
    fig.update_xaxes(type="date", tickformat="%d %b", hoverformat="%a %d %b %Y", showgrid=False)
    fig.update_yaxes(
        title={"text": "Revenue", "font": {"size": 11, "color": MUTED}},
        rangemode="tozero",
        **money_ticks(float(revenue.max()), cur, loc),
        row=1,
        col=1,
    )
    fig.update_yaxes(
        title={"text": "Orders", "font": {"size": 11, "color": MUTED}},
        rangemode="tozero",
        nticks=3,
        tickformat=",d",
        row=2,
        col=1,
    )
    return fig


def breakdown(report: ReportData, dimension: str) -> go.Figure:
    """Return revenue by ``dimension`` (brand, category or platform) as labelled bars."""
    title = f"Revenue by {dimension}"
    frame = getattr(report, f"by_{dimension}")
    if frame.empty or not frame["revenue"].fillna(0).any():
        return empty(title, height=240)
    cur, loc = money_args(report)
    frame = frame.sort_values("revenue", ascending=False, kind="stable")
    labels = [label(v) for v in frame[dimension]]
    revenue = frame["revenue"].astype(float).fillna(0.0)
    text = [
        f"{fmt.money(r, cur, loc)} · {fmt.pct(s, signed=False)}"
        for r, s in zip(revenue, frame["share"], strict=True)
    ]
    hover = [
        [label, fmt.money(r, cur, loc), fmt.count(o, loc), fmt.pct(s, signed=False)]
        for label, r, o, s in zip(labels, revenue, frame["orders"], frame["share"], strict=True)
    ]
    fig = go.Figure(
        go.Bar(
            x=revenue.tolist(),
            y=[str(i) for i in range(len(labels))],
            orientation="h",
            marker={"color": PRIMARY},
            text=text,
            # Inside long bars, outside short ones: labels never run off a narrow chart.
            textposition="auto",
            insidetextanchor="end",
            constraintext="none",
            cliponaxis=False,
            customdata=hover,
            hovertemplate=(
                "<b>%{customdata[0]}</b><br>Revenue %{customdata[1]} (%{customdata[3]})"
                "<br>Orders %{customdata[2]}<extra></extra>"
            ),
        )
    )
    fig.update_layout(layout(title, "", height=bar_height(len(labels))), showlegend=False)
    category_axis(fig, labels)
    fig.update_xaxes(range=[0, float(revenue.max()) * 1.12], **money_ticks(revenue.max(), cur, loc))
    return fig


def _trend_caption(report: ReportData, revenue: pd.Series) -> str:
    cur, loc = money_args(report)
    best = int(revenue.to_numpy().argmax())
    day = day_labels(report.daily["date"])[best]
    return (
        f"Best day {day}: {fmt.money(revenue.iloc[best], cur, loc)}. "
        f"Days are calendar days in {report.preset.timezone}."
    )
