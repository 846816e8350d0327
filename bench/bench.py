"""Benchmark: 12 presets over N tracking rows, ours (DuckDB + Ibis) against the seed's approach.

    .venv/bin/python bench/bench.py [--rows 10000000] [--repeat 3] [--skip-build]

Each side runs in a fresh process, --repeat times (3), alternating; it prints every run's time
per stage and peak memory (max RSS) and the medians' ratios against the baseline measured in
the same run: pandas loading every table, then filtering and aggregating per preset, as the
seed's Streamlit dashboard does. Then it times the default build cold. Not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

AS_OF = date(2025, 12, 31)
WINDOWS = ["last_7_days", "last_30_days", "previous_month", "quarter_to_date"]
FILTERS = [
    "{}",
    "{brands: [MuscleBlaze]}",
    "{brands: [HKVitals], categories: [Beauty, Wellness]}",
]


def presets_yaml(data: Path) -> str:
    """Return a config with 12 presets (4 windows x 3 filters) over ``data``."""
    lines = [f"source: {{kind: files, path: {data}}}", "presets:"]
    for i, w in enumerate(WINDOWS):
        for j, f in enumerate(FILTERS):
            body = f.rstrip("}").lstrip("{")
            sep = ", " if body else ""
            lines.append(f"  p{i}{j}: {{window: {w}{sep}{body}}}")
    return "\n".join(lines) + "\n"


def ensure_data(rows: int) -> Path:
    """Simulate ``rows`` tracking rows once into bench/results/ and return the folder."""
    from reportgen.sources.simulate import SimulationSpec, simulate

    folder = ROOT / "bench" / "results" / f"data-{rows}"
    if not (folder / ".complete").exists():
        t0 = time.perf_counter()
        spec = SimulationSpec(seed=7, influencers=600, days=365, end_date=AS_OF, rows=rows)
        counts = simulate(spec, folder)
        (folder / ".complete").write_text("ok\n")
        print(f"simulate     {time.perf_counter() - t0:7.2f} s  {counts}")
    return folder


def side_ours(data: Path) -> dict:
    """Load, validate and compute 12 presets with reportgen's engine."""
    import ibis.backends.duckdb  # noqa: F401  (imported before the work, as build does; pandas too)

    from reportgen import config
    from reportgen.metrics import engine as metrics
    from reportgen.sources import open_dataset

    cfg = config.loads(presets_yaml(data))
    t0 = time.perf_counter()
    ds = open_dataset(cfg)
    t1 = time.perf_counter()
    engine = metrics.Engine(ds)
    jobs = [(p, p.window_for(AS_OF), AS_OF) for p in cfg.presets.values()]
    revenue = sum(r.kpis["revenue"].value for r in metrics.compute_all(engine, jobs))
    t2 = time.perf_counter()
    return {
        "load_validate": t1 - t0,
        "compute": t2 - t1,
        "total": t2 - t0,
        "check": revenue,
        "steps": ds.timings,
    }


def side_pandas(data: Path) -> dict:
    """The seed's approach: read everything into pandas, then filter per preset."""
    import pandas as pd

    from reportgen import config
    from reportgen.config.catalogue import DEFAULT_PRODUCTS

    cfg = config.loads(presets_yaml(data))
    t0 = time.perf_counter()
    tracking = pd.read_parquet(data / "tracking_data.parquet")
    tracking["date"] = pd.to_datetime(tracking["date"])  # keep datetime64 (see README pitfalls)
    influencers = pd.read_parquet(data / "influencers.parquet")
    posts = pd.read_parquet(data / "posts.parquet")
    payouts = pd.read_parquet(data / "payouts.parquet")
    tracking["brand"] = tracking["product"].map(DEFAULT_PRODUCTS)
    tracking["day"] = tracking["date"].dt.normalize()  # once, not per preset
    posts["date"] = pd.to_datetime(posts["date"])
    t1 = time.perf_counter()
    revenue = 0.0
    for p in cfg.presets.values():
        w = p.window_for(AS_OF)
        for win in (w, w.previous()):
            day = tracking["day"]
            m = (day >= pd.Timestamp(win.start)) & (day <= pd.Timestamp(win.end))
            t = tracking[m].merge(influencers, on="influencer_id", how="inner")
            if p.filters.brands:
                t = t[t["brand"].isin(p.filters.brands)]
            if p.filters.categories:
                t = t[t["category"].isin(p.filters.categories)]
            per = t.groupby("influencer_id")[["orders", "revenue"]].sum()
            t.groupby(t["date"].dt.date)["revenue"].sum()
            t.groupby("brand")["revenue"].sum()
            t.groupby("category")["revenue"].sum()
            pday = posts["date"].dt.normalize()
            pd_ = posts[(pday >= pd.Timestamp(win.start)) & (pday <= pd.Timestamp(win.end))]
            pd_.groupby("influencer_id").size()
            per.join(payouts.set_index("influencer_id"))
            if win is w:
                revenue += float(per["revenue"].sum())
    t2 = time.perf_counter()
    return {"load_validate": t1 - t0, "compute": t2 - t1, "total": t2 - t0, "check": revenue}


def run_side(side: str, data: Path) -> dict:
    """Run one side in a fresh process and return its timings and peak memory."""
    out = subprocess.run(
        [sys.executable, __file__, "--side", side, "--data", str(data)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_build(runs: int = 3) -> list[dict]:
    """Time ``reportgen build`` cold, as a user runs it: a fresh process and project folder.

    Wall time covers interpreter start, imports, simulating the default data, loading, and
    rendering every report (HTML, PDF, CSV); the stage figures come from the build's own line.
    """
    results = []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copy(ROOT / "config.yaml", Path(tmp) / "config.yaml")
            t0 = time.perf_counter()
            out = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "reportgen",
                    "-v",
                    "build",
                    "--config",
                    f"{tmp}/config.yaml",
                ],
                check=True,
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            wall = time.perf_counter() - t0
        line = next(x for x in (out.stdout + out.stderr).splitlines() if x.startswith("built "))
        stages = {k: float(v) for k, v in re.findall(r"(\w+) ([\d.]+) s", line.split("(", 1)[1])}
        export = re.search(r"exported (\d+) charts in ([\d.]+) s", out.stdout + out.stderr)
        results.append({"wall": wall, "line": line, "stages": stages, "export": export})
    return results


def main() -> None:
    """Run the benchmark and print the figures."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--side", choices=["ours", "pandas"])
    ap.add_argument("--data", type=Path)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side (median reported)")
    args = ap.parse_args()
    if args.side:
        fn = side_ours if args.side == "ours" else side_pandas
        result = fn(args.data)
        # ru_maxrss is KiB on Linux: the peak of this process, imports and all.
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(result))
        return

    data = ensure_data(args.rows)
    print(f"data: {data} ({args.rows:,} tracking rows), 12 presets, as of {AS_OF}")
    runs = []
    for i in range(args.repeat):  # alternate the sides so that drift hits both alike
        ours, base = run_side("ours", data), run_side("pandas", data)
        runs.append((ours, base))
        for name, r in (("reportgen (DuckDB+Ibis)", ours), ("baseline (pandas)", base)):
            print(
                f"run {i + 1} {name:24s} load+validate {r['load_validate']:6.2f} s  compute "
                f"{r['compute']:6.2f} s  total {r['total']:6.2f} s  peak {r['peak_mb']:5.0f} MB"
            )
    for step, secs in runs[-1][0]["steps"].items():
        print(f"    {step:28s} {secs:6.2f} s")

    def median(side: int, key: str) -> float:
        return statistics.median(r[side][key] for r in runs)

    ours = {k: median(0, k) for k in ("load_validate", "compute", "total", "peak_mb", "check")}
    base = {k: median(1, k) for k in ("load_validate", "compute", "total", "peak_mb", "check")}
    print(f"medians of {len(runs)} runs each:")
    print(
        f"  compute, 12 presets after load: {ours['compute']:.2f} s vs {base['compute']:.2f} s, "
        f"{base['compute'] / ours['compute']:.1f}x faster (goal >= 25x)"
    )
    print(
        f"  end to end, load + compute: {ours['total']:.2f} s vs {base['total']:.2f} s, "
        f"{base['total'] / ours['total']:.1f}x faster (our load also validates: null, "
        "negative and duplicate ids, references, payout terms, file hashes)"
    )
    print(
        f"  peak memory: {ours['peak_mb']:.0f} MB vs {base['peak_mb']:.0f} MB, "
        f"{ours['peak_mb'] / base['peak_mb']:.2f} of baseline (goal <= 0.25)"
    )
    if abs(ours["check"] - base["check"]) > 1e-6 * max(1.0, base["check"]):
        print(f"WARNING: revenue totals differ: {ours['check']:.2f} vs {base['check']:.2f}")
    if not args.skip_build:
        print("default build cold (`reportgen build` in a fresh process and folder; goal < 10 s):")
        for b in bench_build():
            print(f"  wall {b['wall']:5.2f} s  | {b['line']}")
            if b["export"]:
                n, secs = int(b["export"].group(1)), float(b["export"].group(2))
                print(f"  chart export {secs / n:.3f} s per figure ({n} figures; goal <= 0.2 s)")


if __name__ == "__main__":
    main()
