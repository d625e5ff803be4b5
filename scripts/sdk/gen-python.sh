#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Generates the Python SDK (sdk/python, package kiln_client) from
# openapi/openapi.json with the pinned openapi-python-client and ruff of
# sdk/python-gen/requirements.lock, configured by sdk/python-gen/config.yaml.
# sdk/python is generated output only: never edit it by hand.
#
#   scripts/sdk/gen-python.sh          # regenerate sdk/python in place
#   scripts/sdk/gen-python.sh --check  # fail (with a diff) when sdk/python is stale
#
# The tools are installed once into a virtualenv under
# ${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/python/.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/python-lib.sh"

check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) die "usage: $0 [--check]" ;;
esac

cd "$KILN_ROOT"
doc=openapi/openapi.json
[[ -f $doc ]] || die "$doc is missing"

venv=$(kiln_python_venv gen sdk/python-gen/requirements.lock)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

log "generating the Python SDK from $doc ($("$venv/bin/openapi-python-client" --version), $("$venv/bin/ruff" --version))"
# The generator formats its output with the `ruff` it finds on PATH (its
# post hooks): put the pinned one first. No ruff cache in the output.
# --fail-on-warning: a schema or operation the generator cannot express
# is a problem of the document, to be fixed in the Rust code.
if ! PATH="$venv/bin:$PATH" RUFF_NO_CACHE=true "$venv/bin/openapi-python-client" generate \
  --path "$doc" \
  --config sdk/python-gen/config.yaml \
  --meta uv \
  --output-path "$tmp/python" \
  --fail-on-warning >"$tmp/generate.log" 2>&1; then
  cat "$tmp/generate.log" >&2
  die "openapi-python-client failed or warned on $doc (see above); fix the document, not the generated code"
fi
[[ -f $tmp/python/pyproject.toml && -d $tmp/python/kiln_client ]] ||
  die "openapi-python-client wrote no kiln_client package (log: $(cat "$tmp/generate.log"))"

if ! $check; then
  rm -rf sdk/python
  mkdir -p sdk
  cp -R "$tmp/python" sdk/python
  log "wrote sdk/python"
  exit 0
fi

[[ -d sdk/python ]] || die "sdk/python is missing: run scripts/sdk/gen-python.sh and commit sdk/python"
# Leave out what Python and the tests leave in a checkout (ignored by git).
if ! diff -ru --exclude=__pycache__ --exclude='*.egg-info' --exclude=build --exclude=dist \
  sdk/python "$tmp/python" >&2; then
  die "the Python SDK is out of date with $doc: run scripts/sdk/gen-python.sh and commit sdk/python"
fi
log "sdk/python matches $doc"
