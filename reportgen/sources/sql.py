"""Small SQL text helpers shared by the source rules."""

from __future__ import annotations


def q(name: str) -> str:
    """Return ``name`` quoted as an SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def lit(value: str) -> str:
    """Return ``value`` quoted as an SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def where(row: int, is_csv: bool) -> str:
    """Return "row N", with the file line for CSV (the header is line 1)."""
    return f"row {row}" + (f" (line {row + 1})" if is_csv else "")
