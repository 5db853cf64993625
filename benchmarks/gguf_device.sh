#!/usr/bin/env bash
# benchmarks/gguf.py on the GPU machine's CPU (16 quiet cores, where this 2-core shared dev machine
# cannot resolve a 3% difference). The machine has no network and no llama.cpp converter, so the
# files travel in `abg/` (git-ignored; carry: ["abg"]):
#   mkdir -p abg && cp ~/.cache/spyglass/wheels/llama_cpp_python-0.3.36-*.whl abg/
#   .venv/bin/pip download --no-deps --only-binary=:all: -d abg diskcache==5.6.3
#   PYTHONPATH=. .venv/bin/python benchmarks/gguf.py --prompt 300 --tokens 16 --repeats 1 --save abg/bench-m3-f16.gguf
# The wheel is the portable CPU build `make` makes (GGML_NATIVE off): the same llama.cpp on both sides.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
python3 -c "import llama_cpp" 2>/dev/null || python3 -m pip install -q --no-deps abg/llama_cpp_python-*.whl \
  abg/diskcache-*.whl 2>&1 | tail -2 || python3 -m pip install -q --no-deps --break-system-packages \
  abg/llama_cpp_python-*.whl abg/diskcache-*.whl 2>&1 | tail -2
lscpu | grep -E "Model name|^CPU\(s\)" | tee "$OUT/cpu.txt"
PYTHONPATH=. timeout "${BENCH_TIMEOUT:-500}" python3 benchmarks/gguf.py --model abg/bench-m3-f16.gguf \
  --json "$OUT/gguf.json" "$@" 2>&1 | tee "$OUT/gguf.log" | tail -12
