"""The libraries' own classes on the same shapes as run-architecture-proofs.sh section 3, resident on the
GPU, bf16, zero weights from the synthesized pipeline: transformers' Qwen2_5_VLForConditionalGeneration on a
448x448 image and a 64-token prompt (hidden states, as Qwen-Image-Edit keeps them), resident and the seed's way
under the RTX 4080 config (accelerate's device_map="balanced" with max_memory 0=12GB: what does not fit is
offloaded to the CPU and copied in by accelerate's hooks at each forward), diffusers' AutoencoderKLQwenImage
encoding and decoding 1024x1024. Prints one JSON object.

    python3 component_peers.py PIPELINE_DIR
"""
import gc
import json
import statistics
import sys
import time

import torch


def timed(run, steps=4):
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"first_seconds": times[0], "median_seconds": statistics.median(times[1:])}


def leftover():
    """What is still allocated before a model loads: an earlier row's model that a reference cycle
    keeps alive must not count against the next row's peak."""
    gc.collect()
    torch.cuda.empty_cache()
    return torch.cuda.memory_allocated()


def peak(run, baseline):
    """The peak allocated during one call (the model's weights included), less the baseline."""
    torch.cuda.reset_peak_memory_stats()
    run()
    return torch.cuda.max_memory_allocated() - baseline


folder = sys.argv[1]
result = {}
with torch.no_grad():
    from transformers import Qwen2_5_VLForConditionalGeneration
    baseline = leftover()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(f"{folder}/text_encoder", dtype=torch.bfloat16, device_map="cuda:0")
    config = model.config
    grid = 448 // 14
    image_tokens = grid * grid // 4
    ids = [config.vision_start_token_id] + [config.image_token_id] * image_tokens + [config.vision_end_token_id] + [100] * 64
    inputs = dict(input_ids=torch.tensor([ids], device="cuda"), attention_mask=torch.ones(1, len(ids), dtype=torch.long, device="cuda"),
                  pixel_values=torch.randn(grid * grid, 3 * 2 * 14 * 14, device="cuda", dtype=torch.bfloat16),
                  image_grid_thw=torch.tensor([[1, grid, grid]], device="cuda"))
    run = lambda: model(**inputs, output_hidden_states=True)
    result["transformers_text_encoder"] = {**timed(run), "peak_allocated_bytes": peak(run, baseline)}
    del model, run

    # The seed's settings: accelerate's balanced map inside 12 GB, the rest offloaded to the CPU.
    baseline = leftover()
    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(f"{folder}/text_encoder", dtype=torch.bfloat16, device_map="balanced",
                                                               max_memory={0: "12GB", "cpu": "200GB"})
    run = lambda: model(**inputs, output_hidden_states=True)
    offloaded = sum(1 for where in model.hf_device_map.values() if where == "cpu")
    result["transformers_text_encoder_balanced_12GB"] = {**timed(run), "peak_allocated_bytes": peak(run, baseline), "modules_offloaded": offloaded}
    del model, run

    from diffusers import AutoencoderKLQwenImage
    baseline = leftover()
    vae = AutoencoderKLQwenImage.from_pretrained(f"{folder}/vae", torch_dtype=torch.bfloat16).to("cuda")
    image = torch.rand(1, 3, 1, 1024, 1024, device="cuda", dtype=torch.bfloat16) * 2 - 1
    latents = torch.randn(1, vae.config.z_dim, 1, 128, 128, device="cuda", dtype=torch.bfloat16)
    encode = lambda: vae.encode(image).latent_dist.mean
    decode = lambda: vae.decode(latents).sample
    result["diffusers_vae_encode"] = {**timed(encode), "peak_allocated_bytes": peak(encode, baseline)}
    result["diffusers_vae_decode"] = {**timed(decode), "peak_allocated_bytes": peak(decode, baseline)}
print(json.dumps(result, indent=1))
