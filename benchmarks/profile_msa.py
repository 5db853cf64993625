"""Where the time of one MSA prefill and decode goes, kernel by kernel (torch.profiler).

    python benchmarks/profile_msa.py [seq_len ...]

Prints, per case, the CUDA kernels sorted by total time: the step before tuning one of them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).resolve().parent))

from msa_kernels import decode_fns, make_inputs, prefill_fns  # noqa: E402


def show(title: str, fn) -> None:
    fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    print(f"\n== {title}")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=12, max_name_column_width=60))


def main() -> None:
    for seq_len in [int(a) for a in sys.argv[1:]] or [8192, 131072]:
        x = make_inputs(seq_len, seq_len)
        select, attend = prefill_fns(x, seq_len)
        show(f"prefill {seq_len} select", select)
        show(f"prefill {seq_len} attend", attend)
        del x, select, attend
        torch.cuda.empty_cache()
    x = make_inputs(131072, 1)
    select, attend = decode_fns(x, 131072)
    show("decode 128k select", select)
    show("decode 128k attend", attend)


if __name__ == "__main__":
    main()
