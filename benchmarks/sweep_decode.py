"""Decode kernels' tile sweeps (issue 17): selection, and attention over wide selections.

    python benchmarks/sweep_decode.py select [--contexts 131072,1048576] [--dtypes bf16,fp8]
    python benchmarks/sweep_decode.py attend [--widths 16,1024]

select: one token's selection (`launch_candidates` then the `launch_topk` merge, as the runtime's
graph step runs them) on a bf16 and an fp8 index-K cache, over blocks per split, blocks per loop
step, warps, (fp8) the fp16 widening, ranking a split at its end or a running list, and the
pooling by page; every variant's rows are first checked against the
reference on the same cache. attend: one token's decode attention (M3 shape) over a selection of
`width` blocks (16: an MSA layer; 1,024: a full-attention layer at 128K), over splits, pages per
loop step, warps and stages, each checked against the fp32 reference. CUDA-graph replays; prints
the variants fastest first.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from msa_kernels import B, D, DI, H, HI, HKV, K, check_selection_rows  # noqa: E402

from kernels.msa import INDEX_FP8, candidates, decode, index_keys_for_cache, reference  # noqa: E402
from kernels.msa.candidates import launch_candidates  # noqa: E402
from kernels.msa.decode import launch_decode_attention  # noqa: E402
from kernels.msa.topk import launch_topk  # noqa: E402


def grid(*lists: str):
    return itertools.product(*([int(v) for v in a.split(",")] for a in lists))


def variant_fns(iq, cache, paging, seq_len, per_split):
    n_blocks = math.ceil(seq_len / B)
    positions = torch.tensor([seq_len - 1], dtype=torch.int32, device="cuda")
    sel = torch.empty(HI, 1, K, dtype=torch.int32, device="cuda")
    kept = {}

    def cands():
        kept["c"] = launch_candidates(iq, cache, *paging, max_q_len=1, max_blocks=n_blocks, blocks_per_split=per_split,
                                      topk=K, init_blocks=0, local_blocks=1)

    def select():
        cands()
        launch_topk(*kept["c"], positions, sel, block_size=B, topk=K, init_blocks=0, local_blocks=1)

    return cands, select, sel


def sweep_select(args) -> list[dict]:
    rows = []
    for seq_len in (int(c) for c in args.contexts.split(",")):
        n_blocks = math.ceil(seq_len / B)
        g = torch.Generator(device="cuda").manual_seed(seq_len)
        iq = torch.randn(1, HI, DI, generator=g, device="cuda", dtype=torch.bfloat16)
        keys = torch.randn(n_blocks, B, DI, generator=g, device="cuda", dtype=torch.bfloat16)
        paging = (torch.randperm(n_blocks, device="cuda", generator=g).to(torch.int32)[None, :],
                  torch.tensor([0, 1], dtype=torch.int32, device="cuda"),
                  torch.tensor([seq_len], dtype=torch.int32, device="cuda"))
        for dtype in args.dtypes.split(","):
            cache = keys if dtype == "bf16" else index_keys_for_cache(keys, INDEX_FP8)
            found = []
            f16s = args.f16 if dtype == "fp8" else "1"
            knobs = grid(args.splits, args.bpi, args.warps, args.stages, f16s, args.rank, args.by_page)
            for per_split, bpi, warps, stages, f16, rank, by_page in knobs:
                candidates.POOL_BY_PAGE = candidates.POOL_BY_PAGE_FP8 = bool(by_page)
                candidates.GPU_DECODE_TILE, candidates.FP8_AS_F16 = (bpi, warps, stages), bool(f16)
                candidates.RANK_AT_END = bool(rank)
                cands, select, sel = variant_fns(iq, cache, paging, seq_len, per_split)
                select()
                same = check_selection_rows(sel, iq, cache, paging, 1)
                torch.cuda.empty_cache()
                found.append({"context": seq_len, "dtype": dtype, "per_split": per_split, "bpi": bpi, "warps": warps,
                              "stages": stages, "f16": f16, "rank": rank, "by_page": by_page,
                              "same_rows": same,
                              "splits": math.ceil(n_blocks / max(bpi, -(-per_split // bpi) * bpi)),
                              "cand_ms": triton.testing.do_bench_cudagraph(cands, rep=100, return_mode="median"),
                              "select_ms": triton.testing.do_bench_cudagraph(select, rep=100, return_mode="median")})
            found.sort(key=lambda r: r["select_ms"])
            size = cache.numel() * cache.element_size()
            print(f"\n{seq_len} tokens, {dtype} index-K cache ({size / 1e6:.0f} MB)")
            print(f"{'per split':>10}{'bpi':>5}{'warps':>6}{'stages':>7}{'f16':>4}{'rank':>5}{'page':>5}"
                  f"{'splits':>7}{'cand ms':>10}{'select ms':>11}{'GB/s':>7}")
            for r in found[: args.top]:
                print(f"{r['per_split']:>10}{r['bpi']:>5}{r['warps']:>6}{r['stages']:>7}{r['f16']:>4}{r['rank']:>5}"
                      f"{r['by_page']:>5}{r['splits']:>7}{r['cand_ms']:>10.4f}"
                      f"{r['select_ms']:>11.4f}{size / r['select_ms'] / 1e6:>7.0f}")
            rows += found
    return rows


def sweep_attend(args) -> list[dict]:
    rows = []
    for width in (int(w) for w in args.widths.split(",")):
        seq_len = width * B
        g = torch.Generator(device="cuda").manual_seed(width)
        q, k_cache, v_cache = (torch.randn(*shape, generator=g, device="cuda", dtype=torch.bfloat16)
                               for shape in ((1, H, D), (width, HKV, B, D), (width, HKV, B, D)))
        table = torch.randperm(width, device="cuda", generator=g).to(torch.int32)[None, :]
        sel = torch.arange(width, dtype=torch.int32, device="cuda").expand(HKV, 1, width).contiguous()
        cu = torch.tensor([0, 1], dtype=torch.int32, device="cuda")
        lens = torch.tensor([seq_len], dtype=torch.int32, device="cuda")
        seq_ids = torch.zeros(1, dtype=torch.int32, device="cuda")
        ref = reference.sparse_attention(q, k_cache, v_cache, table, cu, lens, sel)
        out = torch.empty_like(q)
        size = 2 * k_cache.numel() * k_cache.element_size()
        found = []
        for splits, slots, warps, stages in grid(args.num_splits, args.slots, args.warps, args.stages):
            if splits > width or slots > -(-width // splits):
                continue
            decode.GPU_TILE = (slots, warps, stages)

            attend = functools.partial(launch_decode_attention, q, k_cache, v_cache, table, sel, seq_ids, lens - 1,
                                       lens, out, softmax_scale=D**-0.5, num_splits=splits)

            try:
                attend()
            except triton.runtime.errors.OutOfResources as err:  # a tile too large for the card: not a result
                print(f"skipped splits {splits} slots {slots} warps {warps} stages {stages}: {err}")
                continue
            rel = float((out.float() - ref).norm() / ref.norm())
            assert rel < 2e-2, f"decode attention off the reference: {rel:.3g}"
            ms = triton.testing.do_bench_cudagraph(attend, rep=100, return_mode="median")
            found.append({"width": width, "splits": splits, "slots": slots, "warps": warps, "stages": stages,
                          "ms": ms, "gbs": size / ms / 1e6, "rel_err": rel})
        found.sort(key=lambda r: r["ms"])
        print(f"\ndecode attention over {width} blocks ({size / 1e6:.0f} MB of K and V)")
        print(f"{'splits':>7}{'slots':>6}{'warps':>6}{'stages':>7}{'ms':>9}{'GB/s':>7}")
        for r in found[: args.top]:
            print(f"{r['splits']:>7}{r['slots']:>6}{r['warps']:>6}{r['stages']:>7}{r['ms']:>9.4f}{r['gbs']:>7.0f}")
        rows += found
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("select", "attend"))
    parser.add_argument("--contexts", default="131072,1048576")
    parser.add_argument("--dtypes", default="bf16,fp8")
    parser.add_argument("--splits", default="8,16,32,64", help="select: blocks per split")
    parser.add_argument("--bpi", default="1,2,4", help="select: blocks per loop step")
    parser.add_argument("--f16", default="1,0", help="select, fp8 cache: widen to fp16 (1) or to bf16 (0)")
    parser.add_argument("--rank", default="1,0", help="select: rank a split's blocks at its end (1) or keep a list (0)")
    parser.add_argument("--by-page", default="1,0", help="select: pool with a dot per page (1) or one reshape (0)")
    parser.add_argument("--widths", default="16,1024", help="attend: selected blocks")
    parser.add_argument("--num-splits", default="16,64,128,256", help="attend: splits")
    parser.add_argument("--slots", default="1,2,4", help="attend: pages per loop step")
    parser.add_argument("--stages", default="1,2,3", help="pipeline stages")
    parser.add_argument("--warps", default="4,8")
    parser.add_argument("--top", type=int, default=12, help="rows printed per table")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"card: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    rows = sweep_select(args) if args.part == "select" else sweep_attend(args)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
