"""diffusers' QwenImageEditPlusPipeline (Edit-2509/2511) under vramguard.apply on a CUDA GPU: the fixture
qie_plus_pipeline_tiny (two pictures of different sizes, the transformer with zero_cond_t, true CFG 4,
2 steps) gives diffusers' own final latents (case.json's tolerance) under each one-GPU strategy, as the
native `vramguard edit` does in CI.

    PYTHONPATH=build-gpu/python:.pydeps/src python3 -m pytest python/tests/gpu/test_edit_plus_pipeline.py
"""
import os

import pytest
import torch

import vramguard
from test_libraries import STRATEGIES, case, load, options_for

pytest.importorskip("diffusers")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FOLDER, SPEC = case("qie_plus_pipeline_tiny")
PIPELINE = os.path.join(FOLDER, "pipeline")
LABELS = [label for label in STRATEGIES if label != "multi-gpu"]


@pytest.mark.parametrize("label", LABELS)
def test_apply_runs_the_plus_pipeline_as_diffusers_does(label):
    from diffusers import QwenImageEditPlusPipeline
    from PIL import Image
    pipe = QwenImageEditPlusPipeline.from_pretrained(PIPELINE, torch_dtype=torch.float32)
    strategy, options = options_for(label)
    pipe, handle = vramguard.apply(pipe, PIPELINE, strategy, **options)
    inputs = SPEC["inputs"]
    with handle, torch.no_grad():
        latents = pipe(image=[Image.open(os.path.join(FOLDER, name)).convert("RGB") for name in inputs["images"]],
                       prompt=inputs["prompt"], negative_prompt=inputs["negative_prompt"],
                       true_cfg_scale=inputs["true_cfg_scale"], num_inference_steps=inputs["num_inference_steps"],
                       height=inputs["height"], width=inputs["width"],
                       latents=load(os.path.join(FOLDER, "inputs.safetensors"))["latents"].cuda(),
                       output_type="latent").images
    expected = load(os.path.join(FOLDER, "expected.safetensors"))["final_latents"]
    error = (latents.float().cpu() - expected).abs().max().item()
    assert error < SPEC["tolerance_fp32"], f"{label}: final latents off by {error:.2e}"
