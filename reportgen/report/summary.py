"""The machine-readable outputs of a report: summary.json and the CSV tables."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from reportgen import __version__
from reportgen.metrics import kpis
from reportgen.model import ReportData
from reportgen.report import fmt
from reportgen.report.publish import to_csv


def _num(value: Any, digits: int = 2) -> float | int | None:
    """Return a JSON-safe rounded number; None for missing, NaN or infinite."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = fmt.number(value)  # the formatter's reading of "missing", for every output
    return None if number is None else round(number, digits)


def _influencer_rows(frame: pd.DataFrame | None) -> list[dict[str, Any]]:
    if frame is None:
        return []
    return [
        {
            "influencer_id": r.influencer_id,
            "name": r.name,
            "revenue": _num(r.revenue),
            "orders": int(r.orders),
            "payout": _num(r.payout),
            "net": _num(getattr(r, "net", r.revenue - r.payout)),
            "roas": _num(r.roas, 4),
            "below_break_even": bool(r.roas < 1) if _num(r.roas) is not None else False,
        }
        for r in frame.itertuples()
    ]


def _cards(report: ReportData) -> list[dict[str, Any]]:
    """Return the KPI cards with their numbers rounded as the spec says (texts unchanged)."""
    return [
        c
        | {
            "value": kpis.rounded(c["key"], c["value"]),
            "previous": kpis.rounded(c["key"], c["previous"]),
            "change": _num(c["change"], 4),
        }
        for c in kpis.cards(report.kpis, report.preset.currency, report.preset.locale)
    ]


def build_summary(report: ReportData, config_info: dict[str, Any]) -> dict[str, Any]:
    """Return the summary.json content: deterministic, no timestamps."""
    p = report.preset
    figures = kpis.ordered(report.kpis)
    net = report.by_net
    return {
        "preset": p.name,
        "title": p.title,
        "as_of": report.provenance.get("as_of"),
        "window": {"start": report.window.start.isoformat(), "end": report.window.end.isoformat()},
        "previous_window": {
            "start": report.previous_window.start.isoformat(),
            "end": report.previous_window.end.isoformat(),
        },
        "compare": {"mode": p.compare, "label": report.compare_label},
        "timezone": p.timezone,
        "currency": p.currency,
        "filters": {
            "brands": list(p.filters.brands),
            "categories": list(p.filters.categories),
            "platforms": list(p.filters.platforms),
        },
        "headline": report.headline,
        "kpis": {k.key: kpis.rounded(k.key, k.value) for k in figures},
        "kpis_previous": {k.key: kpis.rounded(k.key, k.previous) for k in figures},
        "kpis_change": {k.key: _num(k.change, 4) for k in figures},
        "kpi_cards": _cards(report),
        "roas_note": report.kpis["roas"].note if "roas" in report.kpis else "",
        "roas_min_payout": _num(report.roas_min_payout),
        "top_influencers_by_revenue": _influencer_rows(report.top_by_revenue),
        "top_influencers_by_roas": _influencer_rows(report.top_by_roas),
        "top_influencers_by_net": _influencer_rows(
            None if net is None else net[(net["net"] > 0) & (net["revenue"] > 0)].head(p.top_n)
        ),
        "biggest_losses_by_net": _influencer_rows(
            None if net is None else net[net["net"] < 0].iloc[::-1].head(p.top_n)
        ),
        "breakdowns": {
            name: [
                {name: r[0], "revenue": _num(r[1]), "orders": int(r[2])}
                for r in frame[[name, "revenue", "orders"]].itertuples(index=False)
            ]
            for name, frame in (
                ("brand", report.by_brand),
                ("category", report.by_category),
                ("platform", report.by_platform),
            )
        },
        "data_quality": [i.as_dict() for i in report.data_quality],
        "assumptions": list(report.assumptions),
        "source": {k: v for k, v in report.provenance.items() if k != "as_of"},
        "config": config_info,
        "generator": f"reportgen {__version__}",
    }


def dumps(summary: dict[str, Any]) -> bytes:
    """Serialise a summary the same way every time."""
    return (json.dumps(summary, indent=2, ensure_ascii=False, sort_keys=False) + "\n").encode()


def csv_tables(report: ReportData) -> dict[str, bytes]:
    """Return the report's tables as neutralised CSV files."""
    payouts = report.influencers[
        [
            "influencer_id",
            "name",
            "category",
            "platform",
            "basis",
            "rate",
            "posts",
            "orders",
            "payout",
            "revenue",
            "roas",
        ]
    ].copy()
    payouts["net"] = (report.influencers["revenue"] - report.influencers["payout"]).round(2)
    payouts["profitable"] = (
        report.influencers["profitable"]
        .astype("object")
        .where(report.influencers["profitable"].notna(), "")
    )
    dq = pd.DataFrame(
        [i.as_dict() | {"examples": "; ".join(i.examples)} for i in report.data_quality],
        columns=["code", "severity", "message", "table", "file", "rows", "revenue", "examples"],
    )
    figures = pd.DataFrame(
        [
            {
                "kpi": c["key"],
                "label": c["label"],
                "value": c["value"],
                "previous": c["previous"],
                "change": c["change"],
                "value_text": c["value_text"],
                "previous_text": c["previous_text"],
                "change_text": c["change_text"],
            }
            for c in _cards(report)
        ],
        columns=[
            "kpi",
            "label",
            "value",
            "previous",
            "change",
            "value_text",
            "previous_text",
            "change_text",
        ],
    )
    return {
        "kpis.csv": to_csv(figures),
        "payouts.csv": to_csv(payouts),
        "daily.csv": to_csv(report.daily),
        "by_brand.csv": to_csv(report.by_brand),
        "by_category.csv": to_csv(report.by_category),
        "by_platform.csv": to_csv(report.by_platform),
        "engagement.csv": to_csv(report.engagement),
        "data_quality.csv": to_csv(dq),
    }
