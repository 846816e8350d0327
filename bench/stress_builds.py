"""Stress: run the default build many times in a row and count what fails.

    .venv/bin/python bench/stress_builds.py [--builds 30] [--load] [--keep]

Each build is ``python -m reportgen build`` in a fresh process on a temporary copy of the
project's config.yaml, writing to a fresh output folder. The simulated data is written once,
before the first timed build, so every build does the same work. ``--load`` keeps both cores
busy with background CPU burners (one per core, same priority as the builds), as a busy
scheduler host would. It prints each build's outcome and time, then the count, every failure
with its error line, how often chart export had to load its page again or restart Chromium
or kill a browser that did not answer its close, and the time per build. ``BROWSER_PATH``
picks the browser, as for a build. Not a test: no thresholds; the goal is zero failures.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: Log lines of chart export that show a recovery: the page loaded again
#: (reportgen/report/browser.py), Chromium restarted (reportgen/report/export.py).
PAGE_RELOAD = "chart page not ready"
RESTART = "restarting Chromium"
#: A browser that did not answer ``Browser.close`` within ``export.CLOSE_TIMEOUT`` and was killed
#: (a debug line: the builds run with -v to show it).
CLOSE_KILLED = "closing Chromium took longer"


@dataclass
class Build:
    """The outcome of one build."""

    code: int
    seconds: float
    error: str
    reloads: int
    restarts: int
    killed: int


def build(project: Path, out: Path) -> Build:
    """Run one default build into ``out`` and return its outcome."""
    config = str(project / "config.yaml")
    cmd = [sys.executable, "-m", "reportgen", "-v", "build", "--config", config]
    started = time.perf_counter()
    done = subprocess.run(
        [*cmd, "--out", str(out)], capture_output=True, text=True, cwd=ROOT, check=False
    )
    seconds = time.perf_counter() - started
    lines = done.stderr.splitlines()
    errors = [x for x in lines if x.startswith("reportgen: error:")]
    # A crash without the one-line error is a failure too: keep its last line.
    error = errors[-1] if errors else (lines[-1] if done.returncode and lines else "")
    return Build(
        code=done.returncode,
        seconds=seconds,
        error=error,
        reloads=sum(PAGE_RELOAD in x for x in lines),
        restarts=sum(RESTART in x for x in lines),
        killed=sum(CLOSE_KILLED in x for x in lines),
    )


def start_burners(count: int) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` processes that each keep one core busy until stopped."""
    loop = "while True: pass"
    return [subprocess.Popen([sys.executable, "-c", loop]) for _ in range(count)]


def stop(burners: list[subprocess.Popen[bytes]]) -> None:
    """Stop the burners this script started, by their own process ids."""
    for p in burners:
        p.kill()
    for p in burners:
        p.wait()


def report(builds: list[Build], load: bool) -> None:
    """Print the count, the failures with their error lines, recoveries and times."""
    failed = [(i, b) for i, b in enumerate(builds, 1) if b.code != 0]
    times = [b.seconds for b in builds]
    print(f"\nbuilds: {len(builds)}{' under load (both cores busy)' if load else ''}")
    print(f"failures: {len(failed)}")
    for i, b in failed:
        print(f"  build {i}: exit {b.code}: {b.error}")
    print(f"chart page loaded again: {sum(b.reloads for b in builds)} time(s)")
    print(f"Chromium restarted after a failed batch: {sum(b.restarts for b in builds)} time(s)")
    print(f"Chromium killed after no answer to close: {sum(b.killed for b in builds)} time(s)")
    if times:
        print(
            f"seconds per build: min {min(times):.1f}, median {statistics.median(times):.1f}, "
            f"max {max(times):.1f}"
        )


def main() -> None:
    """Run the builds and print what happened."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--builds", type=int, default=30, help="builds to run (30)")
    ap.add_argument("--load", action="store_true", help="keep every core busy meanwhile")
    ap.add_argument("--keep", action="store_true", help="keep the temporary project folder")
    args = ap.parse_args()
    project = Path(tempfile.mkdtemp(prefix="reportgen-stress-"))
    shutil.copy(ROOT / "config.yaml", project / "config.yaml")
    burners: list[subprocess.Popen[bytes]] = []
    builds: list[Build] = []
    try:
        print(f"project {project}: simulating the default data once", flush=True)
        warm = build(project, project / "warm-up")
        if warm.code != 0:
            sys.exit(f"the warm-up build failed: {warm.error}")
        if args.load:
            burners = start_burners(os.cpu_count() or 2)
        for i in range(1, args.builds + 1):
            b = build(project, project / f"out-{i}")
            builds.append(b)
            status = "ok" if b.code == 0 else f"FAILED exit {b.code}: {b.error}"
            extra = f" (page loaded again {b.reloads}x)" if b.reloads else ""
            extra += f" (Chromium restarted {b.restarts}x)" if b.restarts else ""
            extra += " (Chromium killed at close)" if b.killed else ""
            print(f"build {i:3d}/{args.builds}  {b.seconds:6.1f} s  {status}{extra}", flush=True)
            shutil.rmtree(project / f"out-{i}", ignore_errors=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
    finally:
        stop(burners)
        report(builds, args.load)
        if args.keep:
            print(f"kept {project}")
        else:
            shutil.rmtree(project, ignore_errors=True)


if __name__ == "__main__":
    main()
