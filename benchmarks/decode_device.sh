#!/usr/bin/env bash
# One device call for the decode work of issue 17: the GPU tests of the decode path, then the
# slice's decode (bf16 and fp8 index caches) and the kernel profile of one step. Usage on the
# device (carry ab/wheels): `bash benchmarks/decode_device.sh` with $OUT set; TESTS= to skip tests.
. "$(dirname "$0")/device_lib.sh"
install_transformers
versions
TESTS=${TESTS-"tests/kernels/test_store.py tests/kernels/test_fp8_index.py tests/kernels/test_decode.py tests/kernels/test_norm.py
  tests/core/test_fp8_index_cache.py tests/core/test_layers.py tests/core/test_nonfinite_index.py tests/core/test_m3_logits.py"}
if [ -n "$TESTS" ]; then
  gpu_tests tests_gpu.log "${TEST_TIMEOUT:-240}" $TESTS
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
