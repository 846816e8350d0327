"""Run the command line: ``python -m reportgen``."""

from __future__ import annotations

from reportgen.cli import run

if __name__ == "__main__":  # not when a PDF worker process imports this as its parent's main
    run()
