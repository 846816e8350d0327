"""Build the same presets from the same Parquet folder with each engine, back to back.

    .venv/bin/python bench/engines.py [--influencers 120 --days 400] [--out bench/results]

Simulates the default scale (or the one given) once, then runs ``reportgen build --force``
in a fresh process per engine (DuckDB, then Spark in local mode: a cold JVM, as a scheduled
build would have), and prints each build's wall time and its stages as the build logs them.
The four presets are those of the shipped config.yaml, with CSV output only, so the numbers
compare the engines and not the renderers.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
AS_OF = "2026-11-30"
PRESETS = """\
presets:
  weekly-overview: {window: previous_week, formats: [csv]}
  monthly-overview: {window: previous_month, formats: [csv]}
  muscleblaze-30d: {window: last_30_days, brands: [MuscleBlaze], formats: [csv]}
  gritzo-parenting-mtd:
    window: month_to_date
    brands: [Gritzo]
    categories: [Parenting]
    formats: [csv]
"""


def _run(args: list[str], cwd: Path) -> tuple[float, str]:
    """Run reportgen in a fresh process; return its wall time and stderr."""
    t0 = time.perf_counter()
    r = subprocess.run(
        [sys.executable, "-m", "reportgen", *args], cwd=cwd, capture_output=True, text=True
    )
    if r.returncode != 0:
        sys.exit(f"reportgen {' '.join(args)} failed: {r.stderr.strip()}")
    return time.perf_counter() - t0, r.stderr


def main() -> None:
    """Simulate, build with each engine, print the times."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--influencers", type=int, default=120)
    ap.add_argument("--days", type=int, default=400)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "engines")
    a = ap.parse_args()
    work = a.out.resolve()
    data = work / "data"
    if not (data / "tracking_data.parquet").is_file():
        sim = ["simulate", "--influencers", str(a.influencers), "--days", str(a.days)]
        _run([*sim, "--end-date", AS_OF, "--out", str(data)], ROOT)
    (work / "config.yaml").write_text(
        f"source: {{kind: files, path: {data}}}\noutput: {{dir: {work / 'output'}}}\n"
        f"schedule: {{state_dir: {work / 'state'}}}\n" + PRESETS
    )
    results = {}
    for engine in ("duckdb", "spark"):
        args = ["-c", str(work / "config.yaml"), "build", "--as-of", AS_OF, "--force"]
        wall, err = _run([*args, "--engine", engine], ROOT)
        line = next((ln for ln in err.splitlines() if ln.startswith("built ")), "")
        stages = dict(re.findall(r"(\w[\w ]*?) (\d+\.\d+) s", line.partition("(")[2]))
        results[engine] = {"wall_s": round(wall, 2), "stages_s": stages, "stderr_lines": err}
        print(f"{engine:7s} wall {wall:6.1f} s   {line}")
    tracking = json.loads(
        (work / "output" / "monthly-overview" / AS_OF / "summary.json").read_text()
    )["source"]
    print(f"spark provenance: {tracking.get('engine')}")
    (work / "engines.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
