"""The URL fetcher of PDF layout: data: URIs and files under the allowed folders, nothing else."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import url2pathname

from reportgen.report import weasy

#: Refusals keep the logger name of render.py, where PDFs are laid out: log filters and tests
#: select them by it.
logger = logging.getLogger("reportgen.report.render")


@lru_cache(maxsize=1)
def _safe_fetcher_class() -> type:
    """Return the fetcher class, built on first use (importing WeasyPrint: see weasy.py)."""
    weasy.load()
    import weasyprint  # loaded just above: this only names it

    class SafeFetcher(weasyprint.URLFetcher):
        """Fetch only data: URIs and files under the allowed folders; refuse everything else."""

        def __init__(self, allowed: Iterable[Path]) -> None:
            super().__init__(allowed_protocols=("file", "data"), allow_redirects=False, timeout=5)
            self.allowed = [Path(p).resolve() for p in allowed]

        def fetch(self, url: str, headers: Any = None) -> Any:
            if self.permits(url):
                return super().fetch(url, headers)
            # WeasyPrint turns this into a "failed to load" warning and renders without it.
            logger.warning("refused to fetch %s while rendering the PDF", url[:200])
            raise ValueError(f"reportgen refuses to fetch {url[:200]}")

        def permits(self, url: str) -> bool:
            parts = urlsplit(url)
            scheme = parts.scheme.lower()
            if scheme == "data":
                return True
            if scheme != "file" or parts.netloc not in ("", "localhost"):
                return False
            path = Path(url2pathname(parts.path)).resolve()
            return any(path.is_relative_to(d) for d in self.allowed)

    return SafeFetcher


def safe_fetcher(allowed: Iterable[Path]) -> Any:
    """Return a WeasyPrint URL fetcher limited to data: URIs and files under ``allowed``."""
    return _safe_fetcher_class()(allowed)
