"""Sources: turn simulated data or a folder of files into canonical, validated tables.

Every source ends in the same shape: a DuckDB connection holding the views ``influencers``,
``posts``, ``tracking``, ``payouts`` and ``catalogue`` with canonical names and types, plus the
data-quality findings met on the way. The metric layer sees only that shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from reportgen.config import Config
from reportgen.model import Issue

logger = logging.getLogger(__name__)


@dataclass
class Dataset:
    """Canonical tables inside the analytical engine, and what loading them found."""

    con: duckdb.DuckDBPyConnection
    issues: list[Issue] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    #: True when timestamps carry a zone; False when they are local time of each report.
    zoned: bool = False
    rows: dict[str, int] = field(default_factory=dict)
    #: Seconds per loading step, for the benchmark and --verbose.
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the time spent in the block to ``timings[step]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - t0


def open_dataset(
    config: Config, *, data_dir: Path | None = None, today: date | None = None
) -> Dataset:
    """Open the configured source (or ``data_dir`` for ad hoc builds) as a Dataset."""
    from reportgen.sources import files, simulated

    if data_dir is not None:
        ds = files.load_folder(data_dir, config)
    elif config.source.kind == "simulate":
        folder = simulated.ensure(config, today=today)
        ds = files.load_folder(folder, config, origin="simulate")
    else:
        ds = files.load_folder(config.source.path, config)
    # Paths inside the project are recorded relative to it, so summaries diff across machines.
    path = Path(ds.provenance["path"]).resolve()
    if path.is_relative_to(config.root):
        ds.provenance["path"] = path.relative_to(config.root).as_posix()
    return ds
