#!/usr/bin/env bash
# On the GPU machine, after building this tree into build-gpu: the same full-size edit with this build
# and with an earlier one, interleaved in one run (after, before, after), so that a change that should
# not move speed is measured against its baseline on the same machine. BEFORE is the earlier tree's
# root, already built into its own build-gpu (its CLI and runtime library). The edit: the full-size
# Qwen-Image-Edit shapes (synth --preset full, zero weights), a 1024x1024 picture to a 1024x1024
# result, 8 steps with true CFG, configs/rtx4080-16gb.ini with STRATEGY (default auto).
# Usage: run-edit-before-after.sh BEFORE   Results (JSON reports and a summary) go to $RESULTS.
set -uo pipefail
before=$(cd "${1:?usage: run-edit-before-after.sh BEFORE_TREE}" && pwd)
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
strategy=${STRATEGY:-auto}
# One config for both builds: this tree's.
config=$(pwd)/configs/rtx4080-16gb.ini
full_pipeline
gradient_png "$work/input.png"
python3 bench/gpu/pinned_bandwidth.py
for run in after-1:. before:"$before" after-2:.; do
  name=${run%%:*}
  tree=${run#*:}
  (cd "$tree" && ./build-gpu/bin/vramguard edit "$work/qie" --image "$work/input.png" --prompt "make the sky stormy" \
    --negative-prompt " " --steps 8 --height 1024 --width 1024 --config "$config" --strategy "$strategy" \
    --max-attempts 1 --output "$out/edit-$name.png" --json > "$out/edit-$name.json" 2> "$out/edit-$name.err")
  rc=$?
  python3 - "$out/edit-$name.json" "$name" $rc <<'PY'
import json, statistics, sys
try:
    e = json.load(open(sys.argv[1]))["edit"]
except Exception as error:
    print(f"  {sys.argv[2]}: rc={sys.argv[3]}, no report ({error})"); sys.exit()
steps = [s["seconds"] for s in e["steps"]]
print(f"  {sys.argv[2]}: rc={sys.argv[3]} ready {e['ready_seconds']:.2f} s, text encoder {e['text_encoder_seconds']:.2f} s, "
      f"steps median {statistics.median(steps):.3f} s (total {sum(steps):.2f} s), VAE decode {e['vae_decode_seconds']:.3f} s, "
      f"peak (ours) {', '.join(f'{d}: {b / 1e9:.2f} GB' for d, b in e['peak_bytes'].items())}")
PY
  [ $rc -eq 0 ] || tail -3 "$out/edit-$name.err"
done
