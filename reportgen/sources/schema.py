"""The canonical tables: columns and types, row ids, payout basis spellings, money range."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reportgen.errors import DataError


@dataclass(frozen=True)
class Column:
    """A canonical column: its type and whether a file must have it."""

    name: str
    type: str  # VARCHAR, BIGINT, DOUBLE, TIMESTAMP
    required: bool = True


SCHEMA: dict[str, list[Column]] = {
    "influencers": [
        Column("influencer_id", "VARCHAR"),
        Column("name", "VARCHAR"),
        Column("category", "VARCHAR"),
        Column("gender", "VARCHAR", False),
        Column("follower_count", "BIGINT", False),
        Column("platform", "VARCHAR"),
    ],
    "posts": [
        Column("post_id", "VARCHAR", False),
        Column("influencer_id", "VARCHAR"),
        Column("platform", "VARCHAR", False),
        Column("date", "TIMESTAMP"),
        Column("url", "VARCHAR", False),
        Column("caption", "VARCHAR", False),
        Column("reach", "BIGINT"),
        Column("likes", "BIGINT"),
        Column("comments", "BIGINT"),
        Column("brand", "VARCHAR", False),
    ],
    "tracking_data": [
        Column("tracking_id", "VARCHAR", False),
        Column("source", "VARCHAR", False),
        Column("campaign", "VARCHAR", False),
        Column("influencer_id", "VARCHAR"),
        Column("user_id", "VARCHAR", False),
        Column("brand", "VARCHAR", False),
        Column("product", "VARCHAR"),
        Column("date", "TIMESTAMP"),
        Column("orders", "BIGINT"),
        Column("revenue", "DOUBLE"),
    ],
    "payouts": [
        Column("influencer_id", "VARCHAR"),
        Column("basis", "VARCHAR"),
        Column("rate", "DOUBLE"),
        Column("total_orders_by_influencer", "BIGINT", False),
        Column("total_payout", "DOUBLE", False),
    ],
    # Optional study tables (config.STUDY_TABLES), checked in study.py.
    "touchpoints": [
        Column("user_id", "VARCHAR"),
        Column("influencer_id", "VARCHAR"),
        Column("time", "TIMESTAMP"),
        Column("kind", "VARCHAR"),
        Column("post_id", "VARCHAR", False),
    ],
    "conversions": [
        Column("order_id", "VARCHAR"),
        Column("user_id", "VARCHAR"),
        Column("time", "TIMESTAMP"),
        Column("product", "VARCHAR", False),
        Column("revenue", "DOUBLE"),
    ],
    "assignments": [
        Column("user_id", "VARCHAR"),
        Column("group", "VARCHAR"),
        Column("influencer_id", "VARCHAR", False),
        Column("start", "TIMESTAMP", False),
        Column("end", "TIMESTAMP", False),
    ],
}

#: Row id of each table: one row per id in dimensions; in facts (where the id is optional) an
#: exact repeat is a duplicate and the same id on different content a conflict.
KEYS = {
    "influencers": "influencer_id",
    "posts": "post_id",
    "tracking_data": "tracking_id",
    "payouts": "influencer_id",
    "conversions": "order_id",
}

#: Spellings of payout bases seen in public variants of the seed.
BASIS_ALIASES = {
    "post": "per_post",
    "per post": "per_post",
    "order": "per_order",
    "per order": "per_order",
    "commission": "revenue_share",
    "revenue share": "revenue_share",
    "percent": "revenue_share",
}

#: Money columns, which share one range rule (see MAX_MONEY).
MONEY = {
    ("tracking_data", "revenue"),
    ("payouts", "rate"),
    ("payouts", "total_payout"),
    ("conversions", "revenue"),
}

#: Money one value may carry (revenue, rate, total_payout): sums are exact DECIMAL(18, 4),
#: which holds less than 10^14; a value anywhere near it is a unit or export error.
MAX_MONEY = 1e14


def source_column(
    where: Path | str,
    table: str,
    col: Column,
    mapping: dict[str, str | None],
    found: dict[str, str],
) -> str | None:
    """Return the source's column for ``col`` (None: absent and optional, or mapped to null)."""
    src = mapping.get(col.name, col.name)
    if src is None and col.required:
        raise DataError(
            f"{where}: source.columns.{table}.{col.name} is null, but {table} needs "
            f"{col.name}: name the column that holds it"
        )
    actual = None if src is None else found.get(src.strip().casefold())
    if actual is None and src is not None and (col.required or col.name in mapping):
        # A mapping names a column it expects; a required column must be there.
        hint = (
            f"map it with source.columns.{table}.{col.name}"
            if col.name not in mapping
            else f"source.columns.{table}.{col.name} names {src!r}, which is not there"
        )
        raise DataError(
            f"{where}: missing column '{src}' for {table}.{col.name} (columns found: "
            f"{', '.join(found.values())}); {hint}"
        )
    return actual
