#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Queue-runtime benchmark (worker/examples/bench_jobs.rs): noop jobs through
# the real ledger, transport and workers. SQLite always (unless --redis-only);
# PostgreSQL too with --pg or when KILN_TEST_PG_URL is set; with --redis,
# PostgreSQL ledger + Redis Streams queues (REDIS_URL or KILN_TEST_REDIS_URL,
# default redis://127.0.0.1:6379, under a throw-away key prefix). A scratch
# database is created and dropped for each PostgreSQL run. Figures go in
# notes, never in tests.
#
#   scripts/bench/jobs.sh [--pg] [--redis|--redis-only] [-- extra bench_jobs args, e.g. --jobs 5000 --concurrency 16]
#
# KILN_BENCH_BIN=path runs that bench_jobs binary instead of building one:
# build it at two commits and compare them in the same sitting.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

pg=false
[[ -n ${KILN_TEST_PG_URL:-} ]] && pg=true
redis=false
sqlite=true
extra=()
while (($#)); do
  case $1 in
    --pg) pg=true ;;
    --no-pg) pg=false ;;
    --redis) redis=true ;;
    --redis-only) redis=true; sqlite=false; pg=false ;;
    --) shift; extra=("$@"); break ;;
    *) die "usage: $0 [--pg|--no-pg] [--redis|--redis-only] [-- bench_jobs args]" ;;
  esac
  shift
done
export KILN_TEST_PG_URL=${KILN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

cd "$KILN_ROOT"
if [[ -n ${KILN_BENCH_BIN:-} ]]; then
  bench=$KILN_BENCH_BIN
  [[ -x $bench ]] || die "KILN_BENCH_BIN=$bench is not an executable"
else
  log "building bench_jobs (release)"
  cargo build --locked --release -q -p kiln-worker --example bench_jobs
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  bench="$target_dir/release/examples/bench_jobs"
fi

if $sqlite; then
  log "SQLite (fresh temporary file)"
  timeout 900 "$bench" "${extra[@]}"
fi

scratch_dbs=()
cleanup() {
  for db in "${scratch_dbs[@]}"; do
    psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT
scratch_db() {
  local db
  db="kiln_bench_$(date +%s%N)_$$"
  psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $db" >/dev/null
  scratch_dbs+=("$db")
  printf '%s/%s' "${KILN_TEST_PG_URL%/*}" "$db"
}

if $pg || $redis; then
  source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"
  ensure_postgres
fi
if $pg; then
  url=$(scratch_db)
  log "PostgreSQL (scratch database ${url##*/})"
  timeout 900 "$bench" --database-url "$url" "${extra[@]}"
fi
if $redis; then
  ensure_redis
  redis_url=${REDIS_URL:-${KILN_TEST_REDIS_URL:-redis://127.0.0.1:6379}}
  url=$(scratch_db)
  log "PostgreSQL ledger + Redis Streams queues ($redis_url, scratch database ${url##*/})"
  timeout 900 "$bench" --database-url "$url" --redis-url "$redis_url" "${extra[@]}"
fi
