"""Payouts: each influencer's basis and rate, priced from what the market can see, and the
payouts table with totals of rate times lifetime posts or orders."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from reportgen.sources.simulate.panel import Calendar, Influencers
from reportgen.sources.simulate.profiles import (
    MEAN_QTY,
    PER_ORDER_SHARE,
    PER_POST_SHARE,
    PER_POST_TARGET_ROAS,
    PRODUCTS,
    SCHEMAS,
    WARMUP_DAYS,
)
from reportgen.sources.simulate.randomness import lognormal
from reportgen.sources.simulate.tracking import product_profile, product_tables
from reportgen.sources.simulate.writing import labels


def payout_terms(
    infl: Influencers, cal: Calendar, scale: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Choose each influencer's basis (1 = per post) and rate from market-visible data only."""
    n = len(infl)
    # An exact count keeps both bases present even in tiny panels.
    k = int(np.clip(round(PER_POST_SHARE * n), 1, max(n - 1, 1)))
    # Brands pay big accounts a flat fee per post and small ones per order.
    weight = np.sqrt(infl.followers.astype(float))
    per_post = np.zeros(n, np.int64)
    per_post[rng.choice(n, k, replace=False, p=weight / weight.sum())] = 1

    row_revenue = _expected_row_revenue(infl, cal)
    # A post is priced on the revenue an average influencer of that reach and platform would
    # drive, plus negotiation noise; the hidden quality (conv / market_conv) then decides who
    # beats break-even. `scale` follows `rows=N`, so payouts keep pace with the volume and
    # the ROAS distribution keeps its shape at any size.
    market_orders = infl.followers * infl.reach_rate * infl.market_conv * scale
    post_rate = market_orders * row_revenue / PER_POST_TARGET_ROAS * lognormal(rng, 0.45, n)
    order_rate = PER_ORDER_SHARE * row_revenue / MEAN_QTY * lognormal(rng, 0.45, n)
    rate = np.where(per_post == 1, post_rate, order_rate)
    return per_post, _nice_rate(rate)


def _expected_row_revenue(infl: Influencers, cal: Calendar) -> np.ndarray:
    """Return each influencer's expected revenue per tracked row (INR)."""
    cum, product_of = product_tables()
    weights = np.diff(cum, axis=2, prepend=0.0)  # (categories, brands, products)
    mean_price = np.array([(product_profile(p)[0] + product_profile(p)[1]) / 2 for p in PRODUCTS])
    per_brand = (weights * mean_price[product_of][None, :, :]).sum(axis=2)  # (categories, brands)
    discount = float(cal.discount[WARMUP_DAYS:].mean())
    return (infl.mix * per_brand[infl.category]).sum(axis=1) * MEAN_QTY * (1.0 - discount)


def _nice_rate(rate: np.ndarray) -> np.ndarray:
    """Round rates the way a contract would: hundreds, whole rupees or paise for tiny ones."""
    return np.where(
        rate >= 1_000,
        np.round(rate, -2),
        np.where(rate >= 10, np.round(rate), np.maximum(np.round(rate, 2), 0.01)),
    )


def payouts_table(
    infl: Influencers,
    per_post: np.ndarray,
    rate: np.ndarray,
    posts: np.ndarray,
    orders: np.ndarray,
) -> pa.Table:
    """Build the payouts table; totals are exactly rate x lifetime posts or orders."""
    count = np.where(per_post == 1, posts, orders)
    return pa.table(
        {
            "influencer_id": infl.ids,
            "basis": labels(["per_order", "per_post"], per_post),
            "rate": pa.array(rate, pa.float64()),
            "total_orders_by_influencer": pa.array(orders, pa.int64()),
            "total_payout": pa.array(np.round(rate * count, 2), pa.float64()),
        },
        schema=SCHEMAS["payouts"],
    )
