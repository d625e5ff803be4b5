#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Generates the TypeScript SDK's types, sdk/typescript/src/schema.d.ts, from
# openapi/openapi.json with openapi-typescript (pinned in
# sdk/typescript/package-lock.json, installed into the SDK cache when missing).
#
#   scripts/sdk/gen-typescript.sh          # rewrite sdk/typescript/src/schema.d.ts
#   scripts/sdk/gen-typescript.sh --check  # fail (with a diff) when it is stale
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
# shellcheck source=../../sdk/typescript/tools/deps.sh
source "$KILN_ROOT/sdk/typescript/tools/deps.sh"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) die "usage: $0 [--check]" ;;
esac

doc="$KILN_ROOT/openapi/openapi.json"
out="$TS_SDK_DIR/src/schema.d.ts"
[[ -s $doc ]] || die "missing $doc (scripts/gen-openapi.sh writes it)"

ts_sdk_deps

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "generating TypeScript types with openapi-typescript from openapi/openapi.json"
(cd "$TS_SDK_DIR" && node tools/generate.mjs "$doc" "$tmp/schema.d.ts") ||
  die "openapi-typescript failed on openapi/openapi.json"
[[ -s $tmp/schema.d.ts ]] || die "openapi-typescript wrote nothing"

if ! $check; then
  mkdir -p "$(dirname "$out")"
  cp "$tmp/schema.d.ts" "$out"
  log "wrote sdk/typescript/src/schema.d.ts"
  exit 0
fi

if [[ ! -f $out ]]; then
  die "sdk/typescript/src/schema.d.ts is missing: run scripts/sdk/gen-typescript.sh"
fi
if ! diff -u "$out" "$tmp/schema.d.ts" >&2; then
  die "sdk/typescript/src/schema.d.ts is stale: run scripts/sdk/gen-typescript.sh and commit the result"
fi
log "sdk/typescript/src/schema.d.ts is up to date"
