#!/usr/bin/env bash
# Fault test, not part of the suite: 10,000 email notifications over HTTP to
# one `kiln api` and 3 `kiln worker` processes on PostgreSQL + a private Redis,
# a real SMTP sink counting messages per Message-ID, and one worker SIGKILLed
# (round robin) and restarted every 5 s until every notification is finished.
# Prints a summary table (sent, lost, duplicates, kills and, per kill, the jobs
# in flight and the duplicates) and exits non-zero on any loss.
#
#   scripts/chaos/email-kill.sh [--count N] [--kill-every SECS] [--workers N]
#       [--mode at_least_once|at_most_once] [--redis-restart] [--redis-signal TERM|KILL]
#       [--timeout SECS] [--keep]
#
# KILN_BIN=path/to/kiln skips the build; KILN_CHAOS_PG_URL is an admin URL the
# run creates (and drops) its own database through (default
# postgres://postgres@127.0.0.1:5432/postgres). See scripts/chaos/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"

count=10000
kill_every=5
workers=3
mode=at_least_once
redis_restart=false
redis_signal=TERM
timeout_secs=1200
keep=false

usage() { sed -n '2,/^# shellcheck/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; }

while (($#)); do
  case $1 in
  --count) count=$2 && shift ;;
  --kill-every) kill_every=$2 && shift ;;
  --workers) workers=$2 && shift ;;
  --mode) mode=$2 && shift ;;
  --redis-restart) redis_restart=true ;;
  --redis-signal) redis_signal=$2 && shift ;;
  --timeout) timeout_secs=$2 && shift ;;
  --keep) keep=true ;;
  -h | --help) usage && exit 0 ;;
  *) usage && die "unknown argument: $1" ;;
  esac
  shift
done
[[ $mode == at_least_once || $mode == at_most_once ]] || die "--mode must be at_least_once or at_most_once, not $mode"
[[ $redis_signal == TERM || $redis_signal == KILL ]] || die "--redis-signal must be TERM or KILL"
((workers >= 1 && count >= 1 && kill_every >= 1)) || die "--workers, --count and --kill-every must be positive"

chaos_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
pg_admin=${KILN_CHAOS_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
db_connections=${KILN_CHAOS_DB_CONNECTIONS:-8}
mail_domain=kiln.test
queue_stream='{kiln:notifications}:stream'

for tool in psql redis-server redis-cli curl python3; do
  have "$tool" || die "$tool is needed (apt-get install postgresql-client redis-server curl python3-venv)"
done

# The sink's Python: aiosmtpd from PyPI in a virtualenv kept between runs.
venv=${KILN_CHAOS_VENV:-${TMPDIR:-/tmp}/kiln-chaos-venv}
if [[ ! -x $venv/bin/python ]]; then
  python3 -m venv "$venv" || die "could not create a Python virtualenv at $venv"
fi
if ! "$venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
  log "installing aiosmtpd from PyPI into $venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'aiosmtpd>=1.4,<2' ||
    die "could not install the Python package aiosmtpd"
fi
py=$venv/bin/python

cd "$KILN_ROOT"
if [[ -n ${KILN_BIN:-} ]]; then
  kiln=$KILN_BIN
else
  log "building kiln (debug)"
  cargo build --locked -q --bin kiln || die "cargo build failed"
  target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  kiln=$target_dir/debug/kiln
fi
[[ -x $kiln ]] || die "no kiln binary at $kiln"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-chaos.XXXXXX")
mkdir -p "$work/redis" "$work/data"
: >"$work/kills.jsonl"
db=kiln_chaos_$(date +%s)_$$
db_url=$(python3 -c 'import sys, urllib.parse as u; p = u.urlsplit(sys.argv[1]); print(u.urlunsplit(p._replace(path="/" + sys.argv[2])))' "$pg_admin" "$db")

sink_pid="" redis_pid="" api_pid="" sender_pid=""
declare -a worker_pids=() worker_gens=()
finished_ok=false

stop_pid() { # stop_pid PID [SIGNAL]
  local pid=$1 sig=${2:-TERM}
  [[ -n $pid ]] || return 0
  if kill -0 "$pid" 2>/dev/null; then
    kill "-$sig" "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
}
cleanup() {
  local pid
  stop_pid "$sender_pid"
  for pid in "${worker_pids[@]}"; do stop_pid "$pid" KILL; done
  stop_pid "$api_pid"
  stop_pid "$sink_pid"
  stop_pid "$redis_pid"
  if [[ $keep == true ]]; then
    log "kept: $work and database $db"
    return
  fi
  psql "$pg_admin" -XAtqc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>&1 || warn "could not drop database $db"
  if [[ $finished_ok == true ]]; then
    rm -rf "$work"
  else
    log "logs kept in $work"
  fi
}
trap cleanup EXIT

now_ms() { date +%s%3N; }
sql() { psql "$db_url" -XAtqc "$1"; }
# The first error lines of a log, else its last lines (a backtrace would hide the cause).
tail_log() {
  { grep -m 5 -E '^Error|ERROR' "$1" || tail -n 15 "$1"; } 2>/dev/null | sed 's/^/    /'
}

# --- services -------------------------------------------------------------

smtp_port=$(free_port)
"$py" "$chaos_dir/chaos.py" sink --port "$smtp_port" --log "$work/sink.log" 2>"$work/sink.err" &
sink_pid=$!
wait_until 15 "SMTP sink" bash -c "exec 3<>/dev/tcp/127.0.0.1/$smtp_port" ||
  die "the SMTP sink did not start: $(tail_log "$work/sink.err")"

redis_port=$(free_port)
start_redis() {
  redis-server --port "$redis_port" --bind 127.0.0.1 --appendonly yes --appendfsync everysec \
    --save "" --dir "$work/redis" --daemonize no >>"$work/redis.log" 2>&1 &
  redis_pid=$!
  wait_until 15 "Redis on $redis_port" redis-cli -p "$redis_port" ping ||
    die "private Redis did not start: $(tail_log "$work/redis.log")"
}
start_redis

psql "$pg_admin" -XAtqc "CREATE DATABASE \"$db\"" >/dev/null ||
  die "could not create database $db through $(redact_url "$pg_admin")"
log "database $db, Redis 127.0.0.1:$redis_port (AOF everysec), SMTP sink 127.0.0.1:$smtp_port, work dir $work"

unset DATABASE_URL REDIS_URL SMTP_URL STORAGE_URL KILN_CONFIG
export KILN__DATABASE__URL=$db_url
export KILN__DATABASE__MAX_CONNECTIONS=$db_connections
export KILN__DATABASE__MIGRATE_ON_START=false
export KILN__REDIS__URL=redis://127.0.0.1:$redis_port
export KILN__MAIL__SMTP_URL=smtp://127.0.0.1:$smtp_port
export KILN__MAIL__FROM="Kiln Chaos <chaos@$mail_domain>"
export KILN__DATA_DIR=$work/data
export KILN__RATE_LIMIT__ENABLED=false
export KILN__AUTH__ACCESS_TOKEN_TTL_SECS=7200
KILN__AUTH__JWT_SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
export KILN__AUTH__JWT_SECRET
export RUST_LOG=${RUST_LOG:-info,sqlx=warn,apalis=warn,apalis_core=warn}
if [[ $mode == at_most_once ]]; then
  export KILN__NOTIFICATIONS__DELIVERY=at_most_once
fi

"$kiln" migrate >"$work/migrate.log" 2>&1 || die "kiln migrate failed: $(tail_log "$work/migrate.log")"

api_port=$(free_port)
KILN__HTTP__LISTEN=127.0.0.1:$api_port KILN__HTTP__INTERNAL_LISTEN=127.0.0.1:0 "$kiln" api >"$work/api.log" 2>&1 &
api_pid=$!
base=http://127.0.0.1:$api_port
wait_until 60 "kiln api" curl -fsS "$base/health/ready" ||
  die "kiln api did not become ready: $(tail_log "$work/api.log")"

worker_ports=()
for ((slot = 0; slot < workers; slot++)); do worker_ports+=("$(free_port)"); done

# start_worker SLOT: a new generation of worker SLOT. HOSTNAME names its Redis
# consumer (`chaos-w<slot>-g<gen>-…`), so its pending entries can be counted.
start_worker() {
  local slot=$1 gen=$((${worker_gens[$1]:--1} + 1))
  worker_gens[slot]=$gen
  printf '\n==== generation %s started at %s ====\n' "$gen" "$(now_ms)" >>"$work/worker-$slot.log"
  HOSTNAME=chaos-w$slot-g$gen KILN__WORKER__LISTEN=127.0.0.1:${worker_ports[$slot]} \
    KILN__WORKER__QUEUES='["notifications"]' "$kiln" worker >>"$work/worker-$slot.log" 2>&1 &
  worker_pids[slot]=$!
}
for ((slot = 0; slot < workers; slot++)); do start_worker "$slot"; done
for ((slot = 0; slot < workers; slot++)); do
  wait_until 60 "kiln worker $slot" curl -fsS "http://127.0.0.1:${worker_ports[$slot]}/health/ready" ||
    die "kiln worker $slot did not become ready: $(tail_log "$work/worker-$slot.log")"
done

# --- accounts ---------------------------------------------------------------

password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')
printf '%s\n' "$password" | "$kiln" user create --email "chaos-operator@$mail_domain" --role operator --password-stdin \
  >"$work/users.log" 2>&1 || die "kiln user create failed: $(tail_log "$work/users.log")"
: >"$work/recipients.txt"
for i in 1 2 3 4 5 6 7 8 9 10; do
  "$kiln" user create --email "chaos-r$i@$mail_domain" >>"$work/users.log" 2>&1 ||
    die "kiln user create failed: $(tail_log "$work/users.log")"
done
sed -nE "s/^created user chaos-r[0-9]+@.* \(([0-9a-f-]{36})\)$/\1/p" "$work/users.log" >"$work/recipients.txt"
(($(wc -l <"$work/recipients.txt") == 10)) || die "could not read the recipients' ids from $work/users.log"

login_body=$(python3 -c 'import json, sys; print(json.dumps({"email": sys.argv[1], "password": sys.argv[2]}))' \
  "chaos-operator@$mail_domain" "$password")
KILN_CHAOS_TOKEN=$(curl -fsS -X POST "$base/v1/auth/login" -H 'content-type: application/json' -d "$login_body" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])') || die "login as the operator failed"
export KILN_CHAOS_TOKEN

# --- the run ----------------------------------------------------------------

# victim_pending SLOT: entries the current generation of worker SLOT has
# fetched and not acknowledged (its Redis consumer's pending count).
victim_pending() {
  redis-cli -p "$redis_port" XINFO CONSUMERS "$queue_stream" workers 2>/dev/null |
    awk -v prefix="chaos-w$1-g${worker_gens[$1]}-" '
      key == "name" { name = $0 } key == "pending" && index(name, prefix) == 1 { n += $0 }
      { key = $0 } END { print n + 0 }'
}

# victim_smtp_ports PID: the local ports of PID's connections to the sink, as
# a JSON list; the sink logs each message's peer port, so a message can be
# traced to the worker that sent it.
victim_smtp_ports() {
  ss -Htnp state established "( dport = :$smtp_port )" 2>/dev/null |
    awk -v pid="pid=$1," 'index($0, pid) { n = split($3, a, ":"); printf "%s%s", (c++ ? ", " : ""), a[n] }
      END { printf "\n" }' | sed 's/^/[/; s/$/]/'
}

kill_worker() {
  local slot=$1 pending inflight running sending ms ports
  pending=$(victim_pending "$slot")
  inflight=$(sql "SELECT (SELECT count(*) FROM job_runs WHERE status = 'running') || ' ' ||
                         (SELECT count(*) FROM notifications WHERE status = 'sending')" || echo "-1 -1")
  read -r running sending <<<"$inflight"
  # Last, so the kill follows within milliseconds: the mailer opens
  # connections all the time.
  ports=$(victim_smtp_ports "${worker_pids[$slot]}")
  ms=$(now_ms)
  kill -KILL "${worker_pids[$slot]}" 2>/dev/null || warn "worker $slot was not running"
  wait "${worker_pids[$slot]}" 2>/dev/null || true
  printf '{"ms": %s, "worker": %s, "gen": %s, "victim_pending": %s, "running": %s, "sending": %s, "smtp_ports": %s}\n' \
    "$ms" "$slot" "${worker_gens[$slot]}" "$pending" "$running" "$sending" "$ports" >>"$work/kills.jsonl"
  start_worker "$slot"
}

restart_redis() {
  local t0
  log "restarting Redis (SIG$redis_signal)"
  t0=$(now_ms)
  stop_pid "$redis_pid" "$redis_signal"
  sleep 1
  start_redis
  printf '{"ms": %s, "signal": "%s", "down_ms": %s}\n' "$t0" "$redis_signal" "$(($(now_ms) - t0))" >>"$work/redis.jsonl"
}

log "sending $count email notifications; killing a worker every ${kill_every}s ($mode)"
"$py" "$chaos_dir/chaos.py" send --base "$base" --recipients "$work/recipients.txt" --count "$count" \
  --out "$work/send.json" 2>"$work/send.err" &
sender_pid=$!

started=$SECONDS
kills=0
redis_done=false
sender_done=false
while true; do
  sleep "$kill_every"
  if [[ $sender_done == false ]] && ! kill -0 "$sender_pid" 2>/dev/null; then
    wait "$sender_pid" || die "the sender failed: $(tail_log "$work/send.err")"
    sender_done=true
    sender_pid=""
    log "$(tail -n 1 "$work/send.err")"
  fi
  read -r open total <<<"$(sql "SELECT count(*) FILTER (WHERE status IN ('queued', 'sending', 'retrying')) || ' ' || count(*) FROM notifications" || echo "-1 -1")"
  if [[ $sender_done == true ]] && ((open == 0)); then
    log "every notification finished after $((SECONDS - started))s ($kills kills)"
    break
  fi
  if ((SECONDS - started > timeout_secs)); then
    warn "timeout: $open notifications still open after ${timeout_secs}s"
    break
  fi
  if [[ $redis_restart == true && $redis_done == false ]] && ((total >= count / 2 && open < total)); then
    restart_redis
    redis_done=true
  fi
  kill_worker $((kills % workers))
  kills=$((kills + 1))
  if ((kills % 6 == 0)); then
    log "$kills kills, $((SECONDS - started))s: $total notifications, $open open, $(wc -l <"$work/sink.log") messages at the sink"
  fi
done

# --- the report -------------------------------------------------------------

for pid in "${worker_pids[@]}"; do stop_pid "$pid"; done
worker_pids=()
if [[ -n $sender_pid ]]; then
  warn "the sender had not finished; stopping it"
  stop_pid "$sender_pid"
  sender_pid=""
  printf '{"requests": %s, "seconds": null, "outcomes": {"interrupted": 1}}\n' "$count" >"$work/send.json"
fi
sql "COPY (SELECT id, status, coalesce(provider_message_id, ''), attempts FROM notifications ORDER BY id) TO STDOUT" \
  >"$work/notifications.tsv"
stop_pid "$sink_pid"
sink_pid=""

rc=0
"$py" "$chaos_dir/chaos.py" report --work "$work" --mode "$mode" --domain "$mail_domain" || rc=$?
if ((rc != 0)); then
  die "notifications were lost or left unfinished (summary above; logs in $work)"
fi
finished_ok=true
log "no notification lost"
