"""What run-python-proofs.sh prints of each proof: python_proofs.py's JSON for one section, summarized
(the error that cut it short first, if one did). Needs neither torch nor vramguard.

    python3 proof_summaries.py transformer|pipeline|edit|compile|lora OUT.json
"""
import json
import sys


def transformer_summary(r):
    bw = r.get("pinned_bytes_per_s", 1)
    print(f"  pinned {bw/1e9:.1f} GB/s; model {r.get('model_bytes', 0)/1e9:.2f} GB; all-streamed bound {r.get('all_streamed_bound_seconds', 0):.3f} s")
    if "resident" in r: print(f"  resident: {r['resident']['median_seconds']:.3f} s per step")
    for k in ("vramguard_auto_12GB", "vramguard_sequential_offload"):
        if k in r:
            v = r[k]
            print(f"  {k}: {v['median_seconds']:.3f} s per step (first {v['first_seconds']:.3f}), ready {v['ready_seconds']:.2f} s, "
                  f"{v['streamed_bytes_per_step']/1e9:.2f} GB streamed, {v['ratio_to_bound']:.3f}x the bound {v['bound_seconds']:.3f} s, "
                  f"predicted {v['predicted_step_seconds']:.3f} s, peak with context {v['peak_with_context_bytes']/1e9:.2f} GB, "
                  f"strategy {v['strategy']}, allocator {v['allocator']['settings']}, step peaks {v.get('step_peaks')}")
    if "diffusers_group_offload" in r:
        d = r["diffusers_group_offload"]
        print(f"  diffusers group offload: {d['median_seconds']:.3f} s per step after {d['setup_seconds']:.1f} s of setup, peak {d['allocator_peak_bytes']/1e9:.2f} GB")


def pipeline_summary(r):
    print(f"  ready {r.get('ready_seconds', 0):.2f} s with {r.get('strategy')}; text encoder {r.get('text_encoder_seconds', 0):.2f} s; "
          f"edit (3 steps) {r.get('edit_seconds', 0):.2f} s -> {r.get('image_shape')}")
    print(f"  peak on cuda:0 with the context {r.get('peak_with_context_bytes', 0)/1e9:.2f} GB (cap 12 GB)")
    for name, c in (r.get("components") or {}).items():
        peaks = ", ".join(f"{d} {b/1e9:.2f} GB" for d, b in (c.get("peak_bytes") or {}).items())
        print(f"  {name}: {c['steps']} steps, median {c['median_step_seconds']:.3f} s, {c['streamed_bytes_per_step']/1e9:.2f} GB streamed per step, peak {peaks}")
    a = r.get("after_unload") or {}
    for d, s in a.items():
        print(f"  after unload {d}: ours {(s['ours_in_use_bytes'] + s['ours_cached_bytes'])/2**20:.0f} MiB, process {s['process_bytes']/2**20:.0f} MiB "
              f"(context at start {r.get('context_bytes', 0)/2**20:.0f} MiB)")
    f = r.get("after_release")
    if f:
        print(f"  once the script's tensors are gone: the allocator holds {f['allocator_reserved_bytes']/2**20:.0f} MiB "
              f"({f['allocator_allocated_bytes']/2**20:.0f} MiB in use); the process {f['process_bytes']/2**20:.0f} MiB = context at start "
              f"+ {(f['process_bytes'] - f['allocator_reserved_bytes'] - r.get('context_bytes', 0))/2**20:.0f} MiB of kernels loaded since")


def edit_summary(r):
    bw = r.get("pinned_bytes_per_s", 1)
    print(f"  pinned {bw/1e9:.1f} GB/s, context {r.get('context_bytes', 0)/1e9:.2f} GB")
    for k in ("vramguard_balanced", "vramguard_auto", "vramguard_auto_job", "diffusers_group_offload"):
        v = r.get(k)
        if not v: continue
        ready = f"ready {v['ready_seconds']:.2f} s ({v.get('strategy')})" if "ready_seconds" in v else f"setup {v.get('setup_seconds', 0):.1f} s"
        print(f"  {k}: {ready}, text encoder {v.get('text_encoder_seconds', 0):.2f} s, VAE encode {v.get('encode', 0):.3f} s, "
              f"step median {v.get('median_step_seconds', 0):.3f} s, pipeline {v.get('pipeline_seconds', 0):.2f} s, VAE decode {v.get('decode', 0):.3f} s, "
              f"peak with context {v.get('peak_with_context_bytes', 0)/1e9:.2f} GB, streamed {v.get('streamed_bytes_per_step')}, after {v.get('after_unload')}")


def compile_summary(r):
    print(f"  pinned {r.get('pinned_bytes_per_s', 0)/1e9:.1f} GB/s")
    for k in ("balanced_rtx4080_config", "sequential_offload"):
        v = r.get(k)
        if not v or "compiled" not in v: continue
        print(f"  {k} ({v['strategy']}): eager {v['eager']['median_seconds']:.3f} s, compiled {v['compiled']['median_seconds']:.3f} s "
              f"({v['compiled_over_eager']:.3f}x), first compiled call {v['first_compiled_call_seconds']:.1f} s, "
              f"{v['streamed_bytes_per_step']/1e9:.2f} GB streamed (bound {v['bound_seconds']:.3f} s), graphs {v['graphs_after_first_call']} -> "
              f"{v['graphs_after_every_call']}, compiled vs eager max |diff| {v['max_abs_difference']:.1e} (zero weights)")


def lora_summary(r):
    if "with_lora" in r:
        print(f"  {r['strategy']}: without the LoRA {r['without_lora']['median_seconds']:.3f} s a step ({r['streamed_bytes_without']/1e9:.2f} GB streamed); "
              f"adapters {r['adapter_bytes']/1e6:.0f} MB; first step with it (plans and loads again) {r['first_step_with_replan_seconds']:.2f} s; "
              f"with it {r['with_lora']['median_seconds']:.3f} s ({r['streamed_bytes_with']/1e9:.2f} GB streamed)")
        print(f"  adapters {r['adapters']}; attempts {r['attempts']}; peak with context {r['peak_with_context_bytes']/1e9:.2f} GB (cap 12 GB); "
              f"fuse_lora: {r['fuse']}; LoRA weights on the GPU after unload: {r.get('lora_weights_on_gpu_after_unload')}")


def main():
    what, path = sys.argv[1:3]
    r = json.load(open(path))
    if "error" in r:
        print("  error:", r["error"].strip().splitlines()[-1])
    {"transformer": transformer_summary, "pipeline": pipeline_summary, "edit": edit_summary, "compile": compile_summary, "lora": lora_summary}[what](r)


if __name__ == "__main__":
    main()
