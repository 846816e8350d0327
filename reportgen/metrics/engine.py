"""Metrics: KPIs, breakdowns, payouts and ROAS for one preset. Pure computation, no I/O.

Heavy work runs in the engine through Ibis, so the same expressions compile for DuckDB today
and PostgreSQL, Spark or a warehouse later. Tracking rows are reduced once per build to a daily
fact table (day x influencer x brand), which every preset then filters; only each preset's
small slice reaches pandas, where the final arithmetic happens.

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
import ibis.backends.duckdb  # loaded with this module, not by the first query
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from reportgen.config import Preset
from reportgen.config.catalogue import UNMAPPED_BRAND
from reportgen.metrics import headline, kpis
from reportgen.model import Issue, Kpi, ReportData, Window
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
    _backend: Any = None
    _facts: dict[str, Any] = field(default_factory=dict)
    _dims: dict[str, pd.DataFrame] = field(default_factory=dict)
    _branded: bool | None = None

    @property
    def backend(self) -> Any:
        """Return the Ibis backend over the dataset's connection."""
        if self._backend is None:
            self._backend = ibis.duckdb.from_connection(self.ds.con)
        return self._backend

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
        table = _influencer_table(frames, [p for p, _, _ in group], dim, mix)
        engagement = _engagement(table, frames["posts"], dim)
        current = table[table["period"] == "current"]
        split = {
            "table": _split(table, ["job", "period"]),
            "engagement": _split(engagement, ["job"]),
            "daily": _split(frames["daily"], ["job"]),
            "brand": _split(_breakdowns(frames["brands"], "brand"), ["job"]),
            "category": _split(_breakdowns(current, "category"), ["job"]),
            "platform": _split(_breakdowns(current, "platform"), ["job"]),
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


def _influencer_table(
    frames: dict[str, pd.DataFrame], presets: list[Preset], dim: pd.DataFrame, mix: pd.DataFrame
) -> pd.DataFrame:
    """Return one row per job, period and influencer with payout and ROAS, for all jobs."""
    keys = ["job", "period", "influencer_id"]
    counts = ["posts", "branded", "own", "reach", "likes", "comments"]
    frame = frames["posts"]
    frame = frame.assign(**{c: 0 for c in ("branded", "own") if c not in frame})
    posts = frame.groupby(keys, as_index=False)[counts]
    t = frames["per"].merge(posts.sum(), on=keys, how="outer").sort_values(keys, ignore_index=True)
    for c in ["orders", *counts]:
        t[c] = t[c].fillna(0).astype("int64")
    for c in ["revenue", "revenue_all"]:
        t[c] = t[c].fillna(0.0).astype(float)
    t = t.join(dim[["name", "category", "platform", "basis", "rate"]], on="influencer_id")
    t["brand_share"] = _brand_share(t, presets, mix)
    t["payout"] = _payout(t)
    t = t[(t["revenue"] > 0) | (t["payout"].fillna(0) > 0) | (t["orders"] > 0)].copy()
    # A total loss (paid, nothing sold) is 0.00x; n/a only when the payout is zero or unknown.
    t["roas"] = np.where(t["payout"] > 0, t["revenue"] / t["payout"].where(t["payout"] > 0), np.nan)
    t["net"] = t["revenue"] - t["payout"]
    t["profitable"] = pd.array(
        [pd.NA if np.isnan(r) else bool(r >= 1) for r in t["roas"]], dtype="boolean"
    )
    return t.drop(columns=["brand_share", "revenue_all", "branded", "own"]).reset_index(drop=True)


def _brand_share(t: pd.DataFrame, presets: list[Preset], mix: pd.DataFrame) -> pd.Series:
    """Return, per row, the share of a per-post fee that the job's selected brands carry.

    The influencer's revenue share of those brands in the window; the all-time share when the
    window has no revenue; an equal split across catalogue brands when there is none at all.
    """
    share = pd.Series(1.0, index=t.index)
    known = sorted({b for b in mix["brand"].unique() if b != UNMAPPED_BRAND})
    life_total = mix.groupby("influencer_id")["revenue"].sum()
    for job, preset in enumerate(presets):
        brands = set(preset.filters.brands)
        rows = t["job"] == job
        if not brands or not rows.any():
            continue
        sel = mix[mix["brand"].isin(brands)].groupby("influencer_id")["revenue"].sum()
        life = (sel.reindex(life_total.index, fill_value=0) / life_total).where(life_total > 0)
        equal = len(brands & set(known)) / max(len(known), 1) if known else 1.0
        sub = t.loc[rows]
        window = (sub["revenue"] / sub["revenue_all"]).where(sub["revenue_all"] > 0)
        fallback = sub["influencer_id"].map(life).fillna(equal)
        share[rows] = window.fillna(fallback)
    return share


def _payout(t: pd.DataFrame) -> pd.Series:
    """Return each influencer's payout in the window from basis and rate (NaN: no terms).

    A post that names its brand charges its whole fee to that brand; the fees of posts
    without a brand are split by ``brand_share``.
    """
    basis, rate = t["basis"], t["rate"].astype(float)
    pay = pd.Series(np.nan, index=t.index, dtype=float)
    posts = (t["posts"] - t["branded"]) * t["brand_share"] + t["own"]
    pay = pay.mask(basis == "per_post", rate * posts)
    pay = pay.mask(basis == "per_order", rate * t["orders"])
    pay = pay.mask(basis == "revenue_share", rate * t["revenue"])
    return pay.round(2)


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
    figures = _kpis(infl, old)
    infl = infl.reset_index(drop=True)
    by_revenue = infl.sort_values(["revenue", "influencer_id"], ascending=[False, True])
    quality = _quality(engine.ds.issues, infl)
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
    by = {k: split[k].get(job, split[k][None]).drop(columns="job") for k in _DIMENSIONS}
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


def top_roas(t: pd.DataFrame, min_payout: float) -> pd.DataFrame:
    """Return influencers ranked by ROAS among those paid at least ``min_payout`` who sold."""
    big = t[(t["payout"] >= min_payout) & (t["payout"] > 0) & (t["revenue"] > 0)]
    return _rank_roas(big)


def rank_net(t: pd.DataFrame) -> pd.DataFrame:
    """Return influencers with payout terms by net return (revenue - payout), best first."""
    known = t[t["payout"].notna()]
    return known.sort_values(["net", "influencer_id"], ascending=[False, True], ignore_index=True)


def _rank_roas(t: pd.DataFrame, by_revenue_first: bool = False) -> pd.DataFrame:
    """Order by ROAS, best first, with n/a last (ties broken by revenue, then id)."""
    key = t.assign(_na=t["roas"].isna(), _r=t["roas"].fillna(-1.0))
    if by_revenue_first:
        key = key.sort_values(["revenue", "influencer_id"], ascending=[False, True])
    else:
        key = key.sort_values(
            ["_na", "_r", "revenue", "influencer_id"], ascending=[True, False, False, True]
        )
    return key.drop(columns=["_na", "_r"]).reset_index(drop=True)


#: The share of revenue that must come from influencers with payout terms for the KPI ROAS
#: to be shown; below it the KPI is n/a and says why.
MIN_ROAS_COVERAGE = 0.5


def _kpis(cur: pd.DataFrame, old: pd.DataFrame) -> dict[str, Kpi]:
    """Return the headline KPIs (reportgen/metrics/kpis.py) with their comparison-window values."""

    def totals(t: pd.DataFrame) -> dict[str, Any]:
        revenue = float(t["revenue"].sum())
        covered = float(t.loc[t["payout"].notna(), "revenue"].sum())
        return {
            "revenue": revenue,
            "orders": int(t["orders"].sum()),
            "payout": float(t["payout"].sum(skipna=True)),
            "covered": covered,
            # A ratio over a sliver of the revenue is not the program's ROAS (the peer seed:
            # terms for 1 of 50 influencers gave 8,473x): below the threshold it is n/a.
            "enough": revenue > 0 and covered / revenue >= MIN_ROAS_COVERAGE,
        }

    now = totals(cur)
    out = kpis.compute(now, totals(old))
    shown = out["roas"].value is not None
    out["roas"].note = _roas_note(cur, now["revenue"], now["covered"], shown)
    return out


def _roas_note(cur: pd.DataFrame, revenue: float, covered: float, shown: bool) -> str:
    """Say what the KPI ROAS covers: revenue without terms, or revenue that cost nothing."""
    notes = []
    if revenue and covered / revenue < MIN_ROAS_COVERAGE:
        share = _pct(covered / revenue)
        notes.append(f"n/a: payout terms cover only {share} of revenue; see ROAS per influencer")
    elif revenue and covered < revenue:
        notes.append(f"covers {_pct(covered / revenue)} of revenue (influencers with payout terms)")
    # Revenue of influencers paid nothing in this window (say, orders from last month's post)
    # counts in the program's ROAS, as its cost fell in another window; say how much.
    unpaid = float(cur.loc[cur["payout"] == 0, "revenue"].sum())
    if unpaid > 0 and covered > 0 and shown:
        notes.append(
            f"{_pct(unpaid / covered)} of its revenue from influencers paid nothing this window"
        )
    return "; ".join(notes)


def _pct(share: float) -> str:
    """Return a share as a percentage that never rounds a small one to zero (0.04%, not 0.0%)."""
    return f"{share:.2%}" if share < 0.01 else f"{share:.1%}"


_DIMENSIONS = ("brand", "category", "platform")


def _breakdowns(f: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return revenue and orders per job and ``column``, with each value's share of revenue."""
    g = f.groupby(["job", column], sort=True)[["revenue", "orders"]].sum().reset_index()
    total = g.groupby("job")["revenue"].transform("sum")
    g["share"] = (g["revenue"] / total.where(total != 0)).fillna(0.0)
    g["orders"] = g["orders"].astype("int64")
    return g.sort_values(["job", "revenue", column], ascending=[True, False, True])


def _engagement(t: pd.DataFrame, posts: pd.DataFrame, dim: pd.DataFrame) -> pd.DataFrame:
    """Return reach, likes, comments, engagement rate, CPM and CPE per job, influencer, platform."""
    cols = ["job", "influencer_id", "name", "platform", "posts", "reach", "likes", "comments"]
    cols += ["engagement_rate", "cpm", "cpe"]
    cur = t.loc[t["period"] == "current", ["job", "influencer_id", "payout"]]
    g = posts[posts["period"] == "current"].merge(cur, on=["job", "influencer_id"], how="inner")
    if g.empty:
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
    g["name"] = g["influencer_id"].map(dim["name"])
    # Cost per platform: the influencer's window payout shared by reach across platforms.
    reach_tot = g.groupby(["job", "influencer_id"])["reach"].transform("sum")
    share = np.where(reach_tot > 0, g["reach"] / reach_tot.where(reach_tot > 0), 0.0)
    cost = g["payout"].astype(float) * share
    eng = g["likes"] + g["comments"]
    g["engagement_rate"] = np.where(g["reach"] > 0, eng / g["reach"].where(g["reach"] > 0), np.nan)
    g["cpm"] = np.where(g["reach"] > 0, cost / g["reach"].where(g["reach"] > 0) * 1000, np.nan)
    g["cpe"] = np.where(eng > 0, cost / eng.where(eng > 0), np.nan)
    g = g.sort_values(["job", "reach", "influencer_id"], ascending=[True, False, True])
    return g[cols].reset_index(drop=True)


def _quality(loaded: list[Issue], infl: pd.DataFrame) -> list[Issue]:
    """Return the load-time findings plus what this window's numbers leave out."""
    out = list(loaded)
    no_terms = infl[infl["payout"].isna()]
    if len(no_terms):
        out.append(
            Issue(
                "window_no_payout_terms",
                "warning",
                f"In this window {len(no_terms)} influencer(s) with revenue have no payout terms: "
                "ROAS n/a, ranked last, and left out of the ROAS KPI",
                rows=len(no_terms),
                revenue=float(no_terms["revenue"].sum()),
                examples=list(no_terms["influencer_id"].head(3)),
            )
        )
    zero = infl[infl["payout"].notna() & (infl["payout"] == 0)]
    if len(zero):
        out.append(
            Issue(
                "window_zero_payout",
                "warning",
                f"In this window {len(zero)} influencer(s) earned no payout (no posts or orders "
                "under their basis): ROAS n/a and ranked last",
                rows=len(zero),
                revenue=float(zero["revenue"].sum()),
                examples=list(zero["influencer_id"].head(3)),
            )
        )
    return out
