#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: issue 27's measurements. The full-size Qwen-Image-Edit
# shapes (synth --preset full: zero weights), a 1024x1024 picture, a 1024x1024 result, 8 steps with true
# CFG, bf16, strategy auto:
#   capped:   configs/rtx4080-16gb.ini — true CFG's two passes apart (--cfg-batch never), as one batch
#             (always), fp8 storage (--weight-dtype transformer=fp8) apart and batched, and fp8 storage with
#             fp8 matmuls (--fp8-compute on) apart and batched
#   resident: no cap, everything on the GPU — bf16 apart and batched, fp8 storage, fp8 matmuls apart and
#             batched (fp8mm-batched, not in the default runs: what the capped batch is compared with)
# Each run under nvml_peak.py (NVML at 50 Hz from outside); printed by edit_summary.py: ready, the median
# step, the step against the copy bound (pinned bandwidth measured here), NVML's peak beside the plan's.
# Usage: run-cfg-fp8-proofs.sh [RUN...] (default: every run; a RUN is capped:VARIANT or resident:VARIANT)
# STEPS=K: K steps instead of 8; PROFILE=1: each run also with --profile (its trace in the work folder,
# the GPU's time by kernel printed from the report); EXTRA="OPTIONS": those options added to each run (its
# files and label then end in +extra), e.g. EXTRA="--stream-from pinned".
set -uo pipefail
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
full_pipeline
gradient_png "$work/input.png"
bandwidth=$(python3 -c "import sys; sys.path.insert(0, 'bench/gpu'); from pinned_bandwidth import pinned_bandwidth; print(pinned_bandwidth())")
echo "pinned host->device: $(python3 -c "print(f'{$bandwidth / 1e9:.1f}')") GB/s"
default_runs="capped:apart capped:batched capped:fp8-apart capped:fp8-batched capped:fp8mm-apart capped:fp8mm-batched
  resident:bf16 resident:batched resident:fp8 resident:fp8mm"
for run in ${*:-$default_runs}; do
  where=${run%%:*} variant=${run#*:} name=cfg-fp8-${run/:/-}${EXTRA:++extra}
  args=(--prompt "make the sky stormy" --negative-prompt " " --steps "${STEPS:-8}" --height 1024 --width 1024 --strategy auto)
  [ "$where" = capped ] && args+=(--config "$(pwd)/configs/rtx4080-16gb.ini")
  case $variant in
  apart) args+=(--cfg-batch never) ;;
  batched) args+=(--cfg-batch always) ;;
  fp8-apart) args+=(--cfg-batch never --weight-dtype transformer=fp8 --fp8-compute off) ;;
  fp8-batched) args+=(--cfg-batch always --weight-dtype transformer=fp8 --fp8-compute off) ;;
  fp8mm-apart) args+=(--cfg-batch never --weight-dtype transformer=fp8 --fp8-compute on) ;;
  fp8mm-batched) args+=(--cfg-batch always --weight-dtype transformer=fp8 --fp8-compute on) ;;
  bf16) args+=(--cfg-batch never) ;;
  fp8) args+=(--cfg-batch never --weight-dtype transformer=fp8 --fp8-compute off) ;;
  fp8mm) args+=(--cfg-batch never --weight-dtype transformer=fp8 --fp8-compute on) ;;
  *) echo "unknown run '$run'; the variants are those above" >&2; exit 2 ;;
  esac
  [ -n "${PROFILE:-}" ] && args+=(--profile "$work/$name.trace.json")
  # shellcheck disable=SC2206  # EXTRA is options, split as words
  [ -n "${EXTRA:-}" ] && args+=($EXTRA)
  python3 bench/gpu/nvml_peak.py --json "$out/$name.nvml.json" -- $vg edit "$work/qie" --image "$work/input.png" \
    "${args[@]}" --max-attempts 1 --output "$out/$name.png" --json > "$out/$name.json" 2> "$out/$name.err"
  python3 bench/gpu/edit_summary.py "$out/$name.json" "$out/$name.nvml.json" "$run${EXTRA:++extra}" "$bandwidth"
  tail -2 "$out/$name.err" | sed 's/^/    /'
done
