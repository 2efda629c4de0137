#!/usr/bin/env bash
# Installs what vramguard needs to build and test, from Debian's packages. Idempotent: it installs
# only what is missing, and asks apt nothing when everything is there. Uses sudo when not root. Where a
# CUDA-enabled PyTorch provides libtorch (scripts/find-torch.sh), Debian's is not needed, and where the
# build finds every dependency another way (a GPU machine without network), nothing is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find-torch.sh
packages=(
  build-essential cmake ninja-build git pkg-config
  libtorch-dev libboost-dev libboost-program-options-dev libspdlog-dev libfmt-dev
  libopenblas0-openmp     # Debian's libtorch multiplies through whichever libblas.so.3 is chosen; without
                          # it, the netlib reference (a fixture edit 11.6 s, with OpenBLAS 5.1 s)
  libgtest-dev nlohmann-json3-dev
  libpcre2-dev libutf8proc-dev   # the edit pipeline's tokenizer: Unicode classes in its split pattern, NFC
  libpng-dev libjpeg-dev         # the edit's images in and out
  clang libclang-rt-dev   # libFuzzer for the header-parser fuzz target
  clang-format            # the C++ format (.clang-format), checked by scripts/check-structure.py
  python3-dev python3-torch pybind11-dev python3-pytest   # the Python module and its tests
  python3-venv python3-pip python3-setuptools python3-wheel   # `pip install .`, proven in a fresh venv
  chromium                # the monitor's web page is tested in a real headless browser
)
missing=()
for p in "${packages[@]}"; do
  if [ -n "$TORCH_CMAKE_PREFIX" ] && { [ "$p" = libtorch-dev ] || [ "$p" = python3-torch ]; }; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
if [ -n "$TORCH_CMAKE_PREFIX" ] && command -v cmake >/dev/null && command -v ninja >/dev/null; then
  # Not from Debian's packages, but maybe there: a configure that finds every dependency needs no apt.
  probe=$(mktemp -d)
  if cmake -S . -B "$probe" -G Ninja -DCMAKE_PREFIX_PATH="$TORCH_CMAKE_PREFIX" -DPython3_EXECUTABLE="$TORCH_PYTHON" \
      >"$probe.log" 2>&1; then
    echo "Every dependency the build needs is found here; installing nothing (Debian's packages not installed: ${missing[*]})"
    rm -rf "$probe" "$probe.log"
    exit 0
  fi
  rm -rf "$probe"
  echo "The build does not find everything here (${probe}.log says what); installing Debian's packages" >&2
fi
if ! command -v apt-get >/dev/null; then
  echo "error: missing ${missing[*]} (Debian's package names), and there is no apt-get here to install them" >&2
  exit 2
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "error: installing ${missing[*]} needs root; run as root or install sudo" >&2; exit 2; }
  sudo="sudo"
fi
echo "Installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
