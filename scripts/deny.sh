#!/usr/bin/env bash
# Supply-chain check: `cargo deny check` (advisories, bans, licenses, sources)
# against deny.toml, offline, with the RustSec advisory database taken from
# the snapshot in ../shared/advisory-db, or /work/shared/advisory-db for a clone
# made elsewhere (override: KILN_ADVISORY_DB=<dir>).
#
#   scripts/deny.sh                 # every check
#   scripts/deny.sh licenses bans   # some of them
#   KILN_DENY_GRAPH=1 scripts/deny.sh   # with each crate's inclusion graph
#
# Installs the pinned cargo-deny (CARGO_DENY_VERSION) into ~/.cargo/bin when it
# is missing or another version; that cold install takes a few minutes and is
# announced. Fails loudly when the snapshot is missing: it never passes
# without an advisory database. See docs/supply-chain.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"

CARGO_DENY_VERSION=0.20.2
# The folder cargo-deny 0.20 opens, under `[advisories] db-path`, for the
# default database URL https://github.com/rustsec/advisory-db (its last path
# segment and an xxHash64 of the URL).
ADVISORY_DB_DIR=advisory-db-3157b0e258782691
STALE_AFTER_DAYS=90

ensure_cargo_deny() {
  local found=""
  if have cargo-deny; then
    found=$(cargo-deny --version 2>/dev/null | awk '{print $2}')
  fi
  if [[ $found == "$CARGO_DENY_VERSION" ]]; then
    return
  fi
  log "installing cargo-deny $CARGO_DENY_VERSION (found: ${found:-none}); a cold build takes several minutes"
  local build
  build=$(mktemp -d "${TMPDIR:-/tmp}/cargo-deny-build.XXXXXX")
  if ! cargo install cargo-deny --locked --version "$CARGO_DENY_VERSION" --target-dir "$build" --quiet; then
    rm -rf "$build"
    die "could not install cargo-deny $CARGO_DENY_VERSION"
  fi
  rm -rf "$build"
  found=$(cargo-deny --version 2>/dev/null | awk '{print $2}')
  [[ $found == "$CARGO_DENY_VERSION" ]] ||
    die "installed cargo-deny $CARGO_DENY_VERSION, but \`cargo-deny --version\` says ${found:-nothing} (PATH: $PATH)"
}

# Copies the snapshot into a git repository under $1 (cargo-deny reads the
# database from a git checkout and takes its freshness from it).
prepare_advisory_db() {
  local root=$1 snapshot=${KILN_ADVISORY_DB:-}
  # The snapshot sits in the shared folder beside the repository; a clone made
  # elsewhere (CI clones main into a folder of its own) finds it at the
  # workplace's fixed path.
  if [[ -z $snapshot ]]; then
    snapshot=$KILN_ROOT/../shared/advisory-db
    [[ -d $snapshot || ! -d /work/shared/advisory-db ]] || snapshot=/work/shared/advisory-db
  fi
  [[ -d $snapshot ]] || die "the RustSec advisory database snapshot is missing: no folder $snapshot"
  [[ -f $snapshot/SNAPSHOT ]] || die "$snapshot has no SNAPSHOT file: not the advisory database snapshot"
  local advisories
  advisories=$(find "$snapshot/crates" -name 'RUSTSEC-*.md' 2>/dev/null | wc -l)
  ((advisories > 0)) || die "the advisory database snapshot at $snapshot holds no advisories"

  local about commit date age_days
  about=$(head -n 1 "$snapshot/SNAPSHOT")
  commit=$(grep -oE '[0-9a-f]{40}' <<<"$about" | head -n 1 || true)
  date=$(grep -oE '[0-9]{4}-[0-9]{2}-[0-9]{2}' <<<"$about" | head -n 1 || true)
  [[ -n $commit && -n $date ]] || die "cannot read the commit and date from $snapshot/SNAPSHOT: $about"
  age_days=$((($(date +%s) - $(date -d "$date" +%s)) / 86400))
  log "advisory database: $advisories advisories, rustsec/advisory-db $commit of $date ($age_days days old)"
  if ((age_days > STALE_AFTER_DAYS)); then
    warn "the advisory snapshot is $age_days days old (more than $STALE_AFTER_DAYS): advisories published since $date are not checked; refresh ../shared/advisory-db"
  fi

  local db=$root/$ADVISORY_DB_DIR
  mkdir -p "$db"
  cp -R "$snapshot/." "$db/"
  chmod -R u+w "$db"
  git -C "$db" init -q -b main
  git -C "$db" add -A
  GIT_AUTHOR_DATE="${date}T00:00:00Z" GIT_COMMITTER_DATE="${date}T00:00:00Z" \
    git -C "$db" -c user.name=kiln-ci -c user.email=ci@kiln.invalid -c commit.gpgsign=false \
    commit -q -m "rustsec/advisory-db snapshot $commit" ||
    die "could not commit the advisory snapshot in $db"
}

cd "$KILN_ROOT"
ensure_cargo_deny
db_root=$(mktemp -d "${TMPDIR:-/tmp}/kiln-advisory-dbs.XXXXXX")
trap 'rm -rf "$db_root"' EXIT
prepare_advisory_db "$db_root"

# cargo-deny reads the metadata of every target platform, so crates a build
# on this machine never needed (Windows, Android) must be downloaded first:
# from crates.io, before `--offline` keeps cargo-deny off the network.
cargo fetch --locked --quiet || die "cargo fetch failed: cargo-deny needs every crate of Cargo.lock downloaded"

export KILN_ADVISORY_DB_ROOT=$db_root
log "cargo deny $CARGO_DENY_VERSION check ${*:-(all)}"
graph=(--hide-inclusion-graph)
if [[ -n ${KILN_DENY_GRAPH:-} ]]; then
  graph=()
fi
if ! cargo deny --offline --locked --workspace --config deny.toml check --show-stats "${graph[@]}" "$@"; then
  die "cargo deny found problems (above; KILN_DENY_GRAPH=1 $0 shows which dependencies pull each crate in)"
fi
