"""Prefill selection A/B (issue 17): block scoring and top-k under the kernels' knobs.

    python benchmarks/ab_select.py [--contexts 32768,131072] [--json out.json]

At the M3 shape (4 index heads of dim 128, blocks of 128, top-16, bf16, random data, one
sequence prefilled whole) times `launch_block_scores` and `launch_topk` separately for each
variant of `scoring.POOL_BY_PAGE` (a dot and a max per page, or one reshape per group),
and the scoring tile
(`SCORING_ROWS` rows, `SCORING_WARPS` warps). Checks first: at 4,096 tokens every variant's
selection against the fp32 reference; at each timed size every variant's selection equals the
first variant's (the knobs change no arithmetic). Prints useful TFLOP/s of the scoring
(2 * Di * Hi per query and causal key) and the variants fastest first.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import torch
import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from msa_kernels import B, DI, HI, K, check_selection_rows, make_inputs  # noqa: E402

from kernels.msa import layout, scoring  # noqa: E402
from kernels.msa.scoring import launch_block_scores  # noqa: E402
from kernels.msa.topk import launch_topk  # noqa: E402

VARIANTS = [dict(by_page=p, rows=r, warps=w) for p, (r, w) in itertools.product((1, 0), ((128, 8), (128, 4), (256, 8)))]


def set_knobs(v: dict) -> None:
    scoring.POOL_BY_PAGE = bool(v["by_page"])
    scoring.SCORING_ROWS, scoring.SCORING_WARPS = v["rows"], v["warps"]


def parts(x: dict, seq_len: int):
    paging = (x["block_table"], x["cu_seqlens_q"], x["seq_lens"])
    n_blocks = -(-seq_len // B)
    scores = layout.new_buffer((HI, seq_len, n_blocks), torch.float32, "cuda")
    positions = torch.arange(seq_len, device="cuda", dtype=torch.int32)
    sel = torch.empty(HI, seq_len, K, dtype=torch.int32, device="cuda")

    def score():
        launch_block_scores(x["iq"], x["index_k_cache"], *paging, scores, max_q_len=seq_len)

    def rank():
        launch_topk(scores, None, positions, sel, block_size=B, topk=K, init_blocks=0, local_blocks=1)

    return score, rank, sel, paging


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contexts", default="32768,131072")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    print(f"card: {torch.cuda.get_device_name()}  torch {torch.__version__}  triton {triton.__version__}")
    x = make_inputs(4096, 4096)
    for v in VARIANTS:
        set_knobs(v)
        score, rank, sel, paging = parts(x, 4096)
        score()
        rank()
        check_selection_rows(sel, x["iq"], x["index_k_cache"], paging, 4096)
    print(f"check: {len(VARIANTS)} variants select the reference's blocks at 4096 tokens")
    rows = []
    for seq_len in (int(c) for c in args.contexts.split(",")):
        x = make_inputs(seq_len, seq_len)
        flop = 2 * DI * HI * seq_len * (seq_len + 1) / 2
        first = None
        found = []
        for v in VARIANTS:
            set_knobs(v)
            score, rank, sel, _ = parts(x, seq_len)
            score()
            rank()
            if first is None:
                first = sel.clone()
            assert torch.equal(sel, first), f"variant {v} selects other blocks than {VARIANTS[0]}"
            t_score = triton.testing.do_bench(score, rep=200, return_mode="median")
            t_rank = triton.testing.do_bench(rank, rep=200, return_mode="median")
            found.append({"context": seq_len, **v, "score_ms": t_score, "topk_ms": t_rank,
                          "select_ms": t_score + t_rank, "score_tflops": flop / t_score / 1e9})
            del score, rank, sel
            torch.cuda.empty_cache()
        found.sort(key=lambda r: r["select_ms"])
        print(f"\nprefill selection, {seq_len} tokens")
        print(f"{'by page':>8}{'rows':>6}{'warps':>6}{'score ms':>10}{'TFLOP/s':>9}{'top-k ms':>10}"
              f"{'select ms':>11}")
        for r in found:
            print(f"{r['by_page']:>8}{r['rows']:>6}{r['warps']:>6}{r['score_ms']:>10.3f}"
                  f"{r['score_tflops']:>9.0f}{r['topk_ms']:>10.3f}{r['select_ms']:>11.3f}")
        rows += found
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
