# shellcheck shell=bash
# Makes PostgreSQL and Redis reachable for the test suite: use them when they
# answer, start them when installed, install them (apt) when missing. Never
# skips: when a service still does not answer, it dies loudly.
# Requires scripts/lib/common.sh.

KILN_SERVICE_WAIT_SECS=${KILN_SERVICE_WAIT_SECS:-30}
export PGCONNECT_TIMEOUT=${PGCONNECT_TIMEOUT:-5}

# url_host URL / url_port URL DEFAULT: host and port of a postgres:// or redis:// URL.
url_host() {
  if [[ $1 =~ ^[a-z]+://([^@/]*@)?(\[[^]]*\]|[^:/?]+) ]]; then
    printf '%s' "${BASH_REMATCH[2]}"
  fi
}
url_port() {
  if [[ $1 =~ ^[a-z]+://([^@/]*@)?(\[[^]]*\]|[^:/?]+):([0-9]+) ]]; then
    printf '%s' "${BASH_REMATCH[3]}"
  else
    printf '%s' "$2"
  fi
}
is_local_host() {
  [[ $1 == 127.0.0.1 || $1 == localhost || $1 == "[::1]" ]]
}

pg_answers() { psql "$KILN_TEST_PG_URL" -XAtqc 'SELECT 1' >/dev/null 2>&1; }
pg_listens() { pg_isready -q -h "$1" -p "$2"; }

# The installed PostgreSQL major version (the newest, if several).
pg_version() {
  local v
  v=$(find /usr/lib/postgresql -mindepth 1 -maxdepth 1 -type d -printf '%f\n' 2>/dev/null | sort -n | tail -1)
  printf '%s' "$v"
}

start_postgres() {
  local port=$1 ver
  if ! have pg_ctlcluster; then
    apt_install postgresql
  fi
  ver=$(pg_version)
  [[ -n $ver ]] || die "PostgreSQL is installed but no server version was found under /usr/lib/postgresql"
  if [[ ! -d /etc/postgresql/$ver/main ]]; then
    log "creating PostgreSQL $ver cluster 'main' on port $port"
    as_root pg_createcluster "$ver" main --port "$port" >/dev/null
  fi
  log "starting PostgreSQL $ver cluster 'main'"
  as_root pg_ctlcluster --skip-systemctl-redirect "$ver" main start ||
    warn "pg_ctlcluster start failed (it may already be starting)"
}

# Makes KILN_TEST_PG_URL answer; exports it (possibly with a password added).
ensure_postgres() {
  export KILN_TEST_PG_URL=${KILN_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/postgres}
  have psql || apt_install postgresql-client
  if pg_answers; then
    log "PostgreSQL answers at $(redact_url "$KILN_TEST_PG_URL")"
    return
  fi
  local host port
  host=$(url_host "$KILN_TEST_PG_URL")
  port=$(url_port "$KILN_TEST_PG_URL" 5432)
  is_local_host "$host" ||
    die "PostgreSQL at $(redact_url "$KILN_TEST_PG_URL") does not answer, and it is not local, so this script cannot start it"
  if ! pg_listens "$host" "$port"; then
    start_postgres "$port"
    wait_until "$KILN_SERVICE_WAIT_SECS" "PostgreSQL on $host:$port" pg_listens "$host" "$port" ||
      die "PostgreSQL did not start listening on $host:$port within ${KILN_SERVICE_WAIT_SECS}s (see /var/log/postgresql/)"
  fi
  if ! pg_answers; then
    # Listening but refusing us: typically password auth on a fresh cluster.
    # Give the postgres role a password over the local socket and use it.
    log "PostgreSQL refuses $(redact_url "$KILN_TEST_PG_URL"); setting a password for the postgres role"
    as_root runuser -u postgres -- psql -XAtqc "ALTER ROLE postgres PASSWORD 'kiln-test'" >/dev/null ||
      die "could not set a password for the postgres role"
    KILN_TEST_PG_URL="postgres://postgres:kiln-test@$host:$port/postgres"
    export KILN_TEST_PG_URL
  fi
  wait_until "$KILN_SERVICE_WAIT_SECS" "PostgreSQL query" pg_answers ||
    die "PostgreSQL is not usable at $(redact_url "$KILN_TEST_PG_URL"): $(psql "$KILN_TEST_PG_URL" -XAtqc 'SELECT 1' 2>&1 | head -3)"
  log "PostgreSQL answers at $(redact_url "$KILN_TEST_PG_URL")"
}

redis_answers() { [[ $(redis-cli -u "$KILN_TEST_REDIS_URL" ping 2>/dev/null) == PONG ]]; }

# Makes KILN_TEST_REDIS_URL answer and exports it.
ensure_redis() {
  export KILN_TEST_REDIS_URL=${KILN_TEST_REDIS_URL:-redis://127.0.0.1:6379}
  have redis-cli || apt_install redis-server
  if redis_answers; then
    log "Redis answers at $(redact_url "$KILN_TEST_REDIS_URL")"
    return
  fi
  local host port
  host=$(url_host "$KILN_TEST_REDIS_URL")
  port=$(url_port "$KILN_TEST_REDIS_URL" 6379)
  is_local_host "$host" ||
    die "Redis at $(redact_url "$KILN_TEST_REDIS_URL") does not answer, and it is not local, so this script cannot start it"
  have redis-server || apt_install redis-server
  log "starting redis-server on 127.0.0.1:$port"
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$port" --save "" --appendonly no >/dev/null ||
    warn "redis-server did not start"
  wait_until "$KILN_SERVICE_WAIT_SECS" "Redis on $host:$port" redis_answers ||
    die "Redis does not answer at $(redact_url "$KILN_TEST_REDIS_URL") within ${KILN_SERVICE_WAIT_SECS}s"
  log "Redis answers at $(redact_url "$KILN_TEST_REDIS_URL")"
}

# Makes a Python with the `standardwebhooks` package from PyPI (the reference
# receiver the webhook interop test verifies Kiln's deliveries with) and
# exports KILN_STANDARDWEBHOOKS_PYTHON. The virtualenv is kept between runs.
ensure_standardwebhooks() {
  local venv=${KILN_STANDARDWEBHOOKS_VENV:-${TMPDIR:-/tmp}/kiln-standardwebhooks-venv}
  have python3 || apt_install python3 python3-venv
  ensure_venv "$venv" "the Python package standardwebhooks" 'standardwebhooks>=1.0,<2'
  export KILN_STANDARDWEBHOOKS_PYTHON="$venv/bin/python"
  log "standardwebhooks ready ($KILN_STANDARDWEBHOOKS_PYTHON)"
}

# An S3-compatible server for the storage tests: moto_server (PyPI, pinned)
# on 127.0.0.1:KILN_TEST_S3_PORT (default 9561), started when it does not
# answer, with the bucket KILN_TEST_S3_BUCKET (default kiln-test). Exports the
# standard AWS_* variables Kiln's S3 store reads, so `s3://` storage URLs in
# the tests reach it. moto keeps objects in memory; it is left running, like
# PostgreSQL and Redis.
MOTO_VERSION=5.2.5
s3_answers() { curl -fsS -o /dev/null "http://127.0.0.1:$1/moto-api/" 2>/dev/null; }
ensure_s3() {
  local venv=${KILN_S3_VENV:-${TMPDIR:-/tmp}/kiln-moto-venv} port=${KILN_TEST_S3_PORT:-9561}
  export KILN_TEST_S3_BUCKET=${KILN_TEST_S3_BUCKET:-kiln-test}
  ensure_venv "$venv" "moto_server, the S3-compatible server of the storage tests" "moto[server]==$MOTO_VERSION"
  if ! s3_answers "$port"; then
    log "starting moto_server (S3) on 127.0.0.1:$port"
    nohup "$venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"${TMPDIR:-/tmp}/kiln-moto-$port.log" 2>&1 &
    wait_until "$KILN_SERVICE_WAIT_SECS" "moto_server on 127.0.0.1:$port" s3_answers "$port" ||
      die "moto_server does not answer on 127.0.0.1:$port (log: ${TMPDIR:-/tmp}/kiln-moto-$port.log)"
  fi
  export AWS_ENDPOINT=http://127.0.0.1:$port AWS_ALLOW_HTTP=true AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=kiln-test AWS_SECRET_ACCESS_KEY=kiln-test
  "$venv/bin/python" - "$KILN_TEST_S3_BUCKET" <<'PY' || die "could not create the test bucket on moto_server"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name="us-east-1")
if sys.argv[1] not in [b["Name"] for b in s3.list_buckets().get("Buckets", [])]:
    s3.create_bucket(Bucket=sys.argv[1])
PY
  log "S3 (moto_server $MOTO_VERSION) answers at $AWS_ENDPOINT, bucket $KILN_TEST_S3_BUCKET"
}

# Hides a URL's password.
redact_url() {
  # shellcheck disable=SC2001
  sed -E 's#(://[^:/@]*):[^@/]*@#\1:***@#' <<<"$1"
}

# Drops kiln_test_* databases earlier runs left behind. The names carry a
# UUIDv7 whose first 48 bits are the creation time in ms: only databases older
# than KILN_TEST_DB_MAX_AGE_MIN (default 30) minutes and not in use are dropped,
# so a run going on elsewhere on the same server is left alone.
drop_stale_test_databases() {
  local max_age_ms=$((${KILN_TEST_DB_MAX_AGE_MIN:-30} * 60 * 1000))
  local now_ms name hex created dropped=0 kept=0
  now_ms=$(($(date +%s) * 1000))
  while IFS= read -r name; do
    [[ -n $name ]] || continue
    hex=${name#kiln_test_}
    if [[ $hex =~ ^[0-9a-f]{12} ]]; then
      created=$((16#${hex:0:12}))
      if ((now_ms - created < max_age_ms)); then
        kept=$((kept + 1))
        continue
      fi
    fi
    if psql "$KILN_TEST_PG_URL" -XAtqc "DROP DATABASE IF EXISTS \"$name\"" >/dev/null 2>&1; then
      dropped=$((dropped + 1))
    else
      kept=$((kept + 1))
    fi
  done < <(psql "$KILN_TEST_PG_URL" -XAtqc "SELECT datname FROM pg_database WHERE datname LIKE 'kiln\_test\_%'")
  log "test databases from earlier runs: dropped $dropped, kept $kept (recent or in use)"
}
