"""The option declarations: every key of config.yaml and of a preset with its one-line doc,
type and default, and the vocabularies (tables, formats, sections) they allow."""

from __future__ import annotations

from typing import Any

from reportgen import windows
from reportgen.analysis import MODELS
from reportgen.config.options import (
    Bool,
    Choice,
    Custom,
    DateOpt,
    Float,
    Int,
    ListOf,
    MapOf,
    Option,
    Section,
    Str,
    TimeZone,
    Vocabulary,
)
from reportgen.config.values import (
    MASTER,
    check_cron,
    check_currency,
    check_email,
    check_locale,
    check_mapping,
    check_master,
    check_min_payout,
    conf_value,
)

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
    return Custom(doc, check_email, default, schema=EMAIL_SCHEMA)


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
        check_currency,
        default="INR",
        schema={"type": "string", "pattern": "^[A-Za-z]{3}$", "examples": ["INR", "USD"]},
    ),
    "locale": Custom(
        "Locale for number formatting (en_IN: 12,34,567).",
        check_locale,
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
        check_min_payout,
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
        check_cron,
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
        check_master,
        default="local[2]",
        schema={"type": "string", "pattern": f"^(?:{MASTER})$"},
    ),
    "conf": MapOf(
        "Extra Spark settings, e.g. spark.driver.memory: 2g (spark.sql.session.timeZone "
        "stays UTC).",
        Custom(
            "",
            conf_value,
            schema={"type": ["string", "number", "boolean"]},
        ),
        default=dict,
    ),
}


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
        check_mapping,
        default=dict,
        schema=PRESET_REF,
    ),
    "presets": Custom(
        "Reports to build, by name.",
        check_mapping,
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
