#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# End-to-end tests of the Python SDK: pytest (sdk/python-tests) drives a live
# embedded `kiln serve` through the generated kiln_client package.
#
#   KILN_BIN=target/debug/kiln scripts/sdk/test-python.sh [PYTEST ARGS...]
#
# The tests' pinned packages (sdk/python-tests/requirements.lock) go into a
# virtualenv under ${KILN_SDK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln-sdk}/python/;
# sdk/python is installed into it (pip, no build isolation: its build backend
# is in the lock) on every run. Ends with `python-sdk: N passed, N failed`.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/python-lib.sh"

[[ -n ${KILN_BIN:-} ]] || die "KILN_BIN is not set: point it at a kiln binary (e.g. KILN_BIN=target/debug/kiln)"
[[ $KILN_BIN == /* ]] || KILN_BIN=$PWD/$KILN_BIN
[[ -f $KILN_BIN && -x $KILN_BIN ]] || die "KILN_BIN=$KILN_BIN is not an executable file"
export KILN_BIN

cd "$KILN_ROOT"
[[ -f sdk/python/pyproject.toml ]] || die "sdk/python is missing: run scripts/sdk/gen-python.sh"

venv=$(kiln_python_venv test sdk/python-tests/requirements.lock)
py=$venv/bin/python

log "installing sdk/python into $venv"
# uv_build's hook runs the `uv-build` it finds on PATH: the venv's.
PATH="$venv/bin:$PATH" "$py" -m pip install --quiet --disable-pip-version-check --no-input \
  --no-deps --no-build-isolation --force-reinstall ./sdk/python ||
  die "could not install sdk/python into $venv"
"$py" -m pip check >&2 || die "sdk/python's dependencies are not met by sdk/python-tests/requirements.lock (pip check)"

report=$(mktemp)
trap 'rm -f "$report"' EXIT

log "pytest sdk/python-tests (KILN_BIN=$KILN_BIN)"
status=0
# -p no:cacheprovider: leave no .pytest_cache in the checkout.
PYTHONDONTWRITEBYTECODE=1 "$py" -m pytest -p no:cacheprovider -ra --junitxml="$report" \
  sdk/python-tests "$@" || status=$?

# One closing line with the counts, from pytest's JUnit report.
counts=$("$py" - "$report" <<'PY'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("0 0 0")
    sys.exit()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
tests = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
print(tests - failed - skipped, failed, skipped)
PY
)
read -r passed failed skipped <<<"$counts"
printf '\npython-sdk: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"

if ((status == 5)); then
  die "pytest collected no tests in sdk/python-tests"
fi
if ((status == 0 && skipped > 0)); then
  die "$skipped Python SDK test(s) were skipped; none may be"
fi
if ((status == 0 && passed == 0)); then
  die "no Python SDK test passed"
fi
exit "$status"
