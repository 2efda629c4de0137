#!/usr/bin/env bash
# Builds vramguard and runs the whole test suite with ctest, printing failures.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh
ctest --test-dir build --output-on-failure --parallel "$(nproc 2>/dev/null || echo 2)"
