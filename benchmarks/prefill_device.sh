#!/usr/bin/env bash
# One device call for the prefill kernel knobs of issue 17: GPU tests of the prefill kernels,
# then the A/B of the KV-major pair kernel and the scoring tile (benchmarks/ab_prefill.py).
# Run on the device with $OUT set.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" | tee "$OUT/versions"
env -u TRITON_INTERPRET SPYGLASS_TEST_DEVICE=cuda PYTHONPATH=. timeout 200 python3 -m pytest -q -n 8 -p no:cacheprovider \
  --tb=short -rf tests/kernels/test_attention.py tests/kernels/test_scoring.py tests/kernels/test_pipeline.py \
  tests/kernels/test_guards.py tests/kernels/test_fp8_index.py > "$OUT/tests_gpu_prefill.log" 2>&1
tail -3 "$OUT/tests_gpu_prefill.log"
PYTHONPATH=. timeout ${AB_TIMEOUT:-330} python3 benchmarks/ab_prefill.py --contexts "${CONTEXTS:-8192,32768,131072}" \
  ${PAIRS:+--pairs "$PAIRS"} ${SCORINGS:+--scorings "$SCORINGS"} --json "$OUT/ab_prefill.json" > "$OUT/ab_prefill.log" 2>&1
tail -60 "$OUT/ab_prefill.log"
