#!/usr/bin/env bash
# The one command that shows what vramguard does: builds it (Release), writes a Qwen-Image-Edit-shaped
# pipeline with the real model's tensor names and shapes (57.7 GB of bf16, as sparse files: no disk
# space), and compares every placement strategy for it on a simulated 16 GB RTX 4080 that keeps 4 GB
# free for the system (configs/rtx4080-16gb.ini); loads it through the memory guard; then runs a small
# Qwen2 model under two strategies, each component of a small Qwen-Image-Edit pipeline natively, and a
# whole edit with it (the CPU computes in the simulated card's place).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh vramguard vramguard_strategies vramguard_runtime
vg=./build/bin/vramguard
model=build/demo/qwen-image-edit
echo "== vramguard --version"
$vg --version
echo
echo "== vramguard plugins   (the placement strategies this host discovered)"
$vg plugins
if [ ! -f "$model/model_index.json" ]; then
  rm -rf "$model"
  echo
  echo "== vramguard synth --arch qwen-image-edit --preset full --out $model"
  $vg synth --arch qwen-image-edit --preset full --out "$model"
fi
echo
echo "== vramguard inspect $model --dtype bf16"
$vg inspect "$model" --dtype bf16
echo
# The config is the real card's; --simulate declares one on a machine without it, and --cpu-memory the
# seed's 64 GiB of RAM (the config reads the machine's own).
seed="--config configs/rtx4080-16gb.ini --simulate rtx4080 --cpu-memory 64GiB"
echo "== vramguard compare $model $seed   (a simulated RTX 4080 16 GB)"
$vg compare "$model" $seed
echo
echo "== vramguard plan $model $seed --strategy auto"
$vg plan "$model" $seed --strategy auto
echo
echo "== vramguard load $model $seed --strategy auto   (the memory guard, simulated card)"
$vg load "$model" $seed --strategy auto
echo
echo "== the same load with balanced, running out of memory at its 10th allocation (an injected fault):"
echo "   the guard releases everything and loads with the next strategy of the config's ladder, auto"
$vg load "$model" $seed --strategy balanced --simulate-oom-at 10
echo
echo "== another program takes 8 GB of the card mid-load: balanced's 6.1 GB still fits in what is left,"
echo "   and the report shows the program beside our memory after each stage"
$vg load "$model" $seed --strategy balanced --simulate-other-process 0=8GB@5

small=build/demo/qwen2-tiny
if [ ! -f "$small/config.json" ]; then
  echo
  echo "== vramguard synth --arch qwen2 --preset tiny --data random --out $small"
  $vg synth --arch qwen2 --preset tiny --data random --out "$small"
fi
for strategy in balanced sequential-offload; do
  echo
  echo "== vramguard run $small --simulate rtx4080 --strategy $strategy --tokens 64 --steps 3   (forward passes, measured)"
  $vg run "$small" --simulate rtx4080 --strategy $strategy --tokens 64 --steps 3
done

tiny=build/demo/qwen-image-edit-tiny
if [ ! -f "$tiny/model_index.json" ] || [ ! -f "$tiny/tokenizer/tokenizer.json" ]; then
  rm -rf "$tiny"
  echo
  echo "== vramguard synth --arch qwen-image-edit --preset tiny --data random --out $tiny"
  $vg synth --arch qwen-image-edit --preset tiny --data random --out "$tiny"
fi
for call in "text_encoder encode" "transformer forward" "vae encode" "vae decode"; do
  set -- $call
  echo
  echo "== vramguard run $tiny --component $1 --entry $2 --height 256 --width 256 --tokens 32 --simulate rtx4080 --strategy sequential-offload"
  $vg run "$tiny" --component "$1" --entry "$2" --height 256 --width 256 --tokens 32 --simulate rtx4080 --strategy sequential-offload --steps 2
done
echo
echo "== vramguard edit $tiny --image tests/data/fixtures/qie_pipeline_tiny/input.png --prompt 'make the sky stormy' ...   (the whole edit, natively)"
$vg edit "$tiny" --image tests/data/fixtures/qie_pipeline_tiny/input.png --prompt "make the sky stormy" --negative-prompt " " \
  --steps 2 --height 256 --width 256 --simulate rtx4080 --strategy auto --output build/demo/edited.png
echo
echo "build/demo/edited.png is a flat, noisy grey: the tiny pipeline's weights are random, not trained, so"
echo "what it shows is that the whole edit runs end to end under the guard and matches diffusers stage by"
echo "stage (the tests check that against diffusers' own output). With Qwen/Qwen-Image-Edit's weights the"
echo "same command makes the edited picture (docs/qwen-image-edit-16gb.md)."
