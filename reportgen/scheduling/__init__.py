"""Scheduling stage: the scheduler, its cron triggers and the locks."""

from __future__ import annotations
