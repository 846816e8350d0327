"""The run ledger's tables: the schema, the states a row may hold, and the rows as dataclasses.

Beside them the ledger's clock (``utcnow``) and the forms times and recipients are stored in.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from reportgen.model import Window

RUN_STATES = ("running", "succeeded", "failed", "skipped", "crashed")
TRIGGERS = ("scheduled", "manual", "catch-up")
DELIVERY_STATES = ("sent", "refused", "failed")
#: Delivery states that are final: such a recipient is never sent the same window again.
DONE = ("sent", "refused")

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    preset TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    as_of TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN {RUN_STATES}),
    started TEXT,
    ended TEXT,
    pid INTEGER,
    error TEXT,
    files TEXT,
    trigger TEXT NOT NULL CHECK (trigger IN {TRIGGERS}),
    fired TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    UNIQUE (preset, window_start, window_end)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id INTEGER PRIMARY KEY,
    preset TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    recipient TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN {DELIVERY_STATES}),
    at TEXT NOT NULL,
    message_id TEXT,
    error TEXT,
    attempts INTEGER NOT NULL DEFAULT 1,
    UNIQUE (preset, window_start, window_end, recipient)
);
CREATE TABLE IF NOT EXISTS sends (
    preset TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT,
    at TEXT NOT NULL,
    UNIQUE (preset, window_start, window_end)
);
CREATE TABLE IF NOT EXISTS cursors (
    preset TEXT PRIMARY KEY,
    last_fire TEXT NOT NULL,
    updated TEXT NOT NULL
);
"""


@dataclass
class Run:
    """One row of the ``runs`` table."""

    id: int
    preset: str
    window: Window
    as_of: date
    state: str
    started: str | None
    ended: str | None
    pid: int | None
    error: str | None
    files: dict[str, Any] | None
    trigger: str
    fired: str | None
    attempts: int


@dataclass
class Delivery:
    """One row of the ``deliveries`` table."""

    preset: str
    window: Window
    recipient: str
    state: str
    at: str
    message_id: str | None
    error: str | None
    attempts: int


def utcnow() -> datetime:
    """Return the current time, timezone-aware in UTC."""
    return datetime.now(UTC)


def iso_utc(when: datetime) -> str:
    """Return ``when`` in UTC as ISO 8601 text to the second."""
    return when.astimezone(UTC).isoformat(timespec="seconds")


def recipient_key(address: str) -> str:
    """Return the key a recipient's deliveries are recorded under."""
    # Mail systems treat addresses case-insensitively in practice; one key per mailbox.
    return address.strip().lower()


def output_names(run: Run) -> list[str]:
    """Return the names a run's emails are recorded under: its outputs' (groups'), or its own."""
    outputs = (run.files or {}).get("outputs") or []
    return [o["name"] for o in outputs] or [run.preset]


def run_from_row(row: sqlite3.Row) -> Run:
    """Return the run a ledger row records."""
    return Run(
        id=row["id"],
        preset=row["preset"],
        window=Window(
            date.fromisoformat(row["window_start"]), date.fromisoformat(row["window_end"])
        ),
        as_of=date.fromisoformat(row["as_of"]),
        state=row["state"],
        started=row["started"],
        ended=row["ended"],
        pid=row["pid"],
        error=row["error"],
        files=json.loads(row["files"]) if row["files"] else None,
        trigger=row["trigger"],
        fired=row["fired"],
        attempts=row["attempts"],
    )


def delivery_from_row(row: sqlite3.Row) -> Delivery:
    """Return the delivery a ledger row records."""
    return Delivery(
        preset=row["preset"],
        window=Window(
            date.fromisoformat(row["window_start"]), date.fromisoformat(row["window_end"])
        ),
        recipient=row["recipient"],
        state=row["state"],
        at=row["at"],
        message_id=row["message_id"],
        error=row["error"],
        attempts=row["attempts"],
    )
