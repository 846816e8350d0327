"""The sql source: tables in a PostgreSQL database or a DuckDB file, checked where they are.

The source only opens the database and hands its tables, as Ibis relations, to the canonical
layer (:mod:`reportgen.sources.canonical`), which runs every check and the facts' aggregation
in the database and brings back counts, examples, dimensions and the aggregate. The password
comes only from the environment variable ``source.password_env`` names, and never appears in
messages, logs or provenance.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import duckdb

from reportgen.config import ALL_TABLES, STUDY_TABLES, Config
from reportgen.errors import ConfigError, DataError, SourceUnavailable
from reportgen.sources import Dataset, layout
from reportgen.sources.dialects import (
    GRANT,
    Dialect,
    connect_reason,
    declared_unique,
    duckdb_errors,
    first_line,
    postgres_errors,
)
from reportgen.sources.url import DbUrl, UrlError, mask, parse_url, pg_conninfo

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10


def open_database(url_text: str, config: Config) -> Dataset:
    """Open the database at ``url_text`` and return its tables as a canonical Dataset."""
    from reportgen.sources.canonical import canonicalize

    try:
        url = parse_url(url_text, config.root)
    except UrlError as exc:  # a config's URL was checked when it loaded: this is --data's
        raise ConfigError(f"--data {mask(url_text)}: {exc}") from None
    where = url.shown()
    # Stat before the first read: a write after it changes what the next stat says.
    path, schema_set = url.path, config.source.schema
    stats = layout.database_fingerprints(path, schema_set) if path and path.is_file() else {}
    backend, dialect = connect(url, config)
    schema = config.source.schema or _default_schema(url)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")  # zoned timestamps are converted per report
    ds = Dataset(
        con=con,
        provenance={"source": "sql", "url": where, "schema": schema, "tables": {}},
        fingerprints=stats,
    )
    try:
        raw, labels = _tables(backend, url, schema, config, ds, dialect)
        if stats and _views(backend, schema, labels):
            # A view may read files outside the database (read_csv, read_parquet), whose
            # changes the database file's stat does not show: such builds are not reused.
            ds.fingerprints = {}
        canonicalize(ds, raw, config, labels, dialect)
    except DataError as exc:
        said = str(exc)  # an engine's error, explained, names the source already
        raise DataError(said if said.startswith(where) else f"{where}: {said}") from None
    finally:
        _disconnect(backend)
    logger.info("%s: %s rows came back", where, ds.provenance["rows_fetched"])
    return ds


def _default_schema(url: DbUrl) -> str:
    """Return the schema read when none is set: MySQL's schema is the URL's database."""
    if url.backend == "mysql":
        return url.database or ""
    return "public" if url.backend == "postgres" else "main"


def _tables(
    backend: Any, url: DbUrl, schema: str, config: Config, ds: Dataset, dialect: Dialect
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the raw relation and label of each table; refuse a missing seed or named one."""
    try:
        found = _table_names(backend, url, schema)
    except Exception as exc:  # a catalogue that cannot be read at all
        raise DataError(
            f"schema {schema!r} cannot be read ({first_line(exc)}); set source.schema"
        ) from None
    loadable = url.backend in ("postgres", "duckdb")  # what `reportgen load` writes to
    if not found.exists:
        load = (
            f"create it (CREATE SCHEMA {schema}) and load the tables with `reportgen load DIR "
            f"--into {url.shown()} --schema {schema}`, or "
            if loadable
            else ""
        )
        raise DataError(
            f"schema {schema!r} does not exist; {load}name the schema that holds them with "
            "source.schema (--schema)"
        )
    if not found.usable:
        raise SourceUnavailable(
            f"{url.shown()}: permission denied for schema {schema}; grant the role USAGE on it "
            f"and {GRANT.removeprefix('grant the role ')}"
        )
    raw: dict[str, Any] = {}
    labels: dict[str, str] = {}
    # Study tables are fetched whole: only when a preset lists a section that reads them.
    studied = any(s != "overview" for p in config.presets.values() for s in p.sections)
    for table in ALL_TABLES:
        name = config.source.tables.get(table, table)
        named = table in config.source.tables
        if table in STUDY_TABLES and not named and (not studied or name not in found.readable):
            continue  # optional: the report says which analyses it could not do
        if name in found.unreadable:
            raise SourceUnavailable(
                f"{url.shown()}: permission denied for table {schema}.{name} ({table}); {GRANT}"
            )
        if name not in found.readable:
            shown = ", ".join(sorted(found.readable)[:12]) or "none"
            load = "load it with `reportgen load DIR --into URL` or " if loadable else ""
            raise DataError(
                f"no table {schema}.{name} for {table} (tables in {schema}: {shown}); {load}"
                f"name it with source.tables.{table}"
            )
        raw[table] = backend.table(name, database=schema)
        dialect.unique[table] = declared_unique(backend, url.backend, schema, name)
        labels[table] = f"{schema}.{name}"
        ds.provenance["tables"][table] = {"table": f"{schema}.{name}"}
    return raw, labels


@dataclass
class _Schema:
    """What the catalogue says of a schema: is it there, and which tables the role may read."""

    exists: bool
    usable: bool = True  # PostgreSQL: the role has USAGE on it
    readable: set[str] = field(default_factory=set)
    unreadable: set[str] = field(default_factory=set)


#: PostgreSQL's own catalogue lists every table, also those the role may not read
#: (information_schema hides them, which made a permission problem look like a missing table).
_PG_TABLES = """
SELECT has_schema_privilege(n.oid, 'USAGE'), c.relname,
       has_table_privilege(c.oid, 'SELECT') OR has_any_column_privilege(c.oid, 'SELECT')
FROM pg_namespace n
LEFT JOIN pg_class c ON c.relnamespace = n.oid AND c.relkind IN ('r', 'v', 'm', 'p', 'f')
WHERE n.nspname = %s
"""


def _table_names(backend: Any, url: DbUrl, schema: str) -> _Schema:
    """Return whether ``schema`` exists, and the tables and views in it the role may read."""
    if url.backend in ("duckdb", "mysql"):
        # ibis 12's list_tables calls fetch_arrow_table, which DuckDB 2 no longer has.
        # MySQL's information_schema lists what the user has some privilege on.
        mark = "?" if url.backend == "duckdb" else "%s"
        there = f"SELECT count(*) FROM information_schema.schemata WHERE schema_name = {mark}"
        tables = f"SELECT table_name FROM information_schema.tables WHERE table_schema = {mark}"
        if not _rows(backend.con, there, schema)[0][0]:
            return _Schema(exists=False)
        return _Schema(exists=True, readable={r[0] for r in _rows(backend.con, tables, schema)})
    with backend.con.cursor() as cur:
        rows = cur.execute(_PG_TABLES, [schema]).fetchall()
    if not rows:
        return _Schema(exists=False)
    found = _Schema(exists=True, usable=bool(rows[0][0]))
    for _, name, readable in rows:
        if name is not None:
            (found.readable if readable else found.unreadable).add(name)
    return found


def connect(url: DbUrl, config: Config) -> tuple[Any, Dialect]:
    """Return the Ibis backend over the database and the dialect that runs queries in it."""
    return CONNECTORS[url.backend](url, config)


def _duckdb_file(url: DbUrl, config: Config) -> tuple[Any, Dialect]:
    """Open a DuckDB database file read-only, in UTC, with queries stopped at the timeout."""
    where, timeout = url.shown(), config.source.timeout
    assert url.path is not None
    if not url.path.is_file():
        raise SourceUnavailable(f"{where}: no such database file; check source.url")
    try:
        con = duckdb.connect(str(url.path), read_only=True)
    except duckdb.Error as exc:
        raise SourceUnavailable(f"{where}: cannot open the database: {first_line(exc)}") from None
    con.execute("SET TimeZone = 'UTC'")
    import ibis

    dialect = Dialect("duckdb", where, timeout=timeout, guard=_interrupt_after(con, timeout))
    dialect.explain = duckdb_errors(where, timeout, lambda: dialect.reading)
    return ibis.duckdb.from_connection(con), dialect


def _postgresql(url: DbUrl, config: Config) -> tuple[Any, Dialect]:
    """Connect to PostgreSQL; its errors are explained without the password."""
    where, timeout = url.shown(), config.source.timeout
    password = os.environ.get(config.source.password_env) or None
    dialect = Dialect("postgres", where, timeout=timeout)
    dialect.explain = postgres_errors(where, timeout, lambda: dialect.reading, password)
    return _postgres(url, config, password), dialect


def _mysql(url: DbUrl, config: Config) -> tuple[Any, Dialect]:
    """Connect to MySQL or MariaDB (see :mod:`reportgen.sources.mysql`)."""
    from reportgen.sources import mysql

    where, timeout = url.shown(), config.source.timeout
    backend = mysql.connect(url, config)
    dialect = Dialect("mysql", where, timeout=timeout)
    dialect.explain = mysql.mysql_errors(where, timeout, lambda: dialect.reading)
    return backend, dialect


#: How each database URL's backend is opened: the Ibis backend and the dialect of its engine.
CONNECTORS: dict[str, Callable[[DbUrl, Config], tuple[Any, Dialect]]] = {
    "duckdb": _duckdb_file,
    "postgres": _postgresql,
    "mysql": _mysql,
}


def _postgres(url: DbUrl, config: Config, password: str | None) -> Any:
    """Connect to PostgreSQL in UTC with the query timeout; errors never hold the password."""
    where = url.shown()
    try:
        import ibis
        import psycopg
        from psycopg.conninfo import make_conninfo
    except ImportError:
        raise SourceUnavailable(
            f"{where}: PostgreSQL support is not installed; pip install 'reportgen[postgres]'"
        ) from None

    env = config.source.password_env
    conninfo = make_conninfo(
        "",
        **pg_conninfo(
            url,
            password,
            connect_timeout=CONNECT_TIMEOUT_S,
            application_name="reportgen",
            options=f"-c statement_timeout={int(config.source.timeout * 1000)} -c TimeZone=UTC",
        ),
    )
    try:
        conn = psycopg.connect(conninfo, autocommit=True)
    except psycopg.Error as exc:
        raise SourceUnavailable(f"{where}: {connect_reason(exc, password, env)}") from None
    return ibis.postgres.from_connection(conn)


def _views(backend: Any, schema: str, labels: dict[str, str]) -> bool:
    """Return True when any table read from a DuckDB file is a view."""
    names = [label.split(".", 1)[1] for label in labels.values()]
    marks = ", ".join("?" for _ in names)
    sql = f"SELECT count(*) FROM duckdb_views() WHERE schema_name = ? AND view_name IN ({marks})"
    return bool(_rows(backend.con, sql, schema, *names)[0][0])


def _rows(con: Any, sql: str, *params: Any) -> list[tuple]:
    """Run a catalogue query on a DB-API connection (DuckDB's or a driver's)."""
    if isinstance(con, duckdb.DuckDBPyConnection):
        return con.execute(sql, list(params)).fetchall()
    with con.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def _interrupt_after(con: duckdb.DuckDBPyConnection, seconds: float):
    """Return a factory of timers that interrupt a DuckDB query running over ``seconds``."""
    return lambda: threading.Timer(seconds, con.interrupt)


def _disconnect(backend: Any) -> None:
    try:
        backend.disconnect()
    except Exception:  # closing is best effort: the build has what it needs
        logger.debug("closing the database connection failed", exc_info=True)
