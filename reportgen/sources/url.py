"""Database URLs of the sql source: parse, check and show them without secrets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: URL schemes the sql source reads, with the Ibis backend each one uses.
#: The environment variable a database password is read from unless the config names another.
PASSWORD_ENV = "REPORTGEN_DB_PASSWORD"  # noqa: S105 (a variable name, not a secret)

SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "duckdb": "duckdb",
    "mysql": "mysql",
    "mariadb": "mysql",
}
#: The default port of each server backend.
PORTS = {"postgres": 5432, "mysql": 3306}


class UrlError(ValueError):
    """A database URL that cannot be used; the message says what to write instead."""


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL: backend, where, and who (never a password)."""

    backend: str  # "postgres", "mysql" or "duckdb"
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    path: Path | None = None  # DuckDB file

    def shown(self) -> str:
        """Return the URL as messages and provenance show it (no password, ever)."""
        if self.backend == "duckdb":
            return f"duckdb://{self.path}" if self.path else "duckdb://"
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        scheme = "mysql" if self.backend == "mysql" else "postgresql"
        return f"{scheme}://{who}{self.host or 'localhost'}{port}/{self.database or ''}"


def is_url(text: str) -> bool:
    """Return True when ``text`` names a database rather than a folder."""
    return "://" in text


def parse_url(text: str, root: Path | None = None) -> DbUrl:
    """Return the parsed URL, or raise UrlError naming what is wrong with it."""
    parts = urlsplit(text)
    backend = SCHEMES.get(parts.scheme.lower())
    if backend is None:
        raise UrlError(
            f"unknown database scheme {parts.scheme + '://'!r}; use postgresql://user@host:5432/db, "
            "mysql://user@host:3306/db or duckdb:///path/to/file.duckdb"
        )
    if parts.password is not None:
        # Config files and shell history are not places for secrets.
        raise UrlError(
            "the URL holds a password; remove it and name an environment variable that "
            "holds it with source.password_env"
        )
    if backend == "duckdb":
        # ibis's convention (and `reportgen load`'s): duckdb:///abs/x.duckdb is absolute,
        # duckdb://rel/x.duckdb relative (to the project).
        raw = unquote(parts.netloc + parts.path if parts.netloc else parts.path)
        if not raw or raw == "/":
            raise UrlError("duckdb:// needs a file, e.g. duckdb:///srv/warehouse.duckdb")
        path = Path(raw) if Path(raw).is_absolute() else (root or Path.cwd()) / raw
        return DbUrl("duckdb", path=path)
    try:
        port = parts.port
    except ValueError:
        raise UrlError(f"port in {text!r} is not a number") from None
    database = unquote(parts.path.lstrip("/")) or None
    if not parts.hostname or not database:
        raise UrlError(f"{text!r} needs a host and a database: postgresql://user@host:5432/db")
    user = unquote(parts.username) if parts.username else None
    return DbUrl(
        backend, host=parts.hostname, port=port or PORTS[backend], user=user, database=database
    )


def masked(text: str) -> str:
    """Return a URL as typed with any password in it replaced by ``***``, for messages."""
    parts = urlsplit(text)
    if parts.password is None:
        return text
    who = parts.netloc.rsplit("@", 1)
    user = who[0].split(":", 1)[0]
    return parts._replace(netloc=f"{user}:***@{who[1]}").geturl()


def anchored(text: str, root: Path) -> str:
    """Return ``text`` with a relative DuckDB file path made absolute against ``root``.

    A path typed on the command line is relative to where the command runs (as folders
    and ``reportgen load --into`` are); one in config.yaml to the config's folder.
    """
    parts = urlsplit(text)
    if SCHEMES.get(parts.scheme.lower()) != "duckdb" or not parts.netloc:
        return text  # not DuckDB, or already duckdb:///absolute
    return f"{parts.scheme}://{(root / unquote(parts.netloc + parts.path)).resolve()}"
