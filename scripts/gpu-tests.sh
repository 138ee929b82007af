#!/usr/bin/env bash
# Runs every test executable of a bundled build on the GPU machine (see docs/ARCHITECTURE.md,
# "GPU runs"). Usage: scripts/gpu-tests.sh BUILD_DIR OUT_DIR
set -uo pipefail
build=${1:-build}
out=${2:-/tmp/brc-out}
mkdir -p "$out"
. "$build/bundle/env.sh"
export BARACUDA_CACHE_DIR=$(mktemp -d)
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | tee "$out/gpu.txt"
rc=0
for t in "$build"/tests/test_*; do
  name=$(basename "$t")
  "$t" --jobs 16 > "$out/$name.log" 2>&1 || rc=1
  echo "$name: $(grep Synthesis "$out/$name.log")"
done
exit $rc
