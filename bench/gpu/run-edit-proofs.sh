#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: `vramguard edit` on the full-size Qwen-Image-Edit
# shapes (synth --preset full: zero weights), a 1024x1024 edit of a 1024x1024 picture, 8 steps with
# true CFG, bf16: under the seed's settings (configs/rtx4080-16gb.ini: balanced, 0=12GB, 4 GB kept
# free), and under the same config with auto and sequential-offload; then a 2048x2048 result under
# the same config with auto, the VAE tiling where the plan leaves no room (and, as the baseline, with
# --vae-tiling never). Results (JSON reports and a summary) go to $RESULTS.
set -uo pipefail
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
full_pipeline
# A 1024x1024 picture: a colour gradient (the weights are zeros; the shapes are what is measured).
gradient_png "$work/input.png"
python3 bench/gpu/pinned_bandwidth.py
# RUNS picks some of them (STRATEGY:SIZE[:TILING]); default all.
for run in ${RUNS:-balanced:1024 auto:1024 sequential-offload:1024 auto:2048 auto:2048:never}; do
  IFS=: read -r strategy size tiling <<< "$run"
  name=$strategy-$size${tiling:+-$tiling}
  $vg edit "$work/qie" --image "$work/input.png" --prompt "make the sky stormy" --negative-prompt " " --steps 8 \
    --height $size --width $size --config configs/rtx4080-16gb.ini --strategy $strategy --max-attempts 1 --vae-tiling ${tiling:-auto} \
    --output "$out/edit-$name.png" --json > "$out/edit-$name.json" 2> "$out/edit-$name.err"
  rc=$?
  python3 - "$out/edit-$name.json" $name $rc <<'PY'
import json, statistics, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"  {sys.argv[2]}: rc={sys.argv[3]}, no report ({e})"); sys.exit()
e = r["edit"]; steps = [s["seconds"] for s in e["steps"]]
after = json.dumps(r.get("after_unload"))
print(f"  {sys.argv[2]}: rc={sys.argv[3]} ready {e['ready_seconds']:.2f} s, text encoder {e['text_encoder_seconds']:.2f} s (two prompts), "
      f"VAE encode {e['vae_encode_seconds']:.3f} s, steps median {statistics.median(steps):.3f} s (first {steps[0]:.3f}, total {sum(steps):.2f} s), "
      f"streamed {statistics.median(s['streamed_bytes'] for s in e['steps'])/1e9:.1f} GB per step, VAE decode {e['vae_decode_seconds']:.3f} s, "
      f"peak (ours) {{{', '.join(f'{d}: {b/1e9:.2f} GB' for d, b in e['peak_bytes'].items())}}}, after unload {after}, "
      f"VAE tiled: encode {e['vae_encode_tiled']}, decode {e['vae_decode_tiled']} ({e['vae_tiling_why']['decode'] or e['vae_tiling_why']['encode']}); "
      f"plan: {r['attempts'][-1].get('explanation', '')}")
PY
  [ $rc -eq 0 ] || tail -3 "$out/edit-$name.err"
done
