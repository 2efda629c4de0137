"""The pinned host->device bandwidth, measured the same way by every GPU benchmark: the best of a few
copies of 2 GiB from page-locked memory (the divisor of every streaming bound)."""
import time

import torch


def pinned_bandwidth(gib=2, repeats=5):
    host = torch.empty(gib << 30, dtype=torch.uint8).pin_memory()
    device = torch.empty_like(host, device="cuda")
    best = float("inf")
    for _ in range(repeats):
        torch.cuda.synchronize()
        start = time.perf_counter()
        device.copy_(host, non_blocking=True)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    del host, device
    torch.cuda.empty_cache()
    return (gib << 30) / best


if __name__ == "__main__":  # the scripts print it beside their runs
    print(f"pinned host->device: {pinned_bandwidth() / 1e9:.1f} GB/s")
