"""What every chart shares, the study sections' too: palette, template, layout, labels, axes.

The layout carries a chart's heading and caption in ``layout.meta``; a chart with nothing to
show says so instead of drawing empty axes. Labels from data are clipped and HTML-escaped;
money axes get compact tick labels (₹12.5L, ₹1Cr); ROAS charts draw the break-even line.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from reportgen.model import ReportData
from reportgen.report import fmt

FONT = (
    '-apple-system, BlinkMacSystemFont, "Segoe UI", Roboto, "Helvetica Neue", Arial, '
    '"Liberation Sans", "DejaVu Sans", sans-serif'
)
INK = "#1f2937"
MUTED = "#6b7280"
GRID = "#e5e7eb"
PRIMARY = "#1d4ed8"
SECONDARY = "#93c5fd"
# Okabe-Ito bluish green and vermilion: distinct for the common colour-vision deficiencies.
GOOD = "#009e73"
BAD = "#d55e00"
COLORWAY = [PRIMARY, "#e69f00", GOOD, "#cc79a7", "#56b4e9", BAD, "#f0e442", "#4b5563"]
NO_DATA = "No data in this window"

TEMPLATE = go.layout.Template(
    layout={
        "font": {"family": FONT, "size": 12, "color": INK},
        "colorway": COLORWAY,
        "paper_bgcolor": "#ffffff",
        "plot_bgcolor": "#ffffff",
        "margin": {"l": 8, "r": 16, "t": 16, "b": 8, "pad": 4},
        "hoverlabel": {"font": {"family": FONT, "size": 12}, "bgcolor": "#ffffff", "align": "left"},
        "legend": {"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"},
        "xaxis": {
            "gridcolor": GRID,
            "linecolor": "#d1d5db",
            "zerolinecolor": "#d1d5db",
            "automargin": True,
            "tickfont": {"color": MUTED},
        },
        "yaxis": {
            "gridcolor": GRID,
            "linecolor": "#d1d5db",
            "zerolinecolor": "#d1d5db",
            "automargin": True,
            "tickfont": {"color": MUTED},
        },
        "bargap": 0.28,
    }
)


def layout(title: str, caption: str, *, height: int) -> dict[str, Any]:
    """Return the layout every chart shares: template, height and the heading/caption meta."""
    return {
        "template": TEMPLATE,
        "height": height,
        "autosize": True,
        "meta": {"title": title, "caption": caption},
    }


def empty(title: str, *, height: int, caption: str = "") -> go.Figure:
    """Return a chart that says there is nothing to show instead of drawing empty axes."""
    fig = go.Figure()
    fig.update_layout(layout(title, caption, height=min(height, 200)))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.add_annotation(
        text=NO_DATA,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": MUTED},
    )
    return fig


def money_args(report: ReportData) -> tuple[str, str]:
    """Return the report's currency and locale, the last two arguments of money formatting."""
    return report.preset.currency, report.preset.locale


def label(value: Any) -> str:
    """Return data text clipped for display and made safe for plotly's pseudo-HTML labels."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "(none)"
    # Clipped here, so hover boxes, point labels and the figure JSON never carry a huge name.
    return html.escape(fmt.clip(value), quote=False)


def day_labels(dates: pd.Series) -> list[str]:
    """Return ISO day strings: stable JSON whatever type the frame stores days as."""
    return pd.to_datetime(dates).dt.strftime("%Y-%m-%d").tolist()


def category_axis(fig: go.Figure, labels: Sequence[str], ids: Any = None) -> None:
    """Put ``labels`` on the y axis top-down; ids keep two equal names as separate bars."""
    vals = [str(v) for v in ids] if ids is not None else [str(i) for i in range(len(labels))]
    fig.update_yaxes(
        type="category",
        tickmode="array",
        tickvals=vals,
        ticktext=[_shorten(t) for t in labels],
        autorange="reversed",
        showgrid=False,
        tickfont={"color": INK},
    )


def _shorten(label: str, limit: int = 28) -> str:
    """Return a tick label cut to ``limit`` characters so long names do not squeeze the bars."""
    raw = html.unescape(label)
    return label if len(raw) <= limit else html.escape(fmt.clip(raw, limit), quote=False)


def bar_height(n: int) -> int:
    """Return the height of a bar chart of ``n`` horizontal bars."""
    return max(200, 70 + 34 * n)


#: d3 format of ROAS axis ticks: 3 significant digits with grouping (2,000x, not 2kx; 0.5x).
RATIO_TICKS = ",.3~r"


def _nice_step(span: float, target: int = 4) -> float:
    """Return a 1-2-2.5-5 step that cuts ``span`` into about ``target`` intervals."""
    raw = span / target
    magnitude = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 2.5, 5, 10):
        if raw <= mult * magnitude:
            return mult * magnitude
    return 10 * magnitude


def money_ticks(top: float, currency: str, locale: str) -> dict[str, Any]:
    """Return tick values and compact labels (₹12.5L, ₹1Cr) for a money axis from 0 to top."""
    top = float(top) if top and math.isfinite(float(top)) else 0.0
    if top <= 0:
        return {"tickprefix": ""}
    step = _nice_step(top)
    # Rounded: 3 x 0.05 is 0.15000000000000002 in floats, and the label would show it.
    ticks = [round(i * step, 10) for i in range(math.floor(top / step) + 2)]
    return {
        "tickmode": "array",
        "tickvals": ticks,
        "ticktext": [fmt.money_short(t, currency, locale) for t in ticks],
    }


def signed_money_ticks(lo: float, hi: float, currency: str, locale: str) -> dict[str, Any]:
    """Return ticks and compact labels (−₹5L, ₹0, ₹10L) for a money axis from lo to hi."""
    if hi - lo <= 0:
        return {}
    step = _nice_step(hi - lo)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    ticks = [round(i * step, 10) for i in range(first, last + 1)]
    text = [(fmt.MINUS if t < 0 else "") + fmt.money_short(abs(t), currency, locale) for t in ticks]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": text}


def log_ticks(lo: float, hi: float) -> list[float]:
    """Return 1-2-5 tick values that span lo to hi on a log axis."""
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mult in (1, 2, 5):
            value = mult * 10.0**exp
            if lo / 1.5 <= value <= hi * 1.5:
                ticks.append(round(value, 6))
    return ticks


def ratio_tick(value: float) -> str:
    """Return a ROAS tick label (2x, 0.5x)."""
    return f"{value:g}x"


def break_even_line(fig: go.Figure, *, annotate: bool, log: bool = False) -> None:
    """Draw the dashed break-even line at ROAS = 1 across the plot."""
    fig.add_shape(
        type="line",
        x0=1,
        x1=1,
        xref="x",
        y0=0,
        y1=1,
        yref="paper",
        line={"color": INK, "width": 1.5, "dash": "dash"},
        # "above": WeasyPrint does not draw shapes that plotly puts in its "between" layer.
        layer="above",
    )
    if annotate:
        fig.add_annotation(
            # Annotations on a log axis take log10 of the value (shapes do not): 0 means 1x.
            x=0 if log else 1,
            xref="x",
            y=1,
            yref="paper",
            text="Break-even 1x",
            showarrow=False,
            xanchor="left",
            yanchor="bottom",
            xshift=4,
            font={"size": 11, "color": INK},
        )
