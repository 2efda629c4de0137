"""Another program taking GPU memory while vramguard loads (run by bench/gpu/run-guard-proofs.sh):
initializes CUDA, prints "ready", waits for the file TRIGGER to appear, then allocates in 2 GiB steps
until only LEAVE_GIB of the GPU is free, holds it for HOLD seconds, and exits."""
import os
import sys
import time

import torch

trigger, leave_gib, hold = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
torch.cuda.init()
torch.empty(1, device="cuda:0")
print("ready", flush=True)
while not os.path.exists(trigger):
    time.sleep(0.005)
blocks = []
while True:
    free, total = torch.cuda.mem_get_info(0)
    step = min(2 << 30, int(free - leave_gib * 2**30))
    if step < (256 << 20):
        break
    try:
        blocks.append(torch.empty(step, dtype=torch.uint8, device="cuda:0"))
    except torch.OutOfMemoryError:
        time.sleep(0.001)
free, total = torch.cuda.mem_get_info(0)
print(f"other process holds {sum(b.numel() for b in blocks) / 2**30:.1f} GiB; {free / 2**30:.1f} GiB left free", flush=True)
time.sleep(hold)
