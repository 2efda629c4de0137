#!/usr/bin/env bash
# Builds the fuzz targets with clang/libFuzzer and runs each for SECONDS/2 (default 30 in all): the
# safetensors header parser over tests/fuzz/corpus, and the plugin ELF reader over the test plugins the
# main build made. A crash leaves its input in build-fuzz/ and fails.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
if ! command -v clang++ >/dev/null; then
  # Debian's clang comes with scripts/install-deps.sh; a machine that built without it (a GPU machine
  # using its own libraries) skips the fuzzing, and says so.
  echo "fuzz: skipped (no clang++ here for libFuzzer; scripts/install-deps.sh installs it on Debian)"
  exit 0
fi
half=$(( seconds / 2 > 0 ? seconds / 2 : 1 ))
if [ ! -f build-fuzz/CMakeCache.txt ]; then
  CXX=clang++ cmake -S tests/fuzz -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build build-fuzz >/dev/null
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/header" "$work/elf"
cp tests/fuzz/corpus/* "$work/header/"
cp build/test-plugins/*.so "$work/elf/" 2>/dev/null || true
(cd build-fuzz && ./safetensors_header_fuzz -max_total_time="$half" -print_final_stats=1 "$work/header" 2>&1 | tail -n 3)
(cd build-fuzz && ./elf_symbols_fuzz -max_total_time="$half" -max_len=200000 -print_final_stats=1 "$work/elf" 2>&1 | tail -n 3)
echo "fuzz: no crash in ${seconds}s (header parser and plugin ELF reader, ${half}s each)"
