#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Kiln's whole test suite: every crate, every target, against real PostgreSQL
# and Redis (started, or installed with apt-get, when missing), then the
# TypeScript and Python SDKs end to end against a live `kiln serve` (Node.js
# and Python 3.11+ needed; their packages are installed into
# ${KILN_SDK_CACHE:-~/.cache/kiln-sdk} when missing), and the operator
# console in Debian's chromium (installed with apt-get when missing).
#
#   scripts/test.sh                    # everything
#   scripts/test.sh -p kiln-jobs       # extra arguments go to `cargo test`
#
# Environment: KILN_TEST_PG_URL (admin URL the tests create their databases
# through; default postgres://postgres@127.0.0.1:5432/postgres) and
# KILN_TEST_REDIS_URL (default redis://127.0.0.1:6379). The webhook interop
# test runs Python's `standardwebhooks` (installed from PyPI into a virtualenv).
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/services.sh"

ensure_postgres
ensure_redis
ensure_s3
ensure_standardwebhooks
drop_stale_test_databases

cd "$KILN_ROOT"
log "cargo test --workspace --all-targets --locked $*"
output=$(mktemp)
trap 'rm -f "$output"' EXIT
status=0
cargo test --workspace --all-targets --locked "$@" 2>&1 | tee "$output" || status=$?

# The TypeScript and Python SDKs, end to end against the kiln binary the test
# build just made (the Rust SDK's tests ran above, in tests/it/sdk_rust.rs),
# and the Rust SDK README's examples (doctests, which --all-targets leaves
# out). Only on a whole-suite run: with a filter the binary may not be rebuilt.
if (($# == 0)); then
  log "cargo test --doc -p kiln-client (the Rust SDK's README examples)"
  cargo test --doc --locked -p kiln-client 2>&1 | tee -a "$output" || status=$?
  kiln_bin=${CARGO_TARGET_DIR:-$KILN_ROOT/target}/debug/kiln
  if [[ -x $kiln_bin ]]; then
    for sdk in typescript python; do
      log "SDK end-to-end tests: $sdk"
      KILN_BIN=$kiln_bin "$KILN_ROOT/scripts/sdk/test-$sdk.sh" 2>&1 | tee -a "$output" || status=1
    done
    log "operator console in chromium (playwright-core)"
    KILN_BIN=$kiln_bin "$KILN_ROOT/scripts/console/test.sh" 2>&1 | tee -a "$output" || status=1
  else
    warn "no kiln binary at $kiln_bin: the SDK end-to-end tests did not run"
    status=1
  fi
fi
# Several test binaries each close with their own line (some, like examples,
# hold no tests); end with one total so the last line tells the whole story.
awk '/^(test result:|typescript:|python-sdk:|console:)/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed[;,]?$/) p += $(i-1); if ($(i) ~ /^failed[;,]?$/) f += $(i-1) } }
     END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$output"
exit "$status"
