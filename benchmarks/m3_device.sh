#!/usr/bin/env bash
# The runtime on the GPU machine: its tests on CUDA (text and vision), then the runtime benchmark
# (SKIP_BENCH=1 runs only the tests; SKIP_TESTS=1 only the benchmark, for a rerun on a warm machine).
# transformers >= 5.24 (the reference) is installed from wheels carried in ab/wheels when the
# machine's own is older: the device has no network. Fetch them here with `pip download --no-deps
# --only-binary=:all: --python-version 3.12 --platform manylinux_2_17_x86_64 --platform any -d ab/wheels
# transformers==5.24.0 pypdfium2==5.15.2 mss==10.2.0`.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -c "import torch, triton, transformers; print(torch.__version__, triton.__version__, transformers.__version__, torch.cuda.get_device_name())"
if [ -d ab/wheels ]; then
  python3 -m pip install -q --no-index --find-links ab/wheels "transformers==5.24.0" 2>&1 | tail -2 \
    || python3 -m pip install -q --break-system-packages --no-index --find-links ab/wheels "transformers==5.24.0" 2>&1 | tail -2
fi
# the ingest libraries the device image lacks (core.chat, and so the CLI, reads files through them)
python3 -c "import pypdfium2, mss" 2>/dev/null || python3 -m pip install -q --no-deps --break-system-packages \
  ab/wheels/pypdfium2-*.whl ab/wheels/mss-*.whl 2>&1 | tail -2
# torchvision (the reference image processors need it), matching the machine's torch, when missing
python3 -c "import torchvision" 2>/dev/null || python3 -m pip install -q --no-deps ab/wheels/torchvision-*.whl 2>&1 | tail -2
python3 -c "import transformers, torchvision; print('transformers', transformers.__version__, 'torchvision', torchvision.__version__)"
# The CLI's media test reads files through core.ingest (OpenCV, pypdfium2, mss): without them on
# the machine that one test is left out, and the log says so.
EXTRA=()
python3 -c "import cv2, pypdfium2, mss, PIL" 2>/dev/null \
  || { EXTRA=(--deselect tests/core/test_cli.py::test_chat_answers_about_an_image_and_a_video); echo "no ingest libraries: ${EXTRA[*]}" | tee "$OUT/tests_core_gpu.log"; }
[ -z "${SKIP_TESTS:-}" ] && SPYGLASS_TEST_DEVICE=cuda PYTHONPATH=. timeout 300 python3 -m pytest tests/core tests/test_foundation.py -q \
  -p no:cacheprovider -n 4 "${EXTRA[@]}" 2>&1 | tail -15 | tee -a "$OUT/tests_core_gpu.log"
[ -n "${SKIP_BENCH:-}" ] && exit 0
PYTHONPATH=. timeout "${BENCH_TIMEOUT:-400}" python3 benchmarks/m3_runtime.py --json "$OUT/m3_runtime.json" "$@" 2>&1 \
  | tee "$OUT/m3_runtime.log" | tail -20
