"""Checks of the optional study tables: touchpoints, conversions and assignments.

They feed the attribution and incrementality analyses. Values no analysis can read (a kind
or group outside its vocabulary, a user in both groups of one holdout) stop the load naming
file, row and column; rows the analyses leave out (unknown influencers, unassigned buyers,
orders outside the study period) become data-quality findings.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from reportgen.errors import DataError
from reportgen.sources import Dataset, record_finding
from reportgen.sources.sql import lit, where

logger = logging.getLogger(__name__)

KINDS = ("view", "click", "code")
GROUPS = ("treatment", "holdout")


def check_study(ds: Dataset, paths: dict[str, Path] | dict[str, str]) -> None:
    """Check whichever study tables were loaded and create their final views."""
    if "touchpoints" in paths:
        _check_vocabulary(ds, paths["touchpoints"], "touchpoints", "kind", KINDS)
        _unknown_influencers(ds, paths["touchpoints"], "touchpoints", "touchpoint")
        ds.con.execute(
            "CREATE VIEW touchpoints AS SELECT * REPLACE (lower(kind) AS kind) "
            "FROM touchpoints_valid SEMI JOIN influencers_valid USING (influencer_id)"
        )
    if "assignments" in paths:
        _check_vocabulary(ds, paths["assignments"], "assignments", "group", GROUPS)
        repeats = _check_groups(ds, paths["assignments"])
        _unknown_influencers(ds, paths["assignments"], "assignments", "assignment")
        # Exact repeats of a row count once. Without any (the usual case) a plain view is
        # exact; with some, the deduplicated rows are kept as a table, read by every preset.
        kind, distinct = ("TABLE", "DISTINCT ") if repeats else ("VIEW", "")
        ds.con.execute(
            f"CREATE {kind} assignments AS SELECT {distinct}* REPLACE "
            '(lower("group") AS "group") FROM assignments_valid WHERE influencer_id IS NULL '
            "OR influencer_id IN (SELECT influencer_id FROM influencers_valid)"
        )
    if "conversions" in paths:
        ds.con.execute("CREATE VIEW conversions AS SELECT * FROM conversions_valid")
        if "assignments" in paths:
            _unassigned_orders(ds, paths["conversions"])
            _orders_outside_study(ds, paths["conversions"])


def _name(path: Path | str) -> str:
    """Return how findings name a table's origin: a file's name, or a database table."""
    return path.name if isinstance(path, Path) else path


def _csv(path: Path | str) -> bool:
    return isinstance(path, Path) and path.suffix == ".csv"


def _check_vocabulary(
    ds: Dataset, path: Path | str, table: str, column: str, allowed: tuple[str, ...]
) -> None:
    """Raise DataError at the first row whose ``column`` is outside ``allowed`` (any case)."""
    known = ", ".join(lit(v) for v in allowed)
    bad = ds.con.execute(
        f'SELECT _row, "{column}", count(*) OVER () FROM (SELECT row_number() OVER () AS _row, '
        f'* FROM mapped_{table}) WHERE "{column}" IS NOT NULL AND lower("{column}") NOT IN '
        f"({known}) ORDER BY _row LIMIT 1"
    ).fetchall()
    if not bad:
        return
    row, value, n = bad[0]
    more = f"; {n - 1} more row(s) like it" if n > 1 else ""
    raise DataError(
        f"{path}: {where(row, _csv(path))}, column '{column}': {value!r} is not a "
        f"{table} {column}; use {' or '.join(allowed)}, or map it with source.values: "
        f"{{{table}.{column}: {{{value}: {allowed[0]}}}}}{more}"
    )


def _check_groups(ds: Dataset, path: Path | str) -> bool:
    """Raise DataError when a user is in both groups, or twice with different periods, of one
    scope; return True when some row repeats another exactly (allowed, counted once)."""
    # One aggregate proves the usual case: no user appears twice in one scope at all. Only
    # otherwise are rows numbered and compared (several passes, single-threaded).
    (twice,) = ds.con.execute(
        "SELECT count(*) - count(DISTINCT (user_id, influencer_id)) FROM mapped_assignments "
        "WHERE user_id IS NOT NULL"
    ).fetchall()[0]
    if not twice:
        return False
    found = ds.con.execute(
        """
        WITH rows AS (
            SELECT row_number() OVER () AS _row, * REPLACE (lower("group") AS "group")
            FROM mapped_assignments
        ), twice AS (
            SELECT user_id, influencer_id, count(DISTINCT "group") AS groups
            FROM (SELECT DISTINCT * EXCLUDE (_row) FROM rows WHERE user_id IS NOT NULL)
            GROUP BY ALL HAVING count(*) > 1
        )
        SELECT r.user_id, coalesce(r.influencer_id, ''), t.groups,
               list(r._row ORDER BY r._row)[1:2], count(*) OVER ()
        FROM rows r JOIN twice t
          ON r.user_id = t.user_id AND r.influencer_id IS NOT DISTINCT FROM t.influencer_id
        GROUP BY ALL ORDER BY min(r._row) LIMIT 1
        """
    ).fetchall()
    if not found:
        return True
    user, inf, groups, rows, n = found[0]
    is_csv = _csv(path)
    scope = f"influencer {inf!r}" if inf else "the programme-wide holdout"
    what = "in both treatment and holdout" if groups > 1 else "twice with different periods"
    more = f"; {n - 1} more user(s) like it" if n > 1 else ""
    raise DataError(
        f"{path}: {', '.join(where(r, is_csv) for r in rows)}, column 'user_id': user {user!r} "
        f"is {what} for {scope}; a randomised holdout puts each user in one group once per "
        f"scope: fix the export{more}"
    )


def _unknown_influencers(ds: Dataset, path: Path | str, table: str, noun: str) -> None:
    """Record rows naming influencers missing from influencers (left out of the analyses)."""
    n, ex = ds.con.execute(
        "SELECT count(*), list(DISTINCT influencer_id ORDER BY influencer_id)[1:3] "
        f"FROM {table}_valid WHERE influencer_id IS NOT NULL AND influencer_id NOT IN "
        "(SELECT influencer_id FROM influencers_valid)"
    ).fetchall()[0]
    record_finding(
        ds,
        "unknown_influencer",
        f"{n} {noun} row(s) name influencers missing from influencers and were excluded",
        table=table,
        file=_name(path),
        rows=n,
        examples=ex,
    )


def _unassigned_orders(ds: Dataset, path: Path | str) -> None:
    """Record orders of users with no assignment: attribution counts them, a holdout cannot."""
    # The few buyers are looked up among the many assignment rows, not the other way round.
    n, rev, ex = ds.con.execute(
        "WITH assigned AS (SELECT DISTINCT user_id FROM assignments SEMI JOIN conversions "
        "USING (user_id)) SELECT count(*), CAST(coalesce(sum(revenue), 0) AS DOUBLE), "
        "list(DISTINCT user_id ORDER BY user_id)[1:3] FROM conversions "
        "ANTI JOIN assigned USING (user_id)"
    ).fetchall()[0]
    record_finding(
        ds,
        "unassigned_users",
        f"{n} order(s) are by users in no assignment: attribution counts them, the "
        "holdout comparison cannot",
        table="conversions",
        file=_name(path),
        rows=n,
        revenue=rev,
        examples=ex,
    )


def _orders_outside_study(ds: Dataset, path: Path | str) -> None:
    """Record orders outside the study period the assignments state (start to end, inclusive)."""
    # The end is a calendar day, inclusive: orders before the next midnight are in.
    first, stop = ds.con.execute(
        'SELECT min("start"), max(CAST("end" AS DATE)) + 1 FROM assignments'
    ).fetchall()[0]
    conds = [f"time < {lit(str(first))}" for _ in [first] if first is not None]
    conds += [f"time >= {lit(str(stop))}" for _ in [stop] if stop is not None]
    if not conds:
        return
    cond = " OR ".join(conds)
    n, rev, ex = ds.con.execute(
        "SELECT count(*), CAST(coalesce(sum(revenue), 0) AS DOUBLE), "
        f"list(order_id ORDER BY time)[1:3] FROM conversions WHERE {cond}"
    ).fetchall()[0]
    record_finding(
        ds,
        "outside_study",
        f"{n} order(s) fall outside the study period the assignments state; the holdout "
        "comparison leaves them out",
        table="conversions",
        file=_name(path),
        rows=n,
        revenue=rev,
        examples=ex,
    )


#: Timestamp columns of each study table, converted to local time when zoned.
TIME_COLUMNS = {"touchpoints": ("time",), "conversions": ("time",), "assignments": ("start", "end")}


def has_table(ds: Dataset, table: str) -> bool:
    """Return True when the study table ``table`` was loaded."""
    return table in ds.rows


def select(
    ds: Dataset,
    table: str,
    timezone: str,
    *,
    columns: tuple[str, ...] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> str:
    """Return SQL for ``columns`` (all by default) of a loaded study table's rows with
    ``since <= time < until``, times as naive local time in ``timezone``."""
    types = dict(
        ds.con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {table})").fetchall()
    )
    # A zoned instant becomes the wall-clock time of the report's timezone.
    exprs = [
        f'timezone({lit(timezone)}, "{c}") AS "{c}"'
        if c in TIME_COLUMNS[table] and types[c].startswith("TIMESTAMP WITH TIME ZONE")
        else f'"{c}"'
        for c in (columns or types)
    ]
    bounds = [f"time >= CAST({lit(str(since))} AS TIMESTAMP)" for _ in [since] if since]
    bounds += [f"time < CAST({lit(str(until))} AS TIMESTAMP)" for _ in [until] if until]
    sql = f"SELECT {', '.join(exprs)} FROM {table}"
    return f"SELECT * FROM ({sql}) WHERE {' AND '.join(bounds)}" if bounds else sql


def frame(
    ds: Dataset,
    table: str,
    timezone: str,
    *,
    expressions: Mapping[str, str] | None = None,
    **cut: Any,
) -> pd.DataFrame | None:
    """Return a loaded study table as ``select`` cuts it (None: not loaded), text as
    categoricals; ``expressions`` (column -> SQL over that row) replace selected columns."""
    if not has_table(ds, table):
        return None
    sql = select(ds, table, timezone, **cut)
    if expressions:
        swap = ", ".join(f'{expr} AS "{col}"' for col, expr in expressions.items())
        sql = f"SELECT * REPLACE ({swap}) FROM ({sql})"
    # Millions of repeated ids: dictionary-encoded in Arrow they reach pandas as categoricals,
    # several times faster than one Python string per row.
    rows = ds.con.sql(sql).to_arrow_table()
    for i, col in enumerate(rows.columns):
        if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
            rows = rows.set_column(i, rows.field(i).name, pc.dictionary_encode(col))
    return rows.to_pandas()
