"""Where `reportgen load` writes: the target's URL, and what in it the load may replace.

Checked before anything changes: a layout table the folder lacks (a build would read it
beside the new ones), a view or other object under a layout name, and views or foreign keys
that depend on the tables the load replaces all stop the load in one line (exit 2: the
target's layout and the request disagree, and only the user can say what goes; retrying,
which exit 4 suggests, would not help, and the files are fine, so not exit 3).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from reportgen.config import ALL_TABLES
from reportgen.errors import ConfigError
from reportgen.sources.url import PASSWORD_ENV, DbUrl, PasswordInUrl, UrlError, mask, parse_url

#: PostgreSQL relkind -> what messages call it; "table" is what a load may replace.
_PG_KINDS = {
    "r": "table",
    "p": "table",  # partitioned: DROP TABLE and RENAME work on it as on a table
    "v": "view",
    "m": "materialized view",
    "f": "foreign table",
    "i": "index",
    "I": "index",
    "S": "sequence",
    "c": "composite type",
}


@dataclass(frozen=True)
class Target:
    """Where to load: a PostgreSQL database or a DuckDB file, and the schema."""

    kind: str  # "postgresql" or "duckdb"
    url: str  # as messages show it: never a password
    schema: str
    db: DbUrl

    @property
    def path(self) -> Path | None:
        """Return the DuckDB file (None for PostgreSQL)."""
        return self.db.path


def parse_target(url: str, schema: str | None) -> Target:
    """Parse ``postgresql://user@host:port/db`` or ``duckdb:///path`` as a build does."""
    try:
        # The one parser of the sql source: what loads is what builds read. A relative
        # duckdb:// file is relative to where the command runs, as the folder is.
        db = parse_url(url, Path.cwd())
    except PasswordInUrl:
        raise ConfigError(
            f"{mask(url)}: a password in the URL is not allowed; put it in the environment"
            f" variable {PASSWORD_ENV} (or the one --password-env names)"
        ) from None
    except UrlError as exc:
        raise ConfigError(f"{mask(url)}: {exc}") from None
    if db.backend == "duckdb":
        return Target("duckdb", db.shown(), schema or "main", db)
    if db.backend != "postgres":  # builds read MySQL where the data already lives
        raise ConfigError(
            f"{db.shown()}: reportgen load writes to PostgreSQL (postgresql://...) or a DuckDB "
            f"file (duckdb:///path.duckdb), not {db.backend}; builds read {db.backend} tables "
            "where they are (source: {kind: sql, url: ...})"
        )
    return Target("postgresql", db.shown(), schema or "public", db)


def to_drop(
    found: dict[str, str], tables: list[str], target: Target, folder: Path, drop_missing: bool
) -> list[str]:
    """Return the layout tables the folder lacks that go in the swap; refuse what is in the way.

    ``found`` maps each layout name in the target schema to what it is ("table", "view",
    ...). A view under a name the folder lacks is the user's own (a load makes tables only)
    and is left alone; under a name the load writes, it is in the way.
    """
    schema = target.schema
    for table in tables:
        kind = found.get(table, "table")
        if kind != "table":
            raise ConfigError(
                f"{target.url}: {schema}.{table} is a {kind}, not a table, and load replaces "
                f"tables only; drop or rename the {kind} first, or load into another schema "
                "(--schema)"
            )
    missing = [t for t in ALL_TABLES if found.get(t) == "table" and t not in tables]
    if missing and not drop_missing:
        names = ", ".join(f"{schema}.{t}" for t in missing)
        raise ConfigError(
            f"{target.url}: schema {schema} holds {names}, which {folder} has no file for, and"
            " a build would read them with the new tables; load them too, drop them, or pass"
            " --drop-missing to drop them in the same swap"
        )
    return missing


def refuse_dependents(target: Target, dependents: list[tuple[str, str]]) -> None:
    """Refuse a load whose swap would have to drop the objects in ``dependents``."""
    if not dependents:
        return
    shown = ", ".join(f"{what} depends on {target.schema}.{table}" for table, what in dependents)
    them = "it" if len(dependents) == 1 else "them"
    raise ConfigError(
        f"{target.url}: {shown}; load drops the old tables in its swap, which PostgreSQL"
        f" refuses while anything depends on them: drop {them} (re-create {them} after"
        " loading), or load into another schema (--schema)"
    )


def duckdb_found(con: duckdb.DuckDBPyConnection, schema: str) -> dict[str, str]:
    """Return what each layout name in ``schema`` of a DuckDB file is."""
    rows = con.execute(
        "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ?"
        " AND table_catalog = current_database() AND table_name IN "
        f"({', '.join('?' for _ in ALL_TABLES)})",
        [schema, *ALL_TABLES],
    ).fetchall()
    return {name: "table" if kind == "BASE TABLE" else kind.lower() for name, kind in rows}


def pg_found(cur: Any, schema: str) -> dict[str, str]:
    """Return what each layout name in ``schema`` of PostgreSQL is."""
    cur.execute(
        "SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n"
        " ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
        [schema, list(ALL_TABLES)],
    )
    return {name: _PG_KINDS.get(kind, "relation") for name, kind in cur.fetchall()}


def pg_dependents(cur: Any, schema: str, tables: list[str]) -> list[tuple[str, str]]:
    """Return (table, what) for each view or foreign key outside ``tables`` that needs one."""
    cur.execute(_PG_DEPENDENTS, {"schema": schema, "tables": tables})
    kinds = {"v": "view", "m": "materialized view"}
    out = []
    for table, nsp, name, kind, constraint in cur.fetchall():
        if constraint is not None:
            if nsp == schema and name in tables:  # dropped in the same DROP: no obstacle
                continue
            out.append((table, f"foreign key {constraint} of {nsp}.{name}"))
        else:
            out.append((table, f"{kinds.get(kind, 'view')} {nsp}.{name}"))
    return out


# Views (through their rewrite rule) and foreign keys of other tables that refer to a table:
# PostgreSQL refuses to drop it under them.
_PG_DEPENDENTS = """
SELECT DISTINCT t.relname, dn.nspname, d.relname, d.relkind, NULL AS conname
FROM pg_depend dep
JOIN pg_rewrite r ON dep.classid = 'pg_rewrite'::regclass AND r.oid = dep.objid
JOIN pg_class d ON d.oid = r.ev_class
JOIN pg_namespace dn ON dn.oid = d.relnamespace
JOIN pg_class t ON dep.refclassid = 'pg_class'::regclass AND t.oid = dep.refobjid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
WHERE tn.nspname = %(schema)s AND t.relname = ANY(%(tables)s) AND d.oid <> t.oid
UNION ALL
SELECT t.relname, cn.nspname, c.relname, c.relkind, k.conname
FROM pg_constraint k
JOIN pg_class t ON t.oid = k.confrelid
JOIN pg_namespace tn ON tn.oid = t.relnamespace
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace cn ON cn.oid = c.relnamespace
WHERE k.contype = 'f' AND k.conrelid <> k.confrelid
  AND tn.nspname = %(schema)s AND t.relname = ANY(%(tables)s)
ORDER BY 1, 2, 3
"""
