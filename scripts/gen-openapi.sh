#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Writes openapi/openapi.json and openapi/openapi.yaml from `kiln openapi`.
#
#   scripts/gen-openapi.sh          # rewrite the checked-in documents
#   scripts/gen-openapi.sh --check  # fail (with a diff) when they are stale
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) die "usage: $0 [--check]" ;;
esac

cd "$KILN_ROOT"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "building and running kiln openapi"
cargo run --locked -q -- openapi >"$tmp/openapi.json"
cargo run --locked -q -- openapi --yaml >"$tmp/openapi.yaml"
[[ -s $tmp/openapi.json && -s $tmp/openapi.yaml ]] || die "kiln openapi printed nothing"

if ! $check; then
  mkdir -p openapi
  cp "$tmp/openapi.json" openapi/openapi.json
  cp "$tmp/openapi.yaml" openapi/openapi.yaml
  log "wrote openapi/openapi.json and openapi/openapi.yaml"
  exit 0
fi

stale=0
for f in openapi.json openapi.yaml; do
  if [[ ! -f openapi/$f ]]; then
    printf 'openapi/%s is missing\n' "$f" >&2
    stale=1
  elif ! diff -u "openapi/$f" "$tmp/$f" >&2; then
    stale=1
  fi
done
if ((stale)); then
  die "the OpenAPI document is out of date: run scripts/gen-openapi.sh and commit openapi/"
fi
log "openapi/ matches the code"
