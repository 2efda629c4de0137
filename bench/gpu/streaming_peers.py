"""The peers vramguard's streaming is measured against, on the same checkpoint, machine and run (called
by bench/gpu/run-executor-proofs.sh): a step of the model fully resident (the compute floor), accelerate's
device_map="auto" under the same max_memory (its offload hooks), diffusers' group offloading (leaf level,
streams: the best it offers), and the pinned host->device bandwidth (the streaming floor's divisor).
Prints one JSON document.

    python3 streaming_peers.py MODEL_DIR MAX_MEMORY_GB TOKENS STEPS
"""
import json
import statistics
import sys
import time

import torch

from pinned_bandwidth import pinned_bandwidth


def time_steps(model, input_ids, steps):
    times = []
    with torch.inference_mode():
        for _ in range(steps):
            torch.cuda.synchronize()
            start = time.perf_counter()
            model(input_ids=input_ids, use_cache=False)
            torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
    return {"first_seconds": times[0], "median_seconds": statistics.median(times[1:]), "steps": len(times),
            "peak_bytes": torch.cuda.max_memory_allocated()}


def device_used():
    free, total = torch.cuda.mem_get_info()
    return total - free


def main():
    model_dir, max_memory_gb, tokens, steps = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    from transformers import AutoModelForCausalLM
    torch.zeros(1, device="cuda")
    used_at_start = device_used()  # the context, before any kernel or library handle is loaded
    out = {"device": torch.cuda.get_device_name(0), "pinned_bytes_per_s": pinned_bandwidth()}
    input_ids = torch.randint(0, 1000, (1, tokens), generator=torch.Generator().manual_seed(0)).cuda()

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map="cuda:0")
    out["model_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    torch.cuda.reset_peak_memory_stats()
    out["resident"] = time_steps(model, input_ids, steps)
    del model
    torch.cuda.empty_cache()
    # What plain PyTorch keeps after the model is gone: cuBLAS workspaces (in the allocator), and the
    # kernels and library handles the pass loaded into the context (outside it).
    out["resident"]["left_after_unload_bytes"] = device_used() - used_at_start
    out["resident"]["allocator_reserved_after_unload_bytes"] = torch.cuda.memory_reserved()

    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, device_map="auto",
                                                 max_memory={0: f"{max_memory_gb}GB", "cpu": "200GB"})
    on_gpu = sum(p.numel() * p.element_size() for p in model.parameters() if p.device.type == "cuda")
    torch.cuda.reset_peak_memory_stats()
    out["accelerate_auto"] = time_steps(model, input_ids, steps)
    out["accelerate_auto"]["streamed_bytes"] = out["model_bytes"] - on_gpu
    del model
    torch.cuda.empty_cache()

    sys.path.insert(0, ".pydeps/src")
    from diffusers.hooks import apply_group_offloading
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16)
    start = time.perf_counter()
    apply_group_offloading(model, onload_device=torch.device("cuda:0"), offload_type="leaf_level", use_stream=True)
    out["diffusers_setup_seconds"] = time.perf_counter() - start
    torch.cuda.reset_peak_memory_stats()
    out["diffusers_group_offload"] = time_steps(model, input_ids, steps)
    out["diffusers_group_offload"]["streamed_bytes"] = out["model_bytes"]
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
