#!/usr/bin/env bash
# Worker memory under media load, in the production shape: a release
# `kiln api` and a release `kiln worker` (media concurrency 2) on PostgreSQL +
# Redis (scratch database, throw-away key prefix) sharing a local object
# folder. IMAGES uploads of one 4000x3000 q90 JPEG are posted, then the
# worker's RSS is sampled every 100 ms until every media job has succeeded.
# Prints the worker's RSS idle and at its peak (VmHWM), and the API's. Figures
# go in notes, never in tests.
#
#   scripts/bench/worker-memory.sh [IMAGES]      # default 20
#
# Needs ImageMagick's `convert` for the source image. KILN_BENCH_BIN=path
# skips the build.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../lib/services.sh"

images=${1:-20}
convert=/usr/bin/convert
"$convert" -version 2>/dev/null | grep -q ImageMagick || die "ImageMagick's convert is missing (apt-get install imagemagick)"
cd "$KILN_ROOT"
kiln=$(release_kiln)
ensure_postgres
ensure_redis
export KILN_TEST_PG_URL=${KILN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}

work=$(mktemp -d)
pids=()
scratch="kiln_bench_mem_$(date +%s)_$$"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS $scratch WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
psql "$KILN_TEST_PG_URL" -XAtqc "CREATE DATABASE $scratch" >/dev/null

"$convert" -size 4000x3000 gradient:navy-orange -attenuate 0.3 +noise Gaussian -quality 90 "$work/big.jpg"
port=$(free_port)
wport=$(free_port)
export DATABASE_URL="${KILN_TEST_PG_URL%/*}/$scratch" REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379} \
  KILN__REDIS__PREFIX="bench-mem-$$" STORAGE_URL="$work/objects" KILN__DATA_DIR="$work/data" \
  KILN__HTTP__LISTEN="127.0.0.1:$port" KILN__HTTP__INTERNAL_LISTEN="127.0.0.1:0" \
  KILN__WORKER__LISTEN="127.0.0.1:$wport" KILN__QUEUES__MEDIA__CONCURRENCY=2 \
  KILN__RATE_LIMIT__ENABLED=false RUST_LOG=${RUST_LOG:-warn}
"$kiln" migrate >"$work/migrate.log" 2>&1 || die "migrate failed: $(tail -5 "$work/migrate.log")"
"$kiln" api >"$work/api.log" 2>&1 &
api=$!
pids+=("$api")
"$kiln" worker >"$work/worker.log" 2>&1 &
worker=$!
pids+=("$worker")
wait_until 60 "kiln api" curl -fsS "http://127.0.0.1:$port/health/ready" || die "api: $(tail -20 "$work/api.log")"
wait_until 60 "kiln worker" curl -fsS "http://127.0.0.1:$wport/health/ready" || die "worker: $(tail -20 "$work/worker.log")"
sleep 3
kib() { awk '/^'"$2"':/ {print $2}' "/proc/$1/status"; }
worker_idle=$(kib "$worker" VmRSS)
api_idle=$(kib "$api" VmRSS)

token=$("$kiln" token --subject "$(python3 -c 'import uuid; print(uuid.uuid4())')" --ttl-secs 3600)
log "uploading $images x $(stat -c %s "$work/big.jpg") byte 4000x3000 JPEG"
start=$SECONDS
for _ in $(seq "$images"); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" -F "file=@$work/big.jpg;type=image/jpeg" \
    "http://127.0.0.1:$port/v1/media" || die "upload failed"
done
ops=$("$kiln" token --subject bench-ops --role operator --ttl-secs 3600)
done_jobs() {
  curl -fsS -H "Authorization: Bearer $ops" "http://127.0.0.1:$port/v1/jobs?status=succeeded&kind=image.process&limit=200" |
    python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))'
}
until (($(done_jobs) >= images)); do
  ((SECONDS - start < 600)) || die "media jobs did not finish in 600 s"
  sleep 0.5
done
elapsed=$((SECONDS - start))
printf 'RESULT worker (media concurrency 2): RSS idle %d MB, peak %d MB | api: RSS idle %d MB, peak %d MB | %d images in %d s\n' \
  $((worker_idle / 1024)) $(($(kib "$worker" VmHWM) / 1024)) $((api_idle / 1024)) $(($(kib "$api" VmHWM) / 1024)) "$images" "$elapsed"
