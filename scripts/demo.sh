#!/usr/bin/env bash
# The one command that shows what vramguard does: builds it (Release) and runs it on a built-in demo.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/build.sh vramguard vramguard_strategies
vg=./build/bin/vramguard
echo "== vramguard --version"
$vg --version
echo
echo "== vramguard plugins   (the placement strategies this host discovered)"
$vg plugins
