"""What differs between engines, in one place: where results go, non-finite numbers, errors.

The canonical rules (:mod:`reportgen.sources.rules`) and the metrics speak Ibis; what Ibis
leaves to each engine is here. Two kinds of engine:

- **local**: the build's own DuckDB (folders of files). Intermediate relations become views,
  results become tables in place, and a second scan can run beside the first on a cursor.
- **remote**: a database or cluster (PostgreSQL, a DuckDB file, Spark). Nothing is created
  there; what the build keeps (counts, examples, the small dimensions, the aggregate of the
  facts) is fetched into the local DuckDB, and ``provenance["rows_fetched"]`` counts it.

Division by zero (DuckDB gives inf, PostgreSQL and Spark raise) never reaches an engine:
nothing is divided there. Ratios (ROAS, shares, changes) are computed after the aggregates
come back, with zero denominators reported as n/a. Time zones: every session runs in UTC,
and zoned buckets travel as epoch seconds, a type every engine shares.
"""

from __future__ import annotations

import itertools
import logging
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from reportgen.errors import DataError, SourceUnavailable
from reportgen.sources import Dataset
from reportgen.sources.url import PASSWORD_ENV

logger = logging.getLogger(__name__)


@dataclass
class Dialect:
    """One engine's way of running the canonical layer's queries."""

    name: str  # "duckdb", "postgres", "pyspark"
    #: Where messages say the data is (a URL without secrets, or a folder).
    where: str
    timeout: float | None = None
    #: Turns an engine exception into a user error, or returns None to let it through.
    explain: Callable[[Exception], Exception | None] = field(default=lambda exc: None)
    #: Makes a timer that stops a query over the timeout, where the engine has none of its own.
    guard: Callable[[], threading.Timer] | None = None
    #: The build's own DuckDB: relations are staged as views, results land in place.
    local: bool = False
    backend: Any = None  # the local Ibis backend (local dialects only)
    #: Per seed table, the source columns (casefolded) that a one-column primary key or
    #: unique constraint declares unique: their ids need no check for repeats.
    unique: dict[str, frozenset[str]] = field(default_factory=dict)
    #: Rows per batch a PostgreSQL result becomes Arrow in (see :func:`_postgres_arrow`).
    fetch_rows: int = 20_000
    #: The table the queries running now read (``schema.table``), for error messages.
    reading: str | None = None

    @classmethod
    def local_duckdb(cls, ds: Dataset, where: str) -> Dialect:
        """Return the dialect of the build's own DuckDB connection."""
        return cls("duckdb", where, local=True, backend=ds.backend)

    def table(self, name: str) -> ir.Table:
        """Return a relation of the local connection by name."""
        return self.backend.table(name)

    def stage(self, ds: Dataset, name: str, expr: ir.Table) -> ir.Table:
        """Return ``expr`` as a named view where that is cheap (locally), else as it is."""
        if not self.local:
            return expr
        ds.con.execute(f'CREATE OR REPLACE VIEW "{name}" AS {self.backend.compile(expr)}')
        return self.backend.table(name)

    def land(self, ds: Dataset, name: str, expr: ir.Table, *, table: bool = False) -> None:
        """Keep a result in the build's DuckDB as ``name`` (fetched, when the engine is remote)."""
        if self.local:
            kind = "TABLE" if table else "VIEW"
            sql = self.backend.compile(expr)
            ds.con.execute(f'CREATE OR REPLACE {kind} "{name}" AS {sql}')
            return
        arrow = self.fetch(ds, expr)
        ds.con.register("_landing", arrow)
        try:
            ds.con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM _landing')
        finally:
            ds.con.unregister("_landing")

    def fetch(self, ds: Dataset, expr: ir.Table) -> pa.Table:
        """Run ``expr`` in the engine and return its (small) result, counting the rows."""
        timer = self.guard() if self.guard else None
        if timer:
            timer.start()
        try:
            remote_pg = self.name == "postgres" and not self.local
            out = _postgres_arrow(expr, self.fetch_rows) if remote_pg else expr.to_pyarrow()
        except Exception as exc:  # engine errors differ per driver; explain() sorts them
            mapped = self.explain(exc)
            if mapped is None:
                raise
            raise mapped from None
        finally:
            if timer:
                timer.cancel()
        if not self.local:
            ds.provenance["rows_fetched"] = ds.provenance.get("rows_fetched", 0) + out.num_rows
        return out

    def fetch_row(self, ds: Dataset, expr: ir.Table) -> dict[str, Any]:
        """Return the one row of an aggregate as a dict."""
        return self.fetch(ds, expr).to_pylist()[0]

    def beside(self, ds: Dataset, expr: ir.Table) -> Callable[[], dict[str, Any]]:
        """Start a one-row query beside the next one where the engine allows; return its getter.

        Locally a scan of facts is mostly single-threaded, so a second one on its own cursor
        uses the idle core; a remote engine runs it when asked.
        """
        if not self.local:
            return lambda: self.fetch_row(ds, expr)
        sql = self.backend.compile(expr)
        cursor = ds.con.cursor()
        pool = ThreadPoolExecutor(max_workers=1)
        done: Future = pool.submit(_one_row, cursor, sql)
        pool.shutdown(wait=False)

        def result() -> dict[str, Any]:
            try:
                return done.result()
            finally:
                cursor.close()

        result.cancel = cursor.interrupt  # type: ignore[attr-defined]
        return result

    def not_finite(self, col: ir.Value) -> ir.BooleanValue:
        """Return True where a number is NaN or infinite (only floating columns can be)."""
        if not col.type().is_floating() or self.name == "mysql":
            return ibis.literal(False)  # MySQL and MariaDB store no NaN or infinity
        return col.isnan() | col.isinf()


def _one_row(cursor: Any, sql: str) -> dict[str, Any]:
    res = cursor.execute(sql)
    names = [d[0] for d in res.description]
    return dict(zip(names, res.fetchall()[0], strict=True))


def _postgres_arrow(expr: ir.Table, rows: int) -> pa.Table:
    """Run ``expr`` in PostgreSQL on a client-side cursor; convert its rows ``rows`` at a time.

    Ibis fetches through a server-side cursor (DECLARE), and PostgreSQL never runs a
    cursor's query with parallel workers: the aggregate of 1M tracking rows took 7-9 s that
    way against 5.5 s as a plain query. And the driver hands rows over as Python objects:
    converted all at once, the 300k-row aggregate of 10M rows took 250 MB for a 21 MB Arrow
    table; converted in batches, those objects are freed as they go.
    """
    backend = expr._find_backend()
    schema = expr.schema()
    arrow_schema, struct = schema.to_pyarrow(), schema.as_struct().to_pyarrow()
    batches = []
    with backend.con.cursor() as cur:
        stream = cur.stream(backend.compile(expr), size=rows)
        while batch := list(itertools.islice(stream, rows)):
            batches.append(pa.RecordBatch.from_struct_array(pa.array(batch, type=struct)))
    table = pa.Table.from_batches(batches, schema=struct_schema(struct))
    return table.rename_columns(list(expr.columns)).cast(arrow_schema)


def struct_schema(struct: pa.StructType) -> pa.Schema:
    """Return the schema of the record batches made from arrays of ``struct``."""
    return pa.schema([struct.field(i) for i in range(struct.num_fields)])


def declared_unique(backend: Any, kind: str, schema: str, table: str) -> frozenset[str]:
    """Return the columns of ``schema.table`` declared unique on their own (casefolded).

    Only one-column primary keys and unique constraints (PostgreSQL: unique indexes without
    a predicate or expression) count; the database enforces them, so counting distinct ids
    over the whole table would only confirm what it already guarantees. Best effort: a
    catalogue that cannot be read declares nothing, and the ids are counted.
    """
    try:
        if kind == "duckdb":
            rows = backend.con.execute(
                "SELECT constraint_column_names FROM duckdb_constraints() WHERE schema_name = ?"
                " AND table_name = ? AND constraint_type IN ('PRIMARY KEY', 'UNIQUE')",
                [schema, table],
            ).fetchall()
            return frozenset(r[0][0].casefold() for r in rows if len(r[0]) == 1)
        with backend.con.cursor() as cur:
            cur.execute(_MYSQL_UNIQUE if kind == "mysql" else _PG_UNIQUE, [schema, table])
            return frozenset(r[0].casefold() for r in cur.fetchall())
    except Exception:  # the catalogue is an optimisation only; the scan stays correct
        logger.debug("cannot read the constraints of %s.%s", schema, table, exc_info=True)
        return frozenset()


#: MySQL and MariaDB: unique indexes (the primary key among them) of one column.
_MYSQL_UNIQUE = """
SELECT MIN(column_name) FROM information_schema.statistics
WHERE table_schema = %s AND table_name = %s AND non_unique = 0
GROUP BY index_name HAVING count(*) = 1
"""

_PG_UNIQUE = """
SELECT a.attname FROM pg_index i
JOIN pg_class c ON c.oid = i.indrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = i.indkey[0]
WHERE n.nspname = %s AND c.relname = %s AND i.indisunique AND i.indisvalid
  AND i.indnkeyatts = 1 AND i.indpred IS NULL AND i.indexprs IS NULL
"""


#: What to do about a role that may not read what reportgen reads.
GRANT = "grant the role SELECT on the tables (and columns) reportgen reads"


def postgres_errors(
    where: str,
    timeout: float | None,
    reading: Callable[[], str | None] = lambda: None,
    password: str | None = None,
) -> Callable[[Exception], Exception | None]:
    """Return the explainer of PostgreSQL errors met while querying.

    ``reading`` names the table being read when the error came, ``password`` is masked out.
    """

    def explain(exc: Exception) -> Exception | None:
        import psycopg

        if not isinstance(exc, psycopg.Error):
            return None
        first = hide_password(first_line(exc), password)
        if isinstance(exc, psycopg.errors.QueryCanceled):
            return over_timeout(where, timeout)
        if isinstance(exc, psycopg.OperationalError):
            return SourceUnavailable(f"{where}: the database stopped answering ({first}); retry")
        state = exc.sqlstate or ""
        if state == "42501":  # insufficient_privilege
            return SourceUnavailable(f"{where}: {_reading(reading())}{first}; {GRANT}")
        # Data exceptions (class 22): division by zero, a bad cast, overflow.
        return read_failed(where, reading(), first, data=state.startswith("22"))

    return explain


def duckdb_errors(
    where: str, timeout: float | None = None, reading: Callable[[], str | None] = lambda: None
) -> Callable[[Exception], Exception | None]:
    """Return the explainer of DuckDB errors met while querying a database file."""

    def explain(exc: Exception) -> Exception | None:
        import duckdb

        if isinstance(exc, duckdb.InterruptException):
            return over_timeout(where, timeout)
        if isinstance(exc, duckdb.IOException):
            return SourceUnavailable(f"{where}: cannot read the database file: {exc}")
        data = (duckdb.ConversionException, duckdb.OutOfRangeException)
        if isinstance(exc, (*data, duckdb.InvalidInputException)):
            return read_failed(where, reading(), first_line(exc), data=True)
        if isinstance(exc, (duckdb.PermissionException, duckdb.CatalogException)):
            return read_failed(where, reading(), first_line(exc), data=False)
        return None

    return explain


def over_timeout(where: str, timeout: float | None) -> SourceUnavailable:
    """Return the error for a query the engine stopped at ``source.timeout``."""
    limit = f" ({timeout:g} s)" if timeout is not None else ""
    return SourceUnavailable(
        f"{where}: a query ran longer than source.timeout{limit} and was stopped; raise "
        "source.timeout, or add indexes or a summary table"
    )


def read_failed(where: str, table: str | None, text: str, *, data: bool) -> Exception:
    """Return the error for a query that failed reading ``table``: bad data (exit 3) or not."""
    told = f"{where}: {f'reading {table} failed' if table else 'reading failed'}: {text}"
    return DataError(f"{told}; fix the data or the view") if data else SourceUnavailable(told)


def _reading(table: str | None) -> str:
    return f"reading {table}: " if table else ""


def first_line(exc: Exception) -> str:
    """Return the first line of an exception's message (its type when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def hide_password(text: str, password: str | None) -> str:
    """Return ``text`` with the password replaced where it stands alone, not inside a word.

    A short password is often part of ordinary words ("o" in "role"): replacing every
    occurrence garbles the message and hides nothing, since the word is not the secret.
    """
    if not password:
        return text
    # A guard only where the password's own edge is a letter or digit: "-pw" after a
    # letter is still the whole secret.
    before = r"(?<![A-Za-z0-9])" if password[0].isalnum() else ""
    after = r"(?![A-Za-z0-9])" if password[-1].isalnum() else ""
    return re.sub(before + re.escape(password) + after, "***", text)


def connect_reason(exc: Exception, password: str | None, env: str = PASSWORD_ENV) -> str:
    """Return why PostgreSQL refused a connection and what to do, in one line, no password."""
    reason = first_line(exc).split("failed: ")[-1].removeprefix("FATAL:").strip()
    # Advice is chosen on the driver's own words; the password is masked in what is shown.
    low = reason.lower()
    if (
        "password authentication failed" in low
        or "no password supplied" in low
        or ("role" in low and "does not exist" in low)
    ):
        said = f"{reason}: check the user in the URL and the password in ${env}"
    elif "database" in low and "does not exist" in low:
        said = f"{reason}: create it or fix the database name in the URL"
    elif any(
        k in low for k in ("refused", "timeout", "translate host", "resolve host", "no route")
    ):
        said = f"cannot connect ({reason}): check host and port, and that PostgreSQL is running"
    else:
        said = reason
    return hide_password(said, password)
