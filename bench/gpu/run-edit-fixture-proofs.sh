#!/usr/bin/env bash
# On the GPU machine, after building into build-gpu: `vramguard edit` on the fixture diffusers saved
# (tests/data/fixtures/qie_pipeline_tiny, fp32) on the real GPU, under every strategy one GPU has
# (resident; every unit streamed, with and without prefetch) and with the VAE in tiles: the final
# latents against diffusers' (expected.safetensors, expected_tiled.safetensors; tolerance 1e-3) and the
# PNG against its PNG (one level). Results go to $RESULTS.
set -uo pipefail
source bench/gpu/proof-env.sh
fixture=tests/data/fixtures/qie_pipeline_tiny
export CUDA_VISIBLE_DEVICES=0
for run in balanced:never auto:never sequential-offload:never:0 sequential-offload:never:1 auto:always sequential-offload:always:1; do
  IFS=: read -r strategy tiling prefetch <<< "$run"
  name=$strategy-$tiling${prefetch:+-p$prefetch}
  $vg edit "$fixture/pipeline" --image "$fixture/input.png" --prompt "make the sky stormy" --negative-prompt " " --true-cfg-scale 4 \
    --steps 2 --height 256 --width 384 --latents "$fixture/inputs.safetensors" --strategy $strategy --max-attempts 1 \
    ${prefetch:+--option prefetch=$prefetch} --vae-tiling $tiling --output "$out/fixture-$name.png" \
    --output-latents "$out/fixture-$name.safetensors" --json > "$out/fixture-$name.json" 2> "$out/fixture-$name.err"
  rc=$?
  python3 - "$out" "$name" "$tiling" $rc "$fixture" <<'PY'
import json, sys
import numpy as np
from PIL import Image
from safetensors.numpy import load_file
out, name, tiling, rc, fixture = sys.argv[1:6]
if rc != "0":
    print(f"  {name}: rc={rc}"); sys.exit()
expected = load_file(f"{fixture}/{'expected_tiled' if tiling == 'always' else 'expected'}.safetensors")
latents = load_file(f"{out}/fixture-{name}.safetensors")["latents"]
report = json.load(open(f"{out}/fixture-{name}.json"))
line = f"  {name}: final latents within {np.abs(latents - expected['final_latents']).max():.2e} of diffusers'"
if tiling != "always":
    png = np.asarray(Image.open(f"{out}/fixture-{name}.png"), dtype=np.int32)
    ref = np.asarray(Image.open(f"{fixture}/expected.png"), dtype=np.int32)
    line += f", PNG within {np.abs(png - ref).max()} level(s)"
else:
    line += f" with tiling enabled (image {np.abs(np.asarray(Image.open(f'{out}/fixture-{name}.png'), dtype=np.float32) / 255 - expected['image'][0]).max():.4f})"
e = report["edit"]
print(line + f"; streamed {sum(s['streamed_bytes'] for s in e['steps'])} bytes over the steps, VAE tiled {e['vae_encode_tiled']}/{e['vae_decode_tiled']}, "
      f"on {report['attempts'][-1]['strategy']}")
PY
done
