#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: issue 28's measurements. `vramguard serve` of the
# full-size Qwen-Image-Edit shapes (synth --preset full: zero weights) under configs/rtx4080-16gb.ini,
# EDITS edits in a row over HTTP (a 1024x1024 picture to a 1024x1024 result, true CFG, STEPS steps each),
# then --idle-unload IDLE seconds idle and one more edit: bench/serve_bench.py prints the ready time,
# each edit's latency, RSS and NVML after each, the departure from the first edit, the unload and the reload.
# Usage: run-serve-proofs.sh [EDITS [STEPS [IDLE]]] (default 50 edits, 2 steps, 5 s)
set -uo pipefail
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
full_pipeline
gradient_png "$work/input.png"
edits=${1:-50} steps=${2:-2} idle=${3:-5}
SERVE_SIZE=1024x1024 SERVE_STEPS=$steps SERVE_LATENCY_EDITS=10 python3 bench/serve_bench.py "$vg" "$work/qie" \
  "$work/input.png" "$edits" --config "$(pwd)/configs/rtx4080-16gb.ini" --idle-unload "$idle" \
  > "$out/serve.log" 2> "$out/serve.err"
echo "serve rc=$?"
grep -v '^{' "$out/serve.log"
tail -3 "$out/serve.err" | sed 's/^/    /'
