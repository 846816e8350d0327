"""The canonical layer over typed relations of any Ibis backend: map, type, check, aggregate.

A source that is not a folder of files (a PostgreSQL or DuckDB database, Parquet read by
Spark) hands its raw tables here as relations of its backend. This layer is written once in
Ibis expressions, so the same rules compile to each engine's SQL and run where the data is:
names and values are mapped, types checked, unusable rows counted and excluded, row ids
checked, and the facts aggregated per day, influencer and product. Only counts, examples,
the small dimensions and that aggregate come back (``ds.provenance["rows_fetched"]`` counts
them), into the build's local DuckDB under the names the cross-table checks and the metrics
read. Per-engine differences are kept in :mod:`reportgen.sources.dialects`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from reportgen.config import TABLES, Config
from reportgen.errors import DataError
from reportgen.model import Issue
from reportgen.sources import Dataset
from reportgen.sources.checks import check_payouts, check_references
from reportgen.sources.dialects import Dialect
from reportgen.sources.files import BASIS_ALIASES, KEYS, MAX_MONEY, MONEY, SCHEMA, Column

logger = logging.getLogger(__name__)

_TYPES: dict[str, dt.DataType] = {
    "VARCHAR": dt.string,
    "BIGINT": dt.int64,
    "DOUBLE": dt.float64,
    "TIMESTAMP": dt.timestamp,
}
#: Rows excluded as negative, per table (files.NEGATIVE, as Ibis predicates).
_NEGATIVE: dict[str, Callable[[ir.Table], ir.BooleanValue] | None] = {
    "posts": lambda t: (t.reach < 0) | (t.likes < 0) | (t.comments < 0),
    "tracking_data": lambda t: (t.orders < 0) | (t.revenue < 0),
    "payouts": lambda t: t.rate < 0,
    "influencers": lambda t: t.follower_count < 0,
}
_NEGATIVE_TEXT = {
    "posts": "reach < 0 OR likes < 0 OR comments < 0",
    "tracking_data": "orders < 0 OR revenue < 0",
    "payouts": "rate < 0",
    "influencers": "follower_count < 0",
}
_EXAMPLES = 3


def canonicalize(
    ds: Dataset, raw: dict[str, ir.Table], config: Config, labels: dict[str, str], dialect: Dialect
) -> None:
    """Validate the four seed tables of ``raw`` and land their canonical forms in ``ds.con``."""
    ds.provenance.setdefault("rows_fetched", 0)
    zoned = False
    for table in TABLES:
        with ds.timed(f"load {table}"):
            zoned |= _table(ds, table, raw[table], config, labels[table], dialect)
    ds.zoned = zoned
    with ds.timed("checks"):
        _register_catalogue(ds, config)
        check_references(ds, config, labels)
        check_payouts(ds, labels["payouts"])


def _table(
    ds: Dataset, table: str, t: ir.Table, config: Config, label: str, dialect: Dialect
) -> bool:
    """Check one table where it lives; land it (or its aggregate) locally; return zoned?"""
    mapped, zoned = _typed(t, table, config, label, dialect)
    key = KEYS.get(table) if _has(t, table, KEYS.get(table), config) else None
    keep = _keep(mapped, table)
    stats = _stats(ds, mapped, table, key, keep, dialect)
    ds.rows[table] = stats["total"]
    ds.provenance["tables"][table]["rows"] = stats["total"]
    if stats.get("max_date") is not None:
        ds.provenance["tables"][table]["max_date"] = str(stats["max_date"])
    _record_exclusions(ds, mapped, table, label, key, keep, stats, dialect)
    valid = mapped.filter(keep)
    if key and stats["n_dup"]:
        valid = _drop_repeats(ds, mapped, valid, table, label, key, stats["n_dup"], dialect)
    _check_empty(ds, table, label, config)
    if table == "tracking_data":
        agg = _aggregate(valid if stats["n_dup"] else mapped, zoned)
        _land(ds, "tracking_agg", agg, dialect)
        if zoned:  # buckets come back as epoch seconds: the one zoned type every engine shares
            ds.con.execute(
                "CREATE OR REPLACE TABLE tracking_agg AS SELECT * REPLACE "
                "(to_timestamp(bucket) AS bucket) FROM tracking_agg"
            )
    else:
        _land(ds, f"{table}_valid", valid, dialect)
        if table == "payouts":
            _land(ds, "mapped_payouts", mapped, dialect)
    return zoned


def _has(t: ir.Table, table: str, name: str | None, config: Config) -> bool:
    """Return True when the source has the column that holds ``name``."""
    if name is None:
        return False
    src = config.source.columns.get(table, {}).get(name, name)
    return src is not None and src.strip().casefold() in {c.casefold() for c in t.columns}


def _typed(
    t: ir.Table, table: str, config: Config, label: str, dialect: Dialect
) -> tuple[ir.Table, bool]:
    """Return ``t`` with canonical names, types and mapped values; and whether times are zoned."""
    found = {c.strip().casefold(): c for c in t.columns}
    mapping = config.source.columns.get(table, {})
    exprs: dict[str, ir.Value] = {}
    zoned = False
    for col in SCHEMA[table]:
        actual = _source_column(table, col, mapping, found, label)
        if actual is None:
            exprs[col.name] = ibis.null(_TYPES[col.type])
            continue
        expr, col_zoned = _cast(t, actual, col, table, label, dialect)
        zoned |= col_zoned
        exprs[col.name] = expr
    typed = t.select(**exprs)
    return typed.mutate(**_value_maps(typed, table, config)), zoned


def _source_column(
    table: str, col: Column, mapping: dict[str, str | None], found: dict[str, str], label: str
) -> str | None:
    """Return the source's column for ``col`` (None: absent and optional, or mapped to null)."""
    src = mapping.get(col.name, col.name)
    if src is None and col.required:
        raise DataError(
            f"{label}: source.columns.{table}.{col.name} is null, but {table} needs "
            f"{col.name}: name the column that holds it"
        )
    actual = None if src is None else found.get(src.strip().casefold())
    if actual is None and src is not None and (col.required or col.name in mapping):
        hint = (
            f"map it with source.columns.{table}.{col.name}"
            if col.name not in mapping
            else f"source.columns.{table}.{col.name} names {src!r}, which is not there"
        )
        raise DataError(
            f"{label}: missing column '{src}' for {table}.{col.name} (columns found: "
            f"{', '.join(found.values())}); {hint}"
        )
    return actual


def _cast(
    t: ir.Table, actual: str, col: Column, table: str, label: str, dialect: Dialect
) -> tuple[ir.Value, bool]:
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


def _value_maps(t: ir.Table, table: str, config: Config) -> dict[str, ir.Value]:
    """Return the columns that config value maps (and payout basis aliases) rewrite."""
    out: dict[str, ir.Value] = {}
    for col in SCHEMA[table]:
        mapping = dict(config.source.values.get(f"{table}.{col.name}", {}))
        c = t[col.name]
        if table == "payouts" and col.name == "basis":
            mapping = {**BASIS_ALIASES, **{k.casefold(): v for k, v in mapping.items()}}
            low = c.lower()
            out[col.name] = low.cases(*mapping.items(), else_=low) if mapping else low
        elif mapping:
            out[col.name] = c.cases(*mapping.items(), else_=c)
    return out


def _keep(t: ir.Table, table: str) -> ir.BooleanValue:
    """Return the predicate of usable rows: required values present, nothing negative."""
    keep = ibis.and_(*(t[c.name].notnull() for c in SCHEMA[table] if c.required))
    negative = _NEGATIVE.get(table)
    return keep & ~negative(t).fill_null(False) if negative else keep


def _stats(
    ds: Dataset, t: ir.Table, table: str, key: str | None, keep: ir.BooleanValue, dialect: Dialect
) -> dict[str, Any]:
    """Count rows, exclusions, ids and repeats in one query where the data is."""
    present = ibis.and_(*(t[c.name].notnull() for c in SCHEMA[table] if c.required))
    has_rev = table == "tracking_data"
    rev = t.revenue.cast("float64") if has_rev else None
    money = [
        (c.name, (t[c.name].abs() >= MAX_MONEY) | dialect.not_finite(t[c.name]))
        for c in SCHEMA[table]
        if (table, c.name) in MONEY
    ]
    aggs: dict[str, Any] = {
        "total": t.count(),
        "n_null": (~present).sum(),
        "n_neg": (present & ~keep).sum(),
        **{f"bad_{name}": bad.fill_null(False).sum() for name, bad in money},
    }
    if rev is not None:
        aggs["rev_null"] = rev.sum(where=~present)
        aggs["rev_neg"] = rev.sum(where=present & ~keep)
    if key:
        aggs["n_ids"] = t[key].count()
        aggs["n_dup"] = t[key].count() - t[key].nunique()
    if "date" in t.columns:
        aggs["max_date"] = t.date.max()
    row = dialect.fetch_row(ds, t.aggregate(**aggs))
    out = {k: (v if v is not None else 0) for k, v in row.items()}
    out["max_date"] = row.get("max_date")
    out.setdefault("n_ids", out["total"])
    out.setdefault("n_dup", 0)
    for name, bad in money:
        if out[f"bad_{name}"]:
            _money_error(ds, t, table, name, bad, int(out[f"bad_{name}"]), key, dialect)
    return {k: (int(v) if k.startswith(("n_", "total")) else v) for k, v in out.items()}


def _examples(ds: Dataset, t: ir.Table, cond: ir.BooleanValue, key: str | None, dialect: Dialect):
    """Return how to find the first rows matching ``cond``: their ids, or their values."""
    if key is None:
        return []
    rows = dialect.fetch(ds, t.filter(cond & t[key].notnull()).select(key).order_by(key).limit(3))
    return [f"{key} {v}" for v in rows.column(0).to_pylist()]


def _money_error(
    ds: Dataset, t: ir.Table, table: str, name: str, bad: ir.BooleanValue, n: int, key, dialect
) -> None:
    """Raise DataError naming the first row whose money value is NaN, infinite or too large."""
    cols = [key, name] if key else [name]
    first = dialect.fetch(ds, t.filter(bad.fill_null(False)).select(*cols).limit(1)).to_pylist()[0]
    where = f"{key} {first[key]!r}, " if key else ""
    more = f"; {n - 1} more row(s) like it" if n > 1 else ""
    raise DataError(
        f"{ds.provenance['tables'][table]['table']}: {where}column '{name}': {first[name]} is "
        f"not a number or out of range (a money value must be less than {MAX_MONEY:,.0f})"
        f"{more}; fix the source data"
    )


def _record_exclusions(
    ds: Dataset,
    t: ir.Table,
    table: str,
    label: str,
    key: str | None,
    keep: ir.BooleanValue,
    stats: dict[str, Any],
    dialect: Dialect,
) -> None:
    """Stop on repeated dimension ids; record rows without required values or negative."""
    if stats["n_dup"] and table in ("influencers", "payouts"):
        assert key is not None
        dup = t.group_by(key).aggregate(n=t.count()).filter(lambda g: g.n > 1)
        first = dialect.fetch(ds, dup.select(key).order_by(key).limit(1)).column(0)[0]
        raise DataError(
            f"{label}: column '{key}': {stats['n_dup']} duplicate id(s), e.g. {first.as_py()!r}; "
            f"each {key} must appear once in {table} (keep one row per influencer)"
        )
    required = [c.name for c in SCHEMA[table] if c.required]
    present = ibis.and_(*(t[c].notnull() for c in required))
    if stats["n_null"]:
        ds.issues.append(
            Issue(
                "missing_values",
                "warning",
                f"{stats['n_null']} {table} row(s) lack a required value ({', '.join(required)}) "
                "and were excluded",
                table=table,
                file=label,
                rows=stats["n_null"],
                revenue=float(stats["rev_null"]),
                examples=_examples(ds, t, ~present, key, dialect),
            )
        )
    if stats["n_neg"]:
        ds.issues.append(
            Issue(
                "negative_values",
                "warning",
                f"{stats['n_neg']} {table} row(s) have negative values ({_NEGATIVE_TEXT[table]}) "
                "and were excluded",
                table=table,
                file=label,
                rows=stats["n_neg"],
                revenue=float(stats["rev_neg"]),
                examples=_examples(ds, t, present & ~keep, key, dialect),
            )
        )
    missing = stats["total"] - stats["n_ids"]
    if key and missing and table in ("posts", "tracking_data"):
        got = {"r": 0.0}
        if table == "tracking_data":
            rev = t.revenue.cast("float64").sum(where=t[key].isnull() & keep)
            got = dialect.fetch_row(ds, t.aggregate(r=rev))
        event = "sale" if table == "tracking_data" else "post"
        ds.issues.append(
            Issue(
                "missing_ids",
                "warning",
                f"{missing} {table} row(s) have no {key}; each counts as its own {event}, "
                "unchecked for repeats",
                table=table,
                file=label,
                rows=missing,
                revenue=float(got["r"] or 0),
            )
        )


def _drop_repeats(
    ds: Dataset,
    t: ir.Table,
    valid: ir.Table,
    table: str,
    label: str,
    key: str,
    n_dup: int,
    dialect: Dialect,
) -> ir.Table:
    """Stop on one id over rows that differ; otherwise keep one of each exact repeat."""
    distinct = t.filter(t[key].notnull()).distinct()
    conflict = distinct.group_by(key).aggregate(n=distinct.count()).filter(lambda g: g.n > 1)
    found = dialect.fetch(ds, conflict.select(key).order_by(key).limit(1)).column(0).to_pylist()
    if found:
        event = "sale" if table == "tracking_data" else "post"
        raise DataError(
            f"{label}: column '{key}': id {found[0]!r} is on rows that differ; an id must name "
            f"one {event} (an exact repeat counts once): map source.columns.{table}.{key} to a "
            f"column that is unique per row, or set it to null to count every row as its own "
            f"{event}"
        )
    # Rows without an id are events each; rows with one keep one copy of their content.
    dedup = valid.filter(valid[key].isnull()).union(valid.filter(valid[key].notnull()).distinct())
    revenue = 0.0
    if table == "tracking_data":
        before = dialect.fetch_row(ds, valid.aggregate(r=valid.revenue.cast("float64").sum()))["r"]
        after = dialect.fetch_row(ds, dedup.aggregate(r=dedup.revenue.cast("float64").sum()))["r"]
        revenue = float(before or 0.0) - float(after or 0.0)
    ids = t.filter(t[key].notnull())
    repeated = ids.group_by(key).aggregate(n=ids.count())
    ex = dialect.fetch(ds, repeated.filter(repeated.n > 1).select(key).order_by(key).limit(3))
    ds.issues.append(
        Issue(
            "duplicate_rows",
            "warning",
            f"{n_dup} {table} row(s) repeat another row exactly (same {key}, same content); "
            "each was counted once",
            table=table,
            file=label,
            rows=n_dup,
            revenue=revenue,
            examples=[str(v) for v in ex.column(0).to_pylist()],
        )
    )
    return dedup


def _check_empty(ds: Dataset, table: str, label: str, config: Config) -> None:
    """Stop on a table with no rows, unless source.allow_empty lists it (then record it)."""
    if ds.rows[table]:
        return
    if table not in config.source.allow_empty:
        raise DataError(
            f"{label}: {table} has no rows; a report from it would show nothing where the last "
            f"one showed data: check the table, or list {table} under source.allow_empty if it "
            "may be empty"
        )
    ds.issues.append(
        Issue(
            "empty_table",
            "warning",
            f"{table} has no rows (allowed by source.allow_empty)",
            table=table,
            file=label,
        )
    )


def _aggregate(t: ir.Table, zoned: bool) -> ir.Table:
    """Return tracking summed per status, time bucket, influencer and product (files' shape).

    The bucket is the calendar day for naive timestamps (already local time) and 15 minutes
    of epoch seconds for zoned ones, fine enough to place every row on its local day.
    """
    present = ibis.and_(*(t[c.name].notnull() for c in SCHEMA["tracking_data"] if c.required))
    status = ibis.cases((~present, "missing"), (~_keep(t, "tracking_data"), "negative"), else_="ok")
    bucket = (t.date.epoch_seconds() // 900) * 900 if zoned else t.date.date()
    t = t.mutate(status=status, bucket=bucket, src_brand=t.brand)
    return t.group_by("status", "bucket", "influencer_id", "product", "src_brand").aggregate(
        orders=t.orders.sum().cast("int64"),
        # exact decimal sums, as the files source: float sums differ in the last bit by order
        revenue=t.revenue.cast(dt.Decimal(18, 4)).sum(),
        n=t.count(),
    )


def _land(ds: Dataset, name: str, expr: ir.Table, dialect: Dialect) -> None:
    """Fetch a small result (a dimension or an aggregate) into the build's DuckDB as ``name``."""
    arrow = dialect.fetch(ds, expr)
    ds.con.register("_landing", arrow)
    try:
        ds.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _landing')
    finally:
        ds.con.unregister("_landing")


def _register_catalogue(ds: Dataset, config: Config) -> None:
    from reportgen.sources.files import _register_catalogue as register

    register(ds.con, config)
