"""Plain torch modules on a real CUDA GPU (no diffusers or transformers needed): what mmgp and many
scripts do after loading — wrap each block with torch.compile — under a streaming strategy, and a
process that applies and unloads a model again and again.

    PYTHONPATH=build-gpu/python:python/tests python3 -m pytest python/tests/gpu/test_plain_modules.py
"""
import gc

import pytest
import torch

import models
import vramguard

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

# A cap that keeps the context and one block's window: everything streams.
STRATEGIES = ["balanced", "sequential-offload", "auto"]


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    torch.manual_seed(0)
    reference = models.Decoder(width=256, layers=4)
    folder = models.save_model(reference, str(tmp_path_factory.mktemp("decoder")))
    ids = torch.randint(0, 96, (2, 16))
    with torch.no_grad():
        expected = reference.cuda()(ids.cuda()).cpu()
    return folder, ids, expected


@pytest.mark.skipif(not hasattr(torch, "compile"), reason="needs torch.compile")
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_blocks_wrapped_with_torch_compile_run_where_resident_and_are_refused_where_streamed(decoder, strategy):
    folder, ids, expected = decoder
    torch._dynamo.reset()
    module, handle = vramguard.apply(models.on_meta(lambda: models.Decoder(width=256, layers=4)), folder, strategy)
    streamed = any(unit["mode"] == "streamed" for unit in handle.units())
    with handle, torch.no_grad():
        for i, block in enumerate(module.model.layers):
            module.model.layers[i] = torch.compile(block)  # as mmgp and many scripts do
        if streamed:
            with pytest.raises(vramguard.InputError, match="wrapped by torch.compile"):
                module(ids)
            for i, wrapper in enumerate(module.model.layers):  # what the error says to do instead
                module.model.layers[i] = wrapper._orig_mod
                module.model.layers[i].compile()
        for _ in range(3):  # the first call compiles, the later ones reuse it with each block's weights
            torch.testing.assert_close(module(ids).cpu(), expected, rtol=2e-3, atol=2e-3)


def test_apply_and_unload_again_and_again_leave_nothing_behind(decoder):
    folder, ids, expected = decoder
    allocated, reserved = [], []
    for _ in range(4):
        module, handle = vramguard.apply(models.on_meta(lambda: models.Decoder(width=256, layers=4)), folder,
                                         "sequential-offload")
        with handle, torch.no_grad():
            torch.testing.assert_close(module(ids).cpu(), expected, rtol=2e-3, atol=2e-3)
        del module, handle
        gc.collect()
        allocated.append(torch.cuda.memory_allocated())
        reserved.append(torch.cuda.memory_reserved())
    # The first cycle may leave what torch keeps for the process (cuBLAS's workspaces); the later ones add
    # nothing to it.
    assert allocated[1:] == [allocated[0]] * 3, allocated
    assert max(reserved[1:]) <= reserved[0], reserved
