"""Read numbers written as text: one declared format per source, and no guessing.

``2000,50`` is 2000.5 in a file that writes decimals with a comma and an unreadable value in
one that writes them with a point; ``1,500`` is 1500 or 1.5 depending on the file's habit. A
source declares its habit with ``source.decimal`` and ``source.thousands``; a value that fits
the declared format is read, and one that does not, or that two habits read differently while
none is declared, stops the load naming the row (see ``explain``).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from reportgen.sources.sql import lit as _lit

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NumberFormat:
    """How a source writes numbers: the decimal mark and the thousands separator.

    ``thousands`` None means undeclared: the other mark of ``.``/``,`` still groups digits,
    but only where no other reading exists (``1,234,567``, ``1,234.5``); a lone group such as
    ``1,500`` is ambiguous. ``""`` means numbers carry no separator at all.
    """

    decimal: str = "."
    thousands: str | None = None

    @property
    def group(self) -> str:
        """Return the character that groups digits ('' when none may)."""
        if self.thousands is not None:
            return self.thousands
        return "," if self.decimal == "." else "."


def _patterns(fmt: NumberFormat) -> tuple[str, str | None, str | None]:
    """Return regexes (plain, grouped, ambiguous) for ``fmt``; None where the form cannot occur."""
    d = re.escape(fmt.decimal)
    plain = rf"[+-]?(\d+({d}\d*)?|{d}\d+)([eE][+-]?\d+)?"
    if not fmt.group:
        return plain, None, None
    g = re.escape(fmt.group)
    # Western (1,234,567) and Indian (12,34,567) grouping, with an optional fraction.
    grouped = rf"[+-]?(\d{{1,3}}({g}\d{{3}})+|\d{{1,2}}({g}\d{{2}})+{g}\d{{3}})({d}\d+)?"
    ambiguous = rf"[+-]?\d{{1,3}}{g}\d{{3}}" if fmt.thousands is None else None
    return plain, grouped, ambiguous


def parse_sql(text: str, fmt: NumberFormat) -> str:
    """Return a DuckDB expression reading the text expression ``text`` as DOUBLE (NULL: unreadable).

    Values without any separator take the engine's plain cast (the common case, and cheap on
    millions of rows); only values with a mark are matched against the declared format.
    """
    # A point is the engine's own decimal mark: it needs no matching unless it means another.
    marks = sorted({fmt.decimal, fmt.group, "."} - {"", "." if fmt.decimal == "." else ""})
    if not marks:
        return f"TRY_CAST({text} AS DOUBLE)"
    plain, grouped, ambiguous = _patterns(fmt)
    to_point = f"replace({text}, {_lit(fmt.decimal)}, '.')" if fmt.decimal != "." else text
    cases = [f"WHEN regexp_full_match({text}, {_lit(plain)}) THEN TRY_CAST({to_point} AS DOUBLE)"]
    if grouped:
        bare = f"replace({text}, {_lit(fmt.group)}, '')"
        if fmt.decimal != ".":
            bare = f"replace({bare}, {_lit(fmt.decimal)}, '.')"
        unless = f" AND NOT regexp_full_match({text}, {_lit(ambiguous)})" if ambiguous else ""
        cases.append(
            f"WHEN regexp_full_match({text}, {_lit(grouped)}){unless} "
            f"THEN TRY_CAST({bare} AS DOUBLE)"
        )
    has_mark = " OR ".join(f"contains({text}, {_lit(m)})" for m in marks)
    return f"CASE WHEN NOT ({has_mark}) THEN TRY_CAST({text} AS DOUBLE) {' '.join(cases)} END"


def explain(value: str, fmt: NumberFormat) -> str:
    """Return why ``value`` was not read as a number under ``fmt``, with what to do."""
    _, _, ambiguous = _patterns(fmt)
    v = value.strip()
    if ambiguous and re.fullmatch(ambiguous, v):
        mark, whole = fmt.group, v.replace(fmt.group, "")
        as_decimal = v.replace(fmt.group, ".")
        return (
            f"{value!r} is ambiguous: {whole} if {mark!r} separates thousands, {as_decimal} if "
            f"it is the decimal mark; declare the file's format with source.thousands: "
            f"{mark!r} or source.decimal: {mark!r}"
        )
    other = "," if fmt.decimal == "." else "."
    if re.search(rf"\d{re.escape(other)}\d{{1,2}}$", v):  # 2000,50 or 1,5: a decimal mark
        return (
            f"cannot read {value!r} as a number with {fmt.decimal!r} as the decimal mark"
            f"{_thousands_note(fmt)}; if this file writes decimals with {other!r}, set "
            f"source.decimal: {other!r}"
        )
    return f"cannot read {value!r} as a number{_thousands_note(fmt)}"


def _thousands_note(fmt: NumberFormat) -> str:
    if fmt.thousands is None:
        return ""
    return f" and {fmt.thousands!r} between thousands" if fmt.thousands else " and no separator"


__all__ = ["NumberFormat", "explain", "parse_sql"]
