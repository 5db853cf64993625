#!/usr/bin/env bash
# One device call for the end of an issue-17 round: GPU tests of the attention and model paths,
# the MSA prefill kernels against dense SDPA, the runtime slice from 8K to 128K (each context
# beside its half, for the per-token check) and at 1M tokens. Run on the device (carry ab/wheels).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -m pip install -q --break-system-packages --no-index --find-links ab/wheels "transformers==5.24.0" 2>&1 | tail -1
python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" | tee "$OUT/versions"
env -u TRITON_INTERPRET SPYGLASS_TEST_DEVICE=cuda PYTHONPATH=. timeout 150 python3 -m pytest -q -n 8 -p no:cacheprovider \
  --tb=short -rf tests/kernels/test_attention.py tests/kernels/test_pipeline.py tests/core/test_layers.py \
  tests/core/test_m3_logits.py > "$OUT/tests_gpu.log" 2>&1
tail -2 "$OUT/tests_gpu.log"
PYTHONPATH=. timeout 150 python3 benchmarks/msa_kernels.py --cases prefill-8k,prefill-32k,prefill-128k --fp8-cases "" \
  --json "$OUT/msa_prefill.json" > "$OUT/msa_prefill.log" 2>&1
tail -6 "$OUT/msa_prefill.log"
PYTHONPATH=. timeout 200 python3 benchmarks/m3_runtime.py --skip-transformers --contexts 8192,16384,32768,65536,131072 \
  --decode-steps 32 --repeats 1 --json "$OUT/m3_runtime.json" > "$OUT/m3_runtime.log" 2>&1
tail -13 "$OUT/m3_runtime.log" | head -8
PYTHONPATH=. timeout 120 python3 benchmarks/m3_runtime.py --skip-transformers --contexts 1048576 --prefill-chunk 65536 \
  --warmup-tokens 131072 --repeats 1 --decode-steps 8 --json "$OUT/m3_runtime_1m.json" > "$OUT/m3_runtime_1m.log" 2>&1
tail -12 "$OUT/m3_runtime_1m.log" | head -4
