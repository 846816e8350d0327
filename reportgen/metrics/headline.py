"""The headline: the answer a manager opens the report for, in 3-5 sentences from the data.

Deterministic text (no external service), built from the same KPI cards and formatter as
every other output. ``build`` returns {"sentences": [...], "numbers": {...}}: summary.json
keeps both, the report and the email show the sentences.
"""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd

from reportgen.metrics import kpis
from reportgen.model import ReportData, relative_change
from reportgen.report import fmt

logger = logging.getLogger(__name__)

#: A mover must have changed revenue by at least this share of the window's revenue (the
#: larger of the two windows), so a ₹500 influencer doubling does not lead the headline.
MOVER_MIN_SHARE = 0.02
#: Revenue of influencers paid nothing this window (their fee fell in another window)
#: flatters ROAS and net return; from this share of revenue the headline says so.
UNPAID_MIN_SHARE = 0.05
#: Window findings that change the reading, and what they do to it.
_CAVEATS = {
    "window_no_payout_terms": "without payout terms, left out of ROAS and net return",
    "window_zero_payout": "paid nothing this window, which flatters ROAS and net return",
}


def build(report: ReportData, previous: pd.DataFrame) -> dict[str, Any]:
    """Return the headline of ``report``; ``previous`` is the comparison window's table."""
    preset = report.preset
    cur, loc = preset.currency, preset.locale
    vs = f"vs {report.compare_label}" if report.compare_label else "vs the previous period"
    cards = {c["key"]: c for c in kpis.cards(report.kpis, cur, loc)}
    numbers: dict[str, Any] = {"compared_with": report.compare_label}
    sentences = [_money_sentence(cards, vs, numbers)]
    sentences.append(_break_even_sentence(report.influencers, cur, loc, numbers))
    sentences.append(_net_sentence(report.by_net, cur, loc, numbers))
    sentences.append(_movers_sentence(report, previous, vs, numbers))
    sentences.append(_caveat_sentence(report, cards, previous, numbers))
    return {"sentences": [s for s in sentences if s], "numbers": numbers}


def _money_sentence(cards: dict[str, dict[str, Any]], vs: str, numbers: dict[str, Any]) -> str:
    parts = []
    for n, key in enumerate(("revenue", "payout", "net")):
        c = cards.get(key)
        if c is None:
            continue
        numbers[key] = {k: c[k] for k in ("value", "previous", "change")}
        change = c["change_text"] if c["direction"] else "no comparison"
        where = f" {vs}" if n == 0 and c["direction"] else ""
        parts.append(f"{c['label'].lower()} {c['value_text']} ({change}{where})")
    text = ", ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def _break_even_sentence(t: pd.DataFrame, cur: str, loc: str, numbers: dict[str, Any]) -> str:
    paid = t[t["payout"] > 0]
    below = paid[paid["roas"] < 1]
    total, lost = float(paid["payout"].sum()), float(below["payout"].sum())
    share = lost / total if total else None
    numbers["break_even"] = {
        "paid_partnerships": len(paid),
        "below_break_even": len(below),
        "below_payout": round(lost, 2),
        "below_payout_share": None if share is None else round(share, 4),
    }
    if paid.empty:
        return "No partnership was paid in this window."
    if below.empty:
        return f"All {fmt.count(len(paid), loc)} paid partnerships paid back (ROAS 1x or more)."
    return (
        f"{fmt.count(len(below), loc)} of {fmt.count(len(paid), loc)} paid partnerships are "
        f"below break-even (ROAS under 1x) and took {fmt.pct(share, signed=False)} of the "
        f"payout ({fmt.money(lost, cur, loc)})."
    )


def _net_sentence(by_net: pd.DataFrame | None, cur: str, loc: str, numbers: dict[str, Any]) -> str:
    if by_net is None or by_net.empty:
        return ""
    best = by_net[(by_net["net"] > 0) & (by_net["revenue"] > 0)].head(1)
    worst = by_net[by_net["net"] < 0].tail(1)
    parts = []
    for label, row in (("best net return", best), ("biggest loss", worst)):
        if row.empty:
            continue
        r = row.iloc[0]
        numbers[label.replace(" ", "_")] = _who(r) | {"net": round(float(r["net"]), 2)}
        parts.append(f"{label}: {fmt.clip(r['name'])} ({fmt.money_change(r['net'], cur, loc)})")
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "." if text else ""


def _movers_sentence(
    report: ReportData, previous: pd.DataFrame, vs: str, numbers: dict[str, Any]
) -> str:
    cur_t = report.influencers.set_index("influencer_id")
    old_t = previous.set_index("influencer_id")
    both = cur_t[["name"]].combine_first(old_t[["name"]])
    now = cur_t["revenue"].reindex(both.index, fill_value=0.0)
    before = old_t["revenue"].reindex(both.index, fill_value=0.0)
    delta = now - before
    floor = MOVER_MIN_SHARE * max(float(now.sum()), float(before.sum()))
    big = delta[(delta.abs() >= floor) & (delta.abs() > 0)]
    movers = []
    for side in (big[big > 0], big[big < 0]):
        if side.empty:
            continue
        iid = side.abs().sort_values(ascending=False, kind="stable").index[0]
        movers.append(_mover(iid, both.loc[iid, "name"], before[iid], now[iid], report))
    roas = _roas_mover(cur_t, old_t, report.roas_min_payout)
    if roas and roas["influencer_id"] not in {m["influencer_id"] for m in movers}:
        movers.append(roas)
    numbers["movers"] = movers
    if not movers:
        return ""
    return f"Biggest movers {vs}: " + "; ".join(m["text"] for m in movers) + "."


def _mover(iid: str, name: str, before: float, now: float, report: ReportData) -> dict[str, Any]:
    cur, loc = report.preset.currency, report.preset.locale
    change = relative_change(now, before)
    rel = f", {fmt.pct(change)}" if change is not None else ", new"
    text = f"{fmt.clip(name)} revenue {fmt.money_change(now - before, cur, loc)} ({fmt.money(now, cur, loc)}{rel})"
    return {
        "influencer_id": str(iid),
        "name": str(name),
        "measure": "revenue",
        "before": round(float(before), 2),
        "after": round(float(now), 2),
        "text": text,
    }


def _roas_mover(cur_t: pd.DataFrame, old_t: pd.DataFrame, min_payout: float) -> dict | None:
    """Return the biggest ROAS change among influencers paid enough in both windows."""
    floor = max(min_payout, 0.01)
    a = cur_t[(cur_t["payout"] >= floor) & cur_t["roas"].notna()]
    b = old_t[(old_t["payout"] >= floor) & old_t["roas"].notna()]
    common = a.index.intersection(b.index)
    if common.empty:
        return None
    delta = (a.loc[common, "roas"] - b.loc[common, "roas"]).sort_index()
    iid = delta.abs().sort_values(ascending=False, kind="stable").index[0]
    before, after = float(b.loc[iid, "roas"]), float(a.loc[iid, "roas"])
    if fmt.ratio(before) == fmt.ratio(after):
        return None
    name = str(a.loc[iid, "name"])
    return {
        "influencer_id": str(iid),
        "name": name,
        "measure": "roas",
        "before": round(before, 4),
        "after": round(after, 4),
        "text": f"{fmt.clip(name)} ROAS {fmt.ratio(before)} → {fmt.ratio(after)}",
    }


def _caveat_sentence(
    report: ReportData, cards: dict[str, dict[str, Any]], previous: pd.DataFrame, numbers: dict
) -> str:
    """Return the data-quality caveats that change how this window's numbers read."""
    revenue = float(report.kpis["revenue"].value or 0) if "revenue" in report.kpis else 0.0
    cur, loc = report.preset.currency, report.preset.locale
    notes, codes = [], []
    for issue in report.data_quality:
        # Window findings only: load findings count over all data, not this window.
        why = _CAVEATS.get(issue.code)
        share = issue.revenue / revenue if revenue else 0.0
        if (
            not why
            or not share
            or (issue.code == "window_zero_payout" and share < UNPAID_MIN_SHARE)
        ):
            continue
        codes.append(issue.code)
        notes.append(
            f"{fmt.money(issue.revenue, cur, loc)} of revenue ({fmt.pct(share, signed=False)}) "
            f"came from {fmt.count(issue.rows, loc)} influencer(s) {why}"
        )
    roas = cards.get("roas")
    if roas and roas["value"] is None and roas["note"].startswith("n/a"):
        codes.append("roas_na")
        notes.append(f"ROAS is {roas['note']}")
    if previous.empty and not report.influencers.empty:
        codes.append("no_comparison_data")
        notes.append(f"{report.compare_label or 'the comparison period'} has no data to compare")
    others = [i for i in report.data_quality if i.code not in codes and i.severity != "info"]
    if others and notes:
        notes.append(f"{len(others)} more data-quality note(s) in the report")
    numbers["caveats"] = codes
    if not notes:
        return ""
    return "Read with care: " + "; ".join(notes) + "."


def _who(row: pd.Series) -> dict[str, str]:
    return {"influencer_id": str(row["influencer_id"]), "name": str(row["name"])}
