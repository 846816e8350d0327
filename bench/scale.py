"""Benchmark: the default presets over 1M, 10M and 100M tracking rows with the file source.

    .venv/bin/python bench/scale.py [--rows 1000000 10000000 ...] [--data DIR ...]

Each size is simulated once into bench/results/scale-<rows>/ (not timed; or pass --data with
folders simulated before, one per size) and built in a fresh process with ``--force``: the
build's own time per stage (load = hashing, reading and validating; compute; render = charts,
HTML, chart export and PDF; publish) and the peak memory of the build process and of its
largest child (PDF worker or Chromium). Then the growth between sizes against the rows'
growth, measured in the same run: 1.0 is linear. Not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import itertools
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RENDER = ("charts", "html", "browser", "svg", "pdf")


def ensure_data(rows: int) -> Path:
    """Simulate the default data at ``rows`` tracking rows once and return the folder."""
    from reportgen.sources.simulate import SimulationSpec, simulate

    folder = ROOT / "bench" / "results" / f"scale-{rows}"
    if not (folder / ".complete").exists():
        simulate(SimulationSpec(influencers=120, days=400, rows=rows), folder)
        (folder / ".complete").write_text("ok\n")
    return folder


def stage_times(s: dict[str, float], wall: float) -> dict[str, float]:
    """Return a build's stages as the benches print them: load, compute, render, publish, total."""
    return {
        "load": s.get("reuse check", 0.0) + s.get("load", 0.0),
        "compute": s.get("compute", 0.0),
        "render": sum(s.get(k, 0.0) for k in RENDER),
        "publish": s.get("publish", 0.0),
        "total": wall,
    }


def child(data: Path) -> dict:
    """Build the default config's presets over ``data`` (in this fresh process)."""
    import duckdb

    from reportgen import config
    from reportgen.build import Timings, build

    raw = yaml.safe_load((ROOT / "config.yaml").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        raw["source"] = {"kind": "files", "path": str(data)}
        raw["output"] = {"dir": f"{tmp}/output"}
        raw["schedule"] = {"state_dir": f"{tmp}/state"}
        (Path(tmp) / "config.yaml").write_text(yaml.safe_dump(raw))
        cfg = config.load(Path(tmp) / "config.yaml")
        sql = f"SELECT max(date)::DATE FROM '{data}/tracking_data.parquet'"
        last = duckdb.sql(sql).fetchall()[0]
        timings = Timings()
        t0 = time.perf_counter()
        outputs = build(cfg, as_of=last[0], timings=timings, force=True)
        wall = time.perf_counter() - t0
    return {
        **stage_times(timings.stages, wall),
        "reports": len(outputs),
        "revenue": sum(o.summary["kpis"]["revenue"] or 0 for o in outputs),
        # ru_maxrss is KiB on Linux.
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "child_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }


def measure(data: Path) -> dict:
    """Run one size in a fresh process and return its figures."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(data)], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    """Measure every size and print the figures and the growth between sizes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000, 100_000_000])
    ap.add_argument("--data", type=Path, nargs="+", help="folders to use instead, one per size")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    import pyarrow.parquet as pq

    folders = args.data or [ensure_data(n) for n in args.rows]
    results = []
    for folder in folders:
        rows = pq.ParquetFile(folder / "tracking_data.parquet").metadata.num_rows
        r = measure(folder)
        results.append((rows, r))
        print(
            f"{rows:>12,} rows  load {r['load']:7.2f} s  compute {r['compute']:6.2f} s  render "
            f"{r['render']:6.2f} s  publish {r['publish']:5.2f} s  total {r['total']:7.2f} s  "
            f"peak {r['peak_mb']:6.0f} MB (largest child {r['child_peak_mb']:4.0f} MB)  "
            f"{r['reports']} reports",
            flush=True,
        )
    for (n0, a), (n1, b) in itertools.pairwise(results):
        growth = n1 / n0
        parts = [f"{k} {b[k] / a[k] / growth:.2f}" for k in ("load", "compute", "total") if a[k]]
        print(
            f"{n0:,} -> {n1:,} rows ({growth:.0f}x): time growth per row-growth (1.0 = linear): "
            f"{', '.join(parts)}; peak memory x{b['peak_mb'] / a['peak_mb']:.2f}"
        )


if __name__ == "__main__":
    main()
