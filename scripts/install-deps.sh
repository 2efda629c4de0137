#!/usr/bin/env bash
# Installs what vramguard needs to build and test, from Debian's packages. Idempotent: it installs
# only what is missing, and asks apt nothing when everything is there. Uses sudo when not root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build git pkg-config
  libtorch-dev libboost-dev libboost-program-options-dev libspdlog-dev libfmt-dev
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
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
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
