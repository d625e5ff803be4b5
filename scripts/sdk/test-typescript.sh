#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Type-checks the TypeScript SDK (tsc --noEmit, strict) and runs its end-to-end
# tests (node --test) against a live embedded `kiln serve` that the tests start.
#
#   KILN_BIN=target/debug/kiln scripts/sdk/test-typescript.sh [node --test options]
#
# Installs the pinned packages into the SDK cache when missing. Exits non-zero
# on any failure; the last line says how many tests passed and failed.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=../../sdk/typescript/tools/deps.sh
source "$KILN_ROOT/sdk/typescript/tools/deps.sh"

[[ -n ${KILN_BIN:-} ]] || die "KILN_BIN is not set: point it at a kiln binary (e.g. KILN_BIN=target/debug/kiln)"
[[ -f $KILN_BIN && -x $KILN_BIN ]] || die "KILN_BIN=$KILN_BIN is not an executable file"
KILN_BIN=$(cd "$(dirname "$KILN_BIN")" && pwd)/$(basename "$KILN_BIN")
export KILN_BIN KILN_ROOT

ts_sdk_deps
cd "$TS_SDK_DIR"

log "type-checking the TypeScript SDK and its tests (tsc --noEmit, strict)"
./node_modules/.bin/tsc --noEmit -p tsconfig.json || die "the TypeScript SDK does not type-check"

log "compiling the TypeScript SDK and its tests into sdk/typescript/dist"
rm -rf dist
./node_modules/.bin/tsc -p tsconfig.json || die "tsc failed to compile the TypeScript SDK"

log "type-checking the examples in sdk/typescript/README.md"
node tools/readme-examples.mjs || die "could not extract the README's examples"
./node_modules/.bin/tsc -p tsconfig.readme.json || die "an example in sdk/typescript/README.md does not type-check"

shopt -s nullglob
tests=(dist/test/*.test.js)
((${#tests[@]} > 0)) || die "no compiled tests in sdk/typescript/dist/test"

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
log "running the TypeScript SDK's end-to-end tests against $KILN_BIN"
status=0
node --test --test-concurrency=1 \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$tap" \
  "$@" "${tests[@]}" || status=$?

node_test_summary typescript "$tap" "$status" || die "TypeScript SDK tests failed (node --test exited with $status)"
