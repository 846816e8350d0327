"""The one definition of each headline KPI and the one way its card reads, everywhere.

HTML, PDF, email, CSV and summary.json all take their KPI list, labels, rounding and the
colour of a change from ``SPECS`` and their text from ``card``: the same value reads the same
in every output. To add a KPI, append a ``KpiSpec`` whose ``compute`` reads the window totals.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from reportgen.model import Kpi
from reportgen.report import fmt

logger = logging.getLogger(__name__)

#: Totals one window gives the KPI functions: revenue, orders, payout (known terms only),
#: covered (revenue of influencers with payout terms) and enough (covered is a large enough
#: share of revenue for a program-wide ratio to mean something).
Totals = Mapping[str, Any]


@dataclass(frozen=True)
class KpiSpec:
    """One KPI: key, label, kind (money, count, ratio), JSON rounding, and whether up is good."""

    key: str
    label: str
    kind: str
    digits: int
    up_is_good: bool | None  # None: a rise is neither good nor bad news (spend)
    compute: Callable[[Totals], float | None]


def _roas(t: Totals) -> float | None:
    # A total loss (paid, nothing sold) is 0.00x; n/a only when nothing was paid.
    if t["payout"] <= 0:
        return None
    if t["revenue"] == 0:
        return 0.0
    return t["covered"] / t["payout"] if t["enough"] else None


def _net(t: Totals) -> float | None:
    # Revenue without payout terms has an unknown cost: it cannot be netted.
    if t["revenue"] and not t["enough"]:
        return None
    return t["covered"] - t["payout"]


def _per(amount: float, n: float) -> float | None:
    return amount / n if n else None


SPECS: tuple[KpiSpec, ...] = (
    KpiSpec("revenue", "Revenue", "money", 2, True, lambda t: t["revenue"]),
    KpiSpec("payout", "Payout", "money", 2, None, lambda t: t["payout"]),
    KpiSpec("net", "Net return", "money", 2, True, _net),
    KpiSpec("roas", "ROAS", "ratio", 4, True, _roas),
    KpiSpec("orders", "Orders", "count", 0, True, lambda t: t["orders"]),
    KpiSpec("aov", "Avg order value", "money", 2, True, lambda t: _per(t["revenue"], t["orders"])),
)
ARROWS = {"up": "▲", "down": "▼", "flat": "▬"}


def spec(key: str) -> KpiSpec | None:
    """Return the spec of ``key``, or None for a KPI the spec does not define."""
    return next((s for s in SPECS if s.key == key), None)


def compute(now: Totals, before: Totals) -> dict[str, Kpi]:
    """Return every KPI of the spec with its value in the comparison window."""
    return {s.key: Kpi(s.key, s.label, s.compute(now), s.compute(before), s.kind) for s in SPECS}


def ordered(kpis: Mapping[str, Kpi]) -> list[Kpi]:
    """Return KPIs in the spec's order; any KPI the spec does not define follows."""
    keys = [s.key for s in SPECS if s.key in kpis]
    return [kpis[k] for k in keys + [k for k in kpis if k not in keys]]


def rounded(kpi_key: str, value: Any) -> float | int | None:
    """Return ``value`` rounded as the spec says for JSON and CSV (None when missing)."""
    s = spec(kpi_key)
    number = fmt.number(value)
    if number is None:
        return None
    digits = s.digits if s else 4
    return round(number) if digits == 0 else round(number, digits)


def card(kpi: Kpi, currency: str, locale: str) -> dict[str, Any]:
    """Return a KPI's card: its numbers and the texts every output shows for them."""
    s = spec(kpi.key)
    change = kpi.change
    change_text = fmt.pct(change)
    direction = None
    if change is not None:
        # Follow the rounded text so "0.0%" never comes with an arrow claiming a direction.
        flat = change_text.lstrip("+" + fmt.MINUS) == fmt.pct(0)
        direction = "flat" if flat else ("up" if change > 0 else "down")
    good_up = s.up_is_good if s else None
    tone = "neutral"
    if direction in ("up", "down") and good_up is not None:
        tone = "good" if (direction == "up") == good_up else "bad"
    return {
        "key": kpi.key,
        "label": kpi.label,
        "kind": kpi.kind,
        "value": fmt.number(kpi.value),
        "previous": fmt.number(kpi.previous),
        "change": fmt.number(change),
        "value_text": fmt.by_kind(kpi.value, kpi.kind, currency, locale),
        "previous_text": fmt.by_kind(kpi.previous, kpi.kind, currency, locale),
        "change_text": change_text if direction else "No comparison",
        "direction": direction,
        "arrow": ARROWS.get(direction or "", ""),
        "tone": tone,
        "note": kpi.note or "",
    }


def cards(kpis: Mapping[str, Kpi], currency: str, locale: str) -> list[dict[str, Any]]:
    """Return every KPI card in display order."""
    return [card(k, currency, locale) for k in ordered(kpis)]


#: What the programme's incremental ROAS is, wherever it reads as one line (report, email).
IROAS_LABEL = "Programme iROAS (incremental revenue / payout)"
#: The break-even decision of an iROAS interval (reportgen/analysis/incrementality.py) in words.
DECISIONS = {
    "above break-even": "above break-even (1x)",
    "below break-even": "below break-even (1x)",
    "inconclusive": "inconclusive: the interval holds break-even (1x)",
}


def iroas_text(estimate: Mapping[str, Any], confidence: float) -> str | None:
    """Return the programme's iROAS line from its summary.json estimate, or None without one.

    The report's incrementality section and the email print this one text. An interval too
    wide to decide break-even gets no point estimate, as in the report's table.
    """
    iroas, low, high = (fmt.number(estimate.get(k)) for k in ("iroas", "iroas_low", "iroas_high"))
    if iroas is None or low is None or high is None:
        return None
    interval = f"{round(confidence * 100)}% interval {fmt.ratio(low)} to {fmt.ratio(high)}"
    decision = str(estimate.get("decision") or "")
    if decision == "too wide to decide":
        return f"{IROAS_LABEL}: too wide to decide ({interval})"
    return f"{IROAS_LABEL}: {fmt.ratio(iroas)} ({interval}), {DECISIONS.get(decision, decision)}"


def from_summary(summary: Mapping[str, Any]) -> dict[str, Kpi]:
    """Return KPIs rebuilt from a summary.json that predates ``kpi_cards`` (older builds)."""
    now, before = summary.get("kpis") or {}, summary.get("kpis_previous") or {}
    out = {}
    for key in now:
        s = spec(key)
        label, kind = (s.label, s.kind) if s else (key.replace("_", " ").capitalize(), "count")
        out[key] = Kpi(key, label, fmt.number(now.get(key)), fmt.number(before.get(key)), kind)
    if "roas" in out:
        out["roas"].note = str(summary.get("roas_note") or "")
    return out
