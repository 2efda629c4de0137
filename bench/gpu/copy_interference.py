"""Does a host-to-device copy running beside the compute slow the compute down? (issue 26: streamed, the
2511 step computes 7 % longer than resident, with every unit prefetched and no copy waits.)

One GPU, PyTorch only: a stack of MMDiT-shaped blocks (Qwen-Image's widths, joint attention over the
image's and the text's tokens, bf16) timed on the compute stream by CUDA events,
  - alone;
  - with a copy stream keeping the link busy from pinned memory (what the streaming window does);
  - with the compute stream waiting on an already-recorded event before each block (the window's
    per-unit ordering, without a copy);
while NVML is sampled at 50 Hz for the SM clock, the power draw and the clock-limit reasons.

  python3 copy_interference.py [IMAGE_TOKENS] [TEXT_TOKENS] [BLOCKS]
"""
import ctypes
import statistics
import sys
import threading
import time

import torch
import torch.nn.functional as F

IMAGE_TOKENS = int(sys.argv[1]) if len(sys.argv) > 1 else 12288
TEXT_TOKENS = int(sys.argv[2]) if len(sys.argv) > 2 else 738
BLOCKS = int(sys.argv[3]) if len(sys.argv) > 3 else 60
WIDTH, MLP, HEADS = 3072, 12288, 24
dev = torch.device("cuda:0")
bf16 = torch.bfloat16


class Nvml:
    """SM clock (MHz), power (W) and the clock-limit reasons' bits, sampled in a thread."""

    def __init__(self):
        self.lib = ctypes.CDLL("libnvidia-ml.so.1")
        self.lib.nvmlInit_v2()
        self.handle = ctypes.c_void_p()
        self.lib.nvmlDeviceGetHandleByIndex_v2(0, ctypes.byref(self.handle))
        self.samples = []
        self.running = False

    def sample(self):
        clock, power, reasons = ctypes.c_uint(), ctypes.c_uint(), ctypes.c_ulonglong()
        self.lib.nvmlDeviceGetClockInfo(self.handle, 1, ctypes.byref(clock))  # NVML_CLOCK_SM
        self.lib.nvmlDeviceGetPowerUsage(self.handle, ctypes.byref(power))
        self.lib.nvmlDeviceGetCurrentClocksThrottleReasons(self.handle, ctypes.byref(reasons))
        return clock.value, power.value / 1000, reasons.value

    def __enter__(self):
        self.samples, self.running = [], True

        def loop():
            while self.running:
                self.samples.append(self.sample())
                time.sleep(0.02)

        self.thread = threading.Thread(target=loop)
        self.thread.start()
        return self

    def __exit__(self, *_):
        self.running = False
        self.thread.join()

    def summary(self):
        if not self.samples:
            return "no samples"
        clocks = [s[0] for s in self.samples]
        watts = [s[1] for s in self.samples]
        reasons = 0
        for s in self.samples:
            reasons |= s[2]
        return (f"SM clock median {statistics.median(clocks)} MHz (min {min(clocks)}), power median "
                f"{statistics.median(watts):.0f} W (max {max(watts):.0f}), limit reasons seen 0x{reasons:x}")


def linear_weights(n_in, n_out):
    return torch.randn(n_out, n_in, device=dev, dtype=bf16) * 0.02


# One block's Linears, per stream (image, text): q, k, v, out, mlp up, mlp down. Every block has its own
# weights, as the real model does, so that none stays in L2.
blocks = []
for _ in range(BLOCKS):
    block = {}
    for stream in ("img", "txt"):
        block[stream] = [linear_weights(WIDTH, WIDTH) for _ in range(4)] + [linear_weights(WIDTH, MLP),
                                                                           linear_weights(MLP, WIDTH)]
    blocks.append(block)
img = torch.randn(IMAGE_TOKENS, WIDTH, device=dev, dtype=bf16)
txt = torch.randn(TEXT_TOKENS, WIDTH, device=dev, dtype=bf16)


def run_block(block, img, txt, ready=None):
    if ready is not None:
        torch.cuda.current_stream().wait_event(ready)
    qkv = []
    for x, w in ((img, block["img"]), (txt, block["txt"])):
        qkv.append([F.linear(x, w[i]) for i in range(3)])
    q, k, v = (torch.cat([qkv[0][i], qkv[1][i]]).view(1, -1, HEADS, WIDTH // HEADS).transpose(1, 2) for i in range(3))
    attn = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(-1, WIDTH)
    out = []
    for x, part, w in ((img, attn[:IMAGE_TOKENS], block["img"]), (txt, attn[IMAGE_TOKENS:], block["txt"])):
        h = x + F.linear(part, w[3])
        out.append(h + F.linear(F.gelu(F.linear(h, w[4]), approximate="tanh"), w[5]))
    return out


def timed_pass(ready=None):
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    a, b = img, txt
    for block in blocks:
        a, b = run_block(block, a, b, ready)
        a, b = a * 0.5, b * 0.5  # keep the values bounded
    end.record()
    end.synchronize()
    return start.elapsed_time(end) / 1e3


block_bytes = sum(w.numel() * 2 for s in blocks[0].values() for w in s)
host = torch.empty(block_bytes, dtype=torch.uint8).pin_memory()
device_slot = torch.empty(block_bytes, dtype=torch.uint8, device=dev)
copy_stream = torch.cuda.Stream()


def copies_running(seconds):
    """Enqueues about `seconds` of copies on the copy stream; returns its end event."""
    with torch.cuda.stream(copy_stream):
        start = torch.cuda.Event(enable_timing=True)
        start.record()
        device_slot.copy_(host, non_blocking=True)
        end = torch.cuda.Event(enable_timing=True)
        end.record()
    end.synchronize()
    one = start.elapsed_time(end) / 1e3
    with torch.cuda.stream(copy_stream):
        first = torch.cuda.Event(enable_timing=True)
        first.record()
        n = max(1, int(seconds / one))
        for _ in range(n):
            device_slot.copy_(host, non_blocking=True)
        last = torch.cuda.Event(enable_timing=True)
        last.record()
    return first, last, n, one


print(f"{BLOCKS} blocks, {IMAGE_TOKENS} image + {TEXT_TOKENS} text tokens, {block_bytes / 1e6:.0f} MB of weights "
      f"a block; {torch.cuda.get_device_name(0)}")
for _ in range(2):
    timed_pass()
nvml = Nvml()
results = {}
for round_ in range(3):
    for name in ("alone", "beside copies", "event waits"):
        torch.cuda.synchronize()
        with nvml:
            if name == "beside copies":
                first, last, n, one = copies_running(3.0)
                seconds = timed_pass()
                last.synchronize()
                rate = n * block_bytes / (first.elapsed_time(last) / 1e3) / 1e9
                name_rate = f"{rate:.1f} GB/s while computing (alone {block_bytes / one / 1e9:.1f})"
            elif name == "event waits":
                ready = torch.cuda.Event()
                ready.record(copy_stream)
                seconds = timed_pass(ready)
                name_rate = ""
            else:
                seconds = timed_pass()
                name_rate = ""
        results.setdefault(name, []).append(seconds)
        print(f"round {round_ + 1} {name:14s}: {seconds:.4f} s a pass  {name_rate}  | {nvml.summary()}", flush=True)
alone = statistics.median(results["alone"])
for name, values in results.items():
    print(f"median {name:14s}: {statistics.median(values):.4f} s ({statistics.median(values) / alone:.3f}x alone)")

# The streaming window as the executor runs it: SLOTS device buffers; block i computes from slot i % SLOTS
# after the compute stream waits for its fill; block i + SLOTS - 1 is copied (on the copy stream, after
# the compute stream's release of its slot) as block i begins. Each block's span is timed by events
# recorded after its wait and at its release, as the executor's compute figure is; resident: the same
# spans over weights that stay.
shapes = [w.shape for s in ("img", "txt") for w in blocks[0][s]]
sizes = [w.numel() for s in ("img", "txt") for w in blocks[0][s]]
distinct_hosts = 4
hosts = [torch.empty(block_bytes // 2, dtype=bf16).normal_(0, 0.02).pin_memory() for _ in range(distinct_hosts)]


def views(flat):
    out, offset = [], 0
    for shape, size in zip(shapes, sizes):
        out.append(flat[offset:offset + size].view(shape))
        offset += size
    return {"img": out[:6], "txt": out[6:]}


def streamed_pass(slots, pieces):
    buffers = [torch.empty(block_bytes // 2, dtype=bf16, device=dev) for _ in range(slots)]
    filled = [torch.cuda.Event() for _ in range(slots)]
    released = [torch.cuda.Event() for _ in range(slots)]
    marks = []

    def fill(unit):
        slot = unit % slots
        with torch.cuda.stream(copy_stream):
            copy_stream.wait_event(released[slot])
            source = hosts[unit % distinct_hosts]
            if pieces == 1:
                buffers[slot].copy_(source, non_blocking=True)
            else:
                offset = 0
                for size in sizes:
                    buffers[slot][offset:offset + size].copy_(source[offset:offset + size], non_blocking=True)
                    offset += size
            filled[slot].record(copy_stream)

    for unit in range(slots - 1):
        fill(unit)
    start = torch.cuda.Event(enable_timing=True)
    start.record()
    a, b = img, txt
    for i in range(BLOCKS):
        slot = i % slots
        torch.cuda.current_stream().wait_event(filled[slot])
        if i + slots - 1 < BLOCKS:
            fill(i + slots - 1)
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        a, b = run_block(views(buffers[slot]), a, b)
        a, b = a * 0.5, b * 0.5
        end.record()
        released[slot].record()
        marks.append((begin, end))
    stop = torch.cuda.Event(enable_timing=True)
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / 1e3, sum(b.elapsed_time(e) for b, e in marks) / 1e3


def resident_pass():
    marks = []
    start = torch.cuda.Event(enable_timing=True)
    start.record()
    a, b = img, txt
    for block in blocks:
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        begin.record()
        a, b = run_block(block, a, b)
        a, b = a * 0.5, b * 0.5
        end.record()
        marks.append((begin, end))
    stop = torch.cuda.Event(enable_timing=True)
    stop.record()
    stop.synchronize()
    return start.elapsed_time(stop) / 1e3, sum(b.elapsed_time(e) for b, e in marks) / 1e3


one = copies_running(0.0)[3]
print(f"\nstreaming window: copy bound {BLOCKS * one:.4f} s a pass ({block_bytes / one / 1e9:.1f} GB/s)")
runs = {"resident": resident_pass}
for slots in (2, 3):
    for pieces in (1, 12):
        runs[f"streamed, {slots} slots, {pieces} piece(s)"] = (lambda s=slots, p=pieces: streamed_pass(s, p))
found = {}
for round_ in range(3):
    for name, run in runs.items():
        torch.cuda.synchronize()
        found.setdefault(name, []).append(run())
for name, values in found.items():
    total = statistics.median(v[0] for v in values)
    spans = statistics.median(v[1] for v in values)
    print(f"{name:32s}: pass {total:.4f} s ({total / (BLOCKS * one):.3f}x the copy bound), block spans {spans:.4f} s")
