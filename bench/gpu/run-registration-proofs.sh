#!/usr/bin/env bash
# On the GPU machine (no build of vramguard needed): how registering a page-cached file with the driver
# scales with threads and piece size, alone and with the copies a load would make (registration_scaling.cpp).
set -uo pipefail
work=/tmp/vramguard-registration
mkdir -p "$work"
file=$work/checkpoint-like.bin
[ -f "$file" ] || dd if=/dev/zero of="$file" bs=1M count=${GIB:-16}000 status=none
cat "$file" > /dev/null
nvcc -O2 -std=c++17 bench/gpu/registration_scaling.cpp -o "$work/registration_scaling" || exit 1
export CUDA_VISIBLE_DEVICES=0
for piece in 1024 256 32; do
  "$work/registration_scaling" "$file" $piece 1,2,4,8,16
done
