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
from typing import Any

import duckdb

from reportgen.config import ALL_TABLES, STUDY_TABLES, Config
from reportgen.errors import DataError, SourceUnavailable
from reportgen.sources import Dataset
from reportgen.sources.dialects import (
    Dialect,
    connect_reason,
    declared_unique,
    duckdb_errors,
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
    except UrlError as exc:
        raise SourceUnavailable(f"{mask(url_text)}: {exc}") from None
    where = url.shown()
    backend, dialect = connect(url, config)
    schema = config.source.schema or ("public" if url.backend == "postgres" else "main")
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")  # zoned timestamps are converted per report
    ds = Dataset(
        con=con,
        provenance={"source": "sql", "url": where, "schema": schema, "tables": {}},
    )
    try:
        raw, labels = _tables(backend, url, schema, config, ds, dialect)
        canonicalize(ds, raw, config, labels, dialect)
    except DataError as exc:
        raise DataError(f"{where}: {exc}") from None
    finally:
        _disconnect(backend)
    logger.info("%s: %s rows came back", where, ds.provenance["rows_fetched"])
    return ds


def _tables(
    backend: Any, url: DbUrl, schema: str, config: Config, ds: Dataset, dialect: Dialect
) -> tuple[dict[str, Any], dict[str, str]]:
    """Return the raw relation and label of each table; refuse a missing seed or named one."""
    try:
        found = _table_names(backend, url, schema)
    except Exception as exc:  # a missing schema is reported the same way by every driver
        raise DataError(
            f"schema {schema!r} cannot be read ({_first_line(exc)}); set source.schema"
        ) from None
    raw: dict[str, Any] = {}
    labels: dict[str, str] = {}
    for table in ALL_TABLES:
        name = config.source.tables.get(table, table)
        if table in STUDY_TABLES and name not in found and table not in config.source.tables:
            continue  # optional: the report says which analyses it could not do
        if name not in found:
            shown = ", ".join(sorted(found)[:12]) or "none"
            raise DataError(
                f"no table {schema}.{name} for {table} (tables in {schema}: {shown}); load it "
                f"with `reportgen load DIR --into URL` or name it with source.tables.{table}"
            )
        raw[table] = backend.table(name, database=schema)
        dialect.unique[table] = declared_unique(backend, url.backend, schema, name)
        labels[table] = f"{schema}.{name}"
        ds.provenance["tables"][table] = {"table": f"{schema}.{name}"}
    return raw, labels


def _table_names(backend: Any, url: DbUrl, schema: str) -> set[str]:
    """Return the tables and views in ``schema``; a schema that does not exist has none."""
    if url.backend == "duckdb":
        # ibis 12's list_tables calls fetch_arrow_table, which DuckDB 2 no longer has.
        rows = backend.con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?", [schema]
        ).fetchall()
        return {r[0] for r in rows}
    return set(backend.list_tables(database=schema))


def connect(url: DbUrl, config: Config) -> tuple[Any, Dialect]:
    """Return the Ibis backend over the database and the dialect that runs queries in it."""
    where, timeout = url.shown(), config.source.timeout
    if url.backend == "duckdb":
        assert url.path is not None
        if not url.path.is_file():
            raise SourceUnavailable(f"{where}: no such database file; check source.url")
        try:
            con = duckdb.connect(str(url.path), read_only=True)
        except duckdb.Error as exc:
            raise SourceUnavailable(
                f"{where}: cannot open the database: {_first_line(exc)}"
            ) from None
        con.execute("SET TimeZone = 'UTC'")
        import ibis

        dialect = Dialect(
            "duckdb",
            where,
            timeout=timeout,
            explain=duckdb_errors(where),
            guard=_interrupt_after(con, timeout),
        )
        return ibis.duckdb.from_connection(con), dialect
    explain = postgres_errors(where, timeout)
    return _postgres(url, config), Dialect("postgres", where, timeout=timeout, explain=explain)


def _postgres(url: DbUrl, config: Config) -> Any:
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
    password = os.environ.get(env) or None
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


def _interrupt_after(con: duckdb.DuckDBPyConnection, seconds: float):
    """Return a factory of timers that interrupt a DuckDB query running over ``seconds``."""
    return lambda: threading.Timer(seconds, con.interrupt)


def _disconnect(backend: Any) -> None:
    try:
        backend.disconnect()
    except Exception:  # closing is best effort: the build has what it needs
        logger.debug("closing the database connection failed", exc_info=True)


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
