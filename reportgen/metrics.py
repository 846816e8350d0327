"""Metrics: KPIs, breakdowns, payouts and ROAS for one preset. Pure computation, no I/O.

Heavy work runs in the engine through Ibis, so the same expressions compile for DuckDB today
and PostgreSQL, Spark or a warehouse later. Tracking rows are reduced once per build to a daily
fact table (day x influencer x brand), which every preset then filters; only each preset's
small slice reaches pandas, where the final arithmetic happens.

Definitions (see README "How the numbers are computed"):
  payout   per_post: rate x posts in the window; per_order: rate x orders in the window;
           revenue_share: rate x revenue in the window. With a brand filter, a per-post cost is
           split across brands by the influencer's revenue share in the window (all-time share
           when the window has none; an equal split when the influencer never sold anything).
  ROAS     revenue / payout; n/a when payout is zero or the terms are missing.
  KPI ROAS revenue of influencers with payout terms / their payout.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import numpy as np
import pandas as pd

from reportgen.catalogue import UNMAPPED_BRAND
from reportgen.config import Preset
from reportgen.model import Issue, Kpi, ReportData, Window
from reportgen.sources import Dataset

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


@dataclass
class Engine:
    """Builds metric frames from a Dataset; caches per-build work shared by presets."""

    ds: Dataset
    _backend: Any = None
    _facts: dict[str, Any] = field(default_factory=dict)
    _dims: dict[str, pd.DataFrame] = field(default_factory=dict)

    @property
    def backend(self) -> Any:
        """Return the Ibis backend over the dataset's connection."""
        if self._backend is None:
            self._backend = ibis.duckdb.from_connection(self.ds.con)
        return self._backend

    def facts(self, tz: str) -> Any:
        """Return the daily fact table (day, influencer_id, brand, orders, revenue) for ``tz``."""
        key = tz if self.ds.zoned else ""
        if key not in self._facts:
            b = self.backend
            t = b.table("tracking_facts")  # pre-aggregated per day (or 15 min when zoned)
            day = _at_zone(tz, t.bucket).date() if self.ds.zoned else t.bucket
            expr = t.group_by(day=day, influencer_id=t.influencer_id, brand=t.brand).aggregate(
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

    def fact_slice(self, preset: Preset, span: Window) -> pd.DataFrame:
        """Return facts for ``span`` and the preset's category/platform filters, all brands."""
        f = self.facts(preset.timezone)
        f = f.filter(f.day >= span.start, f.day <= span.end)
        ids = self._influencer_ids(preset)
        if ids is not None:
            f = f.filter(f.influencer_id.isin(ids))
        df = f.mutate(revenue=f.revenue.cast("float64")).to_pandas()
        df["day"] = pd.to_datetime(df["day"]).dt.date
        # Engines return rows in any order; float sums must not depend on it.
        return df.sort_values(["day", "influencer_id", "brand"], ignore_index=True)

    def post_slice(self, preset: Preset, span: Window) -> pd.DataFrame:
        """Return per-post rows (influencer, day, platform, reach, likes, comments) for ``span``."""
        p = self.backend.table("posts")
        day = _local_day(p.date, preset.timezone, self.ds.zoned)
        p = p.mutate(day=day)
        p = p.filter(p.day >= span.start, p.day <= span.end)
        ids = self._influencer_ids(preset)
        if ids is not None:
            p = p.filter(p.influencer_id.isin(ids))
        expr = p.group_by("influencer_id", "day", "platform").aggregate(
            # Sums of BIGINT are HUGEINT in DuckDB, which Ibis turns into slow Python Decimals.
            posts=p.count(),
            reach=p.reach.sum().cast("int64"),
            likes=p.likes.sum().cast("int64"),
            comments=p.comments.sum().cast("int64"),
        )
        df = expr.to_pandas()
        df["day"] = pd.to_datetime(df["day"]).dt.date
        return df.sort_values(["day", "influencer_id", "platform"], ignore_index=True)

    def _influencer_ids(self, preset: Preset) -> list[str] | None:
        flt = preset.filters
        if not flt.categories and not flt.platforms:
            return None
        dim = self.influencers()
        mask = pd.Series(True, index=dim.index)
        if flt.categories:
            mask &= dim["category"].isin(flt.categories)
        if flt.platforms:
            mask &= dim["platform"].isin(flt.platforms)
        return sorted(dim.index[mask])


@ibis.udf.scalar.builtin(name="timezone")
def _at_zone(zone: str, ts: dt.timestamp) -> dt.timestamp:  # type: ignore[empty-body]
    """Return the wall-clock time of ``ts`` in ``zone`` (DuckDB and PostgreSQL builtin)."""


def _local_day(col: Any, tz: str, zoned: bool) -> Any:
    """Return the calendar day of a timestamp column in ``tz``."""
    if not zoned:
        return col.date()  # naive timestamps are already local time of the report
    return _at_zone(tz, col).date()


def compute(engine: Engine, preset: Preset, window: Window, as_of: date) -> ReportData:
    """Compute everything one preset's report shows."""
    prev = window.previous()
    span = Window(prev.start, window.end)
    facts = engine.fact_slice(preset, span)
    posts = engine.post_slice(preset, span)
    dim = engine.influencers()
    mix = engine.lifetime_brand_mix(preset.timezone)

    cur = _period(facts, posts, window, preset, dim, mix)
    old = _period(facts, posts, prev, preset, dim, mix)
    kpis = _kpis(cur, old)
    infl = cur["influencers"]
    top_rev = infl.sort_values(["revenue", "influencer_id"], ascending=[False, True]).head(
        preset.top_n
    )
    top_roas = _rank_roas(infl).head(preset.top_n)
    quality = _quality(engine.ds.issues, infl, cur)
    assumptions = [a.format(tz=preset.timezone, currency=preset.currency) for a in ASSUMPTIONS]
    if preset.filters.brands:
        assumptions.append(BRAND_SPLIT)
    return ReportData(
        preset=preset,
        window=window,
        previous_window=prev,
        kpis=kpis,
        daily=cur["daily"],
        by_brand=_breakdown(cur["facts"], "brand"),
        by_category=_breakdown(cur["facts"], "category"),
        by_platform=_breakdown(cur["facts"], "platform"),
        influencers=_rank_roas(infl, by_revenue_first=True),
        top_by_revenue=top_rev.reset_index(drop=True),
        top_by_roas=top_roas.reset_index(drop=True),
        engagement=cur["engagement"],
        data_quality=quality,
        assumptions=assumptions,
        provenance={"as_of": as_of.isoformat(), **engine.ds.provenance},
    )


def _period(
    facts: pd.DataFrame,
    posts: pd.DataFrame,
    window: Window,
    preset: Preset,
    dim: pd.DataFrame,
    mix: pd.DataFrame,
) -> dict[str, Any]:
    """Compute the per-influencer table and daily series for one window."""
    brands = set(preset.filters.brands)
    f = facts[(facts["day"] >= window.start) & (facts["day"] <= window.end)]
    p = posts[(posts["day"] >= window.start) & (posts["day"] <= window.end)]
    share = _brand_share(f, mix, brands, dim)
    if brands:
        f = f[f["brand"].isin(brands)]
    f = f.join(dim[["category", "platform"]], on="influencer_id")

    per = f.groupby("influencer_id", sort=True)[["orders", "revenue"]].sum()
    post_n = p.groupby("influencer_id", sort=True)[["posts", "reach", "likes", "comments"]].sum()
    ids = per.index.union(post_n.index)
    t = dim.loc[ids, ["influencer_id", "name", "category", "platform", "basis", "rate"]].copy()
    t = t.join(per).join(post_n)
    for c in ["orders", "posts", "reach", "likes", "comments"]:
        t[c] = t[c].fillna(0).astype("int64")
    t["revenue"] = t["revenue"].fillna(0.0)
    t["brand_share"] = share.reindex(ids).fillna(1.0) if brands else 1.0
    t["payout"] = _payout(t)
    t = t[(t["revenue"] > 0) | (t["payout"].fillna(0) > 0) | (t["orders"] > 0)].copy()
    t["roas"] = np.where(t["payout"] > 0, t["revenue"] / t["payout"].where(t["payout"] > 0), np.nan)
    t["profitable"] = pd.array(
        [pd.NA if np.isnan(r) else bool(r >= 1) for r in t["roas"]], dtype="boolean"
    )
    t = t.drop(columns=["brand_share"]).reset_index(drop=True)

    daily = f.groupby("day")[["revenue", "orders"]].sum()
    daily = daily.reindex(window.dates(), fill_value=0).rename_axis("date").reset_index()
    daily["orders"] = daily["orders"].astype("int64")
    return {
        "influencers": t,
        "facts": f,
        "daily": daily,
        "engagement": _engagement(t, p, dim),
    }


def _brand_share(
    f: pd.DataFrame, mix: pd.DataFrame, brands: set[str], dim: pd.DataFrame
) -> pd.Series:
    """Return, per influencer, the share of a per-post fee that the selected brands carry."""
    if not brands:
        return pd.Series(dtype=float)

    def share(frame: pd.DataFrame) -> pd.Series:
        tot = frame.groupby("influencer_id")["revenue"].sum()
        sel = frame[frame["brand"].isin(brands)].groupby("influencer_id")["revenue"].sum()
        return (sel.reindex(tot.index, fill_value=0) / tot).where(tot > 0)

    window_share = share(f)
    life_share = share(mix)
    known = sorted({b for b in mix["brand"].unique() if b != UNMAPPED_BRAND}) or sorted(brands)
    equal = len(brands & set(known)) / max(len(known), 1)
    out = pd.Series(equal, index=dim.index, dtype=float)
    out.update(life_share.dropna())
    out.update(window_share.dropna())
    return out


def _payout(t: pd.DataFrame) -> pd.Series:
    """Return each influencer's payout in the window from basis and rate (NaN: no terms)."""
    basis, rate = t["basis"], t["rate"].astype(float)
    pay = pd.Series(np.nan, index=t.index, dtype=float)
    pay = pay.mask(basis == "per_post", rate * t["posts"] * t["brand_share"])
    pay = pay.mask(basis == "per_order", rate * t["orders"])
    pay = pay.mask(basis == "revenue_share", rate * t["revenue"])
    return pay.round(2)


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


def _kpis(cur: dict, old: dict) -> dict[str, Kpi]:
    """Return the headline KPIs with their previous-window values."""

    def values(period: dict) -> dict[str, float | None]:
        t = period["influencers"]
        revenue = float(t["revenue"].sum())
        orders = int(t["orders"].sum())
        payout = float(t["payout"].sum(skipna=True))
        covered = float(t.loc[t["payout"].notna(), "revenue"].sum())
        return {
            "revenue": revenue,
            "orders": orders,
            "payout": payout,
            "roas": covered / payout if payout > 0 else None,
            "aov": revenue / orders if orders else None,
        }

    now, before = values(cur), values(old)
    labels = {
        "revenue": ("Revenue", "money"),
        "orders": ("Orders", "count"),
        "payout": ("Payout", "money"),
        "roas": ("ROAS", "ratio"),
        "aov": ("Avg order value", "money"),
    }
    out = {k: Kpi(k, lab, now[k], before[k], kind) for k, (lab, kind) in labels.items()}
    t = cur["influencers"]
    covered = float(t.loc[t["payout"].notna(), "revenue"].sum())
    if now["revenue"] and covered < now["revenue"]:
        share = covered / now["revenue"]
        out["roas"].note = f"covers {share:.1%} of revenue (influencers with payout terms)"
    return out


def _breakdown(f: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return revenue and orders by ``column`` with each value's share of revenue."""
    g = f.groupby(column)[["revenue", "orders"]].sum().reset_index()
    total = g["revenue"].sum()
    g["share"] = g["revenue"] / total if total else 0.0
    g["orders"] = g["orders"].astype("int64")
    return g.sort_values(["revenue", column], ascending=[False, True]).reset_index(drop=True)


def _engagement(t: pd.DataFrame, p: pd.DataFrame, dim: pd.DataFrame) -> pd.DataFrame:
    """Return reach, likes, comments, engagement rate, CPM and CPE per influencer and platform."""
    cols = [
        "influencer_id",
        "name",
        "platform",
        "posts",
        "reach",
        "likes",
        "comments",
        "engagement_rate",
        "cpm",
        "cpe",
    ]
    if p.empty:
        return pd.DataFrame(columns=cols)
    g = p.groupby(["influencer_id", "platform"], as_index=False)[
        ["posts", "reach", "likes", "comments"]
    ].sum()
    g = g[g["influencer_id"].isin(t["influencer_id"])]
    g["name"] = g["influencer_id"].map(dim["name"])
    # Cost per platform: the influencer's window payout shared by reach across platforms.
    payout = t.set_index("influencer_id")["payout"].astype(float)
    reach_tot = g.groupby("influencer_id")["reach"].transform("sum")
    share = np.where(reach_tot > 0, g["reach"] / reach_tot.where(reach_tot > 0), 0.0)
    cost = g["influencer_id"].map(payout).astype(float) * share
    eng = g["likes"] + g["comments"]
    g["engagement_rate"] = np.where(g["reach"] > 0, eng / g["reach"].where(g["reach"] > 0), np.nan)
    g["cpm"] = np.where(g["reach"] > 0, cost / g["reach"].where(g["reach"] > 0) * 1000, np.nan)
    g["cpe"] = np.where(eng > 0, cost / eng.where(eng > 0), np.nan)
    g = g.sort_values(["reach", "influencer_id"], ascending=[False, True])
    return g[cols].reset_index(drop=True)


def _quality(loaded: list[Issue], infl: pd.DataFrame, cur: dict) -> list[Issue]:
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
