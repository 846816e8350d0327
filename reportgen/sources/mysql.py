"""MySQL and MariaDB for the sql source: connect, and say in one line what went wrong.

The tables are read like PostgreSQL's (see :mod:`reportgen.sources.database`): the canonical
layer runs every check and the facts' aggregate in the server and fetches counts, examples,
dimensions and the aggregate. What differs is here: the driver (mysqlclient, through Ibis),
the session settings (UTC as an offset, since a server without time zone tables knows no
'UTC'; a statement time limit), and the server's error numbers. In MySQL a schema is a
database: ``source.schema`` defaults to the URL's database.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from typing import Any

from reportgen.config import Config
from reportgen.errors import SourceUnavailable
from reportgen.sources.database import CONNECT_TIMEOUT_S
from reportgen.sources.dialects import over_timeout, read_failed
from reportgen.sources.url import DbUrl

logger = logging.getLogger(__name__)

#: Server error numbers, by what the user should do about them.
_UNREACHABLE = {2002, 2003, 2005, 2006, 2013}  # no server there, or it went away
_WHO = {1044, 1045, 1698}  # access denied: the user or the password
_NO_DATABASE = {1049}
_TIMEOUT = {1969, 3024}  # MariaDB max_statement_time, MySQL max_execution_time
_DENIED = {1142, 1143}  # SELECT denied on a table or column
_DATA = {1264, 1292, 1365, 1366, 1690}  # out of range, bad value, division by zero


def connect(url: DbUrl, config: Config) -> Any:
    """Connect in UTC with the query timeout; return the Ibis backend. No password is shown."""
    where = url.shown()
    try:
        import ibis
        import MySQLdb
    except ImportError:
        raise SourceUnavailable(
            f"{where}: MySQL support is not installed; pip install 'reportgen[mysql]' "
            "(it compiles mysqlclient: apt-get install libmariadb-dev pkg-config first)"
        ) from None
    env = config.source.password_env
    password = os.environ.get(env) or ""
    try:
        con = MySQLdb.connect(
            host=url.host or "127.0.0.1",
            port=url.port or 3306,
            user=url.user or "",
            password=password,
            database=url.database or "",
            connect_timeout=CONNECT_TIMEOUT_S,
            autocommit=True,
            charset="utf8mb4",
        )
    except MySQLdb.Error as exc:
        raise SourceUnavailable(f"{where}: {connect_reason(exc, env)}") from None
    try:
        _session(con, config.source.timeout)
        with warnings.catch_warnings():
            # Ibis sets the zone by name and warns where the server has no zone tables; the
            # session is already in UTC by offset.
            warnings.simplefilter("ignore", UserWarning)
            return ibis.mysql.from_connection(con)
    except MySQLdb.Error as exc:
        con.close()
        raise SourceUnavailable(f"{where}: cannot set up the session: {_message(exc)}") from None


def _session(con: Any, timeout: float) -> None:
    """Put the session in UTC and stop any statement running over ``timeout`` seconds."""
    with con.cursor() as cur:
        cur.execute("SET time_zone = '+00:00'")
        for limit in (
            f"SET SESSION max_statement_time = {float(timeout)}",  # MariaDB, seconds
            f"SET SESSION max_execution_time = {int(timeout * 1000)}",  # MySQL, milliseconds
        ):
            try:
                cur.execute(limit)
                break
            except Exception:  # the other server's variable
                logger.debug("%s: not this server's setting", limit)


def _code(exc: Exception) -> int | None:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _message(exc: Exception) -> str:
    args: tuple[Any, ...] = getattr(exc, "args", ())
    text = str(args[1]) if len(args) > 1 else str(exc)
    return text.strip().splitlines()[0] if text.strip() else type(exc).__name__


def connect_reason(exc: Exception, env: str) -> str:
    """Return why the server refused a connection and what to do, in one line."""
    code, text = _code(exc), _message(exc)
    if code in _WHO:
        return f"{text}: check the user in the URL and the password in ${env}"
    if code in _NO_DATABASE:
        return f"{text}: create it or fix the database name in the URL"
    if code in _UNREACHABLE:
        return f"cannot connect ({text}): check host and port, and that the server is running"
    return text


def mysql_errors(
    where: str, timeout: float | None, reading: Callable[[], str | None] = lambda: None
) -> Callable[[Exception], Exception | None]:
    """Return the explainer of MySQL and MariaDB errors met while querying."""

    def explain(exc: Exception) -> Exception | None:
        try:
            import MySQLdb
        except ImportError:  # pragma: no cover - connect() already needed it
            return None
        if not isinstance(exc, MySQLdb.Error):
            return None
        code, text = _code(exc), _message(exc)
        if code in _TIMEOUT:
            return over_timeout(where, timeout)
        if code in _UNREACHABLE:
            return SourceUnavailable(f"{where}: the database stopped answering ({text}); retry")
        if code in _DENIED:
            return SourceUnavailable(
                f"{where}: {text}; grant the user SELECT on the tables reportgen reads"
            )
        return read_failed(where, reading(), text, data=code in _DATA)

    return explain
