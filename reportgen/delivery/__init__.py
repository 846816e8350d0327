"""Delivery stage: email delivery, the run ledger and manual builds."""

from __future__ import annotations
