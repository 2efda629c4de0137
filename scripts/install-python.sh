#!/usr/bin/env bash
# Builds vramguard's Python module against the torch that the active python3 imports, and installs the
# package into that environment (its site-packages, or the user's with --user):
#   ./scripts/install-python.sh [--user]        PYTHON=/path/to/python3 to choose another interpreter
# The package carries its libraries (the runtime, the strategy plugins, the CUDA runtime where torch has
# CUDA): `import vramguard` needs nothing else. Building needs a compiler, CMake, Ninja, Boost, spdlog,
# nlohmann-json and the interpreter's headers (Debian: ./scripts/install-deps.sh has them all).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
user=0
for arg in "$@"; do
  case $arg in
    --user) user=1 ;;
    *) echo "usage: $0 [--user]   (PYTHON=... chooses the interpreter)" >&2; exit 2 ;;
  esac
done
command -v "$python" >/dev/null || { echo "error: no $python on PATH; set PYTHON=/path/to/python3" >&2; exit 2; }
if ! torch_prefix=$("$python" -c "import torch; print(torch.utils.cmake_prefix_path)" 2>/dev/null); then
  echo "error: $python cannot import torch: install PyTorch into that environment first" >&2
  exit 2
fi
if [ $user = 1 ]; then
  site=$("$python" -c "import site; print(site.getusersitepackages())")
else
  site=$("$python" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
fi
tag=$("$python" -c "import sys, torch; print(f'py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")
build="build-python-$tag"
interpreter=$(command -v "$python")
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$torch_prefix" \
  -DPython3_EXECUTABLE="$interpreter" -DVRAMGUARD_PYTHON=ON -DVRAMGUARD_BUILD_TESTS=OFF -DVRAMGUARD_BUILD_BENCH=OFF >/dev/null
cmake --build "$build" --parallel "$(nproc 2>/dev/null || echo 2)"
# The package: the Python files and the extension, with the libraries in its lib/ (the extension finds
# them through its RPATH, $ORIGIN/lib; the runtime finds plugins and the CUDA runtime beside itself).
dest="$site/vramguard"
mkdir -p "$site"
rm -rf "$dest"
cp -r "$build/python/vramguard" "$dest"
mkdir -p "$dest/lib"
cp -a "$build"/lib/libvramguard_runtime.so* "$dest/lib/"
cp -a "$build/lib/vramguard" "$dest/lib/"
"$python" -c "import vramguard; print('installed vramguard into', vramguard.__path__[0])"
