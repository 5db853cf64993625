#!/usr/bin/env bash
# The last device call of round five (issue 17): GPU tests of the selection and attention kernels
# and of the model against transformers with the warp-specialised scoring loop, its A/B against
# the plain loop, and the MSA prefill kernels against dense SDPA. Run on the device with $OUT set
# (carry ab/wheels).
. "$(dirname "$0")/device_lib.sh"
install_transformers
versions
gpu_tests tests_gpu.log 200 tests/kernels/test_scoring.py tests/kernels/test_pipeline.py tests/kernels/test_guards.py \
  tests/kernels/test_fp8_index.py tests/kernels/test_selection_contract.py tests/kernels/test_attention.py \
  tests/core/test_layers.py tests/core/test_m3_logits.py
PYTHONPATH=. timeout 120 python3 benchmarks/ab_prefill.py --contexts 8192,32768,131072 --pairs "64,16,4,1,1" \
  --scorings "128,8,3,1,0;128,8,2,1,1" --json "$OUT/ab_prefill.json" > "$OUT/ab_prefill.log" 2>&1
grep -A3 "block scoring" "$OUT/ab_prefill.log"
PYTHONPATH=. timeout 150 python3 benchmarks/msa_kernels.py --cases prefill-8k,prefill-32k,prefill-128k --fp8-cases "" \
  --json "$OUT/msa_prefill.json" > "$OUT/msa_prefill.log" 2>&1
tail -5 "$OUT/msa_prefill.log"
