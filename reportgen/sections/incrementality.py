"""Incrementality section: incremental revenue and iROAS from the holdout, with intervals."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

from reportgen.analysis.incrementality import Estimate, estimate_incrementality
from reportgen.publish import to_csv
from reportgen.sections import SectionOutput
from reportgen.sections.study_input import filtered, in_window, missing, names

if TYPE_CHECKING:
    from reportgen.model import ReportData
    from reportgen.sources import Dataset

logger = logging.getLogger(__name__)

#: Fields of each estimate in summary.json (the issue's contract first, then the labels).
FIELDS = (
    "incremental_revenue",
    "incremental_revenue_low",
    "incremental_revenue_high",
    "incremental_orders",
    "payout",
    "iroas",
    "iroas_low",
    "iroas_high",
    "direct_revenue",
    "direct_roas",
    "decision",
    "commission",
    "commission_on_baseline_orders",
    "users_treatment",
    "users_holdout",
    "reason",
)


class IncrementalitySection:
    """Treatment versus holdout, overall and per influencer, over the report window."""

    name = "incrementality"
    title = "Incrementality: what the programme added"
    template = "_section_incrementality.html"

    def compute(self, report: ReportData, ds: Dataset) -> SectionOutput:
        """Estimate incremental revenue and iROAS with the window's payouts."""
        out = SectionOutput(self.name, self.title, self.template)
        out.summary = {"incrementality": None}
        out.reason = missing(ds, ("conversions", "assignments"), "Incrementality") or filtered(
            report, "Incrementality"
        )
        if out.reason:
            return out
        conversions = in_window(ds, "conversions", report)
        assignments = ds.con.execute("SELECT * FROM assignments").df()
        # The report's own window payouts and tracked sales: iROAS and direct ROAS share them.
        inf = report.influencers
        payouts = pd.DataFrame(
            {
                "influencer_id": inf["influencer_id"],
                "total_payout": inf["payout"],
                "basis": inf["basis"],
                "rate": inf["rate"],
            }
        )
        tracking = inf[["influencer_id", "orders", "revenue"]]
        result = estimate_incrementality(conversions, assignments, payouts, tracking)
        out.summary = {
            "incrementality": {
                "confidence": result.confidence,
                "method": result.method,
                "overall": _fields(result.overall),
                "influencers": [
                    {"influencer_id": e.scope, **_fields(e)} for e in result.influencers
                ],
            }
        }
        table = result.table()
        out.csv = {"incrementality.csv": to_csv(table[["scope", *FIELDS]])}
        who = names(report)
        out.context = {
            "confidence": result.confidence,
            "method": result.method,
            "rows": [
                {**_fields(e), "scope": e.scope, "name": who.get(e.scope, "All influencers")}
                for e in [result.overall, *result.influencers]
            ],
        }
        return out


def _fields(e: Estimate) -> dict[str, Any]:
    """Return an estimate's summary fields, money rounded to 2 places and ratios to 4."""
    d = e.as_dict()
    out: dict[str, Any] = {}
    for key in FIELDS:
        value = d[key]
        if isinstance(value, float):
            value = None if math.isnan(value) else round(value, 4 if "roas" in key else 2)
        out[key] = value
    return out
