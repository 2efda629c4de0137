# Sourced by the GPU proof scripts, run from the repository root after building into build-gpu: where
# results go ($RESULTS), the CLI, the work folder the scripts share, and the full-size Qwen-Image-Edit
# folder they measure.
out=${RESULTS:-/tmp/vramguard-results}
mkdir -p "$out"
vg=${VG:-./build-gpu/bin/vramguard}  # VG: another build (a baseline) to measure
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

# A 1024x1024 RGB gradient PNG at PATH: the edits' input picture.
gradient_png() {
  python3 - "$1" <<'PY'
import struct, sys, zlib
w = h = 1024
rows = b"".join(b"\x00" + bytes((x * 255 // w, y * 255 // h, 128)[c] for x in range(w) for c in range(3)) for y in range(h))
def chunk(kind, data): return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
open(sys.argv[1], "wb").write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                              + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
PY
}
