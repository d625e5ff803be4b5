#!/usr/bin/env bash
# Media pipeline throughput: default presets, 4000x3000 q90 JPEG sources, 1 and 2 threads,
# JPEG-only and JPEG+WebP. Usage: scripts/bench/media.sh [IMAGES]
set -euo pipefail

images="${1:-20}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

# A separate target dir keeps the benchmark from locking (or being locked by) target/.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/tmp/mediabench-target}"
cargo build --release --quiet -p kiln-jobs --example media_bench
bin="$CARGO_TARGET_DIR/release/examples/media_bench"

for formats in jpeg jpeg,webp; do
  for threads in 1 2; do
    echo "== formats=$formats threads=$threads"
    "$bin" --images "$images" --threads "$threads" --formats "$formats"
  done
done
