"""A LoRA in diffusers' naming (save_lora_weights: transformer.<module>.lora_A/lora_B.weight, alpha and
rank in lora_adapter_metadata) on the 12 projection kinds of every block of a QwenImage transformer, read
from its checkpoint's headers: the LoRA issue 26's measurements apply. Random values, bf16.
Usage: make_lora.py TRANSFORMER_FOLDER RANK OUT.safetensors"""
import glob
import json
import os
import struct
import sys

import torch
from safetensors.torch import save_file

KINDS = ("attn.to_q", "attn.to_k", "attn.to_v", "attn.to_out.0", "attn.add_q_proj", "attn.add_k_proj",
         "attn.add_v_proj", "attn.to_add_out", "img_mlp.net.0.proj", "img_mlp.net.2", "txt_mlp.net.0.proj",
         "txt_mlp.net.2")


def shapes(folder):
    found = {}
    for file in glob.glob(os.path.join(folder, "*.safetensors")):
        with open(file, "rb") as f:
            length = struct.unpack("<Q", f.read(8))[0]
            header = json.loads(f.read(length))
        found.update({name: entry["shape"] for name, entry in header.items() if name != "__metadata__"})
    return found


def main():
    folder, rank, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    weights = shapes(folder)
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for name, (rows, columns) in ((n, s) for n, s in weights.items() if len(s) == 2):
        module = name[: -len(".weight")]
        if not module.startswith("transformer_blocks.") or not module.split(".", 2)[2] in KINDS:
            continue
        tensors[f"transformer.{module}.lora_A.weight"] = (torch.randn(rank, columns, generator=generator) * 1e-3).bfloat16()
        tensors[f"transformer.{module}.lora_B.weight"] = (torch.randn(rows, rank, generator=generator) * 1e-3).bfloat16()
    metadata = {"transformer.r": rank, "transformer.lora_alpha": rank, "transformer.peft_type": "LORA"}
    save_file(tensors, out, metadata={"format": "pt", "lora_adapter_metadata": json.dumps(metadata)})
    print(f"{out}: {len(tensors) // 2} Linear layers, rank {rank}, "
          f"{sum(t.numel() * 2 for t in tensors.values()) / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
