"""reportgen: scheduled static reports for influencer-marketing analytics."""

from __future__ import annotations

__version__ = "0.1.0"
