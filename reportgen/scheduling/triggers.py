"""Cron triggers as crontab reads them, in a preset's timezone, once per local wall time.

Kept apart from ``schedule`` (the scheduler, its executors and email) so that checking a
config's ``schedule:`` lines costs only APScheduler's trigger classes.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

if TYPE_CHECKING:
    from reportgen.config import Preset

logger = logging.getLogger(__name__)


class LocalCronTrigger(CronTrigger):
    """A cron trigger that fires a wall-clock time repeated by a DST fall-back only once."""

    # APScheduler's CronTrigger fires 02:30 twice on the night clocks go back in Europe (once
    # per UTC offset); a report schedule means "once at 02:30 local time", so the repeat is
    # skipped. A time skipped by spring-forward fires once, at the same offset after the gap.

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        """Return the next fire time after ``previous_fire_time``, skipping repeated wall times."""
        nxt = super().get_next_fire_time(previous_fire_time, now)
        for _ in range(100):
            if nxt is None or not is_repeated_wall_time(nxt):
                return nxt
            nxt = super().get_next_fire_time(nxt, nxt)
        return nxt


def is_repeated_wall_time(when: datetime) -> bool:
    """Return True for the second occurrence of a local time that DST fall-back repeats."""
    tz = when.tzinfo
    wall = when.replace(tzinfo=None)
    first = wall.replace(tzinfo=tz, fold=0)
    second = wall.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return False
    # In a spring-forward gap the offsets differ too, but the wall time does not survive UTC.
    if first.astimezone(UTC).astimezone(tz).replace(tzinfo=None) != wall:
        return False
    return when.utcoffset() == second.utcoffset()


class EitherDayTrigger(OrTrigger):
    """Fires when either of two cron triggers does: crontab's day-of-month OR weekday rule."""

    def __init__(self, by_day: LocalCronTrigger, by_weekday: LocalCronTrigger) -> None:
        super().__init__([by_day, by_weekday])


def make_trigger(preset: Preset) -> BaseTrigger:
    """Return the trigger of a scheduled preset, in the preset's timezone."""
    if not preset.schedule:
        raise ValueError(f"preset {preset.name} has no schedule")
    return crontab_trigger(preset.schedule, preset.timezone)


def crontab_trigger(expr: str, timezone: str) -> BaseTrigger:
    """Return a trigger that fires as crontab would for a standard 5-field line.

    Weekday 0 or 7 is Sunday (APScheduler 3.x counts 0 as Monday). When both day-of-month and
    weekday are restricted (neither starts with ``*``), crontab fires on days matching either,
    where APScheduler needs both; such a line becomes two triggers, one per rule.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    minute, hour, day, month, weekday = fields
    zone = ZoneInfo(timezone)

    def cron(day: str, weekday: str) -> LocalCronTrigger:
        return LocalCronTrigger(
            minute=minute,
            hour=hour,
            day=day,
            month=month,
            day_of_week=cron_weekdays(weekday),
            timezone=zone,
        )

    # Vixie cron / cronie: a field starting with "*" (also "*/2") does not count as restricted.
    if day.startswith("*") or weekday.startswith("*"):
        return cron(day, weekday)
    return EitherDayTrigger(cron(day, "*"), cron("*", weekday))


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def cron_weekdays(field: str) -> str:
    """Translate a crontab weekday field (0 = Sunday) into APScheduler 3.x names (0 = Monday)."""
    # "1-5" becomes "mon,tue,wed,thu,fri"; "*" stays "*"; names keep their meaning.
    days: set[int] = set()
    for item in field.lower().split(","):
        base, _, step_text = item.partition("/")
        if step_text and not (step_text.isdigit() and int(step_text) >= 1):
            raise ValueError(f"bad step {step_text!r} in weekday field {field!r}")
        step = int(step_text) if step_text else 1
        if base == "*":
            lo, hi = 0, 6
        elif "-" in base:
            a, b = base.split("-", 1)
            lo, hi = _cron_day(a), _cron_day(b)
            if hi == 0 and lo > 0:
                hi = 7  # "5-7" or "fri-sun": up to Sunday at the end of the week
        else:
            lo = hi = _cron_day(base)
            if step_text:
                hi = 6
        if lo > hi:
            raise ValueError(f"weekday range {base!r} runs backwards")
        days.update(d % 7 for d in range(lo, hi + 1, step))
    if days == set(range(7)):
        return "*"
    # APScheduler's own order (Monday first) keeps the expression readable in logs.
    return ",".join(_CRON_DAYS[d] for d in sorted(days, key=lambda d: (d - 1) % 7))


def _cron_day(text: str) -> int:
    if text in _CRON_DAYS:
        return _CRON_DAYS.index(text)
    if text.isdigit() and 0 <= int(text) <= 7:
        return int(text)
    raise ValueError(f"unknown weekday {text!r}; use 0-7 (0 and 7 are Sunday) or sun-sat")
