"""The simulated source: generate data once per (seed, scale, end date) and reuse it."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import uuid
from datetime import date, timedelta
from pathlib import Path

from reportgen.config import Config
from reportgen.scheduling.lock import FileLock
from reportgen.windows import default_as_of

logger = logging.getLogger(__name__)

#: Marker file inside a finished cache folder.
COMPLETE = ".complete"


def spec_for(config: Config, today: date | None = None):  # -> SimulationSpec
    """Return the SimulationSpec the config asks for, with ``yesterday`` resolved."""
    from reportgen.sources.simulate import SimulationSpec

    sim = config.source.simulate
    return SimulationSpec(
        seed=sim.seed,
        influencers=sim.influencers,
        days=sim.days,
        end_date=_end_date(config, today),
        rows=sim.rows,
        fmt=sim.format,
    )


def _end_date(config: Config, today: date | None) -> date:
    """Return the last day to simulate: the configured date, or ``yesterday`` resolved."""
    end = config.source.simulate.end_date
    if isinstance(end, date):
        return end
    # The one word the option allows: "yesterday".
    tz = next(iter(config.presets.values())).timezone if config.presets else "Asia/Kolkata"
    return (today - timedelta(days=1)) if today else default_as_of(tz)


def folder_for(config: Config, spec) -> Path:
    """Return the cache folder for a spec: one folder per distinct simulation."""
    rows = f"-r{spec.rows}" if spec.rows else ""
    name = f"seed{spec.seed}-i{spec.influencers}-d{spec.days}{rows}-{spec.end_date.isoformat()}"
    return config.root / "data" / "simulated" / name


def ensure(config: Config, today: date | None = None) -> Path:
    """Return the folder of simulated data for the config, generating it when missing.

    Safe when several builds (threads or processes) ask at once: one generates while holding
    an ``flock`` on ``.<folder>.lock`` next to the folder, the others wait for it and then
    reuse its files. Generation goes into a hidden temporary folder that is renamed into
    place only when complete, so the folder never appears half-written.
    """
    # The config alone names the folder: a finished cache is found without importing the
    # simulator (numpy, Faker), which a reused build never needs.
    sim = config.source.simulate
    folder = folder_for(config, dataclasses.replace(sim, end_date=_end_date(config, today)))
    if (folder / COMPLETE).exists():
        return folder
    spec = spec_for(config, today)
    lock = FileLock(folder.with_name(f".{folder.name}.lock"))
    if not lock.try_acquire():
        logger.info("waiting for another build to finish simulating data into %s", folder)
        lock.acquire()
    try:
        if not (folder / COMPLETE).exists():  # another build may have made it meanwhile
            _generate(spec, folder)
    finally:
        lock.release()
    return folder


def _generate(spec, folder: Path) -> None:
    """Simulate into a temporary sibling folder, then rename it to ``folder``."""
    from reportgen.sources.simulate import simulate

    logger.info("simulating data into %s", folder)
    # A unique hidden name (mkdir, unlike mkdtemp, keeps the usual umask permissions).
    tmp = folder.with_name(f".{folder.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
    tmp.mkdir()
    try:
        simulate(spec, tmp)
        (tmp / COMPLETE).write_text("ok\n")
        if folder.exists():  # left incomplete by an older version or an interrupted copy
            shutil.rmtree(folder)
        os.replace(tmp, folder)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
