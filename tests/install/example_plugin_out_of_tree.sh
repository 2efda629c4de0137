#!/usr/bin/env bash
# Installs vramguard to a temporary prefix, builds plugins/example-gpu-first out of tree against it
# with find_package(vramguard CONFIG), runs the example's own tests, checks that the installed host
# discovers it and plans with it under a tight budget; then makes a new plugin from the template with
# new-plugin.sh and does the same.
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
vg="$work/prefix/bin/vramguard"
test -f "$work/prefix/include/vramguard/plugin_api.hpp" || { echo "FAIL: SDK headers not installed"; exit 1; }
test -f "$work/prefix/share/vramguard/configs/rtx4080-16gb.ini" || { echo "FAIL: configs not installed"; exit 1; }
test -f "$work/prefix/share/doc/vramguard/writing-a-plugin.md" || { echo "FAIL: docs not installed"; exit 1; }

cmake -S "$source_dir/plugins/example-gpu-first" -B "$work/example" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/example" >/dev/null
ctest --test-dir "$work/example" --output-on-failure
listing=$(env -u VRAMGUARD_PLUGIN_PATH "$vg" plugins --json --plugin-dir "$work/example/plugin")
grep -q '"name": "gpu-first"' <<<"$listing" || { echo "FAIL: the installed host did not list gpu-first"; echo "$listing"; exit 1; }
grep -q '"found_through": "--plugin-dir"' <<<"$listing" || { echo "FAIL: gpu-first not found through --plugin-dir"; exit 1; }
grep -q '"refused": \[\]' <<<"$listing" || { echo "FAIL: a plugin was refused"; echo "$listing"; exit 1; }

# The example's plans pass the host's validation, also when the GPU is small.
"$vg" synth --arch qwen2 --preset small --out "$work/model" >/dev/null
for gpu in cuda:700MB cuda:660MB cuda:2GB; do
  if ! out=$(env -u VRAMGUARD_PLUGIN_PATH "$vg" plan "$work/model" --simulate "$gpu" --headroom 0 --reserve 0 --cpu-memory 4GiB \
        --strategy gpu-first --plugin-dir "$work/example/plugin" 2>&1); then
    grep -q "found no placement that fits" <<<"$out" || { echo "FAIL: gpu-first on $gpu: $out"; exit 1; }
  fi
done
env -u VRAMGUARD_PLUGIN_PATH "$vg" load "$work/model" --simulate cuda:700MB --headroom 0 --reserve 0 --cpu-memory 4GiB \
  --strategy gpu-first --fallback gpu-first --plugin-dir "$work/example/plugin" >/dev/null

# A new plugin from the template, renamed by the script, builds, tests and is found.
"$source_dir/plugins/template/new-plugin.sh" tiny-test-strategy "$work/fresh" >/dev/null
cmake -S "$work/fresh" -B "$work/fresh/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/fresh/build" >/dev/null
ctest --test-dir "$work/fresh/build" --output-on-failure >/dev/null
env -u VRAMGUARD_PLUGIN_PATH "$vg" plugins --json --plugin-dir "$work/fresh/build/plugin" | grep -q '"name": "tiny-test-strategy"' \
  || { echo "FAIL: the plugin made from the template was not found"; exit 1; }
# The build tree is a package as the install is: the example configures and builds against it.
cmake -S "$source_dir/plugins/example-gpu-first" -B "$work/from-build-tree" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$build_dir" >/dev/null || { echo "FAIL: find_package(vramguard) against the build tree"; exit 1; }
cmake --build "$work/from-build-tree" >/dev/null || { echo "FAIL: the example did not build against the build tree"; exit 1; }
echo "example plugin and a plugin made from the template built out of tree (against the install and the build tree), tested, discovered and planned with"
