"""Metrics: KPIs, breakdowns, payouts and ROAS for one preset. Pure computation, no I/O.

Heavy work runs in the engine through Ibis, so the same expressions compile for DuckDB today
and PostgreSQL, Spark or a warehouse later. Tracking rows are reduced once per build to a daily
fact table (day x influencer x brand), which every preset then filters; only each preset's
small slice reaches pandas, where the final arithmetic happens (:mod:`reportgen.metrics.frames`).

Definitions (see README "How the numbers are computed"):
  payout   per_post: rate x posts in the window; per_order: rate x orders in the window;
           revenue_share: rate x revenue in the window. With a brand filter, a post's fee goes
           to the post's brand when it names one; other posts' fees are split across brands by
           the influencer's revenue share in the window (all-time share when the window has
           none; an equal split when the influencer never sold anything).
  ROAS     revenue / payout; 0.00x for a total loss; n/a when payout is zero or terms missing.
  Net      revenue - payout, per influencer with terms (the KPI: their revenue - payout).
  KPI ROAS revenue of influencers with payout terms / their payout.
  KPIs     defined once in reportgen/metrics/kpis.py (label, kind, rounding, whether up is good).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import pandas as pd

from reportgen.config import Preset
from reportgen.metrics import headline
from reportgen.metrics.frames import (
    DIMENSIONS,
    breakdowns,
    engagement_table,
    influencer_table,
    kpi_figures,
    rank_net,
    top_roas,
    window_findings,
)
from reportgen.model import ReportData, Window
from reportgen.sources import Dataset
from reportgen.windows import compare_label

logger = logging.getLogger(__name__)

ASSUMPTIONS = [
    "Attribution is last-touch: each tracked order counts for the one influencer on its "
    "tracking row.",
    "ROAS is direct, not incremental: revenue / payout, with no holdout or baseline subtracted.",
    "Payouts are computed for this window from each influencer's terms (rate x posts, rate x "
    "orders, or rate x revenue), not taken from the lifetime total_payout column.",
    "Days are calendar days in {tz}; timestamps without a zone are read as local time there.",
    "Money is in {currency}.",
]
BRAND_SPLIT = (
    "With a brand filter, a per-post fee is split across brands in proportion to the "
    "influencer's revenue per brand in the window (all-time share when the window has none; "
    "equal split when the influencer never sold anything); only the selected brands' share "
    "counts here."
)
BRAND_POSTS = "A post that names its brand charges its whole fee to that brand, never split."


@dataclass
class Engine:
    """Builds metric frames from a Dataset; caches per-build work shared by presets."""

    ds: Dataset
    _facts: dict[str, Any] = field(default_factory=dict)
    _dims: dict[str, pd.DataFrame] = field(default_factory=dict)
    _branded: bool | None = None

    @property
    def backend(self) -> Any:
        """Return the Ibis backend holding the dataset's canonical tables."""
        return self.ds.backend

    def facts(self, tz: str) -> Any:
        """Return the daily fact table for ``tz``: day, influencer, category, platform, brand."""
        key = tz if self.ds.zoned else ""
        if key not in self._facts:
            b = self.backend
            t = b.table("tracking_facts")  # pre-aggregated per day (or 15 min when zoned)
            i = b.table("influencers").select("influencer_id", "category", "platform")
            day = _at_zone(tz, t.bucket).date() if self.ds.zoned else t.bucket
            t = t.mutate(day=day).join(i, "influencer_id")
            expr = t.group_by("day", "influencer_id", "category", "platform", "brand").aggregate(
                orders=t.orders.sum().cast("int64"), revenue=t.revenue.sum()
            )
            name = f"facts_{len(self._facts)}"
            self._facts[key] = b.create_table(name, expr, temp=True)
        return self._facts[key]

    def influencers(self) -> pd.DataFrame:
        """Return influencers joined with their payout terms (a small dimension)."""
        if "influencers" not in self._dims:
            b = self.backend
            i, p = b.table("influencers"), b.table("payouts")
            expr = i.select("influencer_id", "name", "category", "platform").left_join(
                p.select("influencer_id", "basis", "rate"), "influencer_id"
            )
            df = expr.select(
                "influencer_id", "name", "category", "platform", "basis", "rate"
            ).to_pandas()
            df = df.sort_values("influencer_id", ignore_index=True)
            self._dims["influencers"] = df.set_index("influencer_id", drop=False)
        return self._dims["influencers"]

    def branded_posts(self) -> bool:
        """Return True when any post names its brand (the report then says how it counts)."""
        if self._branded is None:
            p = self.backend.table("posts")
            self._branded = bool(p.filter(p.brand.notnull()).count().execute())
        return self._branded

    def lifetime_brand_mix(self, tz: str) -> pd.DataFrame:
        """Return revenue per influencer and brand over all data (for cost splitting)."""
        key = f"mix:{tz if self.ds.zoned else ''}"
        if key not in self._dims:
            f = self.facts(tz)
            self._dims[key] = (
                f.group_by("influencer_id", "brand")
                .aggregate(revenue=f.revenue.sum().cast("float64"))
                .to_pandas()
                .sort_values(["influencer_id", "brand"], ignore_index=True)
            )
        return self._dims[key]

    def batch(self, jobs: list[tuple[Preset, Window]]) -> dict[str, pd.DataFrame]:
        """Return the slices every job needs, from four queries for all jobs of one timezone.

        Each job is a preset and its window; its previous window comes along. Frames:
          per:    job, period, influencer_id, orders, revenue (selected brands), revenue_all
                  (all brands, to split per-post fees)
          brands: job, brand, orders, revenue (current window, selected brands)
          daily:  job, day, orders, revenue (current window, selected brands)
          posts:  job, period, influencer_id, platform, posts, reach, likes, comments
        """
        tz = jobs[0][0].timezone
        spec = self._spec(jobs)
        f = self.facts(tz)
        j = f.join(spec, f.day == spec.day)
        j = j.filter(_matches(spec, j.category, j.platform))
        selected = spec.all_brands | spec.brands.contains(j.brand)
        per = j.group_by("job", "period", "influencer_id").aggregate(
            orders=j.orders.sum(where=selected).cast("int64"),
            revenue=j.revenue.sum(where=selected).cast("float64"),
            revenue_all=j.revenue.sum().cast("float64"),
        )
        cur = j.filter(j.period == "current", selected)
        brands = cur.group_by("job", "brand").aggregate(
            orders=cur.orders.sum().cast("int64"), revenue=cur.revenue.sum().cast("float64")
        )
        daily = cur.group_by("job", "day").aggregate(
            orders=cur.orders.sum().cast("int64"), revenue=cur.revenue.sum().cast("float64")
        )
        exprs = {"per": per, "brands": brands, "daily": daily, "posts": self._posts(tz, spec)}
        # Engines return rows in any order; float sums must not depend on it.
        keys = {
            "per": ["job", "period", "influencer_id"],
            "brands": ["job", "brand"],
            "daily": ["job", "day"],
            "posts": ["job", "period", "influencer_id", "platform"],
        }
        out = {}
        for name, expr in exprs.items():
            frame = expr.to_pandas()
            if frame.empty:
                # Empty Arrow-backed string columns break pandas merges: use plain objects.
                frame = frame.astype({c: object for c in frame.columns if frame[c].dtype == "str"})
            if "day" in frame:
                frame["day"] = pd.to_datetime(frame["day"]).dt.date
            out[name] = frame.sort_values(keys[name], ignore_index=True)
        out["per"][["orders", "revenue"]] = out["per"][["orders", "revenue"]].fillna(0)
        return out

    def _spec(self, jobs: list[tuple[Preset, Window]]) -> Any:
        """Return a small table: one row per job, period and day, with the job's filters.

        One row per day makes the join with the facts an equality join (a hash join in any
        engine) rather than a range join; a year-long window is still only 365 rows.
        """
        rows: list[dict[str, Any]] = []
        for n, (preset, window) in enumerate(jobs):
            flt = preset.filters
            for period, w in (("current", window), ("previous", preset.compare_window(window))):
                rows.extend(
                    {
                        "job": n,
                        "period": period,
                        "day": day,
                        "all_brands": not flt.brands,
                        "brands": list(flt.brands) or [""],
                        "all_categories": not flt.categories,
                        "categories": list(flt.categories) or [""],
                        "all_platforms": not flt.platforms,
                        "platforms": list(flt.platforms) or [""],
                    }
                    for day in w.dates()
                )
        schema = {
            "job": "int64",
            "period": "string",
            "day": "date",
            "all_brands": "boolean",
            "brands": "array<string>",
            "all_categories": "boolean",
            "categories": "array<string>",
            "all_platforms": "boolean",
            "platforms": "array<string>",
        }
        return ibis.memtable(pd.DataFrame(rows), schema=schema)

    def _posts(self, tz: str, spec: Any) -> Any:
        """Return post counts and engagement per job, period, influencer and post platform."""
        b = self.backend
        p = b.table("posts")
        i = b.table("influencers").select(
            "influencer_id", inf_category="category", inf_platform="platform"
        )
        p = p.mutate(day=_local_day(p.date, tz, self.ds.zoned)).join(i, "influencer_id")
        j = p.join(spec, p.day == spec.day)
        j = j.filter(_matches(spec, j.inf_category, j.inf_platform))
        own = {}
        if self.branded_posts():  # most sources name no brand on posts: spare the counts
            branded = j.brand.notnull()
            own = {
                "branded": j.count(where=branded),
                # Posts whose own brand is one the job selects: their whole fee counts.
                "own": j.count(where=branded & (j.all_brands | j.brands.contains(j.brand))),
            }
        return j.group_by("job", "period", "influencer_id", "platform").aggregate(
            # Sums of BIGINT are HUGEINT in DuckDB, which Ibis turns into slow Python Decimals.
            posts=j.count(),
            **own,
            reach=j.reach.sum().cast("int64"),
            likes=j.likes.sum().cast("int64"),
            comments=j.comments.sum().cast("int64"),
        )


def _matches(spec: Any, category: Any, platform: Any) -> Any:
    """Return the predicate: a row passes the job's category and platform filters."""
    return (spec.all_categories | spec.categories.contains(category)) & (
        spec.all_platforms | spec.platforms.contains(platform)
    )


@ibis.udf.scalar.builtin(name="timezone")
def _at_zone(zone: str, ts: dt.timestamp) -> dt.timestamp:
    """Return the wall-clock time of ``ts`` in ``zone`` (DuckDB and PostgreSQL builtin)."""


def _local_day(col: Any, tz: str, zoned: bool) -> Any:
    """Return the calendar day of a timestamp column in ``tz``."""
    if not zoned:
        return col.date()  # naive timestamps are already local time of the report
    return _at_zone(tz, col).date()


def compute(engine: Engine, preset: Preset, window: Window, as_of: date) -> ReportData:
    """Compute everything one preset's report shows."""
    return compute_all(engine, [(preset, window, as_of)])[0]


def compute_all(engine: Engine, jobs: list[tuple[Preset, Window, date]]) -> list[ReportData]:
    """Compute many reports: one batch of engine queries per timezone, vectorised pandas."""
    by_tz: dict[str, list[int]] = {}
    for n, (preset, _, _) in enumerate(jobs):
        by_tz.setdefault(preset.timezone if engine.ds.zoned else "", []).append(n)
    out: list[ReportData | None] = [None] * len(jobs)
    dim = engine.influencers()
    for members in by_tz.values():
        group = [jobs[n] for n in members]
        frames = engine.batch([(p, w) for p, w, _ in group])
        mix = engine.lifetime_brand_mix(group[0][0].timezone)
        table = influencer_table(frames, [p for p, _, _ in group], dim, mix)
        engagement = engagement_table(table, frames["posts"], dim)
        current = table[table["period"] == "current"]
        split = {
            "table": _split(table, ["job", "period"]),
            "engagement": _split(engagement, ["job"]),
            "daily": _split(frames["daily"], ["job"]),
            "brand": _split(breakdowns(frames["brands"], "brand"), ["job"]),
            "category": _split(breakdowns(current, "category"), ["job"]),
            "platform": _split(breakdowns(current, "platform"), ["job"]),
        }
        for local, n in enumerate(members):
            preset, window, as_of = jobs[n]
            out[n] = _report(engine, preset, window, as_of, local, split, table)
    return [r for r in out if r is not None]


def _split(frame: pd.DataFrame, keys: list[str]) -> dict[Any, pd.DataFrame]:
    """Return ``frame`` split by ``keys`` (a missing key later means an empty part)."""
    parts = {k if len(keys) > 1 else k[0]: v for k, v in frame.groupby(keys, sort=False)}
    parts[None] = frame.iloc[0:0]
    return parts


def _report(
    engine: Engine,
    preset: Preset,
    window: Window,
    as_of: date,
    job: int,
    split: dict[str, dict[Any, pd.DataFrame]],
    table: pd.DataFrame,
) -> ReportData:
    """Assemble one report from its parts of the batch frames."""
    tables = split["table"]
    infl = tables.get((job, "current"), tables[None]).drop(columns=["job", "period"])
    old = tables.get((job, "previous"), tables[None])
    figures = kpi_figures(infl, old)
    infl = infl.reset_index(drop=True)
    by_revenue = infl.sort_values(["revenue", "influencer_id"], ascending=[False, True])
    quality = window_findings(engine.ds.issues, infl)
    previous = preset.compare_window(window)
    min_payout = preset.min_payout(float(infl["payout"].sum(skipna=True)))
    assumptions = [a.format(tz=preset.timezone, currency=preset.currency) for a in ASSUMPTIONS]
    if preset.filters.brands:
        assumptions.append(BRAND_SPLIT)
        if engine.branded_posts():
            assumptions.append(BRAND_POSTS)
    daily = split["daily"].get(job, split["daily"][None]).set_index("day")[["revenue", "orders"]]
    daily = daily.reindex(window.dates(), fill_value=0).rename_axis("date").reset_index()
    daily["orders"] = daily["orders"].astype("int64")
    by = {k: split[k].get(job, split[k][None]).drop(columns="job") for k in DIMENSIONS}
    engagement = split["engagement"].get(job, split["engagement"][None])
    report = ReportData(
        preset=preset,
        window=window,
        previous_window=previous,
        kpis=figures,
        daily=daily,
        by_brand=by["brand"].reset_index(drop=True),
        by_category=by["category"].reset_index(drop=True),
        by_platform=by["platform"].reset_index(drop=True),
        influencers=by_revenue.reset_index(drop=True),
        # Nobody who sold nothing is "top" anything.
        top_by_revenue=by_revenue[by_revenue["revenue"] > 0].head(preset.top_n),
        top_by_roas=top_roas(infl, min_payout).head(preset.top_n).reset_index(drop=True),
        engagement=engagement.drop(columns=["job"]).reset_index(drop=True),
        data_quality=quality,
        assumptions=assumptions,
        provenance={"as_of": as_of.isoformat(), **engine.ds.provenance},
        compare_label=compare_label(previous, preset.locale),
        roas_min_payout=min_payout,
        by_net=rank_net(infl),
    )
    report.top_by_revenue = report.top_by_revenue.reset_index(drop=True)
    report.headline = headline.build(report, old.drop(columns=["job", "period"]))
    return report
