"""Credit each order's revenue to the influencers in its journey under several attribution models.

A journey is what a user saw, clicked and used (touchpoints) in the lookback window before an
order, after their previous order. Touches that no order follows within the window form a
user's non-converting journey, which the data-driven models need. Every model splits each
converting journey's revenue over its touches, so credited revenue sums to the attributed total
(revenue of orders with at least one touch in the window) under every model.

- ``last_touch`` / ``first_touch``: all to the last / first touch.
- ``linear``: equal shares per touch.
- ``time_decay``: shares proportional to 0.5 ** (age / half-life), age in days before the order.
- ``position_based``: 40% first, 40% last, 20% split over the middle (50/50 with two touches).
- ``markov``: first-order Markov chain over journeys (repeats of one influencer collapsed),
  removal effect of each influencer = 1 - P(convert without it) / P(convert); a journey's
  revenue is split over its touches in proportion to their influencers' removal effects.
- ``shapley``: characteristic function v(S) = conversion rate of journeys whose influencer set
  is exactly S (v of unseen sets = 0); a journey's revenue is split over its influencers in
  proportion to their Shapley values in the game over the subsets of its set (negative values
  count as 0).

Where a data-driven model gives a journey no weight at all (every weight 0), that journey is
split linearly so that nothing is lost; ``Attribution.fallback_journeys`` counts these.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd
from pandas.api.types import union_categoricals

from reportgen.analysis import MODELS
from reportgen.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

KINDS = ("view", "click", "code")
MAX_SHAPLEY_SET = 12  # larger influencer sets in one journey are split linearly (2^n subsets)


@dataclass(frozen=True)
class Journeys:
    """Touches grouped into journeys, integer-coded for the models."""

    channels: list[str]  # influencer ids; touch_channel indexes this
    touch_journey: np.ndarray  # journey index per touch, touches sorted by journey then time
    touch_channel: np.ndarray
    touch_age: np.ndarray  # days before the order (0 for non-converting journeys)
    converted: np.ndarray  # per journey
    revenue: np.ndarray  # per journey (0 when not converted)
    total_revenue: float  # every conversion, attributed or not

    @property
    def attributed_revenue(self) -> float:
        """Return the revenue of orders with at least one touch in the window."""
        return float(self.revenue.sum())

    @cached_property
    def positions(self) -> tuple[np.ndarray, np.ndarray]:
        """Return each touch's position in its journey and the journey's length (shared by
        every model)."""
        j = self.touch_journey
        start = np.r_[0, np.flatnonzero(np.diff(j)) + 1] if len(j) else np.zeros(0, np.int64)
        length = np.bincount(j, minlength=len(self.converted))[j]
        first = np.repeat(start, np.diff(np.r_[start, len(j)]))
        return np.arange(len(j)) - first, length


@dataclass
class Attribution:
    """Credited revenue per influencer under each model, and the totals it conserves."""

    credited: pd.DataFrame  # model, influencer_id, revenue
    attributed_revenue: float
    unattributed_revenue: float
    converting_journeys: int
    non_converting_journeys: int
    lookback_days: float
    half_life_days: float
    fallback_journeys: dict[str, int] = field(default_factory=dict)
    removal_effects: dict[str, float] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        """Return credited revenue with one row per influencer and one column per model."""
        wide = self.credited.pivot(index="influencer_id", columns="model", values="revenue")
        models = [m for m in MODELS if m in wide.columns]
        return wide[models].fillna(0.0)


def build_journeys(
    touchpoints: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    lookback_days: float = 7.0,
    kinds: tuple[str, ...] = KINDS,
) -> Journeys:
    """Group touchpoints into converting and non-converting journeys."""
    if lookback_days <= 0:
        raise ConfigError(f"attribution: lookback_days must be > 0, got {lookback_days}")
    keep = touchpoints["kind"].isin(kinds).to_numpy()
    # Usually every kind counts: then no copy of millions of rows.
    tp = touchpoints if keep.all() else touchpoints.loc[keep]
    tp_time = _micros(tp["time"], "touchpoints")
    conv_time = _micros(conversions["time"], "conversions")
    # Integer user codes: matching and sorting them is several times faster than strings.
    users = _codes(tp["user_id"], conversions["user_id"])
    tp_user, conv_user = users[: len(tp)], users[len(tp) :]
    channel, channels = _channels(tp["influencer_id"])
    # Each touch goes to the user's next order at or after it (a code is used at order time).
    nxt = _next_order(tp_user, tp_time, conv_user, conv_time)
    matched = nxt >= 0
    age = np.zeros(len(nxt))
    age[matched] = (conv_time[nxt[matched]] - tp_time[matched]) / _MICROS_PER_DAY
    inside = matched & (age <= lookback_days)
    # Touches no order follows within the window: the user's journey that did not convert
    # (one per user and next order, so a later order's window is not mixed in).
    key = np.where(inside, nxt, -(tp_user * (len(conv_time) + 1) + nxt + 2))
    # In user, time, influencer order every journey is one run of touches.
    order = _touch_order(tp_user, tp_time, channel, len(channels))
    key = key[order]
    journey = np.cumsum(np.r_[True, key[1:] != key[:-1]]) - 1 if len(key) else key
    n_j = int(journey[-1]) + 1 if len(journey) else 0
    hit = inside[order]
    j_conv = np.zeros(n_j, bool)
    j_rev = np.zeros(n_j)
    j_conv[journey[hit]] = True
    j_rev[journey[hit]] = conversions["revenue"].to_numpy(float)[nxt[order][hit]]
    return Journeys(
        channels=[str(c) for c in channels],
        touch_journey=journey,
        touch_channel=channel[order],
        touch_age=np.where(inside, age, 0.0)[order],
        converted=j_conv,
        revenue=j_rev,
        total_revenue=float(conversions["revenue"].sum()),
    )


_MICROS_PER_DAY = 86_400_000_000.0


def _micros(values: pd.Series, table: str) -> np.ndarray:
    """Return naive local times as int64 microseconds."""
    return local_times(values, table).to_numpy().view(np.int64)


def _channels(ids: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Return influencer codes and the ids they index, in id order."""
    if isinstance(ids.dtype, pd.CategoricalDtype):
        # In id order (ties in time are broken by it), not the categories' order of appearance.
        ids = ids.cat.set_categories(ids.cat.categories.sort_values())
    channel, channels = pd.factorize(ids, sort=True)
    return channel.astype(np.int64), channels


def _next_order(
    tp_user: np.ndarray, tp_time: np.ndarray, conv_user: np.ndarray, conv_time: np.ndarray
) -> np.ndarray:
    """Return per touch the row of its user's first order at or after it (-1: none); of orders
    at one instant, the first row."""
    out = np.full(len(tp_time), -1)
    if len(conv_time) == 0:
        return out
    # Orders are few: only their users' touches are looked up, by (user, numbered instant).
    buyer = np.zeros(max(tp_user.max(initial=0), conv_user.max()) + 1, bool)
    buyer[conv_user] = True
    which = np.flatnonzero(buyer[tp_user])
    user, time = tp_user[which], tp_time[which]
    instants = np.unique(conv_time)
    width = len(instants) + 1
    conv_key = conv_user * width + np.searchsorted(instants, conv_time)
    rows = np.lexsort((np.arange(len(conv_key)), conv_key))
    pos = np.searchsorted(conv_key[rows], user * width + np.searchsorted(instants, time))
    found = rows[np.minimum(pos, len(rows) - 1)]
    out[which] = np.where((pos < len(rows)) & (conv_user[found] == user), found, -1)
    return out


def _touch_order(user: np.ndarray, time: np.ndarray, channel: np.ndarray, k: int) -> np.ndarray:
    """Return the stable order of touches by user, then time, then influencer."""
    if len(time) == 0:
        return np.zeros(0, np.int64)
    time = time - time.min()
    if time.max() >= np.iinfo(np.int64).max // max(k, 1):
        time = np.unique(time, return_inverse=True)[1]  # ranks: time * k + channel fits
    # Touches mostly come in time order, which a stable sort passes through quickly.
    by_time = np.argsort(time * k + channel, kind="stable")
    return by_time[_radix_order(user[by_time])]


def _radix_order(codes: np.ndarray) -> np.ndarray:
    """Return the stable order of non-negative integer codes, 16 bits per pass."""
    # numpy sorts 16-bit integers stably by radix, in linear time; wider codes go by timsort.
    order = np.arange(len(codes))
    top = int(codes.max()) if len(codes) else 0
    shift = 0
    while shift == 0 or top >> shift:
        digit = ((codes[order] >> shift) & 0xFFFF).astype(np.uint16)
        order = order[np.argsort(digit, kind="stable")]
        shift += 16
    return order


def _codes(a: pd.Series, b: pd.Series) -> np.ndarray:
    """Return integer codes of the values of ``a`` then ``b``, equal values sharing a code."""
    cats = [x.dtype.categories.dtype for x in (a, b) if isinstance(x.dtype, pd.CategoricalDtype)]
    if len(cats) == 2 and cats[0] == cats[1]:
        # Categoricals (the loaders' ids) are recoded through their few distinct values.
        return union_categoricals([a, b], ignore_order=True).codes.astype(np.int64)
    return pd.factorize(pd.concat([a, b], ignore_index=True))[0]


def local_times(values: pd.Series, table: str) -> pd.Series:
    """Return naive local timestamps in microseconds (the loaders' convention)."""
    times = pd.to_datetime(values)
    if getattr(times.dt, "tz", None) is not None:
        # The loaders convert zoned times to the report's timezone; here we cannot guess it.
        raise DataError(f"{table}: time has a timezone ({times.dt.tz}); pass naive local times")
    return times.astype("datetime64[us]")


def attribute(
    touchpoints: pd.DataFrame,
    conversions: pd.DataFrame,
    *,
    models: tuple[str, ...] = MODELS,
    lookback_days: float = 7.0,
    half_life_days: float = 7.0,
    kinds: tuple[str, ...] = KINDS,
) -> Attribution:
    """Return the revenue credited to each influencer under each of ``models``."""
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        raise ConfigError(
            f"attribution: unknown model {unknown[0]!r}; choose from {', '.join(MODELS)}"
        )
    if half_life_days <= 0:
        raise ConfigError(f"attribution: half_life_days must be > 0, got {half_life_days}")
    jr = build_journeys(touchpoints, conversions, lookback_days=lookback_days, kinds=kinds)
    frames, fallbacks, removal = [], {}, {}
    for model in models:
        weights, fallback, extra = touch_weights(jr, model, half_life_days)
        fallbacks[model] = fallback
        removal.update(extra)
        credit = np.bincount(
            jr.touch_channel, weights * jr.revenue[jr.touch_journey], minlength=len(jr.channels)
        )
        frames.append(
            pd.DataFrame({"model": model, "influencer_id": jr.channels, "revenue": credit})
        )
    credited = (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["model", "influencer_id", "revenue"])
    )
    return Attribution(
        credited=credited,
        attributed_revenue=jr.attributed_revenue,
        unattributed_revenue=jr.total_revenue - jr.attributed_revenue,
        converting_journeys=int(jr.converted.sum()),
        non_converting_journeys=int((~jr.converted).sum()),
        lookback_days=lookback_days,
        half_life_days=half_life_days,
        fallback_journeys=fallbacks,
        removal_effects=removal,
    )


# ---------------------------------------------------------------------------------------------
# Per-touch weights: within each converting journey they sum to 1 (0 elsewhere).
# ---------------------------------------------------------------------------------------------


def _normalise(jr: Journeys, raw: np.ndarray) -> tuple[np.ndarray, int]:
    """Scale raw touch weights to sum to 1 per converting journey; linear where they sum to 0."""
    n_j = len(jr.converted)
    total = np.bincount(jr.touch_journey, raw, minlength=n_j)
    empty = (total <= 0) & jr.converted
    total_t, empty_t = total[jr.touch_journey], empty[jr.touch_journey]
    w = np.where(empty_t, 1.0 / jr.positions[1], raw / np.where(total_t > 0, total_t, 1.0))
    return w * jr.converted[jr.touch_journey], int(empty.sum())


def touch_weights(
    jr: Journeys, model: str, half_life: float
) -> tuple[np.ndarray, int, dict[str, float]]:
    """Return per-touch weights for ``model``, fallback journeys and removal effects."""
    pos, n = jr.positions
    converted = jr.converted[jr.touch_journey]
    # These three already sum to 1 per journey (n ones over n is exactly 1 / n): normalising
    # would give the same floats, at two passes over every touch.
    if model == "last_touch":
        return (pos == n - 1) * converted.astype(float), 0, {}
    if model == "first_touch":
        return (pos == 0) * converted.astype(float), 0, {}
    if model == "linear":
        return converted / n, 0, {}
    if model == "time_decay":
        raw = 0.5 ** (jr.touch_age / half_life)
    elif model == "position_based":
        middle = np.where(n > 2, 0.2 / np.maximum(n - 2, 1), 0.0)
        ends = np.where(n == 1, 1.0, np.where(n == 2, 0.5, 0.4))
        raw = np.where((pos == 0) | (pos == n - 1), ends, middle)
    elif model == "markov":
        effects = removal_effects(jr)
        raw = effects[jr.touch_channel]
        w, fallback = _normalise(jr, raw)
        return w, fallback, {c: float(e) for c, e in zip(jr.channels, effects, strict=True)}
    else:
        return *_shapley_weights(jr), {}
    w, fallback = _normalise(jr, raw)
    return w, fallback, {}


# ---------------------------------------------------------------------------------------------
# Markov chain removal effects.
# ---------------------------------------------------------------------------------------------


def removal_effects(jr: Journeys) -> np.ndarray:
    """Return each influencer's removal effect, 1 - P(convert | removed) / P(convert)."""
    k = len(jr.channels)
    start, null, conv = 0, k + 1, k + 2
    j, c = jr.touch_journey, jr.touch_channel + 1
    # Collapse repeats of one influencer in a row: self-transitions carry no removal signal.
    keep = np.r_[True, (j[1:] != j[:-1]) | (c[1:] != c[:-1])] if len(j) else np.zeros(0, bool)
    j, c = j[keep], c[keep]
    first = np.r_[True, j[1:] != j[:-1]] if len(j) else np.zeros(0, bool)
    last = np.r_[j[1:] != j[:-1], True] if len(j) else np.zeros(0, bool)
    inner = ~last
    src = np.concatenate([np.full(first.sum(), start), c[inner], c[last]])
    dst = np.concatenate(
        [c[first], np.r_[c[1:], 0][inner], np.where(jr.converted[j[last]], conv, null)]
    )
    states = k + 3
    counts = np.bincount(src * states + dst, minlength=states * states)
    counts = counts.reshape(states, states).astype(float)
    rows = counts.sum(axis=1, keepdims=True)
    p = counts / np.where(rows > 0, rows, 1.0)
    q, r = p[:-2, :-2], p[:-2, -1]
    # Absorption probabilities solve (I - Q) x = R; states nobody leaves have x = 0.
    inverse = np.linalg.inv(np.eye(len(q)) - q)
    x = inverse @ r
    if x[0] <= 0:
        return np.zeros(k)
    # Removing influencer ch sends whoever would reach it to null: column ch of Q becomes 0,
    # a rank-one change of I - Q, so every removal is read off the one inverse
    # (Sherman-Morrison) instead of solving a system per influencer.
    bq = inverse @ q
    ch = np.arange(1, k + 1)
    removed = x[0] - bq[0, ch] * x[ch] / (1.0 + bq[ch, ch])
    return np.clip(1.0 - removed / x[0], 0.0, 1.0)


# ---------------------------------------------------------------------------------------------
# Shapley values over the influencer sets of journeys.
# ---------------------------------------------------------------------------------------------


def _member_codes(k: int) -> np.ndarray:
    """Return a fixed random 64-bit code per influencer; a set's key is the sum of its codes."""
    # Wrapping sums of random 64-bit codes: two different sets share a key with p ~ 2^-64.
    return np.random.default_rng(20_251_201).integers(1, 2**63, k, dtype=np.uint64)


def _shapley_weights(jr: Journeys) -> tuple[np.ndarray, int]:
    """Return per-touch Shapley weights (an influencer's share spread over its touches)."""
    k, n_j = max(len(jr.channels), 1), len(jr.converted)
    codes = _member_codes(k)
    pair = np.sort(jr.touch_journey.astype(np.int64) * k + jr.touch_channel)
    pair = pair[np.r_[True, pair[1:] != pair[:-1]]] if len(pair) else pair
    pj, pc = pair // k, pair % k  # distinct (journey, influencer), influencers ascending
    keys = np.zeros(n_j, np.uint64)
    np.add.at(keys, pj, codes[pc])
    inv, uniq = pd.factorize(keys)
    rate = np.bincount(inv, jr.converted.astype(float)) / np.bincount(inv)
    game = (pd.Index(uniq), rate)  # v(S) by set key (a hash index: lookups are cheap)
    starts = np.searchsorted(pj, np.arange(n_j))
    size = np.bincount(pj, minlength=n_j)
    conv_j = np.flatnonzero(jr.converted)
    sets, rep, count = np.unique(inv[conv_j], return_index=True, return_counts=True)
    first = conv_j[rep]  # one journey of each converting influencer set
    shares = np.zeros((len(sets), int(size.max()) if len(size) else 0))
    fallback = 0
    # Sets of one size share their subsets' layout: one array operation per size.
    for n in np.unique(size[first]):
        rows = np.flatnonzero(size[first] == n)
        members = pc[starts[first[rows]][:, None] + np.arange(n)]
        if n <= MAX_SHAPLEY_SET:
            phi = np.clip(_shapley(members, codes, game), 0.0, None)
        else:
            phi = np.zeros(members.shape)
        empty = phi.sum(axis=1) <= 0
        phi[empty] = 1.0
        fallback += int(count[rows[empty]].sum())
        shares[rows, :n] = phi / phi.sum(axis=1, keepdims=True)
    set_row = np.full(len(uniq), -1)
    set_row[sets] = np.arange(len(sets))
    rank = np.arange(len(pj)) - starts[pj]
    converted = jr.converted[pj]
    pair_weight = np.zeros(len(pj))
    pair_weight[converted] = shares[set_row[inv[pj[converted]]], rank[converted]]
    touch_pair = np.searchsorted(pair, jr.touch_journey.astype(np.int64) * k + jr.touch_channel)
    per_pair = np.bincount(touch_pair, minlength=len(pair))
    return pair_weight[touch_pair] / per_pair[touch_pair], fallback


#: Subset values held at once by ``_shapley`` (sets x subsets), to bound its memory.
_SHAPLEY_CELLS = 1 << 20


def _shapley(
    members: np.ndarray, codes: np.ndarray, game: tuple[pd.Index, np.ndarray]
) -> np.ndarray:
    """Return the Shapley values of each row of ``members`` (sets of one size n) in the game
    v(S) = value of key(S) (0 if unseen); ``game`` is (set keys, their values)."""
    sets, n = members.shape
    masks = np.arange(1 << n)
    bits = (masks[:, None] >> np.arange(n)) & 1
    # A coalition of size s without player i weighs s! (n - s - 1)! / n! (size n never occurs).
    by_size = [math.factorial(x) * math.factorial(n - x - 1) / math.factorial(n) for x in range(n)]
    weight = np.array([*by_size, 0.0])[bits.sum(axis=1)]
    phi = np.zeros((sets, n))
    step = max(1, _SHAPLEY_CELLS >> n)
    for lo in range(0, sets, step):
        v = _subset_values(members[lo : lo + step], codes, game)
        for i in range(n):
            without = masks[bits[:, i] == 0]
            gain = v[:, without | (1 << i)] - v[:, without]
            phi[lo : lo + step, i] = (weight[without] * gain).sum(axis=1)
    return phi


def _subset_values(
    members: np.ndarray, codes: np.ndarray, game: tuple[pd.Index, np.ndarray]
) -> np.ndarray:
    """Return v of every subset of each row of ``members``, column = bit mask of the subset."""
    keys = np.zeros((len(members), 1), np.uint64)
    for i in range(members.shape[1]):
        # Subsets with member i are those without it plus its code: masks 2^i .. 2^(i+1) - 1.
        keys = np.concatenate([keys, keys + codes[members[:, i]][:, None]], axis=1)
    known, value = game
    pos = known.get_indexer(keys.ravel()).reshape(keys.shape)
    v = np.where(pos >= 0, np.r_[value, 0.0][pos], 0.0)  # pos -1 reads the spare 0
    v[:, 0] = 0.0
    return v
