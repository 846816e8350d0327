"""Analyses beyond last-touch: a journey simulator with known truth, attribution models and
holdout incrementality. Plain pandas/numpy in, small frames and dataclasses out."""

from __future__ import annotations

#: Attribution models by name, in the order reports show them (the config accepts these).
MODELS = (
    "last_touch",
    "first_touch",
    "linear",
    "time_decay",
    "position_based",
    "markov",
    "shapley",
)
