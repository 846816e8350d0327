"""The Spark engine: a folder's Parquet files read, checked and aggregated by Spark.

With ``engine: {kind: spark}`` a files or simulate source is not scanned by the local DuckDB:
a SparkSession (local mode, or the cluster ``engine.master`` names) reads the four seed
tables' Parquet files, and the canonical layer (:mod:`reportgen.sources.canonical`) runs the
mapping, the checks and the aggregation per day, influencer and product there, through Ibis's
PySpark backend. Only counts, examples, the dimensions and that aggregate come back into the
build's local DuckDB, where the presets are sliced as for every other source.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from reportgen.config import TABLES, Config
from reportgen.errors import DataError, SourceUnavailable
from reportgen.sources import Dataset
from reportgen.sources.dialects import Dialect, first_line

logger = logging.getLogger(__name__)
# py4j logs each connection it closes at INFO, which the CLI would print.
logging.getLogger("py4j").setLevel(logging.WARNING)

INSTALL_HINT = "pip install 'reportgen[spark]' (PySpark >= 3.5, < 4.1) and Java 17"


def load_folder(folder: Path, config: Config, origin: str = "files") -> Dataset:
    """Read the folder's Parquet tables in Spark and land their canonical forms locally."""
    from reportgen.sources import layout
    from reportgen.sources.canonical import canonicalize

    folder = Path(folder)
    if not folder.is_dir():
        raise SourceUnavailable(
            f"{folder}: data folder not found; set source.path in the config or pass --data DIR"
        )
    paths = {table: layout.find_file(folder, table, config) for table in TABLES}
    paths.update(layout.study_files(folder, config))  # fetched whole and checked locally
    _refuse_csv(folder, paths)
    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    ds = Dataset(con=con, provenance={"source": origin, "path": str(folder), "files": {}})
    with session(config) as spark:
        import ibis

        ds.provenance["engine"] = {"kind": "spark", "master": spark.sparkContext.master}
        backend = ibis.pyspark.connect(spark)
        where = str(folder)
        dialect = Dialect("pyspark", where, explain=spark_errors(where))
        raw = {t: _read(spark, backend, p, t) for t, p in paths.items()}
        labels = {t: p.name for t, p in paths.items()}  # as the files source names them
        ds.provenance["tables"] = {t: {"table": str(p)} for t, p in paths.items()}
        canonicalize(ds, raw, config, labels, dialect)
    for table, path in paths.items():
        ds.provenance["files"][table] = {"file": path.name, "sha256": layout.digest(path)}
    ds.provenance.pop("tables")  # the files source records files; keep one shape per origin
    return ds


def _refuse_csv(folder: Path, paths: dict[str, Path]) -> None:
    """Refuse CSV files: Spark reads the Parquet layout, whose types need no guessing."""
    csv = sorted(p.name for p in paths.values() if p.suffix == ".csv")
    if csv:
        raise DataError(
            f"{folder}: {', '.join(csv)}: the Spark engine reads the Parquet layout, not CSV; "
            "write Parquet (`reportgen simulate --format parquet`, or export the tables as "
            "Parquet), load the folder into a database (`reportgen load DIR --into URL`), or "
            "build with --engine duckdb"
        )


def _read(spark: Any, backend: Any, path: Path, table: str) -> Any:
    """Return the Parquet file as a relation of the Spark backend."""
    name = f"reportgen_{table}"
    try:
        df = spark.read.parquet(str(path.resolve()))
        df.createOrReplaceTempView(name)
        t = backend.table(name)
    except Exception as exc:  # Spark raises AnalysisException and others for a damaged file
        raise DataError(
            f"{path}: cannot read {table}: {first_line(exc)}; the file looks damaged or "
            "truncated: export it again"
        ) from None
    return _zoned(t, df)


def _zoned(t: Any, df: Any) -> Any:
    """Return ``t`` with Spark's zoned timestamps typed as zoned (UTC) for Ibis.

    Spark reads a Parquet timestamp with a zone as TimestampType and one without as
    TimestampNTZType; Ibis 12 types both as a timestamp without zone, which would read
    instants as local times. The cast only restores the type: the values are unchanged.
    """
    import ibis.expr.datatypes as dt
    from pyspark.sql.types import TimestampType

    zoned = [f.name for f in df.schema.fields if isinstance(f.dataType, TimestampType)]
    if not zoned:
        return t
    return t.mutate(**{c: t[c].cast(dt.Timestamp(timezone="UTC")) for c in zoned})


@contextmanager
def session(config: Config) -> Iterator[Any]:
    """Yield a SparkSession in UTC with quiet logs; stop it after, unless Spark was running.

    A context already running in this process (a notebook's session, in this thread or
    another, since the active session is per thread) on the configured master is built on
    through a session of our own (``newSession``: the context and cache shared, settings
    apart) and left running: the build's UTC time zone and Ibis's settings never change the
    owner's session, and its owner stops it. One on another master stops the build (see
    ``_refuse_other_context``).
    """
    SparkSession = _pyspark()
    engine = config.engine
    running = _refuse_other_context(engine.master)  # a running context is on this master
    if running is not None:
        ours = SparkSession(running).newSession()
        ours.conf.set("spark.sql.session.timeZone", "UTC")
        yield ours
        return
    settings = {**_DEFAULT_CONF, **engine.conf, "spark.sql.session.timeZone": "UTC"}
    try:
        _start_java(settings)
        builder = SparkSession.builder.master(engine.master).appName("reportgen")
        for key, value in settings.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
    except Exception as exc:  # Java missing or failing, master unreachable
        raise SourceUnavailable(
            f"engine spark (master {engine.master}): Spark did not start: {_why(exc)}; "
            f"it needs {INSTALL_HINT}"
        ) from None
    spark.sparkContext.setLogLevel("ERROR")
    try:
        yield spark
    finally:
        spark.stop()


def _same_master(running: str, configured: str) -> bool:
    """Return whether a running session's master serves a build configured for ``configured``.

    Local mode of any size counts as one master: the figures do not depend on the cores, and
    the default ``local[2]`` must build on a notebook's ``local[*]`` session, not refuse it.
    """
    if running.startswith("local") and configured.startswith("local"):
        return True
    return running == configured


def _refuse_other_context(master: str) -> Any:
    """Return the running Spark context, if any; raise SourceUnavailable if on another master.

    A process holds one SparkContext, and the builder hands back the running one whatever
    master it is asked for: a build configured for a cluster would silently run in a leftover
    local session (or the other way round). Stopping that context is not ours to do (it may be
    a notebook's, with its cached data), so the build stops and says what to change.
    """
    from pyspark import SparkContext

    running = SparkContext._active_spark_context
    if running is None or _same_master(running.master or "", master):
        return running
    raise SourceUnavailable(
        f"engine spark (master {master}): a Spark session on {running.master} is already "
        "running in this process, and a process holds only one; set engine.master to "
        f"{running.master} to build on it, or stop that session first"
    )


def _start_java(settings: dict[str, str]) -> None:
    """Start Spark's JVM with its stderr in a log file: no banner or warnings on ours.

    The JVM outlives a stopped session (PySpark reuses it), so this happens once a process.
    """
    from pyspark import SparkConf, SparkContext
    from pyspark.java_gateway import launch_gateway

    global _JVM_LOG
    if SparkContext._gateway is not None:
        return
    fd, name = tempfile.mkstemp(prefix="reportgen-spark-", suffix=".log")
    _JVM_LOG = Path(name)
    conf = SparkConf(loadDefaults=False).setAll(list(settings.items()))
    with os.fdopen(fd, "wb") as log:
        gateway = launch_gateway(conf, popen_kwargs={"stderr": log, "stdout": log})
    SparkContext._ensure_initialized(gateway=gateway)
    atexit.register(_JVM_LOG.unlink, missing_ok=True)  # the JVM may write to it until then


#: The JVM's log file, read to explain a failed start.
_JVM_LOG: Path | None = None


def _why(exc: Exception) -> str:
    """Return why Spark failed to start: the JVM log's first error line, or the exception's."""
    lines: list[str] = []
    if _JVM_LOG is not None and _JVM_LOG.is_file():
        text = _JVM_LOG.read_text(errors="replace").splitlines()
        # The first such line is the cause; what follows is the JVM giving up.
        lines = [ln.strip() for ln in text if re.search(r"Exception|Error|Invalid", ln)]
        _JVM_LOG.unlink(missing_ok=True)
    return lines[0][:300] if lines else first_line(exc)[:300]


#: Settings a build's own session starts with; engine.conf adds to or overrides them.
_DEFAULT_CONF: dict[str, str] = {
    "spark.ui.enabled": "false",  # no web UI port per build
    "spark.ui.showConsoleProgress": "false",  # no progress bars on stderr
    "spark.sql.shuffle.partitions": "4",  # the aggregate is small; 200 tasks cost seconds
    # Results come back through Arrow, not row by row through pandas (Ibis fetches with toPandas).
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}


def _pyspark() -> Any:
    """Return pyspark's SparkSession class, or refuse when PySpark or Java is missing."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise SourceUnavailable(f"engine spark: PySpark is not installed; {INSTALL_HINT}") from None
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise SourceUnavailable(f"engine spark: no Java on PATH (set JAVA_HOME); {INSTALL_HINT}")
    return SparkSession


def spark_errors(where: str) -> Callable[[Exception], Exception | None]:
    """Return the explainer of Spark errors met while querying Parquet files."""

    def explain(exc: Exception) -> Exception | None:
        name = type(exc).__name__
        if name in ("Py4JNetworkError", "Py4JError") or "SparkContext was shut down" in str(exc):
            return SourceUnavailable(f"{where}: the Spark session stopped answering; retry")
        return None

    return explain
