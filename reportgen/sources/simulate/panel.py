"""The panel: the influencers (visible profile and hidden traits), the calendar they post on
(weekday, campaign month, seasonality, discounts) and their posts, with the influencers and
posts tables."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from faker import Faker

from reportgen.sources.simulate.profiles import (
    BRAND_PROFILE,
    BRANDS,
    CATEGORIES,
    CATEGORY_PROFILE,
    CONV_BASE,
    CONV_SIGMA,
    DEFAULT_CATEGORY,
    DIWALI,
    EVENTS,
    GENDERS,
    PLATFORM_PROFILE,
    PLATFORMS,
    SCHEMAS,
    TOD_POSTS,
    TS,
    WARMUP_DAYS,
    WEEKDAY_POSTS,
)
from reportgen.sources.simulate.randomness import lognormal, pick_index, seeded_rng
from reportgen.sources.simulate.writing import (
    labels,
    prefixed_ids,
    random_codes,
    timestamps,
)

_TWITTER_EPOCH_MS = 1288834974657


@dataclass
class Influencers:
    """Visible attributes and hidden traits of every influencer, one array slot each."""

    ids: pa.Array
    names: list[str]
    handles: pa.Array
    category: np.ndarray  # index into CATEGORIES
    gender: np.ndarray  # index into GENDERS
    followers: np.ndarray
    platform: np.ndarray  # index into PLATFORMS
    primary: np.ndarray  # index into BRANDS
    mix: np.ndarray  # (n, brands): share of orders per brand before seasonality
    cadence: np.ndarray  # posts per month
    reach_rate: np.ndarray  # median reach per follower
    er: np.ndarray  # likes per reach
    cr: np.ndarray  # comments per like
    conv: np.ndarray  # orders per reached user (hidden quality)
    market_conv: np.ndarray  # what the market expects conv to be (no hidden quality)

    def __len__(self) -> int:
        """Return the number of influencers."""
        return len(self.names)


@dataclass
class Calendar:
    """Per-day factors for the warm-up plus the window (day 0 = first warm-up day)."""

    days: np.ndarray  # datetime64[D]
    weekday: np.ndarray  # 0 = Monday
    month: np.ndarray  # 1-12
    season: np.ndarray  # (brands, days) demand multiplier, 1 = baseline
    discount: np.ndarray  # mean discount share on that day


@dataclass
class Posts:
    """Every post including the warm-up ones, sorted by time."""

    influencer: np.ndarray
    second: np.ndarray  # seconds since the first warm-up day
    brand: np.ndarray  # brand the post promotes (for the caption)
    reach: np.ndarray
    likes: np.ndarray
    comments: np.ndarray
    impact: np.ndarray  # expected tracked orders driven by the post


# ---------------------------------------------------------------------------------------------
# Influencers
# ---------------------------------------------------------------------------------------------


def make_influencers(n: int, rng: np.random.Generator, fake: Faker) -> Influencers:
    """Draw the influencer panel: visible profile plus hidden performance traits."""
    cat_share = np.array([_cat(c)["share"] for c in CATEGORIES])
    category = rng.choice(len(CATEGORIES), n, p=cat_share / cat_share.sum())
    gender = pick_index(rng, np.array([np.cumsum(_cat(CATEGORIES[c])["gender"]) for c in category]))
    plat_share = np.array([PLATFORM_PROFILE[p]["share"] for p in PLATFORMS])
    platform = rng.choice(len(PLATFORMS), n, p=plat_share / plat_share.sum())
    followers = _followers(rng, n)

    affinity = np.array([_affinity(CATEGORIES[c]) for c in category])
    primary = pick_index(rng, np.cumsum(affinity, axis=1))
    spill = rng.uniform(0.08, 0.30, n)  # share of orders for the other brands
    others = affinity.copy()
    others[np.arange(n), primary] = 0.0
    others /= np.maximum(others.sum(axis=1, keepdims=True), 1e-12)
    mix = spill[:, None] * others
    mix[np.arange(n), primary] = 1.0 - spill

    prof = [PLATFORM_PROFILE[PLATFORMS[p]] for p in platform]
    # Smaller accounts reach a larger share of their followers, engage and convert better.
    size = (followers / 100_000.0) ** -0.15
    plat_conv = np.array([p["conv"] for p in prof])
    market_conv = CONV_BASE * plat_conv * size
    names, handles = _names_and_handles(fake, rng, gender, category)
    width = max(4, len(str(n)))
    return Influencers(
        ids=prefixed_ids("INF", np.arange(1, n + 1), width),
        names=names,
        handles=pa.array(handles, pa.string()),
        category=category,
        gender=gender,
        followers=followers,
        platform=platform,
        primary=primary,
        mix=mix,
        cadence=np.clip(np.rint(5.0 * lognormal(rng, 0.55, n)), 1, 12),
        reach_rate=np.array([p["reach"] for p in prof]) * size**0.7 * lognormal(rng, 0.3, n),
        er=np.array([p["er"] for p in prof]) * size * lognormal(rng, 0.3, n),
        cr=np.array([p["cr"] for p in prof]) * lognormal(rng, 0.3, n),
        conv=market_conv * lognormal(rng, CONV_SIGMA, n),
        market_conv=market_conv,
    )


def _cat(category: str) -> dict[str, Any]:
    """Return the profile of a category, with a neutral fallback for new ones."""
    return CATEGORY_PROFILE.get(category, DEFAULT_CATEGORY)


def _affinity(category: str) -> np.ndarray:
    """Return the category's brand preference as probabilities over BRANDS."""
    prefs = _cat(category)["brands"]
    weights = np.array([prefs.get(b, 0.05) for b in BRANDS], dtype=float)
    return weights / weights.sum()


def _followers(rng: np.random.Generator, n: int) -> np.ndarray:
    """Draw heavy-tailed follower counts between 5k and 5M (log-normal, median 60k)."""
    lo, hi = np.log10(5_000), np.log10(5_000_000)
    out = np.empty(0)
    while len(out) < n:  # rejection keeps the tail shape instead of piling mass on the bounds
        draw = rng.normal(np.log10(60_000), 0.6, 2 * n)
        out = np.concatenate([out, draw[(draw >= lo) & (draw <= hi)]])
    return np.rint(10 ** out[:n]).astype(np.int64)


def _names_and_handles(
    fake: Faker, rng: np.random.Generator, gender: np.ndarray, category: np.ndarray
) -> tuple[list[str], list[str]]:
    """Draw a gender-matched Indian name and a unique social handle per influencer."""
    names: list[str] = []
    handles: list[str] = []
    seen: set[str] = set()
    styles = rng.integers(0, 4, len(gender))
    suffixes = rng.integers(0, 1 << 30, len(gender))
    for g, c, style, suffix in zip(gender, category, styles, suffixes, strict=True):
        first = {0: fake.first_name_female, 1: fake.first_name_male}.get(int(g), fake.first_name)()
        last = fake.last_name()
        names.append(f"{first} {last}")
        a, b = _slug(first), _slug(last)
        tags = _cat(CATEGORIES[c])["handle"]
        base = [f"{a}{b}", f"{a}.{b}", f"{a}_{tags[suffix % len(tags)]}", f"the{a}{b}"][style]
        handle, k = base, suffix % 97
        while handle in seen:  # Faker repeats names; a number keeps handles unique
            handle, k = f"{base}{k}", k + 1
        seen.add(handle)
        handles.append(handle)
    return names, handles


def _slug(text: str) -> str:
    """Return the lowercase ASCII letters of text."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z]", "", ascii_text.lower()) or "hk"


def influencers_table(infl: Influencers) -> pa.Table:
    """Build the influencers table."""
    return pa.table(
        {
            "influencer_id": infl.ids,
            "name": pa.array(infl.names, pa.string()),
            "category": labels(CATEGORIES, infl.category),
            "gender": labels(GENDERS, infl.gender),
            "follower_count": pa.array(infl.followers, pa.int64()),
            "platform": labels(PLATFORMS, infl.platform),
        },
        schema=SCHEMAS["influencers"],
    )


# ---------------------------------------------------------------------------------------------
# Calendar: weekday, campaign month, seasonality, discounts
# ---------------------------------------------------------------------------------------------


def make_calendar(first_day: np.datetime64, n_days: int) -> Calendar:
    """Compute the per-day factors from the first warm-up day to the window's end."""
    days = first_day + np.arange(n_days).astype("timedelta64[D]")
    bumps = {name: _event_bump(days, name) for name in EVENTS}
    season = np.ones((len(BRANDS), n_days))
    for b, brand in enumerate(BRANDS):
        for name, amp in BRAND_PROFILE.get(brand, {}).get("season", {}).items():
            season[b] += amp * bumps[name]
    return Calendar(
        days=days,
        weekday=(days.astype(np.int64) + 3) % 7,  # 1970-01-01 was a Thursday
        month=days.astype("datetime64[M]").astype(np.int64) % 12 + 1,
        season=season,
        discount=0.08 + 0.10 * bumps["festive"] + 0.05 * bumps["newyear"],
    )


def _event_bump(days: np.ndarray, event: str) -> np.ndarray:
    """Return a 0..1 Gaussian bump around the nearest occurrence of a yearly event."""
    centre, width = EVENTS[event]
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    nearest = np.full(len(days), np.inf)
    for shift in (-1, 0, 1):
        centres = np.array([_event_day(centre, int(y) + shift) for y in years])
        dist = np.abs((days - centres).astype(np.int64)).astype(float)
        nearest = np.minimum(nearest, dist)
    return np.exp(-0.5 * (nearest / width) ** 2)


def _event_day(centre: Any, year: int) -> np.datetime64:
    """Return the day an event peaks in a given year."""
    if centre == "diwali":
        diwali = np.datetime64(DIWALI.get(year, f"{year}-11-01"), "D")
        return diwali - np.timedelta64(6, "D")  # the sale peaks before the festival
    month, day = centre
    return np.datetime64(f"{year:04d}-{month:02d}-{day:02d}", "D")


def campaign_lookup() -> tuple[list[str], np.ndarray]:
    """Return campaign names and a (brand, month 1-12) -> campaign index table."""
    names: list[str] = []
    table = np.zeros((len(BRANDS), 13), np.int64)
    for b, brand in enumerate(BRANDS):
        campaigns = BRAND_PROFILE.get(brand, {}).get("campaigns") or {
            f"{_slug(brand).upper()[:3]}_AlwaysOn": tuple(range(1, 13))
        }
        for name, months in campaigns.items():
            names.append(name)
            table[b, list(months)] = len(names) - 1
    return names, table


# ---------------------------------------------------------------------------------------------
# Posts
# ---------------------------------------------------------------------------------------------


def make_posts(infl: Influencers, cal: Calendar, rng: np.random.Generator) -> Posts:
    """Draw every post (warm-up included) with its reach, engagement and order impact."""
    n_inf, n_days = len(infl), len(cal.days)
    # Brands book more posts in their season; the square root splits the seasonal uplift
    # between more posts and better-converting posts.
    season = np.sqrt(cal.season[infl.primary])  # (n_inf, days)
    rate = (infl.cadence / 30.44)[:, None] * season * WEEKDAY_POSTS[cal.weekday][None, :]
    per_cell = rng.poisson(rate).ravel()  # cells in (influencer, day) order
    cells = np.repeat(np.arange(n_inf * n_days), per_cell)
    influencer, day = cells // n_days, cells % n_days
    n = len(cells)
    hour = rng.choice(24, n, p=TOD_POSTS / TOD_POSTS.sum())
    second = day * 86_400 + hour * 3_600 + rng.integers(0, 3_600, n)
    order = np.lexsort((influencer, second))  # chronological; ties by influencer
    influencer, second = influencer[order], second[order]

    brand = pick_index(rng, np.cumsum(infl.mix[influencer], axis=1))
    followers = infl.followers[influencer]
    reach = np.rint(
        np.minimum(followers * infl.reach_rate[influencer] * lognormal(rng, 0.5, n), 5 * followers)
    ).astype(np.int64)
    er = np.minimum(infl.er[influencer] * lognormal(rng, 0.3, n), 0.5)
    likes = rng.binomial(reach, er)
    comments = rng.binomial(likes, np.minimum(infl.cr[influencer], 0.5))
    # A post's orders scale with the people it reached, the influencer's hidden quality and
    # the creative; viral posts therefore drive many orders. (order_intensity assumes
    # these two noise terms when it sizes the organic baseline.)
    impact = reach * infl.conv[influencer] * lognormal(rng, 0.35, n)
    return Posts(influencer, second, brand, reach, likes, comments, impact)


def build_posts_table(
    infl: Influencers,
    cal: Calendar,
    posts: Posts,
    first_day: np.datetime64,
    fake: Faker,
    seed: int,
) -> tuple[pa.Table, np.ndarray]:
    """Build the posts table (window only) and count posts per influencer."""
    keep = posts.second >= WARMUP_DAYS * 86_400
    idx = posts.influencer[keep]
    second = posts.second[keep]
    brand = posts.brand[keep]
    n = len(idx)
    rng = seeded_rng(seed, "post-text")
    stamps = timestamps(first_day, second)
    platform = infl.platform[idx]
    url = _post_urls(rng, stamps, platform, pc.take(infl.handles, pa.array(idx)))

    campaigns, by_month = campaign_lookup()
    day = second // 86_400
    campaign = by_month[brand, cal.month[day]]
    caption = _captions(fake, rng, brand, campaign, campaigns)
    width = max(6, len(str(n)))
    table = pa.table(
        {
            "post_id": prefixed_ids("POST", np.arange(1, n + 1), width),
            "influencer_id": pc.take(infl.ids, pa.array(idx)),
            "platform": labels(PLATFORMS, platform),
            "date": pa.array(stamps, TS),
            "url": url,
            "caption": caption,
            "reach": pa.array(posts.reach[keep], pa.int64()),
            "likes": pa.array(posts.likes[keep], pa.int64()),
            "comments": pa.array(posts.comments[keep], pa.int64()),
        },
        schema=SCHEMAS["posts"],
    )
    return table, np.bincount(idx, minlength=len(infl))


def _post_urls(
    rng: np.random.Generator, stamps: np.ndarray, platform: np.ndarray, handle: pa.Array
) -> pa.Array:
    """Return each post's URL in its platform's form (a random code; Twitter's snowflake id)."""
    n = len(stamps)
    code = random_codes(rng, n, 11)
    snowflake = (stamps.astype(np.int64) // 1000 - _TWITTER_EPOCH_MS) * (1 << 22) + rng.integers(
        0, 1 << 22, n
    )
    url_by_platform = {
        "Instagram": pc.binary_join_element_wise("https://instagram.com/", handle, "/p/", code, ""),
        "YouTube": pc.binary_join_element_wise("https://youtube.com/watch?v=", code, ""),
        "Twitter": pc.binary_join_element_wise(
            "https://twitter.com/",
            handle,
            "/status/",
            pc.cast(pa.array(snowflake), pa.string()),
            "",
        ),
    }
    url = url_by_platform[PLATFORMS[0]]
    for p, name in enumerate(PLATFORMS[1:], start=1):
        url = pc.if_else(pa.array(platform == p), url_by_platform[name], url)
    return url


def _captions(
    fake: Faker,
    rng: np.random.Generator,
    brand: np.ndarray,
    campaign: np.ndarray,
    campaigns: list[str],
) -> pa.Array:
    """Return a short caption per post from a small Faker pool plus brand and campaign tags."""
    pool_size = 24
    pool: list[str] = []
    for b in BRANDS:
        words = BRAND_PROFILE.get(b, {}).get("words", "healthy daily routine energy").split()
        for _ in range(pool_size):
            picked = fake.words(nb=fake.random_int(3, 6), ext_word_list=words, unique=True)
            pool.append(" ".join(picked).capitalize())
    pick = brand * pool_size + rng.integers(0, pool_size, len(brand))
    return pc.binary_join_element_wise(
        pc.take(pa.array(pool, pa.string()), pa.array(pick)),
        pc.take(pa.array([f"#{b}" for b in BRANDS], pa.string()), pa.array(brand)),
        pc.take(pa.array([f"#{c}" for c in campaigns], pa.string()), pa.array(campaign)),
        " ",
    )
