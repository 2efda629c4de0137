"""Runs a command and samples, through NVML, the GPU memory its process holds (nvidia-smi's figure, the
CUDA context included) every --interval-ms; prints the peak per GPU, the sample count and the rate
reached, and writes them as JSON (--json FILE). An independent check of the figure vramguard reports
from its own sampler.

    python3 bench/gpu/nvml_peak.py --json peak.json -- ./build-gpu/bin/vramguard edit ...
"""
import argparse
import json
import subprocess
import sys
import time

from nvml_process import ProcessMemory


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--interval-ms", type=float, default=15)
    parser.add_argument("--json")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args()
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    memory = ProcessMemory()
    child = subprocess.Popen(command)
    peaks, samples, started = [0] * len(memory.handles), 0, time.monotonic()
    tick = started
    while child.poll() is None:
        peaks = [max(peak, used) for peak, used in zip(peaks, memory.per_gpu(child.pid))]
        samples += 1
        tick += args.interval_ms / 1000  # on a fixed clock: the driver calls' own time does not slow the rate
        time.sleep(max(0.0, tick - time.monotonic()))
    seconds = time.monotonic() - started
    result = {"returncode": child.returncode, "samples": samples, "seconds": seconds,
              "rate_hz": samples / seconds if seconds else 0,
              "peak_bytes": {f"cuda:{i}": b for i, b in enumerate(peaks) if b}}
    print(f"[nvml] rc={child.returncode} {samples} samples in {seconds:.1f} s ({result['rate_hz']:.0f} Hz); peak "
          + ", ".join(f"{d}: {b / 1e9:.3f} GB ({b / 2**20:.0f} MiB)" for d, b in result["peak_bytes"].items()),
          file=sys.stderr)
    if args.json:
        json.dump(result, open(args.json, "w"), indent=1)
    sys.exit(child.returncode)


if __name__ == "__main__":
    main()
