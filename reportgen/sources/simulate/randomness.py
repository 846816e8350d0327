"""Randomness of the simulator: one seeded stream per part of the model, and vectorised draws."""

from __future__ import annotations

import zlib

import numpy as np


def seeded_rng(seed: int, stream: str) -> np.random.Generator:
    """Return an independent generator for one part of the model, derived from the seed."""
    # One stream per part keeps, say, the posts unchanged when the tracking model changes.
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, _crc(stream)])))


def _crc(text: str) -> int:
    """Return a stable 32-bit hash of text (``hash()`` is salted per process)."""
    return zlib.crc32(text.encode("utf-8"))


def lognormal(rng: np.random.Generator, sigma: float, size: int | tuple[int, ...]) -> np.ndarray:
    """Draw lognormal noise with median 1."""
    return np.exp(rng.normal(0.0, sigma, size))


def pick_index(rng: np.random.Generator, cum: np.ndarray) -> np.ndarray:
    """Draw one index per row from row-wise cumulative probabilities (n, k)."""
    u = rng.random(cum.shape[0]) * cum[:, -1]
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)


def multinomial(rng: np.random.Generator, n: int, weights: np.ndarray) -> np.ndarray:
    """Split exactly n draws over cells in proportion to weights."""
    total = weights.sum()
    if n == 0 or total <= 0:
        return np.zeros(len(weights), np.int64)
    return rng.multinomial(n, weights / total)
