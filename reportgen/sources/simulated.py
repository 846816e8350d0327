"""The simulated source: generate data once per (seed, scale, end date) and reuse it."""

from __future__ import annotations

import logging
from datetime import date, timedelta
from pathlib import Path

from reportgen.config import Config
from reportgen.windows import default_as_of

logger = logging.getLogger(__name__)


def spec_for(config: Config, today: date | None = None):  # -> SimulationSpec
    """Return the SimulationSpec the config asks for, with ``yesterday`` resolved."""
    from reportgen.simulate import SimulationSpec

    sim = config.source.simulate
    end = sim.end_date
    if end == "yesterday":
        tz = next(iter(config.presets.values())).timezone if config.presets else "Asia/Kolkata"
        end = (today - timedelta(days=1)) if today else default_as_of(tz)
    return SimulationSpec(
        seed=sim.seed,
        influencers=sim.influencers,
        days=sim.days,
        end_date=end,
        rows=sim.rows,
        fmt=sim.format,
    )


def folder_for(config: Config, spec) -> Path:
    """Return the cache folder for a spec: one folder per distinct simulation."""
    rows = f"-r{spec.rows}" if spec.rows else ""
    name = f"seed{spec.seed}-i{spec.influencers}-d{spec.days}{rows}-{spec.end_date.isoformat()}"
    return config.root / "data" / "simulated" / name


def ensure(config: Config, today: date | None = None) -> Path:
    """Return the folder of simulated data for the config, generating it when missing."""
    from reportgen.simulate import simulate

    spec = spec_for(config, today)
    folder = folder_for(config, spec)
    marker = folder / ".complete"
    if not marker.exists():
        logger.info("simulating data into %s", folder)
        folder.mkdir(parents=True, exist_ok=True)
        simulate(spec, folder)
        marker.write_text("ok\n")
    return folder
