"""Analyses beyond last-touch: a journey simulator with known truth, attribution models and
holdout incrementality. Plain pandas/numpy in, small frames and dataclasses out."""

from __future__ import annotations
