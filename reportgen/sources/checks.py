"""Checks across tables: unknown influencers, products and brands, and payout terms.

Each rule is one function over the canonical views ``load_folder`` built; a rule either
records a data-quality finding or stops the load naming file, row and column.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.config import Config
from reportgen.config.catalogue import UNMAPPED_BRAND
from reportgen.errors import DataError
from reportgen.sources import Dataset, record_finding
from reportgen.sources.sql import lit as _lit
from reportgen.sources.sql import where as _where

if TYPE_CHECKING:
    import duckdb

logger = logging.getLogger(__name__)

#: Payout bases we compute.
BASES = ("per_post", "per_order", "revenue_share")

_EXAMPLES = 3


def _name(where: Path | str) -> str:
    """Return how findings name a table's origin: a file's name, or a database table."""
    return where.name if isinstance(where, Path) else where


def register_catalogue(con: duckdb.DuckDBPyConnection, config: Config) -> None:
    """Create ``catalogue`` (product, brand), which the checks and metrics join facts to."""
    rows = ", ".join(f"({_lit(p)}, {_lit(b)})" for p, b in sorted(config.products.items()))
    con.execute("CREATE TABLE catalogue (product VARCHAR, brand VARCHAR)")
    if rows:
        con.execute(f"INSERT INTO catalogue VALUES {rows}")


def check_references(ds: Dataset, config: Config, paths: dict[str, Path] | dict[str, str]) -> None:
    """Record facts whose influencer or product is unknown; create the final views."""
    _create_tracking_ok(ds.con)
    # Unknown influencers: excluded from every report, since no category or platform is known.
    _check_unknown_sellers(ds, paths["tracking_data"])
    _check_unknown_posters(ds, paths["posts"])
    check_unknown_payees(ds, paths["payouts"])
    check_post_brands(ds, paths["posts"])
    _create_final_views(ds.con)
    _check_unknown_products(ds, paths["tracking_data"])


def _create_tracking_ok(con: duckdb.DuckDBPyConnection) -> None:
    """Create ``tracking_ok``: the rows that passed validation, with a brand for each."""
    con.execute(
        "CREATE VIEW tracking_ok AS SELECT bucket, influencer_id, product, "
        f"coalesce(brand, {_lit(UNMAPPED_BRAND)}) AS brand, orders, revenue, n "
        "FROM tracking_agg WHERE status = 'ok'"
    )


def _check_unknown_sellers(ds: Dataset, path: Path | str) -> None:
    """Record tracking rows for influencers missing from influencers (left out of reports)."""
    n, rev, ex = ds.con.execute(
        "SELECT coalesce(sum(n), 0), CAST(coalesce(sum(revenue), 0) AS DOUBLE), "
        "list(DISTINCT t.influencer_id ORDER BY t.influencer_id)[1:3] "
        "FROM tracking_ok t ANTI JOIN influencers_valid i USING (influencer_id)"
    ).fetchall()[0]
    record_finding(
        ds,
        "unknown_influencer",
        f"{n} tracking row(s) name influencers missing from influencers and were excluded",
        table="tracking_data",
        file=_name(path),
        rows=n,
        revenue=rev,
        examples=ex,
    )


def _check_unknown_posters(ds: Dataset, path: Path | str) -> None:
    """Record posts by influencers missing from influencers (left out of reports)."""
    n_posts, ex_posts = ds.con.execute(
        "SELECT count(*), list(DISTINCT p.influencer_id ORDER BY p.influencer_id)[1:3] "
        "FROM posts_valid p ANTI JOIN influencers_valid i USING (influencer_id)"
    ).fetchall()[0]
    record_finding(
        ds,
        "unknown_influencer",
        f"{n_posts} post(s) name influencers missing from influencers and were excluded",
        table="posts",
        file=_name(path),
        rows=n_posts,
        examples=ex_posts,
    )


def _create_final_views(con: duckdb.DuckDBPyConnection) -> None:
    """Create the views reports read: each table limited to known influencers."""
    con.execute(
        "CREATE VIEW influencers AS SELECT * FROM influencers_valid; "
        "CREATE VIEW payouts AS SELECT * FROM payouts_valid "
        "SEMI JOIN influencers_valid USING (influencer_id); "
        "CREATE VIEW posts AS SELECT p.* FROM posts_valid p "
        "SEMI JOIN influencers_valid USING (influencer_id); "
        "CREATE VIEW tracking_facts AS SELECT * FROM tracking_ok "
        "SEMI JOIN influencers_valid USING (influencer_id)"
    )
    rows_here = con.execute(
        "SELECT count(*) FROM duckdb_views() WHERE view_name = 'tracking_valid'"
    ).fetchall()[0][0]
    if rows_here:  # files: the row-level view, for inspection; a database keeps its rows
        con.execute(
            f"CREATE VIEW tracking AS SELECT t.* EXCLUDE (brand), "
            f"coalesce(t.brand, c.brand, {_lit(UNMAPPED_BRAND)}) AS brand "
            "FROM tracking_valid t LEFT JOIN catalogue c USING (product) "
            "SEMI JOIN influencers_valid USING (influencer_id)"
        )


def _check_unknown_products(ds: Dataset, path: Path | str) -> None:
    """Record sales of products the catalogue does not know (counted under UNMAPPED_BRAND)."""
    n, rev, ex = ds.con.execute(
        "SELECT coalesce(sum(n), 0), CAST(coalesce(sum(revenue), 0) AS DOUBLE), "
        "list(DISTINCT product ORDER BY product)[1:5] FROM tracking_facts "
        f"WHERE brand = {_lit(UNMAPPED_BRAND)}"
    ).fetchall()[0]
    record_finding(
        ds,
        "unknown_product",
        f"{n} tracking row(s) sell products the catalogue does not know; they count "
        f"under brand '{UNMAPPED_BRAND}' and are left out of brand-filtered reports (add "
        "them under catalogue.extra_products)",
        table="tracking_data",
        file=_name(path),
        rows=n,
        revenue=rev,
        examples=ex,
    )


def check_unknown_payees(ds: Dataset, path: Path | str) -> None:
    """Record payout terms for influencers missing from influencers (left out of reports)."""
    n, ex = ds.con.execute(
        "SELECT count(*), list(DISTINCT p.influencer_id ORDER BY p.influencer_id)[1:3] "
        "FROM payouts_valid p ANTI JOIN influencers_valid i USING (influencer_id)"
    ).fetchall()[0]
    record_finding(
        ds,
        "unknown_influencer",
        f"{n} payout row(s) name influencers missing from influencers and were excluded",
        table="payouts",
        file=_name(path),
        rows=n,
        examples=ex,
    )


def check_post_brands(ds: Dataset, path: Path | str) -> None:
    """Record posts naming a brand that neither the catalogue nor any sale knows."""
    n, ex = ds.con.execute(
        "SELECT count(*), list(DISTINCT brand ORDER BY brand)[1:3] FROM posts_valid "
        "WHERE brand NOT IN (SELECT brand FROM catalogue UNION ALL "
        "SELECT brand FROM tracking_agg WHERE brand IS NOT NULL)"
    ).fetchall()[0]
    record_finding(
        ds,
        "unknown_brand",
        f"{n} post(s) name brands no product or sale has; their per-post fees count "
        "in no brand report (map the names with source.values: {posts.brand: ...})",
        table="posts",
        file=_name(path),
        rows=n,
        examples=ex,
    )


def check_payouts(ds: Dataset, path: Path | str) -> None:
    """Check payout terms: known bases, and total_payout against basis x rate x count."""
    _check_bases(ds.con, path)
    _check_stated_totals(ds, path)
    _check_missing_terms(ds, path)


def _check_bases(con: duckdb.DuckDBPyConnection, path: Path | str) -> None:
    """Raise DataError naming the first payout row whose basis we do not compute."""
    known = f"basis IN ({', '.join(_lit(b) for b in BASES)})"
    bad = con.execute(
        "SELECT n, influencer_id, basis FROM (SELECT row_number() OVER () AS n, * "
        f"FROM mapped_payouts) WHERE NOT {known} AND influencer_id IN "
        "(SELECT influencer_id FROM payouts) ORDER BY n LIMIT 1"
    ).fetchall()
    if bad:
        n, inf, basis = bad[0]
        where = _where(n, _name(path).endswith(".csv"))
        raise DataError(
            f"{path}: {where}, column 'basis': influencer {inf!r} has basis "
            f"{basis!r}; use one of "
            f"{', '.join(BASES)} or map it with source.values: {{payouts.basis: "
            f"{{{basis}: per_order}}}}"
        )


def _payouts_with_lifetime(con: duckdb.DuckDBPyConnection) -> list[tuple[Any, ...]]:
    """Return each payout row with a total_payout, beside its lifetime orders, revenue, posts."""
    return con.execute(
        """
        WITH life AS (
            SELECT influencer_id, sum(orders) AS orders, sum(revenue) AS revenue
            FROM tracking_facts GROUP BY 1
        ), posts_n AS (SELECT influencer_id, count(*) AS posts FROM posts GROUP BY 1)
        SELECT p.influencer_id, p.basis, p.rate, p.total_payout, p.total_orders_by_influencer,
               coalesce(l.orders, 0), CAST(coalesce(l.revenue, 0) AS DOUBLE),
               coalesce(n.posts, 0)
        FROM payouts p LEFT JOIN life l USING (influencer_id)
        LEFT JOIN posts_n n USING (influencer_id)
        WHERE p.total_payout IS NOT NULL
        ORDER BY 1
        """
    ).fetchall()


def _check_stated_totals(ds: Dataset, path: Path | str) -> None:
    """Record payout rows whose total_payout disagrees with basis x rate x count."""
    rows = _payouts_with_lifetime(ds.con)
    mismatched, revenue = 0, 0.0
    examples: list[str] = []
    for inf, basis, rate, total, stated_orders, orders, rev, posts in rows:
        expected = _expected_payout(basis, rate, rev, posts, stated_orders, orders)
        if abs(expected - total) <= max(0.01, 0.005 * abs(total)):
            continue
        mismatched += 1
        revenue += rev
        hint = _revenue_share_hint(basis, rate, rev, total)
        if len(examples) < _EXAMPLES:
            examples.append(
                f"{inf}: {basis} x {rate:g} gives {expected:,.2f}, total_payout says "
                f"{total:,.2f}{hint}"
            )
    record_finding(
        ds,
        "payout_mismatch",
        f"{mismatched} payout row(s) state a total_payout that disagrees with basis x "
        "rate x count; reports compute payouts from basis and rate for each window and "
        "ignore total_payout",
        table="payouts",
        file=_name(path),
        rows=mismatched,
        revenue=revenue,
        examples=examples,
    )


def _expected_payout(
    basis: str, rate: float, rev: float, posts: int, stated_orders: int | None, orders: int
) -> float:
    """Return basis x rate x count over the influencer's lifetime (stated orders first)."""
    count = {
        "per_post": posts,
        "per_order": stated_orders if stated_orders is not None else orders,
    }
    return rate * rev if basis == "revenue_share" else rate * count.get(basis, 0)


def _revenue_share_hint(basis: str, rate: float, rev: float, total: float) -> str:
    """Return a hint when a per-order rate reads as a revenue share, else an empty string."""
    if basis == "per_order" and rev and abs(rate * rev - total) <= max(0.01, 0.005 * total):
        return (
            " (it equals rate x revenue: if the rate is a revenue share, map the basis "
            "to revenue_share with source.values)"
        )
    return ""


def _check_missing_terms(ds: Dataset, path: Path | str) -> None:
    """Record influencers who drive revenue but have no payout terms."""
    n, rev, ex = ds.con.execute(
        "SELECT count(DISTINCT influencer_id), CAST(coalesce(sum(revenue), 0) AS DOUBLE), "
        "list(DISTINCT influencer_id ORDER BY influencer_id)[1:3] "
        "FROM tracking_facts ANTI JOIN payouts USING (influencer_id)"
    ).fetchall()[0]
    record_finding(
        ds,
        "no_payout_terms",
        f"{n} influencer(s) drive revenue but have no payout terms: their payout is "
        "unknown, their ROAS is n/a, and their revenue is left out of the ROAS KPI",
        table="payouts",
        file=_name(path),
        rows=n,
        revenue=rev,
        examples=ex,
    )
