"""torch.compile of every transformer block after vramguard.apply (regional compilation, diffusers'
compile_repeated_blocks with fullgraph), under every strategy, on a CUDA GPU: the compiled module gives
the eager module's sample, and the calls after the first make no new graph (no recompile per step,
streamed blocks included: each call sees its slot's weights, with the strides the graph was made for).

    PYTHONPATH=build-gpu/python:.pydeps/src python3 -m pytest python/tests/gpu/test_compile.py
"""
import pytest
import torch

from test_lora import LABELS, apply, assert_sample, load_lora, sample, transformer

pytest.importorskip("diffusers")
pytestmark = pytest.mark.skipif(not (torch.cuda.is_available() and hasattr(torch, "compile")), reason="needs a CUDA GPU and torch.compile")


def graphs():
    from torch._dynamo.utils import counters
    return counters["stats"]["unique_graphs"], sum(counters["recompiles"].values())


@pytest.mark.parametrize("label", LABELS)
def test_every_block_compiled_after_apply_gives_the_eager_sample_without_recompiling(label):
    torch._dynamo.reset()
    module, handle = apply(transformer(on_meta=True), label)
    with handle:
        eager = sample(module)
        module.compile_repeated_blocks(fullgraph=True)
        compiled = sample(module)
        assert ((compiled - eager).abs().max() / eager.abs().max()).item() < 1e-4, label
        assert_sample(module, "sample_base", label)
        made = graphs()
        for _ in range(3):
            torch.testing.assert_close(sample(module), compiled, rtol=0, atol=0)
        assert graphs() == made, f"{label}: a later call compiled again ({made} -> {graphs()})"
        assert made[0] >= 1


@pytest.mark.parametrize("label", ["balanced", "sequential-offload"])
def test_compiled_blocks_run_a_lora_loaded_after_apply(label):
    torch._dynamo.reset()
    module, handle = apply(transformer(on_meta=True), label, adapter_memory="1MB")
    with handle:
        load_lora(module, "lightning")
        module.compile_repeated_blocks(fullgraph=True)
        assert_sample(module, "sample_lora", label)
        module.set_adapters("lightning", 0.5)
        assert_sample(module, "sample_lora_half", label)


def test_unloaded_a_compiled_module_is_its_own_class_again():
    module, handle = apply(transformer(on_meta=True), "sequential-offload")
    block_class = type(module.transformer_blocks[0])
    assert block_class.__name__ == "QwenImageTransformerBlock"
    handle.unload()
    assert type(module.transformer_blocks[0]) is block_class.__mro__[1]
