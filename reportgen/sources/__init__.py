"""Sources: turn simulated data, a folder of files or a database into canonical tables.

A source is chosen by ``source.kind`` (or what ``--data`` names) from the registry
``SOURCES``. A source only turns its tables into relations in canonical names and types:
folders are read by the build's DuckDB (``files``), databases hand over Ibis relations of
their own backend (``database`` through ``canonical``). The rules, written once in Ibis
(``rules``), then run where the data is. Every source ends in the same shape: a DuckDB
connection holding ``influencers``, ``posts``, ``payouts``, ``tracking_facts`` and
``catalogue`` with canonical names and types, plus the data-quality findings met on the way.
The metric layer sees only that shape.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.config import Config
from reportgen.errors import ConfigError
from reportgen.model import Issue
from reportgen.sources.url import is_url

if TYPE_CHECKING:  # the engine is imported by the sources that open it, not by a reuse
    import duckdb

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
    #: Per input file, what stat said just before the load read it (see sources.layout.fingerprint).
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    #: Seconds per loading step, for the benchmark and --verbose.
    timings: dict[str, float] = field(default_factory=dict)
    _backend: Any = field(default=None, repr=False)

    @property
    def backend(self) -> Any:
        """Return the Ibis backend over the canonical tables: what metrics and checks query.

        Whatever engine read the source (DuckDB over files, PostgreSQL, Spark), its results
        land in the build's own DuckDB; metrics receive this backend and never name one.
        """
        if self._backend is None:
            import ibis

            self._backend = ibis.duckdb.from_connection(self.con)
        return self._backend

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the time spent in the block to ``timings[step]``."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[step] = self.timings.get(step, 0.0) + time.perf_counter() - t0


def record_finding(
    ds: Dataset,
    code: str,
    message: str,
    *,
    table: str,
    file: str,
    rows: int,
    revenue: float = 0.0,
    examples: Iterable[Any] = (),
) -> None:
    """Append a warning finding to ``ds.issues`` when it touches any rows."""
    if rows <= 0:
        return
    ds.issues.append(
        Issue(
            code,
            "warning",
            message,
            table=table,
            file=file,
            rows=rows,
            revenue=revenue,
            examples=list(examples),
        )
    )


#: How each ``source.kind`` opens its data: a registry, so a new source is one entry.
def _open_simulate(config: Config, data: Path | str | None, today: date | None) -> Dataset:
    from reportgen.sources import simulated

    folder = simulated.ensure(config, today=today)
    return _folder_engine(config)(folder, config, "simulate")


def _open_files(config: Config, data: Path | str | None, today: date | None) -> Dataset:
    folder = Path(data) if data is not None else config.source.path
    return _folder_engine(config)(folder, config, "files")


def _folder_engine(config: Config) -> Callable[[Path, Config, str], Dataset]:
    """Return what reads a folder for ``engine.kind``: the local DuckDB, or Spark."""
    if config.engine.kind == "spark":
        from reportgen.sources import spark

        return spark.load_folder
    from reportgen.sources import files

    return files.load_folder


def _open_sql(config: Config, data: Path | str | None, today: date | None) -> Dataset:
    from reportgen.sources.database import open_database

    url = str(data) if data is not None else config.source.url
    assert url is not None  # config checks kind: sql has a url
    return open_database(url, config)


SOURCES: dict[str, Callable[[Config, Path | str | None, date | None], Dataset]] = {
    "simulate": _open_simulate,
    "files": _open_files,
    "sql": _open_sql,
}


def source_kind(config: Config, data: Path | str | None) -> str:
    """Return the kind of source a build reads: ``--data`` (a folder or a URL) wins."""
    if data is None:
        return config.source.kind
    return "sql" if isinstance(data, str) and is_url(data) else "files"


def open_dataset(
    config: Config, *, data_dir: Path | str | None = None, today: date | None = None
) -> Dataset:
    """Open the configured source (or ``data_dir``, a folder or a URL, ad hoc) as a Dataset."""
    kind = source_kind(config, data_dir)
    if kind == "sql" and config.engine.kind != "duckdb":
        raise ConfigError(
            f"engine {config.engine.kind} reads folders of files; a database source runs the "
            "queries itself: drop engine.kind (or --engine) for this build"
        )
    ds = SOURCES[kind](config, data_dir, today)
    logger.debug("load steps: %s", ", ".join(f"{k} {v:.2f} s" for k, v in ds.timings.items()))
    # Paths inside the project are recorded relative to it, so summaries diff across machines.
    if "path" in ds.provenance:
        path = Path(ds.provenance["path"]).resolve()
        if path.is_relative_to(config.root):
            ds.provenance["path"] = path.relative_to(config.root).as_posix()
    return ds
