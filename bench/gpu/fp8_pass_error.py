#!/usr/bin/env python3
"""Issue 27's quality figure on the full-size shapes: the relative error of one transformer pass's output
with fp8 weights and fp8 matmuls, against the same pass in bf16, on random weights.

Writes the full-size MMDiT (the tensor names, shapes and config of SOURCE, a synth'd transformer folder)
with random bf16 weights — every 2-D or larger weight drawn from N(0, 0.02²), as the library initializes
them; 1-D tensors (norms, biases) as SOURCE holds them — into DEST, then runs one pass through
`vramguard run` resident, once in bf16 and once per fp8 variant, with the same seeded inputs (a 1024x1024
edit: 8,192 image tokens and TOKENS text tokens), and prints ||fp8 - bf16|| / ||bf16|| for each.

Usage: fp8_pass_error.py VRAMGUARD SOURCE DEST [TOKENS]
"""
import json
import os
import subprocess
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file


def write_random_copy(source, dest):
    os.makedirs(dest, exist_ok=True)
    with open(os.path.join(source, "config.json")) as f:
        config = f.read()
    with open(os.path.join(dest, "config.json"), "w") as f:
        f.write(config)
    generator = torch.Generator(device="cuda").manual_seed(0)
    for name in sorted(os.listdir(source)):
        if name.endswith(".json") and name != "config.json":
            with open(os.path.join(source, name)) as f, open(os.path.join(dest, name), "w") as g:
                g.write(f.read())
        if not name.endswith(".safetensors"):
            continue
        tensors = {}
        with safe_open(os.path.join(source, name), framework="pt") as f:
            for key in f.keys():
                t = f.get_tensor(key)
                if t.dim() >= 2:
                    t = (torch.randn(t.shape, generator=generator, device="cuda", dtype=torch.float32) * 0.02).to(
                        torch.bfloat16).cpu()
                tensors[key] = t
        save_file(tensors, os.path.join(dest, name), metadata={"format": "pt"})


def one_pass(vramguard, model, output, tokens, extra):
    command = [vramguard, "run", "--model", model, "--height", "1024", "--width", "1024", "--tokens", str(tokens),
               "--seed", "1", "--output", output, "--max-attempts", "1", "-q"] + extra
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {' '.join(extra) or 'bf16'}: exit {done.returncode}: {done.stderr.strip()[-600:]}")
        return None
    return load_file(output)


def main():
    vramguard, source, dest = sys.argv[1:4]
    tokens = int(sys.argv[4]) if len(sys.argv) > 4 else 1659
    if not os.path.exists(os.path.join(dest, "config.json")):
        write_random_copy(source, dest)
    out = os.path.dirname(os.path.abspath(dest))
    reference = one_pass(vramguard, dest, os.path.join(out, "pass-bf16.safetensors"), tokens, [])
    variants = {
        "fp8 storage (per-tensor scales), bf16 matmuls": ["--weight-dtype", "model=fp8", "--fp8-compute", "off"],
        "fp8 storage + fp8 matmuls (per-tensor scales)": ["--weight-dtype", "model=fp8", "--fp8-compute", "on"],
        "fp8 storage + fp8 matmuls (per-row scales)": ["--weight-dtype", "model=fp8", "--fp8-scales", "row",
                                                       "--fp8-compute", "on"],
    }
    results = {}
    for label, extra in variants.items():
        result = one_pass(vramguard, dest, os.path.join(out, "pass-fp8.safetensors"), tokens, extra)
        if result is None:
            continue
        errors = {}
        for key, value in reference.items():
            a, b = value.double(), result[key].double()
            errors[key] = ((b - a).norm() / a.norm()).item()
        results[label] = errors
        print(f"{label}: relative error of the pass's output " +
              ", ".join(f"{k} {v:.3e}" for k, v in errors.items()))
    print(json.dumps(results))


if __name__ == "__main__":
    main()
