#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: the executor's proofs. Results go to $OUT.
#   1. the Qwen2 fixture on CUDA under each strategy, fp32 and bf16, against transformers' outputs
#   2. streaming at ≈2 B parameters, 512 tokens: vramguard (resident, auto and sequential-offload under
#      0=1.5GB) against accelerate, diffusers' group offloading and the resident step, same run
#   3. ready time of the Qwen-Image-Edit-shaped pipeline with configs/rtx4080-16gb.ini, by stream source
#   4. Qwen2.5-7B shapes with configs/rtx4080-16gb.ini: every strategy, step and peak against predictions
#   5. Qwen2.5-72B shapes on two GPUs with multi-gpu (when two are visible)
#   6. the resident load's rate by upload path (staged, registered pages) on Qwen2.5-7B shapes
#   7. without root: what registering checkpoint pages does as user nobody (memlock limit as set)
# Sections 2-4 run on the first GPU alone (CUDA_VISIBLE_DEVICES=0): an uncapped second GPU would hold
# what the cap pushes off the first. Every summary line ends with what the process held after unloading
# beyond its CUDA context (nvidia-smi's figure, through NVML).
# Usage: run-executor-proofs.sh [sections...] (default: 1 2 3 4 5)
set -uo pipefail
source bench/gpu/proof-env.sh
sections=${*:-1 2 3 4 5 6 7}
fixture=tests/data/fixtures/qwen2_small
summary() {  # report.json: the run section's figures on one line
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
run = r.get("run", {})
a = r["attempts"][-1]
print(f"  {r['strategy']}: median {run.get('median_step_seconds', 0)*1e3:.1f} ms (first {run.get('first_step_seconds', 0)*1e3:.1f}), "
      f"predicted {run.get('predicted_step_seconds', 0)*1e3:.1f} ms, compute {run.get('median_compute_seconds', 0)*1e3:.1f} ms, "
      f"streamed {run.get('streamed_bytes_per_step', 0)/1e9:.2f} GB at {run.get('achieved_host_to_device_bytes_per_s', 0)/1e9:.1f} GB/s, "
      f"overlap {run.get('overlap_efficiency', 0)*100:.0f} %, peaks {json.dumps(run.get('peak_bytes', {}))}, load {r['load']['seconds']:.2f} s "
      f"({r['load'].get('stream_source')})")
after, base = r.get("after_unload", {}), r.get("baseline", {})
# The context grows as a pass loads kernels and library handles (driver memory no API frees); what
# vramguard could still hold is what PyTorch's allocator keeps, in use or cached.
parts = []
for d, a in after.items():
    held = (a["ours_in_use_bytes"] + a["ours_cached_bytes"]) / 2**20
    grown = (a["process_bytes"] - base.get(d, {}).get("process_bytes", 0)) / 2**20 - held
    parts.append(f"{d} {held:.0f} MiB held (context {base.get(d, {}).get('process_bytes', 0) / 2**20:.0f} MiB at start, grown {grown:.0f} MiB by loaded kernels)")
print("    after unload: " + ", ".join(parts))
PY
}

for section in $sections; do
case $section in
1)
  echo "== 1. the Qwen2 fixture on CUDA, against transformers"
  for s in balanced auto sequential-offload multi-gpu; do
    for dtype in fp32 bf16; do
      $vg run $fixture/model --strategy $s --dtype $dtype --max-attempts 1 --input $fixture/inputs.safetensors \
        --output "$out/fixture-$s-$dtype.safetensors" --steps 2 --report "$out/fixture-$s-$dtype.json" >/dev/null 2>"$out/fixture-$s-$dtype.err"
      rc=$?
      d=$(python3 bench/gpu/compare_outputs.py "$out/fixture-$s-$dtype.safetensors" $fixture/expected.safetensors logits 2>/dev/null)
      echo "  $s $dtype: rc=$rc relative difference $d"
    done
  done
  $vg run $fixture/model --strategy sequential-offload --option prefetch=0 --input $fixture/inputs.safetensors \
    --output "$out/fixture-p0.safetensors" >/dev/null 2>&1
  echo "  sequential-offload prefetch=0 fp32: $(python3 bench/gpu/compare_outputs.py "$out/fixture-p0.safetensors" $fixture/expected.safetensors logits)"
  ;;
2)
  echo "== 2. streaming, Qwen2 ≈2 B shapes, 512 tokens, bf16"
  export CUDA_VISIBLE_DEVICES=0
  [ -f "$work/q2b/config.json" ] || $vg synth --arch qwen2 --preset 2b --data random --seed 3 --out "$work/q2b" >/dev/null
  cat "$work"/q2b/*.safetensors > /dev/null
  $vg run "$work/q2b" --strategy auto --tokens 512 --steps 8 --json > "$out/q2b-resident.json" 2>"$out/q2b-resident.err"
  summary "$out/q2b-resident.json"
  for tokens in 128 2048; do  # the compute model's calibration: efficiency against the matmuls' rows
    $vg run "$work/q2b" --strategy auto --tokens $tokens --steps 8 --json > "$out/q2b-resident-$tokens.json" 2>"$out/q2b-resident-$tokens.err"
    echo "  resident at $tokens tokens:"; summary "$out/q2b-resident-$tokens.json"
  done
  for s in auto sequential-offload; do
    $vg run "$work/q2b" --strategy $s --max-memory 0=1.5GB --tokens 512 --steps 8 --max-attempts 1 --json \
      > "$out/q2b-$s.json" 2>"$out/q2b-$s.err"
    summary "$out/q2b-$s.json"
  done
  $vg run "$work/q2b" --strategy sequential-offload --max-memory 0=1.5GB --tokens 512 --steps 8 --max-attempts 1 \
    --stream-from pinned --json > "$out/q2b-seq-pinned.json" 2>"$out/q2b-seq-pinned.err"
  summary "$out/q2b-seq-pinned.json"
  $vg run "$work/q2b" --strategy sequential-offload --max-memory 0=1.5GB --tokens 512 --steps 8 --max-attempts 1 \
    --stream-from page-cache --json > "$out/q2b-seq-pagecache.json" 2>"$out/q2b-seq-pagecache.err"
  summary "$out/q2b-seq-pagecache.json"
  PYTHONPATH=.pydeps/src python3 bench/gpu/streaming_peers.py "$work/q2b" 1.5 512 8 > "$out/q2b-peers.json" 2>"$out/q2b-peers.err"
  python3 - "$out/q2b-peers.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
bw = p["pinned_bytes_per_s"]
print(f"  pinned {bw/1e9:.1f} GB/s; resident (transformers) {p['resident']['median_seconds']*1e3:.1f} ms; "
      f"accelerate {p['accelerate_auto']['median_seconds']*1e3:.1f} ms ({p['accelerate_auto']['streamed_bytes']/1e9:.2f} GB streamed, bound "
      f"{p['accelerate_auto']['streamed_bytes']/bw*1e3:.1f} ms); diffusers {p['diffusers_group_offload']['median_seconds']*1e3:.1f} ms "
      f"(all-streamed bound {p['model_bytes']/bw*1e3:.1f} ms, setup {p['diffusers_setup_seconds']:.1f} s); "
      f"transformers leaves {p['resident']['left_after_unload_bytes']/2**20:.0f} MiB beyond its starting context after del + empty_cache")
PY
  ;;
3)
  echo "== 3. ready: the Qwen-Image-Edit-shaped pipeline, configs/rtx4080-16gb.ini, by stream source"
  export CUDA_VISIBLE_DEVICES=0
  full_pipeline
  for source in auto pinned page-cache; do
    for s in auto sequential-offload; do
      $vg load "$work/qie" --config configs/rtx4080-16gb.ini --strategy $s --max-attempts 1 --stream-from $source \
        --report "$out/qie-$s-$source.json" > /dev/null 2>"$out/qie-$s-$source.err"
      python3 - "$out/qie-$s-$source.json" "$s" "$source" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r["load"]
pred = r["attempts"][-1].get("predicted", {})
print(f"  {sys.argv[2]} from {sys.argv[3]}: success={r['success']} ready {l['seconds']:.2f} s (predicted {pred.get('ready_seconds', 0):.2f} s), "
      f"registered {l['bytes_registered']/1e9:.1f} GB in {l['registration_seconds']:.2f} s, pinned {l['bytes_to_host']/1e9:.1f} GB, "
      f"to GPU {l['bytes_to_gpus']/1e9:.1f} GB; source {l['stream_source']}")
PY
    done
  done
  ;;
4)
  echo "== 4. Qwen2.5-7B shapes, configs/rtx4080-16gb.ini (0=12GB), 512 tokens"
  export CUDA_VISIBLE_DEVICES=0
  [ -f "$work/q7b/config.json" ] || $vg synth --arch qwen2 --preset 7b --out "$work/q7b" >/dev/null
  cat "$work"/q7b/*.safetensors > /dev/null
  for s in balanced auto sequential-offload multi-gpu; do
    $vg run "$work/q7b" --config configs/rtx4080-16gb.ini --strategy $s --max-attempts 1 --tokens 512 --steps 12 --json \
      > "$out/q7b-$s.json" 2>"$out/q7b-$s.err"
    summary "$out/q7b-$s.json" || tail -3 "$out/q7b-$s.err"
  done
  ;;
5)
  unset CUDA_VISIBLE_DEVICES
  gpus=$(nvidia-smi -L | wc -l)
  if [ "$gpus" -lt 2 ]; then echo "== 5. skipped: one GPU"; continue; fi
  echo "== 5. Qwen2.5-72B shapes on two GPUs, multi-gpu, 512 tokens"
  [ -f "$work/q72b/config.json" ] || $vg synth --arch qwen2 --preset 72b --out "$work/q72b" >/dev/null
  $vg run "$work/q72b" --strategy multi-gpu --max-attempts 1 --tokens 512 --steps 3 --json > "$out/q72b.json" 2>"$out/q72b.err"
  summary "$out/q72b.json" || tail -3 "$out/q72b.err"
  ;;
6)
  echo "== 6. the resident load by upload path: Qwen2.5-7B shapes (15.2 GB), warm page cache, first GPU"
  export CUDA_VISIBLE_DEVICES=0
  [ -f "$work/q7b/config.json" ] || $vg synth --arch qwen2 --preset 7b --out "$work/q7b" >/dev/null
  cat "$work"/q7b/*.safetensors > /dev/null
  for path in staged registered mixed staged registered mixed; do
    $vg load "$work/q7b" --strategy auto --upload-from $path --max-attempts 1 --report "$out/load-$path.json" >/dev/null 2>"$out/load-$path.err"
    python3 - "$out/load-$path.json" "$path" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))["load"]
print(f"  {sys.argv[2]}: {l['bytes_to_gpus']/1e9:.2f} GB in {l['seconds']:.3f} s = {l['bytes_to_gpus']/l['seconds']/1e9:.1f} GB/s "
      f"({l.get('bytes_from_registered_pages', 0)/1e9:.2f} GB from registered pages)")
PY
  done
  ;;
7)
  echo "== 7. without root: user nobody, memlock $(su nobody -s /bin/sh -c 'ulimit -l' 2>/dev/null || echo '?') KiB"
  export CUDA_VISIBLE_DEVICES=0
  nr=/tmp/vramguard-nonroot; rm -rf $nr; mkdir -p $nr; cp -r $fixture/model $nr/model; chmod -R a+rX $nr
  chmod a+rx /work /work/main /work/main/build-gpu 2>/dev/null; chmod -R a+rX /work/main/build-gpu/bin /work/main/build-gpu/lib* 2>/dev/null
  for s in sequential-offload auto; do
    runuser -u nobody -- env HOME=/tmp $vg run $nr/model --strategy $s --max-attempts 1 --steps 2 --json \
      > "$out/nonroot-$s.json" 2>"$out/nonroot-$s.err"
    echo "  $s: rc=$? $(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); l=r['load']; print('stream source', l['stream_source'], '| warnings', r.get('warnings'))" "$out/nonroot-$s.json" 2>&1 | tail -1)"
  done
  # A small memlock limit, as a desktop distribution sets it: registration refused, the load falls back.
  runuser -u nobody -- env HOME=/tmp prlimit --memlock=65536:65536 $vg run $nr/model --strategy sequential-offload --max-attempts 1 \
    --steps 2 --stream-from registered --json > "$out/nonroot-memlock.json" 2>"$out/nonroot-memlock.err"
  echo "  memlock 64 KiB, --stream-from registered: rc=$? $(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print('stream source', r['load']['stream_source'], '| warnings', r.get('warnings'))" "$out/nonroot-memlock.json" 2>&1 | tail -1)"
  ;;
esac
done
