"""Sending over SMTP: the Mailer, its retries on transient failures, and password scrubbing.

The password is read only from the environment variable named by ``email.password_env`` and is
scrubbed from every message this module logs, raises or reports (``scrub``).
"""

from __future__ import annotations

import base64
import logging
import os
import platform
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.policy import SMTP

from reportgen.config import EmailConfig
from reportgen.errors import DeliveryError

logger = logging.getLogger(__name__)

LOOPBACK = ("localhost", "127.0.0.1", "::1")


@dataclass
class Outcome:
    """What happened to one recipient of one message."""

    recipient: str
    state: str  # sent | refused | failed
    detail: str = ""


# -- secret hygiene -------------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every secret, and its base64 forms used by SMTP AUTH, masked."""
    for secret in secrets:
        if not secret:
            continue
        forms = {secret, base64.b64encode(secret.encode()).decode()}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "***")
    return text


def _auth_forms(user: str | None, password: str | None) -> list[str]:
    """Return the password plus the AUTH PLAIN blob that embeds it."""
    if not password:
        return []
    plain = base64.b64encode(f"\0{user or ''}\0{password}".encode()).decode()
    return [password, plain]


# -- sending --------------------------------------------------------------------------------------


class Mailer:
    """Sends messages over SMTP with retries on transient failures and none on bad credentials."""

    def __init__(
        self,
        email: EmailConfig,
        *,
        env: Mapping[str, str] | None = None,
        sleep: Callable[[float], None] = time.sleep,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self.email = email
        self._env = os.environ if env is None else env
        self._sleep = sleep
        self._tls = tls_context
        self.connections = 0  # attempts made, for logs and tests

    def _password(self) -> str | None:
        if not self.email.username:
            return None
        password = self._env.get(self.email.password_env)
        if not password:
            raise DeliveryError(
                f"email.username is set but the environment variable {self.email.password_env} "
                "(email.password_env) is empty; export the SMTP password there"
            )
        return password

    def _secrets(self) -> list[str]:
        password = self._env.get(self.email.password_env) if self.email.username else None
        return _auth_forms(self.email.username, password)

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets())

    def _context(self) -> ssl.SSLContext:
        # SSL_CERT_FILE / SSL_CERT_DIR are honoured by the default context for private CAs.
        return self._tls or ssl.create_default_context()

    def _connect(self) -> smtplib.SMTP:
        """Open a connection, secure it as configured and log in."""
        e = self.email
        # getfqdn() can stall on hosts without reverse DNS; the node name is good enough for EHLO.
        local = platform.node() or "localhost"
        self.connections += 1
        if e.security == "ssl":
            smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                e.host, e.port, local_hostname=local, timeout=e.timeout, context=self._context()
            )
        else:
            smtp = smtplib.SMTP(e.host, e.port, local_hostname=local, timeout=e.timeout)
        try:
            if e.security == "starttls":
                smtp.ehlo()
                smtp.starttls(context=self._context())
                smtp.ehlo()
            password = self._password()
            if password is not None:
                if e.security == "none" and e.host not in LOOPBACK:
                    logger.warning("sending the SMTP password to %s without TLS", e.host)
                smtp.login(e.username or "", password)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _transmit(self, data: bytes, recipients: list[str]) -> dict[str, tuple[int, bytes]]:
        """Send once on a new connection; return the recipients the server refused."""
        smtp = self._connect()
        try:
            return smtp.sendmail(self.email.sender, recipients, data)
        finally:
            # The message is already accepted or not; a failing QUIT must not cause a resend.
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(
        self,
        msg: EmailMessage,
        recipients: list[str],
        *,
        on_result: Callable[[Outcome], None] | None = None,
    ) -> list[Outcome]:
        """Send ``msg`` to ``recipients`` (the envelope); report each recipient's fate once."""
        data = msg.as_bytes(policy=SMTP)
        pending = list(recipients)
        outcomes: list[Outcome] = []
        last_error = ""

        def settle(outcome: Outcome) -> None:
            outcomes.append(outcome)
            if on_result:
                on_result(outcome)

        for attempt in range(self.email.retries + 1):
            if attempt:
                delay = self.email.backoff_seconds * 2 ** (attempt - 1)
                logger.info(
                    "retrying in %.1fs (attempt %d of %d): %s",
                    delay,
                    attempt + 1,
                    self.email.retries + 1,
                    last_error,
                )
                self._sleep(delay)
            try:
                refused = self._transmit(data, pending)
            except smtplib.SMTPRecipientsRefused as exc:
                refused = exc.recipients
            except Exception as exc:
                last_error = self._classify(exc)
                continue
            retry = []
            for addr in pending:
                if addr not in refused:
                    settle(Outcome(addr, "sent"))
                    continue
                code, text = refused[addr]
                detail = self._scrub(f"{code} {_text(text)}")
                if 400 <= code < 500:
                    retry.append(addr)
                    last_error = f"{addr}: {detail}"
                else:
                    logger.warning("recipient %s refused: %s", addr, detail)
                    settle(Outcome(addr, "refused", detail))
            pending = retry
            if not pending:
                break
        for addr in pending:
            settle(Outcome(addr, "failed", last_error))
        if pending:
            logger.error(
                "gave up on %d recipient(s) after %d attempts: %s",
                len(pending),
                self.email.retries + 1,
                last_error,
            )
        return outcomes

    def _classify(self, exc: Exception) -> str:
        """Return a scrubbed description of a transient failure, or raise for a permanent one."""
        if isinstance(exc, DeliveryError):
            raise exc
        where = f"{self.email.host}:{self.email.port}"
        detail = self._scrub(_describe(exc))
        if isinstance(exc, smtplib.SMTPAuthenticationError):
            raise DeliveryError(
                f"SMTP authentication as {self.email.username!r} at {where} failed ({detail}); "
                f"check email.username and the password in ${self.email.password_env}"
            ) from None
        if isinstance(exc, smtplib.SMTPNotSupportedError):
            raise DeliveryError(
                f"SMTP server {where} does not support what email.security/username need "
                f"({detail}); check email.security and email.username"
            ) from None
        if isinstance(exc, ssl.SSLError):
            raise DeliveryError(
                f"TLS with {where} failed ({detail}); check email.security ({self.email.security}) "
                "and the server certificate (SSL_CERT_FILE for a private CA)"
            ) from None
        if isinstance(exc, smtplib.SMTPResponseException) and not 400 <= exc.smtp_code < 500:
            raise DeliveryError(f"SMTP server {where} rejected the message: {detail}") from None
        if isinstance(exc, smtplib.SMTPServerDisconnected | smtplib.SMTPResponseException):
            return f"{where}: {detail}"
        if isinstance(exc, OSError):
            return f"{where}: {detail}"
        if isinstance(exc, smtplib.SMTPException):
            raise DeliveryError(f"SMTP with {where} failed: {detail}") from None
        raise exc


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{exc.smtp_code} {_text(exc.smtp_error)}"
    if isinstance(exc, TimeoutError):
        return f"timed out ({exc})" if str(exc) else "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
