"""Email delivery: decide whether to send an output's email, send it, and record every outcome.

The email is built by ``compose`` and sent by ``smtp.Mailer``, which reads the password only from
the environment variable named by ``email.password_env`` and scrubs it from every message this
module logs, raises or records.
"""

from __future__ import annotations

import logging
import platform
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import TYPE_CHECKING

from reportgen.config import Config, Preset
from reportgen.delivery.compose import Recipients, as_number, clean_header, compose
from reportgen.delivery.ledger import Ledger, utcnow
from reportgen.delivery.smtp import Mailer, Outcome
from reportgen.errors import DeliveryError
from reportgen.model import Window, relative_change

if TYPE_CHECKING:
    # Only for annotations: importing the build pipeline here would make every import of
    # delivery (and of the scheduler) load the analytics engine.
    from reportgen.build import PresetOutput

logger = logging.getLogger(__name__)

#: Start of the reason recorded when an output has nobody to send to (adding someone sends it).
NO_RECIPIENTS = "no recipients configured for"


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


# -- deciding whether to send ---------------------------------------------------------------------


def has_data(output: PresetOutput) -> bool:
    """Return True when the window holds any tracked order or post."""
    report = getattr(output, "report", None)
    if report is not None:
        return bool(report.has_data)
    # A build reused from disk has only summary.json: orders, revenue or payouts mean data.
    kpis = output.summary.get("kpis") or {}
    return any((as_number(kpis.get(k)) or 0) > 0 for k in ("orders", "revenue", "payout"))


def top_below_break_even(output: PresetOutput, top_n: int) -> list[str]:
    """Return names of influencers in the top ``top_n`` by revenue whose ROAS is below 1."""
    rows = list(output.summary.get("top_influencers_by_revenue") or [])[:top_n]
    out = []
    for row in rows:
        roas = as_number(row.get("roas"))
        if roas is not None and roas < 1:
            out.append(str(row.get("name") or row.get("influencer_id")))
    return out


def revenue_drop_pct(output: PresetOutput) -> float | None:
    """Return how far revenue fell against the previous window, in %, or None if undefined."""
    now = as_number((output.summary.get("kpis") or {}).get("revenue"))
    before = as_number((output.summary.get("kpis_previous") or {}).get("revenue"))
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
