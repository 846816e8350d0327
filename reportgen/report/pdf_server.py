"""What the PDF workers' fork server loads before it forks them (see render.PdfRenderer).

Only that server imports this module. It lowers the server's priority first, so that loading
WeasyPrint (0.3-0.4 s, see weasy.py) takes the core the build's own process does not need, not
the one it is importing and computing on; every worker forked from the server inherits the
priority, which only matters while the build's process has work of its own.
"""

from __future__ import annotations

import os

#: How much lower than the build's process the PDF workers run (nice increment, 0-19).
NICENESS = 5

os.nice(NICENESS)

from reportgen.report import weasy  # noqa: E402

weasy.load()  # the point of the server: WeasyPrint loaded once, shared by the forks

from reportgen.report import render  # noqa: E402,F401 - what the workers run
