#!/usr/bin/env bash
# Vendor the plotly.js partial bundle that report.html inlines: plotly.js-basic-dist-min (the
# scatter, bar and pie traces) from the npm registry, at exactly the plotly.js version that the
# installed plotly.py targets. Run after upgrading plotly; commit reportgen/assets/ with it.
#   scripts/update-plotly-bundle.sh            fetch, verify the registry's sha512, install
# tests/test_render.py checks the version and that every trace type our charts draw is in it.
set -euo pipefail
cd "$(dirname "$0")/.."
PACKAGE=plotly.js-basic-dist-min
FILE=plotly-basic.min.js
DEST=reportgen/assets

version=$(.venv/bin/python -c 'from plotly.offline import get_plotlyjs_version as v; print(v())')
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The registry's published integrity (sha512 of the tarball) is checked against the download,
# and the file's own banner against the version asked for.
expected=$(npm view "$PACKAGE@$version" dist.integrity)
[ -n "$expected" ] || { echo "npm has no $PACKAGE@$version" >&2; exit 1; }
(cd "$work" && npm pack --silent "$PACKAGE@$version" >/dev/null)
tarball="$work/$PACKAGE-$version.tgz"
actual="sha512-$(openssl dgst -sha512 -binary "$tarball" | base64 -w0)"
if [ "$actual" != "$expected" ]; then
  echo "integrity mismatch for $PACKAGE@$version: registry $expected, download $actual" >&2
  exit 1
fi
tar -xzf "$tarball" -C "$work" package/$FILE package/LICENSE
head -c 200 "$work/package/$FILE" | grep -q "v$version\b" || {
  echo "$FILE does not say v$version in its banner" >&2
  exit 1
}
install -m 0644 "$work/package/$FILE" "$DEST/$FILE"
install -m 0644 "$work/package/LICENSE" "$DEST/plotly-LICENSE.txt"
printf '%s@%s %s\n' "$PACKAGE" "$version" "$expected" >"$DEST/plotly-bundle.txt"
echo "installed $DEST/$FILE ($PACKAGE@$version, $(wc -c <"$DEST/$FILE") bytes)"
