"""What differs between engines, in one place: fetching, non-finite numbers, errors.

The canonical layer and the metrics speak Ibis; what Ibis leaves to each engine is here.
Division by zero (DuckDB gives inf, PostgreSQL and Spark raise) never reaches an engine:
nothing is divided there. Ratios (ROAS, shares, changes) are computed after the aggregates
come back, with zero denominators reported as n/a. Time zones: every session runs in UTC
(set when connecting), and zoned buckets travel as epoch seconds, a type every engine shares.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa

from reportgen.errors import SourceUnavailable
from reportgen.sources import Dataset

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

    def fetch(self, ds: Dataset, expr: ir.Table) -> pa.Table:
        """Run ``expr`` in the engine and return its (small) result, counting the rows."""
        timer = self.guard() if self.guard else None
        if timer:
            timer.start()
        try:
            out = expr.to_pyarrow()
        except Exception as exc:  # engine errors differ per driver; explain() sorts them
            mapped = self.explain(exc)
            if mapped is None:
                raise
            raise mapped from None
        finally:
            if timer:
                timer.cancel()
        ds.provenance["rows_fetched"] = ds.provenance.get("rows_fetched", 0) + out.num_rows
        return out

    def fetch_row(self, ds: Dataset, expr: ir.Table) -> dict[str, Any]:
        """Return the one row of an aggregate as a dict."""
        return self.fetch(ds, expr).to_pylist()[0]

    def not_finite(self, col: ir.Value) -> ir.BooleanValue:
        """Return True where a number is NaN or infinite (only floating columns can be)."""
        if not col.type().is_floating():
            return ibis.literal(False)
        return col.isnan() | col.isinf()


def postgres_errors(where: str, timeout: float | None) -> Callable[[Exception], Exception | None]:
    """Return the explainer of PostgreSQL errors met while querying."""

    def explain(exc: Exception) -> Exception | None:
        import psycopg

        if isinstance(exc, psycopg.errors.QueryCanceled):
            return SourceUnavailable(
                f"{where}: a query ran longer than source.timeout ({timeout:g} s) and was "
                "stopped; raise source.timeout, or add indexes or a summary table"
            )
        if isinstance(exc, psycopg.OperationalError):
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            return SourceUnavailable(f"{where}: the database stopped answering ({first}); retry")
        return None

    return explain


def duckdb_errors(where: str) -> Callable[[Exception], Exception | None]:
    """Return the explainer of DuckDB errors met while querying a database file."""

    def explain(exc: Exception) -> Exception | None:
        import duckdb

        if isinstance(exc, duckdb.InterruptException):
            return SourceUnavailable(f"{where}: a query ran longer than source.timeout; raise it")
        if isinstance(exc, duckdb.IOException):
            return SourceUnavailable(f"{where}: cannot read the database file: {exc}")
        return None

    return explain
