"""Benchmark: a build with the study sections, per stage, at several study sizes.

    .venv/bin/python bench/study_speed.py --users 50000 300000 [--profile]
    .venv/bin/python bench/study_speed.py --data DIR ...   # folders simulated before

Each size is simulated once (``reportgen simulate --journeys USERS``, the seed data's 120
influencers, a 28-day study ending yesterday) into bench/results/study-<users>/ (not timed)
and measured in a fresh process: the load split into its steps (the study tables, the
checks), the overview metrics, and each section (attribution, incrementality; wall time and
CPU time of all threads), with the peak memory of the process. ``--profile`` prints the top functions of a cProfile run of the
sections. Not a test: no thresholds.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONFIG = """\
source: {{kind: files, path: {data}}}
output: {{dir: {out}}}
presets:
  study:
    window: {{start: {start}, end: {end}}}
    formats: [csv]
    sections: [overview, attribution, incrementality]
"""


def ensure_data(users: int) -> Path:
    """Simulate the seed data with a study of ``users`` users once and return the folder."""
    folder = ROOT / "bench" / "results" / f"study-{users}"
    if not (folder / ".complete").exists():
        cmd = [sys.executable, "-m", "reportgen", "simulate", "--journeys", str(users)]
        subprocess.run([*cmd, "--out", str(folder)], check=True, cwd=ROOT, capture_output=True)
        (folder / ".complete").write_text("ok\n")
    return folder


def child(data: Path, profile: bool, dump: Path | None) -> dict:
    """Load ``data`` and compute the study preset (in this fresh process), timing each stage."""
    import duckdb

    from reportgen import config, sources
    from reportgen.metrics import engine as metrics
    from reportgen.sections import section_registry

    # The report's window is the study period the assignments state.
    sql = f"SELECT min(start)::DATE, max(\"end\")::DATE FROM '{data}/assignments.parquet'"
    start, end = duckdb.sql(sql).fetchall()[0]
    with tempfile.TemporaryDirectory() as tmp:
        text = CONFIG.format(data=data, out=f"{tmp}/out", start=start, end=end)
        (Path(tmp) / "config.yaml").write_text(text)
        cfg = config.load(Path(tmp) / "config.yaml")
        preset = cfg.presets["study"]
        out: dict[str, float] = {}
        t0 = time.perf_counter()
        ds = sources.open_dataset(cfg)
        engine = metrics.Engine(ds)
        out["load"] = time.perf_counter() - t0
        study = ("touchpoints", "conversions", "assignments")
        out["load study tables"] = sum(ds.timings.get(f"load {t}", 0.0) for t in study)
        out["load checks"] = ds.timings.get("checks", 0.0)
        t0 = time.perf_counter()
        (report,) = metrics.compute_all(engine, [(preset, preset.window_for(end), end)])
        out["overview metrics"] = time.perf_counter() - t0
        registry = section_registry()
        prof = cProfile.Profile() if profile else None
        found: dict = {"issues": [i.__dict__ for i in ds.issues]}
        for name in ("attribution", "incrementality"):
            t0, c0 = time.perf_counter(), time.process_time()
            if prof:
                prof.enable()
            result = registry[name].compute(report, ds)
            if prof:
                prof.disable()
            out[name] = time.perf_counter() - t0
            # CPU seconds of every thread: steadier than wall time on a shared, busy machine.
            out[f"{name} cpu"] = time.process_time() - c0
            assert result.reason is None, result.reason
            found |= result.summary
        out["total"] = out["load"] + out["overview metrics"] + out["attribution"]
        out["total"] += out["incrementality"]
        out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB
        if dump:
            dump.write_text(json.dumps(found, indent=1, sort_keys=True, default=str))
        if prof:
            pstats.Stats(prof, stream=sys.stderr).sort_stats("cumulative").print_stats(30)
    return out


def main() -> None:
    """Measure every size and print the figures per stage."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, nargs="+", default=[50_000, 300_000])
    ap.add_argument("--data", type=Path, nargs="+", help="folders to use instead, one per size")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of the sections")
    ap.add_argument("--dump", type=Path, help="write the sections' summary and findings here")
    ap.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.profile, args.dump)))
        return
    for folder in args.data or [ensure_data(n) for n in args.users]:
        cmd = [sys.executable, __file__, "--child", str(folder)]
        if args.dump:
            cmd += ["--dump", f"{args.dump}-{folder.name}.json"]
        run = subprocess.run(
            cmd + ["--profile"] * args.profile, check=True, capture_output=True, text=True
        )
        if args.profile:
            print(run.stderr)
        r = json.loads(run.stdout.strip().splitlines()[-1])
        stages = "  ".join(f"{k} {v:6.2f} s" for k, v in r.items() if k != "peak_mb")
        print(f"{folder.name}: {stages}  peak {r['peak_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
