#!/usr/bin/env bash
# Builds vramguard, fuzzes the safetensors header parser for a short, bounded time, runs the whole test
# suite with ctest, printing failures, then installs the Python module with pip into a fresh venv and
# runs its tests there.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./scripts/fuzz.sh "${VRAMGUARD_FUZZ_SECONDS:-30}"
# The README's setup installs Chromium on Debian: there the monitor page's browser test must run, not
# skip. A machine that builds with its own libraries (scripts/find-torch.sh) may lack it: it skips.
source scripts/find-torch.sh
require_chromium=1
[ -z "$TORCH_CMAKE_PREFIX" ] || require_chromium=0
TEST_REQUIRE_CHROMIUM=$require_chromium ctest --test-dir build --output-on-failure --parallel "$(nproc 2>/dev/null || echo 2)"
# The Python module as users install it: `pip install .` into a fresh venv, its tests on the installed package.
./scripts/test-pip.sh
