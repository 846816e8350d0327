#!/usr/bin/env bash
# Run every check: lint, format, types, tests. Extra arguments go to pytest (e.g. -k config).
set -euo pipefail
cd "$(dirname "$0")"
.venv/bin/ruff check reportgen tests bench
.venv/bin/ruff format --check reportgen tests bench
.venv/bin/mypy  # configured in pyproject.toml [tool.mypy]
.venv/bin/python -m pytest "$@"
