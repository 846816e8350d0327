"""`reportgen schedule`: run each preset on its cron schedule, catch up missed runs, send email.

The ledger, not APScheduler, is the source of truth: each preset has a cursor (the last fire time
accounted for), and every wake-up handles all fire times between the cursor and now. APScheduler
only decides when to wake up, so missed, coalesced and skipped fires are handled the same way
whether the scheduler was down, busy with a long build, or woken by a catch-up at start.
Which fire times are due, and what each one gets, is decided in ``fires``; this module runs them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import select
import signal
import threading
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger

from reportgen import config as config_mod
from reportgen.config import Config, Preset
from reportgen.delivery.deliver import (
    Mailer,
    notify_failure,
)
from reportgen.delivery.ledger import Ledger, utcnow
from reportgen.delivery.manual import build_presets as build_presets  # old home; tests import it
from reportgen.delivery.manual import default_build
from reportgen.delivery.runs import RunOutcome, execute
from reportgen.errors import ConfigError, ReportgenError, RunBusy
from reportgen.model import Window
from reportgen.scheduling.fires import Action, as_of_for, fires_between, minute_text, plan
from reportgen.scheduling.lock import scheduler_lock
from reportgen.scheduling.triggers import EitherDayTrigger as EitherDayTrigger
from reportgen.scheduling.triggers import LocalCronTrigger as LocalCronTrigger
from reportgen.scheduling.triggers import cron_weekdays as cron_weekdays
from reportgen.scheduling.triggers import crontab_trigger as crontab_trigger
from reportgen.scheduling.triggers import is_repeated_wall_time as is_repeated_wall_time
from reportgen.scheduling.triggers import make_trigger

logger = logging.getLogger(__name__)

BuildFn = Callable[..., list[Any]]


class ReportScheduler:
    """Runs scheduled presets with APScheduler, exactly once per window, surviving restarts."""

    def __init__(
        self,
        config: Config,
        *,
        build_fn: BuildFn | None = None,
        mailer_factory: Callable[[Config], Mailer] | None = None,
        clock: Callable[[], datetime] = utcnow,
        dry_run: bool = False,
        poll_seconds: float = 5.0,
        trigger_factory: Callable[[Preset], BaseTrigger] = make_trigger,
        max_workers: int = 4,
    ) -> None:
        self.config = config
        self.ledger = Ledger(config.schedule.state_dir)
        self.build_fn = build_fn
        # One build at a time: builds load the same data and saturate the CPU, so concurrent
        # ones gain little. (The simulated-data cache itself is safe either way: it is locked.)
        self._build_lock = threading.Lock()
        self.mailer_factory = mailer_factory or (lambda c: Mailer(c.email))
        self.clock = clock
        self.dry_run = dry_run
        self.poll_seconds = poll_seconds
        self.trigger_factory = trigger_factory
        self.max_workers = max_workers
        self._busy: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._pipe: tuple[int, int] | None = None  # wakes the main loop; made by serve()
        self._signalled = ""
        self._stop = threading.Event()
        self._reload_requested = False
        self._stamp = _stamp(config.path)
        self._settling: tuple[int, int] | None = None
        self._scheduler: BackgroundScheduler | None = None
        self._specs: dict[str, tuple[str, str]] = {}

    # -- configuration -----------------------------------------------------------------------

    def scheduled(self) -> dict[str, Preset]:
        """Return the presets that have a schedule."""
        return {n: p for n, p in self.config.presets.items() if p.schedule}

    def reload(self, why: str = "requested") -> bool:
        """Load the config file again; keep the last good config when the new one is invalid."""
        path = self.config.path
        if path is None:
            return False
        self._stamp = _stamp(path)
        try:
            new = config_mod.load(path)
        except ReportgenError as exc:
            logger.error("config reload (%s) rejected, keeping the last good config: %s", why, exc)
            return False
        except Exception as exc:
            logger.error(
                "config reload (%s) failed, keeping the last good config: %s: %s",
                why,
                type(exc).__name__,
                exc,
            )
            return False
        if new.schedule.state_dir != self.config.schedule.state_dir:
            logger.warning(
                "schedule.state_dir changed to %s; restart the scheduler to use it",
                new.schedule.state_dir,
            )
            new = dataclasses.replace(
                new,
                schedule=dataclasses.replace(
                    new.schedule, state_dir=self.config.schedule.state_dir
                ),
            )
        self.config = new
        self._init_cursors()
        if self._scheduler is not None:
            self._sync_jobs()
        logger.info("config reloaded (%s): %d scheduled preset(s)", why, len(self.scheduled()))
        return True

    def config_changed(self) -> bool:
        """Return True when config.yaml's mtime or size differs from the loaded one."""
        return self.config.path is not None and _stamp(self.config.path) != self._stamp

    # -- fire handling ---------------------------------------------------------------------

    def _init_cursors(self) -> None:
        """Give presets the scheduler has never seen a cursor at now: nothing is missed yet."""
        now = self.clock()
        for name in self.scheduled():
            if self.ledger.cursor(name) is None:
                self.ledger.advance_cursor(name, now)
                logger.info("%s: first time scheduled; runs from now on", name)

    def start_up(self) -> None:
        """Mark crashed runs and start every preset's cursor; call with the scheduler lock."""
        for run in self.ledger.mark_crashed():
            logger.warning(
                "run %s of %s %s crashed: %s", run.id, run.preset, run.window.label(), run.error
            )
        self._init_cursors()

    def _trigger(self, preset: Preset) -> BaseTrigger | None:
        try:
            return self.trigger_factory(preset)
        except ValueError as exc:
            # One bad schedule must not stop the other presets.
            logger.error(
                "%s: schedule %r cannot be used: %s; not scheduled",
                preset.name,
                preset.schedule,
                exc,
            )
            return None

    def due(self, name: str, now: datetime, config: Config | None = None) -> list[datetime]:
        """Return the fire times of ``name`` after its cursor, up to ``now``."""
        preset = (config or self.config).presets.get(name)
        if preset is None or not preset.schedule:
            return []
        cursor = self.ledger.cursor(name)
        if cursor is None:
            self.ledger.advance_cursor(name, now)
            return []
        trigger = self._trigger(preset)
        return fires_between(trigger, cursor, now) if trigger else []

    def tick(self, name: str, *, now: datetime | None = None) -> list[RunOutcome]:
        """Handle every due fire of ``name``; the job APScheduler runs at each fire time."""
        lock = self._busy[name]
        if not lock.acquire(blocking=False):
            logger.info("%s: a run is still going; it picks up due fire times when done", name)
            return []
        try:
            outcomes: list[RunOutcome] = []
            # Loop: fires that fall due during a long build are handled before letting go.
            for _ in range(100):
                # One config snapshot per round: a reload meanwhile applies to the next one.
                config = self.config
                current = now or self.clock()
                try:
                    fires = self.due(name, current, config)
                    if not fires:
                        break
                    outcomes += self._handle(config, name, fires, current)
                except ReportgenError as exc:
                    # The ledger itself failed (damaged, disk full): one line, and the next
                    # wake-up tries again from the cursor, so no fire time is lost.
                    logger.error("%s: %s", name, exc)
                    break
                if now is not None:
                    break
            return outcomes
        finally:
            lock.release()

    def _handle(
        self, config: Config, name: str, fires: list[datetime], now: datetime
    ) -> list[RunOutcome]:
        """Run, skip or coalesce each due fire time of one preset, advancing its cursor."""
        preset = config.presets[name]
        actions = plan(
            fires,
            now,
            grace_seconds=config.schedule.misfire_grace_seconds,
            missed=preset.missed,
            coalesce=config.schedule.coalesce,
        )
        outcomes = []
        for action in actions:
            as_of = as_of_for(action.fire, preset.timezone)
            window = preset.window_for(as_of)
            local = action.fire.astimezone(ZoneInfo(preset.timezone))
            if action.trigger == "catch-up":
                logger.warning(
                    "%s: missed the run due %s (window %s): %s",
                    name,
                    minute_text(local),
                    window.label(),
                    "running it now" if action.kind == "run" else action.reason,
                )
            elif action.kind == "skip":
                logger.info("%s: run due %s %s", name, minute_text(local), action.reason)
            if action.kind == "skip":
                self.ledger.record_skipped(
                    name,
                    window,
                    as_of,
                    action.trigger,
                    f"{minute_text(local)}: {action.reason}",
                    fired=action.fire,
                )
            else:
                outcome = self._run(config, preset, action, as_of, window)
                if outcome:
                    outcomes.append(outcome)
            self.ledger.advance_cursor(name, action.fire)
        return outcomes

    def _serial_build(self, config: Config, **kwargs: Any) -> list[Any]:
        with self._build_lock:
            return (self.build_fn or default_build)(config, **kwargs)

    def _run(
        self, config: Config, preset: Preset, action: Action, as_of: date, window: Window
    ) -> RunOutcome | None:
        logger.info(
            "%s: run due %s for %s",
            preset.name,
            minute_text(action.fire.astimezone(ZoneInfo(preset.timezone))),
            window.label(),
        )
        mailer = self.mailer_factory(config)
        try:
            # A manual `build` or `send` may hold the window: wait for it, then send its
            # build (or find the email already sent) rather than dropping this fire time.
            outcome = execute(
                config,
                preset.name,
                as_of=as_of,
                trigger=action.trigger,
                ledger=self.ledger,
                fired=action.fire,
                build_fn=self._serial_build,
                mailer=mailer,
                dry_run=self.dry_run,
                wait=config.schedule.misfire_grace_seconds,
                cancelled=self._stop.is_set,
            )
        except RunBusy as exc:
            logger.warning("%s: gave up waiting; this fire time is not run", exc)
            return None
        except ReportgenError as exc:
            reason = str(exc)
            logger.error("%s %s: run failed: %s", preset.name, window.label(), reason)
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc} (traceback in the scheduler log)"
            logger.exception("%s %s: run failed unexpectedly", preset.name, window.label())
        else:
            for result in outcome.sends:
                logger.info("%s", result.describe())
            logger.info(
                "%s %s: %s in %.1fs", preset.name, window.label(), outcome.state, outcome.seconds
            )
            return outcome
        if not self.dry_run:
            notify_failure(config, preset, window, reason, mailer=mailer, as_of=as_of)
        return RunOutcome(preset.name, window, as_of, "failed", error=reason)

    # -- APScheduler ---------------------------------------------------------------------------

    def _job_spec(self, preset: Preset) -> tuple[str, str]:
        return (preset.schedule or "", preset.timezone)

    def _add_job(self, preset: Preset, *, run_now: bool) -> None:
        assert self._scheduler is not None
        trigger = self._trigger(preset)
        if trigger is None:
            return
        extra: dict[str, Any] = {}
        if run_now:
            # One immediate wake-up performs the start-up catch-up on the preset's own job,
            # so max_instances=1 covers it too.
            extra["next_run_time"] = datetime.now(UTC)
        self._scheduler.add_job(
            self.tick,
            trigger=trigger,
            args=[preset.name],
            id=preset.name,
            name=f"reportgen {preset.name}",
            misfire_grace_time=self.config.schedule.misfire_grace_seconds,
            coalesce=self.config.schedule.coalesce,
            max_instances=1,
            replace_existing=True,
            **extra,
        )
        self._specs[preset.name] = self._job_spec(preset)

    def _sync_jobs(self) -> None:
        assert self._scheduler is not None
        wanted = self.scheduled()
        for job_id in list(self._specs):
            if job_id not in wanted:
                self._scheduler.remove_job(job_id)
                del self._specs[job_id]
                logger.info("%s: no longer scheduled", job_id)
        for name, preset in wanted.items():
            if self._specs.get(name) != self._job_spec(preset):
                new = name not in self._specs
                self._add_job(preset, run_now=new)
                logger.info(
                    "%s: %s '%s' (%s)",
                    name,
                    "scheduled" if new else "rescheduled",
                    preset.schedule,
                    preset.timezone,
                )
            else:
                # Same schedule; misfire and coalesce settings may still have changed.
                self._scheduler.modify_job(
                    name,
                    misfire_grace_time=self.config.schedule.misfire_grace_seconds,
                    coalesce=self.config.schedule.coalesce,
                )

    def start(self) -> None:
        """Start APScheduler in the background with one job per scheduled preset."""
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(self.max_workers)},
            job_defaults={"max_instances": 1},
        )
        for preset in self.scheduled().values():
            self._add_job(preset, run_now=True)
        self._scheduler.start()
        for name in self._specs:
            preset = self.config.presets[name]
            trigger = self._trigger(preset)
            nxt = trigger.get_next_fire_time(None, datetime.now(UTC)) if trigger else None
            logger.info(
                "%s: scheduled '%s' (%s); next run %s",
                name,
                preset.schedule,
                preset.timezone,
                minute_text(nxt) if nxt else "never",
            )

    def stop(self, wait: bool = True) -> None:
        """Stop waking up; wait for running builds when ``wait``."""
        self._stop.set()
        self._poke()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=wait)

    def request_reload(self) -> None:
        """Ask the main loop to reload the config (what SIGHUP does)."""
        self._reload_requested = True
        self._poke()

    def _poke(self) -> None:
        # A byte down a pipe is all a signal handler may safely do: no locks, no logging
        # (an Event or a log call could deadlock on a lock the interrupted code holds).
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                os.write(self._pipe[1], b"x")

    def serve(self, *, install_signals: bool = True) -> int:
        """Run until SIGINT/SIGTERM: take the lock, catch up, then schedule; return exit code."""
        if not self.scheduled():
            raise ConfigError(
                f"{self.config.path or 'the config'}: no preset has a schedule; add one such as "
                "schedule: '0 7 * * 1' (minute hour day month weekday, in the preset's timezone)"
            )
        lock = scheduler_lock(self.config.schedule.state_dir)
        self._pipe = os.pipe()
        for fd in self._pipe:
            os.set_blocking(fd, False)
        try:
            logger.info(
                "scheduler started (pid %d, state folder %s)",
                os.getpid(),
                self.config.schedule.state_dir,
            )
            if install_signals:
                self._install_signals()
            self.start_up()
            self.start()
            self._main_loop()
        finally:
            self.stop(wait=True)
            pipe, self._pipe = self._pipe, None
            for fd in pipe:
                os.close(fd)
            lock.release()
            logger.info("scheduler stopped")
        return 0

    def _main_loop(self) -> None:
        assert self._pipe is not None
        wake = self._pipe[0]
        while not self._stop.is_set():
            ready, _, _ = select.select([wake], [], [], self.poll_seconds)
            if ready:
                with contextlib.suppress(BlockingIOError):
                    os.read(wake, 512)
            if self._signalled:
                logger.info("%s received; finishing running builds, then stopping", self._signalled)
                break
            if self._stop.is_set():
                break
            if self._reload_requested:
                self._reload_requested = False
                self.reload("SIGHUP")
            elif self.config_changed():
                # Reload once the file has stopped changing for a poll, so a save caught
                # half-written is not rejected (and logged) before the editor has finished.
                stamp = _stamp(self.config.path)
                if stamp == self._settling:
                    self.reload("config file changed")
                self._settling = stamp

    def _install_signals(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return

        def _terminate(signum: int, _frame: Any) -> None:
            self._signalled = signal.Signals(signum).name
            self._poke()

        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())
        signal.signal(signal.SIGTERM, _terminate)
        signal.signal(signal.SIGINT, _terminate)


def _stamp(path: Path | None) -> tuple[int, int] | None:
    if path is None:
        return None
    try:
        st = Path(path).stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)
