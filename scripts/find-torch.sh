#!/usr/bin/env bash
# Sourced by build.sh and install-deps.sh: which libtorch to build against. A CUDA-enabled PyTorch on
# PATH's python3 (its wheel's libtorch, through its CMake prefix) wins, so that a GPU machine builds the
# CUDA runtime from the same two commands; otherwise Debian's libtorch (CPU only) and /usr/bin/python3.
# Sets TORCH_CMAKE_PREFIX (empty for Debian's), TORCH_PYTHON and TORCH_DESCRIPTION.
TORCH_CMAKE_PREFIX="" TORCH_PYTHON=/usr/bin/python3 TORCH_DESCRIPTION="Debian's libtorch (CPU only)"
if [ "${VRAMGUARD_TORCH:-auto}" != "debian" ] && command -v python3 >/dev/null; then
  if found=$(python3 - 2>/dev/null <<'PY'
import torch, torch.utils
assert torch.version.cuda, "no CUDA"
print(torch.utils.cmake_prefix_path)
print(f"PyTorch {torch.__version__}'s libtorch with CUDA {torch.version.cuda}")
PY
  ); then
    TORCH_CMAKE_PREFIX=$(sed -n 1p <<<"$found")
    TORCH_DESCRIPTION="$(sed -n 2p <<<"$found") ($(command -v python3))"
    TORCH_PYTHON=$(command -v python3)
  fi
fi
