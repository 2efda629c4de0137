#!/usr/bin/env bash
# On the GPU machine, after build-and-test.sh built build-gpu with the Python module: the Python
# module's proofs. Results go to $RESULTS.
#   1. the module's tests: on this torch (2.x, CUDA), and with transformers and diffusers (python/tests/gpu)
#   2. the full-size Qwen-Image transformer: resident, vramguard (RTX 4080 config; sequential-offload),
#      diffusers' group offloading, pinned bandwidth; same process
#   3. the whole Qwen-Image-Edit pipeline under the seed's settings
#   4. the edit of run-edit-proofs.sh through diffusers' pipeline: vramguard.apply (balanced, auto, auto with job=) and
#      diffusers' group offloading, same process
#   5. the full-size transformer's step with every block compiled (compile_repeated_blocks) against eager,
#      under the RTX 4080 config and sequential-offload, same process
#   6. a rank-64 LoRA added to the full-size transformer after apply (RTX 4080 config): replanned, step
#      with and without, peak against the cap
# Usage: run-python-proofs.sh [sections...] (default: 1 2 3). diffusers' source comes from .pydeps/src,
# unpacked here from the carried .pydeps/diffusers-src.tar.gz when missing (each `run` call carries
# .pydeps anew, so an earlier call's unpacking is gone); without it the diffusers tests skip.
set -uo pipefail
source bench/gpu/proof-env.sh
if [ ! -d .pydeps/src/diffusers ] && [ -f .pydeps/diffusers-src.tar.gz ]; then
  tar -xzf .pydeps/diffusers-src.tar.gz -C .pydeps
fi
[ -d .pydeps/src/diffusers ] || echo "no diffusers source in .pydeps/src: its tests will be skipped"
export PYTHONPATH=$PWD/build-gpu/python:$PWD/python/tests:$PWD/.pydeps/src${PYTHONPATH:+:$PYTHONPATH}
export TEST_PLUGIN_DIR=$PWD/build-gpu/test-plugins
[ -f build-gpu/python/vramguard/__init__.py ] || { echo "no Python module in build-gpu (see configure.log)"; exit 1; }
# prove WHAT [SUBFOLDERS]: the full-size folder, python_proofs.py's WHAT in one process (every figure to
# $out/py-WHAT.json), then what proof_summaries.py prints of it.
prove() {
  local what=$1
  shift
  full_pipeline "$@"
  CUDA_VISIBLE_DEVICES=0 python3 bench/gpu/python_proofs.py "$what" "$work/qie" configs/rtx4080-16gb.ini "$out/py-$what.json" \
    2> "$out/py-$what.err" | tail -5
  python3 bench/gpu/proof_summaries.py "$what" "$out/py-$what.json"
}
sections=${*:-1 2 3}
for section in $sections; do
case $section in
1)
  echo "== 1. the Python module's tests on $(python3 -c 'import torch; print("torch", torch.__version__)')"
  python3 -m pytest -q -p no:cacheprovider python/tests python/tests/gpu > "$out/pytest.log" 2>&1
  echo "  rc=$? $(tail -1 "$out/pytest.log")"
  grep -E "^(FAILED|ERROR)" "$out/pytest.log" | head -20
  ;;
2)
  echo "== 2. full-size QwenImageTransformer2DModel, one 1024x1024 edit step, bf16"
  prove transformer transformer
  ;;
3)
  echo "== 3. the whole Qwen-Image-Edit pipeline, the seed's settings (balanced, 0=12GB, 4 GB kept free, bf16)"
  prove pipeline
  ;;
4)
  echo "== 4. a 1024x1024 edit, 8 steps, true CFG, through diffusers' QwenImageEditPipeline"
  prove edit
  ;;
5)
  echo "== 5. full-size transformer, one 1024x1024 edit step, every block compiled against eager"
  prove compile transformer
  ;;
6)
  echo "== 6. full-size transformer with a rank-64 LoRA on every projection, RTX 4080 config"
  prove lora transformer
  ;;
esac
done
