"""Hand-built ReportData for render tests: small, realistic, deterministic, with hostile strings."""

from __future__ import annotations

import random
from datetime import date
from typing import Any

import numpy as np
import pandas as pd

from reportgen.config import Filters, Preset
from reportgen.model import Issue, Kpi, ReportData, Window

SCRIPT = "<script>alert(1)</script>"
ATTR_BREAK = '"><img src=x onerror=alert(1)>'
FORMULA = '=HYPERLINK("http://evil")'
IMG_EVIL = '<img src="http://evil/x">'
#: Strings that must never reach a report unescaped.
HOSTILE = (SCRIPT, ATTR_BREAK, FORMULA, IMG_EVIL)
#: The influencer whose ROAS is n/a: paid per order and got no orders, so no payout.
NA_ROAS_NAME = "Kavya Wellness Diaries"

_NAMES = [
    "Ranveer Lifts",
    SCRIPT,
    "Priya Fit Journey",
    ATTR_BREAK,
    "Arjun Strength Lab",
    FORMULA,
    "Meera Eats Clean",
    NA_ROAS_NAME,
    "Dr. Sneha Nutrition",
    "Rohit Runs Mumbai",
    "Aisha Glow Routine",
    "Vikram Calisthenics",
    "Tanvi Mom Life",
    "Kabir Bulk Season",
]
_CATEGORIES = ["Fitness", "Nutrition", "Wellness", "Health", "Beauty", "Lifestyle", "Parenting"]
_PLATFORMS = ["Instagram", "YouTube", "Twitter", "Facebook"]
_BRANDS = ["MuscleBlaze", "HKVitals", "Gritzo"]

WINDOW = Window(date(2025, 7, 1), date(2025, 7, 30))


def make_preset(**overrides: Any) -> Preset:
    """Return a preset like ``monthly-muscleblaze`` in the shipped example config."""
    fields: dict[str, Any] = {
        "name": "monthly-muscleblaze",
        "title": "MuscleBlaze influencer ROAS",
        "description": f"Monthly view for the brand team. Campaign note: {IMG_EVIL}",
        "window": "last_30_days",
        "timezone": "Asia/Kolkata",
        "currency": "INR",
        "locale": "en_IN",
        "filters": Filters(brands=("MuscleBlaze",), platforms=("Instagram", "YouTube")),
        "formats": ("html", "pdf", "csv"),
        "top_n": 10,
    }
    fields.update(overrides)
    return Preset(**fields)


def _names(n: int) -> list[str]:
    if n <= len(_NAMES):
        return _NAMES[:n]
    return _NAMES + [f"Creator {i:03d} Fitness" for i in range(len(_NAMES), n)]


def _influencers(n: int, rng: random.Random) -> pd.DataFrame:
    rows = []
    for i, name in enumerate(_names(n)):
        basis = ("per_order", "per_post", "per_post", "revenue_share")[i % 4]
        posts = rng.randint(1, 9)
        orders = rng.randint(0, 160)
        revenue = orders * rng.uniform(900, 2400)
        if name == NA_ROAS_NAME:
            basis, orders, revenue = "per_order", 0, 0.0
        rate = {
            "per_post": rng.choice([8000.0, 15000.0, 25000.0, 40000.0]),
            "per_order": rng.choice([150.0, 250.0, 400.0]),
            "revenue_share": rng.choice([0.08, 0.12, 0.2]),
        }[basis]
        payout = rate * {"per_post": posts, "per_order": orders, "revenue_share": revenue}[basis]
        roas = revenue / payout if payout else np.nan
        rows.append(
            {
                "influencer_id": f"INF{i + 1:04d}",
                "name": name,
                "category": _CATEGORIES[i % len(_CATEGORIES)],
                "platform": _PLATFORMS[i % len(_PLATFORMS)],
                "basis": basis,
                "rate": rate,
                "posts": posts,
                "orders": orders,
                "revenue": round(revenue, 2),
                "payout": round(payout, 2),
                "roas": roas,
                "profitable": pd.NA if np.isnan(roas) else bool(roas >= 1),
            }
        )
    frame = pd.DataFrame(rows).sort_values(["revenue", "influencer_id"], ascending=[False, True])
    frame["profitable"] = frame["profitable"].astype("boolean")
    return frame.reset_index(drop=True)


def _engagement(influencers: pd.DataFrame, rng: random.Random) -> pd.DataFrame:
    rows = []
    for row in influencers.itertuples():
        reach = rng.randint(8_000, 2_400_000) * row.posts
        likes = int(reach * rng.uniform(0.01, 0.09))
        comments = int(likes * rng.uniform(0.02, 0.1))
        rows.append(
            {
                "influencer_id": row.influencer_id,
                "name": row.name,
                "platform": row.platform,
                "posts": row.posts,
                "reach": reach,
                "likes": likes,
                "comments": comments,
                "engagement_rate": (likes + comments) / reach,
                "cpm": row.payout / reach * 1000 if row.payout else np.nan,
                "cpe": row.payout / (likes + comments) if row.payout else np.nan,
            }
        )
    return pd.DataFrame(rows)


def _breakdown(dimension: str, values: list[str], total: float, rng: random.Random):
    weights = [rng.uniform(0.2, 1.0) for _ in values]
    revenue = [round(total * w / sum(weights), 2) for w in weights]
    frame = pd.DataFrame(
        {
            dimension: values,
            "revenue": revenue,
            "orders": [int(r / 1500) for r in revenue],
        }
    )
    frame["share"] = frame["revenue"] / frame["revenue"].sum()
    return frame.sort_values("revenue", ascending=False).reset_index(drop=True)


def _daily(window: Window, total: float, rng: random.Random) -> pd.DataFrame:
    days = window.dates()
    weights = [1 + 0.35 * ((d.weekday() >= 5) - 0.3) + rng.uniform(-0.25, 0.25) for d in days]
    revenue = [round(total * w / sum(weights), 2) for w in weights]
    return pd.DataFrame(
        {"date": days, "revenue": revenue, "orders": [int(r / 1480) for r in revenue]}
    )


def _kpis(influencers: pd.DataFrame) -> dict[str, Kpi]:
    revenue = float(influencers["revenue"].sum())
    orders = float(influencers["orders"].sum())
    payout = float(influencers["payout"].sum())
    return {
        "revenue": Kpi("revenue", "Revenue", revenue, revenue / 1.124, "money"),
        "orders": Kpi("orders", "Orders", orders, orders * 1.04, "count"),
        "payout": Kpi("payout", "Payout", payout, payout, "money"),
        "roas": Kpi(
            "roas",
            "ROAS",
            revenue / payout,
            revenue / payout / 0.93,
            "ratio",
            note="covers 97.1% of revenue (influencers with payout terms)",
        ),
        "aov": Kpi("aov", "Avg order value", revenue / orders, None, "money"),
    }


def make_report(**overrides: Any) -> ReportData:
    """Return a small realistic report; ``n_influencers`` sizes it, other keys replace fields."""
    n = overrides.pop("n_influencers", 12)
    rng = random.Random(20250730)
    preset = overrides.pop("preset", None) or make_preset()
    influencers = _influencers(n, rng)
    total = float(influencers["revenue"].sum())
    by_roas = influencers.dropna(subset=["roas"]).sort_values(
        ["roas", "influencer_id"], ascending=[False, True]
    )
    fields: dict[str, Any] = {
        "preset": preset,
        "window": WINDOW,
        "previous_window": WINDOW.previous(),
        "kpis": _kpis(influencers),
        "daily": _daily(WINDOW, total, rng),
        "by_brand": _breakdown("brand", ["MuscleBlaze"], total, rng),
        "by_category": _breakdown("category", _CATEGORIES[:5], total, rng),
        "by_platform": _breakdown("platform", ["Instagram", "YouTube"], total, rng),
        "influencers": influencers,
        "top_by_revenue": influencers.head(10).reset_index(drop=True),
        "top_by_roas": by_roas.head(10).reset_index(drop=True),
        "engagement": _engagement(influencers, rng),
        "data_quality": [
            Issue(
                "unmapped_product",
                "warning",
                "Orders for products not in the catalogue were excluded",
                table="tracking_data",
                file="tracking_data.csv",
                rows=17,
                revenue=48210.5,
                examples=[SCRIPT, "Pre-Workout X"],
            ),
            Issue(
                "bad_campaign",
                "warning",
                f"Campaign names kept as text: {IMG_EVIL} {FORMULA}",
                table="posts",
                rows=3,
                revenue=0.0,
                examples=[ATTR_BREAK],
            ),
        ],
        "assumptions": [
            "Revenue is attributed last-touch: an order counts for the influencer whose "
            "tracked link or code it came through.",
            "ROAS is direct revenue / payout, not incremental lift.",
            "When filtering by brand, a post's cost is split across brands in proportion to "
            "the revenue it drove for each.",
        ],
        "provenance": {
            "source": "files: data/",
            "rows": {"tracking_data": 48213, "posts": 2140},
            "config": "config.yaml",
            "note": SCRIPT,
        },
    }
    fields.update(overrides)
    return ReportData(**fields)


def empty_report(**overrides: Any) -> ReportData:
    """Return a report whose window holds no data: empty frames and zero-filled days."""
    base = make_report(n_influencers=3)
    empty_inf = base.influencers.iloc[0:0]
    fields: dict[str, Any] = {
        "kpis": {
            k: Kpi(k, v.label, 0.0 if v.kind != "ratio" else None, None, v.kind)
            for k, v in base.kpis.items()
        },
        "daily": base.daily.assign(revenue=0.0, orders=0),
        "by_brand": base.by_brand.iloc[0:0],
        "by_category": base.by_category.iloc[0:0],
        "by_platform": base.by_platform.iloc[0:0],
        "influencers": empty_inf,
        "top_by_revenue": empty_inf,
        "top_by_roas": empty_inf,
        "engagement": base.engagement.iloc[0:0],
        "data_quality": [],
    }
    fields.update(overrides)
    return make_report(n_influencers=3, **fields)
