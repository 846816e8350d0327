"""Subcommands `schedule`, `send` and `runs`; the main CLI registers them with add_commands()."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import date
from pathlib import Path
from typing import Any

from reportgen.config import Config
from reportgen.delivery.ledger import Ledger, Run, output_names
from reportgen.errors import ConfigError, ReportgenError
from reportgen.scheduling.lock import scheduler_lock
from reportgen.windows import check_as_of, default_as_of

logger = logging.getLogger(__name__)


def add_commands(sub: Any) -> None:
    """Register `schedule`, `send` and `runs` on an argparse subparsers object."""
    p = sub.add_parser(
        "schedule",
        help="run presets on their cron schedules and email the reports",
        description="Run every preset that has a `schedule` on it, catch up runs missed while "
        "stopped (per preset `missed`), and email each report. Reloads config.yaml on SIGHUP "
        "or when the file changes. Stop with Ctrl-C or SIGTERM.",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write .eml files into each build folder instead of sending",
    )
    p.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how often to check config.yaml for changes (default 5)",
    )
    p.set_defaults(func=cmd_schedule)

    p = sub.add_parser(
        "send",
        help="build (or reuse) a preset's report for a window and email it",
        description="Build the report of each preset for the window ending on --as-of (or reuse "
        "that window's build), then email it to recipients who have not had it yet.",
    )
    p.add_argument(
        "--preset",
        dest="presets",
        action="extend",
        nargs="+",
        required=True,
        metavar="NAME",
        help="preset(s) to send",
    )
    p.add_argument(
        "--as-of",
        type=_date,
        metavar="YYYY-MM-DD",
        help="last day to include (default: yesterday in the preset's timezone)",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="write .eml files instead of sending (no SMTP, nothing recorded as sent)",
    )
    p.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help="with --dry-run: folder for the .eml files (default: the build folder)",
    )
    p.add_argument(
        "--allow-future",
        action="store_true",
        help="allow an as-of date after today (the build then stays `latest` until that day)",
    )
    p.set_defaults(func=cmd_send)

    p = sub.add_parser(
        "runs",
        help="list recent runs from the run ledger",
        description="List recent scheduled and manual runs, newest first.",
    )
    p.add_argument("--preset", metavar="NAME", help="only this preset")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="how many (default 20)")
    p.add_argument(
        "--new-ledger",
        action="store_true",
        help="start a new, empty run history (after a damaged or lost ledger); the current "
        "file is kept aside; emails of past windows may then go out again",
    )
    p.set_defaults(func=cmd_runs)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {text!r}") from None


def _service_logging() -> None:
    """Give the long-running scheduler timestamped log lines, whoever configured logging."""
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=logging.INFO)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in root.handlers:
        handler.setFormatter(fmt)
    # APScheduler's INFO lines (job added, started) repeat ours; its warnings still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def cmd_schedule(args: argparse.Namespace, config: Config) -> int:
    """Run the scheduler until stopped."""
    from reportgen.scheduling.schedule import ReportScheduler  # APScheduler: only commands using it

    _service_logging()
    scheduler = ReportScheduler(config, dry_run=args.dry_run, poll_seconds=args.poll)
    return scheduler.serve()


def cmd_send(args: argparse.Namespace, config: Config) -> int:
    """Build or reuse, then send, each named preset's report."""
    from reportgen.delivery.runs import execute  # no APScheduler for a run from the command line

    if args.out and not args.dry_run:
        raise ConfigError("--out only applies with --dry-run (it is where .eml files go)")
    presets = config.select(args.presets)
    days = [args.as_of or default_as_of(p.timezone) for p in presets]
    for preset, as_of in zip(presets, days, strict=True):
        check_as_of(as_of, preset, future=args.allow_future)  # all before anything is sent
    ledger = Ledger(config.schedule.state_dir)
    ledger.mark_crashed()
    failures: list[tuple[str, ReportgenError]] = []
    for preset, as_of in zip(presets, days, strict=True):
        try:
            outcome = execute(
                config,
                preset.name,
                as_of=as_of,
                trigger="manual",
                ledger=ledger,
                dry_run=args.dry_run,
                out_dir=args.out,
                progress=sys.stderr.isatty(),
            )
        except ReportgenError as exc:
            failures.append((preset.name, exc))
            print(f"{preset.name}: failed: {exc}", file=sys.stderr)
            continue
        if outcome.state == "done":
            print(f"{preset.name} {outcome.window.label()}: already sent; nothing to do")
        for result in outcome.sends:
            print(result.describe())
    if failures:
        if len(failures) == 1 and len(presets) == 1:
            raise failures[0][1]
        first = failures[0][1]
        summary = "; ".join(f"{name}: {exc}" for name, exc in failures)
        raise type(first)(f"{len(failures)} of {len(presets)} presets failed: {summary}")
    return 0


def cmd_runs(args: argparse.Namespace, config: Config) -> int:
    """Print recent runs as a table (or, with --new-ledger, start a new history)."""
    if args.new_ledger:
        return _new_ledger(config)
    if args.preset:
        config.select([args.preset])
    ledger = Ledger(config.schedule.state_dir)
    runs = ledger.recent_runs(args.preset, max(1, args.limit))
    if not runs:
        print(f"no runs recorded in {ledger.path}")
        return 0
    header = (
        "ID",
        "PRESET",
        "WINDOW",
        "STATE",
        "TRIGGER",
        "STARTED (UTC)",
        "TOOK",
        "EMAIL",
        "ERROR",
    )
    rows = [header, *(_row(ledger, r) for r in runs)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    for row in rows:
        cells = [c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)]
        print("  ".join([*cells, row[-1]]).rstrip())
    return 0


def _new_ledger(config: Config) -> int:
    """Start an empty ledger knowingly, while no scheduler uses the state folder."""
    with scheduler_lock(config.schedule.state_dir):
        ledger, aside = Ledger.start_new(config.schedule.state_dir)
    kept = f"; the previous file is kept as {aside}" if aside else ""
    logger.warning("started a new, empty run ledger %s%s", ledger.path, kept)
    print(ledger.path)
    return 0


def _row(ledger: Ledger, run: Run) -> tuple[str, ...]:
    return (
        str(run.id),
        run.preset,
        f"{run.window.start}..{run.window.end}",
        run.state,
        run.trigger,
        (run.started or "")[:19].replace("T", " "),
        _took(run),
        _email(ledger, run),
        run.error or "",
    )


def _took(run: Run) -> str:
    from datetime import datetime

    if not run.started or not run.ended or run.state == "skipped":
        return ""
    seconds = (datetime.fromisoformat(run.ended) - datetime.fromisoformat(run.started)).seconds
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _email(ledger: Ledger, run: Run) -> str:
    names = output_names(run)
    counts = ledger.delivery_counts(names, run.window)
    sends = ledger.sends(names, run.window)
    parts = [f"{n} {state}" for state, n in sorted(counts.items())]
    skipped = [reason for state, reason in sends.values() if state == "skipped"]
    if skipped:
        parts.append(f"skipped: {skipped[0]}" if len(skipped) == 1 else f"{len(skipped)} skipped")
    if any(state == "dry-run" for state, _ in sends.values()):
        parts.append("dry-run")
    return ", ".join(parts) or "-"
