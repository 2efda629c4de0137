#!/usr/bin/env bash
# Builds vramguard, fuzzes the safetensors header parser for a short, bounded time, then runs the
# whole test suite with ctest, printing failures.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
./scripts/fuzz.sh "${VRAMGUARD_FUZZ_SECONDS:-30}"
# The README's setup installs Chromium: here the monitor page's browser test must run, not skip.
TEST_REQUIRE_CHROMIUM=1 ctest --test-dir build --output-on-failure --parallel "$(nproc 2>/dev/null || echo 2)"
