"""Incrementality section: incremental revenue and iROAS from the holdout, with intervals."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from reportgen.analysis.incrementality import (
    OVERALL,
    Estimate,
    Outcomes,
    estimate_from_outcomes,
)
from reportgen.metrics import kpis
from reportgen.report.publish import to_csv
from reportgen.sections import SectionOutput
from reportgen.sections.study_charts import iroas_chart
from reportgen.sections.study_input import filtered, missing, names, window
from reportgen.sources.study import select

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
        result = estimate_from_outcomes(outcomes(ds, report), payouts, tracking)
        overall = _fields(result.overall)
        # Written once from the rounded summary fields: the email reads this text back verbatim.
        line = kpis.iroas_text(overall, result.confidence)
        out.summary = {
            "incrementality": {
                "confidence": result.confidence,
                "method": result.method,
                "iroas_text": line,
                "overall": overall,
                "influencers": [
                    {"influencer_id": e.scope, **_fields(e)} for e in result.influencers
                ],
            }
        }
        table = result.table()
        out.csv = {"incrementality.csv": to_csv(table[["scope", *FIELDS]])}
        who = names(report)
        rows = [
            {**_fields(e), "scope": e.scope, "name": who.get(e.scope, "All influencers")}
            for e in [result.overall, *result.influencers]
        ]
        out.context = {
            "confidence": result.confidence,
            "method": result.method,
            "iroas_text": line,
            "rows": rows,
        }
        fig = iroas_chart(rows, confidence=result.confidence)
        out.figures = {"incrementality": fig} if fig is not None else {}
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


def outcomes(ds: Dataset, report: ReportData) -> dict[str, Outcomes]:
    """Return each scope's group sizes and its buyers' revenue and orders, from the engine.

    Millions of assignment rows stay in the engine: only the users with an order in the
    window and in their assignment period (start to end, inclusive calendar days) come back.
    """
    tz = report.preset.timezone
    orders = select(ds, "conversions", tz, columns=("user_id", "time", "revenue"), **window(report))
    rows = select(ds, "assignments", tz)
    sizes = ds.con.execute(
        f"SELECT influencer_id, \"group\" = 'holdout', count(*) FROM ({rows}) GROUP BY ALL"
    ).fetchall()
    # An order counts from the start instant to the midnight after the end day (a missing
    # bound excludes nothing); the loader has made every user appear once per scope.
    buyers = ds.con.execute(
        f"""
        WITH o AS ({orders}), a AS ({rows}), per_user AS (
            SELECT a.influencer_id, a."group" = 'holdout' AS held,
                   sum(o.revenue) AS revenue, count(*) AS orders
            FROM a JOIN o USING (user_id)
            WHERE NOT coalesce(o.time < a."start", false)
              AND NOT coalesce(o.time >= CAST(a."end" AS DATE) + INTERVAL 1 DAY, false)
            GROUP BY a.influencer_id, held, a.user_id
        )
        SELECT influencer_id, held, list(revenue), list(orders) FROM per_user GROUP BY ALL
        """
    ).fetchall()
    found = {(k, held): (rev, n) for k, held, rev, n in buyers}
    users: dict[str | None, dict[bool, int]] = {}
    for k, held, n in sizes:
        users.setdefault(k, {})[held] = n
    out = {}
    for k, groups in users.items():
        parts = [found.get((k, held), ([], [])) for held in (False, True)]
        out[OVERALL if k is None else str(k)] = Outcomes(
            groups.get(False, 0),
            groups.get(True, 0),
            np.asarray(parts[0][0], float),
            np.asarray(parts[1][0], float),
            np.asarray(parts[0][1], float),
            np.asarray(parts[1][1], float),
        )
    return out
