"""Subcommand `plan-holdout`: size a holdout from the brand's own order history."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from reportgen.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

DURATIONS = (7, 14, 28, 56)


def add_commands(sub: Any) -> None:
    """Register `plan-holdout` on an argparse subparsers object."""
    p = sub.add_parser(
        "plan-holdout",
        help="the holdout share and duration needed to detect a lift, from the order history",
        description="From the conversions table (every order of the users a study would "
        "cover), print per duration the smallest holdout share that detects a relative "
        "revenue lift with the stated power, by a two-sided test at --alpha.",
    )
    p.add_argument("--lift", type=float, required=True, help="relative lift, e.g. 0.05 for 5%%")
    p.add_argument("--power", type=float, default=0.8, help="power (default 0.8)")
    p.add_argument("--alpha", type=float, default=0.10, help="false-positive rate (default 0.10)")
    p.add_argument(
        "--users",
        type=int,
        help="users the study would cover (default: the users in assignments)",
    )
    p.add_argument(
        "--days",
        type=_durations,
        default=DURATIONS,
        metavar="N,N,...",
        help="durations in days (default 7,14,28,56)",
    )
    p.add_argument("--data", type=Path, help="folder of CSV/Parquet (default: the config's source)")
    p.set_defaults(func=cmd_plan_holdout, own_config=True)


def _durations(text: str) -> tuple[int, ...]:
    """Parse ``7,14,28`` into positive day counts."""
    try:
        days = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: give whole days, e.g. 7,14,28") from None
    if not days or min(days) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: every duration must be at least 1 day")
    return days


def cmd_plan_holdout(args: argparse.Namespace) -> int:
    """Print the holdout plan per duration."""
    from reportgen.analysis.incrementality import plan_holdout
    from reportgen.cli import load_config
    from reportgen.sources import open_dataset
    from reportgen.sources.study import frame

    if not 0 < args.alpha < 1:
        raise ConfigError(f"plan-holdout: --alpha must be in (0, 1), got {args.alpha}")
    cfg = load_config(args, optional=args.data is not None)
    ds = open_dataset(cfg, data_dir=args.data)
    timezone = next(iter(cfg.presets.values())).timezone
    conversions = frame(ds, "conversions", timezone)
    if conversions is None:
        raise DataError(
            f"{ds.provenance['path']}: no conversions table: plan-holdout needs every order of "
            "the users a study would cover (conversions.csv or .parquet; see README, Data)"
        )
    users = args.users or _assigned_users(ds)
    if not users:
        raise ConfigError(
            "plan-holdout: no assignments table to count the users: give --users N, the number "
            "of users the study would cover (buyers and non-buyers)"
        )
    plans = plan_holdout(
        conversions,
        users,
        lift=args.lift,
        power=args.power,
        confidence=1 - args.alpha,
        durations=args.days,
    )
    print(
        f"holdout plan: detect a {args.lift:.1%} revenue lift with {args.power:.0%} power at "
        f"alpha {args.alpha:g} (two-sided), {users:,} users, "
        f"{len(conversions):,} orders of history"
    )
    for p in plans:
        if p.holdout_share is None:
            print(f"  {p.duration_days:>3} days: {p.reason}")
            continue
        print(
            f"  {p.duration_days:>3} days: hold out {p.holdout_share:.1%} ({p.holdout_users:,} "
            f"users); revenue per user {p.mean_revenue_per_user:,.2f} "
            f"(sd {p.sd_revenue_per_user:,.2f})"
        )
    return 0


def _assigned_users(ds: Any) -> int:
    """Return the number of distinct users in assignments (0 without the table)."""
    from reportgen.sources.study import has_table

    if not has_table(ds, "assignments"):
        return 0
    return int(ds.con.execute("SELECT count(DISTINCT user_id) FROM assignments").fetchall()[0][0])
