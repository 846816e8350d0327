"""Attribution section: revenue credited to each influencer under each chosen model."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from reportgen.analysis.attribution import attribute
from reportgen.report.publish import to_csv
from reportgen.sections import SectionOutput
from reportgen.sections.study_charts import attribution_chart
from reportgen.sections.study_input import filtered, in_window, missing, names
from reportgen.sources.sql import lit
from reportgen.sources.study import KINDS

if TYPE_CHECKING:
    from reportgen.model import ReportData
    from reportgen.sources import Dataset

logger = logging.getLogger(__name__)

LABELS = {
    "last_touch": "Last touch",
    "first_touch": "First touch",
    "linear": "Linear",
    "time_decay": "Time decay",
    "position_based": "Position (40/20/40)",
    "markov": "Markov removal",
    "shapley": "Shapley",
}


#: Columns the analysis reads (the others stay in the engine).
TOUCHES = ("user_id", "influencer_id", "time", "kind")
CONVERSIONS = ("user_id", "time", "revenue")
#: How some of them leave the engine. The analysis only compares user ids, so they come as
#: DuckDB's 64-bit hash, computed in the parallel scan: exporting 6.85M ids as strings and
#: dictionary-encoding them was the costliest step of reading them at 300k users. Two users
#: share a hash with probability about users^2 / 2^65 (2e-9 at 300k users), like Shapley's
#: set keys. Kinds (checked at load) come as an enum, so a categorical.
USER_HASH = {"user_id": "hash(user_id)"}
TOUCH_SQL = {**USER_HASH, "kind": f"CAST(kind AS ENUM({', '.join(map(lit, KINDS))}))"}


class AttributionSection:
    """Credited revenue per influencer, one column per model, over the report window."""

    name = "attribution"
    title = "Attribution: revenue credited under each model"
    template = "_section_attribution.html"

    def compute(self, report: ReportData, ds: Dataset) -> SectionOutput:
        """Attribute the window's orders to the touches before them."""
        out = SectionOutput(self.name, self.title, self.template)
        out.summary = {"attribution": None}
        out.reason = missing(ds, ("touchpoints", "conversions"), "Attribution") or filtered(
            report, "Attribution"
        )
        if out.reason:
            return out
        opts = report.preset.attribution
        lookback = float(opts["lookback_days"])
        conversions = in_window(
            ds, "conversions", report, columns=CONVERSIONS, expressions=USER_HASH
        )
        if conversions.empty:
            out.reason = "Attribution: no orders in the conversions table fall in this window"
            return out
        # Touches up to the lookback before the window's first day can earn its orders.
        touches = in_window(
            ds,
            "touchpoints",
            report,
            before_days=lookback,
            columns=TOUCHES,
            expressions=TOUCH_SQL,
        )
        models = tuple(opts["models"])
        result = attribute(
            touches,
            conversions,
            models=models,
            lookback_days=lookback,
            half_life_days=float(opts["half_life_days"]),
        )
        wide = result.table().reset_index()
        out.summary = {
            "attribution": {
                m: [
                    {"influencer_id": str(r.influencer_id), "revenue": round(float(r.revenue), 2)}
                    for r in result.credited[result.credited["model"] == m].itertuples()
                ]
                for m in models
            }
        }
        out.context = _context(report, wide, models, result)
        out.csv = {"attribution.csv": to_csv(wide)}
        preset = report.preset
        fig = attribution_chart(
            wide, models, names(report), LABELS, currency=preset.currency, locale=preset.locale
        )
        out.figures = {"attribution": fig} if fig is not None else {}
        return out


def _context(report: ReportData, wide: Any, models: tuple[str, ...], result: Any) -> dict:
    """Return the partial's data: one row per influencer, one money cell per model."""
    who = names(report)
    rows = [
        {
            "influencer_id": str(r["influencer_id"]),
            "name": who.get(str(r["influencer_id"]), ""),
            "credit": [float(r[m]) for m in models],
        }
        for _, r in wide.sort_values(models[0], ascending=False).iterrows()
    ]
    return {
        "models": [LABELS[m] for m in models],
        "rows": rows,
        "attributed_revenue": result.attributed_revenue,
        "unattributed_revenue": result.unattributed_revenue,
        "converting_journeys": result.converting_journeys,
        "lookback_days": result.lookback_days,
        "half_life_days": result.half_life_days,
    }
