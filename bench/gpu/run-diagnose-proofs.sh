#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: doctor, fix and monitor on a real GPU, through NVML.
#   1. doctor with nothing else running: the GPU's facts (link, ECC, MIG, pinned bandwidth), exit code
#   2. another program of ours holding all but 4 GiB: doctor names it and says what fits; monitor alerts;
#      fix --terminate-own --yes stops it and loads Qwen2.5-7B shapes with configs/rtx4080-16gb.ini
#   3. monitor --serve: /api/state and /metrics fetched over HTTP while it samples
# Results go to $RESULTS.
set -uo pipefail
out=${RESULTS:-/tmp/vramguard-results}
mkdir -p "$out"
vg=./build-gpu/bin/vramguard
work=/tmp/vramguard-diagnose-work
mkdir -p "$work"
export VRAMGUARD_STATE_DIR=$work/state
[ -f "$work/q7b/config.json" ] || $vg synth --arch qwen2 --preset 7b --out "$work/q7b" >/dev/null
cat "$work"/q7b/*.safetensors > /dev/null

echo "== 1. doctor, nothing else on the GPU"
CUDA_VISIBLE_DEVICES=0 $vg doctor > "$out/doctor-idle.txt" 2>&1
echo "  rc=$?"
CUDA_VISIBLE_DEVICES=0 $vg doctor --json > "$out/doctor-idle.json" 2>/dev/null
python3 - "$out/doctor-idle.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
print("  blocked:", r.get("blocked"))
for f in r.get("findings", []):
    print(f"  [{f.get('severity')}] {f.get('topic')}: {f.get('summary')}")
PY

echo "== 2. another program holds all but 4 GiB: doctor, monitor, fix"
rm -f "$work/go"
touch "$work/go"
python3 bench/gpu/other_process.py "$work/go" 4 300 > "$out/diagnose-other.txt" 2>&1 &
other=$!
for _ in $(seq 1 600); do grep -q "other process holds" "$out/diagnose-other.txt" && break; sleep 0.1; done
head -2 "$out/diagnose-other.txt" | sed 's/^/  /'
CUDA_VISIBLE_DEVICES=0 $vg doctor "$work/q7b" --config configs/rtx4080-16gb.ini > "$out/doctor-busy.txt" 2>&1
echo "  doctor rc=$? (1 expected: the model fits under no strategy's plan as it is)"
grep -E "python3|fits|pid|$other" "$out/doctor-busy.txt" | head -12 | sed 's/^/    /'
CUDA_VISIBLE_DEVICES=0 $vg monitor --json-lines --interval 0.2 --duration 1.2 --alert-above 50% > "$out/monitor-busy.jsonl" 2>&1
echo "  monitor rc=$?: $(grep -c '"alert"' "$out/monitor-busy.jsonl") alert line(s); first: $(grep -m1 alert "$out/monitor-busy.jsonl" | cut -c1-200)"
CUDA_VISIBLE_DEVICES=0 $vg fix "$work/q7b" --config configs/rtx4080-16gb.ini --terminate-own --yes --grace 5 \
  --write-config "$work/worked.ini" --report "$out/fix-report.json" > "$out/fix.txt" 2>&1
echo "  fix rc=$? (0 expected)"
tail -15 "$out/fix.txt" | sed 's/^/    /'
if kill -0 "$other" 2>/dev/null; then echo "  the other program still runs"; kill "$other"; else echo "  the other program was stopped by fix"; fi
wait "$other" 2>/dev/null
cp "$work/worked.ini" "$out/fix-worked.ini" 2>/dev/null

echo "== 3. monitor --serve"
port=18765
CUDA_VISIBLE_DEVICES=0 $vg monitor --serve 127.0.0.1:$port --interval 0.2 --duration 4 > "$out/monitor-serve.txt" 2>&1 &
server=$!
python3 - "$port" "$out" <<'PY'
import json, sys, time, urllib.request
port, out = sys.argv[1], sys.argv[2]
def get(path):
    for _ in range(50):
        try:
            return urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2).read().decode()
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"  no answer on {path}")
time.sleep(0.6)
state = get("/api/state"); metrics = get("/metrics"); page = get("/")
open(f"{out}/monitor-state.json", "w").write(state)
open(f"{out}/monitor-metrics.txt", "w").write(metrics)
s = json.loads(state)
print("  /api/state:", json.dumps(s)[:300])
print("  /metrics:", len(metrics.splitlines()), "lines;", [l for l in metrics.splitlines() if l.startswith("vramguard_gpu_")][:3])
print("  /:", len(page), "bytes of page")
PY
wait "$server"
echo "  monitor rc=$?"
