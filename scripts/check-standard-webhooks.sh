#!/usr/bin/env bash
# Checks Kiln's webhook signatures against the Python reference library
# (`standardwebhooks` from PyPI): installs it into a throwaway virtualenv and
# runs the ignored interop test, in which a Python receiver verifies real deliveries.
#
#   scripts/check-standard-webhooks.sh
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KILN_STANDARDWEBHOOKS_VENV:-${TMPDIR:-/tmp}/kiln-standardwebhooks-venv}"

if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'standardwebhooks>=1.0,<2'

cd "$root"
KILN_STANDARDWEBHOOKS_PYTHON="$venv/bin/python" \
  cargo test -p kiln-jobs --test it -- --ignored --exact \
  notify::webhooks::python_standardwebhooks_accepts_our_deliveries
