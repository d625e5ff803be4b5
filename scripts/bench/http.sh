#!/usr/bin/env bash
# Upload-enqueue throughput over HTTP: `oha` POSTs a small real JPEG to
# /v1/media on a release `kiln api` (temporary embedded data folder, loopback
# only) at a fixed rate, and reports req/s, p50/p99 and status codes. No
# worker runs, as in production where workers are other processes on other
# machines: this measures the enqueue path alone (auth, streaming upload,
# object write, ledger + queue transaction). KILN_BENCH_ROLE=serve runs the
# workers in the same process instead (they then compete for the same cores).
#
#   scripts/bench/http.sh [RATE_PER_SEC] [DURATION]      # default 2000 10s
#
# Needs `oha` (installed with `cargo install oha --locked` when missing).
# KILN_BENCH_BIN=path/to/release/kiln skips the build.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

rate=${1:-2000}
duration=${2:-10s}
connections=${KILN_BENCH_CONNECTIONS:-64}
role=${KILN_BENCH_ROLE:-api}

ensure_oha

cd "$KILN_ROOT"
kiln=$(release_kiln)

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
export KILN__DATA_DIR="$work/data" KILN__HTTP__LISTEN="127.0.0.1:$port" KILN__HTTP__INTERNAL_LISTEN="127.0.0.1:0"
export RUST_LOG=${RUST_LOG:-warn}
# One client at 1,000+ req/s would be answered 429 by the per-principal
# limit (documented, not a failure); this measures the enqueue path itself.
export KILN__RATE_LIMIT__ENABLED=${KILN__RATE_LIMIT__ENABLED:-false}
unset DATABASE_URL STORAGE_URL

# The body: one multipart part named `file` holding a 320x240 JPEG.
boundary="kiln-bench-$$"
image="jobs/tests/fixtures/gray_320x240.jpg"
{
  printf -- '--%s\r\nContent-Disposition: form-data; name="file"; filename="bench.jpg"\r\nContent-Type: image/jpeg\r\n\r\n' "$boundary"
  cat "$image"
  printf -- '\r\n--%s--\r\n' "$boundary"
} >"$work/body.bin"

token=$("$kiln" token --subject bench --ttl-secs 3600)
"$kiln" "$role" >"$work/server.log" 2>&1 &
server_pid=$!
wait_until 60 "kiln $role on $port" curl -fsS "http://127.0.0.1:$port/health/ready" ||
  die "kiln $role did not become ready; log: $(tail -20 "$work/server.log")"

log "oha: POST /v1/media ($(stat -c %s "$work/body.bin") byte body) at $rate req/s for $duration, $connections connections"
timeout 120 oha --no-tui --output-format json -q "$rate" -z "$duration" -c "$connections" \
  -m POST -T "multipart/form-data; boundary=$boundary" -D "$work/body.bin" \
  -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/media" >"$work/oha.json"

python3 - "$work/oha.json" "$rate" "$duration" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
errors = r.get("errorDistribution", {})
ms = lambda v: f"{v * 1e3:.1f} ms" if v is not None else "n/a"
print(f"offered {sys.argv[2]} req/s for {sys.argv[3]}: {s['requestsPerSec']:.0f} req/s answered, "
      f"success rate {s['successRate'] * 100:.1f}%")
print(f"latency p50 {ms(p.get('p50'))}, p99 {ms(p.get('p99'))}, max {ms(s.get('slowest'))}")
print(f"status codes {codes}" + (f", errors {errors}" if errors else ""))
PY
queued=$(curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/v1/jobs?status=queued&limit=200" |
  python3 -c 'import json,sys; d=json.load(sys.stdin); print(("200+" if d.get("next_cursor") else str(len(d["items"]))))')
log "media jobs still queued after the run: $queued (expected: the enqueue rate outruns image processing)"
