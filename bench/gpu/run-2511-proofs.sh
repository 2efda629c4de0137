#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: issue 26's measurements. The full-size Edit-2511
# shapes (synth --arch qwen-image-edit-2511 --preset full: zero weights), two 1024x1024 pictures, a
# 1024x1024 result, 8 steps, configs/rtx4080-16gb.ini, strategy auto: with true CFG and without, with a
# rank-64 LoRA on every projection and without; and once resident without the cap (the compute's share
# of the bound). Each run under nvml_peak.py (NVML at 50 Hz from
# outside); printed: ready time, the median step, the step against the copy bound (streamed bytes over
# the pinned bandwidth measured here), NVML's peak beside the plan's prediction.
set -uo pipefail
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
config=$(pwd)/configs/rtx4080-16gb.ini
plus=$work/qie-2511
[ -f "$plus/model_index.json" ] || $vg synth --arch qwen-image-edit-2511 --preset full --out "$plus" >/dev/null
(cd "$plus" && find . -name '*.safetensors' -exec cat {} + > /dev/null)
gradient_png "$work/input.png"
python3 -c "from PIL import Image; Image.open('$work/input.png').transpose(Image.FLIP_LEFT_RIGHT).save('$work/input2.png')"
[ -f "$work/lora64.safetensors" ] || python3 bench/gpu/make_lora.py "$plus/transformer" 64 "$work/lora64.safetensors"
bandwidth=$(python3 -c "import sys; sys.path.insert(0, 'bench/gpu'); from pinned_bandwidth import pinned_bandwidth; print(pinned_bandwidth())")
echo "pinned host->device: $(python3 -c "print(f'{$bandwidth / 1e9:.1f}')") GB/s"
# A RUN is GUIDANCE:LORA[:KEY=VALUE] (cfg|nocfg : none|lora, then a strategy option such as prefetch=2, or
# stream-from=pinned|registered),
# or resident:none — true CFG without the cap, every weight on the GPU: the step's compute alone, the other
# half of the streamed steps' bound; or streamed:none — true CFG without the cap under sequential-offload,
# every block streamed with memory to spare: the executor's streaming apart from the cap's allocator.
for run in ${1:-cfg:none cfg:lora nocfg:none nocfg:lora resident:none}; do
  guidance=${run%%:*} rest=${run#*:} lora=${rest%%:*} name=2511-${run//[:=]/-}
  option=()
  if [ "$rest" != "$lora" ]; then
    setting=${rest#*:}
    case $setting in
    stream-from=*) option=(--stream-from "${setting#stream-from=}") ;;  # pinned, registered: where the window fills from
    *) option=(--option "$setting") ;;
    esac
  fi
  cap=(--config "$config")
  strategy=auto
  [ "$guidance" = resident ] && cap=() guidance=cfg
  [ "$guidance" = streamed ] && cap=() guidance=cfg strategy=sequential-offload
  args=(--prompt "put the cat from picture 2 on the sofa in picture 1" --steps 8 --height 1024 --width 1024)
  [ "$guidance" = cfg ] && args+=(--negative-prompt " ") || args+=(--true-cfg-scale 1)
  [ "$lora" = lora ] && args+=(--lora "$work/lora64.safetensors")
  python3 bench/gpu/nvml_peak.py --json "$out/$name.nvml.json" -- $vg edit "$plus" --image "$work/input.png" \
    --image "$work/input2.png" "${args[@]}" "${cap[@]}" --strategy $strategy "${option[@]}" --max-attempts 1 \
    --output "$out/$name.png" --json > "$out/$name.json" 2> "$out/$name.err"
  python3 bench/gpu/edit_summary.py "$out/$name.json" "$out/$name.nvml.json" "$run" "$bandwidth"
  tail -2 "$out/$name.err" | sed 's/^/    /'
done
