#!/usr/bin/env bash
# One device call for the prefill kernel knobs of issue 17: GPU tests of the prefill kernels,
# then the A/B of the KV-major pair kernel and the scoring tile (benchmarks/ab_prefill.py).
# Run on the device with $OUT set.
. "$(dirname "$0")/device_lib.sh"
versions
gpu_tests tests_gpu_prefill.log 200 tests/kernels/test_attention.py tests/kernels/test_scoring.py tests/kernels/test_pipeline.py \
  tests/kernels/test_guards.py tests/kernels/test_fp8_index.py
PYTHONPATH=. timeout ${AB_TIMEOUT:-330} python3 benchmarks/ab_prefill.py --contexts "${CONTEXTS:-8192,32768,131072}" \
  ${PAIRS:+--pairs "$PAIRS"} ${SCORINGS:+--scorings "$SCORINGS"} --json "$OUT/ab_prefill.json" > "$OUT/ab_prefill.log" 2>&1
tail -60 "$OUT/ab_prefill.log"
