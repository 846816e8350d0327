"""Load a folder of CSV or Parquet files in the seed layout into canonical DuckDB views.

Nothing is read into pandas: DuckDB scans the files lazily; validation is a few aggregate
queries whose findings either stop the build (unreadable or ambiguous values, missing
columns, conflicting ids, empty tables) or become data-quality issues that say what was
excluded and how much revenue it touches. Rules of their own: number formats in
``numbers.py``, row ids in ``ids.py``, checks across tables in ``checks.py``.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import duckdb

from reportgen.config import TABLES, Config
from reportgen.errors import DataError, SourceUnavailable
from reportgen.sources import Dataset
from reportgen.sources.checks import BASES, check_payouts, check_references, register_catalogue
from reportgen.sources.dialects import Dialect, first_line
from reportgen.sources.layout import digest as _digest
from reportgen.sources.layout import find_file as _find_file
from reportgen.sources.layout import fingerprint
from reportgen.sources.layout import study_files as _study_files
from reportgen.sources.numbers import NumberFormat, explain, parse_sql
from reportgen.sources.rules import Origin, check_table
from reportgen.sources.schema import MAX_MONEY, MONEY, SCHEMA, Column, source_column
from reportgen.sources.sql import lit as _lit
from reportgen.sources.sql import q as _q
from reportgen.sources.sql import where as _where
from reportgen.sources.study import check_study

logger = logging.getLogger(__name__)


_ZONED = r"(Z|[+-]\d{2}:?\d{2})$"
_EXAMPLES = 3


def load_folder(folder: Path, config: Config, origin: str = "files") -> Dataset:
    """Validate the four tables in ``folder`` and expose them as canonical views."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceUnavailable(
            f"{folder}: data folder not found; set source.path in the config or pass --data DIR"
        )
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")  # zoned timestamps are converted per report, never by host
    ds = Dataset(con=con, provenance={"source": origin, "path": str(folder), "files": {}})
    dialect = Dialect.local_duckdb(ds, str(folder))
    zoned_any = False
    paths = {table: _find_file(folder, table, config) for table in TABLES}
    # Hashing releases the GIL: digest the files while DuckDB scans them.
    with ThreadPoolExecutor(max_workers=1) as pool:
        # Stat before the first read: a write after it changes what the next stat says.
        ds.fingerprints = {table: fingerprint(path) for table, path in paths.items()}
        digests = {table: pool.submit(_digest, path) for table, path in paths.items()}
        for table, path in paths.items():
            with ds.timed(f"load {table}"), read_errors(path, table):
                zoned_any |= _load_table(ds, table, path, config, dialect)
        ds.zoned = zoned_any
        study = _study_files(folder, config)
        for table, path in study.items():
            ds.fingerprints[table] = fingerprint(path)
            digests[table] = pool.submit(_digest, path)
            with ds.timed(f"load {table}"), read_errors(path, table):
                _load_table(ds, table, path, config, dialect)  # zoned times: see study.frame
        paths.update(study)
        register_catalogue(con, config)
        with ds.timed("checks"):
            check_references(ds, config, paths)
            check_payouts(ds, paths["payouts"])
            check_study(ds, paths)
        with ds.timed("file hashes (wait)"):
            for table, path in paths.items():
                ds.provenance["files"][table] = {
                    "file": path.name,
                    "sha256": digests[table].result(),
                }
    return ds


@contextmanager
def read_errors(path: Path, table: str) -> Iterator[None]:
    """Turn the engine failing to read ``path`` mid-scan (a damaged file) into a DataError.

    Only reader failures qualify: I/O errors, invalid input, and the bare ``duckdb.Error``
    the Parquet decoder raises for a scrambled page ("invalid TType"). Anything else (our SQL,
    out of memory, an internal error) is not the file's fault and surfaces as it is.
    """
    try:
        yield
    except duckdb.Error as exc:
        reader = (duckdb.IOException, duckdb.InvalidInputException)
        if not isinstance(exc, reader) and type(exc) is not duckdb.Error:
            raise
        raise DataError(
            f"{path}: cannot read {table}: {first_line(exc)}; the file looks damaged or "
            "truncated: export it again"
        ) from None


def data_vocabulary(folder: Path, config: Config) -> dict[str, set[str]]:
    """Return the categories, platforms and brands the files in ``folder`` hold.

    A light read for checking ad hoc filters: the influencers file and, when tracking data has
    a brand column, its distinct brands. Problems are left to the full load to report.
    """
    out: dict[str, set[str]] = {"brand": set(), "category": set(), "platform": set()}
    with duckdb.connect(":memory:") as con:
        for table, column, key in _VOCABULARY_COLUMNS:
            out[key] |= _distinct_values(con, Path(folder), table, column, config)
    return out


#: (table, column, vocabulary) read by data_vocabulary.
_VOCABULARY_COLUMNS = [
    ("influencers", "category", "category"),
    ("influencers", "platform", "platform"),
    ("tracking_data", "brand", "brand"),
    ("posts", "brand", "brand"),
]


def _distinct_values(con, folder: Path, table: str, column: str, config: Config) -> set[str]:
    """Return a column's distinct values as reports see them; empty when it cannot be read."""
    try:
        path = _find_file(folder, table, config)
        reader = reader_sql(path, table, config)
        found = con.execute(f"SELECT column_name FROM (DESCRIBE SELECT * FROM {reader})")
        cols = {c.casefold(): c for (c,) in found.fetchall()}
        name = config.source.columns.get(table, {}).get(column, column)
        if name is None or name.casefold() not in cols:
            return set()
        name = name.casefold()
        text = f"CAST({_q(cols[name])} AS VARCHAR)"
        if path.suffix == ".csv":
            text = f"TRIM({text})"  # as the loader reads it (see typed)
        rows = con.execute(f"SELECT DISTINCT {text} FROM {reader}").fetchall()
    except (DataError, duckdb.Error):
        return set()
    # The report filters the values after source.values maps them: offer those.
    mapping = config.source.values.get(f"{table}.{column}", {})
    return {mapping.get(v, v) for (v,) in rows if v}


def reader_sql(path: Path, table: str, config: Config) -> str:
    """Return the table function that reads ``path``: CSV as text (checked later), or Parquet."""
    if path.suffix == ".csv":
        delim = delimiter(path, table, config)
        return (
            f"read_csv({_lit(str(path))}, all_varchar = true, header = true, delim = {_lit(delim)})"
        )
    return f"read_parquet({_lit(str(path))})"


#: Delimiters tried on a CSV header, in the order that wins a tie.
DELIMITERS = (",", ";", "\t", "|")


def delimiter(path: Path, table: str, config: Config) -> str:
    """Return the CSV delimiter: the declared one, or the one that splits the header best.

    The engine's sniffer weighs data rows too, where decimal commas (``2000,50``) in a
    semicolon file can outvote the real delimiter; the header names known columns and holds
    no numbers, so the delimiter that finds the most of them is the file's.
    """
    if config.source.delimiter != "auto":
        return config.source.delimiter
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as fh:
        header = fh.readline()
    mapping = config.source.columns.get(table, {})
    wanted = {(mapping.get(c.name) or c.name).strip().casefold() for c in SCHEMA[table]}
    best, hits = ",", 0
    for delim in DELIMITERS:
        row = next(csv.reader([header], delimiter=delim), [])
        found = len(wanted & {name.strip().casefold() for name in row})
        if found > hits:
            best, hits = delim, found
    return best


def _load_table(ds: Dataset, table: str, path: Path, config: Config, dialect: Dialect) -> bool:
    """Create view ``<table>`` with canonical columns; return True when timestamps are zoned."""
    con = ds.con
    raw = f"raw_{table}"
    is_csv = path.suffix == ".csv"
    refuse_empty(path, table)
    reader = reader_sql(path, table, config)
    try:
        # CSV is parsed once into a table (parsing dominates); Parquet is scanned lazily.
        kind = "TABLE" if is_csv else "VIEW"
        con.execute(f"CREATE {kind} {raw} AS SELECT * FROM {reader}")
        types = dict(
            con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {raw})").fetchall()
        )
    except duckdb.Error as exc:
        raise DataError(f"{path}: cannot read {table}: {first_line(exc)}") from None

    mapping = config.source.columns.get(table, {})
    found = {c.strip().casefold(): c for c in types}
    fmt = NumberFormat(config.source.decimal, config.source.thousands)
    exprs, checks, zoned, ranged = [], [], False, []
    columns: dict[str, str] = {}  # canonical name -> the file's column
    for col in SCHEMA[table]:
        actual = source_column(path, table, col, mapping, found)
        if actual is None:
            exprs.append(f"CAST(NULL AS {col.type}) AS {_q(col.name)}")
            continue
        expr, bad, col_zoned = typed_column(con, raw, actual, types[actual], col, is_csv, fmt)
        zoned |= col_zoned
        exprs.append(f"{expr} AS {_q(col.name)}")
        if bad:
            checks.append((col.name, actual, bad, is_number_type(types[actual])))
        if (table, col.name) in MONEY:
            # NaN and inf spelled out: DuckDB skips Parquet row groups by their min/max,
            # which pyarrow (and so pandas) writes leaving NaN out.
            out_of_range = f"abs({expr}) >= {MAX_MONEY:.0f}"
            if col.type == "DOUBLE":
                out_of_range = f"(isnan({expr}) OR isinf({expr}) OR {out_of_range})"
            ranged.append((col.name, actual, out_of_range))
        columns[col.name] = actual
    check_values(con, raw, path, table, checks, is_csv, fmt)
    for name, actual, bad in ranged:
        _check_range(con, raw, path, name, actual, bad, is_csv=is_csv)
    con.execute(f"CREATE VIEW typed_{table} AS SELECT {', '.join(exprs)} FROM {raw}")
    origin = Origin(
        where=str(path),
        name=path.name,
        columns=columns,
        row=lambda n: _where(n, is_csv),
        empty=" (only a header)",
    )
    typed = dialect.table(f"typed_{table}")
    check_table(ds, table, typed, config, origin, dialect, zoned=zoned)
    return zoned


def refuse_empty(path: Path, table: str) -> None:
    """Raise a DataError for a 0-byte file: no header says what it was meant to hold."""
    if path.stat().st_size == 0:
        raise DataError(f"{path}: the file is empty (not even a header row); export {table} again")


def typed_column(
    con: duckdb.DuckDBPyConnection,
    raw: str,
    actual: str,
    src_type: str,
    col: Column,
    trim: bool,
    fmt: NumberFormat,
) -> tuple[str, str | None, bool]:
    """Return (typed expression, condition that marks an unreadable value, zoned?)."""
    c = _q(actual)
    if src_type != "VARCHAR" and _native(src_type, col.type):
        # Typed Parquet columns need no parsing: a plain cast keeps the scan cheap.
        return f"CAST({c} AS {col.type})", None, False
    if src_type != "VARCHAR":
        text = f"NULLIF(TRIM(CAST({c} AS VARCHAR)), '')"
    elif trim:
        text = f"NULLIF(TRIM({c}), '')"  # hand-edited CSV carries stray spaces
    else:
        text = f"NULLIF({c}, '')"  # typed files: trimming 10M ids would double the scan
    if col.type == "VARCHAR":
        return text, None, False
    if col.type == "TIMESTAMP":
        if src_type.startswith("TIMESTAMP WITH TIME ZONE"):
            return c, None, True
        if src_type.startswith(("TIMESTAMP", "DATE")):
            return f"CAST({c} AS TIMESTAMP)", None, False
        zoned_rows, total = con.execute(
            f"SELECT count(*) FILTER (WHERE regexp_matches({text}, {_lit(_ZONED)})), "
            f"count({text}) FROM {raw}"
        ).fetchall()[0]
        if zoned_rows and zoned_rows == total:
            expr = f"TRY_CAST({text} AS TIMESTAMPTZ)"
            return expr, f"{text} IS NOT NULL AND {expr} IS NULL", True
        expr = f"TRY_CAST({text} AS TIMESTAMP)"
        if zoned_rows:
            # A mix of zoned and naive values has no single meaning: make it an error.
            bad = (
                f"{text} IS NOT NULL AND ({expr} IS NULL OR regexp_matches({text}, {_lit(_ZONED)}))"
            )
            return expr, bad, False
        return expr, f"{text} IS NOT NULL AND {expr} IS NULL", False
    # A typed number (a Parquet DOUBLE in a whole-number column) is read as the number it is:
    # decimal and thousands marks belong to text, and '2.0' is not text here.
    dbl = f"CAST({c} AS DOUBLE)" if is_number_type(src_type) else parse_sql(text, fmt)
    if col.type == "DOUBLE":
        bad = f"{text} IS NOT NULL AND ({dbl} IS NULL OR isnan({dbl}) OR isinf({dbl}))"
        return dbl, bad, False
    # BIGINT: accept 3 and 3.0 but not 3.5, nor NaN, nor what a BIGINT cannot hold
    bad = (
        f"{text} IS NOT NULL AND ({dbl} IS NULL OR isnan({dbl}) OR {dbl} <> floor({dbl}) "
        f"OR abs({dbl}) >= {2.0**63:.0f})"
    )
    return f"CASE WHEN {dbl} = floor({dbl}) THEN CAST({dbl} AS BIGINT) END", bad, False


def is_number_type(src_type: str) -> bool:
    """Return True for a file's typed numeric column (no text to parse)."""
    return src_type in ("DOUBLE", "FLOAT", "HUGEINT", "UBIGINT", *_INTEGER) or src_type.startswith(
        "DECIMAL"
    )


_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER")


def _native(src_type: str, target: str) -> bool:
    """Return True when a typed source column converts to ``target`` without parsing."""
    if target == "BIGINT":
        return src_type in _INTEGER or src_type == "BIGINT"
    if target == "DOUBLE":
        return src_type in ("DOUBLE", "FLOAT", *_INTEGER) or src_type.startswith("DECIMAL")
    return False


def check_values(
    con,
    raw: str,
    path: Path,
    table: str,
    checks: list[tuple[str, str, str, bool]],
    is_csv: bool,
    fmt: NumberFormat,
) -> None:
    """Raise DataError naming row and column when any value cannot be read as its type."""
    if not checks:
        return
    typed_numbers = any(typed for _, _, _, typed in checks)
    with no_stat_folding(con, typed_numbers):  # a NaN in a typed whole-number column
        counts = con.execute(
            "SELECT "
            + ", ".join(f"count(*) FILTER (WHERE {bad})" for _, _, bad, _ in checks)
            + f" FROM {raw}"
        ).fetchall()[0]
        first = next(((c, n) for c, n in zip(checks, counts, strict=True) if n), None)
        if first is None:
            return
        (name, actual, bad, typed), n = first
        where, value = _first_row(con, raw, actual, bad, is_csv)
    col_type = next(c.type for c in SCHEMA[table] if c.name == name)
    more = f"; {n - 1} more row(s) like it" if n > 1 else ""
    what = f"cannot read {value!r} as a date/time"
    if typed:  # a typed number: no decimal mark to explain
        what = f"cannot read {value!r} as a whole number"
    elif col_type != "TIMESTAMP":
        what = explain(value, fmt)
        if col_type == "BIGINT" and what == f"cannot read {value!r} as a number":
            what = f"cannot read {value!r} as a whole number"
    fix = "" if "source." in what else "; fix the source data"
    raise DataError(f"{path}: {where}, column '{actual}': {what}{more}{fix}")


@contextmanager
def no_stat_folding(con: duckdb.DuckDBPyConnection, on: bool = True) -> Iterator[None]:
    """Keep DuckDB from folding isnan() to false by a Parquet column's min/max, in the block.

    pyarrow (and so pandas) writes a float column's statistics leaving NaN out, so the
    optimizer would prove "no NaN here" and skip the rows that hold one.
    """
    if not on:
        yield
        return
    previous = con.execute("SELECT current_setting('disabled_optimizers')").fetchall()[0][0]
    con.execute("SET disabled_optimizers = 'statistics_propagation'")
    try:
        yield
    finally:
        con.execute(f"SET disabled_optimizers = {_lit(previous)}")


def _first_row(con, src: str, column: str, cond: str, is_csv: bool) -> tuple[str, str]:
    """Return where the first row of ``src`` matching ``cond`` is, and its ``column`` as text."""
    row, value = con.execute(
        f"SELECT _row, CAST({_q(column)} AS VARCHAR) FROM (SELECT row_number() OVER () AS _row, "
        f"* FROM {src}) WHERE {cond} ORDER BY _row LIMIT 1"
    ).fetchall()[0]
    return _where(row, is_csv), value


def _check_range(
    con, raw: str, path: Path, name: str, actual: str, bad: str, *, is_csv: bool
) -> None:
    """Raise DataError naming the first row whose money value is NaN, infinite or too large."""
    # DuckDB folds isnan() to false where a Parquet column's min/max leave NaN out (pyarrow,
    # and so pandas, writes them so): without that folding, a NaN is seen. Same scan time.
    with no_stat_folding(con):
        n = con.execute(f"SELECT count(*) FROM {raw} WHERE {bad}").fetchall()[0][0]
        # numbering rows costs a second pass: only for the message
        where, value = _first_row(con, raw, actual, bad, is_csv) if n else ("", "")
    if n:
        more = f"; {n - 1} more row(s) like it" if n > 1 else ""
        what = (
            "is not a number"
            if value.strip().lower() in ("nan", "inf", "-inf", "infinity", "-infinity")
            else f"is out of range (a money value must be less than {MAX_MONEY:,.0f})"
        )
        raise DataError(
            f"{path}: {where}, column '{actual}': {name} {value} {what}{more}; fix the source data"
        )


__all__ = ["BASES", "SCHEMA", "load_folder"]
