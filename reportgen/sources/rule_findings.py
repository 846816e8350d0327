"""How the canonical rules tell what they find: findings recorded, errors that stop a build.

``rules.check_table`` runs the checks and calls these. Kept rows worth a warning become
findings: fact rows without an id, exact repeats counted once, an empty table that
``source.allow_empty`` lists. A dimension id listed twice, one id on fact rows that differ and
any other empty table stop the build with a DataError. Messages name rows as their source
does, after the table's ``Origin`` (a file's rows by number, a database table's by id). The
finding for excluded rows stays in ``rules``, beside the predicates it reports on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import ibis
import ibis.expr.types as ir

from reportgen.config import Config
from reportgen.errors import DataError
from reportgen.model import Issue
from reportgen.sources import Dataset, record_finding
from reportgen.sources.dialects import Dialect

#: Tables whose rows carry revenue (summed in exclusion findings).
REVENUE_TABLES = ("tracking_data", "conversions")
#: What one row of each fact table is, for messages; facts may lack ids.
EVENT = {"tracking_data": "sale", "posts": "post"}
_EXAMPLES = 3


@dataclass(frozen=True)
class Origin:
    """Where a table came from, as messages name it."""

    where: str  # error prefix: a file's path, or "schema.table"
    name: str  # findings' ``file``: a file's name, or "schema.table"
    #: canonical column -> the source's column (messages name the source's)
    columns: dict[str, str] = field(default_factory=dict)
    #: Names row n ("row 4 (line 5)") where rows have an order (files); None: rows are named by id.
    row: Callable[[int], str] | None = None
    #: What to say for an empty table ("only a header" for a file).
    empty: str = ""


def example_rows(
    ds: Dataset, t: ir.Table, cond: ir.BooleanValue, key: str | None, origin: Origin, dialect
) -> list[str]:
    """Return how to find the first rows matching ``cond``: rows of a file, or their ids."""
    if origin.row is not None:
        numbered = t.mutate(_row=ibis.row_number() + 1)
        rows = numbered.filter(cond).order_by("_row").select("_row").limit(_EXAMPLES)
        found = dialect.fetch(ds, rows)
        return [f"row {n}" for n in found.column(0).to_pylist()]
    if key is None:
        return []
    ids = t.filter(cond & t[key].notnull()).select(key).order_by(key).limit(_EXAMPLES)
    return [f"{key} {v}" for v in dialect.fetch(ds, ids).column(0).to_pylist()]


def record_missing_ids(
    ds: Dataset,
    t: ir.Table,
    table: str,
    key: str,
    keep: ir.BooleanValue,
    n: int,
    origin: Origin,
    dialect: Dialect,
) -> None:
    """Record fact rows that have an id column but no id: kept, each its own event."""
    revenue = 0.0
    if table in REVENUE_TABLES:
        rev = t.revenue.cast("float64").sum(where=t[key].isnull() & keep)
        revenue = float(dialect.fetch_row(ds, t.aggregate(r=rev))["r"] or 0.0)
    record_finding(
        ds,
        "missing_ids",
        f"{n} {table} row(s) have no {key}; each counts as its own {EVENT[table]}, "
        "unchecked for repeats",
        table=table,
        file=origin.name,
        rows=n,
        revenue=revenue,
        examples=example_rows(ds, t, t[key].isnull(), None, origin, dialect),
    )


def repeated_dimension_ids(
    ds: Dataset, t: ir.Table, table: str, key: str | None, n_dup: int, origin: Origin, dialect
) -> None:
    """Stop on an influencer (or its payout terms) listed twice: which row would be right?"""
    assert key is not None
    counted = t.group_by(key).aggregate(n=t.count())
    first = counted.filter(counted.n > 1).select(key).order_by(key).limit(1)
    ident = dialect.fetch(ds, first).column(0).to_pylist()[0]
    raise DataError(
        f"{origin.where}: column '{key}': {n_dup} duplicate id(s), e.g. {ident!r}; each {key} "
        f"must appear once in {table} (keep one row per influencer)"
    )


def check_conflicts(
    ds: Dataset, t: ir.Table, table: str, key: str, origin: Origin, dialect: Dialect
) -> None:
    """Raise DataError when one id stands for rows whose content differs.

    Content is every canonical column after mapping, so a repeat that differs only in a
    column reports do not read (say, an export timestamp) still counts as the same row.
    """
    distinct = t.filter(t[key].notnull()).distinct()
    counted = distinct.group_by(key).aggregate(n=distinct.count())
    conflict = counted.filter(counted.n > 1).select(key)
    n = dialect.fetch_row(ds, conflict.aggregate(n=conflict.count()))["n"]
    if not n:
        return
    where = ""
    if origin.row is not None:  # name the first conflicting id in file order, and its rows
        numbered = t.mutate(_row=ibis.row_number() + 1)
        hits = numbered.semi_join(conflict, key)
        first = hits.group_by(key).aggregate(first=hits._row.min()).order_by("first").limit(1)
        ident = dialect.fetch(ds, first).column(0).to_pylist()[0]
        rows = hits.filter(hits[key] == ident).order_by("_row").select("_row").limit(_EXAMPLES)
        found = dialect.fetch(ds, rows).column(0).to_pylist()
        where = f" ({', '.join(origin.row(r) for r in found)})"
    else:
        ident = dialect.fetch(ds, conflict.order_by(key).limit(1)).column(0).to_pylist()[0]
    event = EVENT.get(table, "row")
    more = f"; {n - 1} more id(s) like it" if n > 1 else ""
    raise DataError(
        f"{origin.where}: column '{origin.columns.get(key, key)}': id {ident!r} is on rows that "
        f"differ{where}{more}; an id must name one {event} (an exact repeat counts once): map "
        f"source.columns.{table}.{key} to a column that is unique per row, or set it to null "
        f"to count every row as its own {event}"
    )


def drop_repeats(
    ds: Dataset,
    t: ir.Table,
    valid: ir.Table,
    table: str,
    key: str,
    n_dup: int,
    origin: Origin,
    dialect: Dialect,
) -> ir.Table:
    """Keep one of each exact repeat of a row (same id, same content); record the rest."""
    # Rows without an id are events each; rows with one keep one copy of their content.
    dedup = valid.filter(valid[key].isnull()).union(valid.filter(valid[key].notnull()).distinct())
    dedup = dialect.stage(ds, f"{_canonical(table)}_dedup", dedup)
    revenue = 0.0
    if table in REVENUE_TABLES:
        before = dialect.fetch_row(ds, valid.aggregate(r=valid.revenue.cast("float64").sum()))
        after = dialect.fetch_row(ds, dedup.aggregate(r=dedup.revenue.cast("float64").sum()))
        revenue = float(before["r"] or 0.0) - float(after["r"] or 0.0)
    ids = t.filter(t[key].notnull())
    counted = ids.group_by(key).aggregate(n=ids.count())
    repeated = counted.filter(counted.n > 1).select(key).order_by(key).limit(_EXAMPLES)
    record_finding(
        ds,
        "duplicate_rows",
        f"{n_dup} {table} row(s) repeat another row exactly (same {key}, same content); "
        "each was counted once",
        table=table,
        file=origin.name,
        rows=n_dup,
        revenue=revenue,
        examples=[str(v) for v in dialect.fetch(ds, repeated).column(0).to_pylist()],
    )
    return dedup


def check_empty(ds: Dataset, table: str, origin: Origin, config: Config) -> None:
    """Stop on a table with no rows, unless source.allow_empty lists it (then record it)."""
    if ds.rows[table]:
        return
    if table not in config.source.allow_empty:
        raise DataError(
            f"{origin.where}: {table} has no rows{origin.empty}; a report from it would show "
            "nothing where the last one showed data: check the export, or list "
            f"{table} under source.allow_empty if it may be empty"
        )
    # Not record_finding: an empty table is a finding about zero rows.
    ds.issues.append(
        Issue(
            "empty_table",
            "warning",
            f"{table} has no rows (allowed by source.allow_empty)",
            table=table,
            file=origin.name,
        )
    )


def _canonical(table: str) -> str:
    return "tracking" if table == "tracking_data" else table
