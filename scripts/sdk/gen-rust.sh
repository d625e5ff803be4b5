#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR/..
# The Rust SDK (sdk/rust, the crate kiln-client): regenerates
# sdk/rust/src/generated.rs from openapi/openapi.json with progenitor 0.15.1.
#
#   scripts/sdk/gen-rust.sh           # regenerate in place
#   scripts/sdk/gen-rust.sh --check   # regenerate into a temp file; fail with a
#                                     # diff when the checked-in file differs
#
# The generator is the small crate sdk/rust/generator (not a workspace member;
# exact version pins and its own Cargo.lock), built with `cargo --locked` in
# ${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/rust/target, so the
# workspace never compiles progenitor and its target folder is left alone.
# Its output is formatted by prettyplease, then by the rustfmt of
# rust-toolchain.toml, so the file is exactly what `cargo fmt` keeps.
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

check=false
case "${1:-}" in
  "") ;;
  --check) check=true ;;
  *) die "usage: scripts/sdk/gen-rust.sh [--check]" ;;
esac
[[ $# -le 1 ]] || die "usage: scripts/sdk/gen-rust.sh [--check]"

cd "$KILN_ROOT"
spec=openapi/openapi.json
generated=sdk/rust/src/generated.rs
manifest=sdk/rust/generator/Cargo.toml
cache="${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/rust"

have cargo || die "cargo is not installed: the Rust SDK generator needs the Rust toolchain (rustup, rust-toolchain.toml)"
have rustfmt || die "rustfmt is not installed: add the rustfmt component (rust-toolchain.toml lists it)"
[[ -f $spec ]] || die "$spec is missing: write it with scripts/gen-openapi.sh"

log "building the Rust SDK generator (progenitor 0.15.1, $manifest) in $cache/target"
mkdir -p "$cache" || die "cannot create the SDK cache folder $cache"
CARGO_TARGET_DIR="$cache/target" cargo build --quiet --locked --release --manifest-path "$manifest" ||
  die "building the Rust SDK generator failed (it needs crates.io, or the crates already in ~/.cargo)"
generator="$cache/target/release/kiln-client-generator"
[[ -x $generator ]] || die "the build did not produce $generator"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
out="$tmp/generated.rs"
"$generator" "$spec" "$out" || die "progenitor could not generate the Rust SDK from $spec (see above)"
rustfmt --edition 2024 "$out" || die "rustfmt failed on the generated code"

if $check; then
  if ! diff -u "$generated" "$out"; then
    die "$generated is not what $spec generates: run scripts/sdk/gen-rust.sh and commit the result"
  fi
  log "$generated matches $spec"
else
  cp "$out" "$generated"
  log "wrote $generated"
fi
