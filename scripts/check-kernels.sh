#!/usr/bin/env bash
# Compiles vramguard's own CUDA kernels (host/devices/cuda/*.cu) with nvcc alone — no libtorch, no GPU —
# for the GPUs their fp8 paths run on, and prints each kernel's registers and spills as ptxas counts
# them: a kernel's compile errors and its register pressure, seen on any machine with nvcc before the
# build on a GPU machine (whose time is scarce). It checks that the kernels compile, not that they
# compute right: their tests run only on a GPU.
# Usage: scripts/check-kernels.sh [SM...]   (default: 89 90, Ada and Hopper); NVCC=PATH picks nvcc.
set -euo pipefail
cd "$(dirname "$0")/.."
nvcc=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
if [ ! -x "$nvcc" ]; then
  echo "check-kernels: no nvcc at '$nvcc' (looked for NVCC, then nvcc on PATH, then /usr/local/cuda/bin)." \
    "Install the CUDA toolkit or set NVCC=/path/to/nvcc" >&2
  exit 2
fi
"$nvcc" --version | tail -1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
sms=("$@")
[ ${#sms[@]} -gt 0 ] || sms=(89 90)
status=0
for sm in "${sms[@]}"; do
  for source in host/devices/cuda/*.cu; do
    log="$work/$(basename "$source").sm_$sm.log"
    if ! "$nvcc" -std=c++17 -O3 -I host -gencode "arch=compute_$sm,code=sm_$sm" -Xptxas -v -c "$source" \
      -o "$work/kernel.o" > "$log" 2>&1; then
      echo "sm_$sm $source: does not compile:"
      grep -E "error" "$log" | head -20
      status=1
      continue
    fi
    python3 - "$log" "sm_$sm" "$(basename "$source")" <<'PY'
import re, subprocess, sys
log, sm, source = sys.argv[1:4]
kernel, spills = None, {}
for line in open(log):
    if m := re.search(r"(?:Compiling entry function|Function properties for) '?([\w$]+)'?", line):
        kernel = m.group(1)
    elif (m := re.search(r"(\d+) bytes spill stores", line)) and kernel:
        spills[kernel] = int(m.group(1))
    elif (m := re.search(r"Used (\d+) registers", line)) and kernel:
        name = subprocess.run(["c++filt", kernel], capture_output=True, text=True).stdout.strip() or kernel
        name = name.removeprefix("void ").replace("(anonymous namespace)::", "")
        name = name[: name.rfind(">(") + 1] if ">(" in name else name.split("(")[0]  # the parameters off
        name = re.sub(r"^(?:\w+::)+", "", name).replace("vramguard::cuda::", "")
        spilled = spills.get(kernel, 0)
        print(f"{sm} {source} {name}: {m.group(1)} registers, " + (f"SPILLS {spilled} bytes" if spilled else "no spills"))
PY
  done
done
exit $status
