#!/usr/bin/env bash
# On the GPU machine: builds an earlier vramguard (a `git archive` tarball of it, carried along) into
# /tmp/baseline/build-gpu — the CLI, the runtime library and the strategies, no tests — so that a proof can
# time it beside this checkout's build in the same lease: VG=/tmp/baseline/build-gpu/bin/vramguard.
# Usage: build-baseline.sh TARBALL. Begin with: bash .devdeps/setup-on-gpu.sh && source /tmp/gpu-env.sh
set -uo pipefail
tarball=$1
rm -rf /tmp/baseline && mkdir -p /tmp/baseline && tar -xzf "$tarball" -C /tmp/baseline || exit 1
cp -r .devdeps /tmp/baseline/ 2>/dev/null
start=$(date +%s)
cmake -S /tmp/baseline -B /tmp/baseline/build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVRAMGUARD_WERROR=OFF \
  -DVRAMGUARD_BUILD_TESTS=OFF -DVRAMGUARD_BUILD_BENCH=OFF > /tmp/baseline/configure.log 2>&1 \
  || { tail -20 /tmp/baseline/configure.log; exit 1; }
cmake --build /tmp/baseline/build-gpu --parallel "$(nproc)" > /tmp/baseline/build.log 2>&1 \
  || { grep -E "error|Error" /tmp/baseline/build.log | head -20; exit 1; }
echo "baseline built in $(( $(date +%s) - start )) s"
