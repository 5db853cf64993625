"""What bounds the prefill kernels: the KV-major attention and the block scoring, each with one
part of its kernel taken out at a time (a diagnosis; every variant but `full` computes garbage).

    python benchmarks/probe_prefill.py [--contexts 32768,131072]

Each variant is `kernels/msa/kv_major.py` with a textual edit, written beside it as a temporary
module, imported and timed on the M3 shape with one selection (random data, bf16):
- `full`: the kernel as it is;
- `no stores`: the partial outputs and log-sum-exps are computed but their stores are predicated
  off (a condition the compiler cannot prove false), so no partial reaches memory;
- `one token's queries`: every pair reads the queries of token 0 of its chunk (cache hits),
  so the query gather leaves HBM;
- `no PV product`: the second product is replaced by the probabilities themselves;
- `no exp`: the scores are used as the probabilities (no exponentials).
The grouping and the merge run in every variant. The block scoring (`kernels/msa/scoring.py`):
- `no stores`: the pooled maxima of the blocks wholly before a tile are not stored;
- `one page of keys`: every block reads the sequence's first page (cache hits), so the key
  loads leave the L2 traffic.
The time a variant saves is what that part costs when it is not overlapped by the rest.
"""

from __future__ import annotations

import argparse
import importlib
import math
import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from msa_kernels import HI, B, D, make_inputs, prefill_fns, time_ms, useful_flops  # noqa: E402

from kernels.msa import kv_major, layout, scoring  # noqa: E402

SCORING_EDITS = {
    "full": [],
    "no stores": [("(b0 + c)[None, :], pooled, mask=row_ok[:, None])",
                   "(b0 + c)[None, :], pooled, mask=row_ok[:, None] & (sm_scale < 0))")],
    "one page of keys": [("page = tl.load(bt_row_ptr + blk, mask=blk <= last_blk, other=0)",
                          "page = tl.load(bt_row_ptr + blk * 0, mask=blk <= last_blk, other=0)")],
}
EDITS = {
    "full": [],
    "no stores": [
        ("mask=row_ok[:, None])", "mask=row_ok[:, None] & (scale_log2 < 0))"),
        ("mask=row_ok)\n", "mask=row_ok & (scale_log2 < 0))\n"),
    ],
    "one token's queries": [("q_ptr + tok[:, None] * stride_qt", "q_ptr + (tok * 0)[:, None] * stride_qt")],
    "no PV product": [("o = tl.dot(p.to(v.dtype), v, input_precision=DOT_PREC) / row_sum[:, None]",
                       "o = p / row_sum[:, None]")],
    "no exp": [("p = tl.exp2(s - m[:, None])", "p = s - m[:, None]")],
}


def probe_module(base, name: str, edits: list[tuple[str, str]]):
    source = Path(base.__file__).read_text()
    for old, new in edits:
        assert old in source, f"{name}: the kernel no longer contains {old!r}"
        source = source.replace(old, new)
    mod_name = f"_probe_{base.__name__.rsplit('.', 1)[1]}_" + "".join(c if c.isalnum() else "_" for c in name)
    path = Path(base.__file__).with_name(mod_name + ".py")
    path.write_text(source)
    try:
        return importlib.import_module("kernels.msa." + mod_name)
    finally:
        path.unlink()


def probe(seq_len: int, modules: dict, scorers: dict) -> None:
    x = make_inputs(seq_len, seq_len)
    select, _, out, sel = prefill_fns(x, seq_len, keep=True)
    select()
    flop = useful_flops("prefill", seq_len)[1]
    print(f"\n{seq_len} tokens: attention (grouping, pair kernel, merge)")
    base = None
    for name, mod in modules.items():
        def attend(launch=mod.launch_kv_major_attention):
            launch(x["q"], x["k_cache"], x["v_cache"], x["block_table"], sel, x["cu_seqlens_q"], x["seq_lens"], out,
                   softmax_scale=1 / math.sqrt(D), max_q_len=seq_len)

        ms = time_ms(attend)
        base = base or ms
        print(f"  {name:<22}{ms:>9.3f} ms{flop / ms / 1e9:>7.0f} TFLOP/s  saves {base - ms:>7.3f} ms")
    scores = torch.empty(HI, seq_len, math.ceil(seq_len / B), device="cuda")
    flop = useful_flops("prefill", seq_len)[0]
    print(f"{seq_len} tokens: block scoring")
    base = None
    for name, mod in scorers.items():
        def score(launch=mod.launch_block_scores):
            launch(x["iq"], x["index_k_cache"], x["block_table"], x["cu_seqlens_q"], x["seq_lens"], scores,
                   max_q_len=seq_len)

        ms = time_ms(score)
        base = base or ms
        print(f"  {name:<22}{ms:>9.3f} ms{flop / ms / 1e9:>7.0f} TFLOP/s  saves {base - ms:>7.3f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="32768,131072")
    args = parser.parse_args()
    layout.new_buffer = lambda shape, dtype, device: torch.empty(shape, dtype=dtype, device=device)
    print(f"card: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    print(f"tile {kv_major.GPU_TILE}, prefetch {kv_major.PREFETCH}")
    modules = {name: probe_module(kv_major, name, edits) for name, edits in EDITS.items()}
    scorers = {name: probe_module(scoring, name, edits) for name, edits in SCORING_EDITS.items()}
    for seq_len in (int(c) for c in args.contexts.split(",")):
        probe(seq_len, modules, scorers)
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
