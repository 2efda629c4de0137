#!/usr/bin/env bash
# Builds vramguard, fuzzes the safetensors header parser for a short, bounded time, runs the whole test
# suite with ctest, printing failures, then installs the Python module with pip into a fresh venv and
# runs its tests there.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./scripts/fuzz.sh "${VRAMGUARD_FUZZ_SECONDS:-30}"
# The README's setup installs Chromium: here the monitor page's browser test must run, not skip.
TEST_REQUIRE_CHROMIUM=1 ctest --test-dir build --output-on-failure --parallel "$(nproc 2>/dev/null || echo 2)"
# The Python module as users install it: `pip install .` into a fresh venv, its tests on the installed package.
./scripts/test-pip.sh
