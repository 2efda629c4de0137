#!/usr/bin/env bash
# On a two-GPU machine, after building into build-gpu: issue 31's measurements. The full-size
# Qwen-Image-Edit shapes (synth --preset full: zero weights), a 1024x1024 picture, a 1024x1024 result, 8
# steps with true CFG, bf16, each GPU capped at 12 GB (--max-memory 0=12GB,1=12GB):
#   one-gpu:   auto on GPU 0 alone (--gpus 0), the passes as the plan decides
#   split:     one load over both GPUs, the layers split (--strategy multi-gpu --cfg-parallel off)
#   parallel:  CFG-parallel (--cfg-parallel on): the pipeline on GPU 0, the transformer again on GPU 1,
#              each step's two passes at once
#   auto:      the edit's own choice between the one load and CFG-parallel (--cfg-parallel auto)
# and every edit fixture under CFG-parallel against the one-GPU edit. Each full-size run under
# nvml_peak.py (NVML at 50 Hz from outside, both GPUs); printed by edit_summary.py: ready, the median
# step, each GPU's NVML peak beside its prediction.
# Usage: run-cfg-parallel-proofs.sh [RUN...] (default: fixtures one-gpu split parallel auto)
set -uo pipefail
source bench/gpu/proof-env.sh
gpus=$(nvidia-smi -L | wc -l)
[ "$gpus" -ge 2 ] || { echo "CFG-parallel needs two GPUs; this machine has $gpus"; exit 1; }
bandwidth=$(python3 -c "import sys; sys.path.insert(0, 'bench/gpu'); from pinned_bandwidth import pinned_bandwidth; print(pinned_bandwidth())")
for run in ${*:-fixtures one-gpu split parallel auto}; do
  if [ "$run" = fixtures ]; then
    # The tests that hold every edit fixture under CFG-parallel to diffusers' and the one-GPU edit's
    # latents run on simulated GPUs; here the same fixtures on the two real ones.
    fixtures=tests/data/fixtures
    for f in qie_pipeline_tiny qie_pipeline_tiny_fp8; do
      call=(edit "$fixtures/$f/pipeline" --image "$fixtures/qie_pipeline_tiny/input.png" --prompt "make the sky stormy"
        --negative-prompt " " --steps 2 --height 256 --width 384 --latents "$fixtures/qie_pipeline_tiny/inputs.safetensors"
        --vae-tiling never)
      $vg "${call[@]}" --gpus 0 --cfg-batch never --output "$out/$f-one.png" --output-latents "$out/$f-one.safetensors" 2>/dev/null
      $vg "${call[@]}" --cfg-parallel on --output "$out/$f-two.png" --output-latents "$out/$f-two.safetensors" 2>/dev/null
      python3 - "$out/$f-one.safetensors" "$out/$f-two.safetensors" "$f" <<'PY'
import sys
from safetensors.torch import load_file
one, two = (load_file(f)["latents"] for f in sys.argv[1:3])
print(f"  fixture {sys.argv[3]}: CFG-parallel against one GPU, largest difference {(one - two).abs().max().item():.3g}")
PY
    done
    continue
  fi
  full_pipeline
  gradient_png "$work/input.png"
  args=(--prompt "make the sky stormy" --negative-prompt " " --steps 8 --height 1024 --width 1024
    --max-memory 0=12GB,1=12GB --max-attempts 1)
  case $run in
  one-gpu) args+=(--gpus 0 --strategy auto --cfg-parallel off) ;;
  split) args+=(--strategy multi-gpu --cfg-parallel off) ;;
  parallel) args+=(--strategy auto --cfg-parallel on) ;;
  auto) args+=(--strategy auto) ;;
  esac
  name=cfg-parallel-$run
  python3 bench/gpu/nvml_peak.py --json "$out/$name.nvml.json" -- $vg edit "$work/qie" --image "$work/input.png" \
    "${args[@]}" --output "$out/$name.png" --json > "$out/$name.json" 2> "$out/$name.err"
  python3 bench/gpu/edit_summary.py "$out/$name.json" "$out/$name.nvml.json" "$run" "$bandwidth"
  python3 -c "import json,sys; p=json.load(open(sys.argv[1]))['edit']['cfg_parallel']; print('    ', p['why'])" "$out/$name.json" 2>/dev/null
  tail -2 "$out/$name.err" | sed 's/^/    /'
done
