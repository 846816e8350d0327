"""Charts of the study sections: credit per model, and iROAS against break-even.

Same conventions as the overview's charts (reportgen/report/chart_style.py: template, palette,
clipped and escaped labels, heading and caption in ``layout.meta``, no random ids): a figure
here is drawn by plotly.js in the HTML and exported as SVG for the PDF like the overview's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from reportgen.analysis import MODELS
from reportgen.report import fmt
from reportgen.report.chart_style import (
    BAD,
    GOOD,
    INK,
    MUTED,
    PRIMARY,
    RATIO_TICKS,
    break_even_line,
    category_axis,
    label,
    layout,
    money_ticks,
)

logger = logging.getLogger(__name__)

#: Every model in the one order the chart and its legend use, whatever order a preset lists.
MODEL_ORDER = MODELS
#: A fixed colour per model (Okabe-Ito hues and charts.py's blue; no yellow, which is too
#: pale on white): a model keeps its colour from one report to the next.
MODEL_COLOURS = {
    "last_touch": PRIMARY,
    "first_touch": "#e69f00",
    "linear": "#56b4e9",
    "time_decay": GOOD,
    "position_based": "#cc79a7",
    "markov": BAD,
    "shapley": "#4b5563",
}
#: Influencers the attribution chart shows (by last-touch revenue) and the iROAS chart shows
#: besides the programme (by payout); the section's table lists all of them.
SHOWN = 10
#: The iROAS chart's x axis reaches at most this many times the largest drawn value (and
#: break-even) on either side: one tiny-payout influencer's huge interval cannot squash the
#: others into a corner. Whiskers past it are cut at the edge, and the caption says so.
WHISKER_REACH = 3.0
DIRECT = "#e69f00"  # Okabe-Ito orange: the direct-ROAS marker, apart from iROAS blue
UNDECIDED = "#9ca3af"
TOO_WIDE = "too wide to decide"


def attribution_chart(
    wide: Any,
    models: Sequence[str],
    names: Mapping[str, str],
    labels: Mapping[str, str],
    *,
    currency: str,
    locale: str,
) -> go.Figure | None:
    """Return credited revenue per influencer, one bar per model, for the top influencers.

    ``wide`` has ``influencer_id`` and one revenue column per model; influencers are ranked by
    last-touch revenue (by the first model drawn when last touch is not chosen). None when no
    influencer was credited anything: the table says so, and an empty chart adds nothing.
    """
    title = "Credited revenue per influencer, by attribution model"
    drawn = [m for m in MODEL_ORDER if m in models]
    if wide.empty or not drawn or not wide[drawn].to_numpy().any():
        return None
    rank = "last_touch" if "last_touch" in drawn else drawn[0]
    top = wide.sort_values([rank, "influencer_id"], ascending=[False, True], kind="stable")
    top = top.head(SHOWN)
    ids = [str(i) for i in top["influencer_id"]]
    shown = [label(names.get(i) or i) for i in ids]
    fig = go.Figure()
    for m in drawn:
        # To the paisa, as summary.json: the figure does not carry float summation noise.
        values = [round(float(v), 2) for v in top[m]]
        fig.add_trace(
            go.Bar(
                x=values,
                y=ids,
                orientation="h",
                name=labels[m],
                marker={"color": MODEL_COLOURS[m]},
                customdata=[
                    [who, fmt.money(v, currency, locale)]
                    for who, v in zip(shown, values, strict=True)
                ],
                hovertemplate=(
                    f"<b>%{{customdata[0]}}</b><br>{labels[m]}: %{{customdata[1]}}<extra></extra>"
                ),
            )
        )
    more = len(wide) - len(top)
    caption = (
        f"Revenue of the window's orders credited to each influencer under each model; the "
        f"{len(top)} influencers with the most {labels[rank].lower()} revenue"
        + (f" ({more} more in the table below)" if more else "")
        + ". Every model credits the same total. Credited revenue is not incremental revenue."
    )
    per_group = 12 + 9 * len(drawn)  # a bar per model, and a gap between influencers
    fig.update_layout(
        layout(title, caption, height=max(260, 110 + per_group * len(top))),
        barmode="group",
        bargap=0.22,
        bargroupgap=0.05,
        hovermode="closest",
        # The legend names the models in the drawing order, also in the PDF (no hover there).
        showlegend=True,
        legend={"traceorder": "normal"},
    )
    category_axis(fig, shown, ids)
    peak = float(top[drawn].to_numpy().max())
    fig.update_xaxes(range=[0, peak * 1.05], **money_ticks(peak, currency, locale))
    return fig


def iroas_chart(rows: Sequence[Mapping[str, Any]], *, confidence: float) -> go.Figure | None:
    """Return each scope's iROAS with its interval against break-even, direct ROAS beside it.

    ``rows`` are the section's scopes, the programme first (``scope`` "overall"), each with
    ``name``, ``payout``, ``iroas``, ``iroas_low``, ``iroas_high``, ``decision`` and
    ``direct_roas``. Scopes without an iROAS are left out (the table says why); of the
    influencers, the ``SHOWN`` with the largest payout are drawn. None when no scope has one.
    """
    title = "Incremental ROAS (iROAS) against break-even, with direct ROAS"
    known = [r for r in rows if fmt.number(r.get("iroas")) is not None]
    if not known:
        return None
    programme = [r for r in known if r["scope"] == "overall"]
    others = sorted(
        (r for r in known if r["scope"] != "overall"),
        key=lambda r: (-(fmt.number(r.get("payout")) or 0.0), str(r["scope"])),
    )
    drawn = programme + others[:SHOWN]
    level = f"{round(confidence * 100)}%"
    lo, hi, cut = _iroas_range(drawn)
    fig = go.Figure()
    for decided in (True, False):
        part = [r for r in drawn if (r.get("decision") != TOO_WIDE) is decided]
        if part:  # the legend names only what is drawn
            fig.add_trace(_iroas_trace(part, decided, level))
    fig.add_trace(_direct_trace(drawn))
    fig.update_layout(
        layout(title, _iroas_caption(rows, known, drawn, level, cut), height=_height(drawn)),
        hovermode="closest",
        # The legend says which mark is which ROAS, also with one kind of mark, and in the PDF.
        showlegend=True,
        legend={"traceorder": "normal"},
    )
    ids = [str(r["scope"]) for r in drawn]
    category_axis(fig, [label(r.get("name") or r["scope"]) for r in drawn], ids)
    fig.update_xaxes(
        range=[lo, hi],
        ticksuffix="x",
        tickformat=RATIO_TICKS,
        title={"text": "Return per unit of payout", "font": {"size": 11, "color": MUTED}},
        zeroline=True,
    )
    break_even_line(fig, annotate=True)
    return fig


def _iroas_trace(rows: Sequence[Mapping[str, Any]], decided: bool, level: str) -> go.Scatter:
    """Return the iROAS marks with their interval whiskers: filled, or hollow grey when the
    interval is too wide to decide."""
    iroas = [float(r["iroas"]) for r in rows]
    low = [float(r["iroas_low"]) for r in rows]
    high = [float(r["iroas_high"]) for r in rows]
    colour = PRIMARY if decided else UNDECIDED
    if decided:
        name = f"iROAS (incremental revenue / payout), {level} interval"
        text = [f"iROAS {fmt.ratio(v)}" for v in iroas]
    else:
        name = f"iROAS {TOO_WIDE} ({level} interval)"
        text = [TOO_WIDE for _ in rows]
    hover = [
        f"iROAS {fmt.ratio(v)}, {level} interval {fmt.ratio(a)} to {fmt.ratio(b)}"
        f"<br>{r.get('decision') or ''}"
        for r, v, a, b in zip(rows, iroas, low, high, strict=True)
    ]
    return go.Scatter(
        x=iroas,
        y=[str(r["scope"]) for r in rows],
        mode="markers+text",
        name=name,
        marker={
            "symbol": "circle" if decided else "circle-open",
            "size": 11,
            "color": colour,
            "line": {"width": 2, "color": colour},
        },
        error_x={
            "type": "data",
            "symmetric": False,
            "array": [b - v for v, b in zip(iroas, high, strict=True)],
            "arrayminus": [v - a for v, a in zip(iroas, low, strict=True)],
            "color": colour,
            "thickness": 2,
            "width": 5,
        },
        text=text,
        textposition="top center",
        textfont={"size": 10, "color": INK if decided else MUTED},
        cliponaxis=False,
        customdata=[
            [label(r.get("name") or r["scope"]), h] for r, h in zip(rows, hover, strict=True)
        ],
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<extra></extra>",
    )


def _direct_trace(rows: Sequence[Mapping[str, Any]]) -> go.Scatter:
    """Return the direct ROAS (tracked revenue / payout) marks, labelled as such."""
    have = [r for r in rows if fmt.number(r.get("direct_roas")) is not None]
    values = [float(r["direct_roas"]) for r in have]
    return go.Scatter(
        x=values,
        y=[str(r["scope"]) for r in have],
        mode="markers+text",
        name="Direct ROAS (tracked revenue / payout)",
        marker={
            "symbol": "diamond",
            "size": 10,
            "color": DIRECT,
            "line": {"width": 1, "color": "#ffffff"},
        },
        text=[f"direct {fmt.ratio(v)}" for v in values],
        textposition="bottom center",
        textfont={"size": 10, "color": INK},
        cliponaxis=False,
        customdata=[
            [
                label(r.get("name") or r["scope"]),
                f"Direct ROAS {fmt.ratio(v)} (tracked revenue / payout)",
            ]
            for r, v in zip(have, values, strict=True)
        ],
        hovertemplate="<b>%{customdata[0]}</b><br>%{customdata[1]}<extra></extra>",
    )


def _iroas_range(rows: Sequence[Mapping[str, Any]]) -> tuple[float, float, bool]:
    """Return the x range (padded for the labels) and whether a whisker runs past it."""
    points = [0.0, 1.0]
    for r in rows:
        points += [float(r["iroas"])]
        if fmt.number(r.get("direct_roas")) is not None:
            points.append(float(r["direct_roas"]))
    reach = WHISKER_REACH * max(abs(p) for p in points)
    ends = [float(r[k]) for r in rows for k in ("iroas_low", "iroas_high")]
    lo = max(min(points + ends), -reach)
    hi = min(max(points + ends), reach)
    cut = any(e < lo or e > hi for e in ends)
    pad = 0.08 * (hi - lo)
    return lo - pad, hi + pad, cut


def _height(rows: Sequence[Any]) -> int:
    # Room above and below each mark for its label (iROAS above, direct ROAS below).
    return max(240, 120 + 56 * len(rows))


def _iroas_caption(
    rows: Sequence[Mapping[str, Any]],
    known: Sequence[Mapping[str, Any]],
    drawn: Sequence[Mapping[str, Any]],
    level: str,
    cut: bool,
) -> str:
    """Return what the marks mean and what the chart leaves out."""
    parts = [
        f"Dots: iROAS (incremental revenue / payout) with its {level} interval; diamonds: "
        "direct ROAS (tracked revenue / payout), which counts orders that would have happened "
        "anyway. Right of the dashed line (1x) pays back its payout. Hollow grey: the interval "
        f"is {TOO_WIDE}."
    ]
    influencers = [r for r in known if r["scope"] != "overall"]
    shown = [r for r in drawn if r["scope"] != "overall"]
    if len(shown) < len(influencers):
        parts.append(
            f"The {len(shown)} influencers with the largest payout of {len(influencers)} "
            "with an estimate; the table lists all."
        )
    missing = len(rows) - len(known)
    if missing:
        noun = "scope" if missing == 1 else "scopes"
        parts.append(f"{missing} {noun} without an iROAS estimate not shown (see the table).")
    if cut:
        parts.append("Whiskers past the axis are cut at its edge; the table has every interval.")
    return " ".join(parts)
