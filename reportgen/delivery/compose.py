"""The report email: who it goes to, its headers, its text and HTML bodies and its attachments.

Every header value passes ``clean_header`` (one line, no control characters); the bodies are the
``email.txt`` and ``email.html`` templates, which a user's templates folder may override.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
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
from reportgen.delivery.ledger_rows import utcnow
from reportgen.errors import DeliveryError
from reportgen.metrics import kpis
from reportgen.model import Window
from reportgen.report import fmt

if TYPE_CHECKING:
    # Only for annotations: importing the build pipeline here would make every import of
    # delivery (and of the scheduler) load the analytics engine.
    from reportgen.build import PresetOutput

#: Attachable kinds: the output file (key in PresetOutput.files), MIME type and name suffix.
ATTACHMENTS = {
    "pdf": ("pdf", "application", "pdf", ".pdf"),
    "html": ("html", "text", "html", ".html"),
    "csv": ("csv:payouts", "text", "csv", "_payouts.csv"),
}
#: Colours of a KPI change by tone (reportgen/metrics/kpis.py decides the tone).
TONES = {"good": "#1a7f37", "bad": "#cf222e", "neutral": "#57606a"}
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


# -- header hygiene and summary figures -----------------------------------------------------------


def clean_header(value: str, limit: int = 250) -> str:
    """Return ``value`` made safe for a header: no CR/LF or control characters, one line."""
    return " ".join(_CONTROL.sub(" ", str(value)).split())[:limit]


def as_number(value: Any) -> float | None:
    """Return a summary figure (or its ``value`` entry) as a float; None if missing or not finite."""
    if isinstance(value, Mapping):
        value = value.get("value")
    if isinstance(value, bool):  # a flag (below_break_even) is not a figure
        return None
    return fmt.number(value)


# -- composing ------------------------------------------------------------------------------------


def summary_kpi_cards(summary: Mapping[str, Any], preset: Preset) -> list[dict[str, Any]]:
    """Return the KPI cards as the report shows them (summary.json holds them verbatim)."""
    cards = summary.get("kpi_cards")
    if not isinstance(cards, list):  # a build from before kpi_cards: same spec, same formatter
        cards = kpis.cards(kpis.from_summary(summary), preset.currency, preset.locale)
    return [dict(c) | {"colour": TONES.get(str(c.get("tone")), TONES["neutral"])} for c in cards]


def iroas_line(summary: Mapping[str, Any]) -> str | None:
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
        roas = as_number(row.get("roas"))
        rows.append(
            {
                "rank": i,
                "name": str(row.get("name") or row.get("influencer_id") or "?"),
                "revenue": fmt.money(as_number(row.get("revenue")), preset.currency, preset.locale),
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
        "kpis": summary_kpi_cards(summary, preset),
        "iroas": iroas_line(summary),
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
