"""The Python module's proofs on the GPU machine, the motivating case (called by run-python-proofs.sh):

  transformer  full-size QwenImageTransformer2DModel (zero weights), one 1024x1024 edit step (4096 target +
               4096 input-image latent tokens, 200 text tokens, bf16): resident; vramguard.apply with the
               RTX 4080 config (auto, 0=12GB) and with sequential-offload; diffusers' group offloading
               (leaf level, use_stream=True); the pinned bandwidth. Same process, same run.
  pipeline     the whole QwenImageEditPipeline with diffusers' and transformers' own classes (Qwen2.5-VL at
               full shape, the transformer, the VAE; zero weights) under the seed's settings: the text
               encoder run on token ids and pixel values, then a few steps of a 1024x1024 edit from
               prompt_embeds; peaks per device, per-component time and bytes streamed, after unload.

  edit         the same edit as `vramguard edit` in run-edit-proofs.sh, through diffusers' own
               QwenImageEditPipeline (zero weights): a 1024x1024 picture, 8 steps with true CFG, bf16; the
               prompts' embeddings from the text encoder on the processor's shapes (1,369 image tokens),
               then the pipeline from prompt_embeds. Under vramguard.apply with the RTX 4080 config
               (balanced, the seed's), with auto, and with auto told the job (job=: 16 transformer passes, 2
               of the text encoder and the VAE), then diffusers' group offloading (leaf level, streams)
               of every component; ready, text encoder, per step, VAE, peak with the context, after.

  compile      the transformer's step as above with every block compiled (compile_repeated_blocks, fullgraph)
               after vramguard.apply, against the same plan eager: the RTX 4080 config (balanced) and
               sequential-offload; dynamo's graphs and recompiles after the first call and after all.

  lora         a rank-64 LoRA on every projection of the full-size transformer, added after apply under the
               RTX 4080 config: the plan made again with it counted, the step with it against without,
               the peak with the context against the cap, fuse_lora's answer.

    python3 python_proofs.py transformer|pipeline|edit|compile|lora PIPELINE_DIR CONFIG OUT.json
Prints a summary; writes every figure to OUT.json.
"""
import gc
import json
import statistics
import sys
import time
import traceback

import vramguard  # first: the allocator settings before CUDA starts
import torch
import accelerate

from pinned_bandwidth import pinned_bandwidth


def used_bytes():
    free, total = torch.cuda.mem_get_info(0)
    return total - free


def timed(run, steps):
    times = []
    for _ in range(steps):
        torch.cuda.synchronize()
        start = time.perf_counter()
        run()
        torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return {"first_seconds": times[0], "median_seconds": statistics.median(times[1:]), "seconds": times}


def release():
    gc.collect()
    torch.cuda.empty_cache()


def transformer_inputs(config):
    torch.manual_seed(0)
    return dict(hidden_states=torch.randn(1, 8192, config["in_channels"], dtype=torch.bfloat16, device="cuda"),
                encoder_hidden_states=torch.randn(1, 200, config["joint_attention_dim"], dtype=torch.bfloat16, device="cuda"),
                encoder_hidden_states_mask=torch.ones(1, 200, dtype=torch.int64, device="cuda"),
                timestep=torch.tensor([0.5], dtype=torch.bfloat16, device="cuda"),
                img_shapes=[[(1, 64, 64), (1, 64, 64)]], return_dict=False)


def meta_transformer(folder):
    from diffusers import QwenImageTransformer2DModel
    config = QwenImageTransformer2DModel.load_config(folder + "/transformer")
    with accelerate.init_empty_weights():
        model = QwenImageTransformer2DModel.from_config(config).to(torch.bfloat16)
    return model, config


def zero_weights(model, device):
    model.to_empty(device=device)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
    return model.to(torch.bfloat16)


def prove_transformer(folder, config_file, out, save):
    out["pinned_bytes_per_s"] = pinned_bandwidth()
    torch.zeros(1, device="cuda")
    out["context_bytes"] = used_bytes()
    model, config = meta_transformer(folder)
    inputs = transformer_inputs(config)
    model_bytes = sum(p.numel() * 2 for p in model.parameters())
    out["model_bytes"] = model_bytes
    with torch.inference_mode():
        # Resident: the compute floor.
        model = zero_weights(model, "cuda")
        out["resident"] = timed(lambda: model(**inputs), 3)
        save()
        del model
        release()

        for label, kwargs in (("vramguard_auto_12GB", dict(config=config_file, strategy="auto")),
                              ("vramguard_sequential_offload", dict(config=config_file, strategy="sequential-offload"))):
            model, _ = meta_transformer(folder)
            torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            model, handle = vramguard.apply(model, folder + "/transformer", **kwargs)
            ready = time.perf_counter() - start
            result = timed(lambda: model(**inputs), 4)
            report = handle.report()
            result.update(ready_seconds=ready, strategy=handle.strategy,
                          allocator_peak_bytes=torch.cuda.max_memory_allocated(),
                          allocator_peak_reserved_bytes=torch.cuda.max_memory_reserved(),
                          streamed_bytes_per_step=next(iter(report["components"].values()))["streamed_bytes_per_step"],
                          step_peaks=next(iter(report["components"].values())).get("peak_bytes"),
                          predicted_step_seconds=report["attempts"][-1]["predicted"]["step_seconds"],
                          load=report["load"], allocator=report["python"]["allocator"])
            handle.unload()
            release()
            result["after_unload"] = handle.report().get("after_unload")
            out[label] = result
            save()
            del model, handle
            release()

        # diffusers' group offloading, leaf level with streams: the peer to beat.
        model, _ = meta_transformer(folder)
        model = zero_weights(model, "cpu")
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        model.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"),
                                   offload_type="leaf_level", use_stream=True)
        setup = time.perf_counter() - start
        result = timed(lambda: model(**inputs), 3)
        result.update(setup_seconds=setup, allocator_peak_bytes=torch.cuda.max_memory_allocated())
        out["diffusers_group_offload"] = result
        save()
        del model
        release()
    bound = model_bytes / out["pinned_bytes_per_s"]
    floor = max(out["resident"]["median_seconds"], 0)
    out["all_streamed_bound_seconds"] = bound
    for label in ("vramguard_auto_12GB", "vramguard_sequential_offload"):
        if label in out:
            r = out[label]
            r["bound_seconds"] = max(floor, r["streamed_bytes_per_step"] / out["pinned_bytes_per_s"])
            r["ratio_to_bound"] = r["median_seconds"] / r["bound_seconds"]
            r["peak_with_context_bytes"] = out["context_bytes"] + r["allocator_peak_reserved_bytes"]


def dynamo_graphs():
    """Graphs dynamo has made so far, and the recompiles it counted (a guard that failed on a later call)."""
    from torch._dynamo.utils import counters
    return {"unique_graphs": counters["stats"]["unique_graphs"], "recompiles": sum(counters["recompiles"].values())}


def prove_compile(folder, config_file, out, save):
    """Regional compilation (diffusers' compile_repeated_blocks, every transformer block) after apply:
    the full-size transformer's step eager and compiled under the same plan, in the same process."""
    out["pinned_bytes_per_s"] = pinned_bandwidth()
    torch.zeros(1, device="cuda")
    _, config = meta_transformer(folder)
    inputs = transformer_inputs(config)
    with torch.inference_mode():
        for label, kwargs in (("balanced_rtx4080_config", dict(config=config_file)),
                              ("sequential_offload", dict(config=config_file, strategy="sequential-offload"))):
            torch._dynamo.reset()
            model, _ = meta_transformer(folder)
            model, handle = vramguard.apply(model, folder + "/transformer", **kwargs)
            result = {"strategy": handle.strategy}
            eager_output = model(**inputs)[0].float()
            result["eager"] = timed(lambda: model(**inputs), 4)
            before = dynamo_graphs()
            model.compile_repeated_blocks(fullgraph=True)
            start = time.perf_counter()
            compiled_output = model(**inputs)[0].float()
            torch.cuda.synchronize()
            result["first_compiled_call_seconds"] = time.perf_counter() - start
            after_first = dynamo_graphs()
            result["compiled"] = timed(lambda: model(**inputs), 5)
            made = {k: v - before[k] for k, v in after_first.items()}
            result["graphs_after_first_call"], result["graphs_after_every_call"] = made, {k: v - before[k] for k, v in dynamo_graphs().items()}
            # The synthesized weights are zeros: equal outputs say little here (the fixtures' tests check
            # the numbers), a difference would still show a binding gone wrong.
            result["max_abs_difference"] = (compiled_output - eager_output).abs().max().item()
            result["compiled_over_eager"] = result["compiled"]["median_seconds"] / result["eager"]["median_seconds"]
            report = handle.report()
            component = next(iter(report["components"].values()))
            result["streamed_bytes_per_step"] = component["streamed_bytes_per_step"]
            result["bound_seconds"] = component["streamed_bytes_per_step"] / out["pinned_bytes_per_s"]
            out[label] = result
            save()
            handle.unload()
            del model, handle, eager_output, compiled_output
            release()


LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj", "to_add_out",
                "img_mlp.net.0.proj", "img_mlp.net.2", "txt_mlp.net.0.proj", "txt_mlp.net.2"]


def prove_lora(folder, config_file, out, save):
    """A rank-64 LoRA (a Lightning LoRA's shape: every attention and MLP projection of both streams) on the
    full-size transformer under the RTX 4080 config: added after apply (the plan made again with it
    counted), then the step with it against the step without, the peak against the cap."""
    from peft import LoraConfig
    out["pinned_bytes_per_s"] = pinned_bandwidth()
    torch.zeros(1, device="cuda")
    out["context_bytes"] = used_bytes()
    model, config = meta_transformer(folder)
    inputs = transformer_inputs(config)
    with torch.inference_mode():
        model, handle = vramguard.apply(model, folder + "/transformer", config=config_file)
        out["strategy"] = handle.strategy
        out["without_lora"] = timed(lambda: model(**inputs), 4)
        out["streamed_bytes_without"] = next(iter(handle.report()["components"].values()))["streamed_bytes_per_step"]
        save()
        with torch.inference_mode(False):
            model.add_adapter(LoraConfig(r=64, lora_alpha=64, target_modules=LORA_TARGETS), adapter_name="rank64")
        out["adapter_bytes"] = sum(p.numel() * p.element_size() for n, p in model.named_parameters() if "lora_" in n)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        model(**inputs)  # counts the adapters: more than the plan kept, so it plans and loads again
        torch.cuda.synchronize()
        out["first_step_with_replan_seconds"] = time.perf_counter() - start
        out["with_lora"] = timed(lambda: model(**inputs), 4)
        report = handle.report()
        out["adapters"] = report["python"]["adapters"]
        out["attempts"] = [(a["strategy"], a["outcome"]) for a in report["attempts"]]
        out["predicted_devices"] = report["attempts"][-1]["predicted"]["devices"]
        out["streamed_bytes_with"] = next(iter(report["components"].values()))["streamed_bytes_per_step"]
        out["peak_with_context_bytes"] = out["context_bytes"] + torch.cuda.max_memory_reserved()
        try:
            model.fuse_lora()
            out["fuse"] = "fused"
        except vramguard.InputError as error:
            out["fuse"] = "refused: " + str(error).splitlines()[0]
        save()
        handle.unload()
        release()
        out["lora_weights_on_gpu_after_unload"] = sum(1 for n, p in model.named_parameters() if "lora_" in n and p.is_cuda)


def qwen25_vl_config(folder):
    """The text encoder's transformers config from the checkpoint's config.json, with what Qwen2.5-VL's
    published config adds (multimodal rope sections, window attention layout, token ids)."""
    from transformers import Qwen2_5_VLConfig
    with open(folder + "/text_encoder/config.json") as f:
        raw = json.load(f)
    vision = dict(raw["vision_config"])
    vision.setdefault("fullatt_block_indexes", [7, 15, 23, 31])
    vision.setdefault("window_size", 112)
    vision["in_channels"] = vision.pop("in_chans", 3)
    text = {k: raw[k] for k in ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                                "num_key_value_heads", "vocab_size") if k in raw}
    text.update(rope_theta=1000000.0, max_position_embeddings=128000, rms_norm_eps=1e-6,
                rope_scaling={"type": "mrope", "rope_type": "default", "mrope_section": [16, 24, 24]})
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, tie_word_embeddings=raw.get("tie_word_embeddings", False),
                            image_token_id=151655, video_token_id=151656, vision_start_token_id=151652, vision_end_token_id=151653)


def live_cuda_tensors():
    """The CUDA tensors still alive (that the garbage collector can see), largest first: who holds what."""
    found = []
    for obj in gc.get_objects():
        try:
            if isinstance(obj, torch.Tensor) and obj.is_cuda:
                found.append((obj.untyped_storage().nbytes(), list(obj.shape), str(obj.dtype)))
        except Exception:  # objects that refuse inspection are not tensors we look for
            continue
    return sorted(found, reverse=True)[:20]


def prove_pipeline(folder, config_file, out, save):
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageEditPipeline
    from transformers import Qwen2_5_VLForConditionalGeneration
    torch.zeros(1, device="cuda")
    out["context_bytes"] = used_bytes()
    transformer, _ = meta_transformer(folder)
    with accelerate.init_empty_weights():
        vae = AutoencoderKLQwenImage.from_config(AutoencoderKLQwenImage.load_config(folder + "/vae")).to(torch.bfloat16)
        text_encoder = Qwen2_5_VLForConditionalGeneration(qwen25_vl_config(folder)).to(torch.bfloat16)
    scheduler = FlowMatchEulerDiscreteScheduler(use_dynamic_shifting=True, base_shift=0.5, max_shift=0.9,
                                                base_image_seq_len=256, max_image_seq_len=8192, shift_terminal=0.02,
                                                time_shift_type="exponential")
    pipe = QwenImageEditPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=None, processor=None,
                                 transformer=transformer)
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    pipe, handle = vramguard.apply(pipe, folder, config=config_file)
    out["ready_seconds"] = time.perf_counter() - start
    out["strategy"] = handle.strategy
    out["units"] = handle.units()
    save()
    with torch.inference_mode():
        # The text encoder on token ids and pixel values (no tokenizer files offline): a 448x448 image
        # is 32x32 patches of 14, merged 2x2 into 256 image tokens, inside the chat template's markers.
        grid = torch.tensor([[1, 32, 32]], device="cuda")
        pixel_values = torch.randn(32 * 32, 3 * 2 * 14 * 14, dtype=torch.bfloat16, device="cuda")
        text_ids = torch.randint(1000, 100000, (1, 64), generator=torch.Generator().manual_seed(0))
        ids = torch.cat([text_ids[:, :40], torch.tensor([[151652]]), torch.full((1, 256), 151655), torch.tensor([[151653]]),
                         text_ids[:, 40:]], dim=1).cuda()
        start = time.perf_counter()
        encoded = pipe.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixel_values,
                                    image_grid_thw=grid, output_hidden_states=True)
        torch.cuda.synchronize()
        out["text_encoder_seconds"] = time.perf_counter() - start
        prompt_embeds = encoded.hidden_states[-1][:, 34:].contiguous()  # the template's system prefix dropped
        prompt_embeds_mask = torch.ones(prompt_embeds.shape[:2], dtype=torch.int64, device="cuda")
        del encoded
        try:
            from PIL import Image
            image = Image.new("RGB", (1024, 1024), (128, 96, 64))
        except ImportError:  # the pipeline reads a tensor's size differently; PIL comes with diffusers' users
            image = torch.rand(1, 3, 1024, 1024)
        start = time.perf_counter()
        result = pipe(image=image, prompt_embeds=prompt_embeds, prompt_embeds_mask=prompt_embeds_mask, num_inference_steps=3,
                      true_cfg_scale=1.0, height=1024, width=1024, output_type="pt")
        torch.cuda.synchronize()
        out["edit_seconds"] = time.perf_counter() - start
        out["image_shape"] = list(result.images.shape)
    out["allocator_peak_reserved_bytes"] = torch.cuda.max_memory_reserved()
    out["peak_with_context_bytes"] = out["context_bytes"] + out["allocator_peak_reserved_bytes"]
    report = handle.report()
    out["components"] = report["components"]
    out["attempts"] = [{"strategy": a["strategy"], "outcome": a["outcome"]} for a in report["attempts"]]
    out["load"] = report["load"]
    out["allocator"] = report["python"]["allocator"]
    handle.unload()
    del pipe, transformer, vae, text_encoder, prompt_embeds, result
    release()
    out["after_unload"] = handle.report().get("after_unload")
    # Once the script's own tensors are gone too: what the allocator still holds (vramguard's share of the
    # process) and what the process holds beyond it (the context, grown by the kernels the run loaded:
    # cuBLAS, cuDNN and the libraries' own, which no API unloads).
    others = sum(d.get("others_bytes", 0) for d in (out["after_unload"] or {}).values())
    out["after_release"] = {"allocator_allocated_bytes": torch.cuda.memory_allocated(),
                            "allocator_reserved_bytes": torch.cuda.memory_reserved(),
                            "process_bytes": used_bytes() - others,
                            "live_cuda_tensors": live_cuda_tensors()}


def edit_pipeline(folder, device):
    """QwenImageEditPipeline with diffusers' and transformers' classes at the folder's shapes: on the meta
    device (for vramguard.apply), or with zero weights on `device`."""
    from diffusers import AutoencoderKLQwenImage, FlowMatchEulerDiscreteScheduler, QwenImageEditPipeline
    from transformers import Qwen2_5_VLForConditionalGeneration
    transformer, _ = meta_transformer(folder)
    with accelerate.init_empty_weights():
        vae = AutoencoderKLQwenImage.from_config(AutoencoderKLQwenImage.load_config(folder + "/vae")).to(torch.bfloat16)
        text_encoder = Qwen2_5_VLForConditionalGeneration(qwen25_vl_config(folder)).to(torch.bfloat16)
    if device is not None:
        transformer, vae, text_encoder = (zero_weights(m, device) for m in (transformer, vae, text_encoder))
    scheduler = FlowMatchEulerDiscreteScheduler.from_pretrained(folder + "/scheduler")
    return QwenImageEditPipeline(scheduler=scheduler, vae=vae, text_encoder=text_encoder, tokenizer=None, processor=None,
                                 transformer=transformer)


def timed_calls(obj, name, record):
    """Wraps obj.name so that each call's seconds (synchronized) add up in record[name]."""
    original = getattr(obj, name)

    def wrapper(*args, **kwargs):
        torch.cuda.synchronize()
        start = time.perf_counter()
        result = original(*args, **kwargs)
        torch.cuda.synchronize()
        record[name] = record.get(name, 0.0) + time.perf_counter() - start
        return result
    setattr(obj, name, wrapper)


def run_edit(pipe, result):
    """The edit: both prompts through the text encoder (the template's 64 tokens dropped), then 8 steps."""
    from PIL import Image
    # The processor's view of a 1024x1024 picture: smart_resize to 1036x1036, 74x74 patches of 14,
    # merged 2x2 into 1,369 image tokens between the vision markers; the template around them.
    grid = torch.tensor([[1, 74, 74]], device="cuda")
    pixel_values = torch.randn(74 * 74, 3 * 2 * 14 * 14, dtype=torch.bfloat16, device="cuda")
    embeds = []
    torch.cuda.synchronize()
    start = time.perf_counter()
    for text_tokens in (12, 1):  # "make the sky stormy" and " "
        ids = torch.cat([torch.randint(1000, 100000, (1, 64)), torch.tensor([[151652]]), torch.full((1, 1369), 151655),
                         torch.tensor([[151653]]), torch.randint(1000, 100000, (1, text_tokens + 5))], dim=1).cuda()
        hidden = pipe.text_encoder(input_ids=ids, attention_mask=torch.ones_like(ids), pixel_values=pixel_values,
                                   image_grid_thw=grid, output_hidden_states=True).hidden_states[-1]
        embeds.append(hidden[:, 64:].contiguous())
        del hidden
    torch.cuda.synchronize()
    result["text_encoder_seconds"] = time.perf_counter() - start
    masks = [torch.ones(e.shape[:2], dtype=torch.int64, device="cuda") for e in embeds]
    steps = []
    timed_calls(pipe.vae, "encode", result)
    timed_calls(pipe.vae, "decode", result)

    def step_ended(pipeline, i, t, kwargs):
        torch.cuda.synchronize()
        steps.append(time.perf_counter())
        return kwargs
    image = Image.new("RGB", (1024, 1024), (128, 96, 64))
    torch.cuda.synchronize()
    start = time.perf_counter()
    out = pipe(image=image, prompt_embeds=embeds[0], prompt_embeds_mask=masks[0], negative_prompt_embeds=embeds[1],
               negative_prompt_embeds_mask=masks[1], true_cfg_scale=4.0, num_inference_steps=8, height=1024, width=1024,
               output_type="pt", callback_on_step_end=step_ended)
    torch.cuda.synchronize()
    result["pipeline_seconds"] = time.perf_counter() - start
    result["step_seconds"] = [b - a for a, b in zip(steps, steps[1:])]
    result["median_step_seconds"] = statistics.median(result["step_seconds"])
    result["image_shape"] = list(out.images.shape)


def prove_edit(folder, config_file, out, save):
    out["pinned_bytes_per_s"] = pinned_bandwidth()
    torch.zeros(1, device="cuda")
    out["context_bytes"] = used_bytes()
    with torch.inference_mode():
        # The job: 8 steps with true CFG, the prompt and the negative prompt, the VAE's encode and decode.
        job = {"text_encoder": 2, "transformer": 16, "vae": 2}
        for label, options in (("vramguard_balanced", {}), ("vramguard_auto", {"strategy": "auto"}),
                               ("vramguard_auto_job", {"strategy": "auto", "job": job})):
            pipe = edit_pipeline(folder, None)
            torch.cuda.reset_peak_memory_stats()
            result = {}
            start = time.perf_counter()
            pipe, handle = vramguard.apply(pipe, folder, config=config_file, **options)
            result["ready_seconds"] = time.perf_counter() - start
            result["strategy"] = handle.strategy
            try:
                run_edit(pipe, result)
            finally:
                result["peak_with_context_bytes"] = out["context_bytes"] + torch.cuda.max_memory_reserved()
                report = handle.report()
                result["streamed_bytes_per_step"] = {n: c["streamed_bytes_per_step"] for n, c in report["components"].items()}
                handle.unload()
                del pipe
                release()
                result["after_unload"] = handle.report().get("after_unload")
                out[label] = result
                save()
        pipe = edit_pipeline(folder, "cpu")
        torch.cuda.reset_peak_memory_stats()
        result = {}
        start = time.perf_counter()
        pipe.enable_group_offload(onload_device=torch.device("cuda"), offload_device=torch.device("cpu"), offload_type="leaf_level",
                                  use_stream=True)
        result["setup_seconds"] = time.perf_counter() - start
        try:
            run_edit(pipe, result)
        finally:
            result["peak_with_context_bytes"] = out["context_bytes"] + torch.cuda.max_memory_reserved()
            out["diffusers_group_offload"] = result
            save()


def main():
    what, folder, config_file, path = sys.argv[1:5]
    out = {"device": torch.cuda.get_device_name(0)}

    def save():  # after every stage: a run cut short by its time limit keeps what it measured
        with open(path, "w") as f:
            json.dump(out, f, indent=1, default=str)

    try:
        {"transformer": prove_transformer, "pipeline": prove_pipeline, "edit": prove_edit,
         "compile": prove_compile, "lora": prove_lora}[what](folder, config_file, out, save)
    except Exception:  # keep every figure measured so far, and say what failed
        out["error"] = traceback.format_exc()
        print(out["error"], file=sys.stderr)
    save()


if __name__ == "__main__":
    main()
