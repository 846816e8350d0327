"""Typed relations of any Ibis backend into the canonical rules: names and types, then rules.

A source that is not a folder of files (a PostgreSQL or DuckDB database, Parquet read by
Spark) hands its raw tables here as relations of its backend. Their columns already have
types, so this maps names (``source.columns``) and checks each column is of the kind the
canonical table needs (a number stored as text is an error, not a guess); then the same
rules as for files (:mod:`reportgen.sources.rules`) run in that engine, and the checks
across tables (:mod:`reportgen.sources.checks`) on the small results that came back.
"""

from __future__ import annotations

import logging

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from reportgen.config import STUDY_TABLES, TABLES, Config
from reportgen.errors import DataError
from reportgen.sources import Dataset
from reportgen.sources.checks import check_payouts, check_references, register_catalogue
from reportgen.sources.dialects import Dialect
from reportgen.sources.rules import Origin, check_table
from reportgen.sources.schema import KEYS, SCHEMA, Column, source_column
from reportgen.sources.study import check_study

logger = logging.getLogger(__name__)

_TYPES: dict[str, dt.DataType] = {
    "VARCHAR": dt.string,
    "BIGINT": dt.int64,
    "DOUBLE": dt.float64,
    "TIMESTAMP": dt.timestamp,
}


def canonicalize(
    ds: Dataset, raw: dict[str, ir.Table], config: Config, labels: dict[str, str], dialect: Dialect
) -> None:
    """Validate the four seed tables of ``raw`` and land their canonical forms in ``ds.con``."""
    ds.provenance.setdefault("rows_fetched", 0)
    zoned_any = False
    for table in TABLES:
        with ds.timed(f"load {table}"):
            dialect.reading = labels[table]
            typed, columns, zoned = _typed(ds, raw[table], table, config, labels[table], dialect)
            origin = Origin(where=labels[table], name=labels[table], columns=columns)
            check_table(ds, table, typed, config, origin, dialect, zoned=zoned)
            zoned_any |= zoned
    ds.zoned = zoned_any
    study = [t for t in STUDY_TABLES if t in raw]
    for table in study:
        with ds.timed(f"load {table}"):
            dialect.reading = labels[table]
            _study_table(ds, table, raw[table], config, labels[table], dialect)
    dialect.reading = None
    with ds.timed("checks"):
        register_catalogue(ds.con, config)
        check_references(ds, config, labels)
        check_payouts(ds, labels["payouts"])
        check_study(ds, {t: labels[t] for t in study})


def _study_table(
    ds: Dataset, table: str, t: ir.Table, config: Config, label: str, dialect: Dialect
) -> None:
    """Fetch a study table and check it locally: the analyses read it row by row anyway."""
    typed, columns, _ = _typed(ds, t, table, config, label, dialect)
    if not dialect.local:
        dialect.land(ds, f"typed_{table}", typed, table=True)
        dialect = Dialect.local_duckdb(ds, dialect.where)
        typed = dialect.table(f"typed_{table}")
    origin = Origin(where=label, name=label, columns=columns)
    check_table(ds, table, typed, config, origin, dialect)
    if table in ds.provenance.get("tables", {}):  # a database's snapshot marker, as for facts
        ds.provenance["tables"][table]["rows"] = ds.rows[table]


def _typed(
    ds: Dataset, t: ir.Table, table: str, config: Config, label: str, dialect: Dialect
) -> tuple[ir.Table, dict[str, str], bool]:
    """Return ``t`` in canonical names and types, the source column of each, and zoned?"""
    found = {c.strip().casefold(): c for c in t.columns}
    mapping = config.source.columns.get(table, {})
    exprs: dict[str, ir.Value] = {}
    columns: dict[str, str] = {}
    zoned = False
    for col in SCHEMA[table]:
        actual = source_column(label, table, col, mapping, found)
        if actual is None:
            exprs[col.name] = ibis.null(_TYPES[col.type])
            continue
        expr, col_zoned = _cast(t, actual, col, table, label)
        zoned |= col_zoned
        exprs[col.name] = expr
        columns[col.name] = actual
    _check_whole(ds, t, table, columns, label, dialect)
    return t.select(**exprs), columns, zoned


def _check_whole(
    ds: Dataset, t: ir.Table, table: str, columns: dict[str, str], label: str, dialect: Dialect
) -> None:
    """Refuse a fraction in a column reportgen reads as whole numbers, rather than round it.

    Only columns of a type that can hold one (floating, or decimal with digits after the
    point) are checked, all in one aggregate; integer columns cost nothing.
    """
    cols = [
        actual
        for col in SCHEMA[table]
        if col.type == "BIGINT"
        and (actual := columns.get(col.name)) is not None
        and _fractional(t[actual].type())
    ]
    if not cols:
        return
    bad = {c: _not_whole(t[c], dialect) for c in cols}
    counts = dialect.fetch_row(
        ds, t.aggregate(**{f"n{i}": b.sum() for i, b in enumerate(bad.values())})
    )
    for i, (actual, cond) in enumerate(bad.items()):
        n = int(counts[f"n{i}"] or 0)
        if n:
            _fraction_error(ds, t, table, actual, cond, n, columns, label, dialect)


def _fractional(have: dt.DataType) -> bool:
    """Return True for a numeric type that can hold a fraction."""
    if have.is_floating():
        return True
    return have.is_decimal() and (have.scale is None or have.scale > 0)


def _not_whole(c: ir.NumericValue, dialect: Dialect) -> ir.BooleanValue:
    """Return True where a value has a fraction (or is NaN or infinite)."""
    # A decimal NaN (PostgreSQL's numeric has one) equals its floor: ask the float it becomes.
    as_float = c.cast("float64") if c.type().is_decimal() else c
    return ((c != c.floor()) | dialect.not_finite(as_float)).fill_null(False)


def _fraction_error(
    ds: Dataset,
    t: ir.Table,
    table: str,
    actual: str,
    bad: ir.BooleanValue,
    n: int,
    columns: dict[str, str],
    label: str,
    dialect: Dialect,
) -> None:
    """Raise DataError naming the first row (by id, where there is one) holding a fraction."""
    key = columns.get(KEYS.get(table, ""))
    rows = t.filter(bad)
    # As text: an unbounded numeric's digits need not fit the Arrow decimal it would become.
    value = rows[actual].cast("string").name(actual)
    first = rows.order_by(key).select(key, value) if key else rows.select(value)
    row = dialect.fetch(ds, first.limit(1)).to_pylist()[0]
    where = f"{key} {row[key]!r}, " if key and row[key] is not None else ""
    more = f"; {n - 1} more row(s) like it" if n > 1 else ""
    raise DataError(
        f"{label}: {where}column '{actual}': {row[actual]} is not a whole number{more}; "
        "reportgen reads whole numbers there; round it in a view or fix the data"
    )


def _cast(t: ir.Table, actual: str, col: Column, table: str, label: str) -> tuple[ir.Value, bool]:
    """Return the canonical expression for a source column; refuse a column of the wrong kind.

    A database column has a type: a number stored as text is not guessed at (its decimal
    mark is unknown), it is an error that says to cast it in a view.
    """
    c, have = t[actual], t[actual].type()
    if col.type == "VARCHAR":
        text = c if have.is_string() else c.cast("string")
        return text.nullif(""), False
    if col.type == "TIMESTAMP":
        if have.is_timestamp():
            return (c, True) if have.timezone else (c, False)
        if have.is_date():
            return c.cast("timestamp"), False
    elif col.type in ("BIGINT", "DOUBLE") and have.is_numeric():
        return c.cast(_TYPES[col.type]), False
    want = {"TIMESTAMP": "a date or timestamp", "BIGINT": "an integer", "DOUBLE": "a number"}
    raise DataError(
        f"{label}: column '{actual}' ({table}.{col.name}) is of type {have}, but reportgen reads "
        f"{want[col.type]} there; change the column's type, or point source.tables.{table} at "
        f"a view that casts it"
    )
