"""Resolve a preset's date window against an as-of date (the last complete day to include)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date

from reportgen.model import Window

#: Relative windows and what they cover; ``as_of`` is the last day included.
RELATIVE: dict[str, str] = {
    "yesterday": "the as-of day only",
    "last_N_days": "the N days ending on the as-of day (last_7_days, last_30_days, ...)",
    "previous_week": "the last complete Monday-Sunday week on or before the as-of day",
    "previous_month": "the last complete calendar month on or before the as-of day",
    "previous_quarter": "the last complete calendar quarter on or before the as-of day",
    "week_to_date": "Monday of the as-of day's week through the as-of day",
    "month_to_date": "the 1st of the as-of day's month through the as-of day",
    "quarter_to_date": "the first day of the as-of day's quarter through the as-of day",
    "year_to_date": "1 January of the as-of day's year through the as-of day",
}

_LAST_N = re.compile(r"last_(\d{1,4})_days")

#: Every day a report covers, its comparison period included, lies in this range: wide for
#: any business history, and far inside what dates and pandas timestamps can hold.
EARLIEST = date(1900, 1, 1)
LATEST = date(2199, 12, 31)


def span_problem(window: Window) -> str | None:
    """Return why ``window`` (with its equally long previous period) is out of range, or None."""
    if window.end > LATEST:
        return f"it ends after {LATEST}"
    if (window.start - EARLIEST).days < window.days:
        return f"it or the equally long period before it, which it is compared with, starts before {EARLIEST}"
    return None


def check_as_of(as_of: date, preset: Any, *, future: bool, flag: str = "--as-of") -> Window:
    """Return the preset's window for ``as_of``; raise ConfigError for a date out of bounds.

    A date after today (in the preset's timezone) needs ``future``: such a build shows days
    with no data yet, and its folder stays ``latest`` until that date comes.
    """
    from reportgen.errors import ConfigError

    if not EARLIEST <= as_of <= LATEST:
        raise ConfigError(f"{flag} {as_of}: use a date from {EARLIEST} to {LATEST}")
    today = datetime.now(ZoneInfo(preset.timezone)).date()
    if as_of > today and not future:
        raise ConfigError(
            f"{flag} {as_of} is after today ({today} in {preset.timezone}): the report would "
            "cover days with no data yet and stay the latest one until then; give a date up "
            "to today, or add --allow-future if that is meant"
        )
    window = preset.window_for(as_of)
    problem = span_problem(window)
    if problem:
        raise ConfigError(
            f"{flag} {as_of}: preset {preset.name}'s window {window.label()} cannot be "
            f"reported: {problem}; keep windows within {EARLIEST} to {LATEST}"
        )
    return window


def check_window(value: Any) -> Any:
    """Validate a window spec: a relative name, or a mapping with fixed start and end dates."""
    # Imported here: importing reportgen.config.options runs reportgen.config, which imports
    # this module, so a top-level import would fail when this module is imported first.
    from reportgen.config.options import Invalid

    if isinstance(value, str):
        m = _LAST_N.fullmatch(value)
        if m:
            if int(m.group(1)) < 1:
                raise Invalid("last_N_days needs N >= 1")
            return value
        if value in RELATIVE:
            return value
        names = [k for k in RELATIVE if k != "last_N_days"] + ["last_7_days", "last_30_days"]
        from reportgen.config.options import suggest

        raise Invalid(
            f"unknown window {value!r}{suggest(value, names)}; use one of "
            f"{', '.join(RELATIVE)} or {{start: YYYY-MM-DD, end: YYYY-MM-DD}}"
        )
    if isinstance(value, dict):
        extra = set(value) - {"start", "end"}
        if extra:
            raise Invalid("unknown key; a fixed window has only start and end", f".{extra.pop()}")
        bounds = {}
        for key in ("start", "end"):
            if key not in value:
                raise Invalid(f"a fixed window needs both start and end; '{key}' is missing")
            raw = value[key]
            if isinstance(raw, str):
                try:
                    raw = date.fromisoformat(raw)
                except ValueError:
                    raise Invalid(f"expected a date YYYY-MM-DD, got {raw!r}", f".{key}") from None
            if not isinstance(raw, date) or isinstance(raw, datetime):
                raise Invalid(f"expected a date YYYY-MM-DD, got {raw!r}", f".{key}")
            bounds[key] = raw
        if bounds["end"] < bounds["start"]:
            raise Invalid(f"end {bounds['end']} is before start {bounds['start']}", ".end")
        window = Window(bounds["start"], bounds["end"])
        problem = span_problem(window)
        if problem:
            raise Invalid(f"window {window.label()} cannot be reported: {problem}")
        return window
    raise Invalid(f"expected a window name or {{start, end}}, got {value!r}")


def resolve(spec: str | Window, as_of: date) -> Window:
    """Return the inclusive window that ``spec`` covers for ``as_of``."""
    if isinstance(spec, Window):
        return spec
    m = _LAST_N.fullmatch(spec)
    if m:
        n = int(m.group(1))
        return Window(as_of - timedelta(days=n - 1), as_of)
    if spec == "yesterday":
        return Window(as_of, as_of)
    if spec == "previous_week":
        # The last Sunday on or before as_of closes the last complete week.
        end = as_of - timedelta(days=(as_of.weekday() + 1) % 7)
        return Window(end - timedelta(days=6), end)
    if spec == "previous_month":
        end = _month_end(as_of)
        if end != as_of:
            end = as_of.replace(day=1) - timedelta(days=1)
        return Window(end.replace(day=1), end)
    if spec == "previous_quarter":
        q_start = _quarter_start(as_of)
        q_end = _quarter_start(q_start + timedelta(days=92)) - timedelta(days=1)
        if q_end != as_of:
            q_end = q_start - timedelta(days=1)
        return Window(_quarter_start(q_end), q_end)
    if spec == "week_to_date":
        return Window(as_of - timedelta(days=as_of.weekday()), as_of)
    if spec == "month_to_date":
        return Window(as_of.replace(day=1), as_of)
    if spec == "quarter_to_date":
        return Window(_quarter_start(as_of), as_of)
    if spec == "year_to_date":
        return Window(as_of.replace(month=1, day=1), as_of)
    raise ValueError(f"unknown window {spec!r}")  # unreachable after check_window


#: How a report's comparison window is chosen (the preset's ``compare`` option).
COMPARE: dict[str, str] = {
    "previous_calendar": "the calendar period before: October for November, the same days of "
    "the previous month or quarter for month/quarter to date, the week before for a week "
    "(the default; for rolling windows it is the previous period)",
    "previous_period": "the same number of days ending the day before the window starts",
    "previous_year": "the same dates one year earlier (52 weeks earlier for week windows)",
}
_WEEKLY = ("previous_week", "week_to_date")


def comparison(spec: str | Window, window: Window, mode: str = "previous_calendar") -> Window:
    """Return the window ``window`` (resolved from ``spec``) is compared with under ``mode``."""
    weekly = isinstance(spec, str) and spec in _WEEKLY
    if mode == "previous_period":
        return window.previous()
    if mode == "previous_year":
        if weekly:
            return Window(window.start - timedelta(days=364), window.end - timedelta(days=364))
        start = _shift_months(window.start, -12)
        if window.start.day == 1 and window.end == _month_end(window.end):
            return Window(start, _shift_months(window.end, -12))  # whole months: the same months
        # Other windows keep their length, so a 7-day window is not held against 8 days
        # when February 29 falls inside one of them.
        return Window(start, start + timedelta(days=window.days - 1))
    if weekly:
        return Window(window.start - timedelta(days=7), window.end - timedelta(days=7))
    months = _calendar_months(spec, window)
    if months is None:
        return window.previous()
    return Window(_shift_months(window.start, -months), _shift_months(window.end, -months))


def _calendar_months(spec: str | Window, window: Window) -> int | None:
    """Return how many months back the calendar comparison lies, None for a rolling window."""
    if spec in ("previous_month", "month_to_date"):
        return 1
    if spec in ("previous_quarter", "quarter_to_date"):
        return 3
    if spec == "year_to_date":
        return 12
    if isinstance(spec, Window) and spec.start.day == 1 and _month_end(spec.end) == spec.end:
        # A fixed window of whole months compares with as many whole months before it.
        return (spec.end.year - spec.start.year) * 12 + spec.end.month - spec.start.month + 1
    return None


def _shift_months(d: date, months: int) -> date:
    """Return ``d`` moved by whole months: a month's last day stays last, others clamp."""
    index = d.year * 12 + d.month - 1 + months
    first = date(index // 12, index % 12 + 1, 1)
    last = _month_end(first)
    if d == _month_end(d):
        return last
    return first.replace(day=min(d.day, last.day))


def compare_label(window: Window, locale: str = "en_IN") -> str:
    """Return what a comparison window is, for people: "October 2026", "1–15 Oct 2026"."""
    s, e = window.start, window.end
    if s.day == 1 and e == _month_end(e):
        if (s.year, s.month) == (e.year, e.month):
            return format_date(s, "LLLL y", locale=locale)
        if s.month % 3 == 1 and s.year == e.year and e.month == s.month + 2:
            return f"Q{(s.month - 1) // 3 + 1} {s.year}"
        if (s.month, e.month) == (1, 12) and s.year == e.year:
            return str(s.year)
    if s == e:
        return format_date(s, "d MMM y", locale=locale)
    if (s.year, s.month) == (e.year, e.month):
        return f"{s.day}–{format_date(e, 'd MMM y', locale=locale)}"
    if s.year == e.year:
        return (
            f"{format_date(s, 'd MMM', locale=locale)} – {format_date(e, 'd MMM y', locale=locale)}"
        )
    return (
        f"{format_date(s, 'd MMM y', locale=locale)} – {format_date(e, 'd MMM y', locale=locale)}"
    )


def check_compare(value: Any) -> str:
    """Validate a ``compare`` option value."""
    if value not in COMPARE:
        from reportgen.config.options import Invalid, suggest

        hint = suggest(str(value), list(COMPARE))
        raise Invalid(f"unknown comparison {value!r}{hint}; use one of {', '.join(COMPARE)}")
    return str(value)


def default_as_of(timezone: str, now: datetime | None = None) -> date:
    """Return yesterday in ``timezone``: the last complete day at build time."""
    now = now or datetime.now(ZoneInfo(timezone))
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def _month_end(d: date) -> date:
    nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
