#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Runs only the webhook interop test: a Python receiver using the reference
# library (`standardwebhooks` from PyPI) verifies real deliveries. The whole
# suite (scripts/test.sh) runs it too.
#
#   scripts/check-standard-webhooks.sh
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/lib/common.sh"
source "$(dirname "${BASH_SOURCE[0]}")/lib/services.sh"

ensure_standardwebhooks
cd "$KILN_ROOT"
cargo test -p kiln-jobs --test it -- --exact \
  notify::webhooks::python_standardwebhooks_accepts_our_deliveries
