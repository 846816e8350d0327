"""Report stage: charts, chart export, HTML/PDF rendering, formatting, summary and publishing."""

from __future__ import annotations
