"""Load throughput against the peers, on the same files, same machine, same run (run by
bench/gpu/run-load-bench.sh on the GPU machine): pinned host->device bandwidth, vramguard's load (from
its JSON report), safetensors.torch.load_file(device="cuda"), and transformers' from_pretrained(
device_map="auto"). Prints one JSON document.
"""
import glob
import json
import os
import sys
import time

import torch

from pinned_bandwidth import pinned_bandwidth


def safetensors_load(model_dir):
    from safetensors.torch import load_file
    files = sorted(glob.glob(os.path.join(model_dir, "*.safetensors")))
    torch.cuda.synchronize()
    start = time.perf_counter()
    total = 0
    for f in files:
        tensors = load_file(f, device="cuda:0")
        total += sum(t.numel() * t.element_size() for t in tensors.values())
        del tensors
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    torch.cuda.empty_cache()
    return total, seconds


def transformers_load(model_dir):
    from transformers import AutoModelForCausalLM
    torch.cuda.synchronize()
    start = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(model_dir, device_map="auto", dtype=torch.bfloat16)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    total = sum(p.numel() * p.element_size() for p in model.parameters())
    del model
    torch.cuda.empty_cache()
    return total, seconds


def main():
    model_dir, vramguard_report = sys.argv[1], sys.argv[2]
    with open(vramguard_report) as f:
        report = json.load(f)
    vg_bytes = report["load"]["bytes_to_gpus"]
    vg_seconds = report["load"]["seconds"]
    pinned = pinned_bandwidth()
    st_bytes, st_seconds = safetensors_load(model_dir)
    tf_bytes, tf_seconds = transformers_load(model_dir)
    out = {
        "device": torch.cuda.get_device_name(0),
        "pinned_bytes_per_s": pinned,
        "vramguard": {"bytes": vg_bytes, "seconds": vg_seconds, "bytes_per_s": vg_bytes / vg_seconds},
        "safetensors_load_file": {"bytes": st_bytes, "seconds": st_seconds, "bytes_per_s": st_bytes / st_seconds},
        "transformers_from_pretrained_auto": {"bytes": tf_bytes, "seconds": tf_seconds, "bytes_per_s": tf_bytes / tf_seconds},
    }
    out["vramguard_vs_pinned"] = out["vramguard"]["bytes_per_s"] / pinned
    out["vramguard_vs_transformers"] = out["vramguard"]["bytes_per_s"] / out["transformers_from_pretrained_auto"]["bytes_per_s"]
    out["vramguard_vs_safetensors"] = out["vramguard"]["bytes_per_s"] / out["safetensors_load_file"]["bytes_per_s"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
