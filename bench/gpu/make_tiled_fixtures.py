"""On the GPU machine (diffusers' source on PYTHONPATH): the numerical truth for tiled VAE encoding and
decoding, made by diffusers itself, fp32 on the CPU.

1. tests/data/fixtures/qwenimage_vae_tiny (one down stage, compression 2): enable_tiling with small
   tiles (32 px, stride 24) on a seeded 1x3x1x80x112 image and 1x4x1x40x56 latents, so that edge tiles
   are narrower than the blend.
2. tests/data/fixtures/qie_pipeline_tiny: the fixture's own call with pipe.vae.enable_tiling() at
   diffusers' default tiles (256 px, stride 192): the ~1024² input image encodes in tiles, the 256x384
   result decodes in tiles.
Writes expected_tiled.safetensors into $OUT/<fixture>/.
"""
import json, os, sys
import torch
from safetensors.torch import load_file, save_file

root = "tests/data/fixtures"
out = os.environ.get("OUT", "/tmp/out")
torch.set_grad_enabled(False)

from diffusers import AutoencoderKLQwenImage, QwenImageEditPipeline
from PIL import Image

vae = AutoencoderKLQwenImage.from_pretrained(f"{root}/qwenimage_vae_tiny/model").float().eval()
vae.enable_tiling(tile_sample_min_height=32, tile_sample_min_width=32, tile_sample_stride_height=24, tile_sample_stride_width=24)
g = torch.Generator().manual_seed(7)
image = torch.rand(1, 3, 1, 80, 112, generator=g) * 2 - 1
latents = torch.randn(1, 4, 1, 40, 56, generator=g)
encoded = vae.encode(image).latent_dist.mean
decoded = vae.decode(latents).sample
os.makedirs(f"{out}/qwenimage_vae_tiny", exist_ok=True)
save_file({"image": image.contiguous(), "latents": latents.contiguous(), "encoded_mean": encoded.contiguous(), "decoded": decoded.contiguous()},
          f"{out}/qwenimage_vae_tiny/tiled.safetensors")
print("vae tiny tiled:", tuple(encoded.shape), tuple(decoded.shape))

fx = f"{root}/qie_pipeline_tiny"
case = json.load(open(f"{fx}/case.json"))["inputs"]
pipe = QwenImageEditPipeline.from_pretrained(f"{fx}/pipeline", torch_dtype=torch.float32)
pipe.vae.enable_tiling()
noise = load_file(f"{fx}/inputs.safetensors")["latents"]
stages = {}
original = pipe.prepare_latents
def capture(*a, **k):
    result = original(*a, **k)
    stages["image_latents"] = result[1].clone()
    return result
pipe.prepare_latents = capture
common = dict(image=Image.open(f"{fx}/{case['image']}").convert("RGB"), prompt=case["prompt"], negative_prompt=case["negative_prompt"],
              true_cfg_scale=case["true_cfg_scale"], num_inference_steps=case["num_inference_steps"], height=case["height"], width=case["width"])
final = pipe(**common, latents=noise.clone(), output_type="latent").images
image = pipe(**common, latents=noise.clone(), output_type="np").images
os.makedirs(f"{out}/qie_pipeline_tiny", exist_ok=True)
save_file({"final_latents": final.contiguous(), "image": torch.from_numpy(image).contiguous(), "image_latents": stages["image_latents"].contiguous()},
          f"{out}/qie_pipeline_tiny/expected_tiled.safetensors")
untiled = load_file(f"{fx}/expected.safetensors")
print("pipeline tiled:", tuple(final.shape), "image differs from the untiled by", (torch.from_numpy(image) - untiled["image"]).abs().max().item(),
      "image_latents by", (stages["image_latents"] - untiled["image_latents"]).abs().max().item())
