#!/usr/bin/env bash
# Backup, verify and restore of a ~1 GB PostgreSQL database, beside plain
# `pg_dump -Fc` to /dev/null on the same database in the same run: wall time,
# throughput (database size / time) and peak RSS. This is what docs/backups.md
# quotes as RTO.
#
#   scripts/bench/backup.sh [PGBENCH_SCALE]      # default 70 (about 1 GB)
#
# Builds a fresh database with `kiln migrate` plus `pgbench -i -s SCALE`,
# starts a release `kiln worker` on it (folder storage, no verification on
# the worker), runs `kiln backup run`, then `kiln backup verify` and
# `kiln backup restore` into a second fresh database from the CLI.
# KILN_BENCH_BIN=path/to/release/kiln skips the build; KILN_TEST_PG_URL
# names the server (default postgres://postgres@127.0.0.1:5432/postgres).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

scale=${1:-70}
ensure_postgres
have pgbench || die "pgbench is needed (Debian: postgresql-client or postgresql-contrib)"

cd "$KILN_ROOT"
kiln=$(release_kiln)

work=$(mktemp -d)
worker_pid=""
suffix="$$_$(date +%s)"
source_db="kiln_bench_backup_$suffix"
target_db="kiln_bench_restore_$suffix"
base=${KILN_TEST_PG_URL%/*}
cleanup() {
  if [[ -n $worker_pid ]] && kill -0 "$worker_pid" 2>/dev/null; then
    kill "$worker_pid" 2>/dev/null || true
    wait "$worker_pid" 2>/dev/null || true
  fi
  for db in "$source_db" "$target_db"; do
    psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $source_db" >/dev/null
psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $target_db" >/dev/null
export DATABASE_URL="$base/$source_db" STORAGE_URL="$work/objects"
export KILN__DATA_DIR="$work/data" KILN__BACKUPS__VERIFY=false RUST_LOG=${RUST_LOG:-warn}
unset REDIS_URL
"$kiln" migrate
log "pgbench -i -s $scale (about $((scale * 15)) MB)"
pgbench -i -q -s "$scale" "$DATABASE_URL" >"$work/pgbench.log" 2>&1 || die "pgbench: $(tail -5 "$work/pgbench.log")"
size=$(psql "$DATABASE_URL" -XAtqc "SELECT pg_database_size(current_database())")
log "database size: $((size / 1024 / 1024)) MB"

seconds() { python3 -c 'import sys,time; print(f"{time.time()-float(sys.argv[1]):.2f}")' "$1"; }
now() { python3 -c 'import time; print(time.time())'; }

log "baseline: pg_dump -Fc > /dev/null"
t0=$(now)
pg_dump -Fc -d "$DATABASE_URL" >/dev/null
dump_s=$(seconds "$t0")

port=$(free_port)
KILN__WORKER__LISTEN="127.0.0.1:$port" "$kiln" worker >"$work/worker.log" 2>&1 &
worker_pid=$!
wait_until 60 "kiln worker on $port" curl -fsS "http://127.0.0.1:$port/health/ready" ||
  die "kiln worker did not become ready; log: $(tail -20 "$work/worker.log")"
base_rss=$(awk '/VmHWM/ {print $2}' "/proc/$worker_pid/status")

log "kiln backup run (through the worker)"
t0=$(now)
"$kiln" backup run --no-encrypt --wait-secs 7200 >"$work/run.log"
backup_s=$(seconds "$t0")
worker_rss=$(awk '/VmHWM/ {print $2}' "/proc/$worker_pid/status")
id=$(awk 'NR == 1 {print $2}' "$work/run.log")
stored=$(psql "$DATABASE_URL" -XAtqc "SELECT size_bytes FROM backups WHERE id = '$id'")

log "kiln backup verify $id (scratch database, from the CLI)"
t0=$(now)
/usr/bin/time -f '%M' -o "$work/verify.rss" "$kiln" backup verify "$id" >/dev/null
verify_s=$(seconds "$t0")

log "kiln backup restore $id into a fresh database"
t0=$(now)
/usr/bin/time -f '%M' -o "$work/restore.rss" "$kiln" backup restore "$id" \
  --target-url "$base/$target_db" --no-safety-backup --yes >"$work/restore.log" 2>&1 ||
  die "restore failed: $(tail -20 "$work/restore.log")"
restore_s=$(seconds "$t0")

python3 - "$size" "$stored" "$dump_s" "$backup_s" "$verify_s" "$restore_s" \
  "$base_rss" "$worker_rss" "$(cat "$work/verify.rss")" "$(cat "$work/restore.rss")" <<'PY'
import sys
size, stored = int(sys.argv[1]), int(sys.argv[2])
dump, backup, verify, restore = map(float, sys.argv[3:7])
base_rss, worker_rss, verify_rss, restore_rss = map(int, sys.argv[7:11])
mb = size / 1e6
def row(name, s, rss):
    print(f"| {name} | {s:.1f} s | {mb / s:.0f} MB/s | {rss / 1024:.0f} MB |")
print(f"database {mb:.0f} MB; stored backup {stored / 1e6:.0f} MB (zstd)")
print("| step | time | throughput | peak RSS |")
print("|---|---|---|---|")
row("pg_dump -Fc > /dev/null", dump, 0)
row("kiln backup run (worker)", backup, worker_rss)
row("kiln backup verify (CLI)", verify, verify_rss)
row("kiln backup restore (CLI)", restore, restore_rss)
print(f"backup throughput vs pg_dump -Fc: {dump / backup:.2f}x (target >= 0.5)")
print(f"worker peak RSS {worker_rss / 1024:.0f} MB (idle {base_rss / 1024:.0f} MB; target < 100 MB)")
PY
