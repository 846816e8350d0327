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
from reportgen.sources.schema import SCHEMA, Column, source_column
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
            typed, columns, zoned = _typed(raw[table], table, config, labels[table])
            origin = Origin(where=labels[table], name=labels[table], columns=columns)
            check_table(ds, table, typed, config, origin, dialect, zoned=zoned)
            zoned_any |= zoned
    ds.zoned = zoned_any
    study = [t for t in STUDY_TABLES if t in raw]
    for table in study:
        with ds.timed(f"load {table}"):
            _study_table(ds, table, raw[table], config, labels[table], dialect)
    with ds.timed("checks"):
        register_catalogue(ds.con, config)
        check_references(ds, config, labels)
        check_payouts(ds, labels["payouts"])
        check_study(ds, {t: labels[t] for t in study})


def _study_table(
    ds: Dataset, table: str, t: ir.Table, config: Config, label: str, dialect: Dialect
) -> None:
    """Fetch a study table and check it locally: the analyses read it row by row anyway."""
    typed, columns, _ = _typed(t, table, config, label)
    if not dialect.local:
        dialect.land(ds, f"typed_{table}", typed, table=True)
        dialect = Dialect.local_duckdb(ds, dialect.where)
        typed = dialect.table(f"typed_{table}")
    origin = Origin(where=label, name=label, columns=columns)
    check_table(ds, table, typed, config, origin, dialect)


def _typed(
    t: ir.Table, table: str, config: Config, label: str
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
    return t.select(**exprs), columns, zoned


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
