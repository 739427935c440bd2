#!/usr/bin/env bash
# W1-W3 on CUDA: the hand-written PyTorch loop, lamina eager float32, and lamina compiled under
# the mixed_bfloat16 policy (that column is skipped with a note while lamina.mixed_precision does
# not exist). Full data sets, each run in its own process; under 5 minutes on one GPU with the
# defaults (1 round, 1 warm-up + 3 timed epochs per run).
#
#   bench/gpu.sh                       # W1, W2, W3
#   bench/gpu.sh --workloads W1,W3 --repeats 3 --json /tmp/gpu.json
#
# Works from a plain checkout (lamina need not be installed: src/ goes on PYTHONPATH); needs a
# CUDA build of torch and numpy. Exit status 3: no CUDA device here (nothing measured).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD:$PWD/src${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python}" -m bench.workloads.gpu_run "$@"
