#!/usr/bin/env bash
# One device call for the end of an issue-17 round: GPU tests of the attention and model paths,
# the MSA prefill kernels against dense SDPA, the runtime slice from 8K to 128K (each context
# beside its half, for the per-token check) and at 1M tokens. Run on the device (carry ab/wheels).
. "$(dirname "$0")/device_lib.sh"
install_transformers
versions
gpu_tests tests_gpu.log 150 tests/kernels/test_attention.py tests/kernels/test_pipeline.py tests/core/test_layers.py \
  tests/core/test_m3_logits.py
PYTHONPATH=. timeout 150 python3 benchmarks/msa_kernels.py --cases prefill-8k,prefill-32k,prefill-128k --fp8-cases "" \
  --json "$OUT/msa_prefill.json" > "$OUT/msa_prefill.log" 2>&1
tail -6 "$OUT/msa_prefill.log"
PYTHONPATH=. timeout 200 python3 benchmarks/m3_runtime.py --skip-transformers --contexts 8192,16384,32768,65536,131072 \
  --decode-steps 32 --repeats 1 --json "$OUT/m3_runtime.json" > "$OUT/m3_runtime.log" 2>&1
tail -13 "$OUT/m3_runtime.log" | head -8
PYTHONPATH=. timeout 120 python3 benchmarks/m3_runtime.py --skip-transformers --contexts 1048576 --prefill-chunk 65536 \
  --warmup-tokens 131072 --repeats 1 --decode-steps 8 --json "$OUT/m3_runtime_1m.json" > "$OUT/m3_runtime_1m.log" 2>&1
tail -12 "$OUT/m3_runtime_1m.log" | head -4
