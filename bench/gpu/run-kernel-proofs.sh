#!/usr/bin/env bash
# On the GPU machine: the MMDiT block's own kernels (issue 27).
#   build      this checkout into build-gpu and, beside it, the baseline tarball BASELINE_TARBALL
#              (build-baseline.sh: /tmp/baseline/build-gpu)
#   tests      the tests that hold the GPU's kernels to the op-by-op values (HeadNormRotary.*, Attention.*)
#   edits      issue 27's edits (run-cfg-fp8-proofs.sh) with this build and, run by run in turn, with a
#              baseline build (BASELINE_VG, from build-baseline.sh) in the same lease; RUNS picks them
#   breakdown  where one full-size block's time goes (block_breakdown.py: op by op, per attention backend,
#              batch 1 and 2, at a 1024² edit's 8,192 image and 1,659 text tokens)
# Usage: [RUNS="capped:batched ..."] [BASELINE_TARBALL=...] [BASELINE_VG=...] run-kernel-proofs.sh [build] [tests] [edits] [breakdown]
set -uo pipefail
out=${RESULTS:-/tmp/vramguard-results}
mkdir -p "$out"
runs=${RUNS:-"capped:apart capped:batched capped:fp8mm-batched resident:bf16 resident:fp8mm"}
for part in ${*:-tests edits breakdown}; do
  case $part in
  build)
    start=$(date +%s)
    [ -n "${BASELINE_TARBALL:-}" ] && { bash bench/gpu/build-baseline.sh "$BASELINE_TARBALL" > "$out/baseline-build.log" 2>&1 & }
    cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DVRAMGUARD_WERROR=OFF -DVRAMGUARD_BUILD_BENCH=ON > "$out/configure.log" 2>&1 \
      && cmake --build build-gpu --parallel "$(nproc)" > "$out/build.log" 2>&1 \
      || { grep -E "error|Error" "$out/build.log" "$out/configure.log" | head -30; exit 1; }
    wait
    cat "$out/baseline-build.log" 2>/dev/null
    echo "built in $(( $(date +%s) - start )) s" ;;
  tests)
    ./build-gpu/bin/vramguard_runtime_tests --gtest_filter='HeadNormRotary.*:Attention.*' 2>&1 | grep -E "OK|FAILED|PASSED|Failure|Skipped|error" | head -20 ;;
  edits)
    for run in $runs; do
      if [ -n "${BASELINE_VG:-}" ]; then
        echo "baseline ($BASELINE_VG):"
        VG=$BASELINE_VG RESULTS=$out/baseline bash bench/gpu/run-cfg-fp8-proofs.sh "$run" | grep -v "pinned host"
      fi
      echo "this build:"
      RESULTS=$out bash bench/gpu/run-cfg-fp8-proofs.sh "$run"
    done ;;
  breakdown)
    for batch in 1 2; do
      python3 bench/gpu/block_breakdown.py 8192 1659 $batch > "$out/block-breakdown-b$batch.json" 2> "$out/block-breakdown-b$batch.err"
      python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(json.dumps({k: r[k] for k in r if k not in ('gpu', 'torch')}))" \
        "$out/block-breakdown-b$batch.json" || tail -3 "$out/block-breakdown-b$batch.err"
    done ;;
  esac
done
