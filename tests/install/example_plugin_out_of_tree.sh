#!/usr/bin/env bash
# Installs vramguard to a temporary prefix, builds plugins/example-gpu-first out of tree against it
# with find_package(vramguard CONFIG), runs the example's own tests, and checks that the installed
# host discovers the example plugin (and still finds its built-in ones).
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
cmake -S "$source_dir/plugins/example-gpu-first" -B "$work/example" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/example" >/dev/null
ctest --test-dir "$work/example" --output-on-failure
listing=$(env -u VRAMGUARD_PLUGIN_PATH "$work/prefix/bin/vramguard" plugins --json --plugin-dir "$work/example/plugin")
echo "$listing"
grep -q '"name": "gpu-first"' <<<"$listing" || { echo "FAIL: the installed host did not list gpu-first"; exit 1; }
grep -q '"found_through": "--plugin-dir"' <<<"$listing" || { echo "FAIL: gpu-first not found through --plugin-dir"; exit 1; }
grep -q '"refused": \[\]' <<<"$listing" || { echo "FAIL: a plugin was refused"; exit 1; }
test -f "$work/prefix/include/vramguard/plugin_api.hpp" || { echo "FAIL: SDK headers not installed"; exit 1; }
echo "example plugin built out of tree and discovered"
