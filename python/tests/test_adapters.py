"""LoRA adapters on an applied module, as PEFT lays them out (models.LoraLinear stands in for PEFT's
layer: CI has no PEFT; the GPU machine runs diffusers' and PEFT's own in python/tests/gpu). Whether
loaded before or after apply(), under every strategy the adapted module gives what the same module gives
resident; the adapters' weights run where their unit runs and the plan keeps room for them; fusing works
where weights stay and is refused, before anything changes, where they are streamed."""
import pytest
import torch

import models
import vramguard
from test_vramguard import CASES, SIMULATED, strategy_of, vramguard_log  # noqa: F401 (a fixture)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    reference = models.Decoder()
    folder = models.save_model(reference, str(tmp_path_factory.mktemp("decoder")))
    return folder, reference.state_dict(), torch.randint(0, 96, (2, 10))


def resident(state, *adapters, scales=None):
    """The checkpoint's decoder with the adapters (name, seed), run on the CPU: what every plan must give."""
    module = models.LoraDecoder()
    module.load_state_dict(state)
    for name, seed in adapters:
        models.add_lora(module, name, seed=seed)
    for name, scale in (scales or {}).items():
        models.set_lora_scale(module, name, scale)
    return module.eval()


def expected(state, ids, *adapters, scales=None):
    with torch.no_grad():
        return resident(state, *adapters, scales=scales)(ids)


def lora_parameters(module):
    return [p for m in module.modules() if isinstance(m, models.LoraLinear) for n, p in m.named_parameters() if not n.startswith("base_layer.")]


def adapter_bytes(module):
    return sum(p.numel() * p.element_size() for p in lora_parameters(module))


@pytest.mark.parametrize("case", list(CASES))
def test_a_lora_loaded_before_apply_gives_the_resident_outputs_under_every_strategy(checkpoint, case):
    folder, state, ids = checkpoint
    strategy, options = strategy_of(case)
    module = models.add_lora(models.LoraDecoder(), seed=1)  # PEFT's names: model.layers.0.q_proj.base_layer.weight
    module, handle = vramguard.apply(module, folder, strategy, **options)
    with handle, torch.no_grad():
        for _ in range(2):
            torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
        units = {u["name"]: u for u in handle.units()}
        for layer_name, layer in module.named_modules():
            if isinstance(layer, models.LoraLinear):
                block = layer_name.rsplit(".", 1)[0]
                assert all(p.device.type == units[block]["device"].split(":")[0] for p in lora_parameters(layer))


@pytest.mark.parametrize("case", list(CASES))
def test_a_lora_added_after_apply_and_scaled_gives_the_resident_outputs_under_every_strategy(checkpoint, case):
    folder, state, ids = checkpoint
    strategy, options = strategy_of(case)
    module, handle = vramguard.apply(models.on_meta(models.LoraDecoder), folder, strategy, adapter_memory="1MB", **options)
    with handle, torch.no_grad():
        models.add_lora(module, "first", seed=1)
        torch.testing.assert_close(module(ids), expected(state, ids, ("first", 1)), rtol=1e-5, atol=1e-5)
        models.add_lora(module, "second", seed=2)  # several adapters at once
        models.set_lora_scale(module, "first", 0.5)
        torch.testing.assert_close(module(ids), expected(state, ids, ("first", 1), ("second", 2), scales={"first": 0.5}),
                                   rtol=1e-5, atol=1e-5)


def test_the_plan_keeps_room_for_the_adapters_and_the_report_says_what_they_hold(checkpoint):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    held = adapter_bytes(module)
    module, handle = vramguard.apply(module, folder, "balanced", **SIMULATED)
    with handle, torch.no_grad():
        module(ids)
        report = handle.report()
        assert report["attempts"][0]["predicted"]["devices"]["cuda:0"]["adapter_bytes"] == held
        adapters = report["python"]["adapters"]
        assert adapters["planned_bytes"] == held
        assert adapters["components"] == {"model": {"cuda:0": held}}
    # The same room asked ahead of time, for a LoRA loaded later; and planned without a module at all.
    plain = vramguard.plan(folder, "balanced", **SIMULATED)
    planned = vramguard.plan(folder, "balanced", adapter_memory=held, **SIMULATED)
    usable = {d["name"]: d["usable_bytes"] for d in plain.devices}
    assert {d["name"]: d["usable_bytes"] for d in planned.devices}["cuda:0"] == usable["cuda:0"] - held
    assert planned.predicted["devices"]["cuda:0"]["adapter_bytes"] == held


def test_adapters_that_outgrow_the_plan_after_apply_are_planned_for_again_with_a_warning(checkpoint, vramguard_log):
    folder, state, ids = checkpoint
    module, handle = vramguard.apply(models.on_meta(models.LoraDecoder), folder, "balanced", **SIMULATED)
    with handle, torch.no_grad():
        module(ids)
        assert not vramguard_log
        models.add_lora(module, seed=1)
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
        held = adapter_bytes(module)
        assert [r.getMessage() for r in vramguard_log] == [
            f"the adapters loaded after apply() hold {vramguard.format_bytes(held)} on a GPU, more than the "
            f"{vramguard.format_bytes(0)} the plan kept for them: "
            "planning and loading the model again with them counted (pass adapter_memory= to apply() to keep room ahead)"]
        assert handle.report()["python"]["adapters"]["planned_bytes"] == held
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
        assert len(vramguard_log) == 1  # planned once


@pytest.mark.parametrize("safe_fusing", [False, True])
def test_fusing_into_resident_units_changes_their_weights_in_place_and_unfusing_restores_them(checkpoint, safe_fusing):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    module, handle = vramguard.apply(module, folder, "balanced", **SIMULATED)
    with handle, torch.no_grad():
        layer = module.model.layers[0].q_proj
        memory = layer.base_layer.weight.data_ptr()
        module.fuse_lora(safe_fusing=safe_fusing)
        assert layer.base_layer.weight.data_ptr() == memory  # the unit's own memory holds the sum
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
        for m in module.modules():
            if isinstance(m, models.LoraLinear):
                m.unmerge()
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(layer.base_layer.weight, state["model.layers.0.q_proj.weight"], rtol=1e-5, atol=1e-5)


def test_a_fused_lora_is_fused_again_when_a_fallback_reloads_the_weights(checkpoint):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    module, handle = vramguard.apply(module, folder, "balanced", **dict(SIMULATED, simulate="cuda:2GB"),
                                     settings={"simulate_oom_at_step": 1})
    with handle, torch.no_grad():
        module.fuse_lora()
        # The first step runs out of memory: auto loads the checkpoint's weights anew, then the sum is made again.
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
        assert [a["strategy"] for a in handle.report()["attempts"]] == ["balanced", "auto"]


def test_fusing_into_streamed_units_is_refused_before_any_layer_fuses(checkpoint):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    module, handle = vramguard.apply(module, folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        with pytest.raises(vramguard.InputError, match=r"cannot fuse a LoRA into 'model.layers.0.q_proj': its unit 'model.layers.0' "
                                                       r"is streamed") as error:
            module.fuse_lora()
        assert "keep the LoRA unfused" in error.value.hint
        assert all(not m.merged_adapters for m in module.modules() if isinstance(m, models.LoraLinear))
        with pytest.raises(vramguard.InputError, match="is streamed"):  # PEFT's own merge, one layer
            module.model.layers[1].v_proj.merge()
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)


def test_a_lora_on_a_module_built_on_the_meta_device_is_refused_by_name(checkpoint):
    folder, _, _ = checkpoint
    module = models.add_lora(models.on_meta(models.LoraDecoder), seed=1)  # its adapters made on the meta device too
    with pytest.raises(vramguard.InputError, match=r"adapter weight 'model.layers.0.q_proj.lora_A.default.weight' is on the meta device"):
        vramguard.apply(module, folder, **SIMULATED)


def test_unloaded_the_adapters_stay_with_the_module_and_apply_again(checkpoint):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    module, handle = vramguard.apply(module, folder, "balanced", **SIMULATED)
    handle.unload()
    assert all(not p.is_meta for p in lora_parameters(module))
    module, handle = vramguard.apply(module, folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)


def test_a_units_module_keeps_its_class_name_while_applied_and_its_class_after(checkpoint):
    folder, _, ids = checkpoint
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "sequential-offload", **SIMULATED)
    block = module.model.layers[0]
    assert isinstance(block, models.Block) and type(block).__name__ == "Block"  # what compile_repeated_blocks matches
    handle.unload()
    assert type(block) is models.Block and "_vramguard_unit_call" not in block.__dict__


def test_a_lora_fused_before_apply_is_fused_into_the_checkpoints_weights(checkpoint):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    module.fuse_lora()  # into the module's own weights, which apply replaces with the checkpoint's
    module, handle = vramguard.apply(module, folder, "balanced", **SIMULATED)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1)), rtol=1e-5, atol=1e-5)
    streamed = models.add_lora(models.LoraDecoder(), seed=1)
    streamed.fuse_lora()
    with pytest.raises(vramguard.InputError, match="is streamed"):
        vramguard.apply(streamed, folder, "sequential-offload", **SIMULATED)
    assert type(streamed.model.layers[0]) is models.Block  # nothing left applied


def test_fused_sums_survive_the_new_plan_that_a_later_lora_asks_for(checkpoint, vramguard_log):
    folder, state, ids = checkpoint
    module = models.add_lora(models.LoraDecoder(), seed=1)
    module, handle = vramguard.apply(module, folder, "balanced", **SIMULATED)
    with handle, torch.no_grad():
        module.fuse_lora()
        models.add_lora(module, "second", seed=2)  # more adapter memory than planned: a new plan, fresh weights
        torch.testing.assert_close(module(ids), expected(state, ids, ("default", 1), ("second", 2)), rtol=1e-5, atol=1e-5)
        assert any("planning and loading the model again" in r.getMessage() for r in vramguard_log)


def test_unloaded_the_handle_keeps_no_module_alive(checkpoint):
    import gc
    import weakref
    folder, _, _ = checkpoint
    module, handle = vramguard.apply(models.add_lora(models.LoraDecoder(), seed=1), folder, "balanced", **SIMULATED)
    alive = weakref.ref(module)
    handle.unload()
    del module
    gc.collect()
    assert alive() is None
