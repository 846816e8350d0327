"""One run of a preset: build (or reuse the stored build), send, and record it in the ledger.

`reportgen send` and the scheduler both call ``execute``; the scheduler only decides when.
Kept apart from ``scheduling.schedule`` so that a run from the command line imports no
APScheduler.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reportgen.config import Config, Group, Preset
from reportgen.delivery.deliver import (
    NO_RECIPIENTS,
    Mailer,
    SendResult,
    deliver,
    recipients_of,
)
from reportgen.delivery.ledger import Ledger, output_names
from reportgen.delivery.manual import build_jobs, default_build, files_record
from reportgen.errors import DeliveryError
from reportgen.model import Window

if TYPE_CHECKING:
    from reportgen.build import PresetOutput
    from reportgen.delivery.ledger_claim import Claim

logger = logging.getLogger(__name__)

BuildFn = Callable[..., list[Any]]


@dataclass
class RunOutcome:
    """What one run did."""

    preset: str
    window: Window
    as_of: date
    state: str  # succeeded | failed | done
    built: bool = False
    sends: list[SendResult] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0


def load_stored(
    preset: Preset, window: Window, as_of: date, record: dict[str, Any] | None
) -> list[PresetOutput] | None:
    """Return a previous build of this window if all its files are still there, else None.

    The outputs carry ``report=None``: what they say is read back from summary.json.
    """
    from reportgen.build import PresetOutput

    if not record or not record.get("outputs"):
        return None
    outputs = []
    for item in record["outputs"]:
        files = {k: Path(v) for k, v in item["files"].items()}
        summary_path = files.get("summary")
        if summary_path is None or not all(p.exists() for p in files.values()):
            return None
        try:
            summary = json.loads(summary_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        group = item.get("group")
        view = preset
        if group:
            match = [g for g in preset.groups if g.name == group]
            if not match:
                return None  # the config changed since; build again
            view = _group_view(preset, match[0], item["name"])
        # Deliveries are keyed by the output's own window: reuse exactly what was sent before.
        span = item.get("window") or [window.start.isoformat(), window.end.isoformat()]
        own = Window(date.fromisoformat(span[0]), date.fromisoformat(span[1]))
        day = date.fromisoformat(item["as_of"]) if item.get("as_of") else as_of
        directory = Path(item["directory"])
        outputs.append(PresetOutput(view, group, own, day, directory, files, summary, None))
    if not {g.name for g in preset.groups} <= {o.group for o in outputs}:
        return None  # a group was added since: build again
    return outputs


def _group_view(preset: Preset, group: Group, name: str) -> Preset:
    """Return the preset copy the build uses for one group."""
    for view in build_jobs(preset):
        if view.name == name:
            return view
    return dataclasses.replace(
        preset, name=name, filters=group.filters, groups=(), group=group.name
    )


def _already_done(ledger: Ledger, preset: Preset, window: Window) -> bool:
    """Return True when the window was built and every email settled for today's recipients.

    A recipient added to the preset (or a group) since the send makes this False, so the
    stored build is sent to them; those who had it are not sent it again.
    """
    run = ledger.get_run(preset.name, window)
    if run is None or run.state != "succeeded" or not run.files:
        return False
    outputs = run.files.get("outputs") or []
    sends = ledger.sends(output_names(run), window)
    for item in outputs:
        state, reason = sends.get(item["name"], ("", ""))
        if state not in ("sent", "partial", "skipped"):
            return False
        if state == "skipped" and not reason.startswith(NO_RECIPIENTS):
            continue  # skipped by a send rule on this window's figures, which stay as they were
        try:
            wanted = recipients_of(preset, item.get("group")).envelope()
        except DeliveryError:
            return False  # the group is gone from the config: let the full run say so
        span = item.get("window") or [window.start.isoformat(), window.end.isoformat()]
        own = Window(date.fromisoformat(span[0]), date.fromisoformat(span[1]))
        if ledger.pending_recipients(item["name"], own, wanted):
            return False
    return bool(outputs)


def execute(
    config: Config,
    preset_name: str,
    *,
    as_of: date,
    trigger: str,
    ledger: Ledger,
    fired: datetime | None = None,
    build_fn: BuildFn | None = None,
    mailer: Mailer | None = None,
    send: bool = True,
    dry_run: bool = False,
    out_dir: Path | None = None,
    rebuild: bool = False,
    progress: bool = False,
    wait: float = 0.0,
    cancelled: Callable[[], bool] | None = None,
) -> RunOutcome:
    """Build (or reuse) one preset's window under a ledger claim, then send its email(s)."""
    # Raises RunBusy when another live process still holds the window after ``wait`` seconds,
    # the build's ReportgenError when it fails (recorded failed) and DeliveryError when an
    # email could not go out.
    preset = config.select([preset_name])[0]
    window = preset.window_for(as_of)
    started = time.monotonic()
    if send and not dry_run and not rebuild and _already_done(ledger, preset, window):
        logger.info("%s %s: already built and sent; nothing to do", preset.name, window.label())
        return RunOutcome(preset.name, window, as_of, "done")
    with ledger.claim(
        preset.name, window, as_of, trigger, fired=fired, wait=wait, cancelled=cancelled
    ) as claim:
        outputs = None if rebuild else _reuse_stored(preset, window, as_of, claim)
        built = outputs is None
        if outputs is None:
            outputs = _build(config, preset, window, as_of, trigger, claim, build_fn, progress)
        outcome = RunOutcome(preset.name, window, as_of, "succeeded", built=built)
        errors: list[str] = []
        if send:
            errors = _send_all(config, preset, outputs, outcome, ledger, mailer, dry_run, out_dir)
        outcome.seconds = time.monotonic() - started
        _finish(claim, outcome, errors)
    return outcome


def _reuse_stored(
    preset: Preset, window: Window, as_of: date, claim: Claim
) -> list[PresetOutput] | None:
    """Return the build a previous run of this window left, if all its files are still there."""
    outputs = load_stored(preset, window, as_of, claim.built_files)
    if outputs:
        logger.info("%s %s: reusing the build from run %s", preset.name, window.label(), claim.id)
    return outputs


def _build(
    config: Config,
    preset: Preset,
    window: Window,
    as_of: date,
    trigger: str,
    claim: Claim,
    build_fn: BuildFn | None,
    progress: bool,
) -> list[Any]:
    """Build the preset's window and record its files on the claim."""
    logger.info("%s %s: building (as of %s, %s)", preset.name, window.label(), as_of, trigger)
    outputs = (build_fn or default_build)(
        config, presets=[preset.name], as_of=as_of, progress=progress
    )
    claim.record_files(files_record(outputs))
    return outputs


def _send_all(
    config: Config,
    preset: Preset,
    outputs: list[Any],
    outcome: RunOutcome,
    ledger: Ledger,
    mailer: Mailer | None,
    dry_run: bool,
    out_dir: Path | None,
) -> list[str]:
    """Send each output's email, adding each result to ``outcome``; return the failures."""
    errors: list[str] = []
    for out in outputs:
        try:
            outcome.sends.append(
                deliver(
                    config,
                    preset,
                    out,
                    ledger=ledger,
                    mailer=mailer,
                    dry_run=dry_run,
                    out_dir=out_dir,
                )
            )
        except DeliveryError as exc:
            # One group's failure must not keep the other groups' emails back.
            errors.append(str(exc))
    return errors


def _finish(claim: Claim, outcome: RunOutcome, errors: list[str]) -> None:
    """Close the claim as succeeded, or as failed and raise DeliveryError naming the errors."""
    if errors:
        outcome.state, outcome.error = "failed", "; ".join(errors)
        claim.finish("failed", f"delivery: {outcome.error}")
        raise DeliveryError(outcome.error)
    claim.finish("succeeded")
