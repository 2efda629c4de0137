"""diffusers' LoRA on a CUDA GPU through PEFT, under every strategy: the fixture qwenimage_tiny_lora (a tiny
QwenImageTransformer2DModel and a rank-4 LoRA saved by diffusers) loaded before apply() and after it,
scaled with set_adapters, two adapters at once, disabled, fused where weights stay resident and refused
where they are streamed, unloaded. Every output equals what diffusers computed resident when the fixture
was made (case.json's tolerance), and the adapters' weights are on the executing GPU and in the plan.

    PYTHONPATH=build-gpu/python:.pydeps/src python3 -m pytest python/tests/gpu/test_lora.py
"""
import os

import pytest
import torch

import vramguard
from test_libraries import STRATEGIES, case, load, options_for, relative

pytest.importorskip("peft")
pytest.importorskip("diffusers")
pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

FOLDER, SPEC = case("qwenimage_tiny_lora")
MODEL, LORA = os.path.join(FOLDER, "model"), os.path.join(FOLDER, "lora")
EXPECTED = load(os.path.join(FOLDER, "expected.safetensors"))
INPUTS = load(os.path.join(FOLDER, "inputs.safetensors"))
# Single-GPU strategies: on one H200, multi-gpu plans what balanced plans.
LABELS = [label for label in STRATEGIES if label != "multi-gpu"]


def transformer(on_meta):
    from diffusers import QwenImageTransformer2DModel
    if on_meta:
        import accelerate
        with accelerate.init_empty_weights():
            return QwenImageTransformer2DModel.from_config(QwenImageTransformer2DModel.load_config(MODEL)).float()
    return QwenImageTransformer2DModel.from_pretrained(MODEL, torch_dtype=torch.float32)


def load_lora(module, name):
    module.load_lora_adapter(LORA, weight_name="pytorch_lora_weights.safetensors", prefix="transformer", adapter_name=name)


def sample(module):
    img_shapes = [[tuple(int(v) for v in row) for row in INPUTS["img_shapes"].tolist()]]
    with torch.no_grad():
        return module(hidden_states=INPUTS["hidden_states"].cuda(), encoder_hidden_states=INPUTS["encoder_hidden_states"].cuda(),
                      encoder_hidden_states_mask=INPUTS["encoder_hidden_states_mask"].cuda(), timestep=INPUTS["timestep"].cuda(),
                      img_shapes=img_shapes, return_dict=False)[0]


def assert_sample(module, expected, label):
    error = relative(sample(module), EXPECTED[expected])
    assert error < SPEC["tolerance_fp32"], f"{label}: {expected} off by {error:.2e}"


def lora_weights(module):
    return [p for name, p in module.named_parameters() if "lora_" in name]


def apply(module, label, **extra):
    strategy, options = options_for(label)
    return vramguard.apply(module, MODEL, strategy, **options, **extra)


@pytest.mark.parametrize("label", LABELS)
def test_a_lora_loaded_before_apply_runs_scaled_and_disabled(label):
    module = transformer(on_meta=False)
    load_lora(module, "lightning")
    planned = sum(p.numel() * p.element_size() for p in lora_weights(module))
    module, handle = apply(module, label)
    with handle:
        assert_sample(module, "sample_lora", label)
        assert all(p.is_cuda for p in lora_weights(module))
        assert handle.adapters()["planned_bytes"] == planned
        assert handle.report()["attempts"][0]["predicted"]["devices"]["cuda:0"]["adapter_bytes"] == planned
        module.set_adapters("lightning", 0.5)
        assert_sample(module, "sample_lora_half", label)
        module.disable_lora()
        assert_sample(module, "sample_base", label)
        module.enable_lora()
        module.set_adapters("lightning", 1.0)
        assert_sample(module, "sample_lora", label)
    assert not any(p.is_cuda for p in lora_weights(module)), "adapters left on the GPU after unload"


@pytest.mark.parametrize("label", LABELS)
def test_a_lora_loaded_after_apply_and_two_adapters_at_once(label):
    module, handle = apply(transformer(on_meta=True), label, adapter_memory="1MB")
    with handle:
        assert_sample(module, "sample_base", label)
        load_lora(module, "first")
        assert_sample(module, "sample_lora", label)
        load_lora(module, "second")  # the same LoRA twice at half weight each: the LoRA at full weight
        module.set_adapters(["first", "second"], [0.5, 0.5])
        assert_sample(module, "sample_lora", label)
        module.set_adapters("first", 0.5)
        assert_sample(module, "sample_lora_half", label)
        module.unload_lora()
        assert not lora_weights(module)
        assert_sample(module, "sample_base", label)


@pytest.mark.parametrize("label", LABELS)
def test_fuse_lora_fuses_into_resident_units_and_is_refused_for_streamed_ones(label):
    module = transformer(on_meta=False)
    load_lora(module, "lightning")
    module, handle = apply(module, label)
    with handle:
        streamed = any(u["mode"] == "streamed" for u in handle.units())
        if streamed:
            with pytest.raises(vramguard.InputError, match="is streamed from the checkpoint") as error:
                module.fuse_lora()
            assert "keep the LoRA unfused" in error.value.hint
            assert_sample(module, "sample_lora", label + " (refused, unchanged)")
            return
        module.fuse_lora()
        assert_sample(module, "sample_lora", label + " fused")
        module.unfuse_lora()
        assert_sample(module, "sample_lora", label + " unfused")
        module.fuse_lora(lora_scale=0.5)
        module.unload_lora()  # the Lightning way: fused, then the adapters dropped
        assert not lora_weights(module)
        assert_sample(module, "sample_lora_half", label + " fused at half, unloaded")
