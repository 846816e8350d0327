"""Number formatting for reports and charts: locale-aware money and counts, signed percentages.

Every function returns ``"n/a"`` for None, NaN, pandas' NA and infinities, so templates never
show ``nan`` or ``inf``. Money keeps 2 decimals below 1,000 in absolute value (a CPE of ₹3.42
needs its paise) and none from 1,000 up or at zero (₹12,34,567: managers read rupees, not paise).
"""

from __future__ import annotations

import logging
import math
import re
import unicodedata
from functools import lru_cache
from typing import Any

from babel import Locale
from babel.numbers import format_compact_currency, format_currency, format_decimal
from jinja2 import pass_eval_context
from jinja2.nodes import EvalContext
from markupsafe import Markup

logger = logging.getLogger(__name__)

NA = "n/a"
#: Below this absolute amount money keeps its minor units.
DECIMALS_BELOW = 1000
#: Longest text from data (names, categories, examples) shown as is; longer is clipped with
#: an ellipsis. WeasyPrint lays out one unbroken 1,000-character word in 9 s and 20,000 in
#: 100 s, and no column is readable past this anyway; the CSV and summary.json keep it all.
CLIP_CHARS = 80
#: Longest full value put in an HTML ``title`` tooltip for clipped text.
TITLE_CHARS = 1000
ELLIPSIS = "\u2026"
#: U+2212 MINUS SIGN: a typographic minus the same width as "+", so signed columns line up.
MINUS = "\u2212"


def number(value: Any) -> float | None:
    """Return ``value`` as a finite float, or None when it is missing or not a number."""
    if value is None:
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        # pandas.NA and NaT refuse float(); they mean "missing" as much as NaN does.
        return None
    return out if math.isfinite(out) else None


@lru_cache(maxsize=32)
def _whole_pattern(locale: str) -> str:
    """Return the locale's currency pattern without its fraction digits."""
    pattern = Locale.parse(locale).currency_formats["standard"].pattern
    return re.sub(r"\.[0#]+", "", pattern)


def money(value: Any, currency: str = "INR", locale: str = "en_IN") -> str:
    """Format an amount in ``currency`` for ``locale``: ₹12,34,567 or ₹999.50."""
    n = number(value)
    if n is None:
        return NA
    if n < 0:
        # The same minus sign as signed changes (−₹2,500), not the locale's hyphen.
        return MINUS + money(-n, currency, locale)
    if 0 < n < DECIMALS_BELOW:
        return format_currency(n, currency, locale=locale)
    return format_currency(
        n, currency, format=_whole_pattern(locale), locale=locale, currency_digits=False
    )


def money_short(value: Any, currency: str = "INR", locale: str = "en_IN") -> str:
    """Format an amount compactly for axis ticks: ₹12.3L, ₹2.5Cr (en_IN) or $1.2M (en_US)."""
    n = number(value)
    if n is None:
        return NA
    return format_compact_currency(n, currency, locale=locale, fraction_digits=1)


def count(value: Any, locale: str = "en_IN") -> str:
    """Format a whole number with the locale's grouping: 12,34,567 (en_IN)."""
    n = number(value)
    if n is None:
        return NA
    return format_decimal(round(n), locale=locale)


def pct(value: Any, digits: int = 1, *, signed: bool = True) -> str:
    """Format a fraction as a percentage: 0.123 -> "+12.3%", -0.04 -> "−4.0%"."""
    n = number(value)
    if n is None:
        return NA
    text = f"{abs(n) * 100:,.{digits}f}%"
    if not signed:
        return text if n >= 0 else MINUS + text
    # A change that rounds to zero gets no sign: "+0.0%" would claim a direction.
    if float(text.rstrip("%").replace(",", "")) == 0:
        return text
    return ("+" if n > 0 else MINUS) + text


def ratio(value: Any, digits: int = 2) -> str:
    """Format a multiple such as ROAS: 3.4178 -> "3.42x"."""
    n = number(value)
    if n is None:
        return NA
    return f"{n:,.{digits}f}x"


def by_kind(value: Any, kind: str, currency: str = "INR", locale: str = "en_IN") -> str:
    """Format a value by its KPI kind: money, count, ratio or pct (a share, unsigned)."""
    if kind == "money":
        return money(value, currency, locale)
    if kind == "ratio":
        return ratio(value)
    if kind == "pct":
        return pct(value, signed=False)
    return count(value, locale)


def money_change(value: Any, currency: str = "INR", locale: str = "en_IN") -> str:
    """Format a change in money with its sign: "+₹1,200" or "−₹350.50"."""
    n = number(value)
    if n is None:
        return NA
    text = money(abs(n), currency, locale)
    return text if n == 0 else ("+" if n > 0 else MINUS) + text


def clip(value: Any, limit: int = CLIP_CHARS) -> str:
    """Return ``value`` as text of at most ``limit`` characters, clipped ones ending in "…"."""
    text = "" if value is None else str(value)
    if len(text) <= limit:
        return text
    cut = max(limit - 1, 0)
    # Never part a letter from its accents, or an emoji sequence at its joiner.
    while cut and (_joins(text[cut]) or text[cut - 1] == "\u200d"):
        cut -= 1
    return text[:cut].rstrip() + ELLIPSIS


def _joins(char: str) -> bool:
    """Return whether ``char`` belongs to the character before it (accent, joiner, selector)."""
    return bool(unicodedata.combining(char)) or char in "\u200d\ufe0e\ufe0f"


@pass_eval_context
def clip_filter(eval_ctx: EvalContext, value: Any, limit: int = CLIP_CHARS) -> str:
    """Clip data text for display; in HTML a clipped value keeps its start as a tooltip."""
    short = clip(value, limit)
    if not eval_ctx.autoescape or short == ("" if value is None else str(value)):
        return short
    title = clip(value, TITLE_CHARS)
    return Markup('<span class="clipped" title="{}">{}</span>').format(title, short)


#: Jinja filter name -> function; ``templating.make_environment`` registers them all.
FILTERS = {
    "money": money,
    "money_short": money_short,
    "count": count,
    "pct": pct,
    "ratio": ratio,
    "money_change": money_change,
    "clip": clip_filter,
}


def register(env: Any) -> None:
    """Register every formatting function as a Jinja filter on ``env``."""
    env.filters.update(FILTERS)
