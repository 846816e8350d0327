"""Tables of a simulated study in the seed layout (touchpoints, conversions, assignments,
tracking_data) from the simulator's integer-coded world."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from reportgen.sources.simulate import PRODUCT_PROFILE, prefixed_ids

if TYPE_CHECKING:
    from reportgen.analysis.journeys import JourneySpec, World

SECONDS_PER_DAY = 86_400
PRODUCTS = list(PRODUCT_PROFILE)


def pool(values: pa.Array | list[str]) -> pd.CategoricalDtype:
    """Return a categorical type over distinct strings (ids, kinds, products)."""
    strings = values.to_pylist() if isinstance(values, pa.Array) else values
    return pd.CategoricalDtype(pd.Index(strings, dtype=object))


def strings(pool: pd.CategoricalDtype, index: Any) -> pd.Series:
    """Return ``pool[index]`` (-1: missing) as a categorical column."""
    # A study repeats few strings many times; categorical codes make joins and groupings cheap.
    codes = np.asarray(index, np.int64)
    return pd.Series(pd.Categorical.from_codes(codes, dtype=pool))


_PRODUCT_NAMES = pool(PRODUCTS)


def _times(spec: JourneySpec, day: Any, second: Any) -> np.ndarray:
    """Return naive local timestamps for study day numbers and seconds of the day."""
    start = np.datetime64(spec.start_date, "s")
    return (
        start + (np.asarray(day) * SECONDS_PER_DAY + np.asarray(second)).astype("timedelta64[s]")
    ).astype("datetime64[us]")


def touchpoints_table(spec: JourneySpec, world: World, tracked: pd.DataFrame) -> pd.DataFrame:
    """Return views, clicks (two minutes after the view) and code uses, in time order."""
    ev = world.events
    clicks = ev[ev["click"].to_numpy()]
    codes = tracked[tracked["code"].to_numpy() >= 0]
    user = np.concatenate([ev["user"], clicks["user"], codes["user"]])
    k = np.concatenate([ev["k"], clicks["k"], codes["code"]])
    t = np.concatenate(
        [
            ev["day"] * SECONDS_PER_DAY + ev["second"],
            clicks["day"] * SECONDS_PER_DAY + clicks["second"] + 120,
            codes["t"],
        ]
    )
    kind = np.repeat([0, 1, 2], [len(ev), len(clicks), len(codes)])
    post = np.concatenate([ev["post"], clicks["post"], np.zeros(len(codes), np.int64)])
    order = np.lexsort((kind, user, t))
    posts = pool(prefixed_ids("POST", np.arange(1, world.posts.sum() + 1), 4))
    return pd.DataFrame(
        {
            "user_id": strings(world.uid, user[order]),
            "influencer_id": strings(world.kid, k[order]),
            "time": _times(spec, 0, t[order]),
            "kind": strings(pool(["view", "click", "code"]), kind[order]),
            "post_id": strings(posts, post[order] - 1),  # post 0: a code use, no post
        }
    )


def _order_ids(n: int) -> pa.Array:
    """Return order ids ORD0000001, ... in time order."""
    return prefixed_ids("ORD", np.arange(1, n + 1), 7)


def conversions_table(spec: JourneySpec, world: World, tracked: pd.DataFrame) -> pd.DataFrame:
    """Return every order of the study's users (attributed or not)."""
    return pd.DataFrame(
        {
            "order_id": strings(pool(_order_ids(len(tracked))), np.arange(len(tracked))),
            "user_id": strings(world.uid, tracked["user"].to_numpy()),
            "time": _times(spec, tracked["day"], tracked["second"]),
            "product": strings(_PRODUCT_NAMES, tracked["product"].to_numpy()),
            "revenue": tracked["revenue"].to_numpy(),
        }
    )


def tracking_table(spec: JourneySpec, world: World, tracked: pd.DataFrame) -> pd.DataFrame:
    """Return the attributed subset of orders in the seed's tracking_data layout."""
    mine = tracked["influencer"].to_numpy() >= 0
    rows = tracked[mine]
    return pd.DataFrame(
        {
            "tracking_id": strings(pool(_order_ids(len(tracked))), np.flatnonzero(mine)),
            "source": strings(pool(["link", "promo_code"]), rows["via"].to_numpy() == "code"),
            "campaign": "study",
            "influencer_id": strings(world.kid, rows["influencer"].to_numpy()),
            "user_id": strings(world.uid, rows["user"].to_numpy()),
            "product": strings(_PRODUCT_NAMES, rows["product"].to_numpy()),
            "date": _times(spec, rows["day"], rows["second"]),
            "orders": 1,
            "revenue": rows["revenue"].to_numpy(),
        }
    )


def assignments_table(spec: JourneySpec, world: World) -> pd.DataFrame:
    """Return programme-wide rows for every user and per-influencer rows for its audience."""
    groups = pool(["treatment", "holdout"])
    frames = [
        pd.DataFrame(
            {
                "user_id": strings(world.uid, np.arange(spec.users)),
                "group": strings(groups, world.program_holdout),
                "influencer_id": strings(world.kid, np.full(spec.users, -1)),
            }
        )
    ]
    if spec.influencer_holdout_share > 0:
        for j, members in enumerate(world.audience):
            inside = ~world.program_holdout[members]
            frames.append(
                pd.DataFrame(
                    {
                        "user_id": strings(world.uid, members[inside]),
                        "group": strings(groups, world.influencer_holdout[j][inside]),
                        "influencer_id": strings(world.kid, np.full(inside.sum(), j)),
                    }
                )
            )
    out = pd.concat(frames, ignore_index=True)
    out["start"] = pd.Timestamp(spec.start_date)
    out["end"] = pd.Timestamp(spec.end_date)
    return out
