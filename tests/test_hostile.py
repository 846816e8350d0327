"""Hostile and careless input, one table: each case is an input and the outcome it must give.

Every case runs the real command line in a fresh workspace that already holds a good build
(tiny data, one preset with a fixed window, HTML + CSV). A case changes the workspace (data,
config, state), runs a command, and states the outcome:

- ``exit``: the exit code; non-zero means one line ``reportgen: error: ...`` on stderr that
  contains every string in ``says``, no traceback, and the previous good output untouched;
- ``check``: for cases that must succeed with a correct result (or fail in a special way),
  a function given the workspace and the finished process.

To add a case, append a ``Case`` to the list for its area below. Keep the id short and the
``found`` text saying where the case comes from (an issue number, a dataset, a review).
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import re
import shutil
import sqlite3
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import TINY, TINY_CONFIG, run_cli


@dataclass
class Workspace:
    """A folder with config.yaml, data/ (the tiny dataset) and output/ holding a good build."""

    root: Path

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def output(self) -> Path:
        return self.root / "output"

    def write(self, name: str, text: str) -> None:
        """Replace a data file (relative to data/) or any file (relative to the root)."""
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    def edit(self, name: str, old: str, new: str) -> None:
        """Replace text in a file under the workspace; the old text must be there."""
        path = self.root / name
        text = path.read_text()
        assert old in text, f"{old!r} not in {name}"
        path.write_text(text.replace(old, new))

    def summary(self, preset: str = "weekly", as_of: str = "2025-07-07") -> dict:
        """Return the summary.json of one build."""
        return json.loads((self.output / preset / as_of / "summary.json").read_text())


def run(
    ws: Workspace, *args: str, timeout: int = 300, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """Run the command line in the workspace, as a user would (``env`` adds variables)."""
    return run_cli(*args, cwd=ws.root, timeout=timeout, env=env)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Return every file below a folder with its bytes (links as their target)."""
    if not folder.exists():
        return {}
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(folder))] = str(p.readlink()).encode()
        elif p.is_file():
            out[str(p.relative_to(folder))] = p.read_bytes()
    return out


def history(state_dir: Path) -> set[tuple]:
    """Return what the run ledger records as built, sent and delivered, as a set of rows."""
    path = state_dir / "ledger.sqlite3"
    if not path.is_file() or path.stat().st_size == 0:
        return set()
    con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        con.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError:
        con.close()
        return set()  # a damaged ledger (a case of its own) has no history to keep
    try:
        rows = set()
        for table in ("sends", "deliveries"):
            rows |= {(table, *row) for row in con.execute(f"SELECT * FROM {table}")}
        # A run's row records its latest attempt; what was built must stay on record.
        sql = "SELECT preset, window_start, window_end, files FROM runs WHERE files IS NOT NULL"
        return rows | {("runs", *row) for row in con.execute(sql)}
    finally:
        con.close()


@dataclass
class Case:
    """One hostile input and the outcome it must give."""

    id: str
    found: str  # where the case comes from
    setup: Callable[[Workspace], None]
    args: tuple[str, ...] = ("build",)
    exit: int = 0
    says: tuple[str, ...] = ()
    check: Callable[[Workspace, subprocess.CompletedProcess], None] | None = None
    marks: tuple = field(default=())
    env: dict[str, str] = field(default_factory=dict)  # environment variables to add


def _nothing(ws: Workspace) -> None:
    pass


def _never_shows(secret: str, r: subprocess.CompletedProcess) -> None:
    """Fail when a secret appears in anything the command printed."""
    assert secret not in r.stdout + r.stderr


# --- config and YAML -------------------------------------------------------------------------
CONFIG_CASES: list[Case] = [
    Case(
        "engine-master-not-a-url",
        "#8: engine: spark with a host name where Spark wants a master",
        lambda ws: ws.write("config.yaml", TINY_CONFIG + "engine: {kind: spark, master: myhost}\n"),
        exit=2,
        says=("config.yaml:13: engine.master: 'myhost' is not a Spark master", "local[2]"),
    ),
    Case(
        "engine-conf-list",
        "#8",
        lambda ws: ws.write("config.yaml", TINY_CONFIG + "engine:\n  conf: {spark.jars: [a, b]}\n"),
        exit=2,
        says=("engine.conf.spark.jars: expected a text, number or true/false value",),
    ),
    Case(
        "engine-spark-over-a-database",
        "#8: the database is the engine",
        _nothing,
        args=(
            *("build", "--engine", "spark", "--data", "duckdb:///nowhere.duckdb"),
            *("--from", "2025-07-01", "--to", "2025-07-07"),
        ),
        exit=2,
        says=("engine spark reads folders of files", "drop engine.kind (or --engine)"),
    ),
    Case(
        "unknown-brand",
        "#2",
        lambda ws: ws.edit("config.yaml", "formats: [html, csv]", "brands: [MuscleBlast]"),
        exit=2,
        says=("config.yaml:", "unknown brand 'MuscleBlast'"),
    ),
    Case(
        "yaml-alias-bomb",
        "#7: 647 bytes took 14 GB",
        lambda ws: ws.write("config.yaml", _alias_bomb() + TINY_CONFIG),
        exit=2,
        says=("config.yaml:4: YAML aliases (*name) here repeat more than 10,000 values",),
    ),
    Case(
        "yaml-tab",
        "#9",
        lambda ws: ws.edit("config.yaml", "    formats:", "\tformats:"),
        exit=2,
        says=("config.yaml:12: a tab in the indentation; YAML indents with spaces only",),
    ),
    Case(
        "yaml-bad-indent",
        "#9",
        lambda ws: ws.edit("config.yaml", "    formats:", "   formats:"),
        exit=2,
        says=("config.yaml:12: this line is not indented like the keys around it",),
    ),
    Case(
        "yaml-unquoted-colon",
        "#9",
        lambda ws: ws.edit("config.yaml", "title: Tiny weekly", "title: Tiny: weekly"),
        exit=2,
        says=("config.yaml:10: a colon inside an unquoted value; put the value in quotes",),
    ),
    Case(
        "yaml-unclosed-bracket",
        "#9",
        lambda ws: ws.edit("config.yaml", "[html, csv]", "[html, csv"),
        exit=2,
        says=("config.yaml:12: the [ opened here is not closed",),
    ),
    Case(
        "yaml-unclosed-quote",
        "#9",
        lambda ws: ws.edit("config.yaml", "title: Tiny weekly", 'title: "Tiny weekly'),
        exit=2,
        says=('config.yaml:10: the quote " opened here is never closed',),
    ),
    Case(
        "yaml-list-as-text",
        "#9",
        lambda ws: ws.edit("config.yaml", "[html, csv]", "html, csv"),
        exit=2,
        says=("config.yaml:12: presets.weekly.formats:", "write a list: [html, csv]"),
    ),
    Case(
        "yaml-list-as-text-validate",
        "#9",
        lambda ws: ws.edit("config.yaml", "[html, csv]", "html, csv"),
        args=("validate",),
        exit=2,
        says=("config.yaml:12: presets.weekly.formats:", "write a list: [html, csv]"),
    ),
    Case(
        "validate-data-folder-gone",
        "#9: validate --data must not say OK",
        lambda ws: shutil.rmtree(ws.data),
        args=("validate", "--data"),
        exit=4,
        says=("data: data folder not found",),
    ),
    Case(
        "init-over-a-config",
        "#9: init never overwrites",
        _nothing,
        args=("init",),
        exit=9,
        says=("config.yaml: already exists; init never overwrites a config",),
        check=lambda ws, r: _assert_equal(ws.config.read_text(), TINY_CONFIG),
    ),
    Case(
        "attach-pdf-not-made",
        "#7",
        lambda ws: ws.edit("config.yaml", "[html, csv]", "[html, csv]\n    attach: [pdf]"),
        args=("validate",),
        exit=2,
        says=("config.yaml:13: presets.weekly.attach[0]:", "make no pdf"),
    ),
    Case(
        "preset-named-index.html",
        "#7",
        lambda ws: ws.edit("config.yaml", "  weekly:", "  index.html:"),
        args=("validate",),
        exit=2,
        says=("config.yaml:9: presets.index.html:", "output/index.html"),
    ),
    Case(
        "preset-named-manifest.json",
        "#7",
        lambda ws: ws.edit("config.yaml", "  weekly:", "  manifest.json:"),
        args=("validate",),
        exit=2,
        says=("config.yaml:9: presets.manifest.json:",),
    ),
    Case(
        "output-dir-root",
        "#7",
        lambda ws: ws.edit("config.yaml", "dir: output", "dir: /"),
        args=("validate",),
        exit=2,
        says=("config.yaml:5: output.dir: /: it is the root of the file system",),
    ),
    Case(
        "output-dir-is-data",
        "#7",
        lambda ws: ws.edit("config.yaml", "dir: output", "dir: data"),
        args=("validate",),
        exit=2,
        says=("config.yaml:5: output.dir:", "it is the data folder"),
    ),
    Case(
        "output-dir-is-home",
        "#7",
        lambda ws: ws.edit("config.yaml", "dir: output", "dir: ."),  # HOME is the workspace
        args=("validate",),
        exit=2,
        says=("config.yaml:5: output.dir:", "it is the home folder"),
    ),
    Case(
        "cron-never-fires",
        "#7",
        lambda ws: ws.edit("config.yaml", "[html, csv]", "[html, csv]\n    schedule: 0 8 31 2 *"),
        args=("validate",),
        exit=2,
        says=("config.yaml:13: presets.weekly.schedule:", "never fires"),
    ),
]


def _assert_equal(actual: object, expected: object) -> None:
    assert actual == expected


def _alias_bomb() -> str:
    """Return a YAML alias bomb: six levels of ten aliases, a million values if expanded."""
    lines = ["l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    lines += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    return "\n".join(lines) + "\n"


# --- data: files, numbers, ids ---------------------------------------------------------------
DATA_CASES: list[Case] = [
    Case(
        "spark-engine-csv-folder",
        "#8: Spark reads the Parquet layout",
        _nothing,
        args=("build", "--engine", "spark"),
        exit=3,
        says=(
            *("tracking_data.csv", "the Spark engine reads the Parquet layout, not CSV"),
            *("reportgen simulate --format parquet", "reportgen load DIR --into URL"),
        ),
    ),
    Case(
        "spark-engine-without-java",
        "#8: a machine with PySpark but no Java",
        lambda ws: _all_parquet(ws),
        args=("build", "--engine", "spark"),
        env={"PATH": "/nonexistent"},
        exit=4,
        says=("engine spark:", "pip install 'reportgen[spark]'", "Java 17"),
    ),
    Case(
        "spark-engine-jvm-will-not-start",
        "#8: a Spark setting the JVM refuses",
        lambda ws: (
            _all_parquet(ws),
            ws.write("config.yaml", TINY_CONFIG + "engine: {conf: {spark.driver.memory: 1x}}\n"),
        ),
        args=("build", "--engine", "spark"),
        exit=4,
        says=("Spark did not start: Invalid maximum heap size: -Xmx1x", "Java 17"),
        marks=(
            pytest.mark.skipif(
                shutil.which("java") is None or importlib.util.find_spec("pyspark") is None,
                reason="needs PySpark and Java (pip install 'reportgen[spark]', Java 17)",
            ),
        ),
    ),
    Case(
        "revenue-not-a-number",
        "#2",
        lambda ws: ws.edit(
            "data/tracking_data.csv", "2025-07-02 11:00:00,1,2000", "2025-07-02 11:00:00,1,lots"
        ),
        exit=3,
        says=("tracking_data.csv",),
    ),
    Case(
        "decimal-comma-semicolon",
        "#7: 2000,50 in a semicolon CSV was read as 200050",
        lambda ws: _semicolons(ws, T01="2000,50"),
        exit=3,
        says=("tracking_data.csv: row 1 (line 2), column 'revenue'", "source.decimal: ','"),
    ),
    Case(
        "decimal-comma-declared",
        "#7: the same file, declared, reads 2000.50 (+0.50) and 1.500,25 (+0.25)",
        lambda ws: (
            _semicolons(ws, T01="2000,50", T02="1.500,25"),
            _source(ws, "decimal: ','\n  thousands: '.'"),
        ),
        check=lambda ws, r: _expect_kpi(ws, r, "revenue", 6700.75),
    ),
    Case(
        "decimal-comma-quoted",
        '#7: a quoted "1,5" in a comma CSV read as 15',
        lambda ws: ws.edit("data/tracking_data.csv", ",1,500\n", ',1,"1,5"\n'),
        exit=3,
        says=("row 3 (line 4), column 'revenue'", "'1,5'", "source.decimal: ','"),
    ),
    Case(
        "thousands-ambiguous",
        "#7: 1,500 is 1500 or 1.5",
        lambda ws: ws.edit("data/tracking_data.csv", ",2,1500\n", ',2,"1,500"\n'),
        exit=3,
        says=("row 2 (line 3), column 'revenue'", "'1,500' is ambiguous", "source.thousands"),
    ),
    Case(
        "tracking-header-only",
        "#7: a header-only tracking file published a zero-revenue report",
        lambda ws: ws.write("data/tracking_data.csv", TRACKING_HEADER),
        exit=3,
        says=("tracking_data.csv: tracking_data has no rows", "source.allow_empty"),
    ),
    Case(
        "tracking-empty-file",
        "#7: a zero-byte tracking file",
        lambda ws: ws.write("data/tracking_data.csv", ""),
        exit=3,
        says=("tracking_data.csv: the file is empty",),
    ),
    Case(
        "posts-empty-allowed",
        "#7: the opt-out gives a finding, and the tracking numbers stand",
        lambda ws: (
            ws.write("data/posts.csv", (ws.data / "posts.csv").read_text().splitlines()[0]),
            _source(ws, "allow_empty: [posts]"),
        ),
        check=lambda ws, r: (
            _expect_kpi(ws, r, "revenue", 6700),
            _expect_finding(ws, "empty_table", rows=0),
        ),
    ),
    Case(
        "id-conflict",
        "#7: one tracking_id on two different sales dropped the second as a duplicate",
        lambda ws: _append(ws, "tracking_data", "T02,x,y,A1,U9,BCAA,2025-07-03 09:00:00,1,700"),
        exit=3,
        says=("tracking_data.csv: column 'tracking_id': id 'T02'", "row 2 (line 3), row 10"),
    ),
    Case(
        "id-exact-repeat",
        "#7: an exact repeat counts once and is reported with its revenue",
        lambda ws: _append(ws, "tracking_data", _tracking_row(ws, "T01")),
        check=lambda ws, r: (
            _expect_kpi(ws, r, "revenue", 6700),
            _expect_finding(ws, "duplicate_rows", rows=1, revenue=2000),
        ),
    ),
    Case(
        "ids-absent",
        "#7: the assignment's layout has no tracking_id or post_id: every row is an event",
        lambda ws: (
            _drop_first_column(ws, "tracking_data", repeat="T01"),
            _drop_first_column(ws, "posts"),
        ),
        check=lambda ws, r: _expect_kpi(ws, r, "revenue", 8700),
    ),
    Case(
        "csv-and-parquet",
        "#7: payouts.csv and payouts.parquet: Parquet won silently",
        lambda ws: _to_parquet(ws, "payouts"),
        exit=3,
        says=("both payouts.parquet and payouts.csv", "source.format"),
    ),
    Case(
        "parquet-money-nan",
        "#8 review: NaN in a typed Parquet column got past the range check (DuckDB prunes "
        "row groups by min/max statistics, which leave NaN out) and ended in a traceback",
        lambda ws: _to_parquet(
            ws,
            "tracking_data",
            "* REPLACE (CASE WHEN tracking_id = 'T02' THEN 'nan'::DOUBLE "
            "ELSE CAST(revenue AS DOUBLE) END AS revenue)",
        ),
        exit=3,
        says=("tracking_data.parquet: row 2, column 'revenue': revenue nan is not a number",),
    ),
    Case(
        "parquet-double-orders-decimal-comma",
        "#8 review: a typed DOUBLE 2.0 in orders was read as the text '2.0' under "
        "source.decimal: ',' and refused; decimal marks belong to text",
        lambda ws: (
            [_to_parquet(ws, t, "*") for t in ("influencers", "posts", "payouts")],
            _to_parquet(ws, "tracking_data", "* REPLACE (CAST(orders AS DOUBLE) AS orders)"),
            _source(ws, "decimal: ','"),
        ),
        check=lambda ws, r: (
            _expect_kpi(ws, r, "orders", 10),
            _expect_kpi(ws, r, "revenue", 6700),
        ),
    ),
    Case(
        "parquet-orders-nan",
        "#8 review: a NaN in a typed DOUBLE orders column is not a whole number (DuckDB's "
        "statistics would hide it from the row search)",
        lambda ws: _to_parquet(
            ws,
            "tracking_data",
            "* REPLACE (CASE WHEN tracking_id = 'T03' THEN 'nan'::DOUBLE "
            "ELSE CAST(orders AS DOUBLE) END AS orders)",
        ),
        exit=3,
        says=(
            "tracking_data.parquet: row 3, column 'orders': cannot read 'nan' as a whole number",
        ),
    ),
    Case(
        "rate-out-of-range",
        "#7: a rate of 1e20 was accepted while revenue >= 1e14 was refused",
        lambda ws: ws.edit("data/payouts.csv", "B2,per_order,100,", "B2,per_order,1e20,"),
        exit=3,
        says=("payouts.csv: row 2 (line 3), column 'rate'", "out of range"),
    ),
    Case(
        "orders-beyond-bigint",
        "#7 review: 1e20 orders crashed the whole-number cast",
        lambda ws: ws.edit("data/tracking_data.csv", "12:00:00,3,1200", "12:00:00,1e20,1200"),
        exit=3,
        says=("tracking_data.csv: row 4 (line 5), column 'orders'", "'1e20'"),
    ),
    Case(
        "payee-unknown",
        "#7: payout terms of an influencer missing from influencers gave no finding",
        lambda ws: _append(ws, "payouts", "Z9,per_post,700,1,700"),
        check=lambda ws, r: _expect_finding(ws, "unknown_influencer", rows=1, examples=["Z9"]),
    ),
    Case(
        "post-brand",
        "#7: posts.brand: P1 paid by HKVitals charges its 1000 to HKVitals (+ 1000 x 500/4000)",
        lambda ws: (
            _add_post_brand(ws, P1="HKVitals"),
            ws.edit(
                "config.yaml",
                "formats: [html, csv]",
                "formats: [html, csv]\n    brands: [HKVitals]",
            ),
        ),
        check=lambda ws, r: _expect_kpi(ws, r, "payout", 1125),
    ),
    Case(
        "load-password-in-url",
        "#8",
        _nothing,
        args=("load", "data", "--into", "postgresql://me:hunter2@127.0.0.1:5432/test"),
        exit=2,
        says=("postgresql://me:***@", "REPORTGEN_DB_PASSWORD"),
        check=lambda ws, r: _never_shows("hunter2", r),
    ),
    Case(
        "load-unreachable-database",
        "#8",
        _nothing,
        args=("load", "data", "--into", "postgresql://me@127.0.0.1:1/test"),
        exit=4,
        says=("127.0.0.1:1/test", "cannot connect"),
    ),
    Case(
        "load-mapped-column-missing",
        "#8",
        lambda ws: ws.edit(
            "config.yaml", "  path: data\n", "  path: data\n  columns: {payouts: {rate: fee}}\n"
        ),
        args=("load", "data", "--into", "duckdb://loaded.duckdb"),
        exit=3,
        says=("payouts.csv", "column 'fee' (source.columns.payouts.rate)"),
    ),
    Case(
        "load-empty-file",
        "fix-load: a 0-byte payouts.csv loaded as payouts(column0 text)",
        lambda ws: ws.write("data/payouts.csv", ""),
        args=("load", "data", "--into", "duckdb://loaded.duckdb"),
        exit=3,
        says=("payouts.csv: the file is empty (not even a header row); export payouts again",),
        check=lambda ws, r: _not_created(ws.root / "loaded.duckdb"),
    ),
    Case(
        "load-parquet-fractional-orders",
        "fix-load: said 'row 1 (line 2)' of a Parquet file, and that 1.5 is not a number",
        lambda ws: _to_parquet(
            ws,
            "tracking_data",
            "* REPLACE (CASE WHEN tracking_id = 'T01' THEN 1.5 ELSE orders END AS orders)",
        ),
        args=("load", "data", "--into", "duckdb://loaded.duckdb"),
        exit=3,
        says=(
            "tracking_data.parquet: row 1, column 'orders': cannot read '1.5' as a whole number",
        ),
    ),
    Case(
        "load-leaves-no-old-study",
        "fix-load: a study of an earlier load stayed beside the new sales",
        lambda ws: _loaded_with_study(ws),
        args=("load", "data", "--into", "duckdb://wh.duckdb"),
        exit=2,
        says=(
            "schema main holds main.touchpoints, main.conversions, main.assignments",
            "pass --drop-missing to drop them in the same swap",
        ),
    ),
    Case(
        "load-over-a-view",
        "fix-load: a raw 'is of type View' line",
        lambda ws: _duckdb_file(ws, "CREATE VIEW tracking_data AS SELECT 1 AS x"),
        args=("load", "data", "--into", "duckdb://wh.duckdb"),
        exit=2,
        says=("main.tracking_data is a view, not a table", "load into another schema"),
    ),
    Case(
        "load-no-host",
        "fix-load: load took postgresql:///test for localhost, a build refused it",
        _nothing,
        args=("load", "data", "--into", "postgresql:///test"),
        exit=2,
        says=("postgresql:///test: a database URL needs a host and a database",),
    ),
    Case(
        "study-user-in-both-groups",
        "#10: a holdout export listing a user in treatment and in holdout",
        lambda ws: ws.write(
            "data/assignments.csv", "user_id,group\nU1,treatment\nU2,holdout\nU1,holdout\n"
        ),
        exit=3,
        says=("assignments.csv: row 1 (line 2), row 3 (line 4), column 'user_id'", "both"),
    ),
    Case(
        "study-unknown-touch-kind",
        "#10: a touchpoint kind outside view/click/code",
        lambda ws: ws.write(
            "data/touchpoints.csv", "user_id,influencer_id,time,kind\nU1,A1,2025-07-01,like\n"
        ),
        exit=3,
        says=("touchpoints.csv: row 1 (line 2), column 'kind'", "view or click or code"),
    ),
    Case(
        "study-named-file-missing",
        "#10: source.files names a study table that is not there",
        lambda ws: _source(ws, "files: {conversions: orders.csv}"),
        exit=3,
        says=("no orders.csv for table 'conversions'",),
    ),
    Case(
        "study-order-outside-period",
        "#10: an order after the assignments' inclusive end is a finding, not a silent drop",
        lambda ws: (
            ws.write(
                "data/assignments.csv",
                "user_id,group,start,end\nU1,treatment,2025-07-01,2025-07-07\n",
            ),
            ws.write(
                "data/conversions.csv",
                "order_id,user_id,time,product,revenue\nO1,U1,2025-07-07 23:59:00,Whey,10\n"
                "O2,U1,2025-07-08 00:00:00,Whey,20\n",
            ),
        ),
        check=lambda ws, r: (
            _expect_kpi(ws, r, "revenue", 6700),
            _expect_finding(ws, "outside_study", rows=1, revenue=20.0),
        ),
    ),
]

TRACKING_HEADER = "tracking_id,source,campaign,influencer_id,user_id,product,date,orders,revenue\n"


def _all_parquet(ws: Workspace) -> None:
    """Replace the four CSV files with Parquet files of the same rows."""
    for table in ("influencers", "posts", "tracking_data", "payouts"):
        _to_parquet(ws, table)
        (ws.data / f"{table}.csv").unlink()


def _source(ws: Workspace, lines: str) -> None:
    """Add lines under the config's source section."""
    ws.edit("config.yaml", "  path: data\n", f"  path: data\n  {lines}\n")


def _append(ws: Workspace, table: str, row: str) -> None:
    with (ws.data / f"{table}.csv").open("a") as fh:
        fh.write(row + "\n")


def _tracking_row(ws: Workspace, ident: str) -> str:
    lines = (ws.data / "tracking_data.csv").read_text().splitlines()
    return next(line for line in lines if line.startswith(f"{ident},"))


def _semicolons(ws: Workspace, **revenue: str) -> None:
    """Rewrite tracking_data.csv with ';' between fields and some revenue as text."""
    path = ws.data / "tracking_data.csv"
    out = []
    for line in path.read_text().splitlines():
        fields = line.split(",")
        fields[-1] = revenue.get(fields[0], fields[-1])
        out.append(";".join(fields))
    path.write_text("\n".join(out) + "\n")


def _drop_first_column(ws: Workspace, table: str, repeat: str | None = None) -> None:
    """Remove the id column; ``repeat`` appends that row again (a genuine second sale)."""
    path = ws.data / f"{table}.csv"
    lines = path.read_text().splitlines()
    extra = [line for line in lines if repeat and line.startswith(f"{repeat},")]
    path.write_text("".join(line.split(",", 1)[1] + "\n" for line in [*lines, *extra]))


def _to_parquet(ws: Workspace, table: str, select: str = "") -> None:
    """Write ``table`` as Parquet (typed columns); with ``select``, instead of the CSV."""
    import duckdb
    import pyarrow.parquet as pq

    csv = ws.data / f"{table}.csv"
    # Written by pyarrow, as pandas writes it: its statistics leave NaN out of min/max.
    rows = duckdb.sql(f"SELECT {select or '*'} FROM read_csv('{csv}')").to_arrow_table()
    pq.write_table(rows, ws.data / f"{table}.parquet")
    if select:
        csv.unlink()


def _add_post_brand(ws: Workspace, **brands: str) -> None:
    path = ws.data / "posts.csv"
    lines = path.read_text().splitlines()
    out = [lines[0] + ",brand"]
    out += [f"{line},{brands.get(line.split(',')[0], '')}" for line in lines[1:]]
    path.write_text("\n".join(out) + "\n")


def _expect_kpi(ws: Workspace, r: subprocess.CompletedProcess, key: str, value: float) -> None:
    assert r.returncode == 0, r.stderr
    assert ws.summary()["kpis"][key] == pytest.approx(value)


def _expect_finding(ws: Workspace, code: str, **fields) -> None:
    found = {i["code"]: i for i in ws.summary()["data_quality"]}
    assert code in found, found
    for key, value in fields.items():
        assert found[code][key] == value, (key, found[code])


# --- state, schedule, output -----------------------------------------------------------------
def _header_only(name: str) -> str:
    return (TINY / name).read_text().splitlines()[0] + "\n"


def _ledger(ws: Workspace) -> Path:
    return ws.root / "state" / "ledger.sqlite3"


def _truncate(fraction: float) -> Callable[[Workspace], None]:
    def setup(ws: Workspace) -> None:
        path = _ledger(ws)
        # More history first, so that half the file cuts through tables, not free pages.
        con = sqlite3.connect(path)
        with con:
            con.executemany(
                "INSERT INTO deliveries (preset, window_start, window_end, recipient, state, at) "
                "VALUES ('old', '2025-06-01', '2025-06-07', ?, 'sent', '2025-06-08')",
                [(f"r{i}@example.com" + "x" * 200,) for i in range(300)],
            )
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        con.close()
        with path.open("r+b") as fh:
            fh.truncate(int(path.stat().st_size * fraction))

    return setup


def _index_written_again(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    """A reuse with a damaged index key writes the index again, and a good key."""
    assert "; reused" in r.stderr
    assert "weekly/2025-07-07/report.html" in (ws.output / "index.html").read_text()
    assert len((ws.output / ".index-key").read_text().strip()) == 64  # a sha256 again


def _index_written_without_key(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    """A key that cannot be written costs a warning, not the build; the index is written."""
    assert "output/.index-key: cannot write" in r.stderr and "; reused" in r.stderr
    assert "weekly/2025-07-07/report.html" in (ws.output / "index.html").read_text()
    assert (ws.output / ".index-key" / "x").is_dir()


def _set_aside(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    """The damaged ledger is kept beside its place, and nothing new took its place."""
    aside = list((ws.root / "state").glob("ledger.sqlite3.damaged-*Z"))  # not -wal, -shm
    assert len(aside) == 1 and not _ledger(ws).exists(), r.stderr
    again = run(ws, "send", "--preset", "weekly")  # and every later command stops too
    assert again.returncode == 10 and "the run ledger is missing" in again.stderr


def _new_ledger(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    con = sqlite3.connect(_ledger(ws))
    assert r.returncode == 0 and con.execute("PRAGMA quick_check").fetchall() == [("ok",)]
    con.close()
    assert [p.read_bytes() for p in (ws.root / "state").glob("ledger.sqlite3.replaced-*")] == [
        b"garbage" * 10
    ]
    assert run(ws, "runs").stdout.startswith("no runs recorded")


def _latest_folder(ws: Workspace) -> None:
    latest = ws.output / "weekly" / "latest"
    latest.unlink()
    latest.mkdir()
    (latest / "notes.txt").write_text("someone keeps notes here")


_SMTP: dict[Path, contextlib.ExitStack] = {}


def _with_smtp(ws: Workspace, to: str) -> None:
    """Start a real SMTP server for the workspace (stopped by _stop_smtp) and mail to ``to``."""
    from tests.test_deliver import server

    stack = contextlib.ExitStack()
    smtp = stack.enter_context(server())
    _SMTP[ws.root] = stack
    ws.smtp = smtp  # type: ignore[attr-defined]
    ws.edit(
        "config.yaml",
        "presets:",
        f"email: {{host: 127.0.0.1, port: {smtp.port}, security: none, "
        "sender: reports@example.com, retries: 1, backoff_seconds: 0.01}\npresets:",
    )
    ws.edit("config.yaml", "[html, csv]\n", f"[html, csv]\n    to: [{to}]\n")


def _recipient_added(ws: Workspace) -> None:
    _with_smtp(ws, "ana@example.com")
    first = run(ws, "send", "--preset", "weekly")
    assert first.returncode == 0 and len(ws.smtp.messages) == 1, first.stderr  # type: ignore[attr-defined]
    ws.edit("config.yaml", "to: [ana@example.com]", "to: [ana@example.com, bo@example.com]")


def _only_the_new_recipient(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    _SMTP.pop(ws.root).close()
    rcpts = [m[1] for m in ws.smtp.messages]  # type: ignore[attr-defined]
    assert rcpts == [["ana@example.com"], ["bo@example.com"]], (rcpts, r.stdout)


def _dotted(ws: Workspace) -> None:
    ws.edit("config.yaml", "  weekly:", "  team.weekly:")
    ws.edit("config.yaml", "[html, csv]\n", "[html, csv]\n    to: [ana@example.com]\n")


def _dotted_sent(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    eml = ws.output / "team.weekly" / "latest" / "email.eml"
    assert "To: ana@example.com" in eml.read_text(), r.stderr


STATE_CASES: list[Case] = [
    Case("rebuild-same-data", "#2", _nothing, check=lambda ws, r: None),
    Case(
        "index-key-garbage",
        "#8",
        lambda ws: (ws.output / ".index-key").write_bytes(b"\xff\x00 garbage"),
        check=_index_written_again,
    ),
    Case(
        "index-key-is-a-folder",
        "#8",
        lambda ws: (
            (ws.output / ".index-key").unlink(),
            (ws.output / ".index-key" / "x").mkdir(parents=True),
        ),
        check=_index_written_without_key,
    ),
    Case(
        "ledger-garbage",
        "#7",
        lambda ws: _ledger(ws).write_bytes(b"garbage" * 10),
        exit=10,
        says=("ledger.sqlite3: the run ledger is damaged", "reportgen runs --new-ledger"),
        check=_set_aside,
    ),
    Case(
        "ledger-half-truncated",
        "#7",
        _truncate(0.5),
        args=("send", "--preset", "weekly"),
        exit=10,
        says=("the run ledger is damaged (cut short: ", "moved aside"),
        check=_set_aside,
    ),
    Case(
        "ledger-truncated-to-zero",
        "#7",
        _truncate(0),
        args=("send", "--preset", "weekly"),
        exit=10,
        says=("the run ledger is damaged (it is empty (0 bytes))",),
        check=_set_aside,
    ),
    Case(
        "ledger-deleted",
        "#7",
        lambda ws: _ledger(ws).unlink(),
        exit=10,
        says=("the run ledger is missing, but this state folder had one",),
    ),
    Case(
        "ledger-new-knowingly",
        "#7",
        lambda ws: _ledger(ws).write_bytes(b"garbage" * 10),
        args=("runs", "--new-ledger"),
        check=_new_ledger,
    ),
    Case(
        "state-lock-folder-unwritable",
        "#7",
        lambda ws: (shutil.rmtree(ws.root / "state" / "locks"), ws.write("state/locks", "x")),
        exit=9,
        says=("state/locks/weekly__", "cannot write the lock file"),
    ),
    Case(
        "state-dir-is-a-file",
        "#7",
        lambda ws: (shutil.rmtree(ws.root / "state"), ws.write("state", "x")),
        exit=9,
        says=("cannot use the run ledger", "make schedule.state_dir"),
    ),
    Case(
        "recipient-added-after-send",
        "#7",
        _recipient_added,
        args=("send", "--preset", "weekly"),
        check=_only_the_new_recipient,
    ),
    Case(
        "as-of-in-the-future",
        "#7",
        _nothing,
        args=("build", "--as-of", "2030-01-01"),
        exit=2,
        says=("--as-of 2030-01-01 is after today", "--allow-future"),
    ),
    Case(
        "as-of-9999",
        "#7",
        _nothing,
        args=("send", "--preset", "weekly", "--as-of", "9999-12-31"),
        exit=2,
        says=("--as-of 9999-12-31: use a date from 1900-01-01 to 2199-12-31",),
    ),
    Case(
        "as-of-0001",
        "#7",
        _nothing,
        args=("build", "--as-of", "0001-01-01"),
        exit=2,
        says=("--as-of 0001-01-01: use a date from 1900-01-01",),
    ),
    Case(
        "from-0001-to-9999",
        "#7",
        _nothing,
        args=("build", "--data", "data", "--from", "0001-01-01", "--to", "9999-12-31"),
        exit=2,
        says=("--to 9999-12-31: use a date from",),
    ),
    Case(
        "window-before-1900",
        "#7",
        _nothing,
        args=("build", "--data", "data", "--from", "1900-01-01", "--to", "2025-07-07"),
        exit=2,
        says=("the equally long period before it", "starts before 1900-01-01"),
    ),
    Case(
        "dotted-preset-name",
        "#7",
        _dotted,
        args=("send", "--preset", "team.weekly", "--dry-run"),
        check=_dotted_sent,
    ),
    Case(
        "build-out-is-the-project",
        "#7",
        _nothing,
        args=("build", "--out", "."),
        exit=2,
        says=("--out .: it is the home folder",),  # HOME is the workspace
    ),
    Case(
        "send-on-empty-tracking-keeps-the-report",
        "#7: the scheduler must not replace a good report with an empty one",
        lambda ws: (
            ws.edit("config.yaml", "end: 2025-07-07", "end: 2025-07-08"),  # a window not built
            ws.write("data/tracking_data.csv", _header_only("tracking_data.csv")),
        ),
        args=("send", "--preset", "weekly"),
        exit=3,
        says=("tracking_data",),
    ),
    Case(
        "latest-is-a-real-folder",
        "#7",
        _latest_folder,
        exit=9,
        says=("output/weekly/latest: a real folder", "move it elsewhere"),
    ),
]


# --- rendering: charts, PDF, HTML ------------------------------------------------------------
def _total_loss(ws: Workspace) -> None:
    """Move D4's only sale out of the window and its post into it: paid 500, sold nothing."""
    ws.edit(
        "data/tracking_data.csv", "D4,U7,Whey Protein,2025-07-01", "D4,U7,Whey Protein,2025-06-01"
    )
    ws.edit("data/posts.csv", "P5,D4,Twitter,2025-06-20", "P5,D4,Twitter,2025-07-02")


def _check_total_loss(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    s = ws.summary()
    rows = {row["influencer_id"]: row for row in s["top_influencers_by_net"]}
    losses = {row["influencer_id"]: row for row in s["biggest_losses_by_net"]}
    assert losses["D4"]["roas"] == 0.0 and losses["D4"]["net"] == -500.0, losses
    assert "D4" not in rows and "D4" not in {
        x["influencer_id"] for x in s["top_influencers_by_revenue"]
    }
    assert "0.00x" in (ws.output / "weekly" / "2025-07-07" / "report.html").read_text()
    # Paid: A1 2000, B2 400, D4 500 = 2900; below break-even: D4 alone, 500 of it.
    assert s["headline"]["numbers"]["break_even"]["below_break_even"] == 1
    assert s["headline"]["numbers"]["break_even"]["below_payout_share"] == round(500 / 2900, 4)


def _static_charts_hold_the_name_as_text(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    """The name is escaped in the page and cannot leave the static charts' src='...'."""
    page = (ws.output / "weekly" / "2025-07-07" / "report.html").read_text()
    assert "<img src=x" not in page and "O&#39;Brien &lt;img src=x" in page
    srcs = re.findall(r'<img class="chart-static" src="([^"]*)"', page)
    assert len(srcs) == page.count('<figure class="chart"') and all(
        s.startswith("data:image/svg+xml") for s in srcs
    )
    assert any("O%26%2339%3BBrien" in s or "O%27Brien" in s for s in srcs)


#: One unbroken 100,000-character value: WeasyPrint took over 10 minutes on it (#7).
LONG = "N" * 100_000
CLIPPED = "N" * 79 + "\u2026"  # what reports show of it (reportgen.report.fmt.clip)
WITH_PDF = ("formats: [html, csv]", "formats: [html, pdf, csv]")


def _long_name(ws: Workspace) -> None:
    ws.edit("data/influencers.csv", "A1,Asha Rao,", f"A1,{LONG},")
    ws.edit("config.yaml", *WITH_PDF)


def _long_unknown_id(ws: Workspace) -> None:
    # A tracking row naming an influencer nobody knows: the id shows as a finding's example.
    ws.edit("data/tracking_data.csv", "A1,U3,", f"{LONG},U3,")
    ws.edit("config.yaml", *WITH_PDF)


def _built(ws: Workspace) -> Path:
    return ws.output / "weekly" / "2025-07-07"


def _pdf_text(ws: Workspace) -> str:
    from pypdf import PdfReader

    pages = PdfReader(_built(ws) / "report.pdf").pages
    return "".join("".join(page.extract_text().split()) for page in pages)


def _check_long_name(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    pdf = _pdf_text(ws)  # the name may wrap anywhere: compared without whitespace
    assert CLIPPED in pdf and "N" * 80 not in pdf
    assert f",{LONG}," in (_built(ws) / "payouts.csv").read_text()
    names = [row["name"] for row in ws.summary()["top_influencers_by_revenue"]]
    assert LONG in names, "summary.json keeps the full value"
    html = (_built(ws) / "report.html").read_text()
    assert f'title="{"N" * 999}\u2026">{CLIPPED}</span>' in html  # a bounded tooltip
    assert "N" * 1000 not in html, "no full-length copy in the page or its chart data"


def _check_long_unknown_id(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    assert CLIPPED in _pdf_text(ws)
    assert LONG in (_built(ws) / "data_quality.csv").read_text()
    assert "N" * 1000 not in (_built(ws) / "report.html").read_text()


def _study_long_name(ws: Workspace) -> None:
    """A1 gets a hostile 100,000-character name and a tiny study: A1 and B2 each earn a sale."""
    ws.edit("data/influencers.csv", "A1,Asha Rao,", f"A1,<script>{LONG},")
    ws.write(
        "data/touchpoints.csv",
        "user_id,influencer_id,time,kind\n"
        "S1,A1,2025-07-02 10:00:00,click\nS2,B2,2025-07-03 09:00:00,view\n",
    )
    ws.write(
        "data/conversions.csv",
        "order_id,user_id,time,revenue\n"
        "X1,S1,2025-07-03 12:00:00,500\nX2,S2,2025-07-04 12:00:00,300\n",
    )
    ws.edit("config.yaml", *WITH_PDF)
    ws.edit(
        "config.yaml",
        "formats: [html, pdf, csv]",
        "formats: [html, pdf, csv]\n    sections: [overview, attribution]",
    )


def _check_study_long_name(ws: Workspace, r: subprocess.CompletedProcess) -> None:
    credit = {x["influencer_id"]: x["revenue"] for x in ws.summary()["attribution"]["last_touch"]}
    assert credit == {"A1": 500.0, "B2": 300.0}
    page = (_built(ws) / "report.html").read_text()
    assert "N" * 1000 not in page and "<script>NNN" not in page
    found = re.search(r'data-target="chart-attribution">(.*?)</script>', page, re.S)
    assert found, "the attribution chart is drawn"
    fig = json.loads(found.group(1))
    assert fig["data"][0]["y"] == ["A1", "B2"]
    tick = fig["layout"]["yaxis"]["ticktext"][0]  # escaped for plotly, cut to 28 characters
    assert tick.startswith("&lt;script&gt;N") and len(html.unescape(tick)) <= 28
    pdf = _pdf_text(ws)
    assert "Creditedrevenueperinfluencer,byattributionmodel" in pdf and "N" * 80 not in pdf


RENDER_CASES: list[Case] = [
    Case(
        "compare-unknown",
        "#9",
        lambda ws: ws.edit("config.yaml", "formats: [html, csv]", "compare: last_year"),
        exit=2,
        says=("config.yaml:", "compare", "unknown comparison 'last_year'", "previous_year"),
    ),
    Case(
        "roas-min-payout-words",
        "#9",
        lambda ws: ws.edit("config.yaml", "formats: [html, csv]", "roas_min_payout: lots"),
        exit=2,
        says=("config.yaml:", "roas_min_payout", "'2%'"),
    ),
    Case(
        "roas-min-payout-over-100-percent",
        "#9",
        lambda ws: ws.edit("config.yaml", "formats: [html, csv]", "roas_min_payout: '150%'"),
        exit=2,
        says=("config.yaml:", "roas_min_payout"),
    ),
    Case(
        "attach-xlsx",
        "#9",
        lambda ws: ws.edit("config.yaml", "formats: [html, csv]", "attach: [pdf, xlsx]"),
        exit=2,
        says=("config.yaml:", "attach[1]", "'xlsx' is not one of pdf, html, csv"),
    ),
    Case("paid-and-sold-nothing", "#9", _total_loss, check=_check_total_loss),
    Case(
        "quote-and-tag-in-a-name",
        "#9: static SVG charts in report.html",
        lambda ws: ws.edit(
            "data/influencers.csv", "A1,Asha Rao,", "A1,O'Brien <img src=x onerror=alert(1)>,"
        ),
        check=_static_charts_hold_the_name_as_text,
    ),
    Case(
        "broken-template-override",
        "#9: report templates",
        lambda ws: ws.write("templates/_tables.html", "{% for row in %}\n"),
        exit=5,
        says=("_tables.html:1",),
    ),
    Case(
        "long-name-pdf",
        "#7: 100,000-character influencer name stalled WeasyPrint for over 10 minutes",
        _long_name,
        check=_check_long_name,
        marks=(pytest.mark.browser,),
    ),
    Case(
        "long-id-in-finding",
        "#7: the same, as a data-quality example",
        _long_unknown_id,
        check=_check_long_unknown_id,
        marks=(pytest.mark.browser,),
    ),
    Case(
        "study-chart-long-name",
        "#10: a hostile name in the attribution chart (HTML, SVG in the PDF)",
        _study_long_name,
        check=_check_study_long_name,
        marks=(pytest.mark.browser,),
    ),
    Case(
        "no-chromium",
        "#7: chart export needs a browser",
        lambda ws: ws.edit("config.yaml", *WITH_PDF),
        env={"BROWSER_PATH": "/nonexistent/chromium"},
        exit=5,
        says=("chart export needs Chromium",),
    ),
    Case(
        "chromium-dies-at-start",
        "#7: a browser that exits at once",
        lambda ws: ws.edit("config.yaml", *WITH_PDF),
        env={"BROWSER_PATH": "/bin/false"},
        exit=5,
        says=("chart export failed starting Chromium",),
    ),
    Case(
        "bad-data-and-no-chromium",
        "#8: Chromium now starts before the data loads; the data's error is still the one told",
        lambda ws: (
            ws.edit("config.yaml", *WITH_PDF),
            ws.edit("data/tracking_data.csv", "11:00:00,1,2000", "11:00:00,1,2O00"),
        ),
        env={"BROWSER_PATH": "/nonexistent/chromium"},
        exit=3,
        says=("cannot read '2O00' as a number",),
    ),
    Case(
        "bad-data-and-chromium-dies",
        "#8: a browser failing to start while the load fails: one line, the data's",
        lambda ws: (
            ws.edit("config.yaml", *WITH_PDF),
            ws.edit("data/tracking_data.csv", "11:00:00,1,2000", "11:00:00,1,2O00"),
        ),
        env={"BROWSER_PATH": "/bin/false"},
        exit=3,
        says=("cannot read '2O00' as a number",),
    ),
]


def _in_duckdb_file(*sql: str, url: str = "duckdb://wh.duckdb") -> Callable[[Workspace], None]:
    """Load the tiny data into a DuckDB file, change it with ``sql``, and read it from there."""

    def setup(ws: Workspace) -> None:
        import duckdb

        r = run(ws, "load", "data", "--into", "duckdb://wh.duckdb")
        assert r.returncode == 0, r.stderr
        with duckdb.connect(str(ws.root / "wh.duckdb")) as con:
            for statement in sql:
                con.execute(statement)
        ws.edit("config.yaml", "  kind: files\n  path: data\n", f"  kind: sql\n  url: {url}\n")

    return setup


AD_HOC_WEEK = ("--from", "2025-07-01", "--to", "2025-07-07")


def _not_created(path: Path) -> None:
    assert not path.exists(), f"{path} was created by a load that failed"


def _duckdb_file(ws: Workspace, *sql: str) -> None:
    """Create wh.duckdb in the workspace with ``sql`` run in it."""
    import duckdb

    with duckdb.connect(str(ws.root / "wh.duckdb")) as con:
        for statement in sql:
            con.execute(statement)


def _loaded_with_study(ws: Workspace) -> None:
    """Load the tiny data with study tables into wh.duckdb, then take the study files away."""
    from tests.test_study_tables import ASSIGNMENTS, CONVERSIONS, TOUCHPOINTS

    study = {"touchpoints": TOUCHPOINTS, "conversions": CONVERSIONS, "assignments": ASSIGNMENTS}
    for table, text in study.items():
        ws.write(f"data/{table}.csv", text)
    r = run(ws, "load", "data", "--into", "duckdb://wh.duckdb")
    assert r.returncode == 0, r.stderr
    for table in study:
        (ws.data / f"{table}.csv").unlink()


def _sql_url(url: str) -> Callable[[Workspace], None]:
    return lambda ws: ws.edit(
        "config.yaml", "  kind: files\n  path: data\n", f"  kind: sql\n  url: {url}\n"
    )


# --- databases (source kind: sql) --------------------------------------------------------------
SOURCE_CASES: list[Case] = [
    Case(
        "sql-password-in-data-url",
        "#8: an ad hoc URL is shown in the error, never its password",
        _nothing,
        args=("build", "--data", "postgresql://u:Pa55-w0rd@127.0.0.1:5432/test", *AD_HOC_WEEK),
        exit=2,
        says=("--data postgresql://u:***@127.0.0.1:5432/test: the URL holds a password",),
        check=lambda ws, r: _never_shows("Pa55-w0rd", r),
    ),
    Case(
        "sql-missing-table",
        "#8",
        _in_duckdb_file("DROP TABLE payouts"),
        exit=3,
        says=("duckdb://", "no table main.payouts for payouts", "source.tables.payouts"),
    ),
    Case(
        "sql-missing-column",
        "#8",
        _in_duckdb_file("ALTER TABLE tracking_data DROP COLUMN revenue"),
        exit=3,
        says=("main.tracking_data: missing column 'revenue' for tracking_data.revenue",),
    ),
    Case(
        "sql-number-stored-as-text",
        "#8: no guessing at a decimal mark",
        _in_duckdb_file("ALTER TABLE tracking_data ALTER revenue TYPE VARCHAR"),
        exit=3,
        says=("column 'revenue' (tracking_data.revenue) is of type string", "casts it"),
    ),
    Case(
        "sql-money-nan",
        "#8: a float column can hold NaN",
        _in_duckdb_file(
            "UPDATE tracking_data SET revenue = 'nan'::DOUBLE WHERE tracking_id = 'T02'"
        ),
        exit=3,
        says=("main.tracking_data: tracking_id 'T02', column 'revenue': nan",),
    ),
    Case(
        "sql-repeated-influencer",
        "#8",
        _in_duckdb_file(
            "INSERT INTO influencers SELECT * FROM influencers WHERE influencer_id = 'A1'"
        ),
        exit=3,
        says=("main.influencers: column 'influencer_id': 1 duplicate id(s), e.g. 'A1'",),
    ),
    Case(
        "sql-conflicting-ids",
        "#8",
        _in_duckdb_file(
            "INSERT INTO tracking_data SELECT * REPLACE (revenue + 1 AS revenue) "
            "FROM tracking_data WHERE tracking_id = 'T01'"
        ),
        exit=3,
        says=("column 'tracking_id': id 'T01' is on rows that differ",),
    ),
    Case(
        "sql-empty-tracking",
        "#8",
        _in_duckdb_file("DELETE FROM tracking_data"),
        exit=3,
        says=("main.tracking_data: tracking_data has no rows", "source.allow_empty"),
    ),
    Case(
        "sql-view-fails-when-run",
        "audit: a DuckDB conversion error ended in a traceback",
        _in_duckdb_file(
            "ALTER TABLE tracking_data RENAME TO raw_tracking",
            "CREATE VIEW tracking_data AS SELECT * REPLACE (cast('x' AS DOUBLE) AS revenue) "
            "FROM raw_tracking",
        ),
        exit=3,
        says=(
            "duckdb://",
            "reading main.tracking_data failed: Conversion Error",
            "fix the data or the view",
        ),
    ),
    Case(
        "sql-fraction-in-orders",
        "audit: a DOUBLE orders column of 1.5 was rounded to 2",
        _in_duckdb_file(
            "ALTER TABLE tracking_data ALTER orders TYPE DOUBLE",
            "UPDATE tracking_data SET orders = 1.5 WHERE tracking_id = 'T02'",
        ),
        exit=3,
        says=(
            "main.tracking_data: tracking_id 'T02', column 'orders': 1.5 is not a whole number",
            "round it in a view or fix the data",
        ),
    ),
    Case(
        "sql-whole-decimals",
        "audit: a decimal column holding whole numbers is read as they are",
        _in_duckdb_file("ALTER TABLE tracking_data ALTER orders TYPE DECIMAL(10, 2)"),
        check=lambda ws, r: _expect_kpi(ws, r, "orders", 10),  # as from the files
    ),
    Case(
        "sql-missing-schema",
        "audit: said 'no table' and 'tables in X: none'",
        _in_duckdb_file(),
        args=(
            *("build", "--data", "duckdb://wh.duckdb", "--schema", "sales"),
            *("--from", "2025-07-01", "--to", "2025-07-07"),
        ),
        exit=3,
        says=(
            "schema 'sales' does not exist",
            "reportgen load DIR --into duckdb://",
            "--schema sales`",
        ),
    ),
    Case(
        "sql-no-database-file",
        "#8",
        _sql_url("duckdb://missing.duckdb"),
        exit=4,
        says=("missing.duckdb: no such database file",),
    ),
    Case(
        "sql-password-in-url",
        "#8: secrets only from the environment",
        _sql_url("postgresql://postgres:hunter2@127.0.0.1:5432/test"),
        exit=2,
        says=("source.url: the URL holds a password", "source.password_env"),
        check=lambda ws, r: _never_shows("hunter2", r),
    ),
    Case(
        "sql-unreachable",
        "#8",
        _sql_url("postgresql://postgres@127.0.0.1:1/test"),
        exit=4,
        says=("postgresql://postgres@127.0.0.1:1/test: cannot connect", "PostgreSQL is running"),
        env={"REPORTGEN_DB_PASSWORD": "s3cret-Xy"},
        check=lambda ws, r: _never_shows("s3cret-Xy", r),
    ),
    Case(
        "sql-unknown-host",
        "audit: psycopg says 'failed to resolve host', which had no advice",
        _sql_url("postgresql://u@nosuchhost.invalid/db"),
        exit=4,
        says=("cannot connect (failed to resolve host 'nosuchhost.invalid'", "check host and port"),
    ),
    Case(
        "sql-ad-hoc-unknown-scheme",
        "#8",
        _nothing,
        args=(
            "build",
            "--data",
            "oracle://root@127.0.0.1/test",
            "--from",
            "2025-07-01",
            "--to",
            "2025-07-07",
        ),
        exit=2,  # a usage error, as in a config file
        says=("--data oracle://root@127.0.0.1/test: unknown database scheme 'oracle://'",),
    ),
    Case(
        "sql-ad-hoc-unclosed-ipv6",
        "#8: urllib's ValueError came out as a traceback",
        _nothing,
        args=("build", "--data", "postgresql://u@[::1/db", *AD_HOC_WEEK),
        exit=2,
        says=("--data postgresql://u@[::1/db: not a database URL (Invalid IPv6 URL)",),
    ),
    Case(
        "sql-url-unknown-parameter",
        "fix-load: ?sslmode=require and any other parameter were dropped without a word",
        _sql_url("postgresql://postgres@127.0.0.1:5432/test?sslmod=require"),
        exit=2,
        says=("source.url: unknown URL parameter 'sslmod'", "sslmode, sslrootcert"),
    ),
]


CASES = [*CONFIG_CASES, *DATA_CASES, *SOURCE_CASES, *STATE_CASES, *RENDER_CASES]


@pytest.fixture(scope="module")
def good_build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the tiny workspace once; each case starts from a copy of it."""
    root = tmp_path_factory.mktemp("good")
    shutil.copytree(TINY, root / "data")
    (root / "config.yaml").write_text(TINY_CONFIG)
    r = run(Workspace(root), "build", "--as-of", "2025-07-07")
    assert r.returncode == 0, r.stderr
    return root


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_hostile(case: Case, good_build: Path, tmp_path: Path) -> None:
    root = tmp_path / "ws"
    shutil.copytree(good_build, root, symlinks=True)
    ws = Workspace(root)
    case.setup(ws)
    before_output, before_history = snapshot(ws.output), history(root / "state")
    args = case.args
    if args[:1] == ("build",) and "--as-of" not in args and "--from" not in args:
        args = (*args, "--as-of", "2025-07-07")
    r = run(ws, *args, env=case.env)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == case.exit, r.stderr
    if case.exit != 0:
        lines = r.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("reportgen: error: "), r.stderr
        error = [line for line in lines if line.startswith("reportgen: error: ")]
        assert len(error) == 1, r.stderr
        for text in case.says:
            assert text in error[0], (text, error[0])
        assert snapshot(ws.output) == before_output, "a failed run changed the output"
        # A failed run may add its own record, but every earlier one stays as it was.
        assert before_history <= history(root / "state"), "a failed run changed the run history"
    if case.check is not None:
        case.check(ws, r)
