"""Load: copy a folder in the seed layout into PostgreSQL (COPY) or a DuckDB database file.

The folder is read by DuckDB (CSV with its type detection, Parquet as typed), with the
config's ``source.files`` and ``source.columns`` applied, so the tables land under
reportgen's names: ``influencers``, ``posts``, ``tracking_data``, ``payouts``. Values are
copied as they are (no validation: that is the job of whoever reads them), so nothing is lost.

Every table is loaded into a new table first; only when all are complete are the old ones
dropped and the new ones renamed, in the same transaction. A failed load leaves the old
tables as they were. What the target may hold in the way (see :mod:`load_target`) is checked
before anything changes. The password comes only from an environment variable and is never
part of a message.
"""

from __future__ import annotations

import io
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow.csv as pacsv

from reportgen.config import TABLES, Config
from reportgen.errors import ConfigError, DataError, SourceUnavailable
from reportgen.sources import files
from reportgen.sources.dialects import connect_reason, first_line
from reportgen.sources.layout import find_file, study_files
from reportgen.sources.load_target import (
    Target,
    duckdb_found,
    parse_target,
    pg_dependents,
    pg_found,
    refuse_dependents,
    to_drop,
)
from reportgen.sources.numbers import NumberFormat
from reportgen.sources.schema import SCHEMA
from reportgen.sources.sql import lit, q
from reportgen.sources.url import PASSWORD_ENV, pg_conninfo

logger = logging.getLogger(__name__)

#: Rows per batch streamed to COPY: bounds memory whatever the table's size.
BATCH_ROWS = 250_000
CONNECT_TIMEOUT_S = 10

# DuckDB type -> PostgreSQL type; anything else is copied as text.
_PG_TYPES = {
    "VARCHAR": "text",
    "BIGINT": "bigint",
    "INTEGER": "integer",
    "SMALLINT": "smallint",
    "TINYINT": "smallint",
    "UINTEGER": "bigint",
    "USMALLINT": "integer",
    "UTINYINT": "smallint",
    "UBIGINT": "numeric(20,0)",
    "HUGEINT": "numeric(39,0)",
    "DOUBLE": "double precision",
    "FLOAT": "real",
    "BOOLEAN": "boolean",
    "DATE": "date",
    "TIMESTAMP": "timestamp",
    "TIMESTAMP_NS": "timestamp",
    "TIMESTAMP_MS": "timestamp",
    "TIMESTAMP_S": "timestamp",
    "TIMESTAMP WITH TIME ZONE": "timestamptz",
    "TIME": "time",
}


@dataclass(frozen=True)
class Loaded:
    """What a load did: rows per table loaded, and the layout tables it dropped."""

    counts: dict[str, int]
    dropped: list[str]


def load(
    folder: Path,
    target: Target,
    config: Config,
    password_env: str = PASSWORD_ENV,
    *,
    drop_missing: bool = False,
) -> Loaded:
    """Copy the four tables of ``folder`` (and any study tables) into ``target``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise SourceUnavailable(f"{folder}: data folder not found")
    paths = {table: find_file(folder, table, config) for table in TABLES}
    paths.update(study_files(folder, config))
    for table, path in paths.items():
        files.refuse_empty(path, table)  # before the target is opened (or a file created)
    reader = duckdb.connect(":memory:")
    reader.execute("SET TimeZone = 'UTC'")  # zoned timestamps keep their instant
    t0 = time.perf_counter()
    if target.kind == "duckdb":
        done = _load_duckdb(reader, paths, target, config, folder, drop_missing)
    else:
        password = os.environ.get(password_env)
        done = _load_postgres(
            reader, paths, target, config, folder, drop_missing, password, password_env
        )
    seconds = time.perf_counter() - t0
    total = sum(done.counts.values())
    dropped = ", ".join(f"{target.schema}.{t}" for t in done.dropped)
    logger.info(
        "loaded %s into %s (schema %s) in %.1f s, %.0f rows/s%s",
        ", ".join(f"{t}={n}" for t, n in done.counts.items()),
        target.url,
        target.schema,
        seconds,
        total / seconds if seconds else 0.0,
        f"; dropped {dropped} (not in {folder}; --drop-missing)" if dropped else "",
    )
    return done


def _select(reader: duckdb.DuckDBPyConnection, path: Path, table: str, config: Config) -> str:
    """Return a SELECT of the file's columns under reportgen's names (source.columns applied)."""
    source = files.reader_sql(path, table, config)
    with files.read_errors(path, table):
        found = [row[0] for row in reader.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()]
    theirs = {v: k for k, v in config.source.columns.get(table, {}).items()}
    if path.suffix == ".csv":
        # Read as text and type the known columns the way a build reads them (the declared
        # source.decimal/thousands, no guessing); ids and names stay text, so "007" keeps
        # its zeros, and columns reportgen does not know stay text.
        source = (
            f"read_csv({lit(str(path))}, header = true, all_varchar = true,"
            f" delim = {lit(files.delimiter(path, table, config))})"
        )
    for ours, their in config.source.columns.get(table, {}).items():
        if their not in found:
            raise DataError(
                f"{path}: column '{their}' (source.columns.{table}.{ours}) is not in the file;"
                f" found: {', '.join(found)}"
            )
    with files.read_errors(path, table):
        described = reader.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()
    sniffed = {row[0]: row[1] for row in described}
    schema = {c.name: c for c in SCHEMA[table]}
    fmt = NumberFormat(config.source.decimal, config.source.thousands)
    cols, checks = [], []
    for c in found:
        ours = theirs.get(c, c)
        col = schema.get(ours)
        value = q(c)
        if col is not None and col.type in ("DOUBLE", "BIGINT", "TIMESTAMP"):
            # Money that happens to be whole in this file is still money: DOUBLE, as in Parquet.
            value, bad, _ = files.typed_column(reader, source, c, sniffed[c], col, True, fmt)
            if bad is not None:
                checks.append((ours, c, bad, files.is_number_type(sniffed[c])))
        cols.append(f"{value} AS {q(ours)}")
    # The files source's own check and words: row (and line, for CSV), column, what to do.
    with files.read_errors(path, table):
        files.check_values(reader, source, path, table, checks, path.suffix == ".csv", fmt)
    return f"SELECT {', '.join(cols)} FROM {source}"


def _new_name(table: str) -> str:
    return f"_reportgen_new_{table}"


def _load_duckdb(
    reader: duckdb.DuckDBPyConnection,
    paths: dict[str, Path],
    target: Target,
    config: Config,
    folder: Path,
    drop_missing: bool,
) -> Loaded:
    """Load into a DuckDB file in one transaction: new tables, then drop and rename."""
    assert target.path is not None
    if not target.path.parent.is_dir():
        raise SourceUnavailable(f"{target.url}: folder {target.path.parent} does not exist")
    try:
        con = duckdb.connect(str(target.path))
    except duckdb.Error as exc:
        raise SourceUnavailable(f"{target.url}: cannot open: {first_line(exc)}") from None
    schema = q(target.schema)
    counts = {}
    begun = False
    try:
        found = con.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = ?",
            [target.schema],
        ).fetchone()
        if not found or not found[0]:
            raise _missing_schema(target)
        # A view over a replaced table needs no care here: DuckDB binds views by name.
        dropped = to_drop(
            duckdb_found(con, target.schema), list(paths), target, folder, drop_missing
        )
        con.execute("BEGIN")
        begun = True
        for table, path in paths.items():
            relation = reader.sql(_select(reader, path, table, config))
            new = f"{schema}.{q(_new_name(table))}"
            with files.read_errors(path, table):
                # An Arrow stream from the reading connection: read and written in batches.
                stream = relation.to_arrow_reader(BATCH_ROWS)  # noqa: F841 (used by name)
                con.execute(f"CREATE OR REPLACE TABLE {new} AS SELECT * FROM stream")
            counts[table] = _count(con, new)
        for table in [*paths, *dropped]:
            try:
                con.execute(f"DROP TABLE IF EXISTS {schema}.{q(table)}")
            except duckdb.Error as exc:  # a foreign key of another table, say
                raise _in_the_way(target, first_line(exc)) from None
            if table in paths:
                con.execute(f"ALTER TABLE {schema}.{q(_new_name(table))} RENAME TO {q(table)}")
        con.execute("COMMIT")
    except BaseException:
        if begun:
            con.execute("ROLLBACK")
        raise
    finally:
        con.close()
    return Loaded(counts, dropped)


def _missing_schema(target: Target) -> SourceUnavailable:
    return SourceUnavailable(
        f"{target.url}: schema '{target.schema}' does not exist;"
        f" create it (CREATE SCHEMA {target.schema}) or pass another --schema"
    )


def _in_the_way(target: Target, reason: str) -> ConfigError:
    """Return the error for an old table the swap could not drop (past the pre-check)."""
    return ConfigError(
        f"{target.url}: cannot replace the old tables in schema {target.schema} ({reason});"
        " drop what depends on them and re-create it after loading, or load into another"
        " schema (--schema)"
    )


def _load_postgres(
    reader: duckdb.DuckDBPyConnection,
    paths: dict[str, Path],
    target: Target,
    config: Config,
    folder: Path,
    drop_missing: bool,
    password: str | None,
    env: str,
) -> Loaded:
    """Load into PostgreSQL in one transaction: COPY into new tables, then drop and rename."""
    import psycopg

    conn = _pg_connect(target, password, env)
    counts = {}
    try:
        with conn.transaction(), conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", [target.schema])
            if cur.fetchone() is None:
                raise _missing_schema(target)
            found = pg_found(cur, target.schema)
            dropped = to_drop(found, list(paths), target, folder, drop_missing)
            old = [t for t in [*paths, *dropped] if t in found]
            refuse_dependents(target, pg_dependents(cur, target.schema, old))
            for table, path in paths.items():
                counts[table] = _copy_table(cur, reader, path, table, target, config)
            if old:
                # One statement: foreign keys among the old tables do not stop it.
                cur.execute(f"DROP TABLE {', '.join(f'{q(target.schema)}.{q(t)}' for t in old)}")
            for table in paths:
                cur.execute(f"ALTER TABLE {_pg_new(target, table)} RENAME TO {q(table)}")
    except (psycopg.errors.DependentObjectsStillExist, psycopg.errors.WrongObjectType) as exc:
        # Made between the check and the swap: the transaction is rolled back all the same.
        detail = exc.diag.message_detail or exc.diag.message_primary or str(exc)
        raise _in_the_way(target, detail.strip().splitlines()[0]) from None
    except psycopg.Error as exc:
        raise SourceUnavailable(f"{target.url}: {connect_reason(exc, password, env)}") from None
    finally:
        conn.close()
    return Loaded(counts, dropped)


def _pg_new(target: Target, table: str) -> str:
    return f"{q(target.schema)}.{q(_new_name(table))}"


def _copy_table(
    cur, reader: duckdb.DuckDBPyConnection, path: Path, table: str, target: Target, config: Config
) -> int:
    """Create the new table and COPY the file into it as CSV, one batch at a time."""
    from psycopg.copy import QueuedLibpqWriter

    relation = reader.sql(_select(reader, path, table, config))
    columns, casts = [], []
    for name, dtype in zip(relation.columns, relation.types, strict=True):
        pg = _pg_type(str(dtype))
        columns.append(f"{q(name)} {pg}")
        # Types with no PostgreSQL match (lists, structs, ...) travel as their text form.
        text = pg == "text" and str(dtype) != "VARCHAR"
        casts.append(f"CAST({q(name)} AS VARCHAR)" if text else q(name))
    new = _pg_new(target, table)
    cur.execute(f"DROP TABLE IF EXISTS {new}")
    cur.execute(f"CREATE TABLE {new} ({', '.join(columns)})")
    rows = 0
    options = pacsv.WriteOptions(include_header=False)
    with (
        files.read_errors(path, table),
        # The queued writer sends on its own thread (bounded queue), so formatting the next
        # batch overlaps sending this one.
        cur.copy(f"COPY {new} FROM STDIN (FORMAT csv)", writer=QueuedLibpqWriter(cur)) as copy,
    ):
        batches = relation.select(", ".join(casts)).to_arrow_reader(BATCH_ROWS)
        for batch in batches:
            buf = io.BytesIO()
            pacsv.write_csv(batch, buf, options)
            copy.write(buf.getbuffer())
            rows += batch.num_rows
    return rows


def _pg_type(duck: str) -> str:
    if duck.startswith("DECIMAL"):
        return duck.replace("DECIMAL", "numeric")
    return _PG_TYPES.get(duck, "text")


def _pg_connect(target: Target, password: str | None, env: str):  # -> psycopg.Connection
    """Connect, turning every failure into one line that never contains the password."""
    try:
        import psycopg
        from psycopg.conninfo import make_conninfo
    except ImportError:
        raise SourceUnavailable(
            f"{target.url}: PostgreSQL support is not installed; pip install 'reportgen[postgres]'"
        ) from None
    # The URL's own parameters (sslmode, connect_timeout, ...) go through, over our defaults.
    info = pg_conninfo(
        target.db, password, connect_timeout=CONNECT_TIMEOUT_S, application_name="reportgen load"
    )
    try:
        return psycopg.connect(make_conninfo("", **info))
    except psycopg.Error as exc:
        raise SourceUnavailable(f"{target.url}: {connect_reason(exc, password, env)}") from None


def _count(con: duckdb.DuckDBPyConnection, name: str) -> int:
    row = con.execute(f"SELECT count(*) FROM {name}").fetchone()
    return int(row[0]) if row else 0


__all__ = ["BATCH_ROWS", "Loaded", "Target", "load", "parse_target"]
