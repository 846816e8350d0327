"""Benchmark: the default presets from PostgreSQL, a DuckDB file and the Parquet folder.

    .venv/bin/python bench/scale_sql.py [--rows 1000000 10000000] [--sources pg duckdb parquet]
                                        [--code DIR ...] [--keep]

For each size the data of bench/scale.py (bench/results/scale-<rows>/, simulated once, not
timed) is copied with ``reportgen load`` into a fresh PostgreSQL schema on 127.0.0.1:5432
and into a fresh DuckDB file (timed, not part of the build; PostgreSQL gets VACUUM ANALYZE
after it, as autovacuum would). Then each source is built cold, in a fresh process, with
``--force``: the build's time per stage (load = the source's queries, PostgreSQL's or
DuckDB's own time included, and what comes back; compute; render; publish), the load steps,
the peak memory (RSS) of the build process and of its largest child, ``source.rows_fetched``
of summary.json against the tracking table's rows, and whether every figure of every
summary is the same from the three sources. Then the growth 1M -> 10M of time and of the
build's peak memory, per source, measured in the same run.

``--code DIR`` (repeatable) builds with the reportgen of another checkout as well (for
example ``git archive main | tar -x -C /tmp/before``), on the same loaded data, so that a
change is measured before and after in one run. The schemas are dropped at the end (and
the DuckDB files deleted) unless ``--keep``. Not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

PG = "postgresql://postgres@127.0.0.1:5432/test"
RENDER = ("charts", "html", "browser", "svg", "pdf")
#: Summary parts that must not depend on where the data was read from.
FIGURES = (
    "kpis",
    "kpis_previous",
    "kpis_change",
    "top_influencers_by_revenue",
    "top_influencers_by_roas",
    "top_influencers_by_net",
    "biggest_losses_by_net",
    "breakdowns",
)


def _pg():
    import psycopg

    return psycopg.connect(PG, autocommit=True)


def load_pg(folder: Path, schema: str) -> dict[str, float]:
    """Load ``folder`` into a new schema with ``reportgen load``; return the seconds spent."""
    with _pg() as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        conn.execute(f"CREATE SCHEMA {schema}")
    t0 = time.perf_counter()
    _cli("load", str(folder), "--into", PG, "--schema", schema)
    t1 = time.perf_counter()
    with _pg() as conn:
        # Statistics and the visibility map, as autovacuum would set them after a bulk load
        # (it is off on this server); without them the first build pays for hint bits.
        conn.execute(f"VACUUM ANALYZE {schema}.tracking_data")
        conn.execute(f"VACUUM ANALYZE {schema}.posts")
    return {"load": t1 - t0, "vacuum": time.perf_counter() - t1}


def load_duckdb(folder: Path, path: Path) -> dict[str, float]:
    """Load ``folder`` into a new DuckDB file with ``reportgen load``; return the seconds."""
    path.unlink(missing_ok=True)
    t0 = time.perf_counter()
    _cli("load", str(folder), "--into", f"duckdb:///{path}")
    return {"load": time.perf_counter() - t0, "vacuum": 0.0}


def _cli(*args: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "reportgen", "--quiet", *args],
        check=True,
        cwd=ROOT,
        env=env,
        capture_output=True,
    )


def table_rows(source: dict[str, Any]) -> int:
    """Return the tracking table's row count as the source itself has it."""
    if source["kind"] == "files":
        import pyarrow.parquet as pq

        return pq.ParquetFile(Path(source["path"]) / "tracking_data.parquet").metadata.num_rows
    if source["url"].startswith("duckdb"):
        import duckdb

        with duckdb.connect(source["url"].removeprefix("duckdb:///"), read_only=True) as con:
            return con.execute("SELECT count(*) FROM tracking_data").fetchall()[0][0]
    with _pg() as conn:
        row = conn.execute(f"SELECT count(*) FROM {source['schema']}.tracking_data").fetchone()
        assert row is not None
        return int(row[0])


def child(source: dict[str, Any], as_of: str) -> dict[str, Any]:
    """Build the default config's presets from ``source`` (in this fresh process)."""
    from datetime import date

    from reportgen import config, sources
    from reportgen.build import Timings, build

    steps: dict[str, float] = {}
    opened = sources.open_dataset

    def spy(*args: Any, **kwargs: Any) -> Any:
        ds = opened(*args, **kwargs)
        steps.update(ds.timings)
        # The peak so far is the data's: what the source brought back and holds.
        steps["peak after load (MB)"] = peak_mb()
        return ds

    sources.open_dataset = spy  # the load steps, which the build keeps inside its Dataset
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        raw["source"] = source
        raw["output"] = {"dir": f"{tmp}/output"}
        raw["schedule"] = {"state_dir": f"{tmp}/state"}
        (Path(tmp) / "config.yaml").write_text(yaml.safe_dump(raw))
        cfg = config.load(Path(tmp) / "config.yaml")
        timings = Timings()
        t0 = time.perf_counter()
        outputs = build(cfg, as_of=date.fromisoformat(as_of), timings=timings, force=True)
        wall = time.perf_counter() - t0
    from scale import stage_times

    figures = [{k: o.summary.get(k) for k in FIGURES} for o in outputs]
    return {
        **stage_times(timings.stages, wall),
        "steps": steps,
        "reports": len(outputs),
        "rows_fetched": outputs[0].summary["source"].get("rows_fetched"),
        "figures": hashlib.sha256(json.dumps(figures, sort_keys=True).encode()).hexdigest()[:12],
        "peak_mb": peak_mb(),
        # ru_maxrss is KiB on Linux; a forked child's includes what it shares with the build.
        "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def peak_mb() -> float:
    """Return this process's peak RSS in MB.

    VmHWM, not ru_maxrss: Linux carries the launching process's peak into ru_maxrss across
    exec, so every build would report at least this bench's own size.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(source: dict[str, Any], as_of: str, code: Path) -> dict[str, Any]:
    """Build from ``source`` with the reportgen in ``code``, in a fresh process."""
    spec = json.dumps({"source": source, "as_of": as_of, "code": str(code)})
    out = subprocess.run(
        [sys.executable, __file__, "--child", spec], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def last_day(folder: Path) -> str:
    """Return the last tracking day of the folder (the as-of date of every build)."""
    import duckdb

    sql = f"SELECT max(date)::DATE FROM '{folder}/tracking_data.parquet'"
    return duckdb.sql(sql).fetchall()[0][0].isoformat()


def prepare(kind: str, folder: Path, rows: int, created: list[tuple[str, str]]) -> tuple:
    """Load ``folder`` for ``kind``; return (source config, load seconds).

    ``pg+pk`` is the same PostgreSQL table with a primary key on tracking_id, as a table
    kept by an application usually has: the schema ``pg`` loaded (when it came first), or
    a new one, then ``ALTER TABLE ... ADD PRIMARY KEY`` (timed as "vacuum").
    """
    if kind == "parquet":
        return {"kind": "files", "path": str(folder)}, {"load": 0.0, "vacuum": 0.0}
    if kind in ("pg", "pg+pk"):
        schema = f"bench_{rows}_{os.getpid()}"
        if ("pg", schema) in created:
            prep = {"load": 0.0, "vacuum": 0.0}
        else:
            created.append(("pg", schema))
            prep = load_pg(folder, schema)
        if kind == "pg+pk":
            t0 = time.perf_counter()
            with _pg() as conn:
                conn.execute(f"ALTER TABLE {schema}.tracking_data ADD PRIMARY KEY (tracking_id)")
            prep["vacuum"] += time.perf_counter() - t0
        return {"kind": "sql", "url": PG, "schema": schema}, prep
    path = ROOT / "bench" / "results" / f"scale-{rows}-{os.getpid()}.duckdb"
    created.append(("duckdb", str(path)))
    return {"kind": "sql", "url": f"duckdb:///{path}"}, load_duckdb(folder, path)


def cleanup(created: list[tuple[str, str]]) -> None:
    """Drop the schemas and delete the DuckDB files this run made."""
    for kind, name in created:
        if kind == "pg":
            with _pg() as conn:
                conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        else:
            Path(name).unlink(missing_ok=True)


def report(label: str, rows: int, r: dict[str, Any], prep: dict[str, float]) -> None:
    """Print one build's line and its load steps."""
    fetched = r["rows_fetched"]
    print(
        f"{label:<14} {rows:>11,} rows  db load {prep['load']:6.1f} s (+vacuum/key "
        f"{prep['vacuum']:4.1f})  build: load {r['load']:6.2f} s  compute {r['compute']:5.2f} s  "
        f"render {r['render']:5.2f} s  publish {r['publish']:4.2f} s  total {r['total']:6.2f} s  "
        f"peak {r['peak_mb']:5.0f} MB (child {r['child_peak_mb']:4.0f} MB)  rows back "
        f"{'-' if fetched is None else f'{fetched:,}'}  figures {r['figures']}  "
        f"load avg {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    steps = ", ".join(f"{k} {v:.2f}" for k, v in r["steps"].items() if "MB" not in k)
    steps += f"; peak after load {r['steps'].get('peak after load (MB)', 0):.0f} MB"
    print(f"{'':14}   load steps (s): {steps}", flush=True)


def growth(results: dict[tuple[str, int], dict[str, Any]], sizes: list[int]) -> None:
    """Print the growth between consecutive sizes per source, against the rows' growth."""
    labels = sorted(
        {label for label, _ in results}, key=lambda s: list(results).index((s, sizes[0]))
    )
    for n0, n1 in itertools.pairwise(sizes):
        x = n1 / n0
        print(f"growth {n0:,} -> {n1:,} rows ({x:.0f}x rows; time ratio / {x:.0f}: 1.0 = linear)")
        for label in labels:
            a, b = results[(label, n0)], results[(label, n1)]
            parts = [f"{k} x{b[k] / a[k]:.2f} ({b[k] / a[k] / x:.2f})" for k in ("load", "total")]
            la, lb = (r["steps"].get("peak after load (MB)", 0) for r in (a, b))
            print(
                f"  {label:<14} time {', '.join(parts)}; peak memory x"
                f"{b['peak_mb'] / a['peak_mb']:.2f} ({a['peak_mb']:.0f} -> {b['peak_mb']:.0f} MB),"
                f" after load x{lb / la if la else 0:.2f} ({la:.0f} -> {lb:.0f} MB)"
            )


def main() -> None:
    """Load and build every size from every source; print the figures and the growth."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000])
    ap.add_argument("--sources", nargs="+", default=["pg", "pg+pk", "duckdb", "parquet"])
    ap.add_argument("--code", type=Path, action="append", default=[], help="another checkout")
    ap.add_argument("--code-sources", nargs="+", help="build these with --code too (all)")
    ap.add_argument("--keep", action="store_true", help="keep the schemas and DuckDB files")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        spec = json.loads(args.child)
        sys.path.insert(0, spec["code"])  # this checkout's reportgen, or another's
        print(json.dumps(child(spec["source"], spec["as_of"])))
        return
    from scale import ensure_data

    codes = [ROOT, *[c.resolve() for c in args.code]]
    created: list[tuple[str, str]] = []
    results: dict[tuple[str, int], dict[str, Any]] = {}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        for rows in args.rows:
            folder = ensure_data(rows)
            as_of = last_day(folder)
            hashes: set[str] = set()
            for kind in args.sources:
                source, prep = prepare(kind, folder, rows, created)
                assert table_rows(source) == rows, f"{kind}: tracking rows differ from {rows}"
                for code in codes:
                    if code != ROOT and args.code_sources and kind not in args.code_sources:
                        continue
                    label = kind if code == ROOT else f"{kind}@{code.name}"
                    r = measure(source, as_of, code)
                    results[(label, rows)] = r
                    hashes.add(r["figures"])
                    report(label, rows, r, prep)
            same = "identical" if len(hashes) == 1 else f"DIFFERENT ({len(hashes)} versions)"
            print(f"{rows:,} rows: summary figures from every source and code: {same}", flush=True)
    finally:
        if not args.keep:
            cleanup(created)
    print(f"load average at end: {os.getloadavg()}", flush=True)
    growth(results, args.rows)


if __name__ == "__main__":
    main()
