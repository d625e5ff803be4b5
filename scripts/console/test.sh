#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..
# The operator console in a real browser: playwright-core (pinned in
# scripts/console/package-lock.json, installed into the SDK cache) drives
# Debian's chromium (installed with apt-get when missing) against a live
# embedded `kiln serve` that the test starts.
#
#   KILN_BIN=target/debug/kiln scripts/console/test.sh
#
# Screenshots go to ${KILN_CONSOLE_SCREENSHOTS:-<target>/console-screenshots}.
# The last line says how many tests passed and failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

[[ -n ${KILN_BIN:-} ]] || die "KILN_BIN is not set: point it at a kiln binary (e.g. KILN_BIN=target/debug/kiln)"
[[ -x $KILN_BIN ]] || die "KILN_BIN=$KILN_BIN is not an executable file"
KILN_BIN=$(cd "$(dirname "$KILN_BIN")" && pwd)/$(basename "$KILN_BIN")

CHROMIUM=${KILN_CHROMIUM:-/usr/bin/chromium}
if [[ ! -x $CHROMIUM ]]; then
  apt_install chromium
fi
[[ -x $CHROMIUM ]] || die "no chromium at $CHROMIUM"

src=$KILN_ROOT/scripts/console
CACHE=${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/console
if ! cmp -s "$src/package-lock.json" "$CACHE/package-lock.json" || [[ ! -d $CACHE/node_modules/playwright-core ]]; then
  log "installing playwright-core (scripts/console/package-lock.json) into $CACHE"
  rm -rf "$CACHE"
  mkdir -p "$CACHE"
  cp "$src/package.json" "$src/package-lock.json" "$CACHE/"
  (cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) || die "could not install playwright-core from npm"
fi

SHOTS=${KILN_CONSOLE_SCREENSHOTS:-${CARGO_TARGET_DIR:-$KILN_ROOT/target}/console-screenshots}
mkdir -p "$SHOTS"
tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
log "console tests in chromium ($("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")) against $KILN_BIN"
status=0
KILN_BIN=$KILN_BIN KILN_CHROMIUM=$CHROMIUM KILN_CONSOLE_SCREENSHOTS=$SHOTS KILN_ROOT=$KILN_ROOT \
  KILN_CONSOLE_DEPS=$CACHE/node_modules \
  node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "$src/console.test.mjs" || status=$?

log "screenshots in $SHOTS"
node_test_summary console "$tap" "$status" || die "console tests failed (node --test exited with $status)"
