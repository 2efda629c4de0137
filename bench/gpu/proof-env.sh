# Sourced by the GPU proof scripts, run from the repository root after building into build-gpu: where
# results go ($RESULTS), the CLI, the work folder the scripts share, and the full-size Qwen-Image-Edit
# folder they measure.
out=${RESULTS:-/tmp/vramguard-results}
mkdir -p "$out"
vg=./build-gpu/bin/vramguard
work=/tmp/vramguard-proofs-work
mkdir -p "$work"

# The full-size pipeline (synth --preset full: zero weights, sparse files) in $work/qie, written once;
# then read into the page cache (the named subfolders only, where some are given), so that what a run
# measures is not the disk.
full_pipeline() {
  [ -f "$work/qie/model_index.json" ] || $vg synth --arch qwen-image-edit --preset full --out "$work/qie" >/dev/null
  local folders=("$@")
  [ ${#folders[@]} -gt 0 ] || folders=(.)
  (cd "$work/qie" && find "${folders[@]}" -name '*.safetensors' -exec cat {} + > /dev/null)
}
