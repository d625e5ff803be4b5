#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Regenerates the client SDKs in sdk/ from openapi/openapi.json with their
# pinned generators: TypeScript (openapi-typescript), Python
# (openapi-python-client) and Rust (progenitor). See docs/sdks.md.
#
#   scripts/gen-sdk.sh                   # rewrite every SDK
#   scripts/gen-sdk.sh --check           # fail (with a diff) when one is stale
#   scripts/gen-sdk.sh typescript        # one SDK (typescript, python, rust)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

check=()
langs=()
for arg in "$@"; do
  case $arg in
    --check) check=(--check) ;;
    typescript | python | rust) langs+=("$arg") ;;
    *) die "usage: $0 [--check] [typescript|python|rust]..." ;;
  esac
done
((${#langs[@]})) || langs=(typescript python rust)

failed=()
for lang in "${langs[@]}"; do
  log "SDK: $lang ${check[*]}"
  "$KILN_ROOT/scripts/sdk/gen-$lang.sh" "${check[@]}" || failed+=("$lang")
done
# SDK version = API version (docs/sdks.md): the document's info.version.
# The Python and Rust SDKs take it from the generator and the workspace; the
# TypeScript package.json is written by hand, so it is checked here.
api_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["info"]["version"])' "$KILN_ROOT/openapi/openapi.json")
ts_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$KILN_ROOT/sdk/typescript/package.json")
if [[ $ts_version != "$api_version" ]]; then
  printf 'sdk/typescript/package.json says version %s, the document %s\n' "$ts_version" "$api_version" >&2
  failed+=(sdk/typescript/package.json)
fi
grep -qx "version = \"$api_version\"" "$KILN_ROOT/sdk/python/pyproject.toml" || failed+=(sdk/python/pyproject.toml)

((${#failed[@]} == 0)) || die "SDK generation failed or is stale for: ${failed[*]} (run scripts/gen-sdk.sh and commit)"
log "SDKs: ${langs[*]} ${check[*]:+up to date}"
