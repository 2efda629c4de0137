"""Another program taking GPU memory while vramguard loads (run by bench/gpu/run-guard-proofs.sh):
waits DELAY seconds, then allocates in 1 GiB steps until only LEAVE_GIB of the GPU is free, holds it for
HOLD seconds, and exits."""
import sys
import time

import torch

delay, leave_gib, hold = float(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
time.sleep(delay)
blocks = []
while True:
    free, total = torch.cuda.mem_get_info(0)
    if free <= (leave_gib + 1) * 2**30:
        break
    blocks.append(torch.empty(1 << 30, dtype=torch.uint8, device="cuda:0"))
    time.sleep(0.01)
free, total = torch.cuda.mem_get_info(0)
print(f"other process holds {len(blocks)} GiB; {free / 2**30:.1f} GiB left free", flush=True)
time.sleep(hold)
