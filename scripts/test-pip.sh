#!/usr/bin/env bash
# `pip install .` as a user runs it, proven: into a fresh virtual environment that sees Debian's torch
# (--system-site-packages; no index: nothing is downloaded), reusing the tests' build tree; then the
# module's tests against the installed package (not the build tree), `pip show`, and `pip uninstall`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find-torch.sh   # the python3 whose torch the build used: Debian's, or a CUDA PyTorch's
venv=$PWD/build/pip-venv
rm -rf "$venv"
if "$TORCH_PYTHON" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)'; then
  # That torch lives in a virtual environment of its own, which a new one would not see: install into
  # it (and uninstall at the end), as its user would.
  venv=$("$TORCH_PYTHON" -c 'import sys; print(sys.prefix)')
else
  "$TORCH_PYTHON" -m venv --system-site-packages "$venv"
fi
# No VRAMGUARD_BUILD_DIR: setup.py finds ./build configured for this interpreter and reuses it.
trees_before=$(compgen -G "build-python-*" || true)
"$venv/bin/python" -m pip install --quiet --no-build-isolation --no-index --no-deps .
if [ "$(compgen -G "build-python-*" || true)" != "$trees_before" ]; then
  echo "pip built the C++ again in a tree of its own instead of reusing ./build" >&2
  exit 1
fi
# From elsewhere, so that the source tree's python/ folder is not what imports.
cd build
"$venv/bin/python" -m pip show vramguard | grep -E "^(Name|Version|Location):"
"$venv/bin/python" -c "
import os, vramguard
assert vramguard.__file__.startswith('$venv'), vramguard.__file__
print('imported', vramguard.__version__, 'from', os.path.dirname(vramguard.__file__), '; seed config:', os.path.basename(vramguard.config_path('rtx4080-16gb')))"
PYTHONPATH=../python/tests TEST_PLUGIN_DIR=$PWD/test-plugins "$venv/bin/python" -m pytest -q -p no:cacheprovider ../python/tests
"$venv/bin/python" -m pip uninstall --yes --quiet vramguard
if "$venv/bin/python" -c "import vramguard" 2>/dev/null; then echo "pip uninstall left vramguard importable" >&2; exit 1; fi
echo "pip install, the tests on the installed package, pip show and pip uninstall: ok"
# A plain venv of Debian's python (setuptools without `wheel`, no torch): pip's "invalid command
# 'bdist_wheel'" becomes what to do. (Other Pythons' plain venvs may lack setuptools altogether.)
[ -z "$TORCH_CMAKE_PREFIX" ] || exit 0
plain=$(mktemp -d)
"$TORCH_PYTHON" -m venv "$plain/venv"
said=$(cd .. && "$plain/venv/bin/python" -m pip install --no-build-isolation --no-index --no-deps . 2>&1 || true)
rm -rf "$plain"
if ! grep -q "needs the \`wheel\` package" <<<"$said" && ! grep -q "cannot import it: install PyTorch" <<<"$said"; then
  echo "pip in a plain venv did not say what to do:" >&2
  echo "$said" | tail -5 >&2
  exit 1
fi
echo "pip in a plain venv says what to do: ok"
