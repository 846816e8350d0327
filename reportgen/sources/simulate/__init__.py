"""Simulate the four seed tables (influencers, posts, tracking_data, payouts) deterministically.

The model, in one paragraph: every influencer has a category, a platform, a heavy-tailed
follower count, a posting cadence, a brand mix (mostly one brand, some spill-over) and a hidden
lognormal conversion quality. Posts are drawn day by day (more during the primary brand's
seasons); each post's reach scales with followers and its expected orders with reach times
conversion quality. Orders follow posts with an exponential lag (mean two days) on an hourly
grid, modulated by time of day, weekday and brand seasonality, plus a small organic baseline.
Tracked rows are drawn from that hourly intensity grid with a multinomial, which gives an exact
row count when ``rows`` is set and keeps the shape of the natural volume. Payout rates are priced
from what the market can see (followers, platform, brand), not from the hidden quality, which
is what makes some partnerships lose money and a few return many times their cost.

Only names, handles and a small caption pool come from Faker; every other value is vectorised
numpy, and tracking_data is generated and written in chunks of about a million rows.

The package, in the order of a run: this module holds the spec, the run and the tracking_data
stream written chunk by chunk; ``profiles`` the tables' schemas, the model's parameters and the
brand, category, product, platform and event profiles; ``randomness`` the seeded streams and
draws; ``panel`` the influencers, the calendar and the posts; ``tracking`` the hourly order
intensity and the lookups that turn draws into tracking rows; ``payouts`` the payout terms and
table; ``writing`` the vectorised id and label arrays and the atomic CSV and Parquet writers.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
from faker import Faker

from reportgen.errors import ConfigError
from reportgen.sources.simulate.panel import (
    Calendar,
    Influencers,
    build_posts_table,
    influencers_table,
    make_calendar,
    make_influencers,
    make_posts,
)
from reportgen.sources.simulate.payouts import payout_terms, payouts_table
from reportgen.sources.simulate.profiles import CONV_BASE as CONV_BASE
from reportgen.sources.simulate.profiles import CONV_SIGMA as CONV_SIGMA
from reportgen.sources.simulate.profiles import LAG_MEAN_HOURS as LAG_MEAN_HOURS
from reportgen.sources.simulate.profiles import ORGANIC_SHARE as ORGANIC_SHARE
from reportgen.sources.simulate.profiles import PER_ORDER_SHARE as PER_ORDER_SHARE
from reportgen.sources.simulate.profiles import PER_POST_SHARE as PER_POST_SHARE
from reportgen.sources.simulate.profiles import PER_POST_TARGET_ROAS as PER_POST_TARGET_ROAS
from reportgen.sources.simulate.profiles import PRODUCT_PROFILE as PRODUCT_PROFILE
from reportgen.sources.simulate.profiles import SCHEMAS, WARMUP_DAYS
from reportgen.sources.simulate.profiles import TABLES as TABLES
from reportgen.sources.simulate.profiles import USER_POOL_PER_ROW as USER_POOL_PER_ROW
from reportgen.sources.simulate.randomness import multinomial, seeded_rng
from reportgen.sources.simulate.tracking import TrackingContext, order_intensity
from reportgen.sources.simulate.writing import CSV_SLICE_ROWS as CSV_SLICE_ROWS
from reportgen.sources.simulate.writing import atomic_sink, write_table
from reportgen.sources.simulate.writing import prefixed_ids as prefixed_ids

logger = logging.getLogger(__name__)

#: Last day of data when the caller gives none; fixed so that runs never depend on the clock.
DEFAULT_END_DATE = date(2025, 6, 30)

FORMATS = ("parquet", "csv")
# Here, not in profiles: tests shrink CHUNK_ROWS and replace _tracking_chunks on this module.
CHUNK_ROWS = 1_000_000  # tracking rows per generated chunk and parquet row group
MAX_GRID_CELLS = 150_000_000  # influencers x hours in the intensity grid (8 bytes each)


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate: the seed, the size and the window of the four tables."""

    seed: int = 42
    influencers: int = 120
    days: int = 365
    end_date: date = DEFAULT_END_DATE  # last day of data, inclusive
    rows: int | None = None  # exact tracking_data rows; None keeps the natural volume
    fmt: str = "parquet"  # "parquet" or "csv"

    def __post_init__(self) -> None:
        """Reject specs that cannot be simulated."""
        if self.seed < 0:
            raise ConfigError(f"simulate: seed must be >= 0, got {self.seed}")
        if self.influencers < 1:
            raise ConfigError(f"simulate: influencers must be >= 1, got {self.influencers}")
        if self.days < 1:
            raise ConfigError(f"simulate: days must be >= 1, got {self.days}")
        if self.rows is not None and self.rows < 0:
            raise ConfigError(f"simulate: rows must be >= 0, got {self.rows}")
        if self.fmt not in FORMATS:
            raise ConfigError(
                f"simulate: fmt must be one of {', '.join(FORMATS)}, not {self.fmt!r}"
            )
        cells = self.influencers * (self.days + WARMUP_DAYS) * 24
        if cells > MAX_GRID_CELLS:
            raise ConfigError(
                f"simulate: influencers x days is too large ({self.influencers} x {self.days});"
                f" keep influencers x (days + {WARMUP_DAYS}) under {MAX_GRID_CELLS // 24:,}"
            )

    @property
    def start_date(self) -> date:
        """Return the first day of data, inclusive."""
        return self.end_date - timedelta(days=self.days - 1)


def simulate(spec: SimulationSpec, out_dir: Path) -> dict[str, int]:
    """Write influencers, posts, tracking_data, payouts into out_dir; return rows per table."""
    started = time.perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    n_days = spec.days + WARMUP_DAYS
    first_day = np.datetime64(spec.start_date, "D") - np.timedelta64(WARMUP_DAYS, "D")

    fake = Faker("en_IN")
    fake.seed_instance(spec.seed)
    infl = make_influencers(spec.influencers, seeded_rng(spec.seed, "influencers"), fake)
    cal = make_calendar(first_day, n_days)
    posts = make_posts(infl, cal, seeded_rng(spec.seed, "posts"))
    lam = order_intensity(infl, cal, posts)
    expected = float(lam.sum())

    rng_orders = seeded_rng(spec.seed, "tracking")
    n_rows = int(rng_orders.poisson(expected)) if spec.rows is None else spec.rows
    scale = n_rows / expected if expected > 0 else 0.0
    basis, rate = payout_terms(infl, cal, scale, seeded_rng(spec.seed, "payouts"))

    ext = spec.fmt
    counts: dict[str, int] = {}
    counts["influencers"] = write_table(
        out_dir / f"influencers.{ext}", ext, influencers_table(infl)
    )
    posts_table, posts_per_inf = build_posts_table(infl, cal, posts, first_day, fake, spec.seed)
    counts["posts"] = write_table(out_dir / f"posts.{ext}", ext, posts_table)

    chunks = _tracking_chunks(infl, cal, lam, n_rows, first_day, rng_orders)
    tracking_path = out_dir / f"tracking_data.{ext}"
    orders_per_inf, revenue_per_inf = _write_tracking(tracking_path, ext, len(infl), chunks)
    counts["tracking_data"] = n_rows

    payouts = payouts_table(infl, basis, rate, posts_per_inf, orders_per_inf)
    counts["payouts"] = write_table(out_dir / f"payouts.{ext}", ext, payouts)

    _log_summary(payouts, revenue_per_inf, counts, time.perf_counter() - started)
    return counts


# ---------------------------------------------------------------------------------------------
# tracking_data, drawn and written chunk by chunk
# ---------------------------------------------------------------------------------------------


def _tracking_chunks(
    infl: Influencers,
    cal: Calendar,
    lam: np.ndarray,
    n_rows: int,
    first_day: np.datetime64,
    rng: np.random.Generator,
) -> Iterator[tuple[pa.Table, np.ndarray]]:
    """Yield tracking_data in chronological chunks of about CHUNK_ROWS rows (table, influencer)."""
    n_inf = len(infl)
    per_hour = lam.sum(axis=1)
    total = per_hour.sum()
    bounds = _chunk_bounds(n_rows * per_hour / total if total > 0 else per_hour)
    masses = np.array([per_hour[a:b].sum() for a, b in bounds])
    sizes = multinomial(rng, n_rows, masses)

    context = TrackingContext.build(infl, cal, n_rows, lam, rng)
    next_id = 1
    for (h0, h1), size in zip(bounds, sizes, strict=True):
        # Exact counts per (hour, influencer) cell; same shape for any total.
        counts = multinomial(rng, int(size), lam[h0:h1].ravel())
        cells = np.repeat(np.arange(len(counts)), counts)
        hour = h0 + cells // n_inf
        inf_idx = cells % n_inf
        second = (WARMUP_DAYS * 24 + hour) * 3_600 + rng.integers(0, 3_600, len(cells))
        order = np.argsort(second, kind="stable")
        inf_idx, second = inf_idx[order], second[order]
        table = context.table(inf_idx, second, first_day, next_id, rng)
        next_id += len(inf_idx)
        yield table, inf_idx


def _write_tracking(
    path: Path, fmt: str, n_inf: int, chunks: Iterator[tuple[pa.Table, np.ndarray]]
) -> tuple[np.ndarray, np.ndarray]:
    """Write tracking chunks to one file; return lifetime orders and revenue per influencer."""
    orders = np.zeros(n_inf, np.int64)
    revenue = np.zeros(n_inf)
    with atomic_sink(path, SCHEMAS["tracking_data"], fmt) as sink:
        for table, inf_idx in chunks:
            sink.write(table)
            qty = table.column("orders").to_numpy()
            orders += np.rint(np.bincount(inf_idx, qty, n_inf)).astype(np.int64)
            revenue += np.bincount(inf_idx, table.column("revenue").to_numpy(), n_inf)
    return orders, revenue


def _chunk_bounds(expected_per_hour: np.ndarray) -> list[tuple[int, int]]:
    """Cut the window into runs of hours holding about CHUNK_ROWS expected rows each."""
    bounds: list[tuple[int, int]] = []
    start, acc = 0, 0.0
    for h, rows in enumerate(expected_per_hour.tolist()):
        if h > start and acc + rows > CHUNK_ROWS:
            bounds.append((start, h))
            start, acc = h, 0.0
        acc += rows
    bounds.append((start, len(expected_per_hour)))
    return bounds


def _log_summary(
    payouts: pa.Table, revenue: np.ndarray, counts: dict[str, int], seconds: float
) -> None:
    """Log row counts and the payout economics the reports will show."""
    cost = payouts.column("total_payout").to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        roas = np.where(cost > 0, revenue / cost, np.nan)
    logger.info(
        "simulated %s in %.1fs; revenue %.0f INR, payout %.0f INR, %d below break-even,"
        " best ROAS %.1f",
        ", ".join(f"{k}={v}" for k, v in counts.items()),
        seconds,
        revenue.sum(),
        cost.sum(),
        int(np.sum(roas < 1)),
        float(np.nanmax(roas)) if np.isfinite(roas).any() else float("nan"),
    )
