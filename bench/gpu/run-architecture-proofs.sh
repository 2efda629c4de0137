#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: the native families (architectures/) on CUDA.
# Results go to $RESULTS.
#   1. every fixture's entry (qwen2, qwen2_5_vl, the Qwen-Image transformer, the VAE's encode and decode)
#      on CUDA under every strategy, fp32 and bf16, against the libraries' outputs; auto under a cap
#      found from the plans so that it keeps some units resident and streams the others
#   2. the full-size Qwen-Image transformer, one 1024x1024 edit step (8192 image + 200 text tokens, bf16),
#      natively: resident, configs/rtx4080-16gb.ini with auto, sequential-offload; in the same run (with the
#      Python module built) vramguard.apply on diffusers' class, diffusers' group offloading, its resident step
#   3. the text encoder at Qwen2.5-VL-7B shapes (448x448 image, 64-token prompt) and the VAE at 1024x1024,
#      natively (resident and under the RTX 4080 config) beside transformers' and diffusers' own classes
# Usage: run-architecture-proofs.sh [sections...] (default: 1 2 3). diffusers' source comes from .pydeps/src.
set -uo pipefail
source bench/gpu/proof-env.sh
export CUDA_VISIBLE_DEVICES=0
sections=${*:-1 2 3}

# A cap (MB) under which auto keeps some units resident and streams others, from the plans: the
# smallest cap that keeps everything resident, found by bisection, less 2 MB (an allocator page).
modes_under() {
  $vg plan "$1" --strategy auto --max-memory 0=${2}MB --reserve 0 --headroom 64MB --json 2>/dev/null |
    python3 -c 'import json,sys; print(" ".join(sorted({u["mode"] for u in json.load(sys.stdin)["units"]})))' 2>/dev/null
}
mixed_cap() {
  local lo=400 hi=4000 mid
  while [ $((hi - lo)) -gt 2 ]; do
    mid=$(( (lo + hi) / 2 ))
    if [ "$(modes_under "$1" $mid)" = "resident" ]; then hi=$mid; else lo=$mid; fi
  done
  for mb in $((hi - 2)) $((hi - 4)) $((hi - 8)); do
    [ "$(modes_under "$1" $mb)" = "resident streamed" ] && { echo $mb; return; }
  done
  echo 0
}

summary() {  # report.json -> one line
  python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); run = r.get("run", {})
bound = max(float(sys.argv[2]) if sys.argv[2] else 0, run.get("copy_bound_seconds", 0))
peaks = {d: round(p["measured_bytes"] / 1e9, 2) for d, p in run.get("peak_bytes", {}).items()}
ctx = {d: round(a.get("measured_process_bytes", {}).get(d, 0) / 1e9, 2) for a in r["attempts"][-1:] for d in a.get("measured_process_bytes", {})}
print(f"  {r['strategy']}: median {run.get('median_step_seconds', 0):.3f} s (first {run.get('first_step_seconds', 0):.3f}), "
      f"streamed {run.get('streamed_bytes_per_step', 0)/1e9:.2f} GB, copy bound {run.get('copy_bound_seconds', 0):.3f} s, "
      f"compute {run.get('median_compute_seconds', 0):.3f} s, ratio to max(resident, copy bound) "
      f"{run.get('median_step_seconds', 0) / bound if bound else 0:.3f}, ready {r['load']['seconds']:.2f} s, "
      f"peak (ours, activations included) {peaks} GB, process after load {ctx} GB")
PY
}

for section in $sections; do
case $section in
1)
  echo "== 1. the fixtures on CUDA, every strategy, fp32 and bf16"
  for spec in "qwen2_small forward logits" "qwen25vl_tiny forward logits,last_hidden_state" \
              "qwenimage_tiny forward sample" "qwenimage_vae_tiny encode encoded_mean" "qwenimage_vae_tiny decode decoded"; do
    set -- $spec
    f=tests/data/fixtures/$1 entry=$2 names=$3
    cap=$(mixed_cap $f/model)
    for s in balanced auto sequential-offload multi-gpu; do
      extra=""
      [ $s = auto ] && extra="--max-memory 0=${cap}MB --reserve 0 --headroom 64MB"
      for dtype in fp32 bf16; do
        tag=$1-$entry-$s-$dtype
        $vg run $f/model --entry $entry --strategy $s --dtype $dtype --max-attempts 1 $extra --input $f/inputs.safetensors \
          --output "$out/$tag.safetensors" --steps 2 --report "$out/$tag.json" >/dev/null 2>"$out/$tag.err"
        rc=$?
        modes=$($vg plan $f/model --strategy $s --dtype $dtype $extra --json 2>/dev/null |
          python3 -c 'import json,sys; print(",".join(sorted({u["mode"] for u in json.load(sys.stdin)["units"]})))' 2>/dev/null)
        diffs=""
        for n in ${names//,/ }; do diffs="$diffs $n $(python3 bench/gpu/compare_outputs.py "$out/$tag.safetensors" $f/expected.safetensors $n 2>/dev/null)"; done
        echo "  $1 $entry $s $dtype: rc=$rc modes=$modes${cap:+ (auto cap ${cap} MB)}:$diffs"
      done
    done
  done
  ;;
2)
  echo "== 2. full-size Qwen-Image transformer, one 1024x1024 edit step, bf16, natively"
  full_pipeline transformer
  python3 bench/gpu/pinned_bandwidth.py
  common="--component transformer --tokens 200 --height 1024 --width 1024 --steps 6 --max-attempts 1"
  $vg run "$work/qie" $common --strategy balanced --json > "$out/t-resident.json" 2>"$out/t-resident.err"
  resident=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["run"]["median_step_seconds"])' "$out/t-resident.json")
  summary "$out/t-resident.json" "$resident"
  $vg run "$work/qie" $common --config configs/rtx4080-16gb.ini --strategy auto --json > "$out/t-auto.json" 2>"$out/t-auto.err"
  summary "$out/t-auto.json" "$resident" || tail -3 "$out/t-auto.err"
  $vg run "$work/qie" $common --config configs/rtx4080-16gb.ini --strategy sequential-offload --json > "$out/t-seq.json" 2>"$out/t-seq.err"
  summary "$out/t-seq.json" "$resident" || tail -3 "$out/t-seq.err"
  $vg run "$work/qie" $common --config configs/rtx4080-16gb.ini --strategy balanced --json > "$out/t-balanced.json" 2>"$out/t-balanced.err"
  summary "$out/t-balanced.json" "$resident" || tail -3 "$out/t-balanced.err"
  # The same table's other rows, in the same run: vramguard.apply on diffusers' own class (auto under the
  # config, sequential-offload), diffusers' group offloading and the library's resident step. Needs the
  # Python module in build-gpu (-DVRAMGUARD_PYTHON=ON) and diffusers' source in .pydeps/src.
  if [ -f build-gpu/python/vramguard/__init__.py ]; then
    PYTHONPATH=$PWD/build-gpu/python:$PWD/.pydeps/src CUDA_VISIBLE_DEVICES=0 \
      python3 bench/gpu/python_proofs.py transformer "$work/qie" configs/rtx4080-16gb.ini "$out/t-python.json" 2> "$out/t-python.err" | tail -3
    python3 - "$out/t-python.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
if "error" in r: print("  python error:", r["error"].strip().splitlines()[-1])
if "resident" in r: print(f"  diffusers' class resident: {r['resident']['median_seconds']:.3f} s per step")
for k in ("vramguard_auto_12GB", "vramguard_sequential_offload"):
    if k in r:
        v = r[k]
        print(f"  apply, {k}: {v['median_seconds']:.3f} s per step = {v['ratio_to_bound']:.3f}x the bound {v['bound_seconds']:.3f} s, "
              f"ready {v['ready_seconds']:.2f} s, peak with context {v['peak_with_context_bytes']/1e9:.2f} GB")
if "diffusers_group_offload" in r:
    d = r["diffusers_group_offload"]
    print(f"  diffusers group offload: {d['median_seconds']:.3f} s per step after {d['setup_seconds']:.1f} s of setup")
PY
  else
    echo "  (no Python module in build-gpu: configure with -DVRAMGUARD_PYTHON=ON for apply's and diffusers' rows)"
  fi
  ;;
3)
  echo "== 3. the text encoder (7B shapes, 448x448 image, 64 tokens) and the VAE (1024x1024), natively and in their libraries"
  full_pipeline text_encoder vae
  for c in "text_encoder encode" "vae encode" "vae decode"; do
    set -- $c
    size="--height 1024 --width 1024"; [ $1 = text_encoder ] && size="--height 448 --width 448 --tokens 64"
    $vg run "$work/qie" --component $1 --entry $2 $size --steps 4 --max-attempts 1 --strategy balanced --json \
      > "$out/$1-$2-resident.json" 2>"$out/$1-$2-resident.err"
    echo " $1 $2 resident:"; summary "$out/$1-$2-resident.json" "" || tail -3 "$out/$1-$2-resident.err"
    $vg run "$work/qie" --component $1 --entry $2 $size --steps 4 --max-attempts 1 --config configs/rtx4080-16gb.ini --strategy auto --json \
      > "$out/$1-$2-rtx4080.json" 2>"$out/$1-$2-rtx4080.err"
    echo " $1 $2 RTX 4080 config (auto):"; summary "$out/$1-$2-rtx4080.json" "" || tail -3 "$out/$1-$2-rtx4080.err"
  done
  PYTHONPATH=.pydeps/src python3 bench/gpu/component_peers.py "$work/qie" > "$out/component-peers.json" 2>"$out/component-peers.err" \
    && cat "$out/component-peers.json" || tail -5 "$out/component-peers.err"
  ;;
esac
done
