"""Checks of one option's value (locale, currency, cron line, payout floor, email, Spark
master), each raising Invalid, and ``check_option``, which names file, line and key on
failure."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from babel import Locale, UnknownLocaleError
from babel.numbers import get_currency_name

from reportgen.config.options import Invalid, Option
from reportgen.config.yamlsrc import Located
from reportgen.errors import ConfigError


def check_locale(value: Any) -> str:
    """Return a locale name with underscores; refuse one Babel does not know."""
    try:
        Locale.parse(str(value).replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        raise Invalid(f"unknown locale {value!r}; use a name such as en_IN or en_US") from None
    return str(value).replace("-", "_")


def check_currency(value: Any) -> str:
    """Return an ISO 4217 currency code in capitals; refuse unknown codes."""
    code = str(value).upper()
    if len(code) != 3 or get_currency_name(code) == code:
        raise Invalid(f"unknown currency {value!r}; use an ISO 4217 code such as INR or USD")
    return code


def check_cron(value: Any) -> Any:
    """Return a cron line the scheduler accepts and that fires, or None."""
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


def check_min_payout(value: Any) -> float | str:
    """Return a payout floor: an amount >= 0, or a share of the window's payout as "N%"."""
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


def check_email(value: Any) -> str:
    """Return one email address, stripped; refuse lists and header-breaking characters."""
    if not isinstance(value, str) or "@" not in value or any(c in value for c in "\r\n<>,;"):
        raise Invalid(f"expected one email address, got {value!r}")
    return value.strip()


#: Spark masters reportgen passes on: local mode, or a cluster manager's URL.
MASTER = r"local(\[(\d+|\*)(,\d+)?\])?|(spark|k8s|mesos)://\S+|yarn"


def check_master(value: Any) -> str:
    """Return a Spark master; refuse what Spark would only reject after starting Java."""
    import re

    if not isinstance(value, str) or not re.fullmatch(MASTER, value):
        raise Invalid(
            f"{value!r} is not a Spark master; use local[2] (cores of this machine) or a "
            "cluster URL such as spark://host:7077"
        )
    return value


def conf_value(value: Any) -> str:
    """Return a Spark setting's value as Spark reads it (text); refuse lists and mappings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise Invalid(f"expected a text, number or true/false value, got {type(value).__name__}")


def check_mapping(value: Any) -> dict[str, Any]:
    """Return a mapping (empty for None); refuse anything else."""
    # Presets and defaults are checked key by key later, so errors name presets.<name>.<key>.
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Invalid(f"expected a mapping, got {value!r}")
    return value


def check_option(opt: Option, value: Any, kp: str, src: Located) -> Any:
    """Return ``value`` checked by ``opt``, or raise ConfigError naming file, line and key."""
    try:
        return opt.check(value)
    except Invalid as exc:
        full = f"{kp}{exc.path}" if kp else exc.path.lstrip(".")
        raise ConfigError(f"{src.where(full)}: {full or '(top)'}: {exc.message}") from None
