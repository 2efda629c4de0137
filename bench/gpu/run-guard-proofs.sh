#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu (see shared gpu README): the memory guard's proofs
# and the load benchmark. Results (JSON reports and logs) go to $OUT.
set -uo pipefail
out=${OUT:-/tmp/vramguard-proofs}
mkdir -p "$out"
vg=./build-gpu/bin/vramguard
work=/tmp/vramguard-proofs-work
mkdir -p "$work"
[ -f "$work/qie/model_index.json" ] || $vg synth --arch qwen-image-edit --preset full --out "$work/qie" >/dev/null

echo "== 1. the motivating case on the real GPU, capped as a 16 GB card (configs/rtx4080-16gb.ini)"
for s in balanced auto sequential-offload; do
  $vg load "$work/qie" --config configs/rtx4080-16gb.ini --strategy "$s" --max-attempts 1 --report "$out/rtx4080-$s.json" \
    > "$out/rtx4080-$s.txt" 2>&1
  echo "$s: rc=$?"
  python3 - "$out/rtx4080-$s.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
a = r["attempts"][-1]
pm = a.get("predicted_vs_measured", {}).get("cuda:0", {})
print(f"  success={r['success']} measured_process={pm.get('measured_process_bytes', 0)/1e9:.3f} GB "
      f"predicted_load_peak={pm.get('predicted_load_peak_bytes', 0)/1e9:.3f} GB error={pm.get('load_peak_error_percent', 0):+.2f}% "
      f"weights+window error={pm.get('error_percent', 0):+.2f}% after_unload_ours={r.get('after_unload', {}).get('cuda:0', {}).get('ours_in_use_bytes')} "
      f"load={r['load']['seconds']:.2f}s")
PY
done

echo "== 2. another process takes most of the GPU while vramguard loads: fallback, then success"
rm -f /tmp/vramguard-go
python3 bench/gpu/other_process.py /tmp/vramguard-go 6 60 > "$out/other-fallback-process.txt" 2>&1 &
other=$!
until grep -q ready "$out/other-fallback-process.txt" 2>/dev/null; do sleep 0.1; done
$vg load "$work/qie" --dtype bf16 --strategy balanced --report "$out/other-fallback.json" > "$out/other-fallback.txt" 2>&1 &
loader=$!
# The moment the guard logs its load stage, the other program starts taking memory.
until grep -q "balanced: load" "$out/other-fallback.txt" 2>/dev/null; do sleep 0.01; done
touch /tmp/vramguard-go
wait $loader
echo "fallback: rc=$?"
cat "$out/other-fallback-process.txt"
kill $other 2>/dev/null; wait $other 2>/dev/null
python3 - "$out/other-fallback.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  success", r["success"], "strategy", r["strategy"], [(a["strategy"], a["outcome"][:90], a["leaked_bytes"]) for a in r["attempts"]])
b, u = r["baseline"]["cuda:0"], r.get("after_unload", {}).get("cuda:0", {})
print("  baseline ours", b["ours_in_use_bytes"], "after unload ours", u.get("ours_in_use_bytes"), "cached", u.get("ours_cached_bytes"))
for a in r["attempts"]:
    for s in a["stages"]:
        print("   ", a["strategy"], s["stage"], round(s["seconds"], 3), s["outcome"][:60])
PY

echo "== 3. too little left: the clear report, and memory back to the baseline"
touch /tmp/vramguard-go
python3 bench/gpu/other_process.py /tmp/vramguard-go 1.5 60 > "$out/too-little-process.txt" 2>&1 &
other=$!
until grep -q "left free" "$out/too-little-process.txt" 2>/dev/null; do sleep 0.1; done
$vg load "$work/qie" --dtype bf16 --strategy balanced --report "$out/too-little.json" > "$out/too-little.txt" 2>&1
echo "too little: rc=$?"
kill $other 2>/dev/null; wait $other 2>/dev/null
tail -n 6 "$out/too-little.txt"
python3 - "$out/too-little.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
b = r["baseline"]["cuda:0"]
last = r["attempts"][-1]["stages"][-1]["after"]["cuda:0"]
print("  success", r["success"], "attempts", [a["strategy"] for a in r["attempts"]], "leaked", [a["leaked_bytes"] for a in r["attempts"]])
print("  ours in use: baseline", b["ours_in_use_bytes"], "after the last release", last["ours_in_use_bytes"], "cached", last["ours_cached_bytes"])
PY

echo "== 4. load throughput: a 15 GB checkpoint in the page cache, against the peers, same run"
[ -f "$work/q7/config.json" ] || $vg synth --arch qwen2 --preset 7b --data random --seed 1 --out "$work/q7" >/dev/null
cat "$work"/q7/*.safetensors > /dev/null
$vg load "$work/q7" --strategy auto --report "$out/load-bench-vramguard.json" > "$out/load-bench-vramguard.txt" 2>&1
echo "vramguard load: rc=$?"
$vg load "$work/q7" --strategy auto --report "$out/load-bench-vramguard.json" > "$out/load-bench-vramguard.txt" 2>&1
python3 bench/gpu/load_comparison.py "$work/q7" "$out/load-bench-vramguard.json" > "$out/load-bench.json" 2> "$out/load-bench.err"
echo "comparison: rc=$?"
cat "$out/load-bench.json"
echo "page cache read rate, 12 threads of 32 MiB preads (the loader's pattern):"
./build-gpu/bin/bench_page_cache 12 "$work"/q7/*.safetensors
