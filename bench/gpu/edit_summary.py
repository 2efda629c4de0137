"""One line of a GPU proof: a `vramguard edit --json` report beside the NVML peak nvml_peak.py sampled from
outside. Prints ready time, the median step, the streamed bytes against the copy bound (the pinned
bandwidth measured in the same run), NVML's peak beside the plan's prediction, whether CFG's passes
ran as one batch, where the median step's time went (GPU compute, waits for copies, units not
prefetched, the allocator's cache-emptying retries), and what each component's calls held at most beside
the activations they were accounted for; and, for a run with --profile, the GPU's time by
kernel from the report's notes.
Usage: edit_summary.py REPORT.json NVML.json LABEL PINNED_BYTES_PER_S"""
import json
import sys


def main():
    report_file, nvml_file, label, bandwidth = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    try:
        report = json.load(open(report_file))
        edit, outside = report["edit"], json.load(open(nvml_file))
    except Exception as error:  # the run failed: its stderr says why (printed by the caller)
        print(f"  {label}: no report ({error})")
        return
    steps = sorted(edit["steps"], key=lambda s: s["seconds"])
    median = steps[len(steps) // 2]
    bound = median["streamed_bytes"] / bandwidth
    ratio = f" = {median['seconds'] / bound:.3f}x the copy bound" if bound > 0 else ""
    for device, peak in outside["peak_bytes"].items():
        predicted = edit["predicted_peak_bytes"].get(device, 0)
        print(f"  {label}: ready {edit['ready_seconds']:.2f} s; step {median['seconds']:.3f} s, streamed "
              f"{median['streamed_bytes'] / 1e9:.2f} GB{ratio}; CFG batched {edit.get('cfg_batched')}; {device} NVML "
              f"peak {peak / 1e9:.3f} GB, predicted {predicted / 1e9:.3f} GB "
              f"({100 * (peak - predicted) / max(predicted, 1):+.1f} %)")
    if "compute_seconds" in median:
        print(f"    median step: compute {median['compute_seconds']:.3f} s, copy waits {median['copy_wait_seconds']:.3f} s, "
              f"{median['unprefetched_units']} units not prefetched, {median['allocator_retries']} allocator retries "
              f"(all steps: {sum(s['allocator_retries'] for s in steps)})")
    # Which component's calls held the most, beside the activations each was accounted for.
    for device in outside["peak_bytes"]:
        calls = [(name, peaks[device]) for name, peaks in edit.get("peaks_by_component", {}).items() if device in peaks]
        if calls:
            print(f"    {device} by component (accounted activations / ours / allocator / NVML at most, GB): " +
                  "; ".join(f"{name} {p['accounted_activation_bytes'] / 1e9:.3f} / {p['peak_bytes'] / 1e9:.3f} / "
                            f"{p['reserved_peak_bytes'] / 1e9:.3f} / {p['process_peak_bytes'] / 1e9:.3f}"
                            for name, p in calls))
    for note in report.get("notes", []):
        if note.startswith("profile:"):
            print(f"    {note}")


if __name__ == "__main__":
    main()
