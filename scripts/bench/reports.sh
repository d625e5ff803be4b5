#!/usr/bin/env bash
# The moderator list and the CSV export at 100,000 reports on PostgreSQL:
# `GET /v1/reports` latency (oha, each sort, with and without a status
# filter), then one `report.export` of every report through a release
# `kiln worker`, with its rows/s and the worker's peak RSS.
#
#   scripts/bench/reports.sh [REPORTS] [RATE]   # default 100000 reports, 200 req/s
#
# Builds a fresh database with `kiln migrate`, fills it with REPORTS reports
# on REPORTS/3 targets in one SQL statement each (reasons, statuses and
# priorities spread evenly), starts `kiln api` and `kiln worker` on it with
# folder storage. KILN_BENCH_BIN=path/to/release/kiln skips the build;
# KILN_TEST_PG_URL names the server (default postgres://postgres@127.0.0.1:5432/postgres).
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

reports=${1:-100000}
rate=${2:-200}
duration=${KILN_BENCH_DURATION:-10s}
ensure_postgres
ensure_oha

cd "$KILN_ROOT"
kiln=$(release_kiln)

work=$(mktemp -d)
api_pid=""
worker_pid=""
db="kiln_bench_reports_$$_$(date +%s)"
base=${KILN_TEST_PG_URL%/*}
cleanup() {
  for pid in "$api_pid" "$worker_pid"; do
    if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $db" >/dev/null
port=$(free_port)
wport=$(free_port)
export DATABASE_URL="$base/$db" STORAGE_URL="$work/objects" KILN__DATA_DIR="$work/data"
export KILN__HTTP__LISTEN="127.0.0.1:$port" KILN__HTTP__INTERNAL_LISTEN="127.0.0.1:0" KILN__WORKER__LISTEN="127.0.0.1:$wport"
export KILN__RATE_LIMIT__PRINCIPAL_PER_MINUTE=6000000 KILN__RATE_LIMIT__PRINCIPAL_BURST=1000000
export RUST_LOG=${RUST_LOG:-warn}
unset REDIS_URL
"$kiln" migrate

targets=$(((reports + 2) / 3))
log "seeding $reports reports on $targets targets"
psql "$DATABASE_URL" -XAtq -v ON_ERROR_STOP=1 <<SQL
INSERT INTO report_targets (id, target_type, target_id, priority, first_reported_at, last_reported_at, updated_at)
SELECT ('00000000-0000-7000-8000-' || lpad(to_hex(t), 12, '0'))::uuid, 'external', 'comment-' || t,
       (t % 40) / 2.0, now() - interval '30 days' + t * interval '1 second',
       now(), now()
FROM generate_series(0, $targets - 1) AS t;
INSERT INTO reports (id, target_ref, target_type, target_id, reporter_id, reporter_new, reason, details,
                     status, priority, target_first_at, created_at, updated_at)
SELECT gen_random_uuid(), ('00000000-0000-7000-8000-' || lpad(to_hex(n % $targets), 12, '0'))::uuid,
       'external', 'comment-' || (n % $targets), gen_random_uuid(), n % 7 = 0,
       (ARRAY['spam','harassment','hate','violence','sexual','self_harm','illegal','copyright','impersonation','other'])[1 + n % 10],
       'report ' || n || ', with "quotes" and a second line' || chr(10) || repeat('x', 200),
       (ARRAY['open','reviewing','resolved','dismissed'])[1 + n % 4],
       ((n % $targets) % 40) / 2.0,
       now() - interval '30 days' + (n % $targets) * interval '1 second',
       now() - interval '30 days' + n * interval '20 seconds', now()
FROM generate_series(0, $reports - 1) AS n;
ANALYZE report_targets;
ANALYZE reports;
SQL

token=$("$kiln" token --subject "$(python3 -c 'import uuid; print(uuid.uuid4())')" --role moderator --ttl-secs 3600)
"$kiln" api >"$work/api.log" 2>&1 &
api_pid=$!
"$kiln" worker >"$work/worker.log" 2>&1 &
worker_pid=$!
wait_until 60 "kiln api on $port" curl -fsS "http://127.0.0.1:$port/health/ready" ||
  die "kiln api did not become ready; log: $(tail -20 "$work/api.log")"
wait_until 60 "kiln worker on $wport" curl -fsS "http://127.0.0.1:$wport/health/ready" ||
  die "kiln worker did not become ready; log: $(tail -20 "$work/worker.log")"

for query in "sort=priority" "sort=age" "status=open&sort=priority" "status=open&sort=age" "reason=illegal&sort=priority"; do
  url="http://127.0.0.1:$port/v1/reports?$query&limit=50"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" "$url")
  [[ $code == 200 ]] || die "GET /v1/reports?$query answered $code"
  timeout 120 oha --no-tui --output-format json -q "$rate" -z "$duration" -c 8 \
    -H "Authorization: Bearer $token" "$url" >"$work/oha.json"
  python3 - "$work/oha.json" "$query" "$rate" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
ms = lambda v: f"{v * 1e3:.1f} ms" if v is not None else "n/a"
codes = r.get("statusCodeDistribution", {})
print(f"GET /v1/reports?{sys.argv[2]} at {sys.argv[3]} req/s offered: {s['requestsPerSec']:.0f} req/s, "
      f"p50 {ms(p.get('p50'))}, p99 {ms(p.get('p99'))}, codes {codes}")
PY
done

log "export of all $reports reports"
export_id=$(curl -fsS -X POST -H "Authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{}' "http://127.0.0.1:$port/v1/reports/exports" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
status=""
for _ in $(seq 1 1200); do
  status=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/reports/exports/$export_id" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["status"])')
  [[ $status == succeeded || $status == failed || $status == dead ]] && break
  sleep 0.25
done
[[ $status == succeeded ]] || die "the export ended $status; worker log: $(tail -20 "$work/worker.log")"
peak_kb=$(awk '/^VmHWM/ {print $2}' "/proc/$worker_pid/status")
curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/jobs/$export_id" >"$work/job.json"
python3 - "$work/job.json" "$peak_kb" <<'PY'
import json, re, sys
from datetime import datetime
j = json.load(open(sys.argv[1]))
# RFC 3339 with up to nanoseconds; Python reads at most microseconds.
t = lambda s: datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", s.replace("Z", "+00:00")))
secs = (t(j["finished_at"]) - t(j["started_at"])).total_seconds()
rows, size = j["result"]["rows"], j["result"]["bytes"]
print(f"export: {rows} rows, {size / 1e6:.1f} MB of CSV in {secs:.2f} s = {rows / secs:.0f} rows/s; "
      f"worker peak RSS {int(sys.argv[2]) / 1024:.1f} MB")
PY
