"""Command line: ``reportgen build | simulate | validate`` (and scheduling commands).

User errors print one line ``reportgen: error: ...`` and exit non-zero; no traceback.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import logging
import os
import sys
import threading
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from reportgen import __version__
from reportgen import config as config_mod
from reportgen.errors import ConfigError, ReportgenError

if TYPE_CHECKING:  # annotations only: the build's modules are imported by the build command
    from reportgen.build import PresetOutput, Timings

logger = logging.getLogger("reportgen")

DEFAULT_CONFIG = "config.yaml"


def _with_schema(cfg: config_mod.Config, args: argparse.Namespace) -> config_mod.Config:
    """Return the config reading its database tables from ``--schema``."""
    from dataclasses import replace

    if not isinstance(args.data, str) and not (args.data is None and cfg.source.kind == "sql"):
        raise ConfigError("--schema names a database schema: use it with --data URL")
    return replace(cfg, source=replace(cfg.source, schema=args.schema))


def _data_arg(text: str) -> Path | str:
    """Return ``--data`` as a folder, or as the database URL it names (kept as text)."""
    from reportgen.sources.url import anchored, is_url

    return anchored(text, Path.cwd()) if is_url(text) else Path(text)


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    ap = argparse.ArgumentParser(
        prog="reportgen", description="Build influencer-marketing reports from config presets."
    )
    ap.add_argument("--version", action="version", version=f"reportgen {__version__}")
    ap.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="config file (config.yaml)")
    ap.add_argument("--quiet", "-q", action="store_true", help="print errors only")
    ap.add_argument("--verbose", "-v", action="store_true", help="print debug detail")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    b = sub.add_parser("build", help="build reports for presets (all by default)")
    b.add_argument("--preset", "-p", action="append", default=[], help="preset name; repeatable")
    b.add_argument("--as-of", type=_date, help="last day the windows include (default yesterday)")
    b.add_argument(
        "--data",
        type=_data_arg,
        help="ad hoc: folder of CSV/Parquet in the seed layout, or a database URL "
        "(postgresql://user@host:5432/db, duckdb:///path.duckdb)",
    )
    b.add_argument(
        "--schema", help="schema holding the tables, with --data URL (default public / main)"
    )
    b.add_argument("--from", dest="start", type=_date, help="ad hoc: first day (inclusive)")
    b.add_argument("--to", dest="end", type=_date, help="ad hoc: last day (inclusive)")
    b.add_argument("--brand", action="append", default=[], help="ad hoc: brand; repeatable")
    b.add_argument("--category", action="append", default=[], help="ad hoc: category; repeatable")
    b.add_argument("--platform", action="append", default=[], help="ad hoc: platform; repeatable")
    b.add_argument("--out", type=Path, help="output folder (default from config)")
    b.add_argument(
        "--force",
        action="store_true",
        help="rebuild even when data, config and as-of are unchanged",
    )
    b.add_argument(
        "--engine",
        choices=["duckdb", "spark"],
        help="engine that reads a folder source for this build (default: engine.kind, duckdb)",
    )
    b.add_argument(
        "--allow-future",
        action="store_true",
        help="allow an as-of date after today (the build then stays `latest` until that day)",
    )
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("simulate", help="write simulated data in the seed layout")
    s.add_argument("--seed", type=int)
    s.add_argument("--influencers", type=int)
    s.add_argument("--days", type=int)
    s.add_argument("--end-date", type=_date)
    s.add_argument("--rows", type=int, help="exact number of tracking rows")
    s.add_argument("--format", choices=["parquet", "csv"])
    s.add_argument("--out", type=Path, default=Path("data/simulated/custom"))
    s.add_argument(
        "--journeys",
        type=int,
        metavar="USERS",
        help="also simulate a holdout study of USERS users over the last --study-days days: "
        "touchpoints, conversions, assignments, its tracking_data and payouts, and truth.json",
    )
    s.add_argument("--study-days", type=int, default=28, help="days of the study (default 28)")
    s.set_defaults(func=cmd_simulate)

    ld = sub.add_parser("load", help="copy a seed-layout folder into PostgreSQL or a DuckDB file")
    ld.add_argument("folder", type=Path, help="folder of CSV/Parquet files in the seed layout")
    ld.add_argument(
        "--into", required=True, metavar="URL", help="postgresql://... or duckdb:///..."
    )
    ld.add_argument("--schema", help="schema to load into (default public / main); must exist")
    ld.add_argument(
        "--password-env",
        default="REPORTGEN_DB_PASSWORD",
        metavar="NAME",
        help="environment variable holding the database password",
    )
    ld.add_argument(
        "--drop-missing",
        action="store_true",
        help="drop layout tables the target holds but the folder lacks (say, study tables of "
        "an earlier load), in the same transaction; without it such a load is refused",
    )
    ld.set_defaults(func=cmd_load, own_config=True)

    v = sub.add_parser("validate", help="check the config (and with --data, the data) only")
    v.add_argument("--data", action="store_true", help="also load and check the source data")
    v.set_defaults(func=cmd_validate)

    try:
        from reportgen.cli.schedule import add_commands
    except ImportError:  # scheduling commands are optional during development
        add_commands = None  # type: ignore[assignment]
    if add_commands is not None:
        add_commands(sub)
    from reportgen.cli import admin as cli_admin  # schema, init, serve

    cli_admin.add_commands(sub)
    from reportgen.cli import study as cli_study  # plan-holdout

    cli_study.add_commands(sub)
    for command in sub.choices.values():
        _global_options(command)
    return ap


def _global_options(command: argparse.ArgumentParser) -> None:
    """Accept the global options after the command too (`reportgen build --config F`)."""
    # SUPPRESS: when not given after the command, the value given before it (or the default)
    # stays in place instead of being reset by the subcommand's own default.
    quiet: dict[str, Any] = {"action": "store_true", "default": argparse.SUPPRESS}
    command.add_argument("--config", "-c", default=argparse.SUPPRESS, help="config file")
    command.add_argument("--quiet", "-q", **quiet, help="print errors only")
    command.add_argument("--verbose", "-v", **quiet, help="print debug detail")


def load_config(args: argparse.Namespace, *, optional: bool = False) -> config_mod.Config:
    """Load the config named by --config; for ad hoc builds a missing default file is fine."""
    path = Path(args.config)
    if optional and not path.exists() and args.config == DEFAULT_CONFIG:
        return config_mod.loads("presets: {adhoc: {}}", root=Path.cwd())
    return config_mod.load(path)


def cmd_build(args: argparse.Namespace) -> int:
    """Build presets, or one ad hoc report when --from/--to are given.

    Preset builds claim each preset's window in the run ledger first (like `send` and the
    scheduler), so they refuse with exit code 8 while another run holds one of the windows.
    Ad hoc builds have no schedule and do not touch the ledger.
    """
    from reportgen.build import Timings

    ad_hoc = bool(args.start or args.end or args.data)
    cfg = _build_config(args, ad_hoc)
    extra, as_of = _build_selection(args, cfg, ad_hoc)
    _check_out(args, cfg)
    display = getattr(args, "display", None)  # the terminal's status line, if any
    timings = Timings(listener=display.stage if display else None)
    t0 = time.perf_counter()
    outputs = _run_build(args, cfg, extra, as_of, timings)
    stages = ", ".join(f"{k} {v:.2f} s" for k, v in timings.stages.items())
    logger.info("built %d report(s) in %.1f s (%s)", len(outputs), time.perf_counter() - t0, stages)
    for o in outputs:
        print(o.directory)
    return 0


def _build_config(args: argparse.Namespace, ad_hoc: bool) -> config_mod.Config:
    """Load the config for a build, reading from the schema and engine the flags name."""
    cfg = load_config(args, optional=ad_hoc)
    if args.schema:
        cfg = _with_schema(cfg, args)
    if args.engine:
        import dataclasses

        cfg = dataclasses.replace(cfg, engine=dataclasses.replace(cfg.engine, kind=args.engine))
    return cfg


def _build_selection(
    args: argparse.Namespace, cfg: config_mod.Config, ad_hoc: bool
) -> tuple[list[config_mod.Preset] | None, date | None]:
    """Return the ad hoc preset to build (None: the config's) and the as-of date, checked."""
    from reportgen.windows import check_as_of, default_as_of

    if ad_hoc:
        preset = _ad_hoc_preset(args, cfg)
        check_as_of(args.end, preset, future=args.allow_future, flag="--to")
        return [preset], args.end
    if args.brand or args.category or args.platform:
        raise ConfigError("--brand/--category/--platform need --from and --to (an ad hoc build)")
    for p in cfg.select(args.preset or None):
        check_as_of(args.as_of or default_as_of(p.timezone), p, future=args.allow_future)
    return None, args.as_of


def _ad_hoc_preset(args: argparse.Namespace, cfg: config_mod.Config) -> config_mod.Preset:
    """Return the preset of an ad hoc build: --from/--to and the filter flags."""
    if not (args.start and args.end):
        raise ConfigError("ad hoc builds need both --from DATE and --to DATE")
    if args.end < args.start:
        raise ConfigError(f"--to {args.end} is before --from {args.start}")
    if args.preset:
        raise ConfigError("--preset cannot be combined with --from/--to")
    from reportgen.model import Window

    flags = {
        "brands": args.brand,
        "categories": args.category,
        "platforms": args.platform,
        "config": cfg,
    }
    name = f"adhoc-{args.start.isoformat()}-{args.end.isoformat()}"
    window = Window(args.start, args.end)
    try:
        return config_mod.ad_hoc_preset(name, window, **flags)
    except ConfigError:
        if not args.data or isinstance(args.data, str):
            raise  # a database's values are checked by the load itself
        # Values the config does not declare may still be in this folder's data.
        from reportgen.sources.files import data_vocabulary

        vocab = data_vocabulary(args.data, cfg)
        return config_mod.ad_hoc_preset(name, window, data_vocabulary=vocab, **flags)


def _check_out(args: argparse.Namespace, cfg: config_mod.Config) -> None:
    """Refuse an --out folder that would write over or publish something else."""
    if args.out is None:
        return
    from reportgen.config.checks import output_dir

    problem = output_dir(args.out, cfg)
    if problem:
        raise ConfigError(f"--out {args.out}: {problem}; use a folder of its own")


def _run_build(
    args: argparse.Namespace,
    cfg: config_mod.Config,
    extra: list[config_mod.Preset] | None,
    as_of: date | None,
    timings: Timings,
) -> list[PresetOutput]:
    """Build the ad hoc report, or the presets once the run ledger holds their windows."""
    common = {
        "progress": not args.quiet,
        "output_dir": args.out,
        "timings": timings,
        "force": args.force,
    }
    if extra is not None:  # an ad hoc build
        from reportgen.build import build

        return build(cfg, as_of=as_of, data_dir=args.data, extra=extra, **common)
    from reportgen.delivery.ledger import Ledger
    from reportgen.delivery.manual import build_presets

    ledger = Ledger(cfg.schedule.state_dir)  # creates the state folder on first use
    return build_presets(cfg, args.preset or None, as_of=as_of, ledger=ledger, **common)


def cmd_simulate(args: argparse.Namespace) -> int:
    """Write simulated data using the config's simulate settings overridden by flags."""
    from reportgen.sources.simulate import SimulationSpec, simulate
    from reportgen.sources.simulated import spec_for

    cfg = load_config(args, optional=True)
    spec = spec_for(cfg)
    changes = {
        "seed": args.seed,
        "influencers": args.influencers,
        "days": args.days,
        "end_date": args.end_date,
        "rows": args.rows,
        "fmt": args.format,
    }
    spec = SimulationSpec(
        **{**spec.__dict__, **{k: v for k, v in changes.items() if v is not None}}
    )
    from reportgen.report import publish

    publish.check_writable(args.out)
    t0 = time.perf_counter()
    with publish.writing(args.out):
        counts = simulate(spec, args.out)
        if args.journeys is not None:
            counts.update(_simulate_journeys(args, spec))
    logger.info("simulated %s in %.1f s", counts, time.perf_counter() - t0)
    print(args.out)
    return 0


def cmd_load(args: argparse.Namespace) -> int:
    """Copy a folder into a database, replacing its layout tables in one transaction."""
    from reportgen.sources import load

    cfg = load_config(args, optional=True)
    target = load.parse_target(args.into, args.schema)
    done = load.load(
        args.folder, target, cfg, password_env=args.password_env, drop_missing=args.drop_missing
    )
    for table, rows in done.counts.items():
        print(f"{target.schema}.{table}\t{rows}")
    for table in done.dropped:
        print(f"{target.schema}.{table}\tdropped")
    return 0


def _simulate_journeys(args: argparse.Namespace, spec: Any) -> dict[str, int]:
    """Write a journey study over the seed data's influencers into ``args.out``."""
    import pandas as pd

    from reportgen.analysis import journeys as jr

    folder = Path(args.out)
    fmt = spec.fmt
    ids = (
        pd.read_csv(folder / "influencers.csv", dtype=str)
        if fmt == "csv"
        else pd.read_parquet(folder / "influencers.parquet")
    )["influencer_id"].tolist()
    study = jr.simulate_journeys(
        jr.JourneySpec(
            seed=spec.seed,
            users=args.journeys,
            influencers=len(ids),
            days=min(args.study_days, spec.days),
            end_date=spec.end_date,
        )
    )
    study = jr.relabel_influencers(study, ids)
    jr.write_study(study, folder, fmt)
    return {t: len(getattr(study, t)) for t in ("touchpoints", "conversions", "assignments")}


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the config and print what each preset would cover."""
    from reportgen.windows import default_as_of

    cfg = load_config(args)
    data = _check_data(cfg) if args.data else []  # before any OK: an unreachable source fails
    print(f"{cfg.path}: OK, {len(cfg.presets)} preset(s)")
    for p in cfg.presets.values():
        w = p.window_for(default_as_of(p.timezone))
        sched = f", schedule '{p.schedule}'" if p.schedule else ""
        print(
            f"  {p.name}: {p.window_spec()} -> {w.label()} ({p.timezone}); {p.filters.describe()}{sched}"
        )
    for line in data:
        print(line)
    return 0


def _check_data(cfg: config_mod.Config) -> list[str]:
    """Load the source as a build would; return lines saying what was checked and found."""
    from reportgen.sources import open_dataset

    ds = open_dataset(cfg)  # SourceUnavailable (exit 4) / DataError (exit 3) stop here
    prov = ds.provenance
    where = f"{prov['url']} (schema {prov['schema']})" if "url" in prov else prov.get("path")
    files = ds.provenance.get("files", {})
    tables = ", ".join(
        f"{files.get(t, {}).get('file', t)} {ds.rows.get(t, 0):,} rows" for t in config_mod.TABLES
    )
    lines = [
        f"data: OK, {cfg.source.kind} source {where} reachable; loaded and checked {tables}; "
        f"{len(ds.issues)} finding(s)"
    ]
    for issue in ds.issues:
        lines.append(
            f"  {issue.severity}: {issue.message} (rows {issue.rows}, revenue {issue.revenue:,.2f})"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    """Run the command line and return the exit code."""
    args = parser().parse_args(argv)
    level = logging.WARNING if args.quiet else logging.DEBUG if args.verbose else logging.INFO
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)
    for noisy in ("fontTools", "weasyprint", "kaleido", "PIL"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    # choreographer logs a message it cannot decode with its traceback, at ERROR, and goes
    # on; what it means for the build (a browser that will not close) is handled in export.
    logging.getLogger("choreographer").setLevel(logging.CRITICAL)
    # When Chromium fails to start, its watchdog task is garbage-collected at exit and asyncio
    # reports it ("Task was destroyed but it is pending!") after the one-line error, at ERROR.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    # Chromium's own stderr (dbus, GPU, pipe chatter) arrives as DEBUG records of these: not
    # reportgen's detail, so -v leaves them out; a warning of theirs still shows.
    for chromium in ("browser_proc", "logistro"):
        logging.getLogger(chromium).setLevel(logging.WARNING)
    from reportgen.cli import progress

    # PDF workers from a fork server: WeasyPrint imported once, not per worker. Safe here
    # because this entry point does nothing on import (see reportgen/__main__.py).
    os.environ.setdefault("REPORTGEN_PDF_START", "forkserver")

    try:
        # The status line is cleared when the command ends, before any error line is printed.
        with progress.shown(args.command == "build" and not args.quiet) as display:
            args.display = display
            if args.command in ("build", "simulate", "validate") or getattr(
                args, "own_config", False
            ):
                code = args.func(args)
            else:
                code = args.func(args, load_config(args))
        sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
        return code
    except ReportgenError as exc:
        print(f"reportgen: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("reportgen: interrupted; previous output is untouched", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`reportgen runs | head -1`): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def run() -> NoReturn:
    """Run the command line as a program (``reportgen``, ``python -m reportgen``) and exit."""
    exit_now(main())


def exit_now(code: int) -> NoReturn:
    """Exit with ``code`` after the exit handlers, without freeing every object one by one.

    After a build the interpreter's own teardown (pandas, Ibis, plotly and the report data:
    about 180,000 objects) took 0.3-0.4 s of the command's 5-7 s here, with nothing left to
    do; the operating system frees a process's memory at once. What exiting must still do
    runs first: the exit handlers (logging, multiprocessing, temporary folders) and flushing
    the output. Every file reportgen writes is closed by then (written whole, then renamed).
    """
    if any(
        t.is_alive() and not t.daemon
        for t in threading.enumerate()
        if t is not threading.main_thread()
    ):
        raise SystemExit(code)  # a thread still at work: let the normal exit wait for it
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more to say
            stream.flush()
    os._exit(code)
