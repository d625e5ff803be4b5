# shellcheck shell=bash
# Shared helpers for Kiln's scripts. Source it; it defines functions only.

# The repository root (this file lives in scripts/lib/).
KILN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
export KILN_ROOT

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }

# Prints a loud error and exits non-zero.
die() {
  {
    printf '\n'
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
    printf '!! ERROR: %s\n' "$*"
    printf '!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n'
  } >&2
  exit 1
}

have() { command -v "$1" >/dev/null 2>&1; }

# Runs a command as root: directly when we are root, else through sudo -n.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif have sudo; then
    sudo -n "$@"
  else
    die "need root to run: $* (no sudo available)"
  fi
}

# Installs Debian packages non-interactively.
apt_install() {
  have apt-get || die "cannot install $* : apt-get is not available; install them by hand"
  log "installing $* with apt-get"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" </dev/null
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_until SECONDS DESCRIPTION COMMAND...: retries COMMAND every 0.25 s until it
# succeeds or SECONDS pass; returns non-zero on timeout.
wait_until() {
  local secs=$1 what=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      warn "$what: not ready after ${secs}s"
      return 1
    fi
    sleep 0.25
  done
}

# ensure_venv DIR WHAT SPEC...: a Python virtualenv at DIR with the pip
# requirement SPECs installed (from PyPI), for the tool named WHAT. The specs
# installed are recorded in DIR/.kiln-specs; a virtualenv made for other
# specs (another pinned version) is made again. Fails loudly when it cannot.
ensure_venv() {
  local dir=$1 what=$2
  shift 2
  local want="$*"
  if [[ -x $dir/bin/python && $(cat "$dir/.kiln-specs" 2>/dev/null) == "$want" ]]; then
    return
  fi
  have python3 || die "python3 is needed for $what"
  log "installing $what ($want) from PyPI into $dir"
  rm -rf "$dir"
  python3 -m venv "$dir" || die "could not create a Python virtualenv at $dir"
  "$dir/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
    die "could not install $what ($want) from PyPI"
  printf '%s\n' "$want" >"$dir/.kiln-specs"
}

# release_kiln: prints the path of a release `kiln`: $KILN_BENCH_BIN when
# set (one built already, e.g. at another commit), else builds it.
release_kiln() {
  if [[ -n ${KILN_BENCH_BIN:-} ]]; then
    printf '%s\n' "$KILN_BENCH_BIN"
    return
  fi
  log "building kiln (release)"
  (cd "$KILN_ROOT" && cargo build --locked --release -q --bin kiln) || die "release build failed"
  local target_dir
  target_dir=$(cd "$KILN_ROOT" && cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
  printf '%s\n' "$target_dir/release/kiln"
}

# ensure_oha: installs the oha load generator when it is missing.
ensure_oha() {
  if ! have oha; then
    log "installing oha (cargo install oha --locked)"
    cargo install oha --locked -q || die "could not install oha"
  fi
}

# node_test_summary LABEL TAP STATUS: reads the TAP file a `node --test` run
# wrote (exit status STATUS) and prints "LABEL: N passed, N failed"; tests
# cancelled by a failed hook count as failed. Dies when node printed no
# summary or ran no test; returns non-zero when the run failed.
node_test_summary() {
  local label=$1 tap=$2 status=$3 passed failed cancelled
  count() { sed -n "s/^# $1 \([0-9][0-9]*\)\$/\1/p" "$tap" | tail -n1; }
  passed=$(count pass)
  failed=$(count fail)
  cancelled=$(count cancelled)
  [[ -n $passed && -n $failed ]] || die "node --test printed no summary (exit status $status)"
  failed=$((failed + ${cancelled:-0}))
  ((status != 0 || passed > 0)) || die "node --test ran no test"
  printf '%s: %d passed, %d failed\n' "$label" "$passed" "$failed"
  ((status == 0))
}
