"""Simulate users' journeys in an influencer programme with a randomised holdout and known truth.

The model, in one paragraph: every user has a lognormal purchase intent and orders on a day with
probability 1 - exp(-h), where the hazard h is an organic baseline (intent x weekly and yearly
seasonality) times a saturating lift from influencer content. Influencers reach an audience that
leans towards high-intent users (the selection bias that makes last-touch overstate); each post
is seen by part of the audience and clicked by a few, and every view adds to a per-user,
per-influencer stimulus that carries over from day to day (adstock) and takes effect from the
next day. Buyers who were reached recently may use that influencer's promo code; codes also
leak to buyers who would have ordered anyway. A share of users is held out of the whole
programme, and a share of each influencer's audience is held out of that influencer's posts.

The truth is counterfactual with common random numbers: every user-day has one uniform draw
and one basket, so removing an influencer's exposures (or all of them) only lowers hazards and
removes exactly the orders that exposure caused. ``truth`` holds the realised effect on the
users who were exposed, which is what a treatment-versus-holdout comparison estimates.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from reportgen.analysis.journey_tables import (
    PRODUCTS,
    SECONDS_PER_DAY,
    assignments_table,
    conversions_table,
    pool,
    touchpoints_table,
    tracking_table,
)
from reportgen.errors import ConfigError

# The seed simulator's end date, id formatting, product price table and payout layout are
# reused so that both simulators produce data in one layout.
from reportgen.sources.simulate import (
    DEFAULT_END_DATE,
    PRODUCT_PROFILE,
    SCHEMAS,
    prefixed_ids,
    seeded_rng,
)

logger = logging.getLogger(__name__)

BASE_HAZARD = 0.0012  # organic orders per user-day at mean intent and neutral season
INTENT_SIGMA = 0.8  # spread of purchase intent (log scale)
AUDIENCE_TILT = 0.8  # audience membership grows with intent**AUDIENCE_TILT (selection bias)
CLICK_TILT = 0.5  # click probability grows with intent**CLICK_TILT
ADSTOCK = 0.7  # share of yesterday's stimulus that carries over to today
MAX_LIFT = 1.5  # saturation: content can at most multiply the hazard by 1 + MAX_LIFT
BETA = 1.2  # median stimulus of one view
CLICK_WEIGHT = 2.0  # extra stimulus of a click, in views
CODE_RECENCY_DAYS = 7  # a buyer reached within this many days may use that influencer's code
_EMPTY_EVENTS = pd.DataFrame(
    {c: np.zeros(0, np.int64) for c in ("user", "k", "day", "second", "post")}
    | {"click": np.zeros(0, bool)}
)


@dataclass(frozen=True)
class JourneySpec:
    """What to simulate: seed, size, study window and experiment design."""

    seed: int = 0
    users: int = 300_000
    influencers: int = 8
    days: int = 28
    end_date: date = DEFAULT_END_DATE  # last day of the study, inclusive
    holdout_share: float = 0.20  # users held out of the whole programme
    influencer_holdout_share: float = 0.20  # of each influencer's audience; 0 means none
    code_share: float = 0.30  # P(a recently reached buyer uses that influencer's code)
    leak_rate: float = 0.02  # mean P(a buyer uses one influencer's leaked code)
    lookback_days: int = 7  # tracked click-through window that earns commission
    effect_scale: float = 1.0  # multiplies every influencer's true effect (0: none at all)

    def __post_init__(self) -> None:
        """Reject specs that cannot be simulated."""
        for name in ("users", "influencers", "days", "lookback_days"):
            if getattr(self, name) < 1:
                raise ConfigError(f"journeys: {name} must be >= 1, got {getattr(self, name)}")
        if self.effect_scale < 0:
            raise ConfigError(f"journeys: effect_scale must be >= 0, got {self.effect_scale}")
        for name in ("holdout_share", "influencer_holdout_share", "code_share", "leak_rate"):
            value = getattr(self, name)
            if not 0 <= value < 1:
                raise ConfigError(f"journeys: {name} must be in [0, 1), got {value}")
        if self.seed < 0:
            raise ConfigError(f"journeys: seed must be >= 0, got {self.seed}")

    @property
    def start_date(self) -> date:
        """Return the first day of the study, inclusive."""
        return self.end_date - timedelta(days=self.days - 1)


@dataclass
class Study:
    """Simulated study tables (seed layout) and the counterfactual truth."""

    spec: JourneySpec
    touchpoints: pd.DataFrame  # user_id, influencer_id, time, kind, post_id
    conversions: pd.DataFrame  # order_id, user_id, time, product, revenue
    assignments: pd.DataFrame  # user_id, group, influencer_id, start, end
    tracking_data: pd.DataFrame  # the attributed subset of conversions, seed layout
    payouts: pd.DataFrame  # seed layout, for the study window
    truth: dict[str, Any] = field(default_factory=dict)


@dataclass
class World:
    """Latent state shared by the factual and every counterfactual world."""

    intent: np.ndarray  # (users,)
    audience: list[np.ndarray]  # sorted user indices per influencer
    program_holdout: np.ndarray  # (users,) bool
    influencer_holdout: list[np.ndarray]  # per influencer, bool aligned with audience
    beta: np.ndarray  # (influencers,) stimulus per view
    events: pd.DataFrame  # realised views: user, k, day, second, click, post
    posts: np.ndarray  # (influencers,) posts in the study window
    uid: pd.CategoricalDtype  # user ids by user index
    kid: pd.CategoricalDtype  # influencer ids by influencer index


def simulate_journeys(spec: JourneySpec) -> Study:
    """Simulate one study and compute its truth by counterfactual simulation."""
    world = _make_world(spec)
    cells = _candidate_cells(spec, world)
    _baskets(spec, cells)
    stim = _stimulus(spec, world, cells)
    ordered = cells["u"] < _order_prob(cells["h0"], stim.sum(axis=1))
    tracked = _tracked(spec, world, _orders(cells, ordered))
    payouts = _payouts(spec, world, tracked)
    truth = _truth(spec, cells, stim, ordered, tracked, payouts)
    study = Study(
        spec=spec,
        touchpoints=touchpoints_table(spec, world, tracked),
        conversions=conversions_table(spec, world, tracked),
        assignments=assignments_table(spec, world),
        tracking_data=tracking_table(spec, world, tracked),
        payouts=payouts,
        truth=truth,
    )
    logger.info(
        "journeys: %d users, %d touchpoints, %d orders, programme iROAS %.2f",
        spec.users,
        len(study.touchpoints),
        len(study.conversions),
        truth["overall"]["iroas"] if truth["overall"]["iroas"] is not None else float("nan"),
    )
    return study


def write_study(study: Study, folder: Path, fmt: str = "parquet") -> None:
    """Write the study tables (``fmt``: parquet or csv) and ``truth.json`` into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("touchpoints", "conversions", "assignments", "tracking_data", "payouts"):
        frame: pd.DataFrame = getattr(study, name)
        if fmt == "csv":
            frame.to_csv(folder / f"{name}.csv", index=False)
        else:
            frame.to_parquet(folder / f"{name}.parquet", index=False)
    (folder / "truth.json").write_text(json.dumps(study.truth, indent=2) + "\n")


def relabel_influencers(study: Study, ids: list[str]) -> Study:
    """Return ``study`` with influencers INF01, INF02, ... renamed to ``ids`` (truth too)."""
    if len(ids) != study.spec.influencers:
        raise ConfigError(f"journeys: {len(ids)} ids for {study.spec.influencers} influencers")
    rename = dict(zip(influencer_ids(study.spec.influencers), ids, strict=True))
    tables = {}
    for name in ("touchpoints", "assignments", "tracking_data", "payouts"):
        frame = getattr(study, name).copy()
        frame["influencer_id"] = (
            frame["influencer_id"].astype(object).map(lambda v: rename.get(v, v))
        )
        tables[name] = frame
    truth = dict(study.truth)
    truth["influencers"] = {rename[k]: v for k, v in study.truth["influencers"].items()}
    return Study(study.spec, conversions=study.conversions, truth=truth, **tables)


def influencer_ids(n: int) -> list[str]:
    """Return the ids of ``n`` simulated influencers (INF01, INF02, ...)."""
    return prefixed_ids("INF", np.arange(1, n + 1), 2).to_pylist()


# ---------------------------------------------------------------------------------------------
# The latent world: users, influencers, audiences, assignment and exposure.
# ---------------------------------------------------------------------------------------------


def _make_world(spec: JourneySpec) -> World:
    """Draw users, influencers, audiences, holdouts and the realised views."""
    rng = seeded_rng(spec.seed, "journeys/world")
    n, k = spec.users, spec.influencers
    intent = np.exp(rng.normal(0.0, INTENT_SIGMA, n) - INTENT_SIGMA**2 / 2)  # mean 1
    reach = rng.uniform(0.15, 0.45, k)  # audience share at mean intent
    # Stimulus per view: heavy-tailed, so a few influencers drive most of the lift.
    beta = spec.effect_scale * BETA * np.exp(rng.normal(0.0, 0.8, k))
    audience, influencer_holdout = [], []
    program_holdout = rng.random(n) < spec.holdout_share
    for j in range(k):
        member = rng.random(n) < np.minimum(0.95, reach[j] * intent**AUDIENCE_TILT)
        idx = np.flatnonzero(member)
        audience.append(idx)
        influencer_holdout.append(rng.random(len(idx)) < spec.influencer_holdout_share)
    events, posts = _views(spec, rng, intent, audience, program_holdout, influencer_holdout)
    uid = pool(prefixed_ids("U", np.arange(1, n + 1), 7))
    kid = pool(influencer_ids(k))
    return World(
        intent, audience, program_holdout, influencer_holdout, beta, events, posts, uid, kid
    )


def _views(
    spec: JourneySpec,
    rng: np.random.Generator,
    intent: np.ndarray,
    audience: list[np.ndarray],
    program_holdout: np.ndarray,
    influencer_holdout: list[np.ndarray],
) -> tuple[pd.DataFrame, np.ndarray]:
    """Draw posts and the views and clicks they get from users who are not held out."""
    parts = [_EMPTY_EVENTS]
    posts = np.zeros(len(audience), np.int64)
    post_no = 0
    for j, members in enumerate(audience):
        rate, seen, click = rng.uniform(0.1, 0.3), rng.uniform(0.1, 0.25), rng.uniform(0.02, 0.06)
        exposed = ~program_holdout[members] & ~influencer_holdout[j]
        for day in np.flatnonzero(rng.random(spec.days) < rate):
            post_no += 1
            posts[j] += 1
            # Draw for the whole audience, then drop held-out users: common random numbers.
            view = (rng.random(len(members)) < seen) & exposed
            clicked = rng.random(len(members)) < click * intent[members] ** CLICK_TILT
            users = members[view]
            parts.append(
                pd.DataFrame(
                    {
                        "user": users,
                        "k": j,
                        "day": day,
                        "second": rng.integers(0, SECONDS_PER_DAY - 600, len(users)),
                        "click": clicked[view],
                        "post": post_no,
                    }
                )
            )
    return pd.concat(parts, ignore_index=True), posts


# ---------------------------------------------------------------------------------------------
# Orders: candidate user-days, stimulus and the factual and counterfactual worlds.
# ---------------------------------------------------------------------------------------------


def _season(spec: JourneySpec) -> np.ndarray:
    """Return the organic demand multiplier per study day (weekly and yearly cycles)."""
    days = pd.date_range(spec.start_date, periods=spec.days, freq="D")
    weekly = np.where(days.day_of_week >= 5, 1.12, 0.97)
    yearly = 1 + 0.25 * np.sin(2 * np.pi * (days.day_of_year.to_numpy() - 80) / 365.25)
    return weekly * yearly


def _order_prob(h0: np.ndarray, stimulus: np.ndarray) -> np.ndarray:
    """Return P(order) for a user-day from its organic hazard and total stimulus."""
    lift = MAX_LIFT * (1 - np.exp(-stimulus / MAX_LIFT))
    return 1 - np.exp(-h0 * (1 + lift))


def _candidate_cells(spec: JourneySpec, world: World) -> dict[str, np.ndarray]:
    """Return the user-days that could order in some world, with their draws."""
    rng = seeded_rng(spec.seed, "journeys/orders")
    season = _season(spec)
    cand_day, cand_user, cand_u = [], [], []
    for day in range(spec.days):
        h0 = BASE_HAZARD * world.intent * season[day]
        u = rng.random(spec.users)
        # No world has a higher hazard than h0 * (1 + MAX_LIFT); other user-days never order.
        hit = np.flatnonzero(u < 1 - np.exp(-h0 * (1 + MAX_LIFT)))
        cand_day.append(np.full(len(hit), day))
        cand_user.append(hit)
        cand_u.append(u[hit])
    days, user = np.concatenate(cand_day), np.concatenate(cand_user)
    return {
        "day": days,
        "user": user,
        "u": np.concatenate(cand_u),
        "h0": BASE_HAZARD * world.intent[user] * season[days],
    }


def _stimulus(spec: JourneySpec, world: World, cells: dict[str, np.ndarray]) -> np.ndarray:
    """Return each candidate cell's carried-over stimulus per influencer, (cells, influencers)."""
    out = np.zeros((len(cells["day"]), spec.influencers))
    ev = world.events
    for j, members in enumerate(world.audience):
        mine = ev[ev["k"].to_numpy() == j]
        # A view takes effect from the next day on.
        day = mine["day"].to_numpy() + 1
        keep = day < spec.days
        pos = np.searchsorted(members, mine["user"].to_numpy()[keep])
        weight = world.beta[j] * (1 + CLICK_WEIGHT * mine["click"].to_numpy()[keep])
        grid = np.zeros((spec.days, len(members)))
        np.add.at(grid, (day[keep], pos), weight)
        for d in range(1, spec.days):
            grid[d] += ADSTOCK * grid[d - 1]
        cpos = np.minimum(np.searchsorted(members, cells["user"]), max(len(members) - 1, 0))
        inside = (members[cpos] == cells["user"]) if len(members) else np.zeros(0, bool)
        out[inside, j] = grid[cells["day"][inside], cpos[inside]]
    return out


def _baskets(spec: JourneySpec, cells: dict[str, np.ndarray]) -> None:
    """Draw every candidate cell's basket, time and code draws (the same in every world)."""
    rng = seeded_rng(spec.seed, "journeys/baskets")
    n = len(cells["day"])
    popularity = np.array([PRODUCT_PROFILE[p][2] for p in PRODUCTS])
    product = rng.choice(len(PRODUCTS), n, p=popularity / popularity.sum())
    low = np.array([PRODUCT_PROFILE[p][0] for p in PRODUCTS])[product]
    high = np.array([PRODUCT_PROFILE[p][1] for p in PRODUCTS])[product]
    qty = rng.choice([1, 2, 3], n, p=[0.86, 0.10, 0.04])
    cells["product"] = product
    cells["revenue"] = np.round(rng.uniform(low, high) * qty, 2)
    cells["second"] = rng.integers(600, SECONDS_PER_DAY, n)
    cells["code_u"] = rng.random(n)
    cells["leak_u"] = rng.random(n)


def _orders(cells: dict[str, np.ndarray], ordered: np.ndarray) -> pd.DataFrame:
    """Return the factual orders, one row per ordered cell, in time order."""
    idx = np.flatnonzero(ordered)
    frame = pd.DataFrame({name: values[idx] for name, values in cells.items()})
    frame["cell"] = idx
    frame["t"] = frame["day"] * SECONDS_PER_DAY + frame["second"]
    return frame.sort_values(["t", "user"], kind="stable").reset_index(drop=True)


def _last_touch(orders: pd.DataFrame, events: pd.DataFrame, days: int) -> np.ndarray:
    """Return per order the influencer of the user's last event within ``days`` (-1: none)."""
    ev = events.assign(t=events["day"] * SECONDS_PER_DAY + events["second"])
    ev = ev.sort_values("t", kind="stable")[["t", "user", "k"]]
    hit = pd.merge_asof(
        orders[["t", "user"]],
        ev,
        on="t",
        by="user",
        direction="backward",
        tolerance=days * SECONDS_PER_DAY,
    )
    return hit["k"].fillna(-1).to_numpy(np.int64)


def _tracked(spec: JourneySpec, world: World, orders: pd.DataFrame) -> pd.DataFrame:
    """Add promo codes (own and leaked) and the tracked influencer (code, else last click)."""
    leak = seeded_rng(spec.seed, "journeys/leaks").uniform(0, 2 * spec.leak_rate, spec.influencers)
    reached = _last_touch(orders, world.events, CODE_RECENCY_DAYS)
    own = (reached >= 0) & (orders["code_u"].to_numpy() < spec.code_share)
    # A leaked code is used by any buyer, reached or not, held out or not; rescale the draw.
    leak_u = orders["leak_u"].to_numpy()
    leaked = np.minimum(np.searchsorted(np.cumsum(leak), leak_u, side="right"), len(leak))
    code = np.where(own, reached, np.where(leaked < len(leak), leaked, -1))
    clicks = world.events[world.events["click"].to_numpy()]
    click = _last_touch(orders, clicks, spec.lookback_days)
    out = orders.copy()
    out["code"] = code
    out["influencer"] = np.where(code >= 0, code, click)
    out["via"] = np.where(code >= 0, "code", np.where(click >= 0, "link", ""))
    return out


def _payout_terms(spec: JourneySpec) -> tuple[np.ndarray, np.ndarray]:
    """Draw each influencer's payout basis and rate, priced from visible data only."""
    rng = seeded_rng(spec.seed, "journeys/payouts")
    basis = rng.choice(
        ["per_post", "per_order", "revenue_share"], spec.influencers, p=[0.6, 0.25, 0.15]
    )
    rate = np.select(
        [basis == "per_post", basis == "per_order"],
        [
            np.round(rng.uniform(30_000, 120_000, spec.influencers), -3),
            np.round(rng.uniform(200, 600, spec.influencers), -1),
        ],
        np.round(rng.uniform(0.15, 0.35, spec.influencers), 2),
    )
    return basis, rate


def _commission(
    basis: np.ndarray, rate: np.ndarray, orders: np.ndarray, revenue: np.ndarray
) -> np.ndarray:
    """Return the order-linked payout per influencer (per-post fees are not order-linked)."""
    return np.select(
        [basis == "per_order", basis == "revenue_share"], [rate * orders, rate * revenue], 0.0
    )


def _payouts(spec: JourneySpec, world: World, tracked: pd.DataFrame) -> pd.DataFrame:
    """Return the study window's payouts per influencer in the seed layout."""
    basis, rate = _payout_terms(spec)
    k = tracked["influencer"].to_numpy()
    mine = k >= 0
    orders = np.bincount(k[mine], minlength=spec.influencers)
    revenue = np.bincount(k[mine], tracked["revenue"].to_numpy()[mine], minlength=spec.influencers)
    total = _commission(basis, rate, orders, revenue) + np.where(
        basis == "per_post", rate * world.posts, 0.0
    )
    columns = SCHEMAS["payouts"].names
    return pd.DataFrame(
        dict(
            zip(
                columns,
                [influencer_ids(spec.influencers), basis, rate, orders, np.round(total, 2)],
                strict=True,
            )
        )
    )


def _truth(
    spec: JourneySpec,
    cells: dict[str, np.ndarray],
    stim: np.ndarray,
    ordered: np.ndarray,
    tracked: pd.DataFrame,
    payouts: pd.DataFrame,
) -> dict[str, Any]:
    """Return the realised incremental effect overall and per influencer (common random numbers)."""
    total = stim.sum(axis=1)
    revenue = cells["revenue"]
    basis, rate = payouts["basis"].to_numpy(), payouts["rate"].to_numpy()
    k = tracked["influencer"].to_numpy()

    def effect(without: np.ndarray, who: np.ndarray, payout: float) -> dict[str, Any]:
        kept = cells["u"] < _order_prob(cells["h0"], without)
        # Commission paid on tracked orders that happen in the world without this content too.
        base = kept[tracked["cell"].to_numpy()] & np.isin(k, who)
        paid = _commission(
            basis[who], rate[who],
            np.bincount(k[base], minlength=spec.influencers)[who],
            np.bincount(k[base], tracked["revenue"].to_numpy()[base], minlength=spec.influencers)[who],
        )  # fmt: skip
        direct = tracked["revenue"].to_numpy()[np.isin(k, who)].sum()
        incr = float(revenue[ordered].sum() - revenue[kept].sum())
        return {
            "incremental_revenue": round(incr, 2),
            "incremental_orders": int(ordered.sum() - kept.sum()),
            "payout": round(payout, 2),
            "iroas": round(incr / payout, 6) if payout > 0 else None,
            "direct_revenue": round(float(direct), 2),
            "commission_on_baseline_orders": round(float(paid.sum()), 2),
        }

    ids = influencer_ids(spec.influencers)
    every = np.arange(spec.influencers)
    pay = payouts["total_payout"].to_numpy()
    return {
        "overall": effect(np.zeros_like(total), every, float(pay.sum())),
        "influencers": {
            ids[j]: effect(total - stim[:, j], np.array([j]), float(pay[j])) for j in every
        },
    }
