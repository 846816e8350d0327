"""Import WeasyPrint without running the C compiler to find its libraries.

WeasyPrint looks for GObject, Pango, HarfBuzz and fontconfig under several names each, the
Windows and macOS names first. cffi hands every name without a dot to
``ctypes.util.find_library``, which on Linux reads ``ldconfig -p`` and, when the name is not
there, runs gcc and then ld to look for it: 54 processes for one import, which took 0.68 s
of wall time against 0.37-0.42 s with the linker cache alone (measured here). In a build that
import happens on the core the build's own process does not need, but that core is busy too.

So on Linux, the first import asks the linker cache only. Should that miss a library (one
found only on ``LD_LIBRARY_PATH`` or by gcc's own search), the import is tried once more with
the full search, as WeasyPrint would do on its own.
"""

from __future__ import annotations

import contextlib
import ctypes.util
import io
import logging
import sys
import threading
from collections.abc import Callable, Iterator
from types import ModuleType

logger = logging.getLogger(__name__)

#: One import at a time: a module being imported is in ``sys.modules`` before it is whole.
_LOCK = threading.Lock()


def load() -> ModuleType:
    """Return the weasyprint module, importing it (cheaply on Linux) the first time."""
    with _LOCK:
        loaded = sys.modules.get("weasyprint")
        return loaded if loaded is not None else _import()


def _import() -> ModuleType:
    """Import WeasyPrint from the linker cache, or with the full search when that misses."""
    cache_only = getattr(ctypes.util, "_findSoname_ldconfig", None)  # CPython's, on Linux
    if sys.platform == "linux" and cache_only is not None:
        try:
            # On a miss WeasyPrint prints its installation help before it raises: not yet. Only
            # stdout is held, for a moment; reportgen's own messages go to stderr.
            with _find_library(cache_only), contextlib.redirect_stdout(io.StringIO()):
                import weasyprint
            return weasyprint
        except OSError as error:
            logger.debug("WeasyPrint's libraries are not all in the linker cache: %s", error)
            for name in [m for m in sys.modules if m.partition(".")[0] == "weasyprint"]:
                del sys.modules[name]  # half-imported: the next import starts afresh
    import weasyprint

    return weasyprint


@contextlib.contextmanager
def _find_library(find: Callable[[str], str | None]) -> Iterator[None]:
    """Let ``ctypes.util.find_library`` be ``find`` while the block runs."""
    original = ctypes.util.find_library
    ctypes.util.find_library = find  # type: ignore[assignment]  # a module function, replaced
    try:
        yield
    finally:
        ctypes.util.find_library = original
