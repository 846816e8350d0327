"""Incremental orders, revenue and iROAS from a randomised holdout, with 90% intervals.

Method (per scope: the whole programme, or one influencer's audience): users are randomised
into treatment and holdout. The incremental revenue on the treated is

    IR = sum of treatment revenue - N_treatment x mean holdout revenue

and its error is N_treatment x (mean no-content revenue of the treated - that of the holdout),
which depends on no-content revenue only. Its variance, N_t^2 S0^2 (1/N_t + 1/N_h), is
estimated with the holdout's sample variance (the holdout shows no-content revenue), and the
interval is the normal one (delta method; iROAS = IR / payout with the payout known, so its
interval is the revenue interval divided by the payout). Orders are estimated the same way.

A scope gets a ``reason`` instead of numbers when it has no holdout or too few holdout users or
buyers for the normal approximation, and a ``decision`` on break-even (iROAS 1): above, below,
inconclusive (the interval holds 1) or too wide to decide (it runs from below 1/WIDE to above
WIDE). ROAS figures are labelled: ``direct_roas`` is tracked (last-touch) revenue / payout,
``iroas`` is incremental revenue / payout.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from statistics import NormalDist

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from reportgen.analysis.attribution import local_times
from reportgen.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

CONFIDENCE = 0.90
MIN_HOLDOUT_USERS = 200  # fewer and the normal interval is not trustworthy
MIN_HOLDOUT_BUYERS = 30  # holdout users with at least one order
WIDE = 2.0  # an interval from below 1/WIDE to above WIDE is too wide to decide break-even
OVERALL = "overall"


@dataclass
class Estimate:
    """Incrementality of one scope (the programme or one influencer), or why there is none."""

    scope: str
    users_treatment: int = 0
    users_holdout: int = 0
    payout: float | None = None
    direct_revenue: float = 0.0  # tracked (last-touch) revenue
    direct_roas: float | None = None  # tracked revenue / payout
    incremental_orders: float | None = None
    incremental_orders_low: float | None = None
    incremental_orders_high: float | None = None
    incremental_revenue: float | None = None
    incremental_revenue_low: float | None = None
    incremental_revenue_high: float | None = None
    iroas: float | None = None  # incremental revenue / payout
    iroas_low: float | None = None
    iroas_high: float | None = None
    decision: str | None = None  # above / below break-even, inconclusive, too wide to decide
    commission: float | None = None  # payout tied to tracked orders (per order, revenue share)
    commission_on_baseline_orders: float | None = None  # at least this much of it, see README
    reason: str | None = None  # why some figure is missing

    def as_dict(self) -> dict[str, object]:
        """Return the estimate as a plain dict (for summary.json)."""
        return asdict(self)


@dataclass
class Incrementality:
    """The programme-wide estimate and one per influencer with a holdout."""

    overall: Estimate
    influencers: list[Estimate]
    confidence: float
    method: str = "difference in means, normal interval (holdout variance, delta method)"

    def table(self) -> pd.DataFrame:
        """Return one row per scope, the programme first."""
        return pd.DataFrame([e.as_dict() for e in [self.overall, *self.influencers]])


@dataclass
class Outcomes:
    """Per-user revenue and orders of one scope's treatment and holdout users.

    The arrays may leave out users without a counted order: every user beyond their length
    counts as zero (a study's buyers are few, its users many).
    """

    users_treatment: int
    users_holdout: int
    revenue_treatment: np.ndarray
    revenue_holdout: np.ndarray
    orders_treatment: np.ndarray
    orders_holdout: np.ndarray

    def padded(self, name: str) -> np.ndarray:
        """Return the ``name`` array (e.g. ``revenue_holdout``) with every user of its group."""
        values = getattr(self, name)
        users = self.users_holdout if name.endswith("holdout") else self.users_treatment
        return np.concatenate([values, np.zeros(users - len(values))])


def estimate_incrementality(
    conversions: pd.DataFrame,
    assignments: pd.DataFrame,
    payouts: pd.DataFrame | None = None,
    tracking: pd.DataFrame | None = None,
    *,
    confidence: float = CONFIDENCE,
) -> Incrementality:
    """Estimate incrementality overall and per influencer from treatment versus holdout."""
    panel = _Panel.build(assignments, conversions)
    if "influencer_id" in assignments:
        scope, scope_ids = pd.factorize(assignments["influencer_id"])  # -1: programme-wide
    else:
        scope, scope_ids = np.full(len(assignments), -1), pd.Index([])
    scopes = {OVERALL: panel.outcomes(np.flatnonzero(scope < 0), OVERALL)}
    for i, k in enumerate(scope_ids):
        scopes[str(k)] = panel.outcomes(np.flatnonzero(scope == i), str(k))
    return estimate_from_outcomes(scopes, payouts, tracking, confidence=confidence)


def estimate_from_outcomes(
    scopes: Mapping[str, Outcomes | None],
    payouts: pd.DataFrame | None = None,
    tracking: pd.DataFrame | None = None,
    *,
    confidence: float = CONFIDENCE,
) -> Incrementality:
    """Estimate incrementality from each scope's outcomes (``OVERALL`` or an influencer id;
    None or absent: no assignments in that scope)."""
    if not 0 < confidence < 1:
        raise ConfigError(f"incrementality: confidence must be in (0, 1), got {confidence}")
    z = NormalDist().inv_cdf(0.5 + confidence / 2)
    terms = _terms(payouts, tracking)
    overall = _estimate(OVERALL, scopes.get(OVERALL), terms, z)
    named = {k for k, v in scopes.items() if k != OVERALL and v is not None}
    influencers = [
        _estimate(k, scopes.get(k), terms[terms.index == k], z)
        for k in sorted(set(terms.index.astype(str)) | named)
    ]
    return Incrementality(overall, influencers, confidence)


@dataclass
class _Panel:
    """Assignment rows and orders, integer-coded by user once for every scope."""

    user: np.ndarray  # per assignment row
    holdout: np.ndarray  # per assignment row
    start: np.ndarray | None  # per row, first instant counted
    end: np.ndarray | None  # per row, first instant no longer counted (end date + 1 day)
    order_user: np.ndarray  # per order, -1 for users without an assignment
    order_time: np.ndarray
    order_revenue: np.ndarray
    users: int

    @classmethod
    def build(cls, assignments: pd.DataFrame, conversions: pd.DataFrame) -> _Panel:
        """Code users and check groups (DataError on anything but treatment/holdout)."""
        group = assignments["group"]
        bad = ~group.isin(["treatment", "holdout"])
        if bad.any():
            raise DataError(
                f"assignments: group {group[bad].iloc[0]!r} for user"
                f" {assignments.loc[bad, 'user_id'].iloc[0]}; use treatment or holdout"
            )
        user, uniq = pd.factorize(assignments["user_id"])
        start = end = None
        if "start" in assignments:
            start = pd.to_datetime(assignments["start"]).to_numpy("datetime64[us]")
        if "end" in assignments:
            # The end date is inclusive: orders before the next midnight count.
            stop = pd.to_datetime(assignments["end"]).dt.normalize() + pd.Timedelta(days=1)
            end = stop.to_numpy("datetime64[us]")
        return cls(
            user=user,
            holdout=(group == "holdout").to_numpy(),
            start=start,
            end=end,
            order_user=pd.Index(uniq).get_indexer(conversions["user_id"]),
            order_time=local_times(conversions["time"], "conversions").to_numpy(),
            order_revenue=conversions["revenue"].to_numpy(float),
            users=len(uniq),
        )

    def outcomes(self, rows: np.ndarray, scope: str) -> Outcomes | None:
        """Return a scope's per-user revenue and orders in each row's assignment period."""
        if len(rows) == 0:
            return None
        user = self.user[rows]
        twice = np.bincount(user, minlength=self.users) > 1
        if twice.any():
            where = "programme-wide" if scope == OVERALL else f"for {scope}"
            raise DataError(
                f"assignments: a user is assigned more than once {where} (first: row"
                f" {rows[twice[user]][0] + 1}); keep one row per user and scope"
            )
        slot = np.full(self.users + 1, -1)
        slot[user] = np.arange(len(rows))
        row = slot[self.order_user]  # order_user -1 reads the spare last slot: -1
        hit = row >= 0
        # NaT bounds compare False, so a missing start or end does not exclude anything.
        if self.start is not None:
            hit &= ~(self.order_time < self.start[rows][row])
        if self.end is not None:
            hit &= ~(self.order_time >= self.end[rows][row])
        revenue = np.bincount(row[hit], self.order_revenue[hit], minlength=len(rows))
        orders = np.bincount(row[hit], minlength=len(rows)).astype(float)
        held = self.holdout[rows]
        return Outcomes(
            int((~held).sum()),
            int(held.sum()),
            revenue[~held],
            revenue[held],
            orders[~held],
            orders[held],
        )


def _terms(payouts: pd.DataFrame | None, tracking: pd.DataFrame | None) -> pd.DataFrame:
    """Return per influencer: payout, basis, rate, tracked orders and revenue."""
    cols = ["payout", "basis", "rate", "orders", "revenue"]
    if payouts is None:
        out = pd.DataFrame(columns=cols)
    else:
        out = payouts.set_index("influencer_id")[["total_payout", "basis", "rate"]]
        out = out.rename(columns={"total_payout": "payout"})
    if tracking is not None and len(tracking):
        tracked = tracking.groupby("influencer_id")[["orders", "revenue"]].sum()
        out = out.join(tracked, how="outer")
    for c in ("orders", "revenue"):
        out[c] = out[c].fillna(0.0) if c in out else 0.0
    return out


def _difference(y_t: np.ndarray, y_h: np.ndarray, z: float) -> tuple[float, float, float]:
    """Return the incremental total on the treated and its interval (one value per user)."""
    n_t, n_h = len(y_t), len(y_h)
    est = y_t.sum() - n_t * y_h.mean()
    se = n_t * y_h.std(ddof=1) * math.sqrt(1 / n_t + 1 / n_h)
    return float(est), float(est - z * se), float(est + z * se)


def _estimate(scope: str, out: Outcomes | None, terms: pd.DataFrame, z: float) -> Estimate:
    """Return the estimate for one scope (``terms``: its influencers' payout rows)."""
    payout = (
        float(terms["payout"].sum())
        if "payout" in terms and terms["payout"].notna().any()
        else None
    )
    est = Estimate(scope=scope, payout=payout, direct_revenue=float(terms["revenue"].sum()))
    est.direct_roas = _ratio(est.direct_revenue, payout)
    est.commission = _commission(terms, terms.get("orders"), terms.get("revenue"))
    if out is None:
        what = "programme-wide" if scope == OVERALL else "for this influencer"
        est.reason = f"no holdout: no assignments {what}"
        return est
    est.users_treatment, est.users_holdout = out.users_treatment, out.users_holdout
    buyers = int((out.orders_holdout > 0).sum())
    if est.users_holdout == 0:
        est.reason = "no holdout: every assigned user is in treatment"
    elif est.users_treatment == 0:
        est.reason = "no treatment: every assigned user is held out"
    elif est.users_holdout < MIN_HOLDOUT_USERS or buyers < MIN_HOLDOUT_BUYERS:
        est.reason = (
            f"too few users: {est.users_holdout} held out, {buyers} of them ordered;"
            f" need at least {MIN_HOLDOUT_USERS} held out and {MIN_HOLDOUT_BUYERS} buyers"
        )
    if est.reason:
        return est
    rev = _difference(out.padded("revenue_treatment"), out.padded("revenue_holdout"), z)
    n_orders = _difference(out.padded("orders_treatment"), out.padded("orders_holdout"), z)
    est.incremental_revenue, est.incremental_revenue_low, est.incremental_revenue_high = rev
    est.incremental_orders, est.incremental_orders_low, est.incremental_orders_high = n_orders
    if payout is None or payout <= 0:
        est.reason = "no payout in the study period: iROAS n/a"
        return est
    est.iroas, est.iroas_low, est.iroas_high = (x / payout for x in rev)
    est.decision = break_even_decision(est.iroas_low, est.iroas_high)
    if est.commission is not None:
        # Tracked orders beyond the incremental ones would have happened anyway; incremental
        # orders need not be tracked, so this is a lower bound on that commission.
        orders, revenue = terms["orders"].to_numpy(float), terms["revenue"].to_numpy(float)
        base_orders = np.clip(orders - _share(orders) * n_orders[0], 0, orders)
        base_rev = np.clip(revenue - _share(revenue) * rev[0], 0, revenue)
        est.commission_on_baseline_orders = _commission(terms, base_orders, base_rev)
    return est


def _share(tracked: np.ndarray) -> np.ndarray:
    """Return each influencer's share of the scope's ``tracked`` total (to split an estimate)."""
    total = tracked.sum()
    return tracked / total if total > 0 else tracked * 0.0


def _commission(
    terms: pd.DataFrame, orders: ArrayLike | None, revenue: ArrayLike | None
) -> float | None:
    """Return the order-linked payout for tracked orders and revenue (None without terms)."""
    if "basis" not in terms or terms["basis"].isna().all() or orders is None or revenue is None:
        return None
    basis, rate = terms["basis"].to_numpy(), terms["rate"].to_numpy(float)
    per = np.where(
        basis == "per_order",
        rate * np.asarray(orders, float),
        np.where(basis == "revenue_share", rate * np.asarray(revenue, float), 0.0),
    )
    return float(np.nansum(per))


def _ratio(num: float, den: float | None) -> float | None:
    """Return num / den, or None when den is missing or zero."""
    return num / den if den else None


def break_even_decision(low: float, high: float) -> str:
    """Return the break-even decision an iROAS interval supports."""
    if low > 1:
        return "above break-even"
    if high < 1:
        return "below break-even"
    if low < 1 / WIDE and high > WIDE:
        return "too wide to decide"
    return "inconclusive"


# ---------------------------------------------------------------------------------------------
# Planning a holdout.
# ---------------------------------------------------------------------------------------------


@dataclass
class HoldoutPlan:
    """The holdout share needed to detect ``lift`` over ``duration_days``, or why none is."""

    duration_days: int
    holdout_share: float | None
    holdout_users: int | None
    mean_revenue_per_user: float
    sd_revenue_per_user: float
    reason: str | None = None


def plan_holdout(
    conversions: pd.DataFrame,
    users: int,
    *,
    lift: float,
    power: float = 0.8,
    confidence: float = CONFIDENCE,
    durations: Iterable[int] = (7, 14, 28, 56),
    history_days: int | None = None,
) -> list[HoldoutPlan]:
    """Return, per duration, the smallest holdout share that detects a relative ``lift``.

    ``conversions`` is the brand's order history of the ``users`` it would study (users without
    an order count as zero revenue). Per-user revenue over a duration is measured on the
    history's consecutive windows of that length (the history starts on the day of the first
    order and lasts ``history_days``, by default to the last order); the test is two-sided at
    ``1 - confidence``.
    """
    if users < 2:
        raise ConfigError(f"plan-holdout: users must be >= 2, got {users}")
    if lift <= 0:
        raise ConfigError(f"plan-holdout: lift must be > 0, got {lift}")
    if not 0 < power < 1 or not 0 < confidence < 1:
        raise ConfigError("plan-holdout: power and confidence must be in (0, 1)")
    z = NormalDist().inv_cdf(0.5 + confidence / 2) + NormalDist().inv_cdf(power)
    times = local_times(conversions["time"], "conversions")
    days = (times - times.min().normalize()).dt.days.to_numpy()
    span = history_days or (int(days.max()) + 1 if len(days) else 0)
    user, buyers = pd.factorize(conversions["user_id"])
    if len(buyers) > users:
        raise ConfigError(
            f"plan-holdout: users ({users:,}) is fewer than the buyers in the history ({len(buyers):,})"
        )
    plans = []
    for d in durations:
        if d > span:
            plans.append(
                HoldoutPlan(d, None, None, 0.0, 0.0, f"history covers {span} days, fewer than {d}")
            )
            continue
        mean, sd = _window_moments(
            days, user, conversions["revenue"].to_numpy(float), d, users, span
        )
        plans.append(_plan(d, mean, sd, users, lift, z))
    return plans


def _window_moments(
    days: np.ndarray, user: np.ndarray, revenue: np.ndarray, d: int, users: int, span: int
) -> tuple[float, float]:
    """Return the mean and SD of per-user revenue over ``d``-day windows of the history."""
    windows = span // d
    keep = days < windows * d
    cell = (days[keep] // d) * users + user[keep]
    totals = np.bincount(cell, revenue[keep], minlength=windows * users)
    return float(totals.mean()), float(totals.std(ddof=1))


def _plan(d: int, mean: float, sd: float, users: int, lift: float, z: float) -> HoldoutPlan:
    """Return the smallest holdout share h with z * sd * sqrt(1/hN + 1/(1-h)N) <= lift * mean."""
    if mean <= 0:
        return HoldoutPlan(d, None, None, mean, sd, "no revenue in the history")
    ratio = users * (lift * mean / (z * sd)) ** 2  # need 1 / (h (1 - h)) <= ratio
    if ratio < 4:
        return HoldoutPlan(
            d,
            None,
            None,
            mean,
            sd,
            f"not detectable: even a 50% holdout of {users:,} users is too small",
        )
    share = (1 - math.sqrt(1 - 4 / ratio)) / 2
    return HoldoutPlan(d, share, math.ceil(share * users), mean, sd)
