"""The Spark engine: the same presets from the same Parquet folder as DuckDB, figure for figure.

Real Spark in local mode (Java 17), one session for the module: the builds run in process
with ``reportgen.cli.main`` and use the session that is already active, as a notebook would.
"""

from __future__ import annotations

import json
import shutil
import textwrap
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from reportgen import config as config_mod
from reportgen.cli import main

pytestmark = pytest.mark.slow

AS_OF = "2026-11-30"
PRESETS = """\
presets:
  november:
    title: November, all brands
    window: {start: 2026-11-01, end: 2026-11-30}
    formats: [csv]
    sections: [overview, attribution, incrementality]
  muscleblaze-30d:
    title: MuscleBlaze, last 30 days
    window: last_30_days
    brands: [MuscleBlaze]
    formats: [csv]
"""


@pytest.fixture(scope="module")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Start one Spark session the way a build does (UTC, quiet), for the whole module."""
    pytest.importorskip("pyspark", reason="pyspark not installed (pip install 'reportgen[spark]')")
    if shutil.which("java") is None:
        pytest.skip("no Java on PATH (Spark needs Java 17)")
    from reportgen.sources.spark import session

    cfg = config_mod.loads("presets: {x: {}}\nengine: {kind: spark}\n")
    with session(cfg) as active:
        yield active


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Simulate 20 influencers over 60 days to 2026-11-30 as Parquet, plus a holdout study."""
    root = tmp_path_factory.mktemp("spark")
    args = ["simulate", "--influencers", "20", "--days", "60", "--end-date", AS_OF]
    assert main([*args, "--out", str(root / "sim")]) == 0  # 4,608 sales
    # --journeys writes the study's own few sales as tracking_data: take only its study tables.
    assert main([*args, "--journeys", "300", "--out", str(root / "study")]) == 0
    for table in ("touchpoints", "conversions", "assignments"):
        shutil.copy(root / "study" / f"{table}.parquet", root / "sim")
    return root / "sim"


def _workspace(root: Path, data: Path) -> Path:
    """Write a config over ``data`` with the two presets; return the config path."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "config.yaml"
    source = f"source: {{kind: files, path: {data}}}\nschedule: {{state_dir: {root / 'state'}}}\n"
    path.write_text(source + PRESETS)
    return path


def _build(cfg: Path, out: Path, engine: str, *extra: str) -> None:
    args = ["-q", "-c", str(cfg), "build", "--engine", engine, "--out", str(out)]
    assert main([*args, *extra]) == 0


def _summary(out: Path, preset: str, day: str = AS_OF) -> dict[str, Any]:
    return json.loads((out / preset / day / "summary.json").read_text())


def _figures(summary: dict[str, Any]) -> dict[str, Any]:
    """Return everything but where the data came from (config file, source provenance)."""
    return {k: v for k, v in summary.items() if k not in ("source", "config")}


def test_presets_match_duckdb_and_spark_builds_are_reused(spark, sim, tmp_path):
    cfg = _workspace(tmp_path / "ws", sim)
    duck, spk = tmp_path / "duckdb", tmp_path / "spark"
    _build(cfg, duck, "duckdb", "--as-of", AS_OF)
    _build(cfg, spk, "spark", "--as-of", AS_OF)
    for preset in ("november", "muscleblaze-30d"):
        d, s = _summary(duck, preset), _summary(spk, preset)
        assert _figures(s) == _figures(d), preset
        assert s["source"]["engine"] == {"kind": "spark", "master": spark.sparkContext.master}
        assert s["source"]["files"] == d["source"]["files"]  # the same file hashes
    assert {"touchpoints", "conversions", "assignments"} <= set(s["source"]["files"])
    assert {"attribution", "incrementality"} <= set(_summary(spk, "november"))
    # By hand, from the Parquet file: November's revenue and orders (times are local time).
    t = pq.read_table(sim / "tracking_data.parquet")
    nov = t.filter(
        (pc.field("date") >= datetime(2026, 11, 1)) & (pc.field("date") < datetime(2026, 12, 1))
    )
    kpis = _summary(spk, "november")["kpis"]
    assert kpis["revenue"] == pytest.approx(pc.sum(nov["revenue"]).as_py(), abs=0.005)
    assert kpis["orders"] == pc.sum(nov["orders"]).as_py()
    assert _summary(spk, "muscleblaze-30d")["filters"]["brands"] == ["MuscleBlaze"]
    # Unchanged data, config and as-of: the Spark build is reused, not rebuilt.
    folder = spk / "november" / AS_OF
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    _build(cfg, spk, "spark", "--as-of", AS_OF)
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    # The other engine's build of the same folder is not taken for this one's.
    _build(cfg, spk, "duckdb", "--as-of", AS_OF)
    assert (folder / ".build-key").stat().st_mtime_ns != before[".build-key"]
    assert "engine" not in _summary(spk, "november")["source"]


def _plant(sim: Path, dest: Path) -> Path:
    """Copy the folder, add a negative sale and one of an unknown influencer; zone the times.

    The times become UTC instants (Parquet ``isAdjustedToUTC``), which Spark reads as
    TimestampType and DuckDB as TIMESTAMPTZ: both must place each sale on the same local day.
    """
    shutil.copytree(sim, dest)
    path = dest / "tracking_data.parquet"
    t = pq.read_table(path)
    rows = [
        ("TRK9000001", "INF0001", datetime(2026, 11, 15, 10), 1, -500.0),
        ("TRK9000002", "INF9999", datetime(2026, 11, 16, 10), 2, 1234.5),
    ]
    extra = {name: [None] * len(rows) for name in t.column_names}
    for name, i in (("tracking_id", 0), ("influencer_id", 1), ("date", 2), ("orders", 3)):
        extra[name] = [r[i] for r in rows]
    extra["revenue"] = [r[4] for r in rows]
    extra["product"] = ["Whey Protein"] * len(rows)
    t = pa.concat_tables([t, pa.table(extra, schema=t.schema)])
    local = pc.assume_timezone(t["date"], timezone="Asia/Kolkata")
    utc = local.cast(pa.timestamp("us", tz="UTC"))
    pq.write_table(t.set_column(t.schema.get_field_index("date"), "date", utc), path)
    return dest


def test_findings_and_zoned_times_are_the_same_from_both_engines(spark, sim, tmp_path):
    data = _plant(sim, tmp_path / "planted")
    cfg = _workspace(tmp_path / "ws", data)
    adhoc = ("--data", str(data), "--from", "2026-11-01", "--to", "2026-11-30")
    duck, spk = tmp_path / "duckdb", tmp_path / "spark"
    _build(cfg, duck, "duckdb", *adhoc)
    _build(cfg, spk, "spark", *adhoc)
    name = "adhoc-2026-11-01-2026-11-30"
    d, s = _summary(duck, name, "2026-11-30"), _summary(spk, name, "2026-11-30")
    # Examples name the row: DuckDB by its place in the file, Spark by its id (as databases).
    examples = [(f["code"], f.pop("examples")) for f in s["data_quality"]]
    assert [(f["code"], f.pop("examples")) for f in d["data_quality"]][:1] == [
        ("negative_values", ["row 4609"])  # the file's 4,609th row
    ]
    assert examples[:1] == [("negative_values", ["tracking_id TRK9000001"])]
    assert _figures(s) == _figures(d)
    found = {f["code"]: f for f in s["data_quality"]}
    assert found["negative_values"]["rows"] == 1
    assert found["negative_values"]["revenue"] == -500.0
    assert found["unknown_influencer"]["rows"] == 1
    assert found["unknown_influencer"]["revenue"] == 1234.5
    assert "INF9999" in json.dumps(examples)
    # Zoned times read as instants: November in Asia/Kolkata holds what it held unzoned,
    # and neither planted sale counts.
    revenue = _summary(spk, name, "2026-11-30")["kpis"]["revenue"]
    t = pq.read_table(sim / "tracking_data.parquet")
    nov = t.filter(
        (pc.field("date") >= datetime(2026, 11, 1)) & (pc.field("date") < datetime(2026, 12, 1))
    )
    assert revenue == pytest.approx(pc.sum(nov["revenue"]).as_py(), abs=0.005)  # both excluded


def test_engine_setting_in_the_config_and_its_default() -> None:
    assert config_mod.loads("presets: {x: {}}").engine.kind == "duckdb"
    text = textwrap.dedent("""\
        engine:
          kind: spark
          master: spark://head:7077
          conf: {spark.executor.memory: 2g, spark.sql.adaptive.enabled: true}
        presets: {x: {}}
        """)
    engine = config_mod.loads(text).engine
    assert (engine.kind, engine.master) == ("spark", "spark://head:7077")
    assert engine.conf == {"spark.executor.memory": "2g", "spark.sql.adaptive.enabled": "true"}


def test_a_running_session_keeps_its_settings_and_keeps_running(spark, sim, tmp_path):
    # A notebook's session in its own time zone, and a build from another thread (as the
    # scheduler's worker): the active session is per thread, so the build finds none there,
    # yet the context is the notebook's. It must build in UTC without changing the
    # notebook's settings, and leave the context running.
    data = _plant(sim, tmp_path / "planted")  # zoned times: wrong in any zone but UTC
    cfg = _workspace(tmp_path / "ws", data)
    adhoc = ("--data", str(data), "--from", "2026-11-01", "--to", "2026-11-30")
    duck, spk = tmp_path / "duckdb", tmp_path / "spark"
    _build(cfg, duck, "duckdb", *adhoc)
    spark.conf.set("spark.sql.session.timeZone", "Asia/Kolkata")
    try:
        with ThreadPoolExecutor(max_workers=1) as pool:
            pool.submit(_build, cfg, spk, "spark", *adhoc).result()
        assert spark.conf.get("spark.sql.session.timeZone") == "Asia/Kolkata"
    finally:
        spark.conf.set("spark.sql.session.timeZone", "UTC")
    assert spark.range(3).count() == 3  # still running: the build did not stop it
    name = "adhoc-2026-11-01-2026-11-30"
    d, s = _summary(duck, name, "2026-11-30"), _summary(spk, name, "2026-11-30")
    for f in (*d["data_quality"], *s["data_quality"]):
        f.pop("examples")  # DuckDB names rows by place, Spark by id (see above)
    assert _figures(s) == _figures(d)
