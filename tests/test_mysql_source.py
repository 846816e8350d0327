"""The sql source on MySQL/MariaDB (real, on 127.0.0.1:3306): the same reports as from files.

A third engine through the same canonical layer: the checks and the facts' aggregate run in
the server, only aggregates come back, and its errors are one line that never shows the
password. Skipped with a reason where mysqlclient or the server is missing; CI has both.
"""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from tests.conftest import run_cli
from tests.test_simulate import TINY as TINY_SPEC
from tests.test_sql_source import PRESETS  # the same two presets as the other sources

pytestmark = [pytest.mark.slow, pytest.mark.mysql]

HOST, PORT = "127.0.0.1", 3306
SECRET = "my-S3cret-pw"  # the password in the environment; never in any output


def _server() -> Any:
    """Return a root connection to the local server, or skip saying why there is none."""
    MySQLdb = pytest.importorskip(
        "MySQLdb", reason="mysqlclient not installed (pip install 'reportgen[mysql]')"
    )
    try:
        return MySQLdb.connect(host=HOST, port=PORT, user="root", autocommit=True)
    except MySQLdb.Error as exc:
        pytest.skip(f"no MySQL/MariaDB server on {HOST}:{PORT} ({exc.args[-1]})")


@pytest.fixture(scope="module")
def mysql(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """Return a workspace with simulated data as Parquet, and a database holding the same."""
    import ibis

    from reportgen.sources.simulate import simulate

    root = _server()
    db = f"rg_{uuid.uuid4().hex[:12]}"
    ws = tmp_path_factory.mktemp("mysql")
    simulate(replace(TINY_SPEC, rows=20_000), ws / "data")
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE {db}")
    try:
        with warnings.catch_warnings():  # Ibis warns that this server knows no zone 'UTC'
            warnings.simplefilter("ignore", UserWarning)
            backend = ibis.mysql.connect(host=HOST, port=PORT, user="root", database=db)
        for table in ("influencers", "posts", "tracking_data", "payouts"):
            backend.create_table(table, pq.read_table(ws / "data" / f"{table}.parquet"))
        backend.disconnect()
        yield ws, db
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS {db}")
        root.close()


def _build(ws: Path, name: str, source: str, env: dict[str, str] | None = None) -> Any:
    config = ws / f"{name}.yaml"
    config.write_text(f"source:\n{source}output:\n  dir: output-{name}\n{PRESETS}")
    return run_cli("build", "-c", config.name, "--force", "-q", cwd=ws, env=env)


def _summaries(ws: Path, name: str) -> dict[str, dict]:
    out = {}
    for path in sorted((ws / f"output-{name}").glob("*/*/summary.json")):
        if not path.parent.is_symlink():
            out[path.parent.parent.name] = json.loads(path.read_text())
    return out


def test_mysql_gives_the_reports_files_give_and_only_aggregates_come_back(mysql):
    ws, db = mysql
    files = _build(ws, "files", "  kind: files\n  path: data\n")
    assert files.returncode == 0, files.stderr
    r = _build(ws, "mysql", f"  kind: sql\n  url: mysql://root@{HOST}:{PORT}/{db}\n")
    assert r.returncode == 0, r.stderr
    want, got = _summaries(ws, "files"), _summaries(ws, "mysql")
    assert set(got) == {"week", "march-muscleblaze"}
    for preset, summary in got.items():
        source = summary.pop("source")
        assert {k: v for k, v in summary.items() if k != "config"} == {
            k: v for k, v in want[preset].items() if k not in ("config", "source")
        }, preset
        assert source["url"] == f"mysql://root@{HOST}:{PORT}/{db}"
        assert source["tables"]["tracking_data"]["rows"] == 20_000
        # Aggregates, not sales: fewer rows came back than tracking holds.
        assert 0 < source["rows_fetched"] < 20_000
    assert want["week"]["kpis"]["revenue"] > 0


@pytest.mark.parametrize(
    ("url", "env", "code", "says"),
    [
        pytest.param(
            "mysql://root@{host}:{port}/rg_no_such_db",
            {},
            4,
            "Unknown database 'rg_no_such_db': create it or fix the database name in the URL",
            id="unknown-database",
        ),
        pytest.param(
            "mysql://nobody_rg@{host}:{port}/{db}",
            {"REPORTGEN_DB_PASSWORD": SECRET},
            4,
            "check the user in the URL and the password in $REPORTGEN_DB_PASSWORD",
            id="unknown-user",
        ),
        pytest.param(
            "mariadb://root@{host}:1/{db}",
            {},
            4,
            "check host and port, and that the server is running",
            id="nothing-listening",
        ),
    ],
)
def test_mysql_connection_problems_are_one_line(mysql, url, env, code, says):
    ws, db = mysql
    r = _build(ws, "bad", f"  kind: sql\n  url: {url.format(host=HOST, port=PORT, db=db)}\n", env)
    assert r.returncode == code, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and says in lines[0], r.stderr
    assert SECRET not in r.stdout + r.stderr


def test_a_missing_table_and_a_slow_query_stop_cleanly(mysql):
    ws, db = mysql
    root = _server()
    other = f"{db}_b"
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE {other}")
        try:
            for table in ("influencers", "posts", "tracking_data"):
                cur.execute(f"CREATE VIEW {other}.{table} AS SELECT * FROM {db}.{table}")
            source = f"  kind: sql\n  url: mysql://root@{HOST}:{PORT}/{other}\n  timeout: 1\n"
            r = _build(ws, "missing", source)
            assert r.returncode == 3, r.stderr
            assert f"no table {other}.payouts for payouts" in r.stderr, r.stderr
            # Every payout row sleeps 0.1 s: 30 rows outlast the 1 s limit.
            cur.execute(
                f"CREATE VIEW {other}.payouts AS SELECT p.* FROM {db}.payouts p "
                "WHERE SLEEP(0.1) = 0"
            )
            r = _build(ws, "slow", source)
            assert r.returncode == 4, r.stderr
            assert "ran longer than source.timeout (1 s)" in r.stderr, r.stderr
            assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        finally:
            cur.execute(f"DROP DATABASE IF EXISTS {other}")
    root.close()
