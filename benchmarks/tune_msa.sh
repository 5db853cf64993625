#!/usr/bin/env bash
# Tile sweeps for the prefill kernels at 32K (one device call); prints one JSON row per setting.
set -u
cd "$(dirname "$0")/.."
for s in 128,4; do
    echo "scoring $s: $(python3 benchmarks/msa_kernels.py --no-check --cases prefill-32k --scoring $s | grep '^{' | cut -c1-80)"
done
for t in 64,8,4,1 64,8,4,2 64,8,4,3 64,16,4,2 32,16,4,1 32,16,2,1; do
    echo "kv tile $t: $(python3 benchmarks/msa_kernels.py --no-check --cases prefill-32k --kv-tile $t | grep '^{' | cut -c1-80)"
done
