"""MSA kernels against dense attention on one GPU, at the M3 attention shape (PERFORMANCE.md).

    python benchmarks/msa_kernels.py [--cases prefill-8k,decode-1m,...] [--json out.json]

64 query heads, 4 KV heads, head_dim 128, 4 index heads of dim 128, blocks of 128, top-16,
bf16, batch 1, random data. Our time = selection (scoring + top-k) + sparse attention, called
through the launchers the runtime uses (inputs validated once, outside the timed region);
decode steps are captured in a CUDA graph and timed as graph replays, as the runtime runs them.
Baselines in the same process: dense causal SDPA with the flash and the cuDNN backends (prefill
and decode; decode puts a KV head's 16 query heads as its queries, GQA without copies).
First a correctness check of both paths against the fp32 reference at 2304 tokens.

The fp8 cases (`--fp8-cases`, run after the others) time decode selection on the same index keys
held in a bf16 and in an fp8 e4m3 index-K cache (`index_keys_for_cache`), with the GB/s of the
cache read; each selection is first checked against the reference on its own cache's values,
at small sizes and at the timed size itself.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
import triton
from torch.nn.attention import SDPBackend, sdpa_kernel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kernels.msa import kv_major, layout, msa_decode, msa_prefill, reference, scoring  # noqa: E402
from kernels.msa import INDEX_FP8, index_keys_for_cache, msa_decode_select, msa_select  # noqa: E402
from kernels.msa.attention import prefill_launcher  # noqa: E402
from kernels.msa.decode import launch_decode_attention  # noqa: E402
from kernels.msa.pipeline import default_blocks_per_split  # noqa: E402
from kernels.msa import pipeline  # noqa: E402
from kernels.msa.candidates import launch_candidates  # noqa: E402
from kernels.msa.scoring import launch_block_scores, query_rows_per_tile  # noqa: E402
from kernels.msa.topk import launch_topk  # noqa: E402

H, HKV, D, HI, DI, B, K = 64, 4, 128, 4, 128, 128, 16
CASES = {"prefill-8k": ("prefill", 8192), "prefill-32k": ("prefill", 32768), "prefill-128k": ("prefill", 131072),
         "prefill-512k": ("prefill", 524288), "decode-128k": ("decode", 131072), "decode-1m": ("decode", 1048576)}
FP8_CASES = {"fp8-select-128k": 131072, "fp8-select-1m": 1048576}  # decode selection, bf16 vs fp8 index-K cache


def make_inputs(seq_len: int, q_len: int, dtype=torch.bfloat16, device="cuda"):
    n_blocks = math.ceil(seq_len / B)
    g = torch.Generator(device=device).manual_seed(seq_len + q_len)
    rnd = lambda *shape: torch.randn(*shape, generator=g, device=device, dtype=dtype)  # noqa: E731
    return dict(
        q=rnd(q_len, H, D), iq=rnd(q_len, HI, DI),
        k_cache=rnd(n_blocks, HKV, B, D), v_cache=rnd(n_blocks, HKV, B, D), index_k_cache=rnd(n_blocks, B, DI),
        block_table=torch.randperm(n_blocks, device=device, generator=g).to(torch.int32)[None, :],
        cu_seqlens_q=torch.tensor([0, q_len], dtype=torch.int32, device=device),
        seq_lens=torch.tensor([seq_len], dtype=torch.int32, device=device),
    )


def check_correctness() -> None:
    for seq_len, q_len in ((1000, 1000), (2304, 2304), (2304, 4), (9000, 3)):
        x = make_inputs(seq_len, q_len)
        run = msa_prefill if q_len > 16 else msa_decode
        out, sel = run(**x)
        ref = reference.sparse_attention(x["q"], x["k_cache"], x["v_cache"], x["block_table"], x["cu_seqlens_q"],
                                         x["seq_lens"], sel)
        rel = float((out.float() - ref).norm() / ref.norm())
        scores = reference.block_scores(x["iq"], x["index_k_cache"], x["block_table"], x["cu_seqlens_q"],
                                        x["seq_lens"])
        ref_sel = reference.topk_blocks(scores, x["seq_lens"] - q_len + torch.arange(q_len, device="cuda",
                                        dtype=torch.int32), topk=K, block_size=B)
        same = float((sel.sort(-1).values == ref_sel.sort(-1).values).all(-1).float().mean())
        assert same > 0.99, f"only {same:.3f} of the rows select the reference's blocks"
        chosen = scores.gather(-1, sel.long().clamp_min(0)).amin(-1)
        assert rel < 2e-2, f"sparse attention off the reference: relative error {rel:.3g}"
        last = ((x["seq_lens"] - q_len + torch.arange(q_len, device="cuda")) // B).long()  # local block L
        last_valid = sel.long().gather(-1, last.clamp(max=K - 1).expand(HI, q_len)[..., None])[..., 0]
        assert bool((last_valid == last).all()), "the local block must close every row"
        assert bool(chosen.isfinite().all()), "a selected block is not visible"
        print(f"check {'prefill' if q_len > 16 else 'decode'} {seq_len}/{q_len}: rel err {rel:.2e} ok")


def check_selection_rows(sel, iq, index_k_cache, paging, q_len) -> float:
    """Share of rows selecting the reference's set on the same cache values; asserts the row layout."""
    seq_lens = paging[2]
    positions = seq_lens - q_len + torch.arange(q_len, device="cuda", dtype=torch.int32)
    scores = reference.block_scores(iq, index_k_cache, *paging)  # an fp8 cache is upcast to fp32
    ref_sel = reference.topk_blocks(scores, positions, topk=K, block_size=B)
    same = float((sel.sort(-1).values == ref_sel.sort(-1).values).all(-1).float().mean())
    assert same > 0.99, f"only {same:.3f} of the rows select the reference's blocks"
    last = (positions // B).long()  # local block L
    last_valid = sel.long().gather(-1, last.clamp(max=K - 1).expand(HI, q_len)[..., None])[..., 0]
    assert bool((last_valid == last).all()), "the local block must close every row"
    assert bool(scores.gather(-1, sel.long().clamp_min(0)).amin(-1).isfinite().all()), "a selected block is not visible"
    return same


def check_fp8_correctness() -> None:
    for seq_len, q_len in ((2304, 2304), (2304, 4), (9000, 3)):
        x = make_inputs(seq_len, q_len)
        fp8 = index_keys_for_cache(x["index_k_cache"], INDEX_FP8)
        paging = (x["block_table"], x["cu_seqlens_q"], x["seq_lens"])
        sel = (msa_select if q_len > 16 else msa_decode_select)(x["iq"], fp8, *paging, topk=K)
        same = check_selection_rows(sel, x["iq"], fp8, paging, q_len)
        print(f"check fp8 {'prefill' if q_len > 16 else 'decode'} selection {seq_len}/{q_len}: "
              f"{same:.3f} of rows = reference ok")


def time_ms(fn, *, graph: bool = False) -> float:
    """Median milliseconds. Runs of over a second get one warm-up and three timed runs."""
    fn()  # compile outside the timed runs
    torch.cuda.synchronize()
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    fn()
    end.record()
    torch.cuda.synchronize()
    first = start.elapsed_time(end)
    if first > 1000:
        times = [first]
        for _ in range(2):
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            times.append(start.elapsed_time(end))
        return sorted(times)[1]
    if graph:
        return triton.testing.do_bench_cudagraph(fn, rep=200, return_mode="median")
    return triton.testing.do_bench(fn, warmup=50, rep=200, return_mode="median")


def prefill_fns(x, seq_len, *, keep: bool = False):
    """(select, attend) closures over fresh buffers; with `keep`, also the output and selection."""
    n_blocks = math.ceil(seq_len / B)
    scores = None if pipeline.FUSED_PREFILL_TOPK else torch.empty(HI, seq_len, n_blocks, device="cuda")
    positions = torch.arange(seq_len, dtype=torch.int32, device="cuda")
    sel = torch.empty(HI, seq_len, K, dtype=torch.int32, device="cuda")
    out = torch.empty_like(x["q"])
    paging = (x["block_table"], x["cu_seqlens_q"], x["seq_lens"])

    def select():  # the same path as msa_select
        if pipeline.FUSED_PREFILL_TOPK:
            cand_s, cand_i = launch_candidates(x["iq"], x["index_k_cache"], *paging, max_q_len=seq_len,
                                               max_blocks=n_blocks, blocks_per_split=n_blocks,
                                               topk=K, init_blocks=0, local_blocks=1,
                                               tokens_per_tile=query_rows_per_tile() // HI)
            launch_topk(cand_s, cand_i, positions, sel, block_size=B, topk=K, init_blocks=0, local_blocks=1)
            return
        launch_block_scores(x["iq"], x["index_k_cache"], *paging, scores, max_q_len=seq_len)
        pipeline.rank_block_scores(scores, positions, sel, info, block=B, topk=K, init=0, local=1)

    info = layout.BatchInfo(1, seq_len, n_blocks, (0, seq_len), (seq_len,))
    launch = prefill_launcher(math.ceil(seq_len / B), K)

    def attend():
        launch(x["q"], x["k_cache"], x["v_cache"], x["block_table"], sel, x["cu_seqlens_q"], x["seq_lens"], out,
               softmax_scale=1 / math.sqrt(D), max_q_len=seq_len)

    return (select, attend, out, sel) if keep else (select, attend)


def decode_select_fn(iq, index_k_cache, paging, seq_len, sel):
    """Decode selection of one token through the launchers the runtime's graph step calls."""
    n_blocks = math.ceil(seq_len / B)
    positions = torch.tensor([seq_len - 1], dtype=torch.int32, device="cuda")
    per_split = default_blocks_per_split(n_blocks, 1)

    def select():
        cand_s, cand_i = launch_candidates(iq, index_k_cache, *paging, max_q_len=1, max_blocks=n_blocks,
                                           blocks_per_split=per_split, topk=K, init_blocks=0, local_blocks=1)
        launch_topk(cand_s, cand_i, positions, sel, block_size=B, topk=K, init_blocks=0, local_blocks=1)

    return select


def decode_fns(x, seq_len):
    positions = torch.tensor([seq_len - 1], dtype=torch.int32, device="cuda")
    seq_ids = torch.zeros(1, dtype=torch.int32, device="cuda")
    sel = torch.empty(HI, 1, K, dtype=torch.int32, device="cuda")
    out = torch.empty_like(x["q"])
    paging = (x["block_table"], x["cu_seqlens_q"], x["seq_lens"])
    select = decode_select_fn(x["iq"], x["index_k_cache"], paging, seq_len, sel)

    def attend():
        launch_decode_attention(x["q"], x["k_cache"], x["v_cache"], x["block_table"], sel, seq_ids, positions,
                                x["seq_lens"], out, softmax_scale=1 / math.sqrt(D), num_splits=K)

    return select, attend


def dense_prefill(seq_len, backend):
    q = torch.randn(1, H, seq_len, D, device="cuda", dtype=torch.bfloat16)
    k = torch.randn(1, H, seq_len, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)

    def run():
        with sdpa_kernel(backend):
            torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)

    return run


def dense_decode(seq_len, backend):
    q = torch.randn(1, HKV, H // HKV, D, device="cuda", dtype=torch.bfloat16)  # a group's heads as queries
    k = torch.randn(1, HKV, seq_len, D, device="cuda", dtype=torch.bfloat16)
    v = torch.randn_like(k)

    def run():
        with sdpa_kernel(backend):
            torch.nn.functional.scaled_dot_product_attention(q, k, v)

    return run


def useful_flops(kind: str, seq_len: int) -> tuple[float, float]:
    """(scoring, attention) work the contract requires: 2*Di*Hi per causal key, 4*D*H per selected key."""
    if kind == "decode":
        return 2 * DI * HI * seq_len, 4 * D * H * min(K * B, seq_len)
    keys = torch.arange(1, seq_len + 1, dtype=torch.float64)
    return 2 * DI * HI * float(keys.sum()), 4 * D * H * float(keys.clamp(max=K * B).sum())


def run_case(name: str) -> dict:
    kind, seq_len = CASES[name]
    x = make_inputs(seq_len, seq_len if kind == "prefill" else 1)
    select, attend = (prefill_fns if kind == "prefill" else decode_fns)(x, seq_len)
    graph = kind == "decode"
    row = {"case": name, "select_ms": time_ms(select, graph=graph), "attend_ms": time_ms(attend, graph=graph)}

    steps = [select, attend]

    def both():
        for step in steps:
            step()

    row["sum_ms"] = time_ms(both, graph=graph)
    steps.clear()  # free our buffers before the dense baselines allocate theirs
    del x, select, attend
    torch.cuda.empty_cache()
    dense = dense_prefill if kind == "prefill" else dense_decode
    for key, backend in (("flash_ms", SDPBackend.FLASH_ATTENTION), ("cudnn_ms", SDPBackend.CUDNN_ATTENTION)):
        try:
            row[key] = time_ms(dense(seq_len, backend), graph=graph)
        except RuntimeError as err:  # a backend that refuses the shape is reported, not fatal
            print(f"{name}: {key[:-3]} baseline failed: {str(err).splitlines()[0]}")
            row[key] = float("nan")
        torch.cuda.empty_cache()
    score_flops, attn_flops = useful_flops(kind, seq_len)
    row["score_tflops"] = score_flops / row["select_ms"] / 1e9
    row["attend_tflops"] = attn_flops / row["attend_ms"] / 1e9
    if kind == "decode":  # bytes that must move: the index-K cache, and the selected K/V pages
        row["select_gbs"] = seq_len * DI * 2 / row["select_ms"] / 1e6
        row["attend_gbs"] = HKV * min(K * B, seq_len) * D * 2 * 2 / row["attend_ms"] / 1e6
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    return row


def run_fp8_case(name: str) -> dict:
    """Decode selection on the same keys in a bf16 and an fp8 index-K cache, each checked first."""
    seq_len = FP8_CASES[name]
    n_blocks = math.ceil(seq_len / B)
    g = torch.Generator(device="cuda").manual_seed(seq_len + 1)
    iq = torch.randn(1, HI, DI, generator=g, device="cuda", dtype=torch.bfloat16)
    caches = {"bf16": torch.randn(n_blocks, B, DI, generator=g, device="cuda", dtype=torch.bfloat16)}
    caches["fp8"] = index_keys_for_cache(caches["bf16"], INDEX_FP8)
    paging = (torch.randperm(n_blocks, device="cuda", generator=g).to(torch.int32)[None, :],
              torch.tensor([0, 1], dtype=torch.int32, device="cuda"),
              torch.tensor([seq_len], dtype=torch.int32, device="cuda"))
    row: dict = {"case": name}
    for kind, cache in caches.items():
        sel = torch.empty(HI, 1, K, dtype=torch.int32, device="cuda")
        select = decode_select_fn(iq, cache, paging, seq_len, sel)
        select()
        row[f"{kind}_same_rows"] = check_selection_rows(sel, iq, cache, paging, 1)
        torch.cuda.empty_cache()  # the reference's fp32 copy of the keys
        row[f"{kind}_select_ms"] = time_ms(select, graph=True)
        row[f"{kind}_gbs"] = seq_len * DI * cache.element_size() / row[f"{kind}_select_ms"] / 1e6
    row["fp8_speedup"] = row["bf16_select_ms"] / row["fp8_select_ms"]
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}), flush=True)
    del caches
    torch.cuda.empty_cache()
    return row


def print_fp8_table(card: str, rows: list[dict]) -> None:
    print(f"\nfp8 index-K cache, decode selection of one token (Hi {HI}, Di {DI}, top-{K}); card: {card}")
    print(f"{'case':<17}{'bf16 ms':>10}{'fp8 ms':>10}{'x bf16':>9}{'bf16 read':>15}{'fp8 read':>15}")
    for r in rows:
        print(f"{r['case']:<17}{r['bf16_select_ms']:>10.4f}{r['fp8_select_ms']:>10.4f}{r['fp8_speedup']:>9.2f}"
              f"{r['bf16_gbs']:>10.0f} GB/s{r['fp8_gbs']:>10.0f} GB/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--fp8-cases", default=",".join(FP8_CASES), help="fp8 index-K cache cases ('' for none)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--scoring", help="scoring tile as ROWS,WARPS (tuning)")
    parser.add_argument("--kv-tile", help="KV-major tile as ROWS,TILES,WARPS,STAGES (tuning)")
    parser.add_argument("--no-check", action="store_true", help="skip the correctness check (tuning only)")
    parser.add_argument("--fused-select", action="store_true", help="prefill selection without the block-score tensor (A/B)")
    args = parser.parse_args()
    if args.scoring:
        scoring.SCORING_ROWS, scoring.SCORING_WARPS = (int(v) for v in args.scoring.split(","))
    if args.fused_select:
        pipeline.FUSED_PREFILL_TOPK = True
    if args.kv_tile:
        kv_major.GPU_TILE = tuple(int(v) for v in args.kv_tile.split(","))
    layout.new_buffer = lambda shape, dtype, device: torch.empty(shape, dtype=dtype, device=device)
    card = torch.cuda.get_device_name()
    print(f"card: {card}  torch {torch.__version__}  triton {triton.__version__}")
    fp8_names = [name for name in args.fp8_cases.split(",") if name]
    if not args.no_check:
        check_correctness()
        if fp8_names:
            check_fp8_correctness()
    rows = [run_case(name) for name in args.cases.split(",") if name]
    fp8_rows = [run_fp8_case(name) for name in fp8_names]
    print(f"\ncard: {card}")
    print(f"{'case':<14}{'select ms':>11}{'attend ms':>11}{'sum ms':>10}{'flash ms':>10}{'cudnn ms':>10}"
          f"{'x flash':>9}{'x cudnn':>9}{'select':>14}{'attend':>14}")
    for r in rows:
        total = r["sum_ms"]
        rate = (lambda k: f"{r[k + '_gbs']:>9.0f} GB/s") if "select_gbs" in r else (
            lambda k: f"{r[('score' if k == 'select' else k) + '_tflops']:>8.0f} TF/s")
        print(f"{r['case']:<14}{r['select_ms']:>11.3f}{r['attend_ms']:>11.3f}{total:>10.3f}{r['flash_ms']:>10.3f}"
              f"{r['cudnn_ms']:>10.3f}{r['flash_ms'] / total:>9.2f}{r['cudnn_ms'] / total:>9.2f}"
              f"{rate('select'):>14}{rate('attend'):>14}")
    if fp8_rows:
        print_fp8_table(card, fp8_rows)
    if args.json:
        args.json.write_text(json.dumps({"card": card, "date": time.strftime("%Y-%m-%d"), "torch": torch.__version__,
                                         "triton": triton.__version__, "rows": rows, "fp8_rows": fp8_rows},
                                        indent=2))


if __name__ == "__main__":
    main()
