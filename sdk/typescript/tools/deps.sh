# shellcheck shell=bash
# Sourced by scripts/sdk/gen-typescript.sh and scripts/sdk/test-typescript.sh
# (after scripts/lib/common.sh). Defines ts_sdk_deps, which installs the
# packages pinned by sdk/typescript/package-lock.json (openapi-typescript,
# openapi-fetch, typescript, @types/node) into the SDK cache once, with
# `npm ci`, and links sdk/typescript/node_modules to that install.

TS_SDK_DIR="$KILN_ROOT/sdk/typescript"
TS_SDK_CACHE="${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/typescript"

# The exact versions package.json pins; checked against what npm installed.
TS_SDK_PINS=(openapi-typescript@7.13.0 openapi-fetch@0.17.0 typescript@5.9.3 @types/node@20.19.43)

ts_sdk_require_node() {
  have node || die "node is not installed: the TypeScript SDK needs Node.js 20 or newer (and npm)"
  have npm || die "npm is not installed: the TypeScript SDK needs it to install its pinned packages"
  local major
  major=$(node -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "Node.js $(node --version) is too old: the TypeScript SDK needs 20 or newer"
}

# Succeeds when every pinned package is installed at its pinned version in $1;
# otherwise says what is wrong (on stderr) and fails.
ts_sdk_pins_ok() {
  local modules=$1 pin name want got
  for pin in "${TS_SDK_PINS[@]}"; do
    name=${pin%@*}
    want=${pin##*@}
    if [[ ! -f $modules/$name/package.json ]]; then
      warn "$name is missing from $modules"
      return 1
    fi
    got=$(node -p 'require(process.argv[1]).version' "$modules/$name/package.json")
    if [[ $got != "$want" ]]; then
      warn "$name is $got in $modules, but the SDK pins $want"
      return 1
    fi
  done
}

# Installs (when missing) and links the pinned packages; prints nothing on stdout.
ts_sdk_deps() {
  ts_sdk_require_node
  local lock="$TS_SDK_DIR/package-lock.json"
  [[ -f $lock ]] || die "missing $lock"

  # A node_modules folder of the developer's own (npm ci in sdk/typescript):
  # use it only if it matches the lock file.
  if [[ -d $TS_SDK_DIR/node_modules && ! -L $TS_SDK_DIR/node_modules ]]; then
    log "using $TS_SDK_DIR/node_modules (not a link to the cache)"
    (cd "$TS_SDK_DIR" && npm ls --all >/dev/null 2>&1) ||
      die "$TS_SDK_DIR/node_modules does not match package-lock.json: remove it (the scripts then use the cache) or run 'npm ci' there"
    ts_sdk_pins_ok "$TS_SDK_DIR/node_modules" || die "$TS_SDK_DIR/node_modules does not hold the pinned versions: remove it"
    return 0
  fi

  # One install per lock file (and Node major version), shared by checkouts.
  local key dir
  key=$( (cat "$TS_SDK_DIR/package.json" "$lock"; node -p 'process.versions.node.split(".")[0]') | sha256sum | cut -c1-16)
  dir="$TS_SDK_CACHE/deps-$key"
  if [[ ! -f $dir/.complete ]] || ! ts_sdk_pins_ok "$dir/node_modules"; then
    log "installing the TypeScript SDK's pinned packages into $dir"
    mkdir -p "$TS_SDK_CACHE" || die "cannot create $TS_SDK_CACHE"
    local tmp
    tmp=$(mktemp -d "$TS_SDK_CACHE/.install.XXXXXX")
    cp "$TS_SDK_DIR/package.json" "$lock" "$tmp/"
    if ! (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2); then
      rm -rf "$tmp"
      die "npm ci failed for the TypeScript SDK (is the npm registry reachable?)"
    fi
    ts_sdk_pins_ok "$tmp/node_modules" || die "npm ci did not install the pinned versions (see above)"
    touch "$tmp/.complete"
    rm -rf "$dir"
    mv -T "$tmp" "$dir" 2>/dev/null || rm -rf "$tmp" # lost a race with another install: keep theirs
    [[ -f $dir/.complete ]] || die "installing into $dir failed"
  fi
  ts_sdk_pins_ok "$dir/node_modules" || die "the cached install in $dir is broken (see above)"
  ln -sfn "$dir/node_modules" "$TS_SDK_DIR/node_modules"
}
