"""The typed config: the frozen dataclasses a checked config.yaml becomes (``Config``, its
``Preset``s and their ``Filters`` and ``Group``s, and the source, engine, email and schedule
settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from reportgen import windows
from reportgen.config.fields import DEFAULT_MIN_PAYOUT
from reportgen.errors import ConfigError
from reportgen.model import Window


@dataclass(frozen=True)
class Filters:
    """Which slice of the data a report covers; empty lists mean everything."""

    brands: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    platforms: tuple[str, ...] = ()

    def describe(self) -> str:
        """Return a one-line description such as ``brands: MuscleBlaze; all categories``."""
        parts = []
        for label, vals in (
            ("brands", self.brands),
            ("categories", self.categories),
            ("platforms", self.platforms),
        ):
            parts.append(f"{label}: {', '.join(vals)}" if vals else f"all {label}")
        return "; ".join(parts)


@dataclass(frozen=True)
class Group:
    """A recipient group of a fanned-out preset."""

    name: str
    filters: Filters
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()


@dataclass(frozen=True)
class Preset:
    """One report definition, with defaults already applied."""

    name: str
    title: str
    description: str
    window: str | Window
    timezone: str
    currency: str
    locale: str
    filters: Filters
    formats: tuple[str, ...]
    top_n: int = 10
    sections: tuple[str, ...] = ("overview",)
    attribution: dict[str, Any] = field(default_factory=dict)
    schedule: str | None = None
    missed: str = "latest"
    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    owners: tuple[str, ...] = ()
    attach: tuple[str, ...] = ("pdf",)
    send: dict[str, Any] = field(default_factory=dict)
    groups: tuple[Group, ...] = ()
    compare: str = "previous_calendar"
    roas_min_payout: float | str = DEFAULT_MIN_PAYOUT
    #: Set on the per-group copies a fanned-out preset is built as: the group's name.
    group: str | None = None

    def window_for(self, as_of: date) -> Window:
        """Return the inclusive window this preset covers for ``as_of``."""
        return windows.resolve(self.window, as_of)

    def compare_window(self, window: Window) -> Window:
        """Return the window that ``window`` is compared with (the ``compare`` option)."""
        return windows.comparison(self.window, window, self.compare)

    def min_payout(self, total_payout: float) -> float:
        """Return the payout an influencer needs to enter the top by ROAS this window."""
        if isinstance(self.roas_min_payout, str):
            return round(total_payout * float(self.roas_min_payout[:-1]) / 100, 2)
        return float(self.roas_min_payout)

    def window_spec(self) -> str:
        """Return the window as written in the config, for display."""
        return self.window if isinstance(self.window, str) else self.window.label()


@dataclass(frozen=True)
class SimulateConfig:
    """Parameters of the simulated source."""

    seed: int = 42
    influencers: int = 120
    days: int = 400
    end_date: date | str = "yesterday"
    rows: int | None = None
    format: str = "parquet"


@dataclass(frozen=True)
class SourceConfig:
    """Where data comes from and how its names map to ours."""

    kind: str = "simulate"
    path: Path = Path("data")
    format: str = "auto"
    files: dict[str, str] = field(default_factory=dict)
    columns: dict[str, dict[str, str | None]] = field(default_factory=dict)
    values: dict[str, dict[str, str]] = field(default_factory=dict)
    decimal: str = "."
    thousands: str | None = None
    delimiter: str = "auto"
    allow_empty: tuple[str, ...] = ()
    url: str | None = None
    schema: str | None = None
    password_env: str = "REPORTGEN_DB_PASSWORD"  # noqa: S105 (a variable name, not a secret)
    timeout: float = 300.0
    tables: dict[str, str] = field(default_factory=dict)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)


@dataclass(frozen=True)
class EngineConfig:
    """Which engine reads a folder source: DuckDB in process, or Spark."""

    kind: str = "duckdb"
    master: str = "local[2]"
    conf: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EmailConfig:
    """SMTP settings; the password comes only from the environment variable named here."""

    host: str = "localhost"
    port: int = 587
    security: str = "starttls"
    username: str | None = None
    password_env: str = "REPORTGEN_SMTP_PASSWORD"  # noqa: S105 (a variable name, not a secret)
    sender: str = "reportgen@localhost"
    reply_to: str | None = None
    timeout: float = 30.0
    max_attachment_mb: float = 10.0
    base_url: str | None = None
    retries: int = 4
    backoff_seconds: float = 2.0


@dataclass(frozen=True)
class ScheduleConfig:
    """Scheduler settings."""

    state_dir: Path = Path(".reportgen")
    misfire_grace_seconds: int = 3600
    coalesce: bool = True


@dataclass(frozen=True)
class Config:
    """The whole validated configuration."""

    path: Path | None
    root: Path
    source: SourceConfig
    products: dict[str, str]
    categories: tuple[str, ...]
    platforms: tuple[str, ...]
    output_dir: Path
    templates_dir: Path
    presets: dict[str, Preset]
    email: EmailConfig
    schedule: ScheduleConfig
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    engine: EngineConfig = field(default_factory=EngineConfig)

    @property
    def brands(self) -> list[str]:
        """Return the brands the catalogue knows, sorted."""
        return sorted(set(self.products.values()))

    def select(self, names: list[str] | None) -> list[Preset]:
        """Return the named presets (all when ``names`` is empty); unknown names are errors."""
        if not names:
            return list(self.presets.values())
        out = []
        for n in names:
            if n not in self.presets:
                from reportgen.config.options import suggest

                known = list(self.presets)
                raise ConfigError(
                    f"unknown preset {n!r}{suggest(n, known)}; presets in "
                    f"{self.path or 'the config'}: {', '.join(known)}"
                )
            out.append(self.presets[n])
        return out
