"""Prefill kernel A/B (issue 17): the KV-major pair kernel's tile, query prefetch and warp
specialisation, and the scoring kernel's tile, pipeline depth, blocks a step and warp
specialisation, each timed alone under its knobs; a variant the compiler refuses is reported and
left out.

    python benchmarks/ab_prefill.py [--contexts 8192,32768,131072] [--json out.json]

At the M3 shape (64 query heads, 4 KV heads, head_dim 128, 4 index heads of dim 128, blocks of
128, top-16, bf16, random data, one sequence prefilled whole). Checks first: at 4,096 tokens every
attention variant against the fp32 reference; at each timed size every variant's output equals
the first variant's bit for bit (the knobs change no arithmetic). For each compiled pair kernel it
prints the registers, spills and shared memory Triton reports, then the variants fastest first,
with useful TFLOP/s (4 * D * H per query and selected key; 2 * Di * Hi per query and causal key).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from msa_kernels import B, D, DI, H, HI, K, make_inputs, prefill_fns, time_ms, useful_flops  # noqa: E402

from kernels.msa import kv_major, layout, reference, scoring  # noqa: E402
from kernels.msa.scoring import launch_block_scores  # noqa: E402

PAIR_VARIANTS = [  # rows per tile, tiles per program, warps, stages, prefetch[, warp specialisation]
    (64, 8, 4, 1, 0), (64, 8, 4, 1, 1), (64, 16, 4, 1, 1), (64, 4, 4, 1, 1), (128, 4, 8, 1, 1), (128, 8, 8, 1, 1),
]
# RuntimeError: a compiler pass that fails (e.g. PassManager::run failed) surfaces as one
COMPILE_ERRORS = (triton.runtime.errors.OutOfResources, triton.compiler.errors.CompilationError, RuntimeError)
SCORING_VARIANTS = [  # rows, warps, stages, blocks per loop step[, warp specialisation]
    (128, 8, 3, 1), (128, 8, 2, 1), (128, 8, 4, 1), (128, 8, 2, 2), (256, 16, 3, 1), (256, 16, 2, 1), (256, 8, 2, 1),
]


class KernelSpy:
    """Stands in for a jitted kernel and keeps the compiled kernel its last launch returned."""

    def __init__(self, fn):
        self.fn, self.last = fn, None

    def __getitem__(self, grid):
        def launch(*args, **kwargs):
            self.last = self.fn[grid](*args, **kwargs)
            return self.last

        return launch

    def resources(self) -> dict:
        k = self.last
        return {"regs": getattr(k, "n_regs", None), "spills": getattr(k, "n_spills", None),
                "shared": getattr(getattr(k, "metadata", None), "shared", None)}


def set_pair(v) -> None:
    kv_major.GPU_TILE, kv_major.PREFETCH = tuple(v[:4]), bool(v[4])
    kv_major.WARP_SPECIALIZE = len(v) > 5 and bool(v[5])


def check_pairs() -> None:
    x = make_inputs(4096, 4096)
    select, attend, out, sel = prefill_fns(x, 4096, keep=True)
    select()
    ref = reference.sparse_attention(x["q"], x["k_cache"], x["v_cache"], x["block_table"], x["cu_seqlens_q"],
                                     x["seq_lens"], sel)
    for v in list(PAIR_VARIANTS):
        set_pair(v)
        out.fill_(float("nan"))
        try:
            attend()
        except COMPILE_ERRORS as err:  # a variant this compiler or card cannot build: say so, drop it
            print(f"pair variant {v}: {type(err).__name__}: {str(err).splitlines()[-1][:200]}")
            PAIR_VARIANTS.remove(v)
            continue
        rel = float((out.float() - ref).norm() / ref.norm())
        assert rel < 2e-2, f"pair variant {v}: relative error {rel:.3g} against the reference"
    print(f"check: {len(PAIR_VARIANTS)} pair-kernel variants match the fp32 reference at 4096 tokens")


def time_pairs(x, seq_len: int, spy: KernelSpy) -> list[dict]:
    select, attend, out, _ = prefill_fns(x, seq_len, keep=True)
    select()
    flop = useful_flops("prefill", seq_len)[1]
    first, found = None, []
    default = (*kv_major.GPU_TILE, int(kv_major.PREFETCH), int(kv_major.WARP_SPECIALIZE))
    for v in PAIR_VARIANTS:
        set_pair(v)
        attend()
        if first is None:
            first = out.clone()
        assert torch.equal(out, first), f"pair variant {v} changes the output"
        ms = time_ms(attend)
        found.append({"context": seq_len, "kernel": "pair", "variant": list(v), "ms": ms,
                      "tflops": flop / ms / 1e9, **spy.resources()})
    set_pair(default)
    return found


def time_grouping(seq_len: int) -> list[dict]:
    """The pair grouping of one token chunk (`kv_major._work_items`) on int64 and on int32 sort keys."""
    n_pages = math.ceil(seq_len / B)
    tokens = min(seq_len, kv_major.PARTIAL_BYTES // (4 * K * (H // 4) * D * 2))
    g = torch.Generator(device="cuda").manual_seed(seq_len)
    keys = torch.randint(0, 4 * n_pages, (4 * tokens * K,), device="cuda", generator=g)
    mt = kv_major.tokens_per_item(16)[0] * kv_major.tokens_per_item(16)[1]
    found = []
    for dtype in (torch.int64, torch.int32):
        k = keys.to(dtype)
        ms = time_ms(lambda k=k: kv_major._work_items(k, 4 * n_pages, mt))
        found.append({"context": seq_len, "kernel": "grouping", "variant": [str(dtype)], "ms": ms, "tflops": 0.0})
    return found


def scoring_knobs() -> tuple:
    ws = scoring.WARP_SPECIALIZE
    return (scoring.SCORING_ROWS, scoring.SCORING_WARPS, scoring.SCORING_STAGES[ws], scoring.SCORING_BLOCKS, int(ws))


def set_scoring(v) -> None:
    scoring.SCORING_ROWS, scoring.SCORING_WARPS, stages, scoring.SCORING_BLOCKS = v[:4]
    scoring.SCORING_STAGES = (stages, stages)
    scoring.WARP_SPECIALIZE = len(v) > 4 and bool(v[4])


def time_scoring(x, seq_len: int) -> list[dict]:
    paging = (x["block_table"], x["cu_seqlens_q"], x["seq_lens"])
    scores = torch.empty(HI, seq_len, math.ceil(seq_len / B), device="cuda")
    flop = 2 * DI * HI * seq_len * (seq_len + 1) / 2
    first, found, default = None, [], scoring_knobs()
    for v in SCORING_VARIANTS:
        set_scoring(v)

        def score():
            launch_block_scores(x["iq"], x["index_k_cache"], *paging, scores, max_q_len=seq_len)

        try:
            score()
        except COMPILE_ERRORS as err:  # a tile too large for this card, or one the compiler refuses: say so
            print(f"scoring variant {v}: {type(err).__name__}: {str(err).splitlines()[-1][:200]}")
            continue
        if first is None:
            first = scores.clone()
        assert torch.equal(scores, first), f"scoring variant {v} changes the block scores"
        ms = time_ms(score)
        found.append({"context": seq_len, "kernel": "scoring", "variant": list(v), "ms": ms,
                      "tflops": flop / ms / 1e9})
    set_scoring(default)  # the next context's selection runs with the tree's own knobs
    return found


def show(title: str, rows: list[dict]) -> None:
    print(f"\n{title}")
    for r in sorted(rows, key=lambda r: r["ms"]):
        extra = "".join(f"  {k} {r[k]}" for k in ("regs", "spills", "shared") if r.get(k) is not None)
        print(f"  {str(tuple(r['variant'])):<22}{r['ms']:>10.3f} ms{r['tflops']:>8.0f} TFLOP/s{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="8192,32768,131072")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--pairs", help="pair-kernel variants, ';'-separated ROWS,TILES,WARPS,STAGES,PREFETCH")
    parser.add_argument("--scorings", help="scoring variants, ';'-separated ROWS,WARPS,STAGES,BLOCKS[,WS]")
    args = parser.parse_args()
    parse = lambda text: [tuple(int(v) for v in item.split(",")) for item in text.split(";")]  # noqa: E731
    if args.pairs:
        PAIR_VARIANTS[:] = parse(args.pairs)
    if args.scorings:
        SCORING_VARIANTS[:] = parse(args.scorings)
    layout.new_buffer = lambda shape, dtype, device: torch.empty(shape, dtype=dtype, device=device)
    print(f"card: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    print(f"shape: H {H}, D {D}, Hi {HI}, Di {DI}, block {B}, top-{K}")
    spy = KernelSpy(kv_major._kv_major_attn_kernel)
    kv_major._kv_major_attn_kernel = spy
    check_pairs()
    rows = []
    for seq_len in (int(c) for c in args.contexts.split(",")):
        x = make_inputs(seq_len, seq_len)
        pairs = time_pairs(x, seq_len, spy)
        show(f"KV-major attention (grouping, pair kernel, merge), {seq_len} tokens: rows, tiles, warps, "
             "stages, prefetch", pairs)
        scores = time_scoring(x, seq_len)
        show(f"block scoring, {seq_len} tokens: rows, warps, stages, blocks a step", scores)
        grouping = time_grouping(seq_len)
        show(f"grouping of one token chunk's pairs, {seq_len} tokens: sort key type", grouping)
        rows += pairs + scores + grouping
        del x
        torch.cuda.empty_cache()
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
