"""The keywords plan() and apply() take: the CLI's options, declared once (vramguard/load_options.def) and
read by the CLI's parsers, so each takes the same spellings, gives the same messages and names what the
caller wrote (max_memory[0], dtype=), never the CLI's flag."""
import os

import pytest
import torch

import models
import vramguard

from test_vramguard import SIMULATED, decoder  # noqa: F401 (a fixture)


def test_a_cap_is_one_size_and_cannot_smuggle_others(decoder):
    # max_memory={0: "1GB,cpu=1B"} once added a cpu cap of one byte.
    folder, _, _ = decoder
    with pytest.raises(ValueError, match=r"max_memory\[0\]"):
        vramguard.plan(folder, "balanced", max_memory={0: "1GB,cpu=1B"}, simulate="cuda:1GB")
    with pytest.raises(ValueError, match="reserve"):
        vramguard.plan(folder, "balanced", reserve={0: "1GB,0=0"}, simulate="cuda:1GB")


def test_the_keywords_are_the_clis_options_declared_once(decoder):
    catalog = {option["keyword"]: option for option in vramguard._vramguard.option_catalog() if option["keyword"]}
    # Every declared option is a keyword of plan() and apply(), with the CLI's meaning and parser.
    for keyword in ("max_memory", "reserve", "stream_from", "max_attempts", "allow_cpu_compute", "options"):
        assert keyword in catalog
    assert catalog["max_attempts"]["min"] == 1 and catalog["max_attempts"]["max"] == 16
    folder = decoder[0]
    plan = vramguard.plan(folder, "balanced", max_attempts=2, stream_from="pinned", **SIMULATED)
    assert plan.units
    # The same spellings and the same formatting as the CLI: f16 and f32 included.
    for spelling in ("f16", "fp16", "half", torch.float16):
        vramguard.plan(folder, "balanced", dtype=spelling, **SIMULATED)
    assert vramguard.parse_byte_size("590MB") == 590_000_000
    assert vramguard.format_bytes(590_000_000) == "590.00 MB (562.67 MiB)"


def test_plan_reads_the_shipped_configs_as_apply_and_the_cli_do(decoder):
    # Their keys for loading (cuda_alloc_conf, fallback) once made plan() refuse the file.
    for name in ("rtx4080-16gb", "h100-80gb", "two-gpus"):
        vramguard.plan(decoder[0], config=vramguard.config_path(name), simulate="cuda:1GB", reserve=0, cpu_memory="4GiB",
                       max_memory={0: "1GB"})


def test_a_misspelled_keyword_names_itself_the_nearest_and_every_accepted_one(decoder):
    with pytest.raises(TypeError, match=r"'max_memroy' \(did you mean 'max_memory'\?\); it accepts: .*headroom"):
        vramguard.plan(decoder[0], max_memroy={0: "12GB"}, **SIMULATED)
    with pytest.raises(TypeError, match=r"'strategyy' \(did you mean 'strategy'\?\)"):
        vramguard.apply(models.on_meta(models.Decoder), decoder[0], strategyy="auto", **SIMULATED)


def test_sizes_are_checked_as_the_caller_named_them(decoder):
    folder = decoder[0]
    # accelerate reads a lowercase b as bits: refused, with the bytes meant.
    with pytest.raises(vramguard.InputError, match=r"max_memory\[0\] = '12gb' is not a size: a lowercase unit is ambiguous") as error:
        vramguard.plan(folder, max_memory={0: "12gb"}, **SIMULATED)
    assert error.value.hint == "write '12GB' (powers of 1000)"
    with pytest.raises(vramguard.InputError, match=r"max_memory\['cpu'\] = '8mib'") as error:
        vramguard.plan(folder, max_memory="0=12GB,cpu=8mib", **SIMULATED)
    assert "'8MiB'" in error.value.hint
    with pytest.raises(vramguard.InputError, match=r"headroom = 'lots' is not a size") as error:
        vramguard.plan(folder, headroom="lots", **SIMULATED)
    assert "--headroom" not in str(error.value) and error.value.hint
    # The accepted forms pass: bytes, powers of 1000 and of 1024, with or without a space.
    vramguard.plan(folder, max_memory={0: "1 GB", "cpu": "4GiB"}, headroom=0, simulate="cuda:1GB", reserve="0")


def test_dtype_takes_torchs_dtypes_and_names_a_misspelled_one(decoder):
    folder = decoder[0]
    sizes = {str(d): [u.bytes for u in vramguard.plan(folder, dtype=d, **SIMULATED).units] for d in (torch.bfloat16, "bf16", torch.float32)}
    assert sizes["torch.bfloat16"] == sizes["bf16"] and sum(sizes["bf16"]) < sum(sizes["torch.float32"])
    with pytest.raises(vramguard.InputError, match=r"dtype= 'bf17' is not a dtype .*\(did you mean 'bf16'\?\)") as error:
        vramguard.plan(folder, dtype="bf17", **SIMULATED)
    assert "torch.bfloat16" in error.value.hint and "--dtype" not in str(error.value)
    with pytest.raises(vramguard.InputError, match="tokens= '0' is not an integer from 1 to 1000000"):
        vramguard.plan(folder, tokens=0, **SIMULATED)
    with pytest.raises(TypeError, match="batch must be a whole number"):
        vramguard.plan(folder, batch=2.5, **SIMULATED)


def test_the_hosts_errors_about_options_name_them_as_python_keywords(decoder):
    folder = decoder[0]
    cases = [(dict(SIMULATED, simulate="nosuchcard"), "simulate="),
             (dict(SIMULATED, max_memory={7: "1GB"}), "max_memory="),
             (dict(SIMULATED, stream_from="nowhere"), "stream_from="),
             (dict(SIMULATED, settings={"simulate_oom_at": "x"}), "simulate_oom_at="),
             (dict(SIMULATED, tokens=10**7), "tokens=")]
    for options, named in cases:
        with pytest.raises(vramguard.InputError) as error:
            vramguard.apply(models.on_meta(models.Decoder), folder, **options)
        assert named in str(error.value) and "--" not in str(error.value) + error.value.hint, options
    with pytest.raises(vramguard.InputError) as error:
        vramguard.plan(folder, **dict(SIMULATED, simulate="nosuchcard"))
    assert "simulate=" in str(error.value) and "--simulate" not in str(error.value)
    # A path is left as it is: a Hugging Face cache folder is models--org--name.
    with pytest.raises(vramguard.InputError) as error:
        vramguard.plan(os.path.join(folder, "models--acme--tiny"), **SIMULATED)
    assert "models--acme--tiny" in str(error.value)


def test_a_job_says_how_many_passes_each_component_makes(decoder):
    folder = decoder[0]
    one = vramguard.plan(folder, "balanced", **SIMULATED).predicted
    five = vramguard.plan(folder, "balanced", job={"model": 5}, **SIMULATED).predicted
    assert five["job_seconds"] == pytest.approx(5 * one["job_seconds"])
    with pytest.raises(vramguard.InputError, match=r"job= names 'modle', which is not a component of the model.*did you mean 'model'"):
        vramguard.plan(folder, job={"modle": 5}, **SIMULATED)
    with pytest.raises(vramguard.InputError, match=r"job= 'model=0' is not COMPONENT=CALLS"):
        vramguard.plan(folder, job={"model": 0}, **SIMULATED)
