"""Plotly figures for a report: pure functions of ReportData, no I/O, deterministic JSON.

Each figure carries its heading and caption in ``layout.meta`` ({"title", "caption"}) so the
templates can show them as plain, escaped HTML next to the chart. Text that comes from data
(influencer, category and platform names) is HTML-escaped before it enters a figure: plotly.js
reads labels as pseudo-HTML, and escaping makes it show ``<script>`` literally instead of
interpreting (or dropping) the tag.
"""

from __future__ import annotations

import html
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from reportgen import sections
from reportgen.model import ReportData
from reportgen.report import fmt

logger = logging.getLogger(__name__)

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
#: ROAS spread (max / min) above which the break-even chart switches to a log x axis.
LOG_SPREAD = 20
#: How many of the biggest spenders the break-even chart names next to their mark.
LABELLED = 3
#: Where a ROAS of zero is drawn on a log axis, which cannot show zero.
LOG_FLOOR = 0.01

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
        return _empty(title, height=360)
    cur, loc = _money_args(report)
    days = _day_labels(daily["date"])
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
        _layout(title, _trend_caption(report, revenue), height=380),
        hovermode="x unified",
        showlegend=False,
    )
    fig.update_xaxes(type="date", tickformat="%d %b", hoverformat="%a %d %b %Y", showgrid=False)
    fig.update_yaxes(
        title={"text": "Revenue", "font": {"size": 11, "color": MUTED}},
        rangemode="tozero",
        **_money_ticks(float(revenue.max()), cur, loc),
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
        return _empty(title, height=240)
    cur, loc = _money_args(report)
    frame = frame.sort_values("revenue", ascending=False, kind="stable")
    labels = [_label(v) for v in frame[dimension]]
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
    fig.update_layout(_layout(title, "", height=_bar_height(len(labels))), showlegend=False)
    _category_axis(fig, labels)
    fig.update_xaxes(
        range=[0, float(revenue.max()) * 1.12], **_money_ticks(revenue.max(), cur, loc)
    )
    return fig


def _influencer_bars(
    frame: pd.DataFrame,
    values: pd.Series,
    loss: list[bool],
    colour: str,
    money: Callable[[Any, str, str], str],
    title: str,
    caption: str,
    *,
    cur: str,
    loc: str,
) -> go.Figure:
    """Return one horizontal bar per influencer of ``frame``, loss-makers marked and labelled."""
    fig = go.Figure(
        go.Bar(
            x=values.tolist(),
            y=frame["influencer_id"].astype(str).tolist(),
            orientation="h",
            marker=_loss_marker(loss, colour),
            text=[
                money(v, cur, loc) + (LOSS_TEXT if b else "")
                for v, b in zip(values, loss, strict=True)
            ],
            textposition="outside",
            constraintext="none",
            cliponaxis=False,
            customdata=_influencer_hover(frame, cur, loc),
            hovertemplate=_INFLUENCER_HOVER,
        )
    )
    fig.update_layout(_layout(title, caption, height=_bar_height(len(frame))), showlegend=False)
    _category_axis(fig, [_label(n) for n in frame["name"]], frame["influencer_id"])
    return fig


def top_by_revenue(report: ReportData) -> go.Figure:
    """Return the top influencers by revenue as horizontal bars, loss-makers marked."""
    frame = report.top_by_revenue
    title = f"Top {_top_n(report)} influencers by revenue"
    if frame.empty or not frame["revenue"].fillna(0).any():
        return _empty(title, height=300)
    cur, loc = _money_args(report)
    revenue = frame["revenue"].astype(float).fillna(0.0)
    loss = _loss_makers(frame)
    caption = "Revenue attributed in this window." + _loss_caption(loss)
    fig = _influencer_bars(
        frame, revenue, loss, PRIMARY, fmt.money, title, caption, cur=cur, loc=loc
    )
    fig.update_xaxes(
        range=[0, float(revenue.max()) * 1.45], **_money_ticks(revenue.max(), cur, loc)
    )
    return fig


def net_return(report: ReportData) -> go.Figure:
    """Return the best and worst net returns (revenue - payout), gains and losses apart."""
    half = max(1, _top_n(report) // 2)
    title = "Net return: who makes money and who loses it"
    ranked = _net_ranking(report)
    best = ranked[(ranked["net"] > 0) & (ranked["revenue"] > 0)].head(half)
    worst = ranked[ranked["net"] < 0].tail(half)
    frame = pd.concat([best, worst])
    if frame.empty:
        return _empty(title, height=300)
    cur, loc = _money_args(report)
    net = frame["net"].astype(float)
    loss = [v < 0 for v in net]
    caption = (
        f"Net return = revenue - payout in this window; the {len(best)} best and the "
        f"{len(worst)} biggest losses among influencers with payout terms." + _loss_caption(loss)
    )
    fig = _influencer_bars(
        frame, net, loss, GOOD, fmt.money_change, title, caption, cur=cur, loc=loc
    )
    lo, hi = min(float(net.min()), 0.0), max(float(net.max()), 0.0)
    pad = 0.45 * (hi - lo or 1.0)
    fig.update_xaxes(
        range=[lo - (pad if lo < 0 else 0), hi + (pad if hi > 0 else 0)],
        **_signed_money_ticks(lo, hi, cur, loc),
    )
    return fig


def top_by_roas(report: ReportData) -> go.Figure:
    """Return the top influencers by ROAS, coloured and patterned by break-even."""
    frame = report.top_by_roas.dropna(subset=["roas"])
    title = f"Top {_top_n(report)} influencers by ROAS"
    if frame.empty:
        return _empty(title, height=300)
    cur, loc = _money_args(report)
    roas = frame["roas"].astype(float)
    good = _profitable(frame)
    fig = go.Figure(
        go.Bar(
            x=roas.tolist(),
            y=frame["influencer_id"].astype(str).tolist(),
            orientation="h",
            marker={
                "color": [GOOD if g else BAD for g in good],
                # A hatch marks bars below break-even for readers who cannot tell the colours.
                "pattern": {"shape": ["" if g else "/" for g in good], "fgcolor": "#ffffff"},
            },
            text=[fmt.ratio(v) + ("" if g else LOSS_TEXT) for v, g in zip(roas, good, strict=True)],
            textposition="outside",
            cliponaxis=False,
            customdata=_influencer_hover(frame, cur, loc),
            hovertemplate=_INFLUENCER_HOVER,
        )
    )
    caption = (
        "ROAS = revenue / payout in this window; the dashed line is break-even (1x). Ranked: "
        f"influencers paid at least {fmt.money(report.roas_min_payout, cur, loc)} in the window"
        f" (roas_min_payout {_min_payout_rule(report)}), so small payouts do not lead."
    )
    fig.update_layout(_layout(title, caption, height=_bar_height(len(frame))), showlegend=False)
    _category_axis(fig, [_label(n) for n in frame["name"]], frame["influencer_id"])
    fig.update_xaxes(
        range=[0, max(float(roas.max()), 1.0) * 1.35], ticksuffix="x", tickformat=RATIO_TICKS
    )
    _break_even_line(fig, annotate=False)
    return fig


def roas_break_even(report: ReportData) -> go.Figure:
    """Return every influencer's ROAS against payout, split at the break-even line ROAS = 1."""
    title = "ROAS per influencer against break-even"
    infl = report.influencers
    known = infl.dropna(subset=["roas"])
    excluded = len(infl) - len(known)
    if known.empty:
        return _empty(title, height=420, caption=_na_note(excluded))
    cur, loc = _money_args(report)
    roas = known["roas"].astype(float)
    positive = roas[roas > 0]
    log = not positive.empty and float(positive.max() / positive.min()) > LOG_SPREAD
    floor = min(LOG_FLOOR, float(positive.min())) if not positive.empty else LOG_FLOOR
    drawn = roas.clip(lower=floor) if log else roas
    good = _profitable(known)
    hover = _influencer_hover(known, cur, loc)
    # Name the biggest spenders on the chart itself: the PDF has no hover.
    labelled = set(known["payout"].astype(float).fillna(0).nlargest(LABELLED).index)
    fig = go.Figure()
    for is_good, name, symbol, color in (
        (True, "Profitable (ROAS ≥ 1x)", "circle", GOOD),
        (False, "Below break-even (ROAS < 1x)", "x", BAD),
    ):
        rows = [i for i, g in enumerate(good) if g is is_good]
        fig.add_trace(
            go.Scatter(
                x=[float(drawn.iloc[i]) for i in rows],
                y=[float(known["payout"].iloc[i]) for i in rows],
                mode="markers+text",
                name=name,
                marker={
                    "symbol": symbol,
                    "size": 10,
                    "color": color,
                    "line": {"width": 1, "color": "#ffffff" if is_good else color},
                },
                text=[
                    _label(known["name"].iloc[i]) if known.index[i] in labelled else ""
                    for i in rows
                ],
                textposition="top center",
                textfont={"size": 10, "color": INK},
                customdata=[hover[i] for i in rows],
                hovertemplate=_INFLUENCER_HOVER,
            )
        )
    caption = _scatter_caption(len(known), excluded, int((roas < floor).sum()) if log else 0, floor)
    fig.update_layout(_layout(title, caption, height=440), hovermode="closest")
    top = float(known["payout"].max())
    fig.update_yaxes(
        title={"text": "Payout in window", "font": {"size": 11, "color": MUTED}},
        # Padding below zero keeps marks of tiny payouts from being cut by the axis.
        range=[-0.05 * top, 1.12 * top] if top > 0 else None,
        **_money_ticks(top, cur, loc),
    )
    xaxis: dict[str, Any] = {"title": {"text": "ROAS (revenue / payout)", "font": {"size": 11}}}
    if log:
        lo, hi = min(float(drawn.min()), 1.0), max(float(drawn.max()), 1.0)
        ticks = _log_ticks(lo, hi)
        xaxis.update(
            type="log",
            range=[math.log10(lo) - 0.15, math.log10(hi) + 0.15],
            tickvals=ticks,
            ticktext=[_ratio_tick(t) for t in ticks],
        )
    else:
        xaxis.update(
            rangemode="tozero",
            ticksuffix="x",
            tickformat=RATIO_TICKS,
            range=[0, max(roas.max(), 1.0) * 1.1],
        )
    fig.update_xaxes(**xaxis)
    _break_even_line(fig, annotate=True, log=log)
    return fig


# --- helpers ---------------------------------------------------------------------------------

#: Text after a loss-maker's value: the mark does not rely on colour alone.
LOSS_TEXT = " ▼ below 1x"


def _net_ranking(report: ReportData) -> pd.DataFrame:
    """Return the net-return ranking; derived from the payout table when not computed."""
    if report.by_net is not None:
        return report.by_net
    t = report.influencers[report.influencers["payout"].notna()]
    t = t.assign(net=t["revenue"] - t["payout"])
    return t.sort_values(["net", "influencer_id"], ascending=[False, True], ignore_index=True)


def _loss_makers(frame: pd.DataFrame) -> list[bool]:
    """Return, per row, whether the influencer is below break-even (ROAS < 1; n/a is not)."""
    return [r == r and r < 1 for r in frame["roas"].astype(float)]


def _loss_marker(loss: Sequence[bool], colour: str) -> dict[str, Any]:
    """Return bar markers: loss-makers in the warning colour and hatched, others ``colour``."""
    return {
        "color": [BAD if b else colour for b in loss],
        "pattern": {"shape": ["/" if b else "" for b in loss], "fgcolor": "#ffffff"},
    }


def _loss_caption(loss: Sequence[bool]) -> str:
    n = sum(loss)
    if not n:
        return ""
    return f" Hatched orange bars marked ▼ below 1x lose money (ROAS under 1x): {n} here."


def _min_payout_rule(report: ReportData) -> str:
    rule = getattr(report.preset, "roas_min_payout", "")
    if isinstance(rule, str) and rule.endswith("%"):
        return f"{rule} of the window's payout"
    return fmt.money(rule, *_money_args(report)) if rule != "" else "not set"


_INFLUENCER_HOVER = (
    "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>Revenue %{customdata[2]}"
    "<br>Payout %{customdata[3]}<br>ROAS %{customdata[4]}<extra></extra>"
)


def _layout(title: str, caption: str, *, height: int) -> dict[str, Any]:
    """Return the layout every chart shares: template, height and the heading/caption meta."""
    return {
        "template": TEMPLATE,
        "height": height,
        "autosize": True,
        "meta": {"title": title, "caption": caption},
    }


def _empty(title: str, *, height: int, caption: str = "") -> go.Figure:
    """Return a chart that says there is nothing to show instead of drawing empty axes."""
    fig = go.Figure()
    fig.update_layout(_layout(title, caption, height=min(height, 200)))
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


def _money_args(report: ReportData) -> tuple[str, str]:
    return report.preset.currency, report.preset.locale


def _top_n(report: ReportData) -> int:
    return int(getattr(report.preset, "top_n", 10) or 10)


def _label(value: Any) -> str:
    """Return data text clipped for display and made safe for plotly's pseudo-HTML labels."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return "(none)"
    # Clipped here, so hover boxes, point labels and the figure JSON never carry a huge name.
    return html.escape(fmt.clip(value), quote=False)


def _day_labels(dates: pd.Series) -> list[str]:
    """Return ISO day strings: stable JSON whatever type the frame stores days as."""
    return pd.to_datetime(dates).dt.strftime("%Y-%m-%d").tolist()


def _profitable(frame: pd.DataFrame) -> list[bool]:
    """Return break-even flags: the frame's ``profitable`` column, else ROAS >= 1."""
    out = []
    for flag, roas in zip(frame["profitable"], frame["roas"], strict=True):
        out.append(bool(flag) if flag is not pd.NA and flag is not None else float(roas) >= 1)
    return out


def _influencer_hover(frame: pd.DataFrame, cur: str, loc: str) -> list[list[str]]:
    return [
        [
            _label(r.name),
            _label(r.platform),
            fmt.money(r.revenue, cur, loc),
            fmt.money(r.payout, cur, loc),
            fmt.ratio(r.roas),
        ]
        for r in frame.itertuples(index=False)
    ]


def _category_axis(fig: go.Figure, labels: Sequence[str], ids: Any = None) -> None:
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


def _bar_height(n: int) -> int:
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


def _money_ticks(top: float, currency: str, locale: str) -> dict[str, Any]:
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


def _signed_money_ticks(lo: float, hi: float, currency: str, locale: str) -> dict[str, Any]:
    """Return ticks and compact labels (−₹5L, ₹0, ₹10L) for a money axis from lo to hi."""
    if hi - lo <= 0:
        return {}
    step = _nice_step(hi - lo)
    first, last = math.floor(lo / step), math.ceil(hi / step)
    ticks = [round(i * step, 10) for i in range(first, last + 1)]
    text = [(fmt.MINUS if t < 0 else "") + fmt.money_short(abs(t), currency, locale) for t in ticks]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": text}


def _log_ticks(lo: float, hi: float) -> list[float]:
    ticks = []
    for exp in range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1):
        for mult in (1, 2, 5):
            value = mult * 10.0**exp
            if lo / 1.5 <= value <= hi * 1.5:
                ticks.append(round(value, 6))
    return ticks


def _ratio_tick(value: float) -> str:
    return f"{value:g}x"


def _break_even_line(fig: go.Figure, *, annotate: bool, log: bool = False) -> None:
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


def _trend_caption(report: ReportData, revenue: pd.Series) -> str:
    cur, loc = _money_args(report)
    best = int(revenue.to_numpy().argmax())
    day = _day_labels(report.daily["date"])[best]
    return (
        f"Best day {day}: {fmt.money(revenue.iloc[best], cur, loc)}. "
        f"Days are calendar days in {report.preset.timezone}."
    )


def _na_note(excluded: int) -> str:
    if not excluded:
        return ""  # nothing left out (or nobody at all): nothing to say
    noun = "influencer" if excluded == 1 else "influencers"
    return f"{excluded} {noun} with ROAS n/a (no payout terms, or none in this window) not shown."


def _scatter_caption(shown: int, excluded: int, clamped: int, floor: float) -> str:
    noun = "influencer" if shown == 1 else "influencers"
    parts = [
        f"Each mark is one influencer ({shown} {noun}); right of the dashed line pays back "
        "its payout.",
        _na_note(excluded),
    ]
    if clamped:
        parts.append(f"ROAS below {floor:g}x drawn at {floor:g}x (log scale).")
    return " ".join(p for p in parts if p)
