"""`reportgen load` into the real PostgreSQL on 127.0.0.1:5432 and into a DuckDB file."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from tests.test_simulate import TINY as TINY_SPEC

PG = "postgresql://postgres@127.0.0.1:5432/test"
SECRET = "s3cret-Pa55"  # set as the password; must never appear in any output


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run the command line with a password in the environment, as a user would."""
    return run_cli(*args, cwd=cwd, env={"REPORTGEN_DB_PASSWORD": SECRET})


def _pg():
    psycopg = pytest.importorskip("psycopg", reason="psycopg not installed (reportgen[postgres])")
    try:
        return psycopg.connect(PG, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(f"no PostgreSQL on 127.0.0.1:5432 ({str(exc).splitlines()[0]})")


@pytest.fixture
def pg_schema() -> Iterator[tuple[object, str]]:
    """Return a connection and a fresh schema, dropped afterwards."""
    conn = _pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield conn, schema
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


def tables(conn, schema: str) -> list[str]:
    rows = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
        [schema],
    ).fetchall()
    return [r[0] for r in rows]


def test_csv_folder_lands_typed_and_whole_in_postgres(tmp_path, tiny, pg_schema):
    conn, schema = pg_schema
    r = run("load", str(tiny), "--into", PG, "--schema", schema, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert f"{schema}.tracking_data\t9" in r.stdout.splitlines()
    assert tables(conn, schema) == ["influencers", "payouts", "posts", "tracking_data"]
    # tests/data/tiny/tracking_data.csv by hand: 9 rows, revenue 2000 + 1500 + 500 + 1200 + 400 + 800 + 300 + 1000 + 999 = 8,699;
    total = conn.execute(f"SELECT count(*), sum(revenue), sum(orders) FROM {schema}.tracking_data")
    assert total.fetchone() == (9, 8699.0, 12)  # orders 1+2+1+3+1+1+1+1+1
    first = conn.execute(
        f"SELECT tracking_id, date, revenue FROM {schema}.tracking_data ORDER BY tracking_id"
    ).fetchone()
    assert first == ("T01", datetime(2025, 7, 2, 11, 0), 2000.0)  # naive stays naive
    types = dict(
        conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'influencers'",
            [schema],
        ).fetchall()
    )
    assert types["influencer_id"] == "text" and types["follower_count"] == "bigint"


def test_parquet_folder_round_trips_every_value(tmp_path, pg_schema):
    conn, schema = pg_schema
    from reportgen.sources.simulate import simulate

    data = tmp_path / "sim"
    simulate(replace(TINY_SPEC, rows=2_500), data)
    assert run("load", str(data), "--into", PG, "--schema", schema, cwd=tmp_path).returncode == 0
    want = pq.read_table(data / "tracking_data.parquet").sort_by("tracking_id").to_pylist()
    cols = ", ".join(want[0])
    got = conn.execute(f"SELECT {cols} FROM {schema}.tracking_data ORDER BY tracking_id")
    assert [dict(zip(want[0], row, strict=True)) for row in got.fetchall()] == want


def test_mapped_names_are_loaded_under_ours(tmp_path, tiny, pg_schema):
    conn, schema = pg_schema
    (tiny / "tracking_data.csv").rename(tiny / "tracking.csv")
    text = (tiny / "tracking.csv").read_text().replace(",revenue\n", ",amount\n", 1)
    (tiny / "tracking.csv").write_text(text)
    (tmp_path / "config.yaml").write_text(
        "source:\n  kind: files\n  path: tiny\n  files: {tracking_data: tracking}\n"
        "  columns: {tracking_data: {revenue: amount}}\npresets: {a: {}}\n"
    )
    r = run("load", "tiny", "--into", PG, "--schema", schema, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert conn.execute(f"SELECT sum(revenue) FROM {schema}.tracking_data").fetchone() == (8699.0,)


def test_failed_load_leaves_the_old_tables(tmp_path, tiny, pg_schema):
    conn, schema = pg_schema
    assert run("load", str(tiny), "--into", PG, "--schema", schema, cwd=tmp_path).returncode == 0
    bigger = tmp_path / "bigger"
    shutil.copytree(tiny, bigger)
    lines = (bigger / "tracking_data.csv").read_text().splitlines()
    (bigger / "tracking_data.csv").write_text("\n".join([*lines, lines[-1].replace("T", "X")]))
    (bigger / "payouts.csv").write_bytes(b'influencer_id,basis\n\xff\xfe,"unclosed\n')  # last
    r = run("load", str(bigger), "--into", PG, "--schema", schema, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert r.stderr.count("\n") == 1 and "payouts.csv" in r.stderr
    assert tables(conn, schema) == ["influencers", "payouts", "posts", "tracking_data"]
    assert conn.execute(f"SELECT count(*) FROM {schema}.tracking_data").fetchone() == (9,)
    # A good load replaces them whole.
    (bigger / "payouts.csv").write_bytes((tiny / "payouts.csv").read_bytes())
    assert run("load", str(bigger), "--into", PG, "--schema", schema, cwd=tmp_path).returncode == 0
    assert conn.execute(f"SELECT count(*) FROM {schema}.tracking_data").fetchone() == (10,)
    assert tables(conn, schema) == ["influencers", "payouts", "posts", "tracking_data"]


@pytest.mark.parametrize(
    ("url", "schema", "code", "says"),
    [
        ("postgresql://postgres@127.0.0.1:1/test", None, 4, "cannot connect"),
        ("postgresql://no_such_role@127.0.0.1:5432/test", None, 4, "check the user in the URL"),
        ("postgresql://postgres@127.0.0.1:5432/no_such_db", None, 4, "fix the database name"),
        (PG, "no_such_schema", 4, "schema 'no_such_schema' does not exist"),
        (f"postgresql://postgres:{SECRET}@127.0.0.1:5432/test", None, 2, "not allowed"),
        ("mysql://x@host/db", None, 2, "unsupported URL"),
        ("postgresql://u@h:abc/db", None, 2, "not a database URL"),
        ("postgresql://u@h:99999/db", None, 2, "not a database URL"),
        ("postgresql://u@[::1/db", None, 2, "not a database URL"),
    ],
    ids=[
        "unreachable",
        "bad-role",
        "no-database",
        "no-schema",
        "password-in-url",
        "scheme",
        "bad-port",
        "port-out-of-range",
        "bad-host",
    ],
)
def test_errors_are_one_line_and_never_show_the_password(tmp_path, tiny, url, schema, code, says):
    if "5432" in url:
        _pg().close()  # skip where no server runs
    extra = ("--schema", schema) if schema else ()
    r = run("load", str(tiny), "--into", url, *extra, cwd=tmp_path)
    assert r.returncode == code, r.stderr
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("reportgen: error: ")
    assert says in r.stderr and SECRET not in r.stderr + r.stdout


def test_duckdb_file_is_replaced_in_one_transaction(tmp_path, tiny):
    db = tmp_path / "reports.duckdb"
    url = f"duckdb://{db}"  # duckdb:///abs/path, as ibis reads it
    assert url.startswith("duckdb:///")
    r = run("load", str(tiny), "--into", url, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tiny / "posts.csv").write_bytes(b"post_id,reach\n\xff\xfe,1\n")  # not UTF-8
    assert run("load", str(tiny), "--into", url, cwd=tmp_path).returncode == 3
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()]
        assert sorted(names) == ["influencers", "payouts", "posts", "tracking_data"]
        assert con.execute("SELECT count(*), sum(revenue) FROM tracking_data").fetchone() == (
            9,
            8699.0,
        )
        assert con.execute("SELECT count(*) FROM posts").fetchone() == (5,)
    finally:
        con.close()
    missing = run("load", str(tiny), "--into", url, "--schema", "nope", cwd=tmp_path)
    assert missing.returncode == 4 and "schema 'nope' does not exist" in missing.stderr


def test_declared_number_format_is_read_as_a_build_reads_it(tmp_path, tiny):
    # A file writing 1.500,25 for 1500.25: loaded numbers must equal what a build reads.
    text = (tiny / "tracking_data.csv").read_text().replace(",2000\n", ',"2.000,25"\n')
    (tiny / "tracking_data.csv").write_text(text)
    (tmp_path / "config.yaml").write_text(
        "source: {decimal: ',', thousands: '.'}\npresets: {x: {}}\n"
    )
    db = tmp_path / "de.duckdb"
    r = run("load", str(tiny), "--into", f"duckdb://{db}", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:
        total = con.execute("SELECT sum(revenue), sum(orders) FROM tracking_data").fetchone()
    finally:
        con.close()
    assert total == (8699.25, 12)  # 8,699 with 2,000 read as 2,000.25
    # Without the declaration the same value is refused, naming the row, not guessed.
    (tmp_path / "config.yaml").write_text("presets: {x: {}}\n")
    r = run("load", str(tiny), "--into", f"duckdb://{db}", cwd=tmp_path)
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert "tracking_data.csv: row 1 (line 2), column 'revenue'" in r.stderr
