"""Email delivery: compose the report email, decide whether to send it, and send it over SMTP.

The password is read only from the environment variable named by ``email.password_env`` and is
scrubbed from every message this module logs, raises or records.
"""

from __future__ import annotations

import base64
import logging
import math
import os
import platform
import re
import smtplib
import ssl
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    StrictUndefined,
    select_autoescape,
)

from reportgen.config import Config, EmailConfig, Preset
from reportgen.delivery.ledger import Ledger, utcnow
from reportgen.errors import DeliveryError
from reportgen.metrics import kpis
from reportgen.model import Window, relative_change
from reportgen.report import fmt

if TYPE_CHECKING:
    # Only for annotations: importing the build pipeline here would make every import of
    # delivery (and of the scheduler) load the analytics engine.
    from reportgen.build import PresetOutput

logger = logging.getLogger(__name__)

#: Start of the reason recorded when an output has nobody to send to (adding someone sends it).
NO_RECIPIENTS = "no recipients configured for"
#: Attachable kinds: the output file (key in PresetOutput.files), MIME type and name suffix.
ATTACHMENTS = {
    "pdf": ("pdf", "application", "pdf", ".pdf"),
    "html": ("html", "text", "html", ".html"),
    "csv": ("csv:payouts", "text", "csv", "_payouts.csv"),
}
#: Colours of a KPI change by tone (reportgen/metrics/kpis.py decides the tone).
TONES = {"good": "#1a7f37", "bad": "#cf222e", "neutral": "#57606a"}
LOOPBACK = ("localhost", "127.0.0.1", "::1")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]+")


@dataclass(frozen=True)
class Recipients:
    """Who gets one email."""

    to: tuple[str, ...] = ()
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()

    def envelope(self) -> list[str]:
        """Return every recipient once, in to, cc, bcc order."""
        seen: set[str] = set()
        out = []
        for addr in (*self.to, *self.cc, *self.bcc):
            if addr.lower() not in seen:
                seen.add(addr.lower())
                out.append(addr)
        return out


@dataclass
class Outcome:
    """What happened to one recipient of one message."""

    recipient: str
    state: str  # sent | refused | failed
    detail: str = ""


@dataclass
class SendResult:
    """What happened to one email (one preset or group, one window)."""

    name: str
    window: Window
    state: str  # sent | partial | skipped | failed | dry-run | already-sent
    reason: str = ""
    outcomes: list[Outcome] = field(default_factory=list)
    path: Path | None = None
    message_id: str | None = None

    def describe(self) -> str:
        """Return a one-line account for the CLI and the log."""
        counts: dict[str, int] = {}
        for o in self.outcomes:
            counts[o.state] = counts.get(o.state, 0) + 1
        parts = [f"{n} {s}" for s, n in counts.items()]
        text = f"{self.name} {self.window.start} to {self.window.end}: {self.state}"
        if parts:
            text += f" ({', '.join(parts)})"
        if self.path:
            text += f" -> {self.path}"
        if self.reason:
            text += f": {self.reason}"
        return text


# -- header and secret hygiene --------------------------------------------------------------------


def clean_header(value: str, limit: int = 250) -> str:
    """Return ``value`` made safe for a header: no CR/LF or control characters, one line."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())[:limit]


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


# -- deciding whether to send ---------------------------------------------------------------------


def _num(value: Any) -> float | None:
    if isinstance(value, Mapping):
        value = value.get("value")
    if value is None or isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(out) else out


def has_data(output: PresetOutput) -> bool:
    """Return True when the window holds any tracked order or post."""
    report = getattr(output, "report", None)
    if report is not None:
        return bool(report.has_data)
    # A build reused from disk has only summary.json: orders, revenue or payouts mean data.
    kpis = output.summary.get("kpis") or {}
    return any((_num(kpis.get(k)) or 0) > 0 for k in ("orders", "revenue", "payout"))


def top_below_break_even(output: PresetOutput, top_n: int) -> list[str]:
    """Return names of influencers in the top ``top_n`` by revenue whose ROAS is below 1."""
    rows = list(output.summary.get("top_influencers_by_revenue") or [])[:top_n]
    out = []
    for row in rows:
        roas = _num(row.get("roas"))
        if roas is not None and roas < 1:
            out.append(str(row.get("name") or row.get("influencer_id")))
    return out


def revenue_drop_pct(output: PresetOutput) -> float | None:
    """Return how far revenue fell against the previous window, in %, or None if undefined."""
    now = _num((output.summary.get("kpis") or {}).get("revenue"))
    before = _num((output.summary.get("kpis_previous") or {}).get("revenue"))
    change = relative_change(now, before) if before and before > 0 else None
    return None if change is None else -change * 100


def decide(preset: Preset, output: PresetOutput) -> tuple[bool, str]:
    """Return whether to send, and why (the reason is recorded when the send is skipped)."""
    rules = preset.send or {}
    if rules.get("skip_if_empty", True) and not has_data(output):
        return False, "no data in the window (send.skip_if_empty)"
    only_if = list(rules.get("only_if_any") or [])
    if not only_if:
        return True, ""
    held, missed = [], []
    if "top_below_break_even" in only_if:
        names = top_below_break_even(output, preset.top_n)
        if names:
            held.append(f"top-{preset.top_n} influencers below break-even: {', '.join(names)}")
        else:
            missed.append(f"every top-{preset.top_n} influencer has ROAS >= 1")
    if "revenue_drop" in only_if:
        limit = float(rules.get("revenue_drop_pct", 20.0))
        drop = revenue_drop_pct(output)
        if drop is not None and drop > limit:
            held.append(f"revenue down {drop:.1f}% (more than {limit:g}%)")
        elif drop is None:
            missed.append("no previous revenue to compare with")
        else:
            missed.append(f"revenue change {-drop:+.1f}% is not a drop of more than {limit:g}%")
    if held:
        return True, "; ".join(held)
    return False, f"no send.only_if_any rule held: {'; '.join(missed)}"


def recipients_for(preset: Preset, output: PresetOutput) -> Recipients:
    """Return the group's recipients for a fanned-out output, else the preset's."""
    return recipients_of(preset, output.group)


def recipients_of(preset: Preset, group: str | None) -> Recipients:
    """Return the recipients of ``group`` of ``preset``, or the preset's own for None."""
    if group is None:
        return Recipients(tuple(preset.to), tuple(preset.cc), tuple(preset.bcc))
    for g in preset.groups:
        if g.name == group:
            # A group's figures go to its own people only; the preset's list is not added.
            return Recipients(tuple(g.to), tuple(g.cc), tuple(g.bcc))
    raise DeliveryError(
        f"preset {preset.name}: the build made group {group!r}, which the config does not define"
    )


# -- composing ------------------------------------------------------------------------------------


def _kpis(summary: Mapping[str, Any], preset: Preset) -> list[dict[str, Any]]:
    """Return the KPI cards as the report shows them (summary.json holds them verbatim)."""
    cards = summary.get("kpi_cards")
    if not isinstance(cards, list):  # a build from before kpi_cards: same spec, same formatter
        cards = kpis.cards(kpis.from_summary(summary), preset.currency, preset.locale)
    return [dict(c) | {"colour": TONES.get(str(c.get("tone")), TONES["neutral"])} for c in cards]


def _iroas(summary: Mapping[str, Any]) -> str | None:
    """Return the programme's iROAS line as the report prints it (None without an estimate)."""
    # summary.json has "incrementality" only when the preset listed that section.
    study = summary.get("incrementality")
    if not isinstance(study, Mapping):
        return None
    if "iroas_text" in study:  # the report's own text
        return str(study["iroas_text"]) if study["iroas_text"] else None
    # A build from before the text was stored: the same formatter on the same rounded fields.
    overall = study.get("overall")
    confidence = fmt.number(study.get("confidence"))
    if not isinstance(overall, Mapping) or confidence is None:
        return None
    return kpis.iroas_text(overall, confidence)


def _top(summary: Mapping[str, Any], preset: Preset, limit: int) -> list[dict[str, Any]]:
    rows = []
    for i, row in enumerate(list(summary.get("top_influencers_by_revenue") or [])[:limit], 1):
        roas = _num(row.get("roas"))
        rows.append(
            {
                "rank": i,
                "name": str(row.get("name") or row.get("influencer_id") or "?"),
                "revenue": fmt.money(_num(row.get("revenue")), preset.currency, preset.locale),
                "roas": fmt.ratio(roas),
                "below": roas is not None and roas < 1,
            }
        )
    return rows


def attachment_name(output: PresetOutput, kind: str) -> str:
    """Return what an attachment is called: ``weekly-overview_2026-11-23_2026-11-29.pdf``."""
    w = output.window
    return clean_header(f"{output.preset.name}_{w.start}_{w.end}{ATTACHMENTS[kind][3]}", 120)


def _link(config: Config, path: Path) -> str | None:
    """Return the published URL of an output file, when ``email.base_url`` is set."""
    base = config.email.base_url
    if not base:
        return None
    try:
        rel = Path(path).resolve().relative_to(Path(config.output_dir).resolve())
    except ValueError:
        return None
    return f"{base.rstrip('/')}/{quote(rel.as_posix())}"


def _attachments(
    config: Config, preset: Preset, output: PresetOutput
) -> tuple[list[tuple[str, Path]], list[str]]:
    """Return (kind, file) to attach and notes for files replaced by links; raise if neither."""
    cap = config.email.max_attachment_mb * 1024 * 1024
    files: list[tuple[str, Path]] = []
    notes: list[str] = []
    for kind in preset.attach:
        path = output.files.get(ATTACHMENTS[kind][0])
        if path is None or not Path(path).is_file():
            raise DeliveryError(
                f"preset {output.preset.name}: attach lists {kind} but the build made no {kind} "
                f"file; add {kind} to formats or remove it from attach"
            )
        size = Path(path).stat().st_size
        if size <= cap:
            files.append((kind, Path(path)))
            continue
        url = _link(config, Path(path))
        mb = f"{size / 1024 / 1024:.1f} MB"
        if url is None:
            raise DeliveryError(
                f"preset {output.preset.name}: {attachment_name(output, kind)} is {mb}, over "
                f"email.max_attachment_mb ({config.email.max_attachment_mb:g} MB); set "
                "email.base_url to send a link instead, or raise the limit"
            )
        notes.append(
            f"{attachment_name(output, kind)} ({mb}) is too large to attach; download it: {url}"
        )
    return files, notes


@cache
def _environment(override_dir: str) -> Environment:
    # A user's templates folder may override email.html / email.txt like the report templates.
    env = Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(override_dir), PackageLoader("reportgen", "templates")]
        ),
        autoescape=select_autoescape(enabled_extensions=("html",), default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    fmt.register(env)  # the report's filters: names from data are clipped the same way
    return env


def _title(output: PresetOutput) -> str:
    title = output.preset.title
    if output.group and output.group not in title:
        title = f"{title} ({output.group})"
    return clean_header(title)


def subject_for(output: PresetOutput) -> str:
    """Return the subject: ``<title> — <window start> to <end>``."""
    return clean_header(f"{_title(output)} — {output.window.start} to {output.window.end}")


def context(
    config: Config, preset: Preset, output: PresetOutput, reason: str, notes: list[str]
) -> dict:
    """Return the template variables of one report email."""
    summary = output.summary
    quality = [i for i in summary.get("data_quality") or [] if isinstance(i, Mapping)]
    if quality:
        notes = [
            *notes,
            f"{len(quality)} data-quality note(s), for example: "
            f"{quality[0].get('message', '')} — see the full report",
        ]
    html = output.files.get("html")
    # The stored build's own comparison: the config's compare may have changed since.
    stored = summary.get("previous_window") or {}
    prev = (
        Window(date.fromisoformat(stored["start"]), date.fromisoformat(stored["end"]))
        if stored.get("start") and stored.get("end")
        else output.preset.compare_window(output.window)
    )
    label = str((summary.get("compare") or {}).get("label") or "")
    return {
        "title": _title(output),
        "description": output.preset.description,
        "window": f"{output.window.start} to {output.window.end}",
        "previous_window": f"{label} ({prev.start} to {prev.end})"
        if label
        else f"{prev.start} to {prev.end}",
        "compare_label": label or "previous period",
        "headline": [str(x) for x in (summary.get("headline") or {}).get("sentences") or []],
        "days": output.window.days,
        # The data runs to the window's end, which is the as-of day only for windows ending then.
        "data_until": output.window.end.isoformat(),
        "as_of": output.as_of.isoformat(),
        "timezone": output.preset.timezone,
        "filters": output.preset.filters.describe(),
        "group": output.group,
        "kpis": _kpis(summary, preset),
        "iroas": _iroas(summary),
        "top": _top(summary, preset, min(preset.top_n, 10)),
        "reason": reason,
        "notes": notes,
        "report_url": _link(config, Path(html)) if html else None,
        "attached": [attachment_name(output, k) for k in preset.attach],
        "preset": output.preset.name,
        "currency": preset.currency,
    }


def compose(
    config: Config,
    preset: Preset,
    output: PresetOutput,
    recipients: Recipients,
    *,
    reason: str = "",
    now: datetime | None = None,
) -> EmailMessage:
    """Build the report email: text and HTML alternatives plus the configured attachments."""
    files, notes = _attachments(config, preset, output)
    ctx = context(config, preset, output, reason, notes)
    env = _environment(str(config.templates_dir))
    text = env.get_template("email.txt").render(ctx)
    html = env.get_template("email.html").render(ctx)

    msg = EmailMessage(policy=SMTP)
    _headers(msg, config.email, output, recipients, now or utcnow())
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    for kind, path in files:
        _, maintype, subtype, _ = ATTACHMENTS[kind]
        name = attachment_name(output, kind)
        msg.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=name)
    return msg


def _headers(
    msg: EmailMessage,
    email: EmailConfig,
    output: PresetOutput,
    recipients: Recipients,
    now: datetime,
) -> None:
    domain = email.sender.rpartition("@")[2] or "localhost"
    msg["Subject"] = subject_for(output)
    msg["From"] = clean_header(email.sender)
    if recipients.to:
        msg["To"] = ", ".join(clean_header(a) for a in recipients.to)
    if recipients.cc:
        msg["Cc"] = ", ".join(clean_header(a) for a in recipients.cc)
    if not recipients.to and not recipients.cc:
        msg["To"] = "undisclosed-recipients:;"
    if email.reply_to:
        msg["Reply-To"] = clean_header(email.reply_to)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = make_msgid(idstring=clean_header(output.preset.name, 60), domain=domain)
    # RFC 3834: tells auto-responders not to answer a machine-sent report.
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Reportgen-Preset"] = clean_header(output.preset.name)
    msg["X-Reportgen-Window"] = f"{output.window.start}/{output.window.end}"


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


# -- the whole delivery of one output -------------------------------------------------------------


def eml_path(output: PresetOutput, out_dir: Path | None) -> Path:
    """Return where ``--dry-run`` writes the email of ``output``."""
    if out_dir is None:
        return Path(output.directory) / "email.eml"
    return Path(out_dir) / f"{output.preset.name}_{output.as_of.isoformat()}.eml"


def deliver(
    config: Config,
    preset: Preset,
    output: PresetOutput,
    *,
    ledger: Ledger | None,
    mailer: Mailer | None = None,
    dry_run: bool = False,
    out_dir: Path | None = None,
) -> SendResult:
    """Send one output's email to the recipients that have not had it; record every outcome."""
    name, window = output.preset.name, output.window
    go, reason = decide(preset, output)
    if not go:
        logger.info("%s %s to %s: not sending: %s", name, window.start, window.end, reason)
        if ledger and not dry_run:
            ledger.record_send(name, window, "skipped", reason)
        return SendResult(name, window, "skipped", reason)
    recipients = recipients_for(preset, output)
    if not recipients.envelope():
        why = f"{NO_RECIPIENTS} {name}"
        logger.warning("%s", why)
        if ledger and not dry_run:
            ledger.record_send(name, window, "skipped", why)
        return SendResult(name, window, "skipped", why)
    msg = compose(config, preset, output, recipients, reason=reason)
    if dry_run:
        return _write_eml(msg, recipients, output, out_dir, ledger, reason)
    assert ledger is not None, "a real send needs the ledger to stay exactly-once"
    pending = ledger.pending_recipients(name, window, recipients.envelope())
    if not pending:
        logger.info("%s %s to %s: already sent to every recipient", name, window.start, window.end)
        return SendResult(name, window, "already-sent")
    return _send(msg, pending, output, ledger, mailer or Mailer(config.email), reason)


def _write_eml(
    msg: EmailMessage,
    recipients: Recipients,
    output: PresetOutput,
    out_dir: Path | None,
    ledger: Ledger | None,
    reason: str,
) -> SendResult:
    if recipients.bcc:
        # Shown in the preview only: a real send keeps Bcc to the envelope.
        msg["Bcc"] = ", ".join(clean_header(a) for a in recipients.bcc)
    path = eml_path(output, out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msg.as_bytes(policy=SMTP))
    logger.info("dry run: wrote %s (would send to %s)", path, ", ".join(recipients.envelope()))
    if ledger:
        ledger.record_send(output.preset.name, output.window, "dry-run", str(path))
    return SendResult(
        output.preset.name,
        output.window,
        "dry-run",
        reason,
        path=path,
        message_id=msg["Message-ID"],
    )


def _send(
    msg: EmailMessage,
    pending: list[str],
    output: PresetOutput,
    ledger: Ledger,
    mailer: Mailer,
    reason: str,
) -> SendResult:
    name, window = output.preset.name, output.window
    message_id = msg["Message-ID"]

    def record(o: Outcome) -> None:
        # Written as each recipient settles, so a crash right after cannot cause a resend.
        ledger.record_delivery(
            name, window, o.recipient, o.state, message_id=message_id, error=o.detail or None
        )

    try:
        outcomes = mailer.send(msg, pending, on_result=record)
    except DeliveryError as exc:
        ledger.record_send(name, window, "failed", str(exc))
        raise
    failed = [o for o in outcomes if o.state == "failed"]
    refused = [o for o in outcomes if o.state == "refused"]
    if failed:
        why = f"could not deliver to {len(failed)} of {len(outcomes)}: {failed[0].detail}"
        ledger.record_send(name, window, "failed", why)
        raise DeliveryError(f"{name} {window.start} to {window.end}: {why}")
    state = "partial" if refused else "sent"
    note = "; ".join(f"{o.recipient} refused: {o.detail}" for o in refused)
    ledger.record_send(name, window, state, note or reason)
    logger.info(
        "%s %s to %s: sent to %d recipient(s)%s",
        name,
        window.start,
        window.end,
        len(outcomes) - len(refused),
        f"; {note}" if note else "",
    )
    return SendResult(name, window, state, note or reason, outcomes, message_id=message_id)


def notify_failure(
    config: Config,
    preset: Preset,
    window: Window | None,
    reason: str,
    *,
    mailer: Mailer | None = None,
    as_of: date | None = None,
) -> bool:
    """Email the preset's owners that a scheduled run failed; return True when it went out."""
    if not preset.owners:
        logger.warning("%s: no owners configured to tell about the failure", preset.name)
        return False
    mailer = mailer or Mailer(config.email)
    span = f"{window.start} to {window.end}" if window else "its window"
    msg = EmailMessage(policy=SMTP)
    msg["Subject"] = clean_header(f"reportgen: {preset.title} failed — {span}")
    msg["From"] = clean_header(config.email.sender)
    msg["To"] = ", ".join(preset.owners)
    if config.email.reply_to:
        msg["Reply-To"] = clean_header(config.email.reply_to)
    msg["Date"] = format_datetime(utcnow())
    msg["Message-ID"] = make_msgid(domain=config.email.sender.rpartition("@")[2] or "localhost")
    msg["Auto-Submitted"] = "auto-generated"
    rerun = f"reportgen send --preset {preset.name}" + (f" --as-of {as_of}" if as_of else "")
    msg.set_content(
        f"The scheduled run of report '{preset.title}' (preset {preset.name}) for {span} "
        f"failed on {platform.node() or 'this host'}.\n\n"
        f"Reason: {mailer._scrub(reason)}\n\n"
        "The previous report was left as it was. Once the cause is fixed, run it again with:\n\n"
        f"    {rerun}\n"
    )
    try:
        outcomes = mailer.send(msg, list(preset.owners))
    except Exception as exc:
        # A notice that cannot go out must not take the scheduler down with it.
        logger.error(
            "%s: could not email the failure notice to the owners: %s",
            preset.name,
            mailer._scrub(str(exc)),
        )
        return False
    return any(o.state == "sent" for o in outcomes)
