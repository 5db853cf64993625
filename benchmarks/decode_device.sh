#!/usr/bin/env bash
# One device call for the decode work of issue 17: the GPU tests of the decode path, then the
# slice's decode (bf16 and fp8 index caches) and the kernel profile of one step. Usage on the
# device (carry ab/wheels): `bash benchmarks/decode_device.sh` with $OUT set; TESTS= to skip tests.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --break-system-packages --no-index --find-links ab/wheels "transformers==5.24.0" 2>&1 | tail -1
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" | tee "$OUT/versions"
TESTS=${TESTS-"tests/kernels/test_store.py tests/kernels/test_fp8_index.py tests/kernels/test_decode.py tests/kernels/test_norm.py
  tests/core/test_fp8_index_cache.py tests/core/test_layers.py tests/core/test_nonfinite_index.py tests/core/test_m3_logits.py"}
if [ -n "$TESTS" ]; then
  env -u TRITON_INTERPRET SPYGLASS_TEST_DEVICE=cuda PYTHONPATH=. timeout "${TEST_TIMEOUT:-240}" python3 -m pytest -q -n 8 \
    -p no:cacheprovider --tb=short -rf $TESTS > "$OUT/tests_gpu.log" 2>&1
  tail -4 "$OUT/tests_gpu.log"
fi
CONTEXTS=${CONTEXTS:-8192,32768,131072}
PYTHONPATH=. timeout 200 python3 benchmarks/m3_runtime.py --skip-transformers --contexts "$CONTEXTS" --decode-steps 32 \
  --repeats 1 --decode-warmup "${DECODE_WARMUP:-2}" --json "$OUT/m3_runtime_bf16.json" > "$OUT/m3_runtime_bf16.log" 2>&1
tail -12 "$OUT/m3_runtime_bf16.log"
PYTHONPATH=. timeout 120 python3 benchmarks/m3_runtime.py --skip-transformers --contexts 131072 --decode-steps 32 \
  --repeats 1 --index-cache fp8 --json "$OUT/m3_runtime_fp8.json" > "$OUT/m3_runtime_fp8.log" 2>&1
tail -8 "$OUT/m3_runtime_fp8.log"
for fs in ${FORWARD_STEPS:-0}; do
  PYTHONPATH=. timeout 120 python3 benchmarks/profile_decode.py --contexts 131072 --forward-steps "$fs" \
    > "$OUT/profile_decode_fs$fs.log" 2>&1
  tail -25 "$OUT/profile_decode_fs$fs.log"
done
