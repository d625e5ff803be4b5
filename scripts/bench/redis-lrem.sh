#!/usr/bin/env bash
# Reproduces why apalis-redis 1.0.0 drains a deep backlog slowly: its lease
# script runs `LREM <queue>:active 1 <id>` for every job, after its fetch
# script already trimmed that id away, so each LREM scans the whole list.
# Measured on a private redis-server (free port, no persistence): the Redis
# CPU time per LREM (INFO commandstats usec_per_call) for a list of 2,000 and
# of 20,000 ids, 2,000 LREMs each. Compare with what Kiln does per job
# (XACK + XDEL on a stream of the same depth), measured the same way.
#
#   scripts/bench/redis-lrem.sh
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

have redis-server || die "redis-server is required"
have redis-cli || die "redis-cli is required"
port=$(free_port)
work=$(mktemp -d)
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$work" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$work"' EXIT
cli() { redis-cli -p "$port" "$@"; }
for _ in $(seq 100); do [[ $(cli ping 2>/dev/null) == PONG ]] && break; sleep 0.05; done

usec_per_call() { # command name -> usec_per_call from INFO commandstats
  cli info commandstats | tr -d '\r' | sed -n "s/^cmdstat_$1:.*usec_per_call=\([0-9.]*\).*/\1/p"
}

for depth in 2000 20000; do
  cli flushall >/dev/null
  cli config resetstat >/dev/null
  # The active list at this depth, and the same depth as a stream with a group.
  seq 1 "$depth" | sed 's/^/RPUSH active id-/' | cli --pipe >/dev/null
  seq 1 "$depth" | sed 's/^/XADD stream * m id-/' | cli --pipe >/dev/null
  cli xgroup create stream workers 0 >/dev/null
  # Deliver 2,000 entries to a consumer so they can be acknowledged.
  cli xreadgroup group workers c1 count 2000 streams stream '>' >/dev/null
  ids=$(cli xrange stream - + count 2000 | grep -E '^[0-9]+-[0-9]+$')
  # apalis-redis' lease: LREM of an id no longer in the list (a full scan).
  seq 1 2000 | sed 's/^/LREM active 1 gone-/' | cli --pipe >/dev/null
  # Kiln's finish: XACK + XDEL of a delivered entry.
  printf '%s\n' "$ids" | sed 's/^/XACK stream workers /' | cli --pipe >/dev/null
  printf '%s\n' "$ids" | sed 's/^/XDEL stream /' | cli --pipe >/dev/null
  printf 'depth %6d: LREM %8s us/call   XACK %6s us/call   XDEL %6s us/call\n' \
    "$depth" "$(usec_per_call lrem)" "$(usec_per_call xack)" "$(usec_per_call xdel)"
done
