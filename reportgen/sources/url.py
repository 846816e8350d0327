"""Database URLs of the sql source and `reportgen load`: parse, check and show them without secrets."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

#: The environment variable a database password is read from unless the config names another.
PASSWORD_ENV = "REPORTGEN_DB_PASSWORD"  # noqa: S105 (a variable name, not a secret)

#: URL schemes the sql source reads, with the Ibis backend each one uses.
SCHEMES = {
    "postgresql": "postgres",
    "postgres": "postgres",
    "duckdb": "duckdb",
    "mysql": "mysql",
    "mariadb": "mysql",
}
#: The default port of each server backend.
PORTS = {"postgres": 5432, "mysql": 3306}

#: libpq connection parameters a postgresql:// URL may carry (``?sslmode=require``), passed
#: to the connection as they are. None of them is a secret, so messages may show them.
PG_PARAMS = ("sslmode", "sslrootcert", "connect_timeout", "application_name", "options")

_EXAMPLE = "postgresql://user@host:5432/db"


class UrlError(ValueError):
    """A database URL that cannot be used; the message says what to write instead."""


class PasswordInUrl(UrlError):
    """A URL holding a password: each caller says where the password goes instead."""


@dataclass(frozen=True)
class DbUrl:
    """A parsed database URL: backend, where, and who (never a password)."""

    backend: str  # "postgres", "mysql" or "duckdb"
    host: str | None = None
    port: int | None = None
    user: str | None = None
    database: str | None = None
    path: Path | None = None  # DuckDB file
    #: libpq parameters from the URL's query (names in PG_PARAMS), in the order given.
    params: tuple[tuple[str, str], ...] = ()

    def shown(self) -> str:
        """Return the URL as messages and provenance show it (no password, ever)."""
        if self.backend == "duckdb":
            return f"duckdb://{self.path}" if self.path else "duckdb://"
        who = f"{self.user}@" if self.user else ""
        port = f":{self.port}" if self.port else ""
        scheme = "mysql" if self.backend == "mysql" else "postgresql"
        query = f"?{urlencode(self.params)}" if self.params else ""
        return f"{scheme}://{who}{self.host or 'localhost'}{port}/{self.database or ''}{query}"


def is_url(text: str) -> bool:
    """Return True when ``text`` names a database rather than a folder."""
    return "://" in text


def mask(text: str) -> str:
    """Return a URL as typed with any password in it replaced by ``***``, for messages."""
    # Greedy to the last '@': a password may hold '@' or '/', and showing too little is safe.
    text = re.sub(r"(//[^:/?#@]*:).*@", r"\1***@", text)

    def value(m: re.Match[str]) -> str:  # the key as the parser reads it (pass%77ord)
        secret = unquote(m.group(2)).lower() == "password"
        return m.group(1) + m.group(2) + "=" + ("***" if secret else m.group(3))

    return re.sub(r"([?&])([^=&#]*)=([^&#]*)", value, text)


def parse_url(text: str, root: Path | None = None) -> DbUrl:
    """Return the parsed URL, or raise UrlError naming what is wrong with it.

    Messages never quote ``text`` (it may hold a password): callers prefix ``mask(text)``.
    """
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # an unclosed [ of an IPv6 host
        raise UrlError(f"not a database URL ({exc}); use {_EXAMPLE}") from None
    backend = SCHEMES.get(parts.scheme.lower())
    if backend is None:
        raise UrlError(
            f"unknown database scheme {parts.scheme + '://'!r}; use {_EXAMPLE}, "
            "mysql://user@host:3306/db or duckdb:///path/to/file.duckdb"
        )
    query = parse_qsl(parts.query, keep_blank_values=True)
    if parts.password is not None or any(k.lower() == "password" for k, _ in query):
        # Config files and shell history are not places for secrets.
        raise PasswordInUrl(
            "the URL holds a password; remove it and name an environment variable that "
            "holds it with source.password_env"
        )
    if parts.fragment:
        raise UrlError("a '#' ends the URL early; write it as %23 in a name or path")
    if backend == "duckdb":
        if parts.query:
            raise UrlError("a duckdb:// URL takes no ?parameters; name the file only")
        # ibis's convention (and `reportgen load`'s): duckdb:///abs/x.duckdb is absolute,
        # duckdb://rel/x.duckdb relative (to the project).
        raw = unquote(parts.netloc + parts.path if parts.netloc else parts.path)
        if not raw or raw == "/":
            raise UrlError("duckdb:// needs a file, e.g. duckdb:///srv/warehouse.duckdb")
        path = Path(raw) if Path(raw).is_absolute() else (root or Path.cwd()) / raw
        return DbUrl("duckdb", path=path)
    try:
        port = parts.port
    except ValueError:  # its text may be part of a password holding '/': never shown
        raise UrlError(f"the port is not a number from 1 to 65535; use {_EXAMPLE}") from None
    database = unquote(parts.path.lstrip("/")) or None
    if not parts.hostname or not database:
        # libpq would take a missing host for its Unix socket, not localhost: no guessing.
        raise UrlError(f"a database URL needs a host and a database: {_EXAMPLE}")
    user = unquote(parts.username) if parts.username else None
    return DbUrl(
        backend,
        host=parts.hostname,
        port=port or PORTS[backend],
        user=user,
        database=database,
        params=_params(query, backend),
    )


def anchored(text: str, root: Path) -> str:
    """Return ``text`` with a relative DuckDB file path made absolute against ``root``.

    A path typed on the command line is relative to where the command runs (as folders
    and ``reportgen load --into`` are); one in config.yaml to the config's folder.
    """
    try:
        parts = urlsplit(text)
    except ValueError:
        return text  # parse_url says what is wrong with it, in one line
    if SCHEMES.get(parts.scheme.lower()) != "duckdb" or not parts.netloc:
        return text  # not DuckDB, or already duckdb:///absolute
    # The relative part stays as typed (parse_url decodes it once); the folder is encoded.
    base = quote(str(root.resolve()), safe="/")
    rest = text.split("://", 1)[1]
    return f"{parts.scheme}://{base}/{rest}"


def _params(query: list[tuple[str, str]], backend: str) -> tuple[tuple[str, str], ...]:
    """Return the URL's libpq parameters; refuse unknown or repeated ones rather than drop them."""
    if query and backend != "postgres":
        raise UrlError(f"unknown URL parameter {query[0][0]!r}; a {backend}:// URL takes none")
    seen: set[str] = set()
    for key, _ in query:
        if key not in PG_PARAMS:
            raise UrlError(
                f"unknown URL parameter {key!r}; a postgresql:// URL takes {', '.join(PG_PARAMS)}"
            )
        if key in seen:
            raise UrlError(f"URL parameter {key!r} is given twice; keep one")
        seen.add(key)
    return tuple(query)


def pg_conninfo(url: DbUrl, password: str | None, **ours: str | int) -> dict[str, str | int | None]:
    """Return libpq keywords for ``url``: the URL's parameters over ``ours``, options joined.

    ``ours`` are defaults (connect_timeout, application_name) the URL may override; an
    ``options`` of ours is appended to the URL's, so ours (the session's time zone and
    statement timeout) win where both set the same thing.
    """
    info: dict[str, str | int | None] = {"host": url.host, "port": url.port, "dbname": url.database}
    if url.user:
        info["user"] = url.user
    info.update(ours)
    given = dict(url.params)
    if "options" in given and "options" in ours:
        given["options"] = f"{given['options']} {ours['options']}"
    info.update(given)
    info["password"] = password
    return info
