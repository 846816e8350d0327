"""The config schema: every option with a one-line doc, checked before anything is built.

Errors read ``config.yaml:12: presets.weekly.brands[0]: unknown brand 'MuscleBlast' ...``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_name

from reportgen import windows
from reportgen.analysis import MODELS
from reportgen.config import catalogue
from reportgen.config import checks as config_checks
from reportgen.config.options import (
    Bool,
    Choice,
    Custom,
    DateOpt,
    Float,
    Int,
    Invalid,
    ListOf,
    MapOf,
    Option,
    Section,
    Str,
    TimeZone,
    Vocabulary,
)
from reportgen.config.yamlsrc import Located, load_yaml, loads_yaml
from reportgen.errors import ConfigError
from reportgen.model import Window

logger = logging.getLogger(__name__)

TABLES = ("influencers", "posts", "tracking_data", "payouts")
#: Optional tables of an attribution / holdout study: loaded when their files are there.
STUDY_TABLES = ("touchpoints", "conversions", "assignments")
ALL_TABLES = TABLES + STUDY_TABLES
FORMATS = ("html", "pdf", "csv")
#: Report sections a preset may list (reportgen/sections): today's report, then analyses.
SECTIONS = ("overview", "attribution", "incrementality")
ATTRIBUTION_MODELS = MODELS  # one list, in reportgen.analysis
NAME = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
ENV_NAME = r"[A-Za-z_][A-Za-z0-9_]*"
#: Files the email can attach (csv: the payout table).
ATTACH = ("pdf", "html", "csv")
#: Top by ROAS ranks influencers paid at least this share of the window's payout by default.
DEFAULT_MIN_PAYOUT = "1%"


def _check_locale(value: Any) -> str:
    try:
        Locale.parse(str(value).replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise Invalid(f"unknown locale {value!r}; use a name such as en_IN or en_US") from None
    return str(value).replace("-", "_")


def _check_currency(value: Any) -> str:
    code = str(value).upper()
    if len(code) != 3 or get_currency_name(code) == code:
        raise Invalid(f"unknown currency {value!r}; use an ISO 4217 code such as INR or USD")
    return code


def _check_cron(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise Invalid(f"expected a cron expression such as '0 7 * * 1', got {value!r}")
    # The scheduler's own translation (crontab weekday numbering, day-of-month OR weekday), so
    # whatever passes here is exactly what the scheduler runs. Imported late: only a config
    # with a schedule line pays for importing APScheduler.
    from reportgen.scheduling.triggers import crontab_trigger

    try:
        trigger = crontab_trigger(value, "UTC")
    except ValueError as exc:
        raise Invalid(
            f"invalid cron expression {value!r}: {exc}; use five fields: minute hour day month "
            "weekday, with crontab numbering (0 or 7 = Sunday)"
        ) from None
    if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
        raise Invalid(
            f"cron expression {value!r} never fires: no month has that day (for example "
            "31 in February or April); pick a day every chosen month has, such as 28"
        )
    return value


def _check_min_payout(value: Any) -> float | str:
    # A number is an amount in the preset's currency; "N%" a share of the window's payout.
    if isinstance(value, bool):
        raise Invalid(f"expected an amount such as 25000 or a share such as '2%', got {value!r}")
    if isinstance(value, int | float):
        if not value >= 0 or value == float("inf"):
            raise Invalid(f"must be an amount >= 0, got {value!r}")
        return float(value)
    text = str(value).strip()
    if text.endswith("%"):
        try:
            share = float(text[:-1])
        except ValueError:
            share = -1.0
        if 0 <= share <= 100:
            return f"{share:g}%"
    raise Invalid(
        f"expected an amount such as 25000 or a share of the window's payout such as '2%', "
        f"got {value!r}"
    )


def _check_email(value: Any) -> str:
    if not isinstance(value, str) or "@" not in value or any(c in value for c in "\r\n<>,;"):
        raise Invalid(f"expected one email address, got {value!r}")
    return value.strip()


#: Spark masters reportgen passes on: local mode, or a cluster manager's URL.
MASTER = r"local(\[(\d+|\*)(,\d+)?\])?|(spark|k8s|mesos)://\S+|yarn"


def _check_master(value: Any) -> str:
    """Return a Spark master; refuse what Spark would only reject after starting Java."""
    import re

    if not isinstance(value, str) or not re.fullmatch(MASTER, value):
        raise Invalid(
            f"{value!r} is not a Spark master; use local[2] (cores of this machine) or a "
            "cluster URL such as spark://host:7077"
        )
    return value


def _conf_value(value: Any) -> str:
    """Return a Spark setting's value as Spark reads it (text); refuse lists and mappings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Invalid(f"expected a text, number or true/false value, got {type(value).__name__}")


def _mapping(value: Any) -> dict[str, Any]:
    # Presets and defaults are checked key by key later, so errors name presets.<name>.<key>.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"expected a mapping, got {value!r}")
    return value


#: JSON Schema fragments for options checked by a function (see ``reportgen schema``).
EMAIL_SCHEMA = {"type": "string", "pattern": "^[^\\s<>,;]+@[^\\s<>,;]+$"}
PRESET_REF = {"$ref": "#/$defs/preset"}
WINDOW_SCHEMA = {
    "anyOf": [
        {"enum": [k for k in windows.RELATIVE if k != "last_N_days"]},
        {"type": "string", "pattern": "^last_[0-9]{1,4}_days$"},
        {
            "type": "object",
            "properties": {
                "start": {"type": "string", "format": "date"},
                "end": {"type": "string", "format": "date"},
            },
            "required": ["start", "end"],
            "additionalProperties": False,
        },
    ]
}


def _email(doc: str, default: Any = None) -> Custom:
    return Custom(doc, _check_email, default, schema=EMAIL_SCHEMA)


EMAILS = ListOf("Email addresses.", _email("An email address."), default=list)

#: Options a preset may set, and that ``defaults`` may set for every preset.
PRESET_FIELDS: dict[str, Option] = {
    "title": Str("Title shown on the report and in the email subject.", default=None),
    "description": Str("One paragraph under the title.", default=""),
    "window": Custom(
        "Date window: a relative name (last_7_days, previous_week, month_to_date, ...) or "
        "{start, end} fixed dates, inclusive.",
        windows.check_window,
        default="last_30_days",
        schema=WINDOW_SCHEMA,
    ),
    "timezone": TimeZone("IANA timezone of the window and of naive timestamps.", "Asia/Kolkata"),
    "currency": Custom(
        "ISO 4217 currency of money columns.",
        _check_currency,
        default="INR",
        schema={"type": "string", "pattern": "^[A-Za-z]{3}$", "examples": ["INR", "USD"]},
    ),
    "locale": Custom(
        "Locale for number formatting (en_IN: 12,34,567).",
        _check_locale,
        "en_IN",
        schema={"type": "string", "examples": ["en_IN", "en_US"]},
    ),
    "brands": ListOf("Brands to include; empty means all.", Vocabulary("", "brand"), list),
    "categories": ListOf(
        "Influencer categories to include; empty means all.", Vocabulary("", "category"), list
    ),
    "platforms": ListOf(
        "Influencer platforms to include; empty means all.", Vocabulary("", "platform"), list
    ),
    "formats": ListOf(
        "Files to produce besides summary.json: html, pdf, csv.",
        Choice("", FORMATS),
        default=lambda: list(FORMATS),
    ),
    "top_n": Int("How many influencers the top lists show.", 10, lo=1, hi=100),
    "compare": Custom(
        "Comparison window: previous_calendar (the month before, the same days of the previous "
        "month or quarter, the week before), previous_period or previous_year.",
        windows.check_compare,
        default="previous_calendar",
        schema={"enum": list(windows.COMPARE)},
    ),
    "roas_min_payout": Custom(
        "Top by ROAS ranks only influencers paid at least this much in the window: an amount "
        "(25000) or a share of the window's payout ('2%').",
        _check_min_payout,
        default=DEFAULT_MIN_PAYOUT,
        schema={
            "anyOf": [
                {"type": "number", "minimum": 0},
                {"type": "string", "pattern": r"^\s*\d+(\.\d+)?%\s*$"},
            ],
            "examples": [25000, "2%"],
        },
    ),
    "sections": ListOf(
        "Report sections in order: overview (KPIs, trend, breakdowns, top lists, tables), "
        "attribution, incrementality (these two need the study tables).",
        Choice("", SECTIONS),
        default=lambda: ["overview"],
    ),
    "attribution": Section(
        "Attribution section settings.",
        {
            "models": ListOf(
                "Models shown side by side.",
                Choice("", ATTRIBUTION_MODELS),
                default=lambda: ["last_touch", "linear", "time_decay", "markov", "shapley"],
            ),
            "lookback_days": Float("Touches this many days before an order count.", 7.0, lo=0.01),
            "half_life_days": Float("Half-life of the time-decay model, in days.", 7.0, lo=0.01),
        },
        default=lambda: {
            "models": ["last_touch", "linear", "time_decay", "markov", "shapley"],
            "lookback_days": 7.0,
            "half_life_days": 7.0,
        },
    ),
    "schedule": Custom(
        "Cron expression (5 fields, crontab numbering: 0 or 7 = Sunday) in the preset's timezone.",
        _check_cron,
        None,
        schema={"type": ["string", "null"], "examples": ["0 7 * * 1", "30 6 1 * *"]},
    ),
    "missed": Choice(
        "What to do on start for runs missed while the scheduler was down.",
        ["latest", "all", "skip"],
        default="latest",
    ),
    "to": EMAILS,
    "cc": EMAILS,
    "bcc": EMAILS,
    "owners": ListOf(
        "Who is told when a scheduled build fails.",
        _email(""),
        default=list,
    ),
    "attach": ListOf(
        "Files attached to the email: pdf, html, csv (the payout table); each must be in "
        "formats. Default: the PDF if made.",
        Choice("", ATTACH),
        lambda: ["pdf"],
    ),
    "send": Section(
        "When the email goes out.",
        {
            "skip_if_empty": Bool("Skip the email when the window has no data.", True),
            "only_if_any": ListOf(
                "Send only when one of these holds: top_below_break_even, revenue_drop.",
                Choice("", ["top_below_break_even", "revenue_drop"]),
                default=list,
            ),
            "revenue_drop_pct": Float("Drop against the previous window, in %.", 20.0, lo=0),
        },
        default=lambda: {"skip_if_empty": True, "only_if_any": [], "revenue_drop_pct": 20.0},
    ),
    "groups": ListOf(
        "Fan out into one report per recipient group, each with its own filter.",
        Section(
            "A recipient group.",
            {
                "name": Str("Group name (used in file paths).", pattern=NAME),
                "brands": ListOf("", Vocabulary("", "brand"), list),
                "categories": ListOf("", Vocabulary("", "category"), list),
                "platforms": ListOf("", Vocabulary("", "platform"), list),
                "to": EMAILS,
                "cc": EMAILS,
                "bcc": EMAILS,
            },
        ),
        default=list,
    ),
}

SOURCE_FIELDS: dict[str, Option] = {
    "kind": Choice("Where the data comes from.", ["simulate", "files", "sql"], default="simulate"),
    "path": Str("Folder of CSV or Parquet files in the seed layout (kind: files).", "data"),
    "url": Str(
        "Database URL (kind: sql): postgresql://user@host:5432/db or duckdb:///path.duckdb; "
        "no password here (see password_env).",
        None,
    ),
    "schema": Str("Schema (PostgreSQL) or database schema (DuckDB) holding the tables.", None),
    "password_env": Str(
        "Environment variable holding the database password (kind: sql).",
        "REPORTGEN_DB_PASSWORD",
        pattern=ENV_NAME,
    ),
    "timeout": Float("Seconds one query may run before the build stops (kind: sql).", 300.0, lo=1),
    "tables": MapOf(
        "Table name in the database of each table when it differs (kind: sql).",
        Str(""),
        default=dict,
    ),
    "format": Choice("File format in path.", ["auto", "csv", "parquet"], default="auto"),
    "files": MapOf(
        "File name of each table when it differs from the table name (an extension picks that file).",
        Str(""),
        default=dict,
    ),
    "columns": MapOf(
        "Per table, our column name -> the source's column name (null: do not read it).",
        MapOf(
            "",
            Custom(
                "",
                lambda v: None if v is None else Str("").check(v),
                schema={"type": ["string", "null"]},
            ),
        ),
        default=dict,
    ),
    "values": MapOf(
        "Per column (table.column), source value -> our value, e.g. payouts.basis: {post: per_post}.",
        MapOf("", Str("")),
        default=dict,
    ),
    "decimal": Choice("Decimal mark of numbers written as text.", [".", ","], default="."),
    "thousands": Choice(
        "Thousands separator of numbers written as text ('' for none; unset: only where a "
        "number reads one way).",
        ["", ",", ".", " ", "'"],
        default=None,
    ),
    "delimiter": Choice(
        "CSV field delimiter (auto: the one that splits the header into known columns).",
        ["auto", ",", ";", "\t", "|"],
        default="auto",
    ),
    "allow_empty": ListOf(
        "Tables that may have no rows (a data-quality finding instead of an error).",
        Choice("", list(ALL_TABLES)),
        default=list,
    ),
    "simulate": Section(
        "Simulated data (kind: simulate), written once to data/simulated/ and reused.",
        {
            "seed": Int("Random seed; the same seed and scale give identical files.", 42, lo=0),
            "influencers": Int("Number of influencers.", 120, lo=1, hi=1_000_000),
            "days": Int("Days of history ending on end_date.", 400, lo=1, hi=3650),
            "end_date": DateOpt("Last day of data.", "yesterday", words=["yesterday"]),
            "rows": Int("Exact number of tracking rows (default: natural volume).", None, lo=1),
            "format": Choice("File format.", ["parquet", "csv"], default="parquet"),
        },
        default=dict,
    ),
}

#: The engine that reads, checks and aggregates a folder of files (a database is its own).
ENGINE_FIELDS: dict[str, Option] = {
    "kind": Choice(
        "duckdb (in process) or spark (Parquet folders only; pip install 'reportgen[spark]', "
        "Java 17).",
        ["duckdb", "spark"],
        default="duckdb",
    ),
    "master": Custom(
        "Spark master: local[N] (N cores of this machine) or a cluster URL spark://host:7077.",
        _check_master,
        default="local[2]",
        schema={"type": "string", "pattern": f"^(?:{MASTER})$"},
    ),
    "conf": MapOf(
        "Extra Spark settings, e.g. spark.driver.memory: 2g (spark.sql.session.timeZone "
        "stays UTC).",
        Custom(
            "",
            _conf_value,
            schema={"type": ["string", "number", "boolean"]},
        ),
        default=dict,
    ),
}


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


TOP_FIELDS: dict[str, Option] = {
    "version": Int("Config format version.", 1, lo=1, hi=1),
    "source": Section("Where the data comes from.", SOURCE_FIELDS, default=dict),
    "engine": Section(
        "What reads, checks and aggregates a folder source (build --engine overrides kind).",
        ENGINE_FIELDS,
        default=dict,
    ),
    "catalogue": Section(
        "Product catalogue and the vocabularies presets are checked against.",
        {
            "products": MapOf(
                "Product -> brand (default: the seed's 11 products).", Str(""), default=None
            ),
            "extra_products": MapOf(
                "Products added to the default catalogue.", Str(""), default=dict
            ),
            "categories": ListOf("Known influencer categories.", Str(""), default=None),
            "platforms": ListOf("Known platforms.", Str(""), default=None),
        },
        default=dict,
    ),
    "output": Section(
        "Where reports are written.",
        {
            "dir": Str("Output folder.", "output"),
            "templates": Str("Template overrides.", "templates"),
        },
        default=dict,
    ),
    "defaults": Custom(
        "Preset options applied to every preset unless it sets its own.",
        _mapping,
        default=dict,
        schema=PRESET_REF,
    ),
    "presets": Custom(
        "Reports to build, by name.",
        _mapping,
        default=dict,
        schema={
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"pattern": f"^{NAME}$"},
            "additionalProperties": PRESET_REF,
        },
    ),
    "email": Section(
        "SMTP delivery.",
        {
            "host": Str("SMTP host.", "localhost"),
            "port": Int("SMTP port.", 587, lo=1, hi=65535),
            "security": Choice(
                "starttls, ssl (implicit TLS) or none.", ["starttls", "ssl", "none"], "starttls"
            ),
            "username": Str("SMTP user; omit for no authentication.", None),
            "password_env": Str(
                "Environment variable that holds the SMTP password.", "REPORTGEN_SMTP_PASSWORD"
            ),
            "sender": _email("From address.", "reportgen@localhost"),
            "reply_to": _email("Reply-To address."),
            "timeout": Float("Seconds before a stalled SMTP connection is abandoned.", 30.0, lo=1),
            "max_attachment_mb": Float("Attachment size cap in MB.", 10.0, lo=0.1),
            "base_url": Str("URL where output/ is published, for links.", None),
            "retries": Int("Retries on transient failures.", 4, lo=0, hi=20),
            "backoff_seconds": Float("First retry delay; doubles each time.", 2.0, lo=0),
        },
        default=dict,
    ),
    "schedule": Section(
        "Scheduler settings.",
        {
            "state_dir": Str("Run ledger and lock folder (outside output/).", ".reportgen"),
            "misfire_grace_seconds": Int("How late a run may still start.", 3600, lo=1),
            "coalesce": Bool("Run once when several runs of a preset are due.", True),
        },
        default=dict,
    ),
}


def load(path: Path | str) -> Config:
    """Read and validate a config file; raise ConfigError naming file, line and key."""
    path = Path(path)
    return from_located(load_yaml(path))


def loads(text: str, root: Path | None = None) -> Config:
    """Validate config text (used by tests and the ad hoc CLI)."""
    located = loads_yaml(text)
    return from_located(located, root=root)


def from_located(src: Located, root: Path | None = None) -> Config:
    """Validate parsed YAML."""
    data = src.data
    if not isinstance(data, dict):
        raise ConfigError(f"{src.where('')}: the config must be a mapping of keys")
    top = _check(Section("", TOP_FIELDS), data, "", src)
    root = root or (src.path.parent.resolve() if src.path else Path.cwd())

    cat = top["catalogue"]
    products = dict(cat["products"] if cat["products"] is not None else catalogue.DEFAULT_PRODUCTS)
    products.update(cat["extra_products"])
    categories = tuple(cat["categories"] or catalogue.DEFAULT_CATEGORIES)
    platforms = tuple(cat["platforms"] or catalogue.DEFAULT_PLATFORMS)
    vocab = {"brand": sorted(set(products.values())), "category": categories, "platform": platforms}

    defaults_raw = data.get("defaults") or {}
    defaults = {
        k: _check_preset_field(k, v, f"defaults.{k}", src, vocab) for k, v in defaults_raw.items()
    }
    presets: dict[str, Preset] = {}
    raw_presets = data.get("presets") or {}
    if not raw_presets:
        raise ConfigError(f"{src.where('presets')}: presets: define at least one preset")
    for name, body in raw_presets.items():
        kp = f"presets.{name}"
        if not _match_name(name):
            raise ConfigError(
                f"{src.where(kp)}: {kp}: preset names use letters, digits, '-', '_' and '.'"
            )
        config_checks.preset_name(name, src)
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ConfigError(f"{src.where(kp)}: {kp}: expected a mapping of preset options")
        presets[name] = _build_preset(name, body, defaults, src, vocab)

    source = top["source"]
    sim = source["simulate"]
    config = Config(
        path=src.path,
        root=root,
        source=SourceConfig(
            kind=source["kind"],
            path=_resolve(root, source["path"]),
            format=source["format"],
            files=_check_tables(source["files"], "source.files", src),
            url=_check_url(source, src),
            schema=source["schema"],
            password_env=source["password_env"],
            timeout=source["timeout"],
            tables=_check_tables(source["tables"], "source.tables", src),
            columns=_check_tables(source["columns"], "source.columns", src),
            values=source["values"],
            decimal=source["decimal"],
            thousands=_check_thousands(source, src),
            delimiter=source["delimiter"],
            allow_empty=tuple(source["allow_empty"]),
            simulate=SimulateConfig(**sim),
        ),
        products=products,
        categories=categories,
        platforms=platforms,
        output_dir=_resolve(root, top["output"]["dir"]),
        templates_dir=_resolve(root, top["output"]["templates"]),
        presets=presets,
        email=EmailConfig(**top["email"]),
        schedule=ScheduleConfig(
            state_dir=_resolve(root, top["schedule"]["state_dir"]),
            misfire_grace_seconds=top["schedule"]["misfire_grace_seconds"],
            coalesce=top["schedule"]["coalesce"],
        ),
        raw=data,
        engine=_check_engine(top, src),
    )
    config_checks.folders(config, src)
    config_checks.check_output_dir(config, src)
    return config


def ad_hoc_preset(
    name: str,
    window: Window,
    *,
    brands: list[str],
    categories: list[str],
    platforms: list[str],
    config: Config,
    timezone: str | None = None,
    data_vocabulary: dict[str, set[str]] | None = None,
) -> Preset:
    """Build a preset from CLI flags, checked against the config's vocabularies.

    ``data_vocabulary`` adds the values an ad hoc data folder holds, so that a filter on a
    category or brand the config does not declare still works for that folder.
    """
    vocab = {"brand": config.brands, "category": config.categories, "platform": config.platforms}
    for key, values in (data_vocabulary or {}).items():
        vocab[key] = tuple(dict.fromkeys([*vocab[key], *sorted(values)]))
    checked = {}
    for key, vals in (("brands", brands), ("categories", categories), ("platforms", platforms)):
        opt = PRESET_FIELDS[key]
        try:
            checked[key] = [_vocab_check(opt, v, vocab) for v in vals]
        except Invalid as exc:
            raise ConfigError(
                f"--{key[:-1] if key != 'categories' else 'category'}: {exc.message}"
            ) from None
    base = next(iter(config.presets.values()), None)
    return Preset(
        name=name,
        title=f"Ad hoc report {window.label()}",
        description="",
        window=window,
        timezone=timezone or (base.timezone if base else "Asia/Kolkata"),
        currency=base.currency if base else "INR",
        locale=base.locale if base else "en_IN",
        filters=Filters(
            tuple(checked["brands"]), tuple(checked["categories"]), tuple(checked["platforms"])
        ),
        formats=FORMATS,
        send={"skip_if_empty": True, "only_if_any": [], "revenue_drop_pct": 20.0},
    )


def _build_preset(
    name: str, body: dict[str, Any], defaults: dict[str, Any], src: Located, vocab: dict
) -> Preset:
    kp = f"presets.{name}"
    values: dict[str, Any] = {}
    for key in body:
        if key not in PRESET_FIELDS:
            from reportgen.config.options import suggest

            hint = suggest(key, list(PRESET_FIELDS))
            raise ConfigError(
                f"{src.where(f'{kp}.{key}')}: {kp}.{key}: unknown key{hint}; "
                f"allowed: {', '.join(PRESET_FIELDS)}"
            )
        values[key] = _check_preset_field(key, body[key], f"{kp}.{key}", src, vocab)
    for key, opt in PRESET_FIELDS.items():
        if key not in values:
            if key in defaults:
                values[key] = defaults[key]
            else:
                values[key] = opt.default() if callable(opt.default) else opt.default
    groups = tuple(
        Group(
            name=g["name"],
            filters=Filters(tuple(g["brands"]), tuple(g["categories"]), tuple(g["platforms"])),
            to=tuple(g["to"]),
            cc=tuple(g["cc"]),
            bcc=tuple(g["bcc"]),
        )
        for g in values["groups"]
    )
    if len({g.name for g in groups}) != len(groups):
        raise ConfigError(f"{src.where(f'{kp}.groups')}: {kp}.groups: group names must be unique")
    if not values["formats"]:
        raise ConfigError(f"{src.where(f'{kp}.formats')}: {kp}.formats: list at least one format")
    values["attach"] = config_checks.attach(name, body, defaults, values, src)
    return Preset(
        name=name,
        title=values["title"] or name.replace("-", " ").replace("_", " ").title(),
        description=values["description"],
        window=values["window"],
        timezone=values["timezone"],
        currency=values["currency"],
        locale=values["locale"],
        filters=Filters(
            tuple(values["brands"]), tuple(values["categories"]), tuple(values["platforms"])
        ),
        formats=tuple(dict.fromkeys(values["formats"])),
        top_n=values["top_n"],
        schedule=values["schedule"],
        missed=values["missed"],
        to=tuple(values["to"]),
        cc=tuple(values["cc"]),
        bcc=tuple(values["bcc"]),
        owners=tuple(values["owners"]),
        attach=tuple(values["attach"]),
        sections=_unique(values["sections"], f"{kp}.sections", src),
        attribution=values["attribution"],
        send=values["send"],
        groups=groups,
        compare=values["compare"],
        roas_min_payout=values["roas_min_payout"],
    )


def _check_preset_field(key: str, value: Any, kp: str, src: Located, vocab: dict) -> Any:
    opt = PRESET_FIELDS.get(key)
    if opt is None:
        from reportgen.config.options import suggest

        raise ConfigError(
            f"{src.where(kp)}: {kp}: unknown key{suggest(key, list(PRESET_FIELDS))}; "
            f"allowed: {', '.join(PRESET_FIELDS)}"
        )
    value = _check(opt, value, kp, src)
    return _apply_vocab(opt, value, kp, src, vocab)


def _apply_vocab(opt: Option, value: Any, kp: str, src: Located, vocab: dict) -> Any:
    """Check brand/category/platform names, which depend on the catalogue."""
    if isinstance(opt, ListOf) and isinstance(opt.item, Vocabulary):
        out = []
        for i, v in enumerate(value):
            try:
                out.append(_vocab_check(opt, v, vocab))
            except Invalid as exc:
                raise ConfigError(f"{src.where(f'{kp}[{i}]')}: {kp}[{i}]: {exc.message}") from None
        return out
    if isinstance(opt, ListOf) and isinstance(opt.item, Section):
        return [
            {
                k: _apply_vocab(opt.item.fields[k], v, f"{kp}[{i}].{k}", src, vocab)
                for k, v in item.items()
            }
            for i, item in enumerate(value)
        ]
    return value


def _vocab_check(opt: Any, value: Any, vocab: dict) -> str:
    item = opt.item
    return item.check_in(value, vocab[item.vocabulary])


def _check(opt: Option, value: Any, kp: str, src: Located) -> Any:
    try:
        return opt.check(value)
    except Invalid as exc:
        full = f"{kp}{exc.path}" if kp else exc.path.lstrip(".")
        raise ConfigError(f"{src.where(full)}: {full or '(top)'}: {exc.message}") from None


def _check_engine(top: dict[str, Any], src: Located) -> EngineConfig:
    """Return the engine settings; refuse an engine other than DuckDB over a database."""
    engine = top["engine"]
    if engine["kind"] != "duckdb" and top["source"]["kind"] == "sql":
        raise ConfigError(
            f"{src.where('engine.kind')}: engine.kind: {engine['kind']} reads folders of "
            "files; with source kind sql the database runs the queries: remove engine.kind"
        )
    return EngineConfig(**engine)


def _check_thousands(source: dict[str, Any], src: Located) -> str | None:
    """Return source.thousands, refusing the decimal mark as thousands separator too."""
    if source["thousands"] is not None and source["thousands"] == source["decimal"]:
        raise ConfigError(
            f"{src.where('source.thousands')}: source.thousands: {source['thousands']!r} is "
            "also source.decimal; a number needs two different marks"
        )
    return source["thousands"]


def _check_url(source: dict[str, Any], src: Located) -> str | None:
    """Return source.url, refusing a password in it and a kind: sql source without one."""
    from reportgen.sources.url import UrlError, parse_url

    url = source["url"]
    if url is None:
        if source["kind"] == "sql":
            raise ConfigError(
                f"{src.where('source')}: source.url: kind: sql needs a url, e.g. "
                "postgresql://user@host:5432/db or duckdb:///data/warehouse.duckdb"
            )
        return None
    try:
        parse_url(url)
    except UrlError as exc:
        raise ConfigError(f"{src.where('source.url')}: source.url: {exc}") from None
    return url


def _check_tables(mapping: dict[str, Any], kp: str, src: Located) -> dict[str, Any]:
    for table in mapping:
        if table not in ALL_TABLES:
            from reportgen.config.options import suggest

            raise ConfigError(
                f"{src.where(f'{kp}.{table}')}: {kp}.{table}: unknown table"
                f"{suggest(table, ALL_TABLES)}; tables: {', '.join(ALL_TABLES)}"
            )
    return mapping


def _unique(items: list[str], kp: str, src: Located) -> tuple[str, ...]:
    """Return ``items`` as a tuple, refusing an empty list or a repeat."""
    if not items:
        raise ConfigError(f"{src.where(kp)}: {kp}: list at least one section")
    twice = sorted({i for i in items if items.count(i) > 1})
    if twice:
        raise ConfigError(f"{src.where(kp)}: {kp}: {twice[0]!r} is listed twice; list it once")
    return tuple(items)


def _resolve(root: Path, value: str | Path) -> Path:
    p = Path(value)
    return p if p.is_absolute() else root / p


def _match_name(name: str) -> bool:
    import re

    return re.fullmatch(NAME, name) is not None
