"""Resolve a preset's date window against an as-of date (the last complete day to include)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from reportgen.model import Window
from reportgen.options import Invalid

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


def check_window(value: Any) -> Any:
    """Validate a window spec: a relative name, or a mapping with fixed start and end dates."""
    if isinstance(value, str):
        m = _LAST_N.fullmatch(value)
        if m:
            if int(m.group(1)) < 1:
                raise Invalid("last_N_days needs N >= 1")
            return value
        if value in RELATIVE:
            return value
        names = [k for k in RELATIVE if k != "last_N_days"] + ["last_7_days", "last_30_days"]
        from reportgen.options import suggest

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
        return Window(bounds["start"], bounds["end"])
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


def default_as_of(timezone: str, now: datetime | None = None) -> date:
    """Return yesterday in ``timezone``: the last complete day at build time."""
    now = now or datetime.now(ZoneInfo(timezone))
    return now.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


def _month_end(d: date) -> date:
    nxt = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
    return nxt - timedelta(days=1)


def _quarter_start(d: date) -> date:
    return date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)
