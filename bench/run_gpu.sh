#!/bin/sh
# Runs the benchmarks of bench/ on a GPU machine and writes bench/results/jit.json and
# bench/results/elementwise.json. From the repository root, after a build configured with
# -DBRC_BUILD_BENCH=ON:  bench/run_gpu.sh [build_dir]   (BRC_COMMIT=<sha> to record the commit)
set -eu
build=${1:-build}
tmp=$(mktemp -d)
cache="$tmp/cache" # empty: `cold` must compile every plan
for mode in cold disk reselect overhead; do
    "$build/bench/bench_jit" "$mode" "$cache" > "$tmp/$mode.json"
done
python3 bench/make_jit_json.py "$tmp/cold.json" "$tmp/disk.json" "$tmp/reselect.json" \
    "$tmp/overhead.json" --out bench/results/jit.json
BARACUDA_CACHE_DIR="$cache" python3 bench/bench_elementwise.py --lib "$build/libbaracuda.so" \
    --out bench/results/elementwise.json
rm -rf "$tmp"
