"""Charts of influencers: top by revenue and by ROAS, net return, ROAS against break-even.

A loss-maker (ROAS under 1x) is marked by colour, a hatch and a "▼ below 1x" text, so the mark
does not rely on colour alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from reportgen.model import ReportData
from reportgen.report import fmt
from reportgen.report.chart_style import (
    BAD,
    GOOD,
    INK,
    MUTED,
    PRIMARY,
    RATIO_TICKS,
    bar_height,
    break_even_line,
    category_axis,
    empty,
    label,
    layout,
    log_ticks,
    money_args,
    money_ticks,
    ratio_tick,
    signed_money_ticks,
)

#: ROAS spread (max / min) above which the break-even chart switches to a log x axis.
LOG_SPREAD = 20
#: How many of the biggest spenders the break-even chart names next to their mark.
LABELLED = 3
#: Where a ROAS of zero is drawn on a log axis, which cannot show zero.
LOG_FLOOR = 0.01


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
    fig.update_layout(layout(title, caption, height=bar_height(len(frame))), showlegend=False)
    category_axis(fig, [label(n) for n in frame["name"]], frame["influencer_id"])
    return fig


def top_by_revenue(report: ReportData) -> go.Figure:
    """Return the top influencers by revenue as horizontal bars, loss-makers marked."""
    frame = report.top_by_revenue
    title = f"Top {_top_n(report)} influencers by revenue"
    if frame.empty or not frame["revenue"].fillna(0).any():
        return empty(title, height=300)
    cur, loc = money_args(report)
    revenue = frame["revenue"].astype(float).fillna(0.0)
    loss = _loss_makers(frame)
    caption = "Revenue attributed in this window." + _loss_caption(loss)
    fig = _influencer_bars(
        frame, revenue, loss, PRIMARY, fmt.money, title, caption, cur=cur, loc=loc
    )
    fig.update_xaxes(range=[0, float(revenue.max()) * 1.45], **money_ticks(revenue.max(), cur, loc))
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
        return empty(title, height=300)
    cur, loc = money_args(report)
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
        **signed_money_ticks(lo, hi, cur, loc),
    )
    return fig


def top_by_roas(report: ReportData) -> go.Figure:
    """Return the top influencers by ROAS, coloured and patterned by break-even."""
    frame = report.top_by_roas.dropna(subset=["roas"])
    title = f"Top {_top_n(report)} influencers by ROAS"
    if frame.empty:
        return empty(title, height=300)
    cur, loc = money_args(report)
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
    fig.update_layout(layout(title, caption, height=bar_height(len(frame))), showlegend=False)
    category_axis(fig, [label(n) for n in frame["name"]], frame["influencer_id"])
    fig.update_xaxes(
        range=[0, max(float(roas.max()), 1.0) * 1.35], ticksuffix="x", tickformat=RATIO_TICKS
    )
    break_even_line(fig, annotate=False)
    return fig


def roas_break_even(report: ReportData) -> go.Figure:
    """Return every influencer's ROAS against payout, split at the break-even line ROAS = 1."""
    title = "ROAS per influencer against break-even"
    infl = report.influencers
    known = infl.dropna(subset=["roas"])
    excluded = len(infl) - len(known)
    if known.empty:
        return empty(title, height=420, caption=_na_note(excluded))
    cur, loc = money_args(report)
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
                    label(known["name"].iloc[i]) if known.index[i] in labelled else "" for i in rows
                ],
                textposition="top center",
                textfont={"size": 10, "color": INK},
                customdata=[hover[i] for i in rows],
                hovertemplate=_INFLUENCER_HOVER,
            )
        )
    caption = _scatter_caption(len(known), excluded, int((roas < floor).sum()) if log else 0, floor)
    fig.update_layout(layout(title, caption, height=440), hovermode="closest")
    top = float(known["payout"].max())
    fig.update_yaxes(
        title={"text": "Payout in window", "font": {"size": 11, "color": MUTED}},
        # Padding below zero keeps marks of tiny payouts from being cut by the axis.
        range=[-0.05 * top, 1.12 * top] if top > 0 else None,
        **money_ticks(top, cur, loc),
    )
    xaxis: dict[str, Any] = {"title": {"text": "ROAS (revenue / payout)", "font": {"size": 11}}}
    if log:
        lo, hi = min(float(drawn.min()), 1.0), max(float(drawn.max()), 1.0)
        ticks = log_ticks(lo, hi)
        xaxis.update(
            type="log",
            range=[math.log10(lo) - 0.15, math.log10(hi) + 0.15],
            tickvals=ticks,
            ticktext=[ratio_tick(t) for t in ticks],
        )
    else:
        xaxis.update(
            rangemode="tozero",
            ticksuffix="x",
            tickformat=RATIO_TICKS,
            range=[0, max(roas.max(), 1.0) * 1.1],
        )
    fig.update_xaxes(**xaxis)
    break_even_line(fig, annotate=True, log=log)
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
    return fmt.money(rule, *money_args(report)) if rule != "" else "not set"


_INFLUENCER_HOVER = (
    "<b>%{customdata[0]}</b><br>%{customdata[1]}<br>Revenue %{customdata[2]}"
    "<br>Payout %{customdata[3]}<br>ROAS %{customdata[4]}<extra></extra>"
)


def _top_n(report: ReportData) -> int:
    return int(getattr(report.preset, "top_n", 10) or 10)


def _profitable(frame: pd.DataFrame) -> list[bool]:
    """Return break-even flags: the frame's ``profitable`` column, else ROAS >= 1."""
    out = []
    for flag, roas in zip(frame["profitable"], frame["roas"], strict=True):
        out.append(bool(flag) if flag is not pd.NA and flag is not None else float(roas) >= 1)
    return out


def _influencer_hover(frame: pd.DataFrame, cur: str, loc: str) -> list[list[str]]:
    return [
        [
            label(r.name),
            label(r.platform),
            fmt.money(r.revenue, cur, loc),
            fmt.money(r.payout, cur, loc),
            fmt.ratio(r.roas),
        ]
        for r in frame.itertuples(index=False)
    ]


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
