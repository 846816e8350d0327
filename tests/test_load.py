"""`reportgen load` into the real PostgreSQL on 127.0.0.1:5432 and into a DuckDB file."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq
import pytest

from tests.conftest import TINY, run_cli
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
        ("oracle://x@host/db", None, 2, "unknown database scheme 'oracle://'"),
        ("mysql://x@host/db", None, 2, "reportgen load writes to PostgreSQL"),
        ("postgresql://u@h:abc/db", None, 2, "the port is not a number from 1 to 65535"),
        ("postgresql://u@h:99999/db", None, 2, "the port is not a number from 1 to 65535"),
        ("postgresql://u@[::1/db", None, 2, "not a database URL"),
        # A build refuses these too (one parser): no guessing localhost for libpq's socket.
        ("postgresql:///test", None, 2, "needs a host and a database"),
        # URL parameters go through to libpq (this server has no SSL) or are refused.
        (f"{PG}?sslmode=require", None, 4, "?sslmode=require: server does not support SSL"),
        (f"{PG}?sslmode=disable&foo=1", None, 2, "unknown URL parameter 'foo'"),
        (f"{PG}?password={SECRET}", None, 2, "?password=***: a password in the URL"),
        (f"postgresql://u:{SECRET}/x@h/db", None, 2, "postgresql://u:***@h/db"),
    ],
    ids=[
        "unreachable",
        "bad-role",
        "no-database",
        "no-schema",
        "password-in-url",
        "scheme",
        "mysql-not-a-load-target",
        "bad-port",
        "port-out-of-range",
        "bad-host",
        "no-host",
        "sslmode-passed",
        "unknown-parameter",
        "password-parameter",
        "password-with-slash",
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


# --- what the target holds: tables the folder lacks, views, dependents ----------------------
STUDY = ["assignments", "conversions", "touchpoints"]


def _duckdb_tables(db: Path) -> list[str]:
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("SELECT table_name FROM duckdb_tables() ORDER BY 1").fetchall()
    return [r[0] for r in rows]


@pytest.fixture(params=["postgresql", "duckdb"])
def target(request, tmp_path) -> Iterator[tuple[list[str], Callable[[], list[str]], Any]]:
    """Return (--into args, a function listing the target's tables, a SQL runner)."""
    if request.param == "duckdb":
        db = tmp_path / "wh.duckdb"

        def sql(statement: str) -> list[tuple]:
            with duckdb.connect(str(db)) as con:
                return con.execute(statement).fetchall()

        yield ["--into", f"duckdb://{db}"], lambda: _duckdb_tables(db), sql
        return
    conn = _pg()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn.execute(f"CREATE SCHEMA {schema}")
    conn.execute(f"SET search_path = {schema}")

    def sql_pg(statement: str) -> list[tuple]:
        cur = conn.execute(statement)
        return cur.fetchall() if cur.description else []

    try:
        yield ["--into", PG, "--schema", schema], lambda: tables(conn, schema), sql_pg
    finally:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")
        conn.close()


@pytest.fixture
def study(tmp_path, tiny) -> Path:
    """Return a copy of the tiny dataset with the three study tables."""
    from tests.test_study_tables import ASSIGNMENTS, CONVERSIONS, TOUCHPOINTS

    folder = tmp_path / "study"
    shutil.copytree(tiny, folder)
    (folder / "touchpoints.csv").write_text(TOUCHPOINTS)
    (folder / "conversions.csv").write_text(CONVERSIONS)
    (folder / "assignments.csv").write_text(ASSIGNMENTS)
    return folder


def test_a_load_without_the_study_tables_of_the_last_one_is_refused(tmp_path, tiny, study, target):
    into, listed, sql = target
    assert run("load", str(study), *into, cwd=tmp_path).returncode == 0
    sql("CREATE TABLE keep_me (x integer)")  # not a layout name: never touched
    sql("CREATE VIEW v_keep AS SELECT x FROM keep_me")
    before = listed()
    assert set(STUDY) < set(before)
    # A folder without them would leave the old study beside the new sales: refused.
    lines = (tiny / "tracking_data.csv").read_text().splitlines()
    (tiny / "tracking_data.csv").write_text("\n".join([*lines, lines[-1].replace("T", "X")]))
    r = run("load", str(tiny), *into, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    schema = into[-1] if "--schema" in into else "main"
    names = ", ".join(f"{schema}.{t}" for t in ("touchpoints", "conversions", "assignments"))
    assert f"schema {schema} holds {names}, which {tiny} has no file for" in r.stderr
    assert "load them too, drop them, or pass --drop-missing" in r.stderr
    assert listed() == before
    assert sql("SELECT count(*) FROM tracking_data") == [(9,)]
    # --drop-missing drops them in the swap; the user's own table stays.
    r = run("load", str(tiny), *into, "--drop-missing", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    dropped = [f"{schema}.{t}\tdropped" for t in ("touchpoints", "conversions", "assignments")]
    assert r.stdout.splitlines()[-3:] == dropped
    assert f"dropped {names} (not in {tiny}; --drop-missing)" in r.stderr
    assert listed() == sorted(
        ["influencers", "keep_me", "payouts", "posts", "tracking_data"]
        + (["v_keep"] if "--schema" in into else [])  # duckdb_tables() lists no views
    )
    assert sql("SELECT count(*) FROM tracking_data") == [(10,)]


def test_a_view_under_a_layout_name_is_in_the_way(tmp_path, tiny, target):
    into, listed, sql = target
    sql("CREATE VIEW tracking_data AS SELECT 1 AS x")
    r = run("load", str(tiny), *into, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    schema = into[-1] if "--schema" in into else "main"
    assert f"{schema}.tracking_data is a view, not a table" in r.stderr
    assert "drop or rename the view first, or load into another schema (--schema)" in r.stderr
    assert sql("SELECT * FROM tracking_data") == [(1,)]
    assert "influencers" not in listed()


def test_a_view_over_a_loaded_table_stops_a_postgresql_load(tmp_path, tiny, pg_schema):
    conn, schema = pg_schema
    into = ("--into", PG, "--schema", schema)
    assert run("load", str(tiny), *into, cwd=tmp_path).returncode == 0
    conn.execute(f"CREATE VIEW {schema}.v_sales AS SELECT * FROM {schema}.tracking_data")
    r = run("load", str(tiny), *into, cwd=tmp_path)
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert f"view {schema}.v_sales depends on {schema}.tracking_data" in r.stderr
    assert "drop it (re-create it after loading), or load into another schema" in r.stderr
    assert conn.execute(f"SELECT count(*) FROM {schema}.v_sales").fetchone() == (9,)
    # A foreign key of another table is named the same way.
    conn.execute(f"DROP VIEW {schema}.v_sales")
    conn.execute(f"ALTER TABLE {schema}.influencers ADD PRIMARY KEY (influencer_id)")
    conn.execute(
        f"CREATE TABLE {schema}.notes (i text REFERENCES {schema}.influencers (influencer_id))"
    )
    r = run("load", str(tiny), *into, cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert f"foreign key notes_i_fkey of {schema}.notes depends on {schema}.influencers" in (
        r.stderr
    )


def test_a_dependent_made_after_the_check_still_leaves_the_target_unchanged(
    tmp_path, tiny, pg_schema, monkeypatch
):
    from reportgen.config import loads
    from reportgen.errors import ConfigError
    from reportgen.sources import load as load_mod

    conn, schema = pg_schema
    assert run("load", str(tiny), "--into", PG, "--schema", schema, cwd=tmp_path).returncode == 0
    conn.execute(f"CREATE VIEW {schema}.v_sales AS SELECT * FROM {schema}.tracking_data")
    monkeypatch.setattr(load_mod, "pg_dependents", lambda *a: [])  # as if made since the check
    target = load_mod.parse_target(PG, schema)
    with pytest.raises(ConfigError, match=f"view {schema}.v_sales depends on table") as err:
        load_mod.load(tiny, target, loads("presets: {a: {}}", root=tmp_path))
    assert "re-create it after loading, or load into another schema" in str(err.value)
    assert conn.execute(f"SELECT count(*) FROM {schema}.v_sales").fetchone() == (9,)


def test_a_duckdb_view_over_a_loaded_table_sees_the_new_rows(tmp_path, tiny):
    db = tmp_path / "wh.duckdb"
    assert run("load", str(tiny), "--into", f"duckdb://{db}", cwd=tmp_path).returncode == 0
    with duckdb.connect(str(db)) as con:
        con.execute("CREATE VIEW v_sales AS SELECT * FROM tracking_data")
    lines = (tiny / "tracking_data.csv").read_text().splitlines()
    (tiny / "tracking_data.csv").write_text("\n".join([*lines, lines[-1].replace("T", "X")]))
    assert run("load", str(tiny), "--into", f"duckdb://{db}", cwd=tmp_path).returncode == 0
    with duckdb.connect(str(db), read_only=True) as con:  # DuckDB binds views by name
        assert con.execute("SELECT count(*) FROM v_sales").fetchone() == (10,)


# --- what the folder holds -------------------------------------------------------------------
def test_an_empty_file_is_refused_before_the_target_changes(tmp_path, tiny, target):
    into, listed, sql = target
    assert run("load", str(tiny), *into, cwd=tmp_path).returncode == 0
    before = listed()
    (tiny / "payouts.csv").write_bytes(b"")
    r = run("load", str(tiny), *into, cwd=tmp_path)
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert "payouts.csv: the file is empty (not even a header row); export payouts again" in (
        r.stderr
    )
    assert listed() == before and sql("SELECT count(*) FROM payouts") == [(3,)]
    # Nor is a new DuckDB file created for a load that cannot happen.
    fresh = tmp_path / "fresh.duckdb"
    assert run("load", str(tiny), "--into", f"duckdb://{fresh}", cwd=tmp_path).returncode == 3
    assert not fresh.exists()


def test_values_are_refused_in_the_files_sources_words(tmp_path, tiny):
    db = f"duckdb://{tmp_path / 'wh.duckdb'}"
    # Parquet has rows, not lines; 1.5 is a number, but orders are whole numbers.
    duckdb.sql(
        f"COPY (SELECT * REPLACE (CASE WHEN tracking_id = 'T01' THEN 1.5 ELSE orders END"
        f" AS orders) FROM read_csv('{tiny / 'tracking_data.csv'}') ORDER BY tracking_id)"
        f" TO '{tiny / 'tracking_data.parquet'}'"
    )
    (tiny / "tracking_data.csv").unlink()
    r = run("load", str(tiny), "--into", db, cwd=tmp_path)
    assert r.returncode == 3 and r.stderr.count("\n") == 1, r.stderr
    assert (
        "tracking_data.parquet: row 1, column 'orders': cannot read '1.5' as a whole number;"
        " fix the source data"
    ) in r.stderr
    # A time that is not one is not "not a number".
    (tiny / "tracking_data.parquet").unlink()
    (tiny / "tracking_data.csv").write_text(
        (TINY / "tracking_data.csv").read_text().replace("2025-07-03 08:00:00", "soon")
    )
    r = run("load", str(tiny), "--into", db, cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert "row 2 (line 3), column 'date': cannot read 'soon' as a date/time" in r.stderr


def test_password_env_names_the_variable_the_user_chose(tmp_path, tiny):
    _pg().close()
    url = "postgresql://no_such_role@127.0.0.1:5432/test"
    r = run_cli(
        *("load", str(tiny), "--into", url, "--password-env", "MYPW"),
        cwd=tmp_path,
        env={"MYPW": SECRET},
    )
    assert r.returncode == 4 and r.stderr.count("\n") == 1, r.stderr
    assert "the password in $MYPW" in r.stderr and "REPORTGEN_DB_PASSWORD" not in r.stderr
    assert SECRET not in r.stdout + r.stderr


# --- URLs: the sql source's parser, parameters passed through ---------------------------------
def test_url_parameters_are_kept_shown_and_passed_on():
    from reportgen.sources.url import UrlError, parse_url, pg_conninfo

    url = parse_url(f"{PG}?sslmode=require&options=-c%20search_path%3Dx&application_name=nightly")
    assert url.shown() == (
        f"{PG}?sslmode=require&options=-c+search_path%3Dx&application_name=nightly"
    )
    info = pg_conninfo(url, None, application_name="reportgen", options="-c TimeZone=UTC")
    assert info["sslmode"] == "require" and info["application_name"] == "nightly"
    assert info["options"] == "-c search_path=x -c TimeZone=UTC"  # ours last: ours win
    for bad, says in [
        ("postgresql:///test", "needs a host and a database"),
        (f"{PG}?host=/tmp", "unknown URL parameter 'host'"),
        (f"{PG}?sslmode=require&sslmode=disable", "'sslmode' is given twice"),
        ("duckdb:///x.duckdb?access_mode=read_only", "takes no ?parameters"),
        ("duckdb:///data#1.duckdb", "write it as %23"),
    ]:
        with pytest.raises(UrlError, match=re.escape(says)):
            parse_url(bad)


def test_messages_mask_a_password_however_the_url_spells_it():
    from reportgen.sources.url import mask

    assert mask("postgresql://u:p@ss/w@h/db") == "postgresql://u:***@h/db"
    # The parser decodes query keys, so an encoded 'password' key is a password too.
    shown = mask("postgresql://u@h/db?pass%77ord=hunter2&sslmode=require")
    assert shown == "postgresql://u@h/db?pass%77ord=***&sslmode=require"


def test_a_relative_duckdb_path_on_the_command_line_is_read_once_as_typed(tmp_path):
    from reportgen.sources.url import anchored, parse_url

    # The folder is encoded (a '#' in it is not the user's), the typed part decoded once, as
    # `reportgen load --into` reads it.
    cwd = tmp_path / "C#-reports"
    for typed, name in [("a%2520b.duckdb", "a%20b.duckdb"), ("x%3F.duckdb", "x?.duckdb")]:
        path = parse_url(anchored(f"duckdb://{typed}", cwd)).path
        assert path == cwd.resolve() / name
        assert path == parse_url(f"duckdb://{typed}", cwd.resolve()).path


def test_a_build_passes_url_parameters_to_postgresql(tmp_path, tiny, pg_schema):
    _, schema = pg_schema
    assert run("load", str(tiny), "--into", PG, "--schema", schema, cwd=tmp_path).returncode == 0
    (tmp_path / "config.yaml").write_text(
        f"source: {{kind: sql, url: '{PG}?sslmode=require', schema: {schema}}}\n"
        "presets:\n  w: {window: {start: 2025-07-01, end: 2025-07-07}, formats: [csv]}\n"
    )
    r = run("build", "-q", cwd=tmp_path)
    assert r.returncode == 4 and "server does not support SSL" in r.stderr, r.stderr
    config = (tmp_path / "config.yaml").read_text().replace("require", "disable")
    (tmp_path / "config.yaml").write_text(config)
    r = run("build", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads(next((tmp_path / "output").glob("w/*/summary.json")).read_text())
    assert summary["source"]["url"] == f"{PG}?sslmode=disable"
    dates = ("--from", "2025-07-01", "--to", "2025-07-07")
    r = run("build", "--data", f"{PG}?password={SECRET}", *dates, cwd=tmp_path)
    assert r.returncode != 0 and SECRET not in r.stdout + r.stderr
    assert "?password=***" in r.stderr
