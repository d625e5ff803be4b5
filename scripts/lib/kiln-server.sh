# shellcheck shell=bash
# A live embedded `kiln serve` for scripts that drive the API from outside:
# a fresh data folder, a free port, an operator account. Source it after
# common.sh; it defines functions only.
#
#   resolve_kiln_bin      # KILN_BIN, or builds target/debug/kiln
#   KILN_SERVER_ENV=(KILN__RATE_LIMIT__ENABLED=false)   # optional, extra env
#   start_kiln            # sets KILN_URL, KILN_DATA_DIR, KILN_PID
#   account_token ROLE    # prints the access token of a new account with ROLE
#   stop_kiln             # kills the server, removes its data folder

KILN_SERVER_ENV=()

# Sets KILN_BIN: the given binary, or the workspace's debug build.
resolve_kiln_bin() {
  if [[ -z ${KILN_BIN:-} ]]; then
    log "KILN_BIN is unset: building kiln (cargo build --locked)"
    (cd "$KILN_ROOT" && cargo build --locked -q --bin kiln) || die "could not build kiln"
    KILN_BIN=${CARGO_TARGET_DIR:-$KILN_ROOT/target}/debug/kiln
  fi
  [[ -x $KILN_BIN ]] || die "KILN_BIN=$KILN_BIN is not an executable kiln binary"
  export KILN_BIN
}

ready() { curl -fsS -o /dev/null "$KILN_URL/health/ready"; }

start_kiln() {
  KILN_DATA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/kiln-live.XXXXXX")
  local port
  port=$(free_port)
  KILN_URL=http://127.0.0.1:$port
  env KILN__DATA_DIR="$KILN_DATA_DIR" KILN__HTTP__LISTEN="127.0.0.1:$port" KILN__HTTP__INTERNAL_LISTEN="127.0.0.1:0" \
    RUST_LOG="${RUST_LOG:-warn}" "${KILN_SERVER_ENV[@]}" \
    "$KILN_BIN" serve >"$KILN_DATA_DIR/server.log" 2>&1 &
  KILN_PID=$!
  if ! wait_until 60 "kiln serve on $KILN_URL" ready; then
    tail -n 40 "$KILN_DATA_DIR/server.log" >&2 || true
    stop_kiln
    die "kiln serve did not become ready on $KILN_URL"
  fi
  log "kiln serve ready on $KILN_URL (data in $KILN_DATA_DIR)"
  export KILN_URL KILN_DATA_DIR
}

stop_kiln() {
  if [[ -n ${KILN_PID:-} ]] && kill -0 "$KILN_PID" 2>/dev/null; then
    kill "$KILN_PID" 2>/dev/null || true
    wait "$KILN_PID" 2>/dev/null || true
  fi
  KILN_PID=
  if [[ -n ${KILN_DATA_DIR:-} && -d $KILN_DATA_DIR ]]; then
    if [[ -n ${KILN_KEEP_SERVER_LOG:-} ]]; then
      cp "$KILN_DATA_DIR/server.log" "$KILN_KEEP_SERVER_LOG" 2>/dev/null || true
    fi
    rm -rf "$KILN_DATA_DIR"
  fi
}

# Creates an account with ROLE (user, moderator, operator, admin) in the
# server's data folder and prints its access token from POST /v1/auth/login.
account_token() {
  local role=$1 email=$1@example.com password
  password=$(python3 -c 'import secrets; print(secrets.token_urlsafe(24))')
  printf '%s\n' "$password" |
    KILN__DATA_DIR="$KILN_DATA_DIR" "$KILN_BIN" user create --email "$email" --role "$role" --password-stdin >/dev/null ||
    die "kiln user create failed"
  EMAIL=$email PASSWORD=$password python3 - "$KILN_URL/v1/auth/login" <<'PY' || die "could not log the $role in"
import json, os, sys, urllib.request
body = json.dumps({"email": os.environ["EMAIL"], "password": os.environ["PASSWORD"]}).encode()
req = urllib.request.Request(sys.argv[1], body, {"content-type": "application/json"})
with urllib.request.urlopen(req, timeout=30) as resp:
    print(json.load(resp)["access_token"])
PY
}
