#!/usr/bin/env bash
# On the GPU machine: builds vramguard against PyTorch's CUDA libtorch into build-gpu, runs the whole
# test suite there, and keeps the logs in $OUT. Begin with: bash .devdeps/setup-on-gpu.sh && source /tmp/gpu-env.sh
set -uo pipefail
out=${RESULTS:-/tmp/vramguard-results}
mkdir -p "$out"
start=$(date +%s)
cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVRAMGUARD_WERROR=OFF -DVRAMGUARD_BUILD_BENCH=ON > "$out/configure.log" 2>&1 \
  || { tail -30 "$out/configure.log"; exit 1; }
if ! cmake --build build-gpu --parallel "$(nproc)" > "$out/build.log" 2>&1; then
  grep -E "error|Error" "$out/build.log" | head -40
  exit 1
fi
echo "built in $(( $(date +%s) - start )) s"
ctest --test-dir build-gpu --parallel 8 --timeout 300 > "$out/ctest.log" 2>&1
grep -E "tests passed|\(Failed\)|\(Timeout\)|\(SEGFAULT\)|Exception" "$out/ctest.log" | head -30
echo "tested in $(( $(date +%s) - start )) s"
