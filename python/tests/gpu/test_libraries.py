"""The Python module with the libraries its users run, on a CUDA GPU: transformers' Qwen2ForCausalLM,
diffusers' QwenImageTransformer2DModel and AutoencoderKLQwenImage, each built on the meta device and
given its weights by vramguard.apply() under every strategy. Under each plan the outputs equal the same
module's run resident (within 1e-5, fp32), and the resident run equals what the library computed when
the fixture was made (tests/data/fixtures, within case.json's tolerance).

    PYTHONPATH=build-gpu/python:.pydeps/src python3 -m pytest python/tests/gpu
"""
import json
import os
import struct

import pytest
import torch

import vramguard

accelerate = pytest.importorskip("accelerate")
# fp32 means fp32: the fixtures were computed without TF32, which convolutions use by default.
torch.backends.cudnn.allow_tf32 = False
torch.backends.cuda.matmul.allow_tf32 = False
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "..", "tests", "data", "fixtures")
# Every strategy; the partly streamed `auto` of a small card is covered on the CPU (python/tests), since
# on a 141 GB card these tiny models always fit.
STRATEGIES = {
    "balanced": {},
    "auto": {},
    "sequential-offload": {},
    "sequential-offload, prefetch 0": {"strategy": "sequential-offload", "options": {"prefetch": 0}},
    "multi-gpu": {},
}


def load(path):
    """A safetensors file's tensors (the fixtures' own format), read without the safetensors package."""
    dtypes = {"F32": torch.float32, "I64": torch.int64, "BF16": torch.bfloat16}
    with open(path, "rb") as f:
        size = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(size))
        data = f.read()
    out = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        out[name] = torch.frombuffer(bytearray(data[begin:end]), dtype=dtypes[entry["dtype"]]).reshape(entry["shape"])
    return out


def relative(got, expected):
    got, expected = got.detach().float().cpu(), expected.detach().float().cpu()
    return ((got - expected).abs().max() / expected.abs().max().clamp_min(1e-30)).item()


def case(name):
    folder = os.path.join(FIXTURES, name)
    with open(os.path.join(folder, "case.json")) as f:
        return folder, json.load(f)


def options_for(label):
    options = dict(STRATEGIES[label])
    return options.pop("strategy", label), options


def run_under_every_strategy(build, folder, forward):
    """{label: outputs} for the resident module and every strategy."""
    resident_module = build()
    resident_module.load_state_dict(load(os.path.join(folder, "model", weights_file(folder))), assign=True)
    resident_module.to("cuda").eval()
    with torch.no_grad():
        results = {"resident": forward(resident_module)}
    del resident_module
    torch.cuda.empty_cache()
    for label in STRATEGIES:
        strategy, options = options_for(label)
        module, handle = vramguard.apply(build(), os.path.join(folder, "model"), strategy, **options)
        with handle, torch.no_grad():
            module.eval()
            results[label] = forward(module)
            results[label + " (second pass)"] = forward(module)
            if label.startswith("sequential"):
                assert any(u["mode"] == "streamed" for u in handle.units()), label
        # Unloaded, the module keeps nothing on the GPU: weights are meta, computed buffers back where they were.
        on_gpu = [n for n, t in [*module.named_parameters(), *module.named_buffers()] if t is not None and t.is_cuda]
        assert not on_gpu, f"{label}: still on the GPU after unload: {on_gpu[:5]}"
    return results


def weights_file(folder):
    return next(f for f in os.listdir(os.path.join(folder, "model")) if f.endswith(".safetensors"))


def check(results, expected, tolerance):
    for name, value in expected.items():
        assert relative(results["resident"][name], value) < tolerance, f"resident {name} against the fixture"
    for label, outputs in results.items():
        for name in expected:
            assert relative(outputs[name], results["resident"][name]) < 1e-5, f"{label}: {name}"


def test_transformers_qwen2_for_causal_lm():
    pytest.importorskip("transformers")
    from transformers import AutoConfig, Qwen2ForCausalLM
    folder, spec = case("qwen2_small")
    config = AutoConfig.from_pretrained(os.path.join(folder, "model"))
    ids = load(os.path.join(folder, "inputs.safetensors"))["input_ids"].cuda()

    def build():
        with accelerate.init_empty_weights():
            return Qwen2ForCausalLM(config).float()

    def forward(module):
        out = module(input_ids=ids, output_hidden_states=True, use_cache=False)
        return {"logits": out.logits, "hidden_after_layer_0": out.hidden_states[1], "final_hidden": out.hidden_states[-1]}

    results = run_under_every_strategy(build, folder, forward)
    check(results, load(os.path.join(folder, "expected.safetensors")), spec["tolerance_fp32"])


def test_diffusers_qwen_image_transformer():
    pytest.importorskip("diffusers")  # not installed on the GPU machine: its source is carried (.pydeps/src)
    from diffusers import QwenImageTransformer2DModel
    folder, spec = case("qwenimage_tiny")
    config = QwenImageTransformer2DModel.load_config(os.path.join(folder, "model"))
    inputs = load(os.path.join(folder, "inputs.safetensors"))
    img_shapes = [[tuple(int(v) for v in row) for row in inputs["img_shapes"].tolist()]]

    def build():
        with accelerate.init_empty_weights():
            return QwenImageTransformer2DModel.from_config(config).float()

    def forward(module):
        captured = {}
        hook = module.transformer_blocks[0].register_forward_hook(
            lambda _m, _a, output: captured.update(block0_encoder=output[0].clone(), block0_hidden=output[1].clone()))
        try:
            sample = module(hidden_states=inputs["hidden_states"].cuda(), encoder_hidden_states=inputs["encoder_hidden_states"].cuda(),
                            encoder_hidden_states_mask=inputs["encoder_hidden_states_mask"].cuda(), timestep=inputs["timestep"].cuda(),
                            img_shapes=img_shapes, return_dict=False)[0]
        finally:
            hook.remove()
        return {"sample": sample, **captured}

    results = run_under_every_strategy(build, folder, forward)
    check(results, load(os.path.join(folder, "expected.safetensors")), spec["tolerance_fp32"])


def test_diffusers_autoencoder_kl_qwen_image():
    pytest.importorskip("diffusers")
    from diffusers import AutoencoderKLQwenImage
    folder, spec = case("qwenimage_vae_tiny")
    config = AutoencoderKLQwenImage.load_config(os.path.join(folder, "model"))
    inputs = load(os.path.join(folder, "inputs.safetensors"))

    def build():
        with accelerate.init_empty_weights():
            return AutoencoderKLQwenImage.from_config(config).float()

    def forward(module):
        return {"encoded_mean": module.encode(inputs["image"].cuda()).latent_dist.mean,
                "decoded": module.decode(inputs["latents"].cuda()).sample}

    results = run_under_every_strategy(build, folder, forward)
    check(results, load(os.path.join(folder, "expected.safetensors")), spec["tolerance_fp32"])
