"""Runs accelerate itself on a spread of module trees and budgets and stores its device maps, so that
the `balanced` strategy can be tested against them anywhere (tests/unit/balanced_fixtures_test.cpp).

Run where accelerate is installed (the GPU machine has accelerate 1.15; planning allocates nothing):
    python3 tests/data/accelerate/make_fixtures.py tests/data/accelerate/fixtures.json

Every tensor is bf16 and a multiple of 2 MiB, so accelerate's byte counts equal vramguard's
allocator-rounded ones and the maps must match exactly. Also times accelerate's planning of the
Qwen2.5-7B shapes (empty weights), for bench/README.md.
"""
import json
import sys
import time

import torch
from torch import nn

import accelerate
from accelerate import init_empty_weights
from accelerate.utils import get_balanced_memory, get_max_memory, infer_auto_device_map

MiB = 1 << 20


class Block(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.q = nn.Linear(d, d, bias=False)
        self.up = nn.Linear(d, f, bias=False)
        self.down = nn.Linear(f, d, bias=False)


class EncBlock(Block):
    pass


class DecBlock(Block):
    pass


class Inner(nn.Module):
    pass


def decoder(layers, widths):
    root = nn.Module()
    root.model = Inner()
    root.model.embed_tokens = nn.Embedding(4096, 1024)
    root.model.layers = nn.ModuleList([Block(1024, w) for w in widths(layers)])
    root.lm_head = nn.Linear(1024, 4096, bias=False)
    return root


def two_stacks():
    root = nn.Module()
    root.encoder = Inner()
    root.encoder.blocks = nn.ModuleList([EncBlock(1024, 2048) for _ in range(4)])
    root.decoder = Inner()
    root.decoder.blocks = nn.ModuleList([DecBlock(1024, 4096) for _ in range(6)])
    root.decoder.proj = nn.Linear(1024, 1024, bias=False)
    return root


MODELS = {
    "decoder": (lambda: decoder(12, lambda n: [4096] * n), ["Block"]),
    "uneven": (lambda: decoder(10, lambda n: [1024 * (1 + i % 3) for i in range(n)]), ["Block"]),
    "two_stacks": (two_stacks, ["EncBlock", "DecBlock"]),
}

BUDGETS_MIB = [
    ([1024], 1024),
    ([100], 1024),
    ([100], 60),
    ([40], 2048),
    ([120, 120], 1024),
    ([60, 200], 1024),
    ([200, 60], 1024),
    ([80, 80, 80], 1024),
    ([150, 150], 40),
    ([64, 64, 64, 64], 100),
]


def units_of(model, no_split):
    """The modules accelerate never splits: no-split blocks and leaf modules holding parameters."""
    units, skip = [], None
    for name, module in model.named_modules():
        if not name or (skip and (name == skip or name.startswith(skip + "."))):
            continue
        has_params = any(True for _ in module.parameters(recurse=False))
        if type(module).__name__ in no_split:
            units.append((name, "block", module))
            skip = name
        elif has_params and not any(True for _ in module.children()):
            units.append((name, "leaf", module))
    return units


def fixture(model_name, make, no_split, gpus_mib, cpu_mib, mode):
    with init_empty_weights():
        model = make()
    model = model.to(torch.bfloat16)
    max_memory = {i: m * MiB for i, m in enumerate(gpus_mib)}
    max_memory["cpu"] = cpu_mib * MiB
    given = dict(max_memory)
    if mode != "sequential":
        max_memory = get_balanced_memory(model, max_memory=max_memory, no_split_module_classes=no_split,
                                         dtype=torch.bfloat16, low_zero=(mode == "balanced_low_0"))
    device_map = infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split,
                                       dtype=torch.bfloat16)
    return {
        "model": model_name,
        "mode": mode,
        "max_memory": {str(k): int(v) for k, v in given.items()},
        "balanced_max_memory": {str(k): int(v) for k, v in max_memory.items()},
        "units": [
            {"name": name, "kind": kind,
             "tensors": [{"name": f"{name}.{p}", "shape": list(t.shape)} for p, t in module.named_parameters()]}
            for name, kind, module in units_of(model, no_split)
        ],
        "device_map": {k: (v if isinstance(v, str) else int(v)) for k, v in device_map.items()},
    }


def time_qwen25_7b():
    from transformers import AutoModelForCausalLM, Qwen2Config
    config = Qwen2Config(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
                         num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False)
    with init_empty_weights():
        model = AutoModelForCausalLM.from_config(config, torch_dtype=torch.bfloat16)
    no_split = model._no_split_modules
    times = []
    for _ in range(7):
        start = time.perf_counter()
        max_memory = get_balanced_memory(model, max_memory={0: 12 * 10**9, "cpu": 64 * 2**30},
                                         no_split_module_classes=no_split, dtype=torch.bfloat16)
        infer_auto_device_map(model, max_memory=max_memory, no_split_module_classes=no_split, dtype=torch.bfloat16)
        times.append(time.perf_counter() - start)
    times.sort()
    return {"median_ms": times[len(times) // 2] * 1e3, "min_ms": times[0] * 1e3, "runs": len(times)}


def main():
    # accelerate drops GPU indices this machine lacks; planning allocates nothing, so claim enough GPUs.
    torch.cuda.device_count = lambda: 8
    fixtures = []
    for name, (make, no_split) in MODELS.items():
        for gpus, cpu in BUDGETS_MIB:
            for mode in ("balanced", "balanced_low_0", "sequential"):
                if mode == "balanced_low_0" and len(gpus) < 2:
                    continue
                fixtures.append(fixture(name, make, no_split, gpus, cpu, mode))
    out = {"accelerate_version": accelerate.__version__, "torch_version": torch.__version__, "fixtures": fixtures}
    try:
        out["qwen25_7b_planning"] = time_qwen25_7b()
    except Exception as error:  # timing is a bonus; the fixtures are what the tests need
        out["qwen25_7b_planning_error"] = repr(error)
    with open(sys.argv[1], "w") as f:
        json.dump(out, f, indent=1)
    print(f"{len(fixtures)} fixtures from accelerate {accelerate.__version__}", out.get("qwen25_7b_planning"))


if __name__ == "__main__":
    main()
