#!/usr/bin/env bash
# Builds the safetensors header fuzz target with clang/libFuzzer and runs it for SECONDS (default 30)
# over a copy of the seed corpus (tests/fuzz/corpus). A crash leaves its input in build-fuzz/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CXX=clang++ cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build-fuzz >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp tests/fuzz/corpus/* "$work/"
(cd build-fuzz && ./safetensors_header_fuzz -max_total_time="$seconds" -print_final_stats=1 "$work" 2>&1 | tail -n 6)
echo "fuzz: no crash in ${seconds}s"
