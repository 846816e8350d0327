"""The scheduler with a controlled clock and a fake fast build: missed runs, coalescing, overlap,
DST, one scheduler per state folder, crash recovery, failure notices and config reloads."""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger

from reportgen import config as config_mod
from reportgen.build import PresetOutput
from reportgen.cli.schedule import cmd_runs
from reportgen.delivery.deliver import Mailer, Outcome
from reportgen.delivery.ledger import Ledger
from reportgen.delivery.runs import RunOutcome, execute
from reportgen.errors import DataError, LockHeld, RunBusy
from reportgen.scheduling.lock import scheduler_lock
from reportgen.scheduling.schedule import (
    Action,
    LocalCronTrigger,
    ReportScheduler,
    as_of_for,
    build_presets,
    cron_weekdays,
    fires_between,
    is_repeated_wall_time,
    make_trigger,
    plan,
)
from tests.conftest import ROOT
from tests.test_ledger import spawn

# -- fakes ----------------------------------------------------------------------------------------


class FakeBuild:
    """A fast build that writes plausible files atomically and records every call."""

    def __init__(self, delay: float = 0.0, fail: set[str] | None = None) -> None:
        self.delay = delay
        self.fail = fail or set()
        self.calls: list[tuple[str, date]] = []
        self.batches: list[list[str]] = []
        self.intervals: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def __call__(
        self, config: config_mod.Config, *, presets: list[str], as_of: date, **_: Any
    ) -> list[PresetOutput]:
        with self._lock:
            self.batches.append(list(presets))
        return [self._one(config, name, as_of) for name in presets]

    def _one(self, config: config_mod.Config, name: str, as_of: date) -> PresetOutput:
        start = time.monotonic()
        with self._lock:
            self.calls.append((name, as_of))
        if self.delay:
            time.sleep(self.delay)
        if name in self.fail:
            raise DataError(f"tracking_data.csv:7: revenue: not a number ('abc') for {name}")
        preset = config.presets[name]
        window = preset.window_for(as_of)
        directory = config.output_dir / name / as_of.isoformat()
        stage = config.output_dir / f".stage-{name}-{as_of}"
        stage.mkdir(parents=True, exist_ok=True)
        summary = {
            "kpis": {"revenue": 1000.0, "orders": 4, "payout": 400.0, "roas": 2.5, "aov": 250.0},
            "kpis_previous": {
                "revenue": 900.0,
                "orders": 3,
                "payout": 400.0,
                "roas": 2.25,
                "aov": 300.0,
            },
            "top_influencers_by_revenue": [
                {"influencer_id": "A1", "name": "Asha Rao", "revenue": 1000.0, "roas": 2.5}
            ],
            "data_quality": [],
        }
        (stage / "summary.json").write_text(json.dumps(summary))
        (stage / "report.pdf").write_bytes(b"%PDF-1.4 fake")
        (stage / "report.html").write_text("<p>report</p>")
        directory.mkdir(parents=True, exist_ok=True)
        files = {}
        for key, fname in (
            ("summary", "summary.json"),
            ("pdf", "report.pdf"),
            ("html", "report.html"),
        ):
            os.replace(stage / fname, directory / fname)
            files[key] = directory / fname
        stage.rmdir()
        with self._lock:
            self.intervals.append((start, time.monotonic()))
        return PresetOutput(preset, None, window, as_of, directory, files, summary, None)


class FakeMailer(Mailer):
    """Records messages instead of talking SMTP."""

    sent: list[tuple[str, list[str]]]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent = []

    def send(self, msg, recipients, *, on_result=None):
        self.sent.append((str(msg["Subject"]), list(recipients)))
        outcomes = [Outcome(r, "sent") for r in recipients]
        for o in outcomes:
            if on_result:
                on_result(o)
        return outcomes


CONFIG = """\
output: {{dir: {out}}}
schedule: {{state_dir: {state}, misfire_grace_seconds: {grace}, coalesce: {coalesce}}}
email: {{host: 127.0.0.1, port: 2525, security: none, sender: reports@example.com}}
presets:
  daily:
    title: Daily sales
    window: yesterday
    timezone: {tz}
    schedule: "{cron}"
    missed: {missed}
    to: [team@example.com]
    owners: [owner@example.com]
"""


def write_config(
    tmp_path: Path,
    *,
    cron: str = "30 2 * * *",
    tz: str = "Asia/Kolkata",
    missed: str = "latest",
    grace: int = 3600,
    coalesce: bool = True,
    extra: str = "",
) -> config_mod.Config:
    path = tmp_path / "config.yaml"
    path.write_text(
        CONFIG.format(
            out=tmp_path / "output",
            state=tmp_path / "state",
            grace=grace,
            coalesce=str(coalesce).lower(),
            tz=tz,
            cron=cron,
            missed=missed,
        )
        + extra
    )
    return config_mod.load(path)


class Clock:
    """A settable clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_scheduler(
    cfg: config_mod.Config, clock: Clock, build: FakeBuild, **kwargs: Any
) -> tuple[ReportScheduler, list[FakeMailer]]:
    mailers: list[FakeMailer] = []

    def factory(c: config_mod.Config) -> FakeMailer:
        mailers.append(FakeMailer(c.email))
        return mailers[-1]

    sched = ReportScheduler(cfg, build_fn=build, mailer_factory=factory, clock=clock, **kwargs)
    return sched, mailers


def run_window(
    cfg: config_mod.Config,
    preset: str,
    as_of: date,
    build_fn: Any,
    trigger: str = "manual",
    **kwargs: Any,
) -> RunOutcome:
    """Run one preset's window through the ledger, as `send` and the scheduler do."""
    ledger = Ledger(cfg.schedule.state_dir)
    return execute(
        cfg, preset, as_of=as_of, trigger=trigger, ledger=ledger, build_fn=build_fn, **kwargs
    )


def sent(mailers: list[FakeMailer]) -> list[tuple[str, list[str]]]:
    return [m for mailer in mailers for m in mailer.sent]


IST = ZoneInfo("Asia/Kolkata")
T0 = datetime(2025, 7, 7, 12, 0, tzinfo=IST)  # after Monday's 02:30 run


# -- planning -------------------------------------------------------------------------------------


def test_plan_policies():
    now = datetime(2025, 7, 10, 3, 0, tzinfo=UTC)
    fires = [now - timedelta(days=3), now - timedelta(days=2), now - timedelta(days=1)]
    latest = plan(fires, now, grace_seconds=3600, missed="latest", coalesce=True)
    assert [(a.kind, a.trigger) for a in latest] == [("skip", "catch-up")] * 2 + [
        ("run", "catch-up")
    ]
    assert all(isinstance(a, Action) for a in latest)
    every = plan(fires, now, grace_seconds=3600, missed="all", coalesce=True)
    assert [a.kind for a in every] == ["run"] * 3
    skip = plan(fires, now, grace_seconds=3600, missed="skip", coalesce=True)
    assert [a.kind for a in skip] == ["skip"] * 3
    # A timely fire stands in for the late ones under `latest` when coalescing.
    mixed = plan(
        [*fires, now - timedelta(minutes=5)],
        now,
        grace_seconds=3600,
        missed="latest",
        coalesce=True,
    )
    assert [(a.kind, a.trigger) for a in mixed] == [("skip", "catch-up")] * 3 + [
        ("run", "scheduled")
    ]
    both = plan(
        [now - timedelta(minutes=50), now - timedelta(minutes=20)],
        now,
        grace_seconds=3600,
        missed="latest",
        coalesce=True,
    )
    assert [a.kind for a in both] == ["skip", "run"] and "coalesced" in both[0].reason
    assert [
        a.kind
        for a in plan(
            [now - timedelta(minutes=50), now - timedelta(minutes=20)],
            now,
            grace_seconds=3600,
            missed="latest",
            coalesce=False,
        )
    ] == ["run"] * 2


def test_as_of_is_the_local_day_before_the_fire():
    fire = datetime(2025, 7, 7, 21, 0, tzinfo=UTC)  # 02:30 on 8 July in Kolkata
    assert as_of_for(fire, "Asia/Kolkata") == date(2025, 7, 7)
    assert as_of_for(fire, "America/New_York") == date(2025, 7, 6)


# -- missed runs after downtime -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("missed", "builds", "skipped"), [("latest", 1, 2), ("all", 3, 0), ("skip", 0, 3)]
)
def test_missed_runs_after_downtime(tmp_path, caplog, missed, builds, skipped):
    cfg = write_config(tmp_path, missed=missed)
    clock = Clock(T0)
    build = FakeBuild()
    sched, _mailers = make_scheduler(cfg, clock, build)
    sched.start_up()  # first start: the cursor starts now, nothing is missed
    assert sched.tick("daily") == []
    # Down for three days; back at noon, long after the 02:30 runs' grace period.
    clock.now = T0 + timedelta(days=3)
    caplog.set_level(logging.INFO)
    sched2, mailers2 = make_scheduler(cfg, clock, build)
    sched2.start_up()
    sched2.tick("daily")
    missed_lines = [r for r in caplog.records if "missed the run due" in r.getMessage()]
    assert len(missed_lines) == 3, "every missed run is logged"
    assert len(build.calls) == builds
    if missed == "latest":
        assert build.calls == [("daily", date(2025, 7, 9))]
    if missed == "all":
        assert [d for _, d in build.calls] == [date(2025, 7, 7), date(2025, 7, 8), date(2025, 7, 9)]
    runs = Ledger(cfg.schedule.state_dir).recent_runs("daily")
    assert Counter(r.state for r in runs) == Counter(
        {k: v for k, v in {"succeeded": builds, "skipped": skipped}.items() if v}
    )
    assert {r.trigger for r in runs} == {"catch-up"}
    assert len(sent(mailers2)) == builds
    # Starting again finds nothing new to do.
    build.calls.clear()
    sched3, _ = make_scheduler(cfg, clock, build)
    sched3.start_up()
    assert sched3.tick("daily") == [] and build.calls == []


def test_two_due_runs_are_coalesced(tmp_path, caplog):
    cfg = write_config(tmp_path, cron="0 * * * *", grace=3 * 3600)
    clock = Clock(datetime(2025, 7, 7, 9, 59, tzinfo=IST))
    build = FakeBuild()
    sched, _mailers = make_scheduler(cfg, clock, build)
    sched.start_up()
    clock.now = datetime(2025, 7, 7, 11, 1, tzinfo=IST)  # 10:00 and 11:00 are both due
    caplog.set_level(logging.INFO)
    outcomes = sched.tick("daily")
    assert len(outcomes) == 1 and len(build.calls) == 1
    assert (
        "run due 2025-07-07 10:00+05:30 coalesced into the 2025-07-07 11:00+05:30 run"
        in caplog.text
    )
    assert Ledger(cfg.schedule.state_dir).cursor("daily") == datetime(2025, 7, 7, 5, 30, tzinfo=UTC)


def test_without_coalesce_each_due_run_runs(tmp_path):
    cfg = write_config(tmp_path, cron="0 * * * *", grace=3 * 3600, coalesce=False)
    clock = Clock(datetime(2025, 7, 7, 9, 59, tzinfo=IST))
    build = FakeBuild()
    sched, _ = make_scheduler(cfg, clock, build)
    sched.start_up()
    clock.now = datetime(2025, 7, 7, 11, 1, tzinfo=IST)
    outcomes = sched.tick("daily")
    # Both fires resolve to the same window (yesterday): built once, then already done.
    assert [o.state for o in outcomes] == ["succeeded", "done"]
    assert len(build.calls) == 1


# -- overlap --------------------------------------------------------------------------------------


class RecordingScheduler(ReportScheduler):
    """Records when each tick starts and ends."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.ticks: list[tuple[float, float]] = []

    def tick(self, name, *, now=None):
        start = time.monotonic()
        try:
            return super().tick(name, now=now)
        finally:
            self.ticks.append((start, time.monotonic()))


@pytest.mark.slow
def test_a_build_longer_than_its_interval_never_overlaps(tmp_path, caplog):
    cfg = write_config(tmp_path)
    build = FakeBuild(delay=2.5)
    every_second = lambda preset: CronTrigger(second="*", timezone=UTC)  # noqa: E731
    sched = RecordingScheduler(
        cfg,
        build_fn=build,
        trigger_factory=every_second,
        mailer_factory=lambda c: FakeMailer(c.email),
    )
    caplog.set_level(logging.WARNING, logger="apscheduler")
    sched.start_up()
    sched.start()
    try:
        time.sleep(6)
    finally:
        sched.stop(wait=True)
    spans = sorted(sched.ticks)
    assert len(spans) >= 2
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, "two runs of one preset overlapped"
    assert "maximum number of running instances reached (1)" in caplog.text
    assert len(build.calls) == 1  # later fires map to the same window, already built


def test_concurrent_ticks_of_one_preset_do_not_both_build(tmp_path):
    cfg = write_config(tmp_path)
    clock = Clock(T0)
    build = FakeBuild(delay=1.0)
    sched, _ = make_scheduler(cfg, clock, build)
    sched.start_up()
    clock.now = T0 + timedelta(days=1)
    results: list[Any] = []
    threads = [
        threading.Thread(target=lambda: results.append(sched.tick("daily"))) for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(build.calls) == 1
    assert sorted(len(r) for r in results) == [0, 0, 1]


# -- daylight saving time -------------------------------------------------------------------------

DST_NIGHTS = [
    ("Europe/Berlin", date(2025, 3, 30)),  # 02:00 -> 03:00: 02:30 does not exist
    ("Europe/Berlin", date(2025, 10, 26)),  # 03:00 -> 02:00: 02:30 happens twice
    ("America/New_York", date(2025, 3, 9)),  # 02:00 -> 03:00
    ("America/New_York", date(2025, 11, 2)),  # 02:00 -> 01:00: 01:30 happens twice
]


@pytest.mark.parametrize(("tz", "night"), DST_NIGHTS)
@pytest.mark.parametrize("cron", ["30 2 * * *", "30 1 * * *"])
def test_fires_at_most_once_per_local_day_across_dst(tz, night, cron):
    zone = ZoneInfo(tz)
    trigger = LocalCronTrigger.from_crontab(cron, timezone=zone)
    start = datetime.combine(night - timedelta(days=3), datetime.min.time(), zone)
    fires = []
    prev, now = None, start
    while True:
        nxt = trigger.get_next_fire_time(prev, now)
        if nxt.astimezone(zone).date() > night + timedelta(days=3):
            break
        fires.append(nxt)
        prev = now = nxt
    local_days = [f.astimezone(zone).date() for f in fires]
    assert len(local_days) == len(set(local_days)), f"a local day fired twice: {fires}"
    assert local_days == [night + timedelta(days=d) for d in range(-3, 4)], "and none is lost"
    utc = [f.astimezone(UTC) for f in fires]
    assert utc == sorted(utc)


def test_plain_apscheduler_cron_would_fire_twice_on_fall_back():
    # Why LocalCronTrigger exists.
    zone = ZoneInfo("Europe/Berlin")
    plain = CronTrigger.from_crontab("30 2 * * *", timezone=zone)
    start = datetime(2025, 10, 25, 12, tzinfo=zone)
    first = plain.get_next_fire_time(None, start)
    second = plain.get_next_fire_time(first, first)
    assert first.date() == second.date() == date(2025, 10, 26)
    assert is_repeated_wall_time(second) and not is_repeated_wall_time(first)
    assert not is_repeated_wall_time(datetime(2025, 3, 30, 2, 30, tzinfo=zone))


@pytest.mark.parametrize(("tz", "night"), DST_NIGHTS)
def test_scheduler_over_a_simulated_dst_night_builds_each_day_once(tmp_path, tz, night):
    cfg = write_config(tmp_path, tz=tz, cron="30 2 * * *")
    zone = ZoneInfo(tz)
    clock = Clock(datetime.combine(night - timedelta(days=1), datetime.min.time(), zone))
    build = FakeBuild()
    sched, mailers = make_scheduler(cfg, clock, build)
    sched.start_up()
    end = clock.now + timedelta(days=3)
    while clock.now < end:  # wake up every 10 minutes of real (UTC) time
        clock.now += timedelta(minutes=10)
        sched.tick("daily", now=clock.now)
    days = [d for _, d in build.calls]
    # Fires on night-1, night and night+1, each building the local day before.
    assert days == [night - timedelta(days=2), night - timedelta(days=1), night]
    assert len(sent(mailers)) == 3


@pytest.mark.parametrize(
    ("field", "expected"),
    [
        ("1", "mon"),
        ("0", "sun"),
        ("7", "sun"),
        ("1-5", "mon,tue,wed,thu,fri"),
        ("*", "*"),
        ("*/2", "tue,thu,sat,sun"),
        ("5-7", "fri,sat,sun"),
        ("sat,sun", "sat,sun"),
        ("0-6", "*"),
        ("mon-fri", "mon,tue,wed,thu,fri"),
    ],
)
def test_weekdays_follow_crontab_not_apscheduler_numbering(field, expected):
    assert cron_weekdays(field) == expected


def test_monday_means_monday(tmp_path):
    cfg = write_config(tmp_path, cron="0 8 * * 1")  # the shipped weekly-overview schedule
    nxt = make_trigger(cfg.presets["daily"]).get_next_fire_time(None, T0)
    assert nxt == datetime(2025, 7, 14, 8, 0, tzinfo=IST) and nxt.weekday() == 0


def test_make_trigger_uses_the_preset_timezone(tmp_path):
    cfg = write_config(tmp_path, tz="America/New_York")
    trigger = make_trigger(cfg.presets["daily"])
    nxt = trigger.get_next_fire_time(None, datetime(2025, 7, 7, tzinfo=UTC))
    assert nxt == datetime(2025, 7, 7, 2, 30, tzinfo=ZoneInfo("America/New_York"))
    assert len(fires_between(trigger, nxt - timedelta(seconds=1), nxt + timedelta(days=2))) == 3


# -- one scheduler per state folder ---------------------------------------------------------------

HOLD_LOCK = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from reportgen.scheduling.lock import scheduler_lock
lock = scheduler_lock(Path({state!r}))
print("locked", flush=True)
time.sleep(60)
"""


def test_a_second_scheduler_is_refused_naming_the_holder(tmp_path):
    cfg = write_config(tmp_path)
    proc = spawn(HOLD_LOCK, "locked", state=str(cfg.schedule.state_dir))
    try:
        sched, _ = make_scheduler(cfg, Clock(T0), FakeBuild())
        with pytest.raises(LockHeld) as err:
            sched.serve(install_signals=False)
        assert f"(pid {proc.pid})" in str(err.value)
        assert "already running" in str(err.value) and str(cfg.schedule.state_dir) in str(err.value)
    finally:
        proc.kill()
        proc.wait()
    scheduler_lock(cfg.schedule.state_dir).release()  # the kernel freed it with the process


# -- crash recovery -------------------------------------------------------------------------------

SLOW_RUN = """
import sys, time
sys.path.insert(0, {root!r})
from datetime import date
from pathlib import Path
from reportgen import config
from reportgen.delivery.ledger import Ledger
from reportgen.delivery.runs import execute

def slow_build(cfg, *, presets, as_of, **_):
    stage = cfg.output_dir / ".stage-partial"
    stage.mkdir(parents=True, exist_ok=True)
    (stage / "report.html").write_text("half-written new report")
    print("building", flush=True)
    time.sleep(60)
    raise SystemExit("never reached")

cfg = config.load({config!r})
execute(cfg, "daily", as_of=date(2025, 7, 7), trigger="scheduled",
        ledger=Ledger(cfg.schedule.state_dir), build_fn=slow_build)
"""


def test_a_run_killed_mid_build_is_marked_crashed_and_old_output_survives(tmp_path):
    cfg = write_config(tmp_path)
    old = cfg.output_dir / "daily" / "2025-07-07"
    FakeBuild()(cfg, presets=["daily"], as_of=date(2025, 7, 7))
    before = {p.name: p.read_bytes() for p in old.iterdir()}
    # Make the old build look as if it came from an earlier, unrecorded run.
    proc = spawn(SLOW_RUN, "building", config=str(cfg.path))
    try:
        run = Ledger(cfg.schedule.state_dir).recent_runs("daily")[0]
        assert (run.state, run.pid) == ("running", proc.pid)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    sched, _ = make_scheduler(cfg, Clock(T0), FakeBuild())
    sched.start_up()
    run = Ledger(cfg.schedule.state_dir).recent_runs("daily")[0]
    assert run.state == "crashed" and f"process {proc.pid} stopped" in run.error
    assert {p.name: p.read_bytes() for p in old.iterdir()} == before, "old report intact"
    # The window can be run again.
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))
    sched, _mailers = make_scheduler(cfg, clock, FakeBuild())
    sched.start_up()
    clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
    assert [o.state for o in sched.tick("daily")] == ["succeeded"]
    assert Ledger(cfg.schedule.state_dir).recent_runs("daily")[0].attempts == 2


# -- failures -------------------------------------------------------------------------------------

SECOND = """\
  hourly:
    window: yesterday
    schedule: "0 * * * *"
    to: [ops@example.com]
"""


def test_a_failing_build_is_recorded_owners_are_told_and_others_go_on(tmp_path, caplog):
    cfg = write_config(tmp_path, extra=SECOND)
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))
    build = FakeBuild(fail={"daily"})
    good = cfg.output_dir / "daily" / "2025-07-07"
    FakeBuild()(cfg, presets=["daily"], as_of=date(2025, 7, 7))
    before = (good / "report.html").read_bytes()
    sched, mailers = make_scheduler(cfg, clock, build)
    sched.start_up()
    clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
    [outcome] = sched.tick("daily")
    assert outcome.state == "failed" and "revenue: not a number" in outcome.error
    run = Ledger(cfg.schedule.state_dir).recent_runs("daily")[0]
    assert run.state == "failed" and run.error.startswith("tracking_data.csv:7: revenue")
    notices = sent(mailers)
    assert notices == [
        ("reportgen: Daily sales failed — 2025-07-07 to 2025-07-07", ["owner@example.com"])
    ]
    assert (good / "report.html").read_bytes() == before
    assert "Traceback" not in caplog.text  # a user error is one line
    clock.now = datetime(2025, 7, 8, 3, 1, tzinfo=IST)
    assert [o.state for o in sched.tick("hourly")] == ["succeeded"]


def test_an_unexpected_error_is_logged_with_traceback_and_notified(tmp_path, caplog):
    cfg = write_config(tmp_path)
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))

    def broken(*_: Any, **__: Any) -> list[Any]:
        raise ZeroDivisionError("division by zero")

    sched, mailers = make_scheduler(cfg, clock, broken)  # type: ignore[arg-type]
    sched.start_up()
    clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
    [outcome] = sched.tick("daily")
    assert outcome.state == "failed" and outcome.error.startswith("ZeroDivisionError")
    assert "Traceback" in caplog.text
    assert len(sent(mailers)) == 1


# -- config reload --------------------------------------------------------------------------------


def test_invalid_config_is_rejected_and_the_last_good_one_stays(tmp_path, caplog):
    cfg = write_config(tmp_path)
    sched, _ = make_scheduler(cfg, Clock(T0), FakeBuild())
    assert not sched.config_changed()
    cfg.path.write_text(cfg.path.read_text().replace("window: yesterday", "window: fortnight"))
    assert sched.config_changed()
    assert not sched.reload("config file changed")
    assert "config reload (config file changed) rejected" in caplog.text
    assert "presets.daily.window: unknown window 'fortnight'" in caplog.text
    assert sched.config is cfg
    assert not sched.config_changed(), "a rejected file is not retried until it changes again"
    cfg.path.write_text(
        cfg.path.read_text().replace("window: fortnight", "window: last_7_days") + SECOND
    )
    assert sched.config_changed() and sched.reload("config file changed")
    assert set(sched.scheduled()) == {"daily", "hourly"}
    assert Ledger(cfg.schedule.state_dir).cursor("hourly") == T0


def test_reload_refuses_an_alias_bomb_and_keeps_the_running_config(tmp_path, caplog):
    cfg = write_config(tmp_path)
    sched, _ = make_scheduler(cfg, Clock(T0), FakeBuild())
    # Six levels of ten: a million values if expanded; refused before any expansion.
    bomb = ["l0: &l0 [" + ", ".join(["lol"] * 10) + "]"]
    bomb += [f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 6)]
    cfg.path.write_text("\n".join(bomb) + "\n" + cfg.path.read_text())
    assert sched.config_changed()
    assert not sched.reload("config file changed")
    assert f"{cfg.path}:4: YAML aliases (*name) here repeat more than 10,000 values" in caplog.text
    assert sched.config is cfg and set(sched.scheduled()) == {"daily"}


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` the way editors save: a new file renamed over the old one."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _reader(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line.rstrip("\n"))


def _wait_for(lines: queue.Queue, needle: str, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        try:
            line = lines.get(timeout=0.2)
        except queue.Empty:
            continue
        seen.append(line)
        if needle in line:
            return line
    raise AssertionError(f"{needle!r} not seen in:\n" + "\n".join(seen))


@pytest.mark.slow
def test_schedule_command_reloads_on_sighup_and_refuses_a_second_instance(tmp_path):
    cfg = write_config(tmp_path, cron="0 8 * * 1")
    env = {"PATH": os.environ["PATH"], "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "reportgen",
        "--config",
        str(cfg.path),
        "schedule",
        "--poll",
        "0.3",
    ]
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stderr, lines), daemon=True).start()
    try:
        _wait_for(lines, "scheduler started")
        _wait_for(lines, "daily: scheduled '0 8 * * 1' (Asia/Kolkata); next run")
        second = subprocess.run(
            cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        assert second.returncode == LockHeld.exit_code
        assert f"(pid {proc.pid}) is already running" in second.stderr
        assert "Traceback" not in second.stderr

        text = cfg.path.read_text()
        replace_file(cfg.path, text.replace('"0 8 * * 1"', '"0 8 * * 1 extra"'))
        proc.send_signal(signal.SIGHUP)
        line = _wait_for(lines, "rejected")
        assert "invalid cron expression" in line
        replace_file(cfg.path, text + SECOND)
        proc.send_signal(signal.SIGHUP)
        _wait_for(lines, "config reloaded (SIGHUP): 2 scheduled preset(s)")
        # A change picked up by polling the file's mtime, without a signal; written in two
        # steps to show a half-saved file is not reloaded before it settles.
        with cfg.path.open("w") as fh:
            fh.write(text[:20])
            fh.flush()
            time.sleep(0.1)
            fh.write(text[20:])
        _wait_for(lines, "config reloaded (config file changed): 1 scheduled preset(s)")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert not [line for line in list(lines.queue) if "rejected" in line]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_runs_command_lists_recent_runs(tmp_path, capsys):
    cfg = write_config(tmp_path, missed="skip")
    clock = Clock(T0)
    sched, _ = make_scheduler(cfg, clock, FakeBuild())
    sched.start_up()
    clock.now = T0 + timedelta(days=2)
    sched.tick("daily")
    sched.config = cfg
    run_window(cfg, "daily", date(2025, 7, 10), FakeBuild(), mailer=FakeMailer(cfg.email))
    args = type("Args", (), {"preset": "daily", "limit": 10, "new_ledger": False})()
    assert cmd_runs(args, cfg) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:5] == ["ID", "PRESET", "WINDOW", "STATE", "TRIGGER"]
    assert "2025-07-10..2025-07-10  succeeded  manual" in out[1]
    assert "1 sent" in out[1]
    assert all("skipped" in line and "missed; missed: skip" in line for line in out[2:])
    assert len(out) == 4


class FlakyMailer(FakeMailer):
    """Fails every send while ``down`` is set, like an unreachable SMTP server."""

    down = True

    def send(self, msg, recipients, *, on_result=None):
        if FlakyMailer.down:
            from reportgen.errors import DeliveryError

            raise DeliveryError("SMTP server 127.0.0.1:2525 rejected the message: 554 no")
        return super().send(msg, recipients, on_result=on_result)


def test_a_failed_send_is_retried_by_the_next_run_without_rebuilding(tmp_path):
    cfg = write_config(tmp_path)
    ledger = Ledger(cfg.schedule.state_dir)
    build = FakeBuild()
    from reportgen.errors import DeliveryError

    day = date(2025, 7, 7)
    FlakyMailer.down = True
    with pytest.raises(DeliveryError, match="554"):
        run_window(cfg, "daily", day, build, "scheduled", mailer=FlakyMailer(cfg.email))
    run = ledger.recent_runs("daily")[0]
    assert run.state == "failed" and run.error.startswith("delivery: ") and run.files
    FlakyMailer.down = False
    mailer = FlakyMailer(cfg.email)
    outcome = run_window(cfg, "daily", day, build, mailer=mailer)
    assert outcome.state == "succeeded" and not outcome.built
    assert len(build.calls) == 1 and len(mailer.sent) == 1
    # And once everything went out, another run is a no-op that does not even claim.
    again = run_window(cfg, "daily", day, build, "scheduled", mailer=mailer)
    assert again.state == "done" and len(mailer.sent) == 1
    assert ledger.recent_runs("daily")[0].attempts == 2


def test_a_manual_build_only_run_is_still_sent_by_the_schedule(tmp_path):
    cfg = write_config(tmp_path)
    build = FakeBuild()
    # What `reportgen build` does through the ledger: build, no email.
    build_presets(
        cfg,
        ["daily"],
        as_of=date(2025, 7, 7),
        ledger=Ledger(cfg.schedule.state_dir),
        build_fn=build,
    )
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))
    sched, mailers = make_scheduler(cfg, clock, build)
    sched.start_up()
    clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
    [outcome] = sched.tick("daily")
    assert outcome.state == "succeeded" and not outcome.built
    assert len(build.calls) == 1 and len(sent(mailers)) == 1


def test_an_unreachable_smtp_server_for_the_notice_is_logged_not_fatal(tmp_path, caplog):
    import dataclasses
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    cfg = write_config(tmp_path)
    cfg = dataclasses.replace(cfg, email=dataclasses.replace(cfg.email, port=port, retries=1))
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))
    sched = ReportScheduler(
        cfg,
        build_fn=FakeBuild(fail={"daily"}),
        clock=clock,
        mailer_factory=lambda c: Mailer(c.email, sleep=lambda s: None),
    )
    sched.start_up()
    clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
    [outcome] = sched.tick("daily")
    assert outcome.state == "failed"
    assert "gave up on 1 recipient(s)" in caplog.text
    assert Ledger(cfg.schedule.state_dir).cursor("daily") == clock.now.replace(minute=30)


# -- `reportgen build` through the ledger ---------------------------------------------------------


def test_build_presets_claims_every_window_or_builds_nothing(tmp_path):
    cfg = write_config(tmp_path, extra=SECOND)
    ledger = Ledger(cfg.schedule.state_dir)
    day = date(2025, 7, 7)
    window = cfg.presets["hourly"].window_for(day)
    build = FakeBuild()
    held = ledger.claim("hourly", window, day, "scheduled")  # as a scheduled run would
    with pytest.raises(RunBusy, match=r"preset hourly .* another run \(scheduled\) is in progress"):
        build_presets(cfg, None, as_of=day, ledger=ledger, build_fn=build)
    assert build.calls == [] and ledger.get_run("daily", window) is None
    held.finish("succeeded")
    outputs = build_presets(cfg, None, as_of=day, ledger=ledger, build_fn=build)
    assert build.batches == [["daily", "hourly"]], "one build: all computed before any write"
    assert [o.preset.name for o in outputs] == ["daily", "hourly"]
    for name in ("daily", "hourly"):
        run = ledger.get_run(name, window)
        assert (run.state, run.trigger) == ("succeeded", "manual")
        assert [o["name"] for o in run.files["outputs"]] == [name]
    assert ledger.sends("daily", window) == {}, "a build sends nothing"


def test_a_failing_build_marks_every_claimed_window_failed(tmp_path):
    cfg = write_config(tmp_path, extra=SECOND)
    ledger = Ledger(cfg.schedule.state_dir)
    day = date(2025, 7, 7)
    with pytest.raises(DataError):
        build_presets(cfg, None, as_of=day, ledger=ledger, build_fn=FakeBuild(fail={"hourly"}))
    window = cfg.presets["daily"].window_for(day)
    for name in ("daily", "hourly"):
        run = ledger.get_run(name, window)
        assert run.state == "failed" and "not a number" in run.error
    build_presets(cfg, ["daily"], as_of=day, ledger=ledger, build_fn=FakeBuild())


MANUAL_BUILD = """
import sys, time
sys.path.insert(0, {root!r})
from datetime import date
from reportgen import config
from reportgen.delivery.ledger import Ledger
from reportgen.scheduling.schedule import build_presets
from tests.test_schedule import FakeBuild

class SlowBuild(FakeBuild):
    def __call__(self, cfg, **kwargs):
        print("building", flush=True)
        time.sleep(2)
        return super().__call__(cfg, **kwargs)

cfg = config.load({config!r})
build_presets(cfg, ["daily"], as_of=date(2025, 7, 7), ledger=Ledger(cfg.schedule.state_dir),
              build_fn=SlowBuild())
"""


def test_a_scheduled_run_waits_for_a_manual_build_and_sends_it(tmp_path, caplog):
    cfg = write_config(tmp_path)
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))
    build = FakeBuild()
    sched, mailers = make_scheduler(cfg, clock, build)
    sched.start_up()
    proc = spawn(MANUAL_BUILD, "building", config=str(cfg.path))
    try:
        caplog.set_level(logging.INFO)
        clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)  # the 02:30 run falls due
        [outcome] = sched.tick("daily")
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "another run (manual) is in progress" in caplog.text and "waiting up to" in caplog.text
    # Never both built: the scheduler sent what the manual build made.
    assert outcome.state == "succeeded" and not outcome.built and build.calls == []
    assert sent(mailers) == [("Daily sales — 2025-07-07 to 2025-07-07", ["team@example.com"])]
    run = Ledger(cfg.schedule.state_dir).recent_runs("daily")[0]
    assert (run.state, run.trigger, run.attempts) == ("succeeded", "scheduled", 2)


def _bad_revenue(tracking: Path) -> None:
    tracking.write_text(tracking.read_text().replace(",1,2000", ",1,lots"))


def _header_only(tracking: Path) -> None:
    tracking.write_text(tracking.read_text().splitlines()[0] + "\n")


@pytest.mark.slow
@pytest.mark.parametrize(
    ("damage", "says"),
    [(_bad_revenue, "(line 2), column 'revenue'"), (_header_only, "tracking_data has no rows")],
    ids=["bad-revenue", "header-only"],
)
def test_a_scheduled_build_on_bad_data_keeps_the_good_report_and_history(
    tmp_path, caplog, damage, says
):
    """The real build and aiosmtpd: a failing scheduled run changes no output and no record."""
    import shutil

    from reportgen.build import build
    from tests.conftest import TINY
    from tests.test_deliver import server
    from tests.test_hostile import snapshot

    data = tmp_path / "data"
    shutil.copytree(TINY, data)
    with server() as smtp:
        extra = f"source: {{kind: files, path: {data}}}\n"
        cfg = write_config(tmp_path, extra=extra)
        cfg.path.write_text(cfg.path.read_text().replace("port: 2525", f"port: {smtp.port}"))
        cfg = config_mod.load(cfg.path)
        clock = Clock(datetime(2025, 7, 7, 2, 0, tzinfo=IST))
        sched = ReportScheduler(cfg, build_fn=build, clock=clock)
        sched.start_up()
        clock.now = datetime(2025, 7, 7, 2, 31, tzinfo=IST)
        [good] = sched.tick("daily")
        assert good.state == "succeeded" and len(smtp.messages) == 1
        ledger = Ledger(cfg.schedule.state_dir)
        before_run = ledger.get_run("daily", good.window)
        before_sent = ledger.deliveries("daily", good.window)
        before_output = snapshot(cfg.output_dir)
        damage(data / "tracking_data.csv")
        clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
        [bad] = sched.tick("daily")
    assert bad.state == "failed" and says in bad.error, bad.error
    assert snapshot(cfg.output_dir) == before_output  # latest still on 2025-07-06
    assert os.readlink(cfg.output_dir / "daily" / "latest") == "2025-07-06"
    assert ledger.get_run("daily", good.window) == before_run
    assert ledger.deliveries("daily", good.window) == before_sent
    failed = ledger.get_run("daily", bad.window)
    assert failed.state == "failed" and failed.files is None
    assert [rcpts for _, rcpts, _ in smtp.messages[1:]] == [["owner@example.com"]]
    assert "Traceback" not in caplog.text


def test_a_ledger_damaged_under_a_running_scheduler_is_logged_not_raised(tmp_path, caplog):
    cfg = write_config(tmp_path)
    clock = Clock(datetime(2025, 7, 8, 2, 0, tzinfo=IST))
    build = FakeBuild()
    sched, mailers = make_scheduler(cfg, clock, build)
    sched.start_up()
    (cfg.schedule.state_dir / "ledger.sqlite3").write_bytes(b"garbage" * 1000)
    (cfg.schedule.state_dir / "ledger.sqlite3-wal").unlink(missing_ok=True)
    clock.now = datetime(2025, 7, 8, 2, 31, tzinfo=IST)
    assert sched.tick("daily") == []
    assert "daily: " in caplog.text and "the run ledger is damaged" in caplog.text
    assert build.calls == [] and sent(mailers) == []  # nothing built or sent without history
