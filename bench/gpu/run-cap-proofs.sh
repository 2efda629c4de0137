#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: the full-size Qwen-Image-Edit shapes under
# configs/rtx4080-16gb.ini (max_memory 0=12GB: everything the process holds, context included), edited
# with STRATEGY at each SIZE, with NVML sampled at 50 Hz from outside (nvml_peak.py) beside vramguard's
# own sampler and its prediction. Usage: run-cap-proofs.sh "balanced:1024 auto:1024 auto:2048"
set -uo pipefail
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
config=$(pwd)/configs/rtx4080-16gb.ini
full_pipeline
gradient_png "$work/input.png"
for run in ${1:-balanced:1024 auto:1024 auto:2048}; do
  strategy=${run%%:*} size=${run#*:} name=cap-${run/:/-}
  python3 bench/gpu/nvml_peak.py --json "$out/$name.nvml.json" -- $vg edit "$work/qie" --image "$work/input.png" \
    --prompt "make the sky stormy" --negative-prompt " " --steps ${STEPS:-8} --height "$size" --width "$size" \
    --config "$config" --strategy "$strategy" --max-attempts 1 --output "$out/$name.png" --json \
    > "$out/$name.json" 2> "$out/$name.err"
  python3 - "$out/$name.json" "$out/$name.nvml.json" "$run" <<'PY'
import json, statistics, sys
try:
    e = json.load(open(sys.argv[1]))["edit"]
    outside = json.load(open(sys.argv[2]))
except Exception as error:
    print(f"  {sys.argv[3]}: no report ({error})"); sys.exit()
cap = 12e9
steps = [s["seconds"] for s in e["steps"]]
for d, peak in outside["peak_bytes"].items():
    ours, reserved = e["peak_bytes"].get(d, 0), e["reserved_peak_bytes"].get(d, 0)
    inside, predicted = e["process_peak_bytes"].get(d, 0), e["predicted_peak_bytes"].get(d, 0)
    print(f"  {sys.argv[3]}: step {statistics.median(steps):.3f} s; {d} NVML peak (outside, {outside['rate_hz']:.0f} Hz) "
          f"{peak / 1e9:.3f} GB = {100 * peak / cap:.1f} % of the cap; vramguard's sampler {inside / 1e9:.3f} GB; "
          f"predicted {predicted / 1e9:.3f} GB ({100 * (peak - predicted) / predicted:+.1f} %); "
          f"allocator reserved {reserved / 1e9:.3f} GB, in use {ours / 1e9:.3f} GB")
PY
  tail -2 "$out/$name.err" | sed 's/^/    /'
done
