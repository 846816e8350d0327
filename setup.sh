#!/usr/bin/env bash
# Set up reportgen on a fresh Debian/Ubuntu machine and build the default reports.
#   ./setup.sh             virtualenv + packages + Chromium (if none) + build the default reports
#   ./setup.sh --no-build  the same without the build (CI uses this)
set -euo pipefail
cd "$(dirname "$0")"

PY=${PYTHON:-python3}
# A .venv without pip (left by a `python3 -m venv` that failed for lack of ensurepip) is
# recreated rather than trusted.
if [ -x .venv/bin/python ] && ! .venv/bin/python -m pip --version >/dev/null 2>&1; then
  echo "recreating .venv (it has no pip)"
  rm -rf .venv
fi

# System packages: Chromium for chart export (kaleido) and browser tests, fonts and Pango for
# WeasyPrint, and venv support for Debian's own Python. Installed only when missing.
need=()
if [ ! -x .venv/bin/python ] && ! "$PY" -c "import ensurepip, venv" >/dev/null 2>&1; then
  need+=("python3-venv")  # Debian splits venv/ensurepip out of python3
fi
command -v chromium >/dev/null 2>&1 || command -v google-chrome >/dev/null 2>&1 || need+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
ldconfig -p 2>/dev/null | grep -q libpangoft2-1.0 || need+=(libpango-1.0-0 libpangoft2-1.0-0)
command -v pdftoppm >/dev/null 2>&1 || need+=(poppler-utils)
# Chromium's headless shell draws the same charts and starts faster (README, Performance);
# Debian ships it, other systems may not: optional, full Chromium is used without it.
want=()
command -v chromium-headless-shell >/dev/null 2>&1 || command -v chrome-headless-shell \
  >/dev/null 2>&1 || want+=(chromium-headless-shell)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
updated=""
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}"
  $SUDO apt-get update -qq
  updated=1
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if [ ${#want[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1; then
  if { [ -n "$updated" ] || $SUDO apt-get update -qq; } >/dev/null 2>&1 \
    && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${want[@]}" >/dev/null 2>&1
  then
    echo "installed ${want[*]} (faster chart export)"
  else
    echo "note: could not install ${want[*]}; charts are drawn with full Chromium"
  fi
fi

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# Exact tested versions (constraints.txt; refresh with scripts/refresh-constraints.sh), so a
# fresh machine next month gets the duckdb, ibis and pandas the tests passed with.
.venv/bin/python -m pip install -q -c constraints.txt -e '.[dev]'

if [ "${1:-}" != "--no-build" ]; then
  .venv/bin/reportgen build
  echo "open output/index.html"
fi
