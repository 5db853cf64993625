# Sourced by the issue-17 device scripts (`. "$(dirname "$0")/device_lib.sh"`): the output folder,
# the versions line and the GPU test runner they share. Run from the repository root.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"

# transformers 5.24 (the reference) from the wheels carried in ab/wheels: the device has no network
install_transformers() {
  python3 -m pip install -q --break-system-packages --no-index --find-links ab/wheels "transformers==5.24.0" 2>&1 | tail -1
}

versions() {
  python3 -c "import torch, triton; print(torch.__version__, triton.__version__, torch.cuda.get_device_name())" \
    | tee "$OUT/versions"
}

# gpu_tests LOG SECONDS TEST...: the tests on the GPU (8 workers) into $OUT/LOG, its summary printed
gpu_tests() {
  local log=$1 limit=$2
  shift 2
  env -u TRITON_INTERPRET SPYGLASS_TEST_DEVICE=cuda PYTHONPATH=. timeout "$limit" python3 -m pytest -q -n 8 \
    -p no:cacheprovider --tb=short -rf "$@" > "$OUT/$log" 2>&1
  tail -3 "$OUT/$log"
}
