#!/usr/bin/env bash
# One device call for the selection knobs of issue 17: GPU tests of the selection kernels, the
# decode selection sweep (rank at end / packed merge / pooling by page) at 128K and 1M, and the
# prefill selection A/B at 32K and 128K. Run on the device with $OUT set.
. "$(dirname "$0")/device_lib.sh"
versions
gpu_tests tests_gpu_select.log 200 tests/kernels/test_topk.py tests/kernels/test_decode.py tests/kernels/test_fp8_index.py \
  tests/kernels/test_selection_contract.py tests/kernels/test_guards.py tests/kernels/test_pipeline.py \
  tests/kernels/test_scoring.py tests/kernels/test_store.py
for ctx in 1048576 131072; do
  splits=$([ "$ctx" = 1048576 ] && echo 16,32,64 || echo 8,16,32)
  PYTHONPATH=. timeout 150 python3 benchmarks/sweep_decode.py select --contexts "$ctx" --dtypes fp8,bf16 \
    --splits "$splits" --bpi 2 --warps 4 --stages 2 --f16 1 --rank 1,0 --packed 1,0 --merge-warps 4 --by-page 1,0 \
    --top 8 --json "$OUT/sweep_select_$ctx.json" > "$OUT/sweep_select_$ctx.log" 2>&1
  cat "$OUT/sweep_select_$ctx.log" | tail -22
done
PYTHONPATH=. timeout 200 python3 benchmarks/ab_select.py --json "$OUT/ab_select.json" > "$OUT/ab_select.log" 2>&1
tail -32 "$OUT/ab_select.log"
