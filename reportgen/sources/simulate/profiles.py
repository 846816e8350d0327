"""Constants of the simulator: the seed tables' schemas, the model's parameters and rates, and
the brand, category, product, platform and event profiles it draws from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from reportgen.config.catalogue import DEFAULT_CATEGORIES, DEFAULT_PLATFORMS, DEFAULT_PRODUCTS

TABLES = ("influencers", "posts", "tracking_data", "payouts")

TS = pa.timestamp("us")  # naive local time; values are whole seconds

#: Exact column names, order and types of the seed tables.
SCHEMAS: dict[str, pa.Schema] = {
    "influencers": pa.schema(
        [
            ("influencer_id", pa.string()),
            ("name", pa.string()),
            ("category", pa.string()),
            ("gender", pa.string()),
            ("follower_count", pa.int64()),
            ("platform", pa.string()),
        ]
    ),
    "posts": pa.schema(
        [
            ("post_id", pa.string()),
            ("influencer_id", pa.string()),
            ("platform", pa.string()),
            ("date", TS),
            ("url", pa.string()),
            ("caption", pa.string()),
            ("reach", pa.int64()),
            ("likes", pa.int64()),
            ("comments", pa.int64()),
        ]
    ),
    "tracking_data": pa.schema(
        [
            ("tracking_id", pa.string()),
            ("source", pa.string()),
            ("campaign", pa.string()),
            ("influencer_id", pa.string()),
            ("user_id", pa.string()),
            ("product", pa.string()),
            ("date", TS),
            ("orders", pa.int64()),
            ("revenue", pa.float64()),
        ]
    ),
    "payouts": pa.schema(
        [
            ("influencer_id", pa.string()),
            ("basis", pa.string()),
            ("rate", pa.float64()),
            ("total_orders_by_influencer", pa.int64()),
            ("total_payout", pa.float64()),
        ]
    ),
}

# ---------------------------------------------------------------------------------------------
# Model parameters, tuned so that a default run reads like a real programme: about a quarter
# of partnerships below break-even in a month, the best at 5-20x ROAS, a few influencers
# holding most revenue. tests/test_simulate.py checks the properties the reports rely on.
# ---------------------------------------------------------------------------------------------

WARMUP_DAYS = 28  # posts before the window still drive orders at its start
LAG_MEAN_HOURS = 48.0  # mean delay between a post and the orders it drives
ORGANIC_SHARE = 0.08  # tracked orders not driven by any particular post
CONV_BASE = 0.0005  # orders per reached user for a median influencer
CONV_SIGMA = 0.9  # spread of the hidden per-influencer conversion quality (log scale)
PER_POST_TARGET_ROAS = 0.85  # what per-post rates are priced at, from visible data only
PER_ORDER_SHARE = 0.25  # median per-order rate as a share of the revenue of one order
PER_POST_SHARE = 0.55  # share of partnerships paid per post; the rest are paid per order
USER_POOL_PER_ROW = 1.5  # user pool size per tracked row; smaller means more repeat buyers

GENDERS = ["Female", "Male", "Non-Binary"]
CATEGORIES = [c for c in DEFAULT_CATEGORIES if c != "Health"]
BRANDS = list(dict.fromkeys(DEFAULT_PRODUCTS.values()))
PRODUCTS = list(DEFAULT_PRODUCTS)

PLATFORM_PROFILE: dict[str, dict[str, float]] = {
    # share of influencers, median reach per follower (100k account), likes per reach,
    # comments per like, and conversion relative to Instagram
    "Instagram": {"share": 0.6, "reach": 0.25, "er": 0.035, "cr": 0.03, "conv": 1.0},
    "YouTube": {"share": 0.25, "reach": 0.35, "er": 0.04, "cr": 0.06, "conv": 1.3},
    "Twitter": {"share": 0.15, "reach": 0.08, "er": 0.015, "cr": 0.10, "conv": 0.6},
}
PLATFORMS = [p for p in DEFAULT_PLATFORMS if p in PLATFORM_PROFILE]

CATEGORY_PROFILE: dict[str, dict[str, Any]] = {
    "Fitness": {
        "share": 0.26,
        "brands": {"MuscleBlaze": 0.85, "HKVitals": 0.12, "Gritzo": 0.03},
        "gender": [0.37, 0.60, 0.03],
        "handle": ["fit", "lifts", "strong", "gains"],
    },
    "Nutrition": {
        "share": 0.16,
        "brands": {"MuscleBlaze": 0.45, "HKVitals": 0.35, "Gritzo": 0.20},
        "gender": [0.52, 0.45, 0.03],
        "handle": ["eats", "nutrition", "kitchen", "macros"],
    },
    "Wellness": {
        "share": 0.15,
        "brands": {"MuscleBlaze": 0.12, "HKVitals": 0.78, "Gritzo": 0.10},
        "gender": [0.60, 0.35, 0.05],
        "handle": ["wellness", "mindful", "healthy", "balance"],
    },
    "Beauty": {
        "share": 0.14,
        "brands": {"MuscleBlaze": 0.03, "HKVitals": 0.92, "Gritzo": 0.05},
        "gender": [0.80, 0.14, 0.06],
        "handle": ["glow", "beauty", "skin", "makeup"],
    },
    "Lifestyle": {
        "share": 0.16,
        "brands": {"MuscleBlaze": 0.38, "HKVitals": 0.47, "Gritzo": 0.15},
        "gender": [0.50, 0.45, 0.05],
        "handle": ["life", "vibes", "diaries", "daily"],
    },
    "Parenting": {
        "share": 0.13,
        "brands": {"MuscleBlaze": 0.04, "HKVitals": 0.11, "Gritzo": 0.85},
        "gender": [0.74, 0.24, 0.02],
        "handle": ["parenting", "family", "littleones", "momlife"],
    },
}
DEFAULT_CATEGORY = {"share": 0.1, "brands": {}, "gender": [0.5, 0.46, 0.04], "handle": ["x"]}

# Price range of one unit in INR and popularity within its brand.
PRODUCT_PROFILE: dict[str, tuple[float, float, float]] = {
    "Whey Protein": (2000, 4500, 0.50),
    "BCAA": (900, 1800, 0.15),
    "Creatine": (600, 1200, 0.20),
    "Mass Gainer": (1500, 3500, 0.15),
    "Biotin": (350, 800, 0.30),
    "Multivitamin": (400, 900, 0.30),
    "Omega 3": (450, 1000, 0.20),
    "Collagen": (800, 1800, 0.20),
    "SuperMilk for Kids": (600, 1100, 0.50),
    "Protein Oats for Teens": (350, 650, 0.20),
    "Gummy Stars": (400, 700, 0.30),
}
DEFAULT_PRODUCT = (500.0, 1500.0, 0.2)

# Products a category's audience leans towards (multiplies the popularity above).
PRODUCT_TILT: dict[str, dict[str, float]] = {
    "Beauty": {"Biotin": 2.0, "Collagen": 2.5, "Omega 3": 0.6},
    "Fitness": {"Whey Protein": 1.3, "Creatine": 1.5, "BCAA": 1.2},
    "Wellness": {"Multivitamin": 1.6, "Omega 3": 1.5},
    "Parenting": {"SuperMilk for Kids": 1.4, "Gummy Stars": 1.5},
    "Nutrition": {"Protein Oats for Teens": 1.5, "Mass Gainer": 1.3},
}

# Seasonal uplift by event, campaign names by month (1-12) and caption vocabulary per brand.
BRAND_PROFILE: dict[str, dict[str, Any]] = {
    "MuscleBlaze": {
        "season": {"newyear": 0.9, "summer": 0.30, "monsoon": 0.0, "festive": 0.55},
        "campaigns": {
            "MB_NewYearResolution": (12, 1, 2),
            "MB_SummerFit": (3, 4, 5, 6),
            "MB_MonsoonBulk": (7, 8, 9),
            "MB_DiwaliGains": (10, 11),
        },
        "words": "protein gains whey workout gym strength muscle recovery lean bulk creatine "
        "grind pump shred training energy goals fitness",
    },
    "HKVitals": {
        "season": {"newyear": 0.25, "summer": 0.10, "monsoon": 0.25, "festive": 0.75},
        "campaigns": {
            "HKV_WinterWellness": (12, 1),
            "HKV_GlowUp": (2, 3, 4, 5, 6),
            "HKV_ImmunityBoost": (7, 8, 9),
            "HKV_FestiveGlow": (10, 11),
        },
        "words": "glow skin hair biotin collagen immunity wellness daily vitamins omega "
        "radiance healthy routine selfcare nourish",
    },
    "Gritzo": {
        "season": {"newyear": 0.05, "summer": 0.40, "monsoon": 0.10, "festive": 0.65},
        "campaigns": {
            "Gritzo_KidsHealth": (12, 1, 2, 3, 8, 9),
            "Gritzo_SummerGrowth": (4, 5),
            "Gritzo_BackToSchool": (6, 7),
            "Gritzo_DiwaliGifting": (10, 11),
        },
        "words": "kids growth milk tasty nutrition school energy gummies healthy family "
        "superkids breakfast oats strong play",
    },
}

# Diwali moves every year; the festive sale peaks about a week before it.
DIWALI = {
    2019: "2019-10-27",
    2020: "2020-11-14",
    2021: "2021-11-04",
    2022: "2022-10-24",
    2023: "2023-11-12",
    2024: "2024-11-01",
    2025: "2025-10-20",
    2026: "2026-11-08",
    2027: "2027-10-29",
    2028: "2028-10-17",
    2029: "2029-11-05",
    2030: "2030-10-26",
}
# Event centre as (month, day) or "diwali", and its width in days.
EVENTS: dict[str, tuple[Any, float]] = {
    "newyear": ((1, 10), 16.0),
    "summer": ((5, 15), 28.0),
    "monsoon": ((8, 5), 22.0),
    "festive": ("diwali", 11.0),
}

WEEKDAY_ORDERS = np.array([0.95, 0.93, 0.94, 0.96, 1.00, 1.12, 1.15])  # Monday first
WEEKDAY_POSTS = np.array([0.97, 0.97, 0.97, 1.00, 1.03, 1.04, 1.02])
# Relative activity by hour of day, 00:00 first: a lunch bump and a late-evening peak.
TOD_ORDERS = np.array(
    [0.30, 0.18, 0.10, 0.07, 0.06, 0.09, 0.22, 0.45, 0.70, 0.90, 1.00, 1.10,
     1.25, 1.30, 1.15, 1.05, 1.05, 1.15, 1.35, 1.60, 1.85, 1.95, 1.60, 0.95]
)  # fmt: skip
TOD_POSTS = np.array(
    [0.10, 0.05, 0.02, 0.02, 0.02, 0.05, 0.30, 0.80, 1.20, 1.00, 0.80, 0.90,
     1.30, 1.20, 0.80, 0.70, 0.80, 1.10, 1.60, 1.90, 1.80, 1.30, 0.70, 0.30]
)  # fmt: skip
ORDER_QTY_P = np.array([0.86, 0.10, 0.04])  # units per tracked order: 1, 2 or 3
MEAN_QTY = float((np.arange(1, 4) * ORDER_QTY_P).sum())
