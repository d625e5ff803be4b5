#!/usr/bin/env bash
# HTTP enqueue throughput and the API's memory: `POST /v1/notifications` (one
# email to a registered user, operator token) on a release `kiln api` with no
# worker and the rate limit off, once embedded (temporary SQLite data folder)
# and once on PostgreSQL + Redis (scratch database, throw-away key prefix).
# For each backend:
#
#   - RSS idle: VmRSS of the ready API after 3 s without requests;
#   - wrk -t2 -cCONNS -d10s: the most it answers (req/s, p50, p99);
#   - oha at a fixed RATE (default 2000 req/s) for 10 s: p50/p99 at that rate;
#   - peak RSS (VmHWM) over both loads.
#
# With KILN_PEER_DIR=<a writable copy of the shared bench/ folder, set up with
# its setup.sh>, the Node + BullMQ HTTP peer runs under the same wrk settings
# right after, and the ratio is printed. Figures go in notes, never in tests.
#
#   scripts/bench/enqueue-http.sh [--embedded|--redis] [RATE]
#
# KILN_BENCH_BIN=path/to/release/kiln skips the build.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

backends=(embedded redis)
case ${1:-} in
  --embedded) backends=(embedded); shift ;;
  --redis) backends=(redis); shift ;;
esac
rate=${1:-2000}
conns=${KILN_BENCH_CONNECTIONS:-32}
have wrk || die "wrk is missing (apt-get install wrk)"
ensure_oha

cd "$KILN_ROOT"
kiln=$(release_kiln)
export KILN_TEST_PG_URL=${KILN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
redis_url=${REDIS_URL:-${KILN_TEST_REDIS_URL:-redis://127.0.0.1:6379}}

work=$(mktemp -d)
server_pid=""
peer_pid=""
scratch=""
stop_server() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}
cleanup() {
  stop_server
  if [[ -n $peer_pid ]]; then kill "$peer_pid" 2>/dev/null || true; fi
  if [[ -n $scratch ]]; then psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

kib() { awk -v k="$1" '/^'"$1"':/ {print $2}' "/proc/$server_pid/status"; }

# wrk_run URL LUA: prints "req/s p50_ms p99_ms non2xx".
wrk_run() {
  wrk -t2 -c"$conns" -d10s --latency -s "$2" "$1" >"$work/wrk.txt" 2>&1
  python3 - "$work/wrk.txt" <<'PY'
import re, sys
t = open(sys.argv[1]).read()
def ms(label):
    m = re.search(rf"^\s*{label}%?\s+([\d.]+)(us|ms|s)\s*$", t, re.M)
    if not m:
        return float("nan")
    v, u = float(m.group(1)), m.group(2)
    return v / 1000 if u == "us" else v * 1000 if u == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
print(f"{rps:.0f} {ms('50'):.2f} {ms('99'):.2f} {bad.group(1) if bad else 0}")
PY
}

for backend in "${backends[@]}"; do
  port=$(free_port)
  unset DATABASE_URL REDIS_URL STORAGE_URL KILN__REDIS__URL KILN__REDIS__PREFIX
  export KILN__DATA_DIR="$work/$backend" KILN__HTTP__LISTEN="127.0.0.1:$port" \
    KILN__HTTP__INTERNAL_LISTEN="127.0.0.1:0" KILN__RATE_LIMIT__ENABLED=false RUST_LOG=${RUST_LOG:-warn}
  if [[ $backend == redis ]]; then
    source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"
    ensure_postgres
    ensure_redis
    scratch="kiln_bench_http_$(date +%s)_$$"
    psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $scratch" >/dev/null
    export DATABASE_URL="${KILN_TEST_PG_URL%/*}/$scratch" REDIS_URL=$redis_url KILN__REDIS__PREFIX="bench-http-$$"
  fi
  "$kiln" api >"$work/$backend.log" 2>&1 &
  server_pid=$!
  wait_until 60 "kiln api ($backend)" curl -fsS "http://127.0.0.1:$port/health/ready" ||
    die "kiln api did not become ready; log: $(tail -20 "$work/$backend.log")"
  user=$(curl -fsS -H 'content-type: application/json' \
    -d "{\"email\":\"bench-$$@example.test\",\"password\":\"bench-password-$$\"}" \
    "http://127.0.0.1:$port/v1/auth/register" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  token=$("$kiln" token --subject bench --role operator --ttl-secs 3600)
  cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"user_id":"$user","channels":["email"],"template":"welcome"}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA
  sleep 3
  idle=$(kib VmRSS)
  read -r rps p50 p99 bad < <(wrk_run "http://127.0.0.1:$port/v1/notifications" "$work/post.lua")
  timeout 120 oha --no-tui --output-format json -q "$rate" -z 10s -c 64 -m POST \
    -T application/json -d "{\"user_id\":\"$user\",\"channels\":[\"email\"],\"template\":\"welcome\"}" \
    -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/notifications" >"$work/oha.json"
  fixed=$(python3 - "$work/oha.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
print(f"{s['requestsPerSec']:.0f} req/s answered, p50 {p['p50'] * 1e3:.1f} ms, p99 {p['p99'] * 1e3:.1f} ms, status {codes}")
PY
)
  peak=$(kib VmHWM)
  printf 'RESULT backend=%s wrk_c%s: %s req/s p50 %s ms p99 %s ms (non-2xx %s) | oha at %s req/s: %s | api RSS idle %d MB, peak %d MB\n' \
    "$backend" "$conns" "$rps" "$p50" "$p99" "$bad" "$rate" "$fixed" $((idle / 1024)) $((peak / 1024))
  echo "$rps" >"$work/$backend.rps"
  stop_server
done

if [[ -n ${KILN_PEER_DIR:-} ]]; then
  peer_port=$(free_port)
  node "$KILN_PEER_DIR/http/bullmq_http.js" "$peer_port" >"$work/peer.log" 2>&1 &
  peer_pid=$!
  wait_until 20 "node peer" bash -c "curl -s -o /dev/null -X POST -d '{}' http://127.0.0.1:$peer_port/"
  read -r prps pp50 pp99 pbad < <(wrk_run "http://127.0.0.1:$peer_port/" "$KILN_PEER_DIR/http/post.lua")
  printf 'RESULT peer=node+bullmq wrk_c%s: %s req/s p50 %s ms p99 %s ms (non-2xx %s)\n' "$conns" "$prps" "$pp50" "$pp99" "$pbad"
  for backend in "${backends[@]}"; do
    python3 -c "import sys; print(f'RATIO kiln {sys.argv[1]} / node peer: {int(sys.argv[2]) / int(sys.argv[3]):.2f}')" \
      "$backend" "$(cat "$work/$backend.rps")" "$prps"
  done
fi
