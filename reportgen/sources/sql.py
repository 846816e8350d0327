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


def example_rows(con, src: str, cond: str, limit: int = 3) -> list[str]:
    """Return "row N" for the first rows of ``src`` matching ``cond``."""
    rows = con.execute(
        f"SELECT row_number FROM (SELECT row_number() OVER () AS row_number, * FROM {src}) "
        f"WHERE {cond} ORDER BY 1 LIMIT {limit}"
    ).fetchall()
    return [f"row {r[0]}" for r in rows]
