#!/usr/bin/env bash
# Makes a new strategy plugin project from this template: copies it to DEST and renames everything.
#   plugins/template/new-plugin.sh my-fancy-strategy [DEST]
# NAME is what --strategy will call it: lower-case letters, digits and '-'. The C++ namespace and
# files become my_fancy_strategy, the class MyFancyStrategy. DEST defaults to ./NAME.
set -euo pipefail
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: $0 NAME [DEST]   (NAME: lower-case letters, digits and '-', e.g. my-fancy-strategy)" >&2
  exit 2
fi
name=$1
if ! [[ $name =~ ^[a-z][a-z0-9-]{0,62}$ ]]; then
  echo "error: plugin name '$name' must start with a letter and hold only lower-case letters, digits and '-'" >&2
  exit 2
fi
dest=${2:-./$name}
if [ -e "$dest" ]; then
  echo "error: $dest exists; choose another destination" >&2
  exit 2
fi
snake=${name//-/_}
camel=$(echo "$name" | sed -E 's/(^|-)([a-z0-9])/\U\2/g')
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$dest"
cp -R "$here/CMakeLists.txt" "$here/src" "$here/tests" "$dest/"
for f in "$dest"/src/my_strategy.cpp "$dest"/src/my_strategy.hpp "$dest"/tests/my_strategy_test.cpp; do
  mv "$f" "${f/my_strategy/$snake}"
done
grep -rl 'my_strategy\|my-strategy\|MyStrategy' "$dest" | while read -r f; do
  sed -i -e "s/my_strategy/$snake/g" -e "s/MY_STRATEGY/${snake^^}/g" -e "s/my-strategy/$name/g" -e "s/MyStrategy/$camel/g" "$f"
done
echo "created $dest: build it with"
echo "  cmake -S $dest -B $dest/build -DCMAKE_PREFIX_PATH=/where/vramguard/is/installed && cmake --build $dest/build"
