"""How the SQL source queries: declared-unique ids, results fetched in batches (real PostgreSQL)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import ibis
import pytest

from reportgen.errors import DataError
from reportgen.sources import Dataset
from reportgen.sources.database import connect, open_database
from reportgen.sources.dialects import Dialect, declared_unique
from reportgen.sources.rules import whole_aggregates
from reportgen.sources.url import parse_url
from tests.conftest import make_config
from tests.test_load import PG, run
from tests.test_load import pg_schema as pg_schema  # a fixture, used by pg


@pytest.fixture
def pg(pg_schema: tuple[Any, str]) -> tuple[Any, str]:
    """Return a connection and a fresh schema, dropped afterwards (test_load's fixture)."""
    return pg_schema


TABLE = """CREATE TABLE {s}.k (
    a text PRIMARY KEY, b integer UNIQUE, c integer, d integer, e integer, f text,
    UNIQUE (c, d))"""


def test_postgres_declares_one_column_keys_only(pg):
    conn, schema = pg
    conn.execute(TABLE.format(s=schema))
    conn.execute(f"CREATE UNIQUE INDEX ON {schema}.k (e) WHERE e > 0")  # partial: not all rows
    conn.execute(f"CREATE UNIQUE INDEX ON {schema}.k (lower(f))")  # an expression, not f
    conn.execute(f"CREATE VIEW {schema}.v AS SELECT * FROM {schema}.k")
    backend = ibis.postgres.from_connection(conn)
    assert declared_unique(backend, "postgres", schema, "k") == {"a", "b"}
    assert declared_unique(backend, "postgres", schema, "v") == frozenset()
    assert declared_unique(backend, "postgres", "no_such_schema", "k") == frozenset()


def test_duckdb_declares_one_column_keys_only(tmp_path: Path):
    con = duckdb.connect(str(tmp_path / "k.duckdb"))
    con.execute(TABLE.format(s="main"))
    con.execute("CREATE TABLE plain (a text)")
    backend = ibis.duckdb.from_connection(con)
    assert declared_unique(backend, "duckdb", "main", "k") == {"a", "b"}
    assert declared_unique(backend, "duckdb", "main", "plain") == frozenset()


def test_a_declared_key_is_not_checked_for_repeats():
    con = duckdb.connect()
    con.execute("CREATE TABLE tracking_data (tracking_id VARCHAR, revenue DOUBLE)")
    con.execute("INSERT INTO tracking_data VALUES ('T1', 10), ('T2', 20), ('T3', 30)")
    t = ibis.duckdb.from_connection(con).table("tracking_data")
    dialect = Dialect("duckdb", "test")
    checked, rel = whole_aggregates(t, "tracking_data", "tracking_id", dialect, lag=True)
    declared, rel2 = whole_aggregates(
        t, "tracking_data", "tracking_id", dialect, lag=True, unique=True
    )
    assert "LAG(" in ibis.to_sql(rel.aggregate(**checked))
    sql = ibis.to_sql(rel2.aggregate(**declared))
    assert "LAG(" not in sql and "DISTINCT" not in sql  # one plain, parallel scan
    assert rel2.aggregate(**declared).to_pyarrow().to_pylist()[0]["n_ids"] == 3


def _keyed(tmp_path: Path, tiny: Path, conn, schema: str, values: str = "") -> object:
    """Load tiny into ``schema`` with a primary key on tracking_id; return its config."""
    assert run("load", str(tiny), "--into", PG, "--schema", schema, cwd=tmp_path).returncode == 0
    conn.execute(f"ALTER TABLE {schema}.tracking_data ADD PRIMARY KEY (tracking_id)")
    return make_config(
        tmp_path,
        f"source: {{kind: sql, url: '{PG}', schema: {schema}{values}}}\npresets: {{a: {{}}}}\n",
    )


def test_keyed_postgres_table_gives_the_same_counts(tmp_path, tiny, pg):
    conn, schema = pg
    cfg = _keyed(tmp_path, tiny, conn, schema)
    ds = open_database(PG, cfg)
    assert ds.rows["tracking_data"] == 9
    agg = ds.con.execute("SELECT sum(n), sum(revenue), sum(orders) FROM tracking_agg").fetchone()
    assert agg is not None and (agg[0], float(agg[1]), agg[2]) == (9, 8699.0, 12)
    assert [i.kind for i in ds.issues if i.table == "tracking_data"] == []


def test_value_map_that_merges_keyed_ids_is_still_caught(tmp_path, tiny, pg):
    conn, schema = pg
    # T02 mapped onto T01: unique in the database, one id over two different rows here.
    values = ", values: {tracking_data.tracking_id: {T02: T01}}"
    cfg = _keyed(tmp_path, tiny, conn, schema, values)
    with pytest.raises(DataError, match="id 'T01' is on rows that differ"):
        open_database(PG, cfg)


def _backend(tmp_path: Path, schema: str, timeout: float = 60):
    cfg = make_config(
        tmp_path,
        f"source: {{kind: sql, url: '{PG}', schema: {schema}, timeout: {timeout}}}\n"
        "presets: {a: {}}\n",
    )
    return connect(parse_url(PG, tmp_path), cfg)


def test_results_come_back_whole_in_batches(tmp_path, pg):
    conn, schema = pg
    # 2,500 rows: i = 1..2500, day = 2025-01-01 + i % 7, amount = i / 4 (exact), every
    # 10th label null; grouped by day: 7 groups.
    conn.execute(
        f"CREATE TABLE {schema}.f AS SELECT i, (DATE '2025-01-01' + i % 7) AS day, "
        f"(i / 4.0)::double precision AS amount, CASE WHEN i % 10 = 0 THEN NULL "
        f"ELSE 'L' || i END AS label FROM generate_series(1, 2500) AS i"
    )
    backend, dialect = _backend(tmp_path, schema)
    dialect.fetch_rows = 1_000  # three batches
    t = backend.table("f", database=schema)
    ds = Dataset(con=duckdb.connect())
    rows = dialect.fetch(ds, t.order_by("i"))
    assert rows.num_rows == 2_500 and ds.provenance["rows_fetched"] == 2_500
    assert rows.equals(t.order_by("i").to_pyarrow())  # the same values and types as Ibis
    assert rows.column("label").null_count == 250
    assert sum(rows.column("amount").to_pylist()) == 2500 * 2501 / 2 / 4
    agg = t.group_by("day").aggregate(n=t.count(), total=t.amount.cast("decimal(18, 4)").sum())
    got = dialect.fetch(ds, agg.order_by("day")).to_pylist()
    # 2500 = 7 * 357 + 1: i = 2500 is the extra one, with i % 7 == 1 (the second day)
    assert [r["n"] for r in got] == [357, 358, 357, 357, 357, 357, 357]
    assert float(sum(r["total"] for r in got)) == 781_562.5  # 3,126,250 / 4
    empty = dialect.fetch(ds, t.filter(t.i > 9_999))
    assert empty.num_rows == 0 and empty.schema == rows.schema
    assert ds.provenance["rows_fetched"] == 2_507
