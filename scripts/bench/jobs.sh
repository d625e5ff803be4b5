#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Queue-runtime benchmark (worker/examples/bench_jobs.rs): noop jobs through
# the real ledger, transport and workers. SQLite always; PostgreSQL too with
# --pg or when KILN_TEST_PG_URL is set (a scratch database is created and
# dropped). Figures go in notes, never in tests.
#
#   scripts/bench/jobs.sh [--pg] [-- extra bench_jobs args, e.g. --jobs 5000 --concurrency 16]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

pg=false
[[ -n ${KILN_TEST_PG_URL:-} ]] && pg=true
extra=()
while (($#)); do
  case $1 in
    --pg) pg=true ;;
    --no-pg) pg=false ;;
    --) shift; extra=("$@"); break ;;
    *) die "usage: $0 [--pg|--no-pg] [-- bench_jobs args]" ;;
  esac
  shift
done

cd "$KILN_ROOT"
log "building bench_jobs (release)"
cargo build --locked --release -q -p kiln-worker --example bench_jobs
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
bench="$target_dir/release/examples/bench_jobs"

log "SQLite (fresh temporary file)"
timeout 900 "$bench" "${extra[@]}"

if $pg; then
  source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"
  ensure_postgres
  db="kiln_bench_$(date +%s)_$$"
  base=${KILN_TEST_PG_URL%/*}
  psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $db" >/dev/null
  trap 'psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true' EXIT
  log "PostgreSQL (scratch database $db)"
  timeout 900 "$bench" --database-url "$base/$db" "${extra[@]}"
fi
