"""Run the command line: ``python -m reportgen``."""

from __future__ import annotations

from reportgen.cli import main

raise SystemExit(main())
