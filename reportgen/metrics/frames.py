"""Report tables from the engine's small result frames, in pandas: payouts, ROAS, KPIs, shares.

The engine (:mod:`reportgen.metrics.engine`) returns, for every preset of a build, a few small
frames (per job, period and influencer; per brand; per day; posts). These functions turn them
into what the reports show, for all presets at once; the definitions are in the engine's
module docstring and the README ("How the numbers are computed").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from reportgen.config import Preset
from reportgen.config.catalogue import UNMAPPED_BRAND
from reportgen.metrics import kpis
from reportgen.model import Issue, Kpi


def influencer_table(
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


def kpi_figures(cur: pd.DataFrame, old: pd.DataFrame) -> dict[str, Kpi]:
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


DIMENSIONS = ("brand", "category", "platform")


def breakdowns(f: pd.DataFrame, column: str) -> pd.DataFrame:
    """Return revenue and orders per job and ``column``, with each value's share of revenue."""
    g = f.groupby(["job", column], sort=True)[["revenue", "orders"]].sum().reset_index()
    total = g.groupby("job")["revenue"].transform("sum")
    g["share"] = (g["revenue"] / total.where(total != 0)).fillna(0.0)
    g["orders"] = g["orders"].astype("int64")
    return g.sort_values(["job", "revenue", column], ascending=[True, False, True])


def engagement_table(t: pd.DataFrame, posts: pd.DataFrame, dim: pd.DataFrame) -> pd.DataFrame:
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


def window_findings(loaded: list[Issue], infl: pd.DataFrame) -> list[Issue]:
    """Return the load-time findings plus what this window's numbers leave out."""
    out = list(loaded)
    left_out = (
        (
            "window_no_payout_terms",
            infl["payout"].isna(),
            "with revenue have no payout terms: ROAS n/a, ranked last, and left out of the "
            "ROAS KPI",
        ),
        (
            "window_zero_payout",
            infl["payout"].notna() & (infl["payout"] == 0),
            "earned no payout (no posts or orders under their basis): ROAS n/a and ranked last",
        ),
    )
    for code, mask, what in left_out:
        rows = infl[mask]
        if len(rows):
            out.append(
                Issue(
                    code,
                    "warning",
                    f"In this window {len(rows)} influencer(s) {what}",
                    rows=len(rows),
                    revenue=float(rows["revenue"].sum()),
                    examples=list(rows["influencer_id"].head(3)),
                )
            )
    return out
