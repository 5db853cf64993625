#!/usr/bin/env bash
# One device call comparing the prefill kernels of this tree with those of an earlier one, copied
# into bench_old/ (`git archive <commit> kernels benchmarks | tar -x -C bench_old`): GPU tests of
# this tree's prefill and selection kernels, then benchmarks/ab_prefill.py in both trees, one
# after the other on the same card. Run on the device with $OUT set.
. "$(dirname "$0")/device_lib.sh"
versions
gpu_tests tests_gpu.log 200 tests/kernels/test_attention.py tests/kernels/test_scoring.py tests/kernels/test_pipeline.py \
  tests/kernels/test_guards.py tests/kernels/test_fp8_index.py tests/kernels/test_decode.py \
  tests/kernels/test_selection_contract.py tests/kernels/test_topk.py
(cd bench_old && PYTHONPATH=. timeout 200 python3 benchmarks/ab_prefill.py --contexts "${CONTEXTS:-8192,32768,131072}" \
  > "$OUT/ab_old.log" 2>&1)
grep -v "^ *(" "$OUT/ab_old.log" | head -3; grep -A3 "tokens" "$OUT/ab_old.log"
PYTHONPATH=. timeout 300 python3 benchmarks/ab_prefill.py --contexts "${CONTEXTS:-8192,32768,131072}" \
  ${PAIRS:+--pairs "$PAIRS"} ${SCORINGS:+--scorings "$SCORINGS"} --json "$OUT/ab_new.json" > "$OUT/ab_new.log" 2>&1
tail -40 "$OUT/ab_new.log"
