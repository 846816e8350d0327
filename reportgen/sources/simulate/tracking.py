"""Orders: the hourly intensity grid of expected tracked orders, and the product, price,
campaign and buyer lookups that turn (influencer, time) draws into tracking_data rows."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from reportgen.config.catalogue import DEFAULT_PRODUCTS
from reportgen.sources.simulate.panel import Calendar, Influencers, Posts, campaign_lookup
from reportgen.sources.simulate.profiles import (
    BRANDS,
    CATEGORIES,
    DEFAULT_PRODUCT,
    LAG_MEAN_HOURS,
    ORDER_QTY_P,
    ORGANIC_SHARE,
    PRODUCT_PROFILE,
    PRODUCT_TILT,
    PRODUCTS,
    SCHEMAS,
    TOD_ORDERS,
    TS,
    USER_POOL_PER_ROW,
    WARMUP_DAYS,
    WEEKDAY_ORDERS,
)
from reportgen.sources.simulate.randomness import pick_index
from reportgen.sources.simulate.writing import labels, prefixed_ids, timestamps


def order_intensity(infl: Influencers, cal: Calendar, posts: Posts) -> np.ndarray:
    """Return expected tracked orders per (window hour, influencer), hour-major."""
    n_inf, n_hours = len(infl), len(cal.days) * 24
    driven = np.zeros((n_hours, n_inf))
    np.add.at(driven, (posts.second // 3_600, posts.influencer), posts.impact)
    # Exponential lag: the unspent impact decays by `keep` each hour and the rest turns into
    # orders. A post starts converting the hour after it goes out, so no order precedes it.
    keep = np.exp(-1.0 / LAG_MEAN_HOURS)
    warm = WARMUP_DAYS * 24
    response = np.empty((n_hours - warm, n_inf))
    pending = np.zeros(n_inf)
    for h in range(n_hours):
        if h >= warm:
            response[h - warm] = pending
        pending *= keep
        pending += driven[h]
    response *= 1.0 - keep

    # The organic baseline is a small share of what the influencer drives on average. It uses
    # the expected post impact (see make_posts), not the drawn posts, so it is never zero
    # and `rows=N` can always be met.
    per_post = infl.followers * infl.reach_rate * infl.conv * np.exp((0.5**2 + 0.35**2) / 2)
    usual = infl.cadence / (30.44 * 24) * per_post
    response += ORGANIC_SHARE / (1 - ORGANIC_SHARE) * usual[None, :]

    days = cal.days[WARMUP_DAYS:]
    n_win = len(days)
    demand = (infl.mix @ np.sqrt(cal.season[:, WARMUP_DAYS:])).T  # (days, n_inf)
    weekday = WEEKDAY_ORDERS[cal.weekday[WARMUP_DAYS:]] / WEEKDAY_ORDERS.mean()
    tod = TOD_ORDERS / TOD_ORDERS.mean()
    lam = response.reshape(n_win, 24, n_inf)
    lam *= (demand * weekday[:, None])[:, None, :]
    lam *= tod[None, :, None]
    return lam.reshape(n_win * 24, n_inf)


@dataclass
class TrackingContext:
    """Lookup tables that turn (influencer, time) draws into tracking_data rows."""

    infl: Influencers
    cal: Calendar
    product_cum: np.ndarray  # (categories, brands, max products) cumulative weights
    product_of: np.ndarray  # (brands, max products) -> index into PRODUCTS
    price_lo: np.ndarray
    price_hi: np.ndarray
    campaigns: list[str]
    campaign_of: np.ndarray  # (brands, 13)
    pool: int
    audience_start: np.ndarray
    audience_size: np.ndarray
    id_width: int

    @classmethod
    def build(
        cls,
        infl: Influencers,
        cal: Calendar,
        n_rows: int,
        lam: np.ndarray,
        rng: np.random.Generator,
    ) -> TrackingContext:
        """Prepare product, price, campaign and user-pool lookups for a run of n_rows."""
        product_cum, product_of = product_tables()
        campaigns, campaign_of = campaign_lookup()
        # Users come from one pool; each influencer reaches a window of it sized by the
        # orders they drive, and windows overlap, so a user can buy through several
        # influencers and come back. Later issues grow this into user journeys (multi-touch
        # attribution) and a holdout group; keep user_id per row and the pool stable.
        pool = int(min(max(1_000, n_rows * USER_POOL_PER_ROW), 99_999_999))
        share = lam.sum(axis=0) / max(lam.sum(), 1e-12)
        audience = np.clip(np.rint(share * pool * 1.5), 50, pool).astype(np.int64)
        return cls(
            infl=infl,
            cal=cal,
            product_cum=product_cum,
            product_of=product_of,
            price_lo=np.array([product_profile(p)[0] for p in PRODUCTS]),
            price_hi=np.array([product_profile(p)[1] for p in PRODUCTS]),
            campaigns=campaigns,
            campaign_of=campaign_of,
            pool=pool,
            audience_start=rng.integers(0, pool, len(infl)),
            audience_size=audience,
            id_width=max(7, len(str(n_rows))),
        )

    def table(
        self,
        inf_idx: np.ndarray,
        second: np.ndarray,
        first_day: np.datetime64,
        first_id: int,
        rng: np.random.Generator,
    ) -> pa.Table:
        """Draw brand, product, quantity, price and buyer for each row and build the table."""
        n = len(inf_idx)
        day = second // 86_400
        brand = self._brands(inf_idx, day, rng)
        local = pick_index(rng, self.product_cum[self.infl.category[inf_idx], brand])
        product = self.product_of[brand, local]
        qty = 1 + np.searchsorted(np.cumsum(ORDER_QTY_P)[:-1], rng.random(n), side="right")
        unit = self.price_lo[product] + (
            self.price_hi[product] - self.price_lo[product]
        ) * rng.beta(2.2, 2.2, n)
        discount = np.clip(self.cal.discount[day] + rng.normal(0.0, 0.04, n), 0.0, 0.45)
        revenue = np.maximum(np.round(qty * unit * (1.0 - discount), 2), 0.01)
        campaign = self.campaign_of[brand, self.cal.month[day]]
        return pa.table(
            {
                "tracking_id": prefixed_ids(
                    "TRK", np.arange(first_id, first_id + n), self.id_width
                ),
                "source": pa.repeat(pa.scalar("influencer_marketing", pa.string()), n),
                "campaign": labels(self.campaigns, campaign),
                "influencer_id": pc.take(self.infl.ids, pa.array(inf_idx)),
                "user_id": self._users(inf_idx, rng),
                "product": labels(PRODUCTS, product),
                "date": pa.array(timestamps(first_day, second), TS),
                "orders": pa.array(qty, pa.int64()),
                "revenue": pa.array(revenue, pa.float64()),
            },
            schema=SCHEMAS["tracking_data"],
        )

    def _brands(self, inf_idx: np.ndarray, day: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Draw the brand of each row from the influencer's mix, tilted by the brand's season."""
        if not len(day):
            return np.zeros(0, np.int64)
        n_inf, lo, hi = len(self.infl), int(day.min()), int(day.max()) + 1
        # One cumulative row per (day, influencer) of this chunk, shared by all its rows.
        season = np.sqrt(self.cal.season[:, lo:hi]).T  # (days, brands)
        cum = np.cumsum(self.infl.mix[None, :, :] * season[:, None, :], axis=2)
        return pick_index(rng, cum.reshape(-1, len(BRANDS))[(day - lo) * n_inf + inf_idx])

    def _users(self, inf_idx: np.ndarray, rng: np.random.Generator) -> pa.Array:
        """Draw buyers from each influencer's audience, favouring its loyal core."""
        u = rng.random(len(inf_idx)) ** 1.4  # skew towards the core: repeat customers
        offset = np.floor(u * self.audience_size[inf_idx]).astype(np.int64)
        user = (self.audience_start[inf_idx] + offset) % self.pool
        # An affine bijection of the pool index makes ids look random but stay stable.
        return prefixed_ids("U", (user * 37_139_213 + 10_456_789) % 100_000_000, 8)


def product_profile(name: str) -> tuple[float, float, float]:
    """Return (low price, high price, popularity) of a product, with a fallback."""
    return PRODUCT_PROFILE.get(name, DEFAULT_PRODUCT)


def product_tables() -> tuple[np.ndarray, np.ndarray]:
    """Return per (category, brand) cumulative product weights and the product index table."""
    per_brand = [[i for i, p in enumerate(PRODUCTS) if DEFAULT_PRODUCTS[p] == b] for b in BRANDS]
    width = max(len(p) for p in per_brand)
    product_of = np.zeros((len(BRANDS), width), np.int64)
    cum = np.zeros((len(CATEGORIES), len(BRANDS), width))
    for b, members in enumerate(per_brand):
        product_of[b, : len(members)] = members
        product_of[b, len(members) :] = members[-1]
        for c, category in enumerate(CATEGORIES):
            tilt = PRODUCT_TILT.get(category, {})
            w = np.zeros(width)
            w[: len(members)] = [
                product_profile(PRODUCTS[i])[2] * tilt.get(PRODUCTS[i], 1.0) for i in members
            ]
            cum[c, b] = np.cumsum(w / w.sum())
    return cum, product_of
