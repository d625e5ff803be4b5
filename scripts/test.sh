#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Kiln's whole test suite: every crate, every target, against real PostgreSQL
# and Redis (started, or installed with apt-get, when missing).
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
ensure_standardwebhooks
drop_stale_test_databases

cd "$KILN_ROOT"
log "cargo test --workspace --all-targets --locked $*"
output=$(mktemp)
trap 'rm -f "$output"' EXIT
status=0
cargo test --workspace --all-targets --locked "$@" 2>&1 | tee "$output" || status=$?
# Several test binaries each close with their own line (some, like examples,
# hold no tests); end with one total so the last line tells the whole story.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;?$/) p += $(i-1); if ($(i) ~ /^failed;?$/) f += $(i-1) } }
     END { printf "\ntotal: %d passed, %d failed\n", p, f }' "$output"
exit "$status"
