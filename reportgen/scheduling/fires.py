"""Fire times: which are due after a preset's cursor, and what each one gets (run or skip)."""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger

logger = logging.getLogger(__name__)

#: At most this many missed fire times are considered per preset (the newest ones).
MAX_MISSED = 1000


def fires_between(
    trigger: BaseTrigger, after: datetime, until: datetime, limit: int = MAX_MISSED
) -> list[datetime]:
    """Return the trigger's fire times in ``(after, until]``, at most the newest ``limit``."""
    out: deque[datetime] = deque(maxlen=limit)
    skipped = 0
    nxt = trigger.get_next_fire_time(after, until)
    while nxt is not None and nxt <= until:
        if nxt > after:
            if len(out) == limit:
                skipped += 1
            out.append(nxt)
        nxt = trigger.get_next_fire_time(nxt, until)
    if skipped:
        logger.warning("more than %d fire times due; the %d oldest are ignored", limit, skipped)
    return list(out)


def as_of_for(fire: datetime, timezone: str) -> date:
    """Return the as-of date of a run fired at ``fire``: the day before, in local time."""
    return fire.astimezone(ZoneInfo(timezone)).date() - timedelta(days=1)


@dataclass(frozen=True)
class Action:
    """What to do about one due fire time."""

    fire: datetime
    kind: str  # run | skip
    trigger: str  # scheduled | catch-up
    reason: str = ""


def plan(
    fires: list[datetime], now: datetime, *, grace_seconds: int, missed: str, coalesce: bool
) -> list[Action]:
    """Decide what each due fire time gets: late ones follow ``missed``, timely ones coalesce."""
    # Late (missed) = older than the grace period. latest: run the newest late fire once; all:
    # run each; skip: record them skipped. With coalesce only the newest timely fire runs, and
    # under latest it also stands in for the late ones (one report, the freshest).
    grace = timedelta(seconds=grace_seconds)
    late = [f for f in fires if now - f > grace]
    timely = [f for f in fires if now - f <= grace]
    actions: list[Action] = []
    if late:
        if missed == "all":
            actions += [Action(f, "run", "catch-up", "missed") for f in late]
        elif missed == "skip":
            actions += [Action(f, "skip", "catch-up", "missed; missed: skip") for f in late]
        else:
            keep = None if (timely and coalesce) else late[-1]
            stand_in = timely[-1] if keep is None else keep
            for f in late:
                if f == keep:
                    actions.append(Action(f, "run", "catch-up", "missed; newest missed run"))
                else:
                    actions.append(
                        Action(
                            f,
                            "skip",
                            "catch-up",
                            f"missed; missed: latest ran the {minute_text(stand_in)} run instead",
                        )
                    )
    if timely:
        if coalesce:
            newest = timely[-1]
            actions += [
                Action(f, "skip", "scheduled", f"coalesced into the {minute_text(newest)} run")
                for f in timely[:-1]
            ]
            actions.append(Action(newest, "run", "scheduled"))
        else:
            actions += [Action(f, "run", "scheduled") for f in timely]
    return sorted(actions, key=lambda a: a.fire)


def minute_text(when: datetime) -> str:
    """Return ``when`` as date and time to the minute, for log lines and reasons."""
    return when.isoformat(sep=" ", timespec="minutes")
