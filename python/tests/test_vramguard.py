"""`import vramguard` as a PyTorch user meets it, on the CPU with simulated GPUs (the CPU computes in
their place): plans, apply() under every strategy giving the resident module's outputs, the guard's
errors as Python exceptions, a step's out-of-memory handled, unloading, the allocator setting."""
import logging
import os
import re
import subprocess
import sys
import types

import pytest
import torch

import models
import vramguard

SIMULATED = dict(simulate="cuda:1GB", reserve=0, cpu_memory="4GiB")

# Every strategy, on cards where each does what it is named for: 1 GB keeps everything resident;
# a cap 8 MB past the simulated context and the 250 MB of headroom a step takes (the cost model's
# estimate: the activations and cuBLAS's workspaces) makes auto stream part of the model. The cap holds
# for the whole process, the step's activations included.
CASES = {
    "balanced": dict(SIMULATED),
    "auto (all resident)": dict(SIMULATED, strategy="auto"),
    "auto (streaming)": dict(SIMULATED, strategy="auto", max_memory={0: "902MB"}, headroom="250MB"),
    "sequential-offload": dict(SIMULATED, strategy="sequential-offload"),
    "sequential-offload, no prefetch": dict(SIMULATED, strategy="sequential-offload", options={"prefetch": 0}),
    "sequential-offload, prefetch 3": dict(SIMULATED, strategy="sequential-offload", options={"prefetch": 3}),
    "multi-gpu": dict(SIMULATED, strategy="multi-gpu", simulate="cuda:1GB,cuda:1GB"),
}


def strategy_of(case):
    options = dict(CASES[case])
    return options.pop("strategy", "balanced"), options


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    torch.manual_seed(0)
    reference = models.Decoder()
    folder = models.save_model(reference, str(tmp_path_factory.mktemp("decoder")))
    ids = torch.randint(0, 96, (2, 10))
    with torch.no_grad():
        expected = reference(ids)
    return folder, ids, expected


@pytest.fixture(scope="module")
def joint(tmp_path_factory):
    torch.manual_seed(1)
    reference = models.JointTransformer()
    folder = models.save_model(reference, str(tmp_path_factory.mktemp("joint")), {"_class_name": "JointTransformer"})
    inputs = dict(hidden_states=torch.randn(1, 12, 8), encoder_hidden_states=torch.randn(1, 5, 12), timestep=torch.tensor([0.3]))
    with torch.no_grad():
        expected = reference(**inputs)
    return folder, inputs, expected


@pytest.mark.parametrize("case", list(CASES))
def test_a_decoder_gives_the_resident_outputs_under_every_strategy(decoder, case):
    folder, ids, expected = decoder
    strategy, options = strategy_of(case)
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, strategy, **options)
    with handle, torch.no_grad():
        assert handle.strategy == strategy
        for _ in range(2):  # the second pass runs from the prefetched window
            torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)
        modes = {unit["mode"] for unit in handle.units()}
        if "streaming" in case or strategy == "sequential-offload":
            assert "streamed" in modes
        else:
            assert modes == {"resident"}


@pytest.mark.parametrize("case", list(CASES))
def test_a_joint_transformer_with_keyword_arguments_gives_the_resident_outputs(joint, case):
    folder, inputs, expected = joint
    strategy, options = strategy_of(case)
    module, handle = vramguard.apply(models.on_meta(models.JointTransformer), folder, strategy, **options)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(**inputs), expected, rtol=1e-5, atol=1e-5)


def test_a_module_built_normally_gets_the_checkpoints_weights(decoder):
    folder, ids, expected = decoder
    torch.manual_seed(99)  # other weights than the checkpoint's
    module, handle = vramguard.apply(models.Decoder(), folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)


def test_streamed_weights_are_placeholders_between_forwards_and_meta_after_unload(decoder):
    folder, ids, _ = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "sequential-offload", **SIMULATED)
    seen = {}
    layer = module.model.layers[2]
    original = layer.q_proj.forward

    def spy(x):
        seen["inside"] = layer.q_proj.weight.detach().clone()
        return original(x)

    layer.q_proj.forward = spy
    with torch.no_grad():
        module(ids)
    weight = layer.q_proj.weight
    assert weight.shape == (48, 48) and weight.dtype == torch.float32
    assert weight.stride() == (0, 0), "between forwards a streamed weight holds no memory"
    assert seen["inside"].abs().sum() > 0, "inside its forward the unit has its real weights"
    handle.unload()
    assert module.lm_head.weight.is_meta
    report = handle.report()
    assert "after_unload" in report
    handle.unload()  # a second unload does nothing


def test_the_report_has_steps_per_component_and_the_allocator_setting(decoder):
    folder, ids, _ = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        module(ids)
        module(ids)
        report = handle.report()
    assert report["success"] is True
    assert report["components"]["model"]["steps"] == 2
    assert report["components"]["model"]["streamed_bytes_per_step"] > 0
    assert report["components"]["model"]["peak_bytes"]["cuda:0"] > 0
    assert [s["component"] for s in report["steps"]] == ["model", "model"]
    assert report["python"]["allocator"]["in_effect"] in (True, False)


def test_a_step_that_runs_out_of_memory_falls_back_and_runs_again(decoder):
    folder, ids, expected = decoder
    # A 2 GB card: after the failed step's shortfall is taken off its budget, the next rung still fits.
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "balanced", **dict(SIMULATED, simulate="cuda:2GB"),
                                     settings={"simulate_oom_at_step": 1})
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)
        report = handle.report()
        assert [a["strategy"] for a in report["attempts"]] == ["balanced", "auto"]
        assert handle.strategy == "auto"
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)


def test_plan_gives_units_predictions_and_a_device_map(decoder):
    folder, _, _ = decoder
    plan = vramguard.plan(folder, "sequential-offload", **SIMULATED)
    assert plan.strategy == "sequential-offload"
    assert {u.mode for u in plan.units} == {"streamed"}
    assert plan.predicted["streamed_bytes_per_step"] > 0
    assert set(plan.device_map) == {u.name for u in plan.units}
    assert set(plan.device_map.values()) == {"cpu"} and set(plan.execution_map.values()) == {0}
    assert "sequential-offload" in plan.explain()


def test_bad_input_is_an_input_error_naming_it_with_what_to_do(decoder, tmp_path):
    with pytest.raises(vramguard.InputError) as error:
        vramguard.plan(str(tmp_path / "missing"), **SIMULATED)
    assert "missing" in str(error.value) and error.value.hint
    with pytest.raises(vramguard.InputError, match="unknown strategy|no strategy"):
        vramguard.plan(decoder[0], "no-such-strategy", **SIMULATED)
    with pytest.raises(vramguard.InputError, match=r"max_memory\[0\] = '' is not a size"):
        vramguard.plan(decoder[0], max_memory="0=", **SIMULATED)
    # A module of another shape than the checkpoint's.
    with pytest.raises(vramguard.InputError, match="lacks|no parameter"):
        vramguard.apply(models.on_meta(lambda: models.Decoder(layers=7)), decoder[0], **SIMULATED)


def test_nothing_fitting_is_out_of_memory_saying_what_would(decoder):
    with pytest.raises(vramguard.OutOfMemory) as error:
        vramguard.apply(models.on_meta(models.Decoder), decoder[0], simulate="cuda:640MB", reserve=0, cpu_memory="4GiB")
    assert "usable" in error.value.hint
    assert isinstance(error.value, vramguard.Error)


def test_a_plugin_that_throws_is_a_plugin_error(decoder):
    plugins = os.environ.get("TEST_PLUGIN_DIR")  # not VRAMGUARD_*: the host reads those as its options
    if not plugins:
        pytest.skip("TEST_PLUGIN_DIR is not set (the test plugins' folder)")
    with pytest.raises(vramguard.PluginError, match="test-throws-int"):
        vramguard.plan(decoder[0], "test-throws-int", settings={"plugin_dir": plugins}, **SIMULATED)


@pytest.mark.parametrize("preset, expected", [(None, "expandable_segments:True"), ("max_split_size_mb:64", "max_split_size_mb:64")])
def test_importing_vramguard_first_sets_the_allocator_unless_the_user_did(preset, expected):
    environment = {k: v for k, v in os.environ.items() if k not in ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")}
    if preset:
        environment["PYTORCH_CUDA_ALLOC_CONF"] = preset
    code = "import vramguard, os; print(os.environ['PYTORCH_CUDA_ALLOC_CONF']); print(vramguard.allocator()['set_by'])"
    out = subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0] == expected
    assert out[1] == ("vramguard at import" if preset is None else "the user (PYTORCH_CUDA_ALLOC_CONF)")


def test_calls_from_several_threads_run_one_at_a_time_and_stay_right(decoder):
    # Four threads on one module under sequential-offload once got "needs a window slot" errors and
    # wrong numbers, and left the module wrong afterwards.
    import threading
    folder, ids, expected = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "sequential-offload", **SIMULATED)
    errors, results = [], []

    def work():
        try:
            for _ in range(5):
                with torch.no_grad():
                    results.append(module(ids))
        except Exception as e:  # noqa: BLE001 - collected for the assertion below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with handle:
        assert not errors, errors
        assert len(results) == 20
        for result in results:
            torch.testing.assert_close(result, expected, rtol=1e-5, atol=1e-5)
        with torch.no_grad():
            torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)


def test_unload_while_a_call_runs_waits_for_it_and_later_calls_say_the_model_was_unloaded(decoder):
    # unload() from the main thread while another looped on the module once killed Python.
    import threading
    import time
    folder, ids, _ = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "sequential-offload", **SIMULATED)
    outcomes = []
    running = threading.Event()

    def loop():
        # Calls until unload stops them (or ten seconds pass): however fast a call is, unload meets one.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with torch.no_grad():
                    module(ids)
                running.set()
            except vramguard.Error as e:
                outcomes.append(str(e))
                return
        outcomes.append("never stopped")

    thread = threading.Thread(target=loop)
    thread.start()
    running.wait(10)
    handle.unload()
    thread.join()
    assert outcomes and "the model was unloaded" in outcomes[0], outcomes
    with pytest.raises(vramguard.Error, match="the model was unloaded"):
        module(ids)
    with pytest.raises(vramguard.Error, match="the model was unloaded"):
        handle.strategy
    with pytest.raises(vramguard.Error, match="the model was unloaded"):
        handle.units()


def test_a_submodule_called_after_unload_says_the_model_was_unloaded(decoder):
    # Once torch's raw error about meta tensors; applied again, the submodules run again.
    folder, ids, expected = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "balanced", **SIMULATED)
    handle.unload()
    hidden = torch.zeros(2, 10, 48)
    for submodule in (module.lm_head, module.model.layers[0], module.model.embed_tokens):
        with pytest.raises(vramguard.Error, match="the model was unloaded"):
            submodule(ids if submodule is module.model.embed_tokens else hidden)
    module, handle = vramguard.apply(module, folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)


def test_a_float64_module_is_refused_with_what_to_do(decoder):
    # Bound to the checkpoint's float32 tensors it mixed dtypes and failed inside torch.
    folder, _, _ = decoder
    with pytest.raises(vramguard.InputError, match="is float64, but the checkpoint's tensors load as F32"):
        vramguard.apply(models.on_meta(models.Decoder).double(), folder, "balanced", **SIMULATED)


def test_a_module_is_applied_once_and_may_be_applied_again_after_unload(decoder):
    folder, ids, expected = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "balanced", **SIMULATED)
    with pytest.raises(vramguard.InputError, match="already applied"):
        vramguard.apply(module, folder, "balanced", **SIMULATED)
    handle.unload()
    module, handle = vramguard.apply(module, folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)


def test_a_module_of_other_sizes_is_refused_by_name_as_load_state_dict_would(decoder):
    folder, _, _ = decoder
    wider = models.on_meta(models.Decoder)
    wider.lm_head = torch.nn.Linear(48, 200, bias=False, device="meta")  # the checkpoint's head has 96 rows
    with pytest.raises(vramguard.InputError, match="lm_head.weight"):
        vramguard.apply(wider, folder, "balanced", **SIMULATED)


@pytest.mark.parametrize("case", ["balanced", "sequential-offload"])
def test_a_checkpoint_saved_by_an_older_module_tree_binds_where_the_newer_tree_holds_it(decoder, case):
    # Qwen2.5-VL checkpoints saved before transformers 5 name `model.layers.0...`; transformers 5's module
    # holds them at `model.language_model.layers.0...`.
    folder, ids, expected = decoder
    strategy, options = strategy_of(case)
    module, handle = vramguard.apply(models.on_meta(models.NewerDecoder), folder, strategy, **options)
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)
        assert module.model.language_model.layers[3].q_proj.weight.device.type != "meta"


def test_checkpoint_names_find_the_one_module_path_that_nests_them():
    from vramguard._names import module_paths
    root = torch.nn.Module()
    root.model = torch.nn.Module()
    root.model.visual = torch.nn.Linear(2, 2)  # wrapped: `visual.weight` is at `model.visual.weight`
    root.model.language_model = torch.nn.Module()
    root.model.language_model.norm = torch.nn.LayerNorm(2)  # a level inserted below the head `model`
    root.lm_head = torch.nn.Linear(2, 2)
    paths = module_paths(root, ["visual.weight", "model.norm.weight", "lm_head.weight", "model.gone.weight"])
    assert paths == {"visual.weight": "model.visual.weight", "model.norm.weight": "model.language_model.norm.weight",
                     "lm_head.weight": "lm_head.weight", "model.gone.weight": "model.gone.weight"}
    root.other = torch.nn.Module()
    root.other.visual = torch.nn.Linear(2, 2)  # now two paths nest `visual.weight`: none is guessed
    assert module_paths(root, ["visual.weight"]) == {"visual.weight": "visual.weight"}


def test_apply_finds_the_checkpoint_the_module_says_it_came_from(decoder):
    folder, ids, expected = decoder
    # As transformers records it (config._name_or_path), and as diffusers' dict-like config does.
    for config in (type("Config", (), {"_name_or_path": folder})(), {"_name_or_path": folder}):
        module = models.on_meta(models.Decoder)
        module.config = config
        module, handle = vramguard.apply(module, **SIMULATED)
        with handle, torch.no_grad():
            torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)
    with pytest.raises(vramguard.InputError, match="model_path=") as error:
        vramguard.apply(models.on_meta(models.Decoder), **SIMULATED)
    assert "Decoder" in str(error.value) and error.value.hint


class _Keep(logging.Handler):
    """Keeps the records the logger "vramguard" hands it."""

    def __init__(self):
        super().__init__()
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def vramguard_log():
    keep = _Keep()
    logger = logging.getLogger("vramguard")
    logger.addHandler(keep)
    yield keep.records
    logger.removeHandler(keep)
    vramguard.set_verbosity("warning")


def test_the_hosts_lines_go_to_pythons_logging_and_are_quiet_by_default(decoder, capfd, vramguard_log):
    folder = decoder[0]
    capfd.readouterr()
    vramguard.plan(folder, **SIMULATED)
    assert vramguard.get_verbosity() == logging.WARNING
    assert not vramguard_log and capfd.readouterr().err == "", "a plain plan logs nothing at the default level"
    vramguard.set_verbosity("info")
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, **SIMULATED)
    handle.unload()
    stages = [r.getMessage() for r in vramguard_log if r.levelno == logging.INFO]
    assert any(m.endswith("load...") for m in stages), stages
    err = capfd.readouterr().err
    assert "[vramguard] INFO:" in err and "[info]" not in err, "the host's own stderr lines are replaced by the logger's"
    # A level set on the logger itself counts too.
    vramguard_log.clear()
    logging.getLogger("vramguard").setLevel(logging.ERROR)
    vramguard.plan(folder, **SIMULATED)
    assert not vramguard_log


def test_a_fallback_is_a_warning_in_pythons_logging(decoder, vramguard_log):
    folder, ids, expected = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "balanced", **dict(SIMULATED, simulate="cuda:2GB"),
                                     settings={"simulate_oom_at_step": 1})
    with handle, torch.no_grad():
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)
    warnings = [r.getMessage() for r in vramguard_log if r.levelno == logging.WARNING]
    assert any("ran out of memory" in m and "falling back" in m for m in warnings), warnings


def test_a_long_load_shows_a_tqdm_bar_unless_disabled(decoder, monkeypatch):
    bars = []

    class FakeTqdm:  # tqdm's interface as the module uses it
        def __init__(self, total, unit, unit_scale, desc):
            self.total, self.desc, self.n, self.closed = total, desc, 0, False
            bars.append(self)

        def update(self, n):
            self.n += n

        def close(self):
            self.closed = True

    fake = types.ModuleType("tqdm.auto")
    fake.tqdm = FakeTqdm
    monkeypatch.setitem(sys.modules, "tqdm", types.ModuleType("tqdm"))
    monkeypatch.setitem(sys.modules, "tqdm.auto", fake)
    monkeypatch.setattr(vramguard._logging.LoadProgress, "after_seconds", 0.0)  # every load counts as long here
    folder = decoder[0]
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, **SIMULATED)
    handle.unload()
    assert len(bars) == 1 and bars[0].closed and "loading" in bars[0].desc
    assert bars[0].n == bars[0].total > 0, "the bar ends at the model's bytes"
    vramguard.disable_progress_bar()
    try:
        module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, **SIMULATED)
        handle.unload()
    finally:
        vramguard.enable_progress_bar()
    assert len(bars) == 1


def test_the_package_has_a_version_and_ships_the_ready_configs():
    assert re.fullmatch(r"\d+\.\d+\.\d+", vramguard.__version__)
    seed = vramguard.config_path("rtx4080-16gb")
    assert os.path.isfile(seed) and "max_memory = 0=12GB" in open(seed).read()
    assert vramguard.config_path("h100-80gb.ini").endswith("h100-80gb.ini")
    with pytest.raises(vramguard.InputError, match=r"no config 'rtx4080' ships with vramguard \(did you mean 'rtx4080-16gb'\?\)") as error:
        vramguard.config_path("rtx4080")
    assert "cpu-planning" in error.value.hint


class OptimizedModule(torch.nn.Module):
    """Stands in for what torch.compile(block) returns (torch 1.13 has no torch.compile): the wrapped
    module as _orig_mod, called through."""

    def __init__(self, module):
        super().__init__()
        self._orig_mod = module

    def forward(self, *args, **kwargs):
        return self._orig_mod(*args, **kwargs)


def test_a_streamed_block_wrapped_by_torch_compile_is_refused_saying_to_compile_it_in_place(decoder):
    folder, ids, expected = decoder
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "sequential-offload", **SIMULATED)
    with handle, torch.no_grad():
        module.model.layers[2] = OptimizedModule(module.model.layers[2])
        with pytest.raises(vramguard.InputError, match=r"'model.layers.2' of component 'model' is wrapped by torch.compile") as error:
            module(ids)
        assert "model.layers.2.compile()" in error.value.hint
    # Kept resident, the wrapper sees the same weights at every call: it runs.
    module, handle = vramguard.apply(models.on_meta(models.Decoder), folder, "balanced", **SIMULATED)
    with handle, torch.no_grad():
        module.model.layers[2] = OptimizedModule(module.model.layers[2])
        torch.testing.assert_close(module(ids), expected, rtol=1e-5, atol=1e-5)
