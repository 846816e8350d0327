"""Metrics stage: KPIs, breakdowns, payouts and ROAS (engine), KPI specs and the headline."""

from __future__ import annotations
